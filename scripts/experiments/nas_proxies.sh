#!/usr/bin/env bash
# Every proxy of `amalgam nas score` for every cell of the ground-truth table (the 3 hand cells
# and the 200 sampled with seed 0, as scripts/experiments/nas_table.sh trains them): 3 repeats,
# batches of 64 Fashion-MNIST training images, Kaiming-normal initialisation, seed 0, one thread.
# Resumable: the scores file is appended to and a rerun computes only what it lacks; the
# committed file (docs/results/nas/proxies/scores.jsonl) is copied back first.
#   scripts/experiments/nas_proxies.sh [OUT]   (AMALGAM=a release binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/nas/proxies}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
RAW=docs/results/nas/proxies
mkdir -p "$OUT" "$RAW"
[ -f "$RAW/scores.jsonl" ] && [ ! -f "$OUT/scores.jsonl" ] && cp "$RAW/scores.jsonl" "$OUT/"
"$A" nas score --table-cells 200 --sample-seed 0 --proxy all --repeats 3 --batch-size 64 --seed 0 --threads 1 --out "$OUT/scores.jsonl" > "$OUT/score.log" 2>&1
cp "$OUT/scores.jsonl" "$RAW/"
