#!/usr/bin/env python3
"""The supplementary tables of docs/results/dash.md, rebuilt from the raw per-seed outputs in
docs/results/dash/<study>/seed-N/{search,dash,backbone,random}/result.json (the main tables come
from `amalgam dash report`):
  - per seed: search seconds, DASH's grid + retrain seconds, the backbone's training seconds,
    (search + DASH grid + retrain) / backbone training, and the spread of softmax(α) after the
    search (min and max over all layers and candidates, against uniform 1/(K·D));
  - paired differences (same seed) with a 95 % t-interval: DASH − backbone, DASH − random,
    random − backbone, and, where both studies exist, DASH at gradient scale 1 − DASH at 100.
usage: scripts/experiments/dash_tables.py [RAW_DIR]   (default docs/results/dash)
"""
import json, math, os, sys

RAW = sys.argv[1] if len(sys.argv) > 1 else "docs/results/dash"
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}


def load(study):
    out = {}
    d = os.path.join(RAW, study)
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        if not name.startswith("seed-"):
            continue
        arms = {}
        for arm in ("search", "dash", "backbone", "random"):
            p = os.path.join(d, name, arm, "result.json")
            if os.path.exists(p):
                arms[arm] = json.load(open(p))
        if len(arms) == 4:
            out[int(name[5:])] = arms
    return out


def paired(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return f"{m:+.2f} (one seed)"
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = T975[n - 1] * sd / math.sqrt(n)
    return f"{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}]"


for task in ("austen", "fmnist"):
    for study in (task, task + "-s1"):
        seeds = load(study)
        if not seeds:
            continue
        print(f"\n### {study} ({len(seeds)} seeds)\n")
        print("| seed | search (s) | DASH grid + retrain (s) | backbone training (s) | (search + DASH grid + retrain) / backbone training | softmax(α) min … max (uniform) | DASH test (%) |")
        print("|---|---|---|---|---|---|---|")
        for s, a in sorted(seeds.items()):
            probs = [p for layer in a["search"]["probabilities"] for p in layer]
            k = len(a["search"]["probabilities"][0])
            total = a["search"]["searchSeconds"] + a["dash"]["gridSeconds"] + a["dash"]["trainSeconds"]
            print(f"| {s} | {a['search']['searchSeconds']:.0f} | {a['dash']['gridSeconds']:.0f} + {a['dash']['trainSeconds']:.0f} | "
                  f"{a['backbone']['trainSeconds']:.0f} | {total / a['backbone']['trainSeconds']:.2f}× | "
                  f"{min(probs):.4f} … {max(probs):.4f} ({1 / k:.4f}) | {100 * a['dash']['testAccuracy']:.2f} |")
        common = sorted(seeds)
        acc = lambda arm: [100 * seeds[s][arm]["testAccuracy"] for s in common]
        print("\nPaired test-accuracy differences, points (95 % t-interval):\n")
        print(f"- DASH − backbone: {paired([a - b for a, b in zip(acc('dash'), acc('backbone'))])}")
        print(f"- DASH − random: {paired([a - b for a, b in zip(acc('dash'), acc('random'))])}")
        print(f"- random − backbone: {paired([a - b for a, b in zip(acc('random'), acc('backbone'))])}")
    base, var = load(task), load(task + "-s1")
    both = sorted(set(base) & set(var))
    if both:
        d = [100 * (var[s]["dash"]["testAccuracy"] - base[s]["dash"]["testAccuracy"]) for s in both]
        v = [100 * (var[s]["dash"]["validationAccuracy"] - base[s]["dash"]["validationAccuracy"]) for s in both]
        print(f"\n{task}: DASH with gradient scale 1 − with 100 (seeds {both}): test {paired(d)}, validation {paired(v)}")
