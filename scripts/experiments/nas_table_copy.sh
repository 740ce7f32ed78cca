#!/usr/bin/env bash
# Copies the finished rows of a ground-truth table run (OUT, default runs/nas/table) into
# docs/results/nas/table/: each row's result.json, metrics.jsonl and run-key.txt, and the
# table files rebuilt from every finished row. Safe to run while the table is being built.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/nas/table}
RAW=docs/results/nas/table
mkdir -p "$RAW/rows"
for d in "$OUT"/rows/*/; do
    [ -f "$d/result.json" ] || continue
    r="$RAW/rows/$(basename "$d")"; mkdir -p "$r"
    cp "$d"/{result.json,metrics.jsonl,run-key.txt} "$r/" 2>/dev/null || true
done
python3 - "$RAW" <<'PY'
import json, os, sys
raw = sys.argv[1]
rows = []
for name in os.listdir(os.path.join(raw, "rows")):
    p = os.path.join(raw, "rows", name, "result.json")
    if os.path.exists(p):
        rows.append(json.load(open(p)))
rows.sort(key=lambda r: (r["seed"], r["index"]))
with open(os.path.join(raw, "table.jsonl"), "w") as f:
    for r in rows: f.write(json.dumps(r, sort_keys=True) + "\n")
with open(os.path.join(raw, "table.csv"), "w") as f:
    f.write("index,arch,source,seed,validation_accuracy,test_accuracy,test_loss,parameters,macs,train_seconds,train_examples,epochs\n")
    for r in rows:
        f.write(f'{r["index"]},{r["arch"]},{r["source"]},{r["seed"]},{r["validationAccuracy"]},{r["testAccuracy"]},{r["testLoss"]},'
                f'{r["parameters"]},{r["macs"]},{r["trainSeconds"]:.1f},{r["trainExamples"]},{r["recipe"]["epochs"]}\n')
print(f"{len(rows)} rows in {raw}/table.jsonl")
PY
