"""Table and chart of a coreset sweep: mean ± std test accuracy per method and fraction, the
method's selection time (after the shared selection model) and the difference to uniform.

The marks compare each method with uniform at the same fraction by a paired t-test over seeds
(seed s of a method and of uniform share the selection model and the subset model's
initialisation), two-sided, with the Holm–Bonferroni correction over every comparison in the
table (methods × fractions): **▲** / ▼ = above / below uniform at family-wise error 0.05. The
number of comparisons that would pass uncorrected (p < 0.05) is printed too. A fraction-1 run
of uniform (the full training set) is printed below the table.

    python3 scripts/experiments/coreset_report.py runs/coresets/mlp [chart.svg]
"""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coreset_runs import load  # noqa: E402
from stats_util import t_two_sided_p  # noqa: E402

root = sys.argv[1]
chart = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "coresets.svg")
rows, model_secs, seeds = {}, [], {}
runs, failed = load(root)   # failed: runs that stopped with an error (failed.txt, e.g. a NaN loss): counted, never averaged
for (method, fraction), by_seed in runs.items():
    for seed, d in by_seed.items():
        rows.setdefault(method, {}).setdefault(fraction, []).append((d["test_accuracy"], d["selection_seconds"]))
        seeds.setdefault((method, fraction), {})[seed] = d["test_accuracy"]
        if not d.get("selection_model_cached", True) and d.get("selection_model_seconds"):
            model_secs.append(d["selection_model_seconds"])
full = rows.get("uniform", {}).pop(1.0, None)
fractions = sorted({f for m in rows.values() for f in m})
order = ["uniform"] + sorted({m for m in rows if m != "uniform"} | {m for m, _ in failed})


def stats(m, f):
    v = [a for a, _ in rows.get(m, {}).get(f, [])]
    return (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) if v else None


def paired_p(m, f):
    """Two-sided paired t-test of method m against uniform over their common seeds."""
    a, u = seeds.get((m, f), {}), seeds.get(("uniform", f), {})
    diffs = [a[s] - u[s] for s in sorted(set(a) & set(u))]
    if len(diffs) < 2:
        return None, None
    mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
    if sd == 0:
        return mean, (0.0 if mean != 0 else 1.0)
    t = mean / (sd / math.sqrt(len(diffs)))
    df = len(diffs) - 1
    return mean, t_two_sided_p(t, df)


tests = {(m, f): paired_p(m, f) for m in order if m != "uniform" for f in fractions}
tests = {k: v for k, v in tests.items() if v[1] is not None}
ranked = sorted(tests, key=lambda k: tests[k][1])
holm, running = {}, 0.0
for i, k in enumerate(ranked):   # Holm's step-down adjusted p-values
    running = max(running, min(1.0, (len(ranked) - i) * tests[k][1]))
    holm[k] = running

print("| method | " + " | ".join(f"{f * 100:g}%" for f in fractions) + " | selection s (mean) |")
print("|---|" + "---|" * len(fractions) + "---|")
for m in order:
    if m not in rows and not any(k[0] == m for k in failed):
        continue
    cells, secs = [], []
    for f in fractions:
        s = stats(m, f)
        secs += [t for _, t in rows.get(m, {}).get(f, [])]
        lost = failed.get((m, f), [])
        lost = f" ({len(lost)} diverged)" if lost else ""
        if s is None:
            cells.append("–" + lost)
            continue
        mark = ""
        if (m, f) in holm and holm[(m, f)] < 0.05:
            mark = " **▲**" if tests[(m, f)][0] > 0 else " ▼"
        n = "" if s[2] == 3 else f" (n={s[2]})"
        cells.append(f"{s[0]:.4f} ± {s[1]:.4f}{n}{mark}{lost}")
    print(f"| {m} | " + " | ".join(cells) + f" | {statistics.mean(secs) if secs else float('nan'):.1f} |")
if full:
    v = [a for a, _ in full]
    print(f"\nThe full training set (uniform at fraction 1, the same recipe): {statistics.mean(v):.4f} ± "
          f"{statistics.stdev(v) if len(v) > 1 else 0:.4f} over {len(v)} seeds.")
for (m, f), which in sorted(failed.items()):
    print(f"\n{m} at {f * 100:g}%: {', '.join(f'seed{n}' for n in sorted(which))} stopped with an error (see failed.txt); the cell averages the rest.")
raw = sum(1 for k in tests if tests[k][1] < 0.05)
print(f"\nPaired t-tests against uniform: {len(tests)} comparisons; {raw} with p < 0.05 uncorrected, "
      f"{sum(1 for k in holm if holm[k] < 0.05)} after Holm–Bonferroni (marked).")
if model_secs:
    print(f"\nSelection model (trained once per seed, shared by every method): {statistics.mean(model_secs):.1f} s on average.")

# Chart: accuracy vs fraction (log x), one line per method, uniform in black.
W, H, M, R = 760, 420, 56, 190
xs = [math.log10(f) for f in fractions]
accs = [s[0] for m in rows for f in fractions if (s := stats(m, f))]
if accs and len(fractions) >= 1:
    lo, hi = min(accs) - 0.02, max(accs) + 0.02
    x0, x1 = (min(xs), max(xs)) if len(xs) > 1 else (xs[0] - 1, xs[0] + 1)
    fx = lambda f: M + (math.log10(f) - x0) / (x1 - x0) * (W - M - R)
    fy = lambda a: H - M - (a - lo) / (hi - lo) * (H - 2 * M)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<text x="{(W - R) / 2}" y="18" text-anchor="middle" font-size="13">Fashion-MNIST coresets: test accuracy vs fraction (mean of seeds)</text>',
           f'<line x1="{M}" y1="{H - M}" x2="{W - R}" y2="{H - M}" stroke="black"/><line x1="{M}" y1="{M}" x2="{M}" y2="{H - M}" stroke="black"/>']
    for f in fractions:
        svg.append(f'<text x="{fx(f):.1f}" y="{H - M + 14}" text-anchor="middle">{f * 100:g}%</text>')
    for k in range(6):
        a = lo + (hi - lo) * k / 5
        svg.append(f'<text x="{M - 4}" y="{fy(a) + 4:.1f}" text-anchor="end">{a:.2f}</text>')
    svg.append(f'<text x="{(W - R) / 2}" y="{H - 14}" text-anchor="middle">fraction of the training set (log scale)</text>')
    for i, m in enumerate(order):
        pts = [(fx(f), fy(s[0])) for f in fractions if (s := stats(m, f))]
        if not pts:
            continue
        color = "black" if m == "uniform" else palette[i % len(palette)]
        dash = "" if i < 11 else ' stroke-dasharray="5 3"'
        width = 3 if m == "uniform" else 1.5
        svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}"{dash} points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
        svg.append(f'<line x1="{W - R + 12}" y1="{M + 15 * i}" x2="{W - R + 32}" y2="{M + 15 * i}" stroke="{color}" stroke-width="{width}"{dash}/>')
        svg.append(f'<text x="{W - R + 38}" y="{M + 15 * i + 4}">{m}</text>')
    svg.append("</svg>")
    with open(chart, "w") as fh:
        fh.write("\n".join(svg) + "\n")
    print(f"\nchart → {chart}")
