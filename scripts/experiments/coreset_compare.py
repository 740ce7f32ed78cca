"""DeepCore's original rules against the corrected ones (docs/results/coresets.md): for every
method and fraction present in both sweeps, the two means over the seeds both have, the paired difference
DeepCore − corrected over the seeds both have (same selection model and subset initialisation
per seed) with its 95 % t interval, and the two-sided paired p. Seeds that failed (failed.txt)
in either sweep are left out of the pair and counted.

    python3 scripts/experiments/coreset_compare.py docs/results/coresets/steps2000 docs/results/coresets/steps2000-deepcore
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coreset_runs import load  # noqa: E402
from stats_util import paired  # noqa: E402


def accuracies(root):
    runs, failed = load(root)
    return {key: {seed: d["test_accuracy"] for seed, d in by_seed.items()} for key, by_seed in runs.items()}, failed


corrected, corrected_failed = accuracies(sys.argv[1])
deepcore, deepcore_failed = accuracies(sys.argv[2])
print("| method | fraction | corrected | DeepCore's rule | difference (points) | p | seeds |")
print("|---|---|---|---|---|---|---|")
for key in sorted(set(corrected) & set(deepcore), key=lambda k: (k[1], k[0])):
    method, fraction = key
    if method == "uniform":
        continue
    a, b = corrected[key], deepcore[key]
    common = sorted(set(a) & set(b))
    diffs = [100 * (b[s] - a[s]) for s in common]
    mean, _, p, half = paired(diffs)
    interval = f"{mean:+.1f} [{mean - half:+.1f}, {mean + half:+.1f}]" if half is not None else f"{mean:+.1f}"
    lost = corrected_failed.get(key, []) + deepcore_failed.get(key, [])
    note = f"{len(common)}" + (f" ({len(lost)} failed)" if lost else "")
    p_text = "–" if p is None else (f"{p:.2g}" if p >= 1e-4 else "<1e-4")
    print(f"| {method} | {fraction * 100:g}% | {statistics.mean(a[s] for s in common):.4f} | {statistics.mean(b[s] for s in common):.4f} | {interval} | {p_text} | {note} |")
