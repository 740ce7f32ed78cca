#!/usr/bin/env bash
# The CNN ablation of docs/results/merging.md (issue 9): the merge step alone (gate phase and
# fine-tuning, T = 6) with recipe changes, on teachers trained by the T = 6 sweep
# (`amalgam merge --model cnn --budget-epochs 6 --seeds S`, which saves DIR/seed<S>/teacher-*.safetensors).
# One thread each, so two can run beside each other; about 15 minutes per run on this machine.
#   scripts/experiments/merging_ablation_cnn.sh SWEEP_DIR [OUT_DIR]   (SWEEP_DIR holds seed0/, seed2/)
set -euo pipefail
cd "$(dirname "$0")/../.."
SWEEP=${1:?usage: merging_ablation_cnn.sh SWEEP_DIR [OUT_DIR]}
OUT=${2:-runs/merging-ablation-cnn}
swift build -c release --product amalgam
A=.build/release/amalgam
run() {
  local seed=$1 name=$2; shift 2
  local T="$SWEEP/seed$seed"
  $A merge --model cnn --budget-epochs 6 --seeds "$seed" --strategies merged --threads 1 \
    --teachers-from "$T/teacher-0.safetensors,$T/teacher-1.safetensors" "$@" --out "$OUT/seed$seed-$name"
}
run 0 base
run 0 gatewlr05 --gate-weight-lr 0.05
run 0 ftlr05 --finetune-lr 0.05
run 0 alpha50 --alpha-final 50
run 0 gatewlr05-ftlr05 --gate-weight-lr 0.05 --finetune-lr 0.05
run 2 base
run 2 gatewlr05 --gate-weight-lr 0.05
