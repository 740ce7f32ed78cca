#!/usr/bin/env bash
# The ground-truth table of issue 30 (docs/results/nas.md): the three hand cells and 200 unique
# connected NAS-Bench-201 cells sampled with seed 0, each trained on Fashion-MNIST by the one
# short recipe (CellNetwork: stem 16, one cell per stage, 16/32/64 channels; 3 epochs on a fixed
# 10,000-image subset of the training split; SGD-Nesterov 0.1 cosine, wd 5e-4, batch 128; the
# fixed 5,000-image validation hold-out; the official test set once), seed 0 for every cell and
# seed 1 for the first 50. Two worker processes of one thread share the rows (--shard).
# Resumable: rerun the same command; finished rows are kept, an interrupted one resumes from its
# last epoch. Committed rows resume too: copy docs/results/nas/table/rows back to OUT/rows first.
#   scripts/experiments/nas_table.sh [OUT]   (AMALGAM=a release binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/nas/table}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
RAW=docs/results/nas/table
mkdir -p "$OUT" "$RAW"
[ -d "$RAW/rows" ] && [ ! -d "$OUT/rows" ] && cp -r "$RAW/rows" "$OUT/"
ARGS=(--cells 200 --sample-seed 0 --second-seed-cells 50 --epochs 3 --train-limit 10000 --out "$OUT" --threads 1)
"$A" nas table "${ARGS[@]}" --shard 0/2 > "$OUT/worker-0.log" 2>&1 &
"$A" nas table "${ARGS[@]}" --shard 1/2 > "$OUT/worker-1.log" 2>&1 &
wait
scripts/experiments/nas_table_copy.sh "$OUT"
