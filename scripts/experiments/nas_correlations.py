#!/usr/bin/env python3
"""Rank correlation of every training-free proxy with the ground-truth table (issue 30).

Reads docs/results/nas/table/table.jsonl (the trained cells) and
docs/results/nas/proxies/scores.jsonl (`amalgam nas score --table-cells ... --proxy all`), and
prints, for every proxy and for TE-NAS's combination, Kendall τ and Spearman ρ against the
seed-0 test accuracy (and validation accuracy) over the cells both files hold, each with a
bootstrap 95 % interval (2,000 resamples of cells, seed 0). κ is negated first so that higher
is better for every proxy. TE-NAS's combination: rank by κ ascending plus rank by linear regions
descending (dense ranks, as the reference), lower sum better, negated. Also the table's own
noise: τ between seed 0 and seed 1 test accuracy over the cells trained twice. Every row is over
the cells every proxy scored; the last column is the paired bootstrap difference of each proxy's τ
from the TE-NAS combination's (2,000 resamples of cells, seed 1).
usage: scripts/experiments/nas_correlations.py [RESULTS_DIR]   (default docs/results/nas)
"""
import json, os, sys
import numpy as np
from scipy import stats

D = sys.argv[1] if len(sys.argv) > 1 else "docs/results/nas"
rows = [json.loads(l) for l in open(os.path.join(D, "table", "table.jsonl")) if l.strip()]
scores = [json.loads(l) for l in open(os.path.join(D, "proxies", "scores.jsonl")) if l.strip()]

truth0 = {r["arch"]: r for r in rows if r["seed"] == 0}
truth1 = {r["arch"]: r for r in rows if r["seed"] == 1}
proxy = {}
for s in scores:
    proxy.setdefault(s["proxy"], {})[s["arch"]] = s["value"]


def dense_rank(values):
    order = {v: i for i, v in enumerate(sorted(set(values)))}
    return np.array([order[v] for v in values], dtype=float)


def correlate(xs, ys, rng):
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    tau = stats.kendalltau(xs, ys).statistic
    rho = stats.spearmanr(xs, ys).statistic
    n = len(xs)
    boot_t, boot_r = [], []
    for _ in range(2000):
        i = rng.integers(0, n, n)
        boot_t.append(stats.kendalltau(xs[i], ys[i]).statistic)
        boot_r.append(stats.spearmanr(xs[i], ys[i]).statistic)
    ci = lambda b: (np.nanpercentile(b, 2.5), np.nanpercentile(b, 97.5))
    return tau, ci(boot_t), rho, ci(boot_r)


names = sorted(proxy)
if "ntk" in proxy and "regions" in proxy:
    names.append("tenas")


def values_of(name, archs):
    if name == "tenas":
        kr = dense_rank([proxy["ntk"][a] for a in archs])
        rr = dense_rank([-proxy["regions"][a] for a in archs])
        return np.array(-(kr + rr))
    return np.array([(-proxy[name][a] if name == "ntk" else proxy[name][a]) for a in archs])


# The cells every proxy scored, so that every row is over the same cells and the paired
# difference against TE-NAS's combination resamples the same cells for both.
common = [a for a in truth0 if all(a in proxy[n] for n in proxy)]
test_common = np.array([truth0[a]["testAccuracy"] for a in common])
boot_idx = np.random.default_rng(1).integers(0, len(common), (2000, len(common)))
tenas_boot = None
if "tenas" in names:
    tv_ = values_of("tenas", common)
    # The combination's ranks are recomputed within each resample (ranks depend on the set).
    tenas_boot = np.array([stats.kendalltau(values_of("tenas", [common[j] for j in i]), test_common[i]).statistic for i in boot_idx])
print(f"| proxy | cells | Kendall τ vs test (95 % CI) | Spearman ρ vs test (95 % CI) | Kendall τ vs validation | τ − τ(TE-NAS combination) (95 % CI) |")
print("|---|---|---|---|---|---|")
for name in names:
    archs = common
    values = values_of(name, archs)
    if len(archs) < 5:
        continue
    rng = np.random.default_rng(0)
    test = [truth0[a]["testAccuracy"] for a in archs]
    val = [truth0[a]["validationAccuracy"] for a in archs]
    t, tci, r, rci, = correlate(values, test, rng)
    tv = stats.kendalltau(values, val).statistic
    diff = ""
    if tenas_boot is not None and name != "tenas":
        own = np.array([stats.kendalltau(values[i], test_common[i]).statistic for i in boot_idx])
        d = own - tenas_boot
        diff = f"{t - stats.kendalltau(tv_, test_common).statistic:+.3f} [{np.nanpercentile(d, 2.5):+.3f}, {np.nanpercentile(d, 97.5):+.3f}]"
    print(f"| {name} | {len(archs)} | {t:+.3f} [{tci[0]:+.3f}, {tci[1]:+.3f}] | {r:+.3f} [{rci[0]:+.3f}, {rci[1]:+.3f}] | {tv:+.3f} | {diff} |")

both = [a for a in truth1 if a in truth0]
if len(both) >= 5:
    rng = np.random.default_rng(0)
    t, tci, r, rci = correlate([truth0[a]["testAccuracy"] for a in both], [truth1[a]["testAccuracy"] for a in both], rng)
    diffs = [100 * (truth1[a]["testAccuracy"] - truth0[a]["testAccuracy"]) for a in both]
    print(f"\nTable noise: seed 0 vs seed 1 test accuracy over {len(both)} cells: Kendall τ {t:+.3f} [{tci[0]:+.3f}, {tci[1]:+.3f}], "
          f"Spearman ρ {r:+.3f}; |Δ| mean {np.mean(np.abs(diffs)):.2f} points, std of Δ {np.std(diffs, ddof=1):.2f}")
acc = [r["testAccuracy"] * 100 for r in truth0.values()]
print(f"\nGround truth (seed 0): {len(acc)} cells, test accuracy {min(acc):.2f}–{max(acc):.2f} %, mean {np.mean(acc):.2f} ± {np.std(acc, ddof=1):.2f}")
