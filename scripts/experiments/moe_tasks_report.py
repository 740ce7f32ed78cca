"""Tables of docs/results/moe-tasks.md from the raw outputs moe_tasks.sh copies to
docs/results/moe-tasks/ (and the language-model summaries of docs/results/moe/lm/).

    python3 scripts/experiments/moe_tasks_report.py [docs/results/moe-tasks]
"""
import glob
import json
import os
import statistics
import sys

from scipy import stats as sps

root = sys.argv[1] if len(sys.argv) > 1 else "docs/results/moe-tasks"
lm_root = os.path.join(os.path.dirname(root.rstrip("/")), "moe", "lm")


def ms(v):
    v = list(v)
    if not v:
        return "–"
    return f"{statistics.mean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0:.4f}" + ("" if len(v) == 3 else f" (n={len(v)})")


def runs(name, routing):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(root, name, routing, "seed*", "summary.json")))]


def acc(rs, task, key="test_accuracy"):
    return [t[key] for r in rs for t in r["tasks"] if t["task"] == task]


# A. Shared vs task-aware routing, every task (test accuracy; validation in brackets for the unseen).
routings = ["shared", "task", "task-embedding"]
four = {r: runs("four", r) for r in routings}
tasks = ["novel", "dialogue", "half", "question", "period"]
print("### Shared vs task-aware routing (test accuracy, mean ± std over seeds)\n")
print("| task | training passages | majority | " + " | ".join(routings) + " |")
print("|---|---|---|" + "---|" * len(routings))
for t in tasks:
    any_run = next((r for rs in four.values() for r in rs for x in r["tasks"] if x["task"] == t), None)
    if any_run is None:
        continue
    info = next(x for x in any_run["tasks"] if x["task"] == t)
    n = "unseen" if not info["trained"] else str(info["train_examples"])
    print(f"| {t} | {n} | {info['majority_test_accuracy']:.4f} | " + " | ".join(ms(acc(four[r], t)) for r in routings) + " |")
print()
# Runs of one seed share the language model, the passages drawn, the heads' initialisation and
# the task order of the batches: paired by seed.
def by_seed(rs, task):
    return {r["seed"]: t["test_accuracy"] for r in rs for t in r["tasks"] if t["task"] == task}


for r in ["task", "task-embedding"]:
    for t in ["novel", "dialogue", "half", "question"]:
        a, b = by_seed(four[r], t), by_seed(four["shared"], t)
        seeds = sorted(set(a) & set(b))
        if len(seeds) > 1:
            d = [a[k] - b[k] for k in seeds]
            p = sps.ttest_rel([a[k] for k in seeds], [b[k] for k in seeds]).pvalue
            print(f"- {t}{' (low-resource)' if t == 'dialogue' else ''}, {r} − shared: {statistics.mean(d):+.4f} (per seed {', '.join(f'{x:+.4f}' for x in d)}; paired p {p:.3f})")
print()

# Unseen task: accuracy under each trained task's route; which route was chosen.
print("### The unseen task under each trained route (test accuracy, mean ± std over seeds)\n")
for r in ["task", "task-embedding"]:
    rs = four[r]
    if not rs:
        continue
    routes = sorted({k for x in rs for k in x.get("unseen_accuracy_by_route", {}).get("period", {})})
    chosen = [next(t["routed_as"] for t in x["tasks"] if t["task"] == "period") for x in rs]
    print(f"{r} routing — chosen route per seed: {', '.join(chosen)}\n")
    print("| served by | val accuracy | test accuracy |")
    print("|---|---|---|")
    for k in routes:
        v = [x["unseen_accuracy_by_route"]["period"][k] for x in rs if k in x["unseen_accuracy_by_route"].get("period", {})]
        print(f"| {k} | {ms(a for a, _ in v)} | {ms(b for _, b in v)} |")
    print()
    nmi = [x["label_relatedness"][4][:4] for x in rs if len(x["label_relatedness"]) == 5]
    if nmi:
        print("NMI of period's true labels with each trained task's (validation passages): "
              + ", ".join(f"{t} {statistics.mean(n[i] for n in nmi):.3f}" for i, t in enumerate(tasks[:4])) + "\n")

# B. Robustness to an unrelated task.
print("### Adding the unrelated task (question): change in test accuracy of the others\n")
print("| routing | task | without question | with question | Δ (per seed) | paired p |")
print("|---|---|---|---|---|---|")
for r in ["shared", "task"]:
    three = runs("three", r)
    for t in ["novel", "dialogue", "half"]:
        a, b = by_seed(three, t), by_seed(four[r], t)
        seeds = sorted(set(a) & set(b))
        if not seeds:
            continue
        d = [b[k] - a[k] for k in seeds]
        p = sps.ttest_rel([b[k] for k in seeds], [a[k] for k in seeds]).pvalue if len(seeds) > 1 else float("nan")
        print(f"| {r} | {t} | {ms(a.values())} | {ms(b.values())} | {statistics.mean(d):+.4f} ({', '.join(f'{x:+.3f}' for x in d)}) | {p:.3f} |")
    nmi = [x["label_relatedness"] for x in four[r] if len(x["label_relatedness"]) >= 4]
    if nmi and r == "task":
        names = [t["task"] for t in four[r][0]["tasks"]]
        q = names.index("question")
        print("\nNMI of question's true labels with the others' (validation passages): "
              + ", ".join(f"{n} {statistics.mean(m[q][i] for m in nmi):.3f}" for i, n in enumerate(names) if i != q) + "\n")
print()

# Expert shares per task under task routing (validation token slots), mean over seeds.
if four["task"]:
    names = [t["task"] for t in four["task"][0]["tasks"]]
    print("### Expert shares per task, task routing (validation token slots, mean of seeds)\n")
    print("| task | " + " | ".join(f"e{i}" for i in range(len(four["task"][0]["tasks"][0]["expert_share"]))) + " |")
    print("|---|" + "---|" * len(four["task"][0]["tasks"][0]["expert_share"]))
    for i, n in enumerate(names):
        sh = [statistics.mean(r["tasks"][i]["expert_share"][e] for r in four["task"]) for e in range(len(four["task"][0]["tasks"][i]["expert_share"]))]
        print(f"| {n} | " + " | ".join(f"{v:.3f}" for v in sh) + " |")
    print()

# C. Extraction.
ex = {}
for p in glob.glob(os.path.join(root, "extract", "*", "seed*", "extraction.json")):
    d = json.load(open(p))
    ex.setdefault((d["task"], d["threshold"]), []).append(d)
if ex:
    print("### Per-task extraction from the task-routed models\n")
    print("| task | threshold | experts kept | parameters (extracted / full) | file size ratio | test acc full → extracted | speed-up | max |Δ logit| |")
    print("|---|---|---|---|---|---|---|---|")
    for (t, th), ds in sorted(ex.items()):
        kept = statistics.mean(len(d["kept_experts"]) for d in ds)
        pr = statistics.mean(d["parameters"]["extracted"] / d["parameters"]["full"] for d in ds)
        br = statistics.mean(d["file_bytes"]["extracted"] / d["file_bytes"]["full"] for d in ds)
        sp = statistics.mean(d["seconds_per_pass"]["full"] / d["seconds_per_pass"]["extracted"] for d in ds)
        print(f"| {t} | {th:g} | {kept:.1f} of {len(ds[0]['expert_share'])} | {pr:.3f} | {br:.3f} | "
              f"{ms(d['test_accuracy']['full'] for d in ds)} → {ms(d['test_accuracy']['extracted'] for d in ds)} | {sp:.2f}× | "
              f"{max(d['max_abs_difference'] for d in ds):.1e} |")
    print()

# D. RMoE at measured cost: pretraining seconds (LM summary) + fine-tuning seconds.
rm = {}
for p in glob.glob(os.path.join(root, "rmoe", "*", "seed*", "summary.json")):
    v = p.split(os.sep)[-3]
    rm.setdefault(v, []).append(json.load(open(p)))
if rm:
    print("### Residual MoE (novel attribution after fine-tuning)\n")
    print("| variant | test accuracy | pretraining s | fine-tuning s | total s |")
    print("|---|---|---|---|---|")
    for v in ["dense", "rmoe-frozen-core", "rmoe", "switch"]:
        if v not in rm:
            continue
        pre = []
        for d in rm[v]:
            lm = "switch" if v == "switch" else "dense"
            sp = os.path.join(lm_root, lm, f"seed{d['pretraining_seed']}", "summary.json")
            pre.append(json.load(open(sp))["seconds"] if os.path.exists(sp) else float("nan"))
        ft = [d["seconds"] for d in rm[v]]
        print(f"| {v} | {ms(d['test_accuracy'] for d in rm[v])} | {statistics.mean(pre):.0f} | {statistics.mean(ft):.0f} | {statistics.mean(pre) + statistics.mean(ft):.0f} |")
