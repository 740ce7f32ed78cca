#!/usr/bin/env bash
# The coreset benchmark of docs/results/coresets.md (issue 7): every method at every fraction
# and seed on Fashion-MNIST, class-balanced, each run in its own directory (skipped when its
# summary.json exists, so the sweep resumes), then a table of mean ± std test accuracy. The
# selection model of each seed is trained once and cached under OUT/MODEL/selection-models.
# STEPS=N trains every subset model for exactly N steps instead of EPOCHS epochs (the same
# compute at every fraction); fraction 1 in FRACTIONS runs uniform only (the full-data row);
# DEEPCORE=1 runs DeepCore's original rules (`--deepcore-rules`; give it its own OUT); THREADS=N
# sets every run's kernel threads. A run that fails (a subset model whose loss turns NaN) leaves
# failed.txt (the error) in its directory instead of a summary; the sweep goes on, a rerun does not
# retry it (the same seed fails the same way), and the report counts it as diverged.
#   MODEL=mlp SEEDS="0 1 2" FRACTIONS="0.01 0.1 0.3" scripts/experiments/coreset_sweep.sh [OUT]
#   MODEL=mlp STEPS=2000 FRACTIONS="0.01 0.1 1" scripts/experiments/coreset_sweep.sh runs/coresets-steps
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/coresets}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
MODEL=${MODEL:-mlp}; SEEDS=${SEEDS:-"0 1 2"}; FRACTIONS=${FRACTIONS:-"0.01 0.1 0.3"}
SEL=${SELECTION_EPOCHS:-5}; EPOCHS=${EPOCHS:-10}; BUDGET=(--epochs "$EPOCHS"); [ -n "${STEPS:-}" ] && BUDGET=(--steps "$STEPS")
[ -n "${DEEPCORE:-}" ] && BUDGET+=(--deepcore-rules)
METHODS=${METHODS:-"uniform herding k-center contextual-diversity forgetting grand el2n uncertainty:entropy uncertainty:least-confidence uncertainty:margin deepfool cal craig grad-match glister submodular:facility-location submodular:graph-cut submodular:log-determinant"}
for f in $FRACTIONS; do
  for spec in $METHODS; do
    m=${spec%%:*}; variant=${spec#*:}; extra=()
    [ "$f" = 1 ] && [ "$m" != uniform ] && continue   # every method keeps everything at fraction 1
    [ "$m" = uncertainty ] && extra=(--uncertainty "$variant")
    [ "$m" = submodular ] && extra=(--function "$variant")
    for s in $SEEDS; do
      dir="$OUT/$MODEL/f$f/${spec/:/-}/seed$s"
      [ -f "$dir/summary.json" ] || [ -f "$dir/failed.txt" ] && continue
      if ! $A coreset --method "$m" "${extra[@]}" --fraction "$f" --model "$MODEL" --selection-epochs "$SEL" "${BUDGET[@]}" \
        --seed "$s" --out "$dir" --cache "$OUT/$MODEL/selection-models" --quiet ${THREADS:+--threads $THREADS} 2> "$OUT/stderr.tmp"; then
        mkdir -p "$dir"; mv "$OUT/stderr.tmp" "$dir/failed.txt"; echo "$dir FAILED: $(tail -1 "$dir/failed.txt")"; continue
      fi
      echo "$dir $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['test_accuracy'], round(d['selection_seconds'],1))" "$dir/summary.json")"
    done
  done
done
python3 scripts/experiments/coreset_report.py "$OUT/$MODEL"
