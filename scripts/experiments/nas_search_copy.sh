#!/usr/bin/env bash
# Copies the raw outputs of the NAS searches (scripts/experiments/nas_search.sh), the retraining
# of their results, the evolution incumbents' ground truth and the long-recipe table into
# docs/results/nas, leaving out checkpoints and training states.
#   scripts/experiments/nas_search_copy.sh [RUNS]   (default runs/nas)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-runs/nas}
mkdir -p docs/results/nas
for d in search table-long; do
  [ -d "$RUNS/$d" ] || continue
  tar -C "$RUNS" --exclude='*.safetensors' -cf - "$d" | tar -C docs/results/nas -xf -
done
du -sh docs/results/nas/search docs/results/nas/table-long 2>/dev/null || true
