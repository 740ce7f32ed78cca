#!/usr/bin/env bash
# The longer recipe of issue 30 (docs/results/nas.md, "How far the short recipe can be trusted"):
# the first 30 cells of the table (the 3 hand cells and the first 27 sampled) trained for 6 epochs
# on 20,000 images (2× the epochs, 2× the data of the table's recipe; otherwise the same), seed 0.
# Two workers of one thread; resumable (rerun the same command).
#   scripts/experiments/nas_table_long.sh [OUT]   (AMALGAM=a release binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/nas/table-long}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
mkdir -p "$OUT"
ARGS=(--cells 27 --sample-seed 0 --second-seed-cells 0 --epochs 6 --train-limit 20000 --out "$OUT" --threads 1)
"$A" nas table "${ARGS[@]}" --shard 0/2 > "$OUT/worker-0.log" 2>&1 &
"$A" nas table "${ARGS[@]}" --shard 1/2 > "$OUT/worker-1.log" 2>&1 &
wait
