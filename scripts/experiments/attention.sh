#!/usr/bin/env bash
# The attention results of docs/results/attention.md (issue 31):
#   1. every attention module in ResNet-20 (and the plain ResNet-20) on Fashion-MNIST with one
#      fixed recipe, 3 seeds, two worker processes of one thread each (the module lists are split
#      between them, balancing the slow layers);
#   2. the cost of every model measured alone on the idle machine (amalgam layers profile);
#   3. QnA against local and windowed self-attention as the window grows (amalgam layers scaling);
#   4. the tables (amalgam layers report).
# Resumable: rerun the same command; finished runs are skipped, an interrupted one resumes from its
# last epoch. Raw per-run outputs are copied to docs/results/attention/ to be committed.
#   scripts/experiments/attention.sh [OUT]   (AMALGAM=a release binary; EPOCHS; LIMIT; SEEDS)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/attention}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
EPOCHS=${EPOCHS:-2}; LIMIT=${LIMIT:-10000}; SEEDS=${SEEDS:-0,1,2}
RAW=docs/results/attention
COMMON=(--backbone resnet20 --reduction 4 --seeds "$SEEDS" --epochs "$EPOCHS" --train-limit "$LIMIT" --validation 5000 --out "$OUT" --threads 1)
mkdir -p "$OUT" "$RAW"
"$A" layers compare --attention none,qna,window-sa,sk,bam,eca,ge,coord "${COMMON[@]}" > "$OUT/worker-a.log" 2>&1 &
"$A" layers compare --attention se,local-sa,non-local,split,triplet,cbam,gc,scse "${COMMON[@]}" > "$OUT/worker-b.log" 2>&1 &
wait
"$A" layers profile --attention all --reduction 4 --out "$OUT" > "$OUT/profile.log" 2>&1
"$A" layers scaling --windows 3,5,7,9 --out "$OUT" > "$OUT/scaling.log" 2>&1
"$A" layers report --out "$OUT" > "$OUT/report.log" 2>&1
for d in "$OUT"/runs/*/; do
    n=$(basename "$d"); mkdir -p "$RAW/runs/$n"
    cp "$d"/{result.json,metrics.jsonl,config.json,summary.json} "$RAW/runs/$n/" 2>/dev/null || true
done
cp "$OUT"/{table.md,results.json,accuracy-cost.svg,profile.json,scaling.json,scaling.md,scaling.svg,worker-a.log,worker-b.log,profile.log,scaling.log} "$RAW/" 2>/dev/null || true
