#!/usr/bin/env bash
# Usage: runs.sh BIN OUT — small runs of every training command (train, merge, coreset, finetune)
# and of prune, on one thread; compare.py compares two OUT trees. See docs/architecture.md.
set -euo pipefail
A=$1; O=$2; mkdir -p $O
T="--threads 1"
$A train --model mlp --epochs 1 --out $O/train-mlp $T --quiet
$A train --model cnn --epochs 1 --train-limit 2000 --out $O/train-cnn $T --quiet
$A merge --dataset sine --seeds 0-1 --budget-epochs 30 --out $O/merge-sine $T --quiet
$A merge --dataset sine --seeds 0-1 --out $O/merge-sine-full $T --quiet
$A merge --model mlp --budget-epochs 1.5 --train-limit 3000 --seeds 0 --equal-compute --out $O/merge-mlp $T --quiet
$A coreset --method forgetting --fraction 0.1 --model mlp --train-limit 3000 --selection-epochs 2 --epochs 2 --cache $O/coreset-cache --out $O/coreset-forgetting --quiet
$A coreset --method craig --fraction 0.1 --model cnn --train-limit 1000 --selection-epochs 1 --epochs 2 --cache $O/coreset-cache --out $O/coreset-craig --quiet
$A finetune --train-per-novel 16 --test-per-novel 8 --epochs 2 --out $O/finetune --quiet
$A prune --model-dir $O/finetune --task austen --constraint 0.7,0.5 --samples 64 --train-per-novel 16 --test-per-novel 8 --out $O/prune-austen --quiet
$A prune --model-dir "${AMALGAM_MINILM:-$HOME/.local/share/amalgam/all-MiniLM-L6-v2}" --task embedding --constraint 0.8 --samples 64 --no-tune --train-per-novel 16 --test-per-novel 8 --out $O/prune-embedding --quiet
F="$(cd "$(dirname "$0")/../.." && pwd)/Tests/AmalgamGLMTests/Fixtures"
$A glm fit --data "$F/diabetes.csv" --penalty elastic-net --cv 5 --out $O/glm-enet-cv.json
$A glm path --data "$F/heart_scale.libsvm" --datafit logistic --penalty mcp --n-alphas 10 --out $O/glm-logistic-mcp-path.json
$A glm path --data "$F/prostate.csv" --penalty group-lasso --groups '0,1;2,3,4;5,6,7' --n-alphas 10 --out $O/glm-group-path.json
$A glm fit --data "$F/diabetes.csv" --datafit poisson --penalty l1 --cv 3 --out $O/glm-poisson-cv.json
