"""Table of one seed of the pruning programme (docs/results/pruning.md): every stage, both baselines,
retrieval (embedding task) and speed-up per constraint, test / validation.

    python3 scripts/experiments/pruning_protocol_table.py docs/results/pruning/protocol/embedding-mac-s0
"""
import glob
import json
import statistics as st
import sys

rs=sorted([json.load(open(p)) for p in glob.glob(sys.argv[1] + '/c*/summary.json')],key=lambda d:-d['constraint'])
cols=[f"{int(round(d['constraint']*100))} %" for d in rs]
print("| model | "+" | ".join(cols)+" |"); print("|---|"+"---|"*len(rs))
def row(name,f): print(f"| {name} | "+" | ".join(f(d) for d in rs)+" |")
for name, stage in [("search", "search"), ("+ rearrange", "rearrange"), ("+ tune", "tune")]:
    row(name, lambda d: f"{d['after'][stage]:.4f} / {d['validation_after'][stage]:.4f}" + (" ▸" if d['selected_stage'] == stage else ""))
row("magnitude mask, same MACs", lambda d: f"{d['baselines']['magnitude'][0]['test']:.4f} / {d['baselines']['magnitude'][0]['validation']:.4f}")
def rnd(d,k):
    v=[x[k] for x in d['baselines']['random']]; return f"{st.mean(v):.4f} ± {st.stdev(v):.4f}"
row("random masks, same MACs (3)", lambda d: rnd(d,'test')+" / "+rnd(d,'validation'))
if "retrieval_before" in rs[0]: row("retrieval recall@1, unpruned → exported (test)", lambda d: f"{d['retrieval_before']:.4f} → {d['retrieval_after'][d['selected_stage']]:.4f}")
row("measured speed-up (test passages)", lambda d: f"{d['speedup']:.2f}×")
