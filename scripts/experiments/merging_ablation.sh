#!/usr/bin/env bash
# The ablations of the merge step in docs/results/merging.md (issue 9): the gate phase and
# fine-tuning alone (T = 6) with one recipe change each, on teachers trained by the T = 6 sweep
# (`amalgam merge --model MODEL --budget-epochs 6 --seeds S`, which saves DIR/seed<S>/teacher-*.safetensors).
# One thread each, so two can run beside each other; a CNN run takes about 15 minutes on this
# machine, a ResNet-20 run about an hour. Every run saves its phases and resumes (`--resume`), so
# rerunning the script after an interruption continues where it stopped.
#   scripts/experiments/merging_ablation.sh cnn|resnet20 SWEEP_DIR [OUT_DIR]   (SWEEP_DIR holds seed0/, …)
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:?usage: merging_ablation.sh cnn|resnet20 SWEEP_DIR [OUT_DIR]}
SWEEP=${2:?usage: merging_ablation.sh cnn|resnet20 SWEEP_DIR [OUT_DIR]}
OUT=${3:-runs/merging-ablation-$MODEL}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
run() {
  local seed=$1 name=$2; shift 2
  local T="$SWEEP/seed$seed"
  $A merge --model "$MODEL" --budget-epochs 6 --seeds "$seed" --strategies merged --threads 1 --resume \
    --teachers-from "$T/teacher-0.safetensors,$T/teacher-1.safetensors" "$@" --out "$OUT/seed$seed-$name"
}
case $MODEL in
  cnn)
    run 0 base
    run 0 gatewlr05 --gate-weight-lr 0.05
    run 0 ftlr05 --finetune-lr 0.05
    run 0 alpha50 --alpha-final 50
    run 0 gatewlr05-ftlr05 --gate-weight-lr 0.05 --finetune-lr 0.05
    run 2 base
    run 2 gatewlr05 --gate-weight-lr 0.05
    ;;
  resnet20)
    # The base is the sweep's own merged student of the same seed (seed 1: the first whose
    # teachers were at hand). log α = 3 opens every gate fully at the start (deterministic
    # z = 1), so the wide network starts equal to the teachers' ensemble.
    run 1 gateinit3 --gate-init 3
    run 1 gatewlr05 --gate-weight-lr 0.05
    ;;
  *) echo "unknown model $MODEL (cnn or resnet20)" >&2; exit 2 ;;
esac
