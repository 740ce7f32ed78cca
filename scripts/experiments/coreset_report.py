"""Table and chart of a coreset sweep: mean ± std test accuracy per method and fraction, the
method's selection time (after the shared selection model) and the difference to uniform.

    python3 scripts/experiments/coreset_report.py runs/coresets/mlp [chart.svg]
"""
import glob
import json
import math
import os
import statistics
import sys

root = sys.argv[1]
chart = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "coresets.svg")
rows, model_secs = {}, []
for path in glob.glob(os.path.join(root, "f*", "*", "seed*", "summary.json")):
    parts = path.split(os.sep)
    fraction, method = float(parts[-4][1:]), parts[-3]
    d = json.load(open(path))
    rows.setdefault(method, {}).setdefault(fraction, []).append((d["test_accuracy"], d["selection_seconds"]))
    if not d.get("selection_model_cached", True) and d.get("selection_model_seconds"):
        model_secs.append(d["selection_model_seconds"])
fractions = sorted({f for m in rows.values() for f in m})
order = ["uniform"] + sorted(m for m in rows if m != "uniform")


def stats(m, f):
    v = [a for a, _ in rows.get(m, {}).get(f, [])]
    return (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) if v else None


print("| method | " + " | ".join(f"{f * 100:g}%" for f in fractions) + " | selection s (mean) |")
print("|---|" + "---|" * len(fractions) + "---|")
for m in order:
    if m not in rows:
        continue
    cells, secs = [], []
    for f in fractions:
        s = stats(m, f)
        secs += [t for _, t in rows[m].get(f, [])]
        if s is None:
            cells.append("–")
            continue
        u = stats("uniform", f)
        mark = ""
        if m != "uniform" and u and s[2] > 1 and u[2] > 1:
            # better/worse than uniform by more than the two standard errors combined
            se = math.sqrt(s[1] ** 2 / s[2] + u[1] ** 2 / u[2])
            mark = " **▲**" if s[0] - u[0] > 2 * se else (" ▼" if u[0] - s[0] > 2 * se else "")
        n = "" if s[2] == 3 else f" (n={s[2]})"
        cells.append(f"{s[0]:.4f} ± {s[1]:.4f}{n}{mark}")
    print(f"| {m} | " + " | ".join(cells) + f" | {statistics.mean(secs):.1f} |")
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
