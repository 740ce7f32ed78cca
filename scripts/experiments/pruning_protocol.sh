#!/usr/bin/env bash
# Post-training pruning under the protocol of issue 26 (docs/results/pruning.md, "Selection on
# validation data"): three splits of whole chapters (training, validation ≡ 3 mod 5, test ≡ 0
# mod 5, every test-chapter passage), MiniLM fine-tuned per seed for EPOCHS epochs with the
# validation curve recorded after each, then pruned at each constraint with the exported stage
# chosen on validation and the magnitude and random baselines at the searched mask's MACs.
# Then the unpruned encoder under the label-free objective (fidelity and retrieval), 3 seeds.
# Every step resumes: a finished step (its summary.json) is skipped, fine-tuning continues from
# its last finished epoch.
#   scripts/experiments/pruning_protocol.sh [OUT]     (SEEDS="0 1 2" EPOCHS=8 CONSTRAINTS=… AMALGAM=binary THREADS=n)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/pruning-protocol}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
scripts/setup-minilm.sh; scripts/setup-austen.sh
SEEDS=${SEEDS:-0 1 2}
EPOCHS=${EPOCHS:-8}
C=${CONSTRAINTS:-0.9,0.8,0.7,0.6,0.5}
T=(${THREADS:+--threads $THREADS})   # results are reproducible for a seed and a thread count
SPLIT=(--validation-per-novel 100 --test-per-novel 0)
for s in $SEEDS; do
  [ -f "$OUT/minilm-s$s/summary.json" ] || $A finetune --task austen --epochs "$EPOCHS" --seed "$s" "${SPLIT[@]}" --out "$OUT/minilm-s$s" --resume ${T[@]+"${T[@]}"}
done
for s in $SEEDS; do
  last=${C##*,}
  [ -f "$OUT/austen-mac-s$s/c$last/summary.json" ] || $A prune --model-dir "$OUT/minilm-s$s" --task austen --constraint "$C" --samples 2048 \
      --seed "$s" --baselines 3 "${SPLIT[@]}" --out "$OUT/austen-mac-s$s" ${T[@]+"${T[@]}"}
done
# The second task: the unpruned encoder under the label-free objective, scored by embedding
# fidelity and by passage-continuation retrieval (recall@1 over the test passages).
MINILM=${AMALGAM_MINILM:-${XDG_DATA_HOME:-$HOME/.local/share}/amalgam/all-MiniLM-L6-v2}
for s in $SEEDS; do
  last=${C##*,}
  [ -f "$OUT/embedding-mac-s$s/c$last/summary.json" ] || $A prune --model-dir "$MINILM" --task embedding --constraint "$C" --samples 2048 \
      --seed "$s" --baselines 3 "${SPLIT[@]}" --out "$OUT/embedding-mac-s$s" ${T[@]+"${T[@]}"}
done
