#!/usr/bin/env bash
# The feature-diversity study of docs/results/diversity.md (issue 8): a family of Fashion-MNIST
# models that differ in architecture, width, epochs, regularisation, label smoothing, optimizer
# and seed, plus (when MERGE_RUNS names `amalgam merge` output directories) the teachers, merged
# and baseline models of those runs. For every model: source test accuracy, both diversity scores
# (3 draws of 5,000 test images), linear-probe transfer to digits and to coarse Fashion-MNIST;
# then `amalgam diversity-study` writes the table, the correlations and the scatter plot.
# Every step is skipped when its output exists, so the script resumes.
#   MERGE_RUNS="runs/merging/mlp-T12 runs/merging/cnn-T6" scripts/experiments/diversity_study.sh [OUT]
# Needs scikit-learn's digits.csv.gz ($AMALGAM_DIGITS, or an installed scikit-learn).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/diversity}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
mkdir -p "$OUT"

train() {  # name model args...
  local name=$1 model=$2; shift 2
  [ -f "$OUT/$name/summary.json" ] || $A train --model "$model" --out "$OUT/$name" --quiet "$@"
  echo "$model" > "$OUT/$name/arch"
}
train mlp-e1        mlp --epochs 1
train mlp-e3        mlp --epochs 3
train mlp-e6        mlp --epochs 6
train mlp-e6-s1     mlp --epochs 6 --seed 1
train mlp-e6-s2     mlp --epochs 6 --seed 2
train mlp-e6-ls     mlp --epochs 6 --label-smoothing 0.1
train mlp-e6-wd     mlp --epochs 6 --weight-decay 0.3
train mlp-e6-w2     mlp --epochs 6 --width 2
train mlp-e6-sgd    mlp --epochs 6 --optimizer sgd
train cnn-e1        cnn --epochs 1
train cnn-e2-ls     cnn --epochs 2 --label-smoothing 0.1

# Models of merging runs: <run>/seed<S>/<role>.safetensors, architecture from the run's summary.
for run in ${MERGE_RUNS:-}; do
  arch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['model'])" "$run/summary.json")
  for f in "$run"/seed*/*.safetensors; do
    seed=$(basename "$(dirname "$f")"); role=$(basename "$f" .safetensors)
    name="$(basename "$run")-$seed-$role"
    mkdir -p "$OUT/$name"
    [ -f "$OUT/$name/model.safetensors" ] || cp "$f" "$OUT/$name/model.safetensors"
    echo "$arch" > "$OUT/$name/arch"
  done
done

TASKS=${TASKS:-digits fashion-coarse} scripts/experiments/diversity_measure.sh "$OUT"
