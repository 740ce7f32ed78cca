"""Does feature diversity predict transfer once the training recipe is held fixed? (issue 26 item 4)

Reads the per-model records of `amalgam diversity-study` (its study.json: source accuracy, the
diversity scores and each probe's test accuracy) and prints markdown tables:

1. Spearman rank correlations of each predictor (accuracy, clustering diversity, PCA diversity,
   accuracy × clustering diversity) with each probe, over every model and within each recipe
   group (groups come from the model names; see `recipe`).
2. Partial rank correlations of a probe with clustering diversity controlling for the recipe
   group (ranks regressed on group indicators), and controlling for the group and accuracy.
3. Linear regressions of a probe's accuracy on [accuracy], [diversity] and [accuracy,
   diversity] (cluster score), compared by leave-one-out R² (out-of-sample, so the
   two-predictor model gains nothing for free), with 95 % bootstrap intervals (2,000 resamples of
   models, percentile) for each model's R² and for the gain of [accuracy, diversity] over
   accuracy alone. With --groups the regressions include the recipe-group indicators as well.
4. Per-setting mean ± std over seeds, for a family whose every name ends in -s<seed>.

And the probes' own noise: the binomial standard error of a test accuracy p on n test images,
sqrt(p(1-p)/n), beside the spread of the models' probe accuracies.

    python3 scripts/experiments/diversity_analysis.py docs/results/diversity/study-all.json --groups
    python3 scripts/experiments/diversity_analysis.py docs/results/diversity/fixed-recipe/study.json

Needs numpy. Seeded (bootstrap seed 0), so the same input gives the same tables.
"""
import argparse
import json
import re

import numpy as np

TEST_IMAGES = {"digits": 898, "fashion-coarse": 10000, "mnist": 10000, "fashion-fewshot": 10000}


def recipe(name):
    """The 27-model family of docs/results/diversity.md: models from `amalgam merge` runs (SGD,
    cosine, random-crop augmentation) and from `amalgam train` (AdamW, no augmentation; mlp-e6-sgd
    is SGD without augmentation, its own group), split by architecture. Any other name (a
    fixed-recipe family) is one group."""
    if re.match(r"(mlp|cnn)-T\d+", name):
        return "merge-" + name.split("-")[0]
    if name == "mlp-e6-sgd":
        return "train-sgd-mlp"
    if re.match(r"(mlp|cnn)-e", name):
        return "train-adamw-" + name.split("-")[0]
    return "fixed"


def ranks(x):
    """Average ranks (ties share the mean rank), as scipy.stats.rankdata."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        m = x == v
        if m.sum() > 1:
            r[m] = r[m].mean()
    return r


def spearman(x, y):
    rx, ry = ranks(x), ranks(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def residual(y, Z):
    """y minus its least-squares fit on the columns of Z (with an intercept)."""
    A = np.column_stack([np.ones(len(y))] + ([Z] if Z is not None and Z.size else []))
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return y - A @ coef


def partial_spearman(x, y, Z):
    """Pearson correlation of the rank residuals of x and y after regressing out Z."""
    ex, ey = residual(ranks(x), Z), residual(ranks(y), Z)
    if ex.std() == 0 or ey.std() == 0:
        return float("nan")
    return float(np.corrcoef(ex, ey)[0, 1])


def loo_r2(X, y):
    """Leave-one-out R²: 1 − Σ(y_i − ŷ_(−i))² / Σ(y_i − ȳ_(−i))², OLS with an intercept."""
    n = len(y)
    A = np.column_stack([np.ones(n), X])
    press, total = 0.0, 0.0
    for i in range(n):
        keep = np.arange(n) != i
        coef, *_ = np.linalg.lstsq(A[keep], y[keep], rcond=None)
        press += (y[i] - A[i] @ coef) ** 2
        total += (y[i] - y[keep].mean()) ** 2
    return 1 - press / total


def group_indicators(groups):
    levels = sorted(set(groups))
    if len(levels) < 2:
        return np.zeros((len(groups), 0))
    return np.column_stack([[1.0 if g == lv else 0.0 for g in groups] for lv in levels[1:]])


def regressions(records, task, with_groups, boot=2000):
    y = np.array([r["downstream_" + task] for r in records])
    acc = np.array([r["source_accuracy"] for r in records])
    div = np.array([r["diversity_cluster"] for r in records])
    G = group_indicators([recipe(r["name"]) for r in records]) if with_groups else np.zeros((len(y), 0))
    designs = {"accuracy": acc[:, None], "diversity": div[:, None], "accuracy + diversity": np.column_stack([acc, div])}
    designs = {k: np.column_stack([v, G]) for k, v in designs.items()}
    point = {k: loo_r2(X, y) for k, X in designs.items()}
    rng = np.random.default_rng(0)
    draws = {k: [] for k in designs}
    gains = []
    n = len(y)
    for _ in range(boot):
        idx = rng.integers(0, n, n)
        if len(set(idx)) < 6 or np.std(y[idx]) == 0:
            continue
        vals = {}
        for k, X in designs.items():
            Xb = X[idx]
            keep = Xb.std(axis=0) > 0  # a group indicator may be constant in a resample
            vals[k] = loo_r2(Xb[:, keep], y[idx])
        for k in designs:
            draws[k].append(vals[k])
        gains.append(vals["accuracy + diversity"] - vals["accuracy"])
    ci = {k: np.percentile(v, [2.5, 97.5]) for k, v in draws.items()}
    return point, ci, point["accuracy + diversity"] - point["accuracy"], np.percentile(gains, [2.5, 97.5])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("study", help="study.json written by `amalgam diversity-study`")
    ap.add_argument("--groups", action="store_true", help="control for the recipe groups (mixed-recipe family)")
    a = ap.parse_args()
    records = json.load(open(a.study))["models"]
    tasks = sorted({k[len("downstream_"):] for r in records for k in r if k.startswith("downstream_")})
    groups = [recipe(r["name"]) for r in records]
    predictors = {
        "accuracy": lambda r: r["source_accuracy"],
        "cluster": lambda r: r["diversity_cluster"],
        "pca": lambda r: r["diversity_pca"],
        "accuracy × cluster": lambda r: r["source_accuracy"] * r["diversity_cluster"],
    }

    print(f"### Rank correlations (Spearman ρ) — {len(records)} models\n")
    sets = [("all", records)]
    for g in sorted(set(groups)):
        members = [r for r, gg in zip(records, groups) if gg == g]
        if len(members) >= 6 and len(set(groups)) > 1:
            sets.append((g, members))
    print("| models | n | predictor | " + " | ".join(tasks) + " |")
    print("|---|---:|---|" + "---:|" * len(tasks))
    for label, rs in sets:
        for p, f in predictors.items():
            cells = []
            for t in tasks:
                sub = [r for r in rs if "downstream_" + t in r]
                cells.append(f"{spearman([f(r) for r in sub], [r['downstream_' + t] for r in sub]):+.2f}" if len(sub) >= 4 else "–")
            print(f"| {label} | {len(rs)} | {p} | " + " | ".join(cells) + " |")

    print("\n### Partial rank correlation of each probe with clustering diversity\n")
    print("| controlling for | " + " | ".join(tasks) + " |")
    print("|---|" + "---:|" * len(tasks))
    controls = [("nothing", lambda sub: None), ("accuracy", lambda sub: ranks([r["source_accuracy"] for r in sub])[:, None])]
    if a.groups:
        controls += [("recipe group", lambda sub: group_indicators([recipe(r["name"]) for r in sub])),
                     ("recipe group and accuracy", lambda sub: np.column_stack([group_indicators([recipe(r["name"]) for r in sub]),
                                                                                ranks([r["source_accuracy"] for r in sub])]))]
    for label, Z in controls:
        cells = []
        for t in tasks:
            sub = [r for r in records if "downstream_" + t in r]
            cells.append(f"{partial_spearman([r['diversity_cluster'] for r in sub], [r['downstream_' + t] for r in sub], Z(sub)):+.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")

    print("\n### Leave-one-out R² of linear models of the probe accuracy (95 % bootstrap interval)\n")
    extra = " (each with the recipe-group indicators)" if a.groups else ""
    print(f"Predictors{extra}: source accuracy, clustering diversity, or both.\n")
    print("| probe | accuracy | diversity | accuracy + diversity | gain of adding diversity |")
    print("|---|---|---|---|---|")
    for t in tasks:
        sub = [r for r in records if "downstream_" + t in r]
        point, ci, gain, gci = regressions(sub, t, a.groups)
        cell = lambda k: f"{point[k]:+.2f} [{ci[k][0]:+.2f}, {ci[k][1]:+.2f}]"
        print(f"| {t} | {cell('accuracy')} | {cell('diversity')} | {cell('accuracy + diversity')} | {gain:+.2f} [{gci[0]:+.2f}, {gci[1]:+.2f}] |")

    print("\n### The probes' noise against the spread between models\n")
    print("| probe | test images | binomial SE at the mean (points) | models' range (points) | models' std (points) |")
    print("|---|---:|---:|---:|---:|")
    for t in tasks:
        v = np.array([r["downstream_" + t] for r in records if "downstream_" + t in r])
        n = TEST_IMAGES.get(t, 0)
        se = 100 * np.sqrt(v.mean() * (1 - v.mean()) / n) if n else float("nan")
        print(f"| {t} | {n:,} | {se:.2f} | {100 * (v.max() - v.min()):.2f} | {100 * v.std(ddof=1):.2f} |")

    settings = {}
    for r in records:
        m = re.match(r"(.+)-s(\d+)$", r["name"])
        if m:
            settings.setdefault(m.group(1), []).append(r)
    if sum(len(v) for v in settings.values()) == len(records):  # a family of settings × seeds
        print("\n### Per setting, mean ± std over seeds\n")
        cols = ["source_accuracy", "diversity_cluster", "diversity_pca"] + ["downstream_" + t for t in tasks]
        print("| setting | seeds | " + " | ".join(c.replace("downstream_", "").replace("diversity_", "div ").replace("source_accuracy", "accuracy") for c in cols) + " |")
        print("|---|---:|" + "---:|" * len(cols))
        for s in sorted(settings, key=lambda k: (re.sub(r"[\d.]+$", "", k), float(re.findall(r"[\d.]+$", k)[0]) if re.findall(r"[\d.]+$", k) else 0)):
            rs = settings[s]
            cells = []
            for c in cols:
                v = np.array([r[c] for r in rs if c in r])
                cells.append(f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else (f"{v[0]:.4f}" if len(v) else "–"))
            print(f"| {s} | {len(rs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
