#!/usr/bin/env bash
# The experiments of docs/results/merging.md (issue 9). Every run resumes: seeds already in a
# run's summary.json are kept, and within an unfinished seed every finished phase (each teacher,
# the merged student, each baseline; DIR/seed<S>/phase-*.json and its model <phase>.safetensors) is reloaded instead of retrained, and
# the phase in progress continues from its last save (every 5 minutes and on SIGINT/SIGTERM), so
# the sweep can be interrupted at any time and restarted, losing at most five minutes. On 2 cores
# the small CNN takes about 2 minutes per teacher epoch and about 4× that per wide-student epoch;
# a seed at budget T costs roughly 2.6·T teacher-epochs without --equal-compute, 4·T with it.
# Since 2026-12-07 `amalgam merge` holds out 5,000 training images for validation by default
# (best-of-3 picks there): rerun into a fresh OUT_DIR; the committed summaries were made before
# (60,000 training images, best-of-3 picked on test) and --resume refuses to mix the two.
#   scripts/experiments/merging_sweep.sh [OUT_DIR]        (default runs/merging)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/merging}
swift build -c release --product amalgam
A=.build/release/amalgam
$A merge --dataset sine --seeds 0-9 --out "$OUT/sine-T600" --resume
$A merge --model cnn --budget-epochs 6 --seeds 0,1,2 --equal-compute --out "$OUT/cnn-T6" --resume
$A merge --model cnn --budget-epochs 12 --seeds 0,1,2 --equal-compute --out "$OUT/cnn-T12" --resume
$A merge --model cnn --budget-epochs 24 --seeds 0 --equal-compute --out "$OUT/cnn-T24-seed0" --resume
# A second seed at T = 24 without the equal-compute baseline (36 epochs of the long model), on
# one thread as it was run for docs/results/merging.md (the kernels' summation order, and so the
# last digits, depend on the thread count).
$A merge --model cnn --budget-epochs 24 --seeds 1 --threads 1 --out "$OUT/cnn-T24-seed1" --resume
$A merge --model resnet20 --budget-epochs 6 --seeds 0,1 --out "$OUT/resnet20-T6" --resume
# T = 48 without the equal-compute baseline (72 more epochs of the long model), as two one-thread
# processes side by side: the teachers and the merge (about 2 h 20 min), and beside it the long
# model (about 1 h 25 min) followed by best-of-3's third model (about 30 min), which starts once
# the teachers are done, from a copy of their phases. Then the phases are joined in one
# directory, where the full run reloads them all and trains nothing.
join_T48() {
  mkdir -p "$OUT/cnn-T48/seed0"
  for part in long merge b3; do
    cp -p "$OUT"/cnn-T48-$part/seed0/phase-*.json "$OUT/cnn-T48/seed0/"
    cp -p "$OUT"/cnn-T48-$part/seed0/*.safetensors "$OUT/cnn-T48/seed0/" 2>/dev/null || true
  done
  $A merge --model cnn --budget-epochs 48 --seeds 0 --threads 1 --out "$OUT/cnn-T48" --resume
}
if [ ! -f "$OUT/cnn-T48/summary.json" ]; then
  (
    $A merge --model cnn --budget-epochs 48 --seeds 0 --strategies long --threads 1 --out "$OUT/cnn-T48-long" --resume
    while [ ! -f "$OUT/cnn-T48-merge/seed0/phase-teacher-1.json" ]; do
      kill -0 $$ 2>/dev/null || exit 1   # the sweep stopped (the merge failed): stop waiting
      sleep 30
    done
    mkdir -p "$OUT/cnn-T48-b3/seed0"
    cp -p "$OUT"/cnn-T48-merge/seed0/phase-teacher-* "$OUT"/cnn-T48-merge/seed0/teacher-*.safetensors "$OUT/cnn-T48-b3/seed0/"
    $A merge --model cnn --budget-epochs 48 --seeds 0 --strategies best_of_3 --threads 1 --out "$OUT/cnn-T48-b3" --resume
  ) &
  side_pid=$!
  $A merge --model cnn --budget-epochs 48 --seeds 0 --strategies merged,teacher,teacher_ensemble --threads 1 \
    --out "$OUT/cnn-T48-merge" --resume
  wait "$side_pid"
  join_T48
fi
python3 scripts/experiments/merging_report.py "$OUT"/*/summary.json
python3 scripts/experiments/merging_gap_chart.py "$OUT/cnn-gap.svg" "$OUT"/cnn-T*/summary.json
