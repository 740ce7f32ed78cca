"""Tables for docs/results/merging.md from `amalgam merge` summaries.

    python3 scripts/experiments/merging_report.py DIR/*/summary.json

Prints, per summary, the strategies (mean ± std over seeds, per-seed values, epochs, training
FLOPs, wall time), merged − long per seed, and the merge diagnostics.
"""
import json
import sys

ORDER = ["merged", "long", "best_of_3", "teacher", "teacher_ensemble", "long_equal_compute"]


def main(paths):
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
            print(f"\nmerged − long per seed: {', '.join(f'{x:+.4f}' for x in d)}\n")
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
