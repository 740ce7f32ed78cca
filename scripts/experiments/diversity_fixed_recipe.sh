#!/usr/bin/env bash
# The feature-diversity study at one fixed training recipe (issue 26 item 4): `amalgam train`'s
# MLP (512-512) with its one recipe — AdamW, cosine schedule, batch 128, no augmentation — where
# only regularisation and length vary, so diversity varies without a change of optimizer or
# data pipeline: epochs 1, 3, 6 (base), 12; weight decay 0, 0.01 (base), 0.1, 0.3; label
# smoothing 0 (base), 0.1, 0.2; width 1 (base), 2. Ten settings × seeds 0, 1, 2 = 30 models,
# each measured by diversity_measure.sh (digits, fashion-coarse and MNIST probes).
# Resumable: a model whose summary exists is not trained again.
#   [THREADS=1] scripts/experiments/diversity_fixed_recipe.sh [OUT]     (default runs/diversity-fixed)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/diversity-fixed}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
mkdir -p "$OUT"
train() {  # name args...
  local name=$1; shift
  [ -f "$OUT/$name/summary.json" ] || $A train --model mlp --optimizer adamw --schedule cosine --out "$OUT/$name" --quiet ${THREADS:+--threads $THREADS} "$@"
  echo mlp > "$OUT/$name/arch"
}
for s in 0 1 2; do
  train "e6-s$s"       --epochs 6  --seed $s
  train "e1-s$s"       --epochs 1  --seed $s
  train "e3-s$s"       --epochs 3  --seed $s
  train "e12-s$s"      --epochs 12 --seed $s
  train "wd0-s$s"      --epochs 6  --seed $s --weight-decay 0
  train "wd0.1-s$s"    --epochs 6  --seed $s --weight-decay 0.1
  train "wd0.3-s$s"    --epochs 6  --seed $s --weight-decay 0.3
  train "ls0.1-s$s"    --epochs 6  --seed $s --label-smoothing 0.1
  train "ls0.2-s$s"    --epochs 6  --seed $s --label-smoothing 0.2
  train "w2-s$s"       --epochs 6  --seed $s --width 2
done
scripts/experiments/diversity_measure.sh "$OUT"
