#!/usr/bin/env bash
# The post-training pruning results of docs/results/pruning.md (issue 6): fine-tune MiniLM on the
# Austen task, prune it at constraints 1.0 … 0.5 under the MAC budget (each run reports search,
# + rearrangement, + tuning), the same label-free on the embedding objective, one latency-budget
# run, then the tables and the chart.
#   scripts/experiments/pruning_sweep.sh [OUT]          (AMALGAM=path to a release binary to reuse one)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/pruning}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
scripts/setup-minilm.sh; scripts/setup-austen.sh
C=${CONSTRAINTS:-1.0,0.9,0.8,0.7,0.6,0.5}
[ -f "$OUT/minilm-austen/summary.json" ] || $A finetune --task austen --epochs 3 --out "$OUT/minilm-austen"
[ -f "$OUT/austen-mac/c0.5/summary.json" ] || $A prune --model-dir "$OUT/minilm-austen" --task austen --constraint "$C" --samples 2048 --out "$OUT/austen-mac"
[ -f "$OUT/embedding-mac/c0.5/summary.json" ] || $A prune --model-dir "${AMALGAM_MINILM:-${XDG_DATA_HOME:-$HOME/.local/share}/amalgam/all-MiniLM-L6-v2}" --task embedding --constraint "$C" --samples 2048 --out "$OUT/embedding-mac"
[ -f "$OUT/austen-latency/summary.json" ] || $A prune --model-dir "$OUT/minilm-austen" --task austen --constraint 0.6 --metric latency --samples 2048 --out "$OUT/austen-latency"
python3 scripts/experiments/pruning_report.py "$OUT" docs/results/pruning/pruning.svg
