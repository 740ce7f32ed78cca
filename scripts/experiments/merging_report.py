"""Tables for docs/results/merging.md from `amalgam merge` summaries.

    python3 scripts/experiments/merging_report.py DIR/*/summary.json
    python3 scripts/experiments/merging_report.py --pooled DIR/*/summary.json   # merged − long per configuration

Prints, per summary, the strategies (mean ± std over seeds, per-seed values, epochs, training
FLOPs, wall time), merged − long per seed with a paired t-test over seeds (mean gap, two-sided
p, 95 % interval; seeds pair the two strategies' data order and initialisation), and the merge
diagnostics.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats_util import paired  # noqa: E402

ORDER = ["merged", "long", "best_of_3", "teacher", "teacher_ensemble", "long_equal_compute"]


def pooled(paths):
    """merged − long pooled over the summaries of one model, budget and K (runs of one
    configuration split over several output directories), with the paired test."""
    groups = {}
    for path in paths:
        s = json.load(open(path))
        st = s["strategies"]
        if "merged" in st and "long" in st:
            key = (s["model"], s["dataset"], s["budget_epochs"], s["teachers"], s["metric"])
            for seed, m, l in zip(s["seeds"], st["merged"]["test_accuracy"], st["long"]["test_accuracy"]):
                groups.setdefault(key, {})[seed] = m - l
    print("### merged − long, pooled per configuration\n")
    print("Accuracy gaps in points (negative: long better); MSE gaps as they are (negative: merged better).\n")
    print("| model | dataset | T | K | metric | seeds | per seed | mean | 95 % interval | paired t-test p |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (model, dataset, budget, k, metric), gaps in sorted(groups.items()):
        d = [gaps[s] for s in sorted(gaps)]
        scale, fmt = (100, "+.2f") if "accuracy" in metric else (1, "+.4f")
        mean, _, pv, half = paired(d)
        ci = f"[{format((mean - half) * scale, fmt)}, {format((mean + half) * scale, fmt)}]" if half is not None else "–"
        print(f"| {model} | {dataset} | {budget:g} | {k} | {metric} | {', '.join(map(str, sorted(gaps)))} | "
              f"{', '.join(format(x * scale, fmt) for x in d)} | {format(mean * scale, fmt)} | {ci} | {'–' if pv is None else f'{pv:.2g}'} |")
    print()


def main(paths):
    if paths and paths[0] == "--pooled":
        return pooled(paths[1:])
    for path in paths:
        s = json.load(open(path))
        print(f"### {s['model']} on {s['dataset']}, T = {s['budget_epochs']:g}, K = {s['teachers']}, seeds {s['seeds']}\n")
        print(f"`{s['command']}` ({s['threads']} threads, {s['train_examples']} training examples)\n")
        print(f"| strategy | {s['metric']} mean ± std | per seed | epochs | training FLOPs | wall time (s) |")
        print("|---|---|---|---|---|---|")
        st = s["strategies"]
        for name in [n for n in ORDER if n in st]:
            v = st[name]
            per = ", ".join(f"{x:.4f}" for x in v["test_accuracy"])
            flops = sum(v["train_flops"]) / max(len(v["train_flops"]), 1)
            secs = sum(v["seconds"]) / max(len(v["seconds"]), 1)
            print(f"| {name} | {v['mean']:.4f} ± {v['std']:.4f} | {per} | {v['epochs']:.3g} | {flops:.3g} | {secs:.0f} |")
        if "merged" in st and "long" in st:
            d = [m - l for m, l in zip(st["merged"]["test_accuracy"], st["long"]["test_accuracy"])]
            line = f"\nmerged − long per seed: {', '.join(f'{x:+.4f}' for x in d)}"
            mean, sd, pv, half = paired(d)
            if pv is not None:
                line += (f"; mean {mean * 100:+.2f} points, 95 % interval [{(mean - half) * 100:+.2f}, {(mean + half) * 100:+.2f}], "
                         f"paired t-test p = {pv:.2g} ({len(d)} seeds)")
            print(line + "\n")
        rows = [r for r in s["diagnostics"] if r["diagnostics"].get("teacher_accuracies")]
        if rows:
            print("| seed | teachers | wide, gates off | wide, initial gates | after gates | after pruning | mean P(open) per group |")
            print("|---|---|---|---|---|---|---|")
            for r in rows:
                g = r["diagnostics"]
                recal = f" (BN recomputed: {g['after_pruning_recalibrated']:.4f})" if g.get("after_pruning_recalibrated") is not None else ""
                print(f"| {r['seed']} | {', '.join(f'{a:.4f}' for a in g['teacher_accuracies'])} | {g['wide_gates_off']:.4f} | "
                      f"{g['wide_initial_gates']:.4f} | {g['after_gates']:.4f} | {g['after_pruning']:.4f}{recal} | "
                      f"{', '.join(f'{p:.2f}' for p in g['open_probability'])} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
