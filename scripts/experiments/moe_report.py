"""Figures and tests of docs/results/moe.md from the raw outputs that moe.sh copies to
docs/results/moe/: validation-perplexity differences between routers (Welch's t over seeds),
the fluctuation curves (share of recorded validation tokens changing expert between records)
and StableMoE's cumulative "last fluctuation step" curve, as SVG charts.

    python3 scripts/experiments/moe_report.py [docs/results/moe]
"""
import glob
import json
import math
import os
import statistics
import sys

from scipy import stats as sps

root = sys.argv[1] if len(sys.argv) > 1 else "docs/results/moe"
order = ["dense", "switch", "xmoe", "stablemoe", "hash"]
colors = {"dense": "black", "switch": "#1f77b4", "xmoe": "#2ca02c", "stablemoe": "#d62728", "hash": "#9467bd"}
runs = {}
for path in sorted(glob.glob(os.path.join(root, "lm", "*", "seed*", "summary.json"))):
    d = os.path.dirname(path)
    s = json.load(open(path))
    metrics = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
    routing = json.load(open(os.path.join(d, "routing.json"))) if s["router"] != "dense" else None
    runs.setdefault(s["router"], []).append((s, metrics, routing))


def ms(v):
    return (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)


# 1. Perplexity differences to dense and to Switch. Runs of one seed share their batches and the
# initial weights of everything outside the mixture block (drawn first, in the same order), so
# the comparison is paired by seed (t-test on the per-seed differences of validation loss =
# log-perplexity); Welch's unpaired test beside it.
print("| comparison | Δ val loss (nats/token), mean of seeds | per seed | paired t | paired p | Welch p | Δ val ppl | Δ test ppl |")
print("|---|---|---|---|---|---|---|---|")
for base in ["dense", "switch"]:
    for r in order:
        if r == base or r not in runs or base not in runs or (base == "switch" and r == "dense"):
            continue
        a = {s["seed"]: s for s, _, _ in runs[r]}
        b = {s["seed"]: s for s, _, _ in runs[base]}
        seeds = sorted(set(a) & set(b))
        if len(seeds) < 2:
            continue
        d = [a[k]["val_loss"] - b[k]["val_loss"] for k in seeds]
        paired = sps.ttest_rel([a[k]["val_loss"] for k in seeds], [b[k]["val_loss"] for k in seeds])
        welch = sps.ttest_ind([a[k]["val_loss"] for k in seeds], [b[k]["val_loss"] for k in seeds], equal_var=False)
        dppl = statistics.mean(a[k]["val_ppl"] - b[k]["val_ppl"] for k in seeds)
        dtest = statistics.mean(a[k]["test_ppl"] - b[k]["test_ppl"] for k in seeds)
        print(f"| {r} − {base} | {statistics.mean(d):+.4f} | {', '.join(f'{x:+.3f}' for x in d)} | {paired.statistic:+.2f} | {paired.pvalue:.3f} | {welch.pvalue:.3f} | {dppl:+.2f} | {dtest:+.2f} |")


# Representation collapse, X-MoE against Switch (the paper: X-MoE collapses less, i.e. larger
# RC and larger effective rank), paired by seed.
if "xmoe" in runs and "switch" in runs:
    a = {s["seed"]: s for s, _, _ in runs["xmoe"]}
    b = {s["seed"]: s for s, _, _ in runs["switch"]}
    seeds = sorted(set(a) & set(b))
    print()
    for key, name in [("representation_collapse", "RC"), ("effective_rank", "effective rank")]:
        d = [a[k][key] - b[k][key] for k in seeds]
        p = sps.ttest_rel([a[k][key] for k in seeds], [b[k][key] for k in seeds]).pvalue if len(seeds) > 1 else float("nan")
        print(f"- {name}, X-MoE − Switch: {statistics.mean(d):+.3f} (per seed {', '.join(f'{x:+.3f}' for x in d)}; paired p {p:.3f})")
    print()


# 2. Charts.
def chart(path, title, xlabel, ylabel, series, ymax=None):
    W, H, M, R = 720, 400, 60, 150
    pts = [p for _, _, ps in series for p in ps]
    if not pts:
        return
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = 0.0, ymax if ymax is not None else max(p[1] for p in pts) * 1.05 or 1
    fx = lambda x: M + (x - x0) / ((x1 - x0) or 1) * (W - M - R)
    fy = lambda y: H - M - (y - y0) / ((y1 - y0) or 1) * (H - 2 * M)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<text x="{(W - R) / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>',
           f'<line x1="{M}" y1="{H - M}" x2="{W - R}" y2="{H - M}" stroke="black"/><line x1="{M}" y1="{M}" x2="{M}" y2="{H - M}" stroke="black"/>',
           f'<text x="{(W - R) / 2}" y="{H - 18}" text-anchor="middle">{xlabel}</text>',
           f'<text x="16" y="{H / 2}" text-anchor="middle" transform="rotate(-90 16 {H / 2})">{ylabel}</text>']
    for k in range(6):
        x = x0 + (x1 - x0) * k / 5
        y = y0 + (y1 - y0) * k / 5
        svg.append(f'<text x="{fx(x):.1f}" y="{H - M + 14}" text-anchor="middle">{x:g}</text>')
        svg.append(f'<text x="{M - 4}" y="{fy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for i, (name, color, ps) in enumerate(series):
        svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{" ".join(f"{fx(a):.1f},{fy(b):.1f}" for a, b in ps)}"/>')
        svg.append(f'<line x1="{W - R + 12}" y1="{M + 16 * i}" x2="{W - R + 32}" y2="{M + 16 * i}" stroke="{color}" stroke-width="2"/>')
        svg.append(f'<text x="{W - R + 38}" y="{M + 16 * i + 4}">{name}</text>')
    svg.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(svg) + "\n")
    print(f"chart → {path}")


fluct, settled = [], []
for r in order:
    if r == "dense" or r not in runs:
        continue
    # fluctuation at each record step, mean over seeds
    by_step = {}
    for _, metrics, _ in runs[r]:
        for m in metrics:
            if m.get("fluctuation") is not None:
                by_step.setdefault(m["step"], []).append(m["fluctuation"])
    fluct.append((r, colors[r], sorted((s, statistics.mean(v)) for s, v in by_step.items())))
    # share of tokens still to change after each record step (1 − settled share), mean over seeds
    curves = []
    for s, _, routing in runs[r]:
        last, steps = routing["last_fluctuation_step"], routing["steps"]
        curves.append([(st, sum(1 for l in last if l >= st) / len(last)) for st in steps])
    settled.append((r, colors[r], [(curves[0][i][0] / runs[r][0][0]["steps"] * 100, statistics.mean(c[i][1] for c in curves)) for i in range(len(curves[0]))]))
chart(os.path.join(root, "fluctuation.svg"), "Routing fluctuation between records (mean of seeds)", "step", "share of validation tokens changing expert", fluct, ymax=1)
chart(os.path.join(root, "still-changing.svg"), "Tokens whose expert still changes after x % of training (mean of seeds)", "% of training",
      "share of validation tokens", settled, ymax=1)

# 3. Validation perplexity over training.
ppl = []
for r in order:
    if r not in runs:
        continue
    by_step = {}
    for _, metrics, _ in runs[r]:
        for m in metrics:
            if m.get("val_ppl") is not None and m["step"] > 0:
                by_step.setdefault(m["step"], []).append(m["val_ppl"])
    ppl.append((r, colors[r], sorted((s, statistics.mean(v)) for s, v in by_step.items())))
chart(os.path.join(root, "perplexity.svg"), "Validation perplexity (mean of seeds)", "step", "perplexity", ppl)

# 4. Fine-tuning: frozen router against not, paired by fine-tuning seed (same head initialisation
# and batch order per seed, same pretrained model).
ft = {}
for path in glob.glob(os.path.join(root, "finetune", "*", "seed*", "summary.json")):
    name = path.split(os.sep)[-3]
    s = json.load(open(path))
    ft.setdefault(name, {})[s["seed"]] = s
print("\n| router | test acc, frozen − not (per seed) | paired p |")
print("|---|---|---|")
for r in ["switch", "xmoe"]:
    a, b = ft.get(r + "-frozen", {}), ft.get(r, {})
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        continue
    d = [a[k]["test_accuracy"] - b[k]["test_accuracy"] for k in seeds]
    p = sps.ttest_rel([a[k]["test_accuracy"] for k in seeds], [b[k]["test_accuracy"] for k in seeds]).pvalue
    print(f"| {r} | {statistics.mean(d):+.4f} ({', '.join(f'{x:+.4f}' for x in d)}) | {p:.3f} |")
