"""Chart of merged − long (test accuracy, points) against the budget T, from `amalgam merge` summaries.

    python3 scripts/experiments/merging_gap_chart.py OUT.svg DIR/*/summary.json

Summaries of one model are grouped by budget (seeds of the same T pooled across files). Each
seed is a dot; the line joins the means. A second series (hollow dots, dashed) shows
merged − long_equal_compute where that baseline was run. Prints the numbers it plots.
"""
import json
import math
import statistics
import sys
from collections import defaultdict


def gaps(paths):
    by_t = defaultdict(lambda: {"long": [], "long_equal_compute": []})
    model = None
    for p in paths:
        s = json.load(open(p))
        model = model or s["model"]
        st = s["strategies"]
        if "merged" not in st:
            continue
        for base in ("long", "long_equal_compute"):
            if base in st:
                by_t[s["budget_epochs"]][base] += [100 * (m - b) for m, b in zip(st["merged"]["test_accuracy"], st[base]["test_accuracy"])]
    return model, dict(sorted(by_t.items()))


def main(out, paths):
    model, data = gaps(paths)
    for t, d in data.items():
        for base, v in d.items():
            if v:
                print(f"T = {t:g}  merged − {base}: {', '.join(f'{x:+.2f}' for x in v)}  mean {statistics.mean(v):+.2f} points ({len(v)} seed{'s' if len(v) != 1 else ''})")
    W, H, L, R, M = 560, 340, 60, 170, 30
    ts = list(data)
    allv = [x for d in data.values() for v in d.values() for x in v] + [0.0]
    lo, hi = min(allv) - 0.3, max(allv) + 0.3
    lx = [math.log2(t) for t in ts]
    x0, x1 = (min(lx) - 0.3, max(lx) + 0.3) if lx else (0, 1)
    fx = lambda t: L + (math.log2(t) - x0) / (x1 - x0) * (W - L - R)
    fy = lambda v: M + (hi - v) / (hi - lo) * (H - 2 * M)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="18" font-size="13">merged − long, {model} on Fashion-MNIST (points of test accuracy)</text>',
           f'<line x1="{L}" y1="{fy(0):.1f}" x2="{W - R}" y2="{fy(0):.1f}" stroke="#888" stroke-dasharray="2,2"/>']
    step = 0.5 if hi - lo < 6 else 1.0
    v = math.ceil(lo / step) * step
    while v <= hi:
        svg.append(f'<text x="{L - 4}" y="{fy(v) + 4:.1f}" text-anchor="end">{v:+.1f}</text>')
        v += step
    for t in ts:
        svg.append(f'<text x="{fx(t):.1f}" y="{H - M + 14}" text-anchor="middle">{t:g}</text>')
    svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 4}" text-anchor="middle">budget T (epochs, log scale)</text>')
    series = [("long", "#1f77b4", "", "merged − long (equal epochs)"),
              ("long_equal_compute", "#d62728", ' stroke-dasharray="5,3"', "merged − long at equal FLOPs")]
    for i, (base, color, dash, label) in enumerate(series):
        pts = [(t, d[base]) for t, d in data.items() if d[base]]
        for t, vals in pts:
            for x in vals:
                fill = color if base == "long" else "white"
                svg.append(f'<circle cx="{fx(t):.1f}" cy="{fy(x):.1f}" r="3.5" fill="{fill}" stroke="{color}"/>')
        if len(pts) > 1:
            line = " ".join(f"{fx(t):.1f},{fy(statistics.mean(v)):.1f}" for t, v in pts)
            svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{line}"/>')
        svg.append(f'<line x1="{W - R + 10}" y1="{M + 16 * i}" x2="{W - R + 30}" y2="{M + 16 * i}" stroke="{color}" stroke-width="1.5"{dash}/>')
        svg.append(f'<text x="{W - R + 34}" y="{M + 16 * i + 4}">{label}</text>')
    svg.append("</svg>")
    with open(out, "w") as fh:
        fh.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
