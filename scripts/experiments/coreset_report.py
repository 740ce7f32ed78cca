"""Table of a coreset sweep: mean ± std test accuracy and selection time per method and fraction.

    python3 scripts/experiments/coreset_report.py runs/coresets/mlp
"""
import glob
import json
import os
import statistics
import sys

root = sys.argv[1]
rows = {}
for path in glob.glob(os.path.join(root, "f*", "*", "seed*", "summary.json")):
    parts = path.split(os.sep)
    fraction, method = parts[-4][1:], parts[-3]
    d = json.load(open(path))
    rows.setdefault(method, {}).setdefault(float(fraction), []).append((d["test_accuracy"], d["selection_seconds"]))
fractions = sorted({f for m in rows.values() for f in m})
print("| method | " + " | ".join(f"{f:g}" for f in fractions) + " | selection s (mean) |")
print("|---|" + "---|" * len(fractions) + "---|")
order = ["uniform"] + sorted(m for m in rows if m != "uniform")
for m in order:
    if m not in rows:
        continue
    cells, secs = [], []
    for f in fractions:
        v = [a for a, _ in rows[m].get(f, [])]
        secs += [s for _, s in rows[m].get(f, [])]
        cells.append("–" if not v else f"{statistics.mean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0:.4f} (n={len(v)})")
    print(f"| {m} | " + " | ".join(cells) + f" | {statistics.mean(secs):.1f} |")
