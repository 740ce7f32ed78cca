#!/usr/bin/env python3
"""The tables of docs/results/nas.md beyond the proxy correlations (issue 30), from the committed
raw data under docs/results/nas (RESULTS_DIR):

1. the short recipe against the longer one (table-long/table.jsonl): Kendall τ of the two
   rankings over the cells both trained, with a bootstrap 95 % interval;
2. seconds per proxy evaluation (proxies/scores.jsonl; medians, one thread);
3. regret curves simulated on the table (the NAS-Bench way: every cell's cost is what the table
   and the proxy file recorded for it): random search that trains each cell (cost: its training
   seconds; incumbent: best validation accuracy) against random sampling ranked by a proxy (cost:
   the proxy's seconds; incumbent: the best-scored cell; TE-NAS's combination re-ranks the cells
   seen so far), 500 seeds each; the incumbent's seed-0 test accuracy against time, written to
   regret.csv and regret.svg, and tabulated at a few budgets;
4. the searches on the whole space (search/<method>/search.json, retrained in
   search/retrain/table.jsonl with seeds 0-2) against the table's best cell by validation.

usage: scripts/experiments/nas_report.py [RESULTS_DIR]   (default docs/results/nas)
"""
import json, math, os, sys
import numpy as np
from scipy import stats

D = sys.argv[1] if len(sys.argv) > 1 else "docs/results/nas"


def jsonl(path):
    return [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []


def svg_frame(title, X, Y, xticks, ylo, yhi, ystep, xlabel, best, W, H, L, B):
    """An SVG chart's frame: title, grid, axis labels and the table's best cell as a dashed line."""
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<text x="{W / 2}" y="18" text-anchor="middle">{title}</text>']
    for t in xticks:
        svg.append(f'<line x1="{X(t):.1f}" y1="30" x2="{X(t):.1f}" y2="{H - B}" stroke="#eee"/><text x="{X(t):.1f}" y="{H - B + 16}" text-anchor="middle">{t}</text>')
    a = ylo
    while a <= yhi:
        svg.append(f'<line x1="{L}" y1="{Y(a):.1f}" x2="{W - 20}" y2="{Y(a):.1f}" stroke="#eee"/><text x="{L - 6}" y="{Y(a) + 4:.1f}" text-anchor="end">{a:g}</text>')
        a += ystep
    svg.append(f'<text x="{(L + W) / 2}" y="{H - 12}" text-anchor="middle">{xlabel}</text>')
    svg.append(f'<text x="16" y="{H / 2}" transform="rotate(-90 16 {H / 2})" text-anchor="middle">test accuracy of the incumbent (%)</text>')
    yb = Y(best)
    svg.append(f'<line x1="{L}" y1="{yb:.1f}" x2="{W - 20}" y2="{yb:.1f}" stroke="#000" stroke-dasharray="4 3"/>'
               f'<text x="{W - 24}" y="{yb - 4:.1f}" text-anchor="end">table\'s best cell by validation</text>')
    return svg


rows = jsonl(os.path.join(D, "table", "table.jsonl"))
truth = {r["arch"]: r for r in rows if r["seed"] == 0}
scores = jsonl(os.path.join(D, "proxies", "scores.jsonl"))
proxy, seconds = {}, {}
for s in scores:
    proxy.setdefault(s["proxy"], {})[s["arch"]] = s["value"]
    seconds.setdefault(s["proxy"], {})[s["arch"]] = s["seconds"]

# 1. Short against long recipe.
long_rows = jsonl(os.path.join(D, "table-long", "table.jsonl"))
if long_rows:
    long = {r["arch"]: r for r in long_rows if r["seed"] == 0}
    both = [a for a in long if a in truth]
    short_t = np.array([truth[a]["testAccuracy"] for a in both]); long_t = np.array([long[a]["testAccuracy"] for a in both])
    short_v = np.array([truth[a]["validationAccuracy"] for a in both]); long_v = np.array([long[a]["validationAccuracy"] for a in both])
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(2000):
        i = rng.integers(0, len(both), len(both))
        boot.append(stats.kendalltau(short_t[i], long_t[i]).statistic)
    r0 = long_rows[0]["recipe"]
    print(f"## Short against long recipe ({len(both)} cells; long = {r0['epochs']} epochs on {long_rows[0]['trainExamples']} images)\n")
    print(f"Kendall τ (test accuracy) {stats.kendalltau(short_t, long_t).statistic:+.3f} "
          f"[{np.nanpercentile(boot, 2.5):+.3f}, {np.nanpercentile(boot, 97.5):+.3f}], "
          f"Spearman ρ {stats.spearmanr(short_t, long_t).statistic:+.3f}; on validation accuracy τ {stats.kendalltau(short_v, long_v).statistic:+.3f}")
    print(f"test accuracy: short {100 * short_t.mean():.2f} ± {100 * short_t.std(ddof=1):.2f}, long {100 * long_t.mean():.2f} ± {100 * long_t.std(ddof=1):.2f}; "
          f"best by validation: short {both[int(short_v.argmax())]}, long {both[int(long_v.argmax())]}")
    secs = [long[a]["trainSeconds"] for a in both]
    print(f"long recipe: median {np.median(secs):.0f} s per cell (short: {np.median([truth[a]['trainSeconds'] for a in both]):.0f} s)\n")

# 1b. The table's noise against the proxies: over the cells trained with two seeds, each
# proxy's τ against seed 0, seed 1 and their mean, beside τ(seed 0, seed 1).
seed1 = {r["arch"]: r for r in rows if r["seed"] == 1}
two = [a for a in seed1 if a in truth and all(a in proxy.get(p, {}) for p in proxy)]
if len(two) >= 5 and proxy:
    s0 = np.array([truth[a]["testAccuracy"] for a in two]); s1 = np.array([seed1[a]["testAccuracy"] for a in two])
    print(f"## The proxies against the table's own noise ({len(two)} cells trained with seeds 0 and 1; test accuracy)\n")
    print(f"τ(seed 0, seed 1) = {stats.kendalltau(s0, s1).statistic:+.3f}\n")
    print("| proxy | τ vs seed 0 | τ vs seed 1 | τ vs the mean of both |\n|---|---|---|---|")
    for p in sorted(proxy) + (["tenas"] if "ntk" in proxy and "regions" in proxy else []):
        if p == "tenas":
            kr = {v: i for i, v in enumerate(sorted({proxy["ntk"][a] for a in two}))}
            rr = {v: i for i, v in enumerate(sorted({-proxy["regions"][a] for a in two}))}
            v = np.array([-(kr[proxy["ntk"][a]] + rr[-proxy["regions"][a]]) for a in two])
        else:
            v = np.array([(-1 if p == "ntk" else 1) * proxy[p][a] for a in two])
        t = lambda y: stats.kendalltau(v, y).statistic
        print(f"| {p} | {t(s0):+.3f} | {t(s1):+.3f} | {t((s0 + s1) / 2):+.3f} |")
    print()

# 2. Seconds per proxy.
if seconds:
    print("## Seconds per proxy evaluation (3 repeats, one thread; median [max] over the table's cells)\n")
    print("| proxy | median s | max s |\n|---|---|---|")
    for p in sorted(seconds, key=lambda p: np.median(list(seconds[p].values()))):
        v = list(seconds[p].values())
        print(f"| {p} | {np.median(v):.2f} | {max(v):.2f} |")
    if "ntk" in seconds and "regions" in seconds:
        v = [seconds["ntk"][a] + seconds["regions"][a] for a in seconds["ntk"] if a in seconds["regions"]]
        print(f"| tenas (ntk + regions) | {np.median(v):.2f} | {max(v):.2f} |")
    print(f"| training by the table's recipe | {np.median([r['trainSeconds'] for r in truth.values()]):.0f} | {max(r['trainSeconds'] for r in truth.values()):.0f} |\n")

# 3. Simulated regret curves over the table's cells.
pool = [a for a in truth if all(a in proxy.get(p, {}) for p in ("jacov", "ntk", "regions", "synflow"))]
best_val = max(pool, key=lambda a: truth[a]["validationAccuracy"]) if pool else None
grid = np.unique(np.round(np.logspace(0, math.log10(3600), 60), 1))


def simulate(method, seed):
    rng = np.random.default_rng(seed)
    order = [pool[i] for i in rng.permutation(len(pool))]
    t, out, seen = 0.0, [], []
    incumbent = None
    for a in order:
        if method == "random (trained)":
            t += truth[a]["trainSeconds"]
            if incumbent is None or truth[a]["validationAccuracy"] > truth[incumbent]["validationAccuracy"]:
                incumbent = a
        elif method == "tenas":
            t += seconds["ntk"][a] + seconds["regions"][a]
            seen.append(a)
            k = {v: i for i, v in enumerate(sorted({proxy["ntk"][s] for s in seen}))}
            r = {v: i for i, v in enumerate(sorted({-proxy["regions"][s] for s in seen}))}
            incumbent = min(seen, key=lambda s: (k[proxy["ntk"][s]] + r[-proxy["regions"][s]], seen.index(s)))
        else:
            t += seconds[method][a]
            sign = -1 if method == "ntk" else 1
            if incumbent is None or sign * proxy[method][a] > sign * proxy[method][incumbent]:
                incumbent = a
        out.append((t, truth[incumbent]["testAccuracy"]))
        if t > grid[-1]:
            break
    return out


if pool:
    methods = ["random (trained)", "jacov", "synflow", "ntk", "tenas"]
    curves = {}
    for m in methods:
        runs = [simulate(m, s) for s in range(500)]
        at = np.full((len(runs), len(grid)), np.nan)
        for i, run in enumerate(runs):
            ts = np.array([p[0] for p in run]); acc = np.array([p[1] for p in run])
            for j, g in enumerate(grid):
                k = np.searchsorted(ts, g, side="right") - 1
                if k >= 0:
                    at[i, j] = acc[k]
        curves[m] = at
    with open(os.path.join(D, "regret.csv"), "w") as f:
        f.write("seconds," + ",".join(f"{m} mean,{m} std,{m} share with an incumbent" for m in methods) + "\n")
        for j, g in enumerate(grid):
            cells = []
            for m in methods:
                col = curves[m][:, j]; ok = ~np.isnan(col)
                cells += [f"{100 * col[ok].mean():.3f}" if ok.any() else "", f"{100 * col[ok].std(ddof=1):.3f}" if ok.sum() > 1 else "", f"{ok.mean():.3f}"]
            f.write(f"{g}," + ",".join(cells) + "\n")
    # The chart: mean incumbent test accuracy against log time, where every seed has an incumbent.
    W, H, L, B = 720, 420, 70, 50
    lo = min(np.nanmean(curves[m][:, j]) for m in methods for j in range(len(grid)) if not np.isnan(curves[m][:, j]).any()) * 100
    hi = 100 * truth[best_val]["testAccuracy"] + 0.3
    lo = math.floor(lo * 2) / 2
    X = lambda s: L + (W - L - 20) * math.log10(s) / math.log10(3600)
    Y = lambda a: H - B - (H - B - 30) * (a - lo) / (hi - lo)
    colours = ["#444444", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"]
    svg = svg_frame("Simulated on the table: incumbent test accuracy vs time (mean of 500 seeds)", X, Y, [1, 10, 60, 300, 900, 3600],
                    lo, hi, 0.5, "seconds (log scale)", 100 * truth[best_val]["testAccuracy"], W, H, L, B)
    for m, c, k in zip(methods, colours, range(len(methods))):
        pts = [(X(g), Y(100 * np.mean(curves[m][:, j]))) for j, g in enumerate(grid) if not np.isnan(curves[m][:, j]).any()]
        svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        svg.append(f'<rect x="{L + 10}" y="{36 + 16 * k}" width="12" height="3" fill="{c}"/><text x="{L + 28}" y="{41 + 16 * k}">{m}</text>')
    svg.append("</svg>")
    open(os.path.join(D, "regret.svg"), "w").write("\n".join(svg) + "\n")

    print(f"## Regret simulated on the table ({len(pool)} cells, 500 seeds; best cell by validation: test {100 * truth[best_val]['testAccuracy']:.2f} %)\n")
    budgets = [10, 60, 300, 900, 3600]
    print("| method | " + " | ".join(f"{b} s" for b in budgets) + " |\n|---|" + "---|" * len(budgets))
    for m in methods:
        cells = []
        for b in budgets:
            j = int(np.argmin(np.abs(grid - b)))
            col = curves[m][:, j]; ok = ~np.isnan(col)
            cells.append(f"{100 * col[ok].mean():.2f} ± {100 * col[ok].std(ddof=1):.2f}" + ("" if ok.all() else f" ({ok.mean():.0%} have one)") if ok.sum() > 1 else "—")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print()

# 4. The searches on the whole space.
S = os.path.join(D, "search")
# The retrained rows, read from the per-row files (the table file is rewritten only at the end).
rows_dir = os.path.join(S, "retrain", "rows")
retrain = [json.load(open(os.path.join(rows_dir, d, "result.json"))) for d in sorted(os.listdir(rows_dir))
           if os.path.exists(os.path.join(rows_dir, d, "result.json"))] if os.path.isdir(rows_dir) else []
sd = lambda x: x.std(ddof=1) if len(x) > 1 else float("nan")
if retrain:
    print("## Searches on the whole space (seed 0; chosen architecture retrained by the table's recipe, seeds 0-2)\n")
    print("| method | search s | evaluations | validation % | test % | parameters | MACs | training s | in the table? |\n|---|---|---|---|---|---|---|---|---|")
    for m in ["tenas", "spidernet", "evolution", "random"]:
        path = os.path.join(S, m, "search.json")
        if not os.path.exists(path):
            continue
        res = json.load(open(path))
        rs = [r for r in retrain if r["source"] == "search:" + m]
        if not rs:
            continue
        v = np.array([r["validationAccuracy"] for r in rs]) * 100; t = np.array([r["testAccuracy"] for r in rs]) * 100
        n_eval = len(res.get("history") or []) or len(res.get("spidernetIterations") or []) or len(res.get("tenasRounds") or [])
        unit = {"tenas": "rounds", "spidernet": "iterations"}.get(m, "cells")
        in_table = truth.get(res["arch"])
        print(f"| {m} | {res['seconds']:.0f} | {n_eval} {unit} | {v.mean():.2f} ± {sd(v):.2f} | {t.mean():.2f} ± {sd(t):.2f} | {rs[0]['parameters']} | {rs[0]['macs'] / 1e6:.1f}M | {np.mean([r['trainSeconds'] for r in rs]):.0f} | "
              + (f"yes: test {100 * in_table['testAccuracy']:.2f}" if in_table else "no") + " |")
    # Paired by seed against random search at equal wall time (95 % t-interval, n = 3).
    rnd_rows = {r["seed"]: r["testAccuracy"] for r in retrain if r["source"] == "search:random"}
    print("\n| method − random search (test, paired by seed) | Δ points | 95 % t-interval |\n|---|---|---|")
    for m in ["tenas", "spidernet", "evolution"]:
        mine = {r["seed"]: r["testAccuracy"] for r in retrain if r["source"] == "search:" + m}
        seeds_ = sorted(set(mine) & set(rnd_rows))
        if len(seeds_) < 2:
            continue
        d = np.array([100 * (mine[k] - rnd_rows[k]) for k in seeds_])
        h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        print(f"| {m} | {d.mean():+.2f} | [{d.mean() - h:+.2f}, {d.mean() + h:+.2f}] |")
    best = max(truth.values(), key=lambda r: r["validationAccuracy"])
    both = [r for r in rows if r["arch"] == best["arch"]]
    print(f"\nTable's best cell by validation ({best['arch']}): test " + ", ".join(f"seed {r['seed']} {100 * r['testAccuracy']:.2f}" for r in both))

# 5. Regret of the real searches: the incumbent's seed-0 test accuracy against time. Random
# search trained its cells itself; evolution's incumbents were trained afterwards by the table's
# recipe (search/evolution-incumbents, seed 0) or are table cells; TE-NAS and SpiderNet return
# one architecture at the end (their retraining's seed 0).
if retrain:
    def seed0(source):
        return next((r["testAccuracy"] for r in retrain if r["source"] == source and r["seed"] == 0), None)
    known = {a: r["testAccuracy"] for a, r in truth.items()}
    inc_dir = os.path.join(S, "evolution-incumbents")
    for sub in sorted(os.listdir(inc_dir)) if os.path.isdir(inc_dir) else []:
        for r in jsonl(os.path.join(inc_dir, sub, "table.jsonl")):
            if r["seed"] == 0:
                known[r["arch"]] = r["testAccuracy"]
    curves_real = {}
    rnd = json.load(open(os.path.join(S, "random", "search.json")))
    trained = {}
    for k in range(len(rnd["history"])):
        p = os.path.join(S, "random", "trained", str(k), "result.json")
        if os.path.exists(p):
            r = json.load(open(p)); trained[r["arch"]] = r["testAccuracy"]
    curves_real["random (trained)"] = [(h["seconds"], trained.get(h["incumbent"])) for h in rnd["history"]]
    evo = json.load(open(os.path.join(S, "evolution", "search.json")))
    known[evo["arch"]] = seed0("search:evolution")
    pts, last = [], None
    for h in evo["history"]:
        if h["incumbent"] != last:
            pts.append((h["seconds"], known.get(h["incumbent"]))); last = h["incumbent"]
    curves_real["evolution (jacov)"] = pts
    for m in ("tenas", "spidernet"):
        path = os.path.join(S, m, "search.json")
        if os.path.exists(path) and seed0("search:" + m) is not None:
            curves_real[m] = [(json.load(open(path))["seconds"], seed0("search:" + m))]
    print("\n## Regret of the real searches (incumbent's seed-0 test accuracy, %, at a time)\n")
    marks = [60, 300, 486, 900]
    print("| search | " + " | ".join(f"{t} s" for t in marks) + " |\n|---|" + "---|" * len(marks))
    for m, pts in curves_real.items():
        cells = []
        for t in marks:
            before = [a for s_, a in pts if s_ <= t]
            cells.append("—" if not before else ("?" if before[-1] is None else f"{100 * before[-1]:.2f}"))
        print(f"| {m} | " + " | ".join(cells) + " |")
    missing = sum(1 for pts in curves_real.values() for _, a in pts if a is None)
    if missing:
        print(f"\n({missing} incumbents without a ground truth yet)")
    W, H, L, B = 720, 400, 70, 50
    allacc = [100 * a for pts in curves_real.values() for _, a in pts if a is not None] + [100 * truth[best_val]["testAccuracy"]]
    lo, hi = math.floor(min(allacc)) - 0.5, math.ceil(max(allacc)) + 0.5
    X = lambda s: L + (W - L - 20) * s / 950
    Y = lambda a: H - B - (H - B - 30) * (a - lo) / (hi - lo)
    svg = svg_frame("The searches on the whole space: incumbent test accuracy (seed 0) vs time", X, Y, list(range(0, 951, 100)),
                    lo, hi, 1, "seconds of search", 100 * truth[best_val]["testAccuracy"], W, H, L, B)
    colours = {"random (trained)": "#444444", "evolution (jacov)": "#1f77b4", "tenas": "#9467bd", "spidernet": "#ff7f0e"}
    for k, (m, pts) in enumerate(curves_real.items()):
        c = colours.get(m, "#2ca02c")
        good = [(s_, 100 * a_) for s_, a_ in pts if a_ is not None]
        if len(good) == 1:
            svg.append(f'<circle cx="{X(good[0][0]):.1f}" cy="{Y(good[0][1]):.1f}" r="5" fill="{c}"/>')
        else:
            step = []
            for i, (s_, a_) in enumerate(good):
                if i:
                    step.append((X(s_), Y(good[i - 1][1])))
                step.append((X(s_), Y(a_)))
            step.append((X(950), Y(good[-1][1])))
            svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in step) + '"/>')
        svg.append(f'<rect x="{L + 10}" y="{H - B - 70 + 16 * k}" width="12" height="3" fill="{c}"/><text x="{L + 28}" y="{H - B - 65 + 16 * k}">{m}</text>')
    svg.append("</svg>")
    open(os.path.join(D, "search-regret.svg"), "w").write("\n".join(svg) + "\n")
