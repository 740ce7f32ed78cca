"""Tables and chart of a pruning sweep (scripts/experiments/pruning_sweep.sh).

    python3 scripts/experiments/pruning_report.py runs/pruning [chart.svg]
"""
import glob
import json
import os
import sys

root = sys.argv[1]
chart = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "pruning.svg")


def runs(name):
    out = []
    for path in glob.glob(os.path.join(root, name, "c*", "summary.json")) + glob.glob(os.path.join(root, name, "summary.json")):
        out.append(json.load(open(path)))
    return sorted(out, key=lambda d: -d["constraint"])


series = {}
for name, label in [("austen-mac", "Austen test accuracy"), ("embedding-mac", "embedding cosine (held-out passages)")]:
    rs = runs(name)
    if not rs:
        continue
    print(f"\n### {label} — `{name}` (unpruned: {rs[0]['before']:.4f})\n")
    print("| constraint | MAC ratio | search | + rearrange | + tune | kept heads | kept neurons | speed-up (measured) | pruning s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in rs:
        a = d["after"]
        print(f"| {d['constraint']:.1f} | {d['mac_ratio']:.3f} | {a.get('search', float('nan')):.4f} | {a.get('rearrange', float('nan')):.4f} | "
              f"{a.get('tune', float('nan')):.4f} | {sum(d['kept_heads'])} | {sum(d['kept_neurons'])} | {d['speedup']:.2f}× | {d['pruning_seconds']:.0f} |")
    if any(d.get("retrieval_before") is not None for d in rs):
        print(f"\nPassage-continuation retrieval, recall@1 over the test passages (unpruned: {rs[0]['retrieval_before']:.4f}):\n")
        print("| constraint | search | + rearrange | + tune |")
        print("|---|---|---|---|")
        for d in rs:
            r = d.get("retrieval_after") or {}
            print(f"| {d['constraint']:.1f} | " + " | ".join(f"{r[k]:.4f}" if k in r else "–" for k in ["search", "rearrange", "tune"]) + " |")
    series[label] = rs
lat = runs("austen-latency")
for d in lat:
    a = d["after"]
    print(f"\nLatency budget {d['constraint']}: search {a.get('search'):.4f}, + rearrange {a.get('rearrange'):.4f}, + tune {a.get('tune'):.4f}; "
          f"MAC ratio {d['mac_ratio']:.3f}; measured speed-up {d['speedup']:.2f}×; pruning {d['pruning_seconds']:.0f} s")

# Chart: metric vs constraint, one panel per task, three lines (search, + rearrange, + tune).
W, H, M = 360, 260, 48
panels = list(series.items())
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * max(1, len(panels))}" height="{H}" font-family="sans-serif" font-size="11">']
colors = {"search": "#1f77b4", "rearrange": "#ff7f0e", "tune": "#2ca02c"}
for p, (label, rs) in enumerate(panels):
    x0 = p * W
    xs = [d["constraint"] for d in rs]
    ys = [v for d in rs for v in d["after"].values()] + [rs[0]["before"]]
    lo, hi = min(ys), max(ys)
    lo, hi = lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9)
    fx = lambda c: x0 + M + (c - 0.5) / 0.5 * (W - 2 * M)
    fy = lambda v: H - M + (M - H + M) * (v - lo) / (hi - lo)
    svg.append(f'<text x="{x0 + W / 2}" y="16" text-anchor="middle">{label}</text>')
    svg.append(f'<line x1="{x0 + M}" y1="{H - M}" x2="{x0 + W - M}" y2="{H - M}" stroke="black"/><line x1="{x0 + M}" y1="{M}" x2="{x0 + M}" y2="{H - M}" stroke="black"/>')
    for c in [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]:
        svg.append(f'<text x="{fx(c):.1f}" y="{H - M + 14}" text-anchor="middle">{c:.1f}</text>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        svg.append(f'<text x="{x0 + M - 4}" y="{fy(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
    svg.append(f'<text x="{x0 + W / 2}" y="{H - 12}" text-anchor="middle">MAC constraint</text>')
    svg.append(f'<line x1="{x0 + M}" y1="{fy(rs[0]["before"]):.1f}" x2="{x0 + W - M}" y2="{fy(rs[0]["before"]):.1f}" stroke="gray" stroke-dasharray="4 3"/>')
    for i, stage in enumerate(["search", "rearrange", "tune"]):
        pts = [(fx(d["constraint"]), fy(d["after"][stage])) for d in rs if stage in d["after"]]
        if pts:
            svg.append(f'<polyline fill="none" stroke="{colors[stage]}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
            svg.append(f'<text x="{x0 + M + 8}" y="{M + 14 * i + 4}" fill="{colors[stage]}">{"search" if stage == "search" else "+ " + stage}</text>')
svg.append("</svg>")
with open(chart, "w") as f:
    f.write("\n".join(svg) + "\n")
print(f"\nchart → {chart}")
