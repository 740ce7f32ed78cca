#!/usr/bin/env bash
# The searches of issue 30 (docs/results/nas.md): each method once on the whole NAS-Bench-201
# space (the 6,461 unique connected cells; SpiderNet grows its own cells) with seed 0 and the
# same wall-time budget, two at a time, each process on one thread (so each has one of the two
# cores): TE-NAS beside random search, then evolution (ranked by jacov, the proxy with the
# highest Kendall τ against the table's validation accuracy) beside SpiderNet. Then every chosen
# architecture is retrained by the table's recipe with seeds 0, 1, 2 (two processes).
# Steps are skipped when their output exists; rerun to resume.
#   scripts/experiments/nas_search.sh [OUT] [BUDGET_SECONDS]   (AMALGAM=a release binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/nas/search}
BUDGET=${2:-900}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
mkdir -p "$OUT"
search() {  # method, extra options
  local m=$1; shift
  [ -f "$OUT/$m/search.json" ] && return 0
  rm -rf "$OUT/$m"
  "$A" nas search --method "$m" --budget-seconds "$BUDGET" --seed 0 --threads 1 --out "$OUT/$m" "$@" > "$OUT/$m.log" 2>&1
}
search tenas & search random & wait
search evolution --proxy jacov & search spidernet & wait
S=()
for m in tenas random evolution spidernet; do S+=(--search "$OUT/$m/search.json"); done
"$A" nas train "${S[@]}" --seeds 0 --threads 1 --out "$OUT/retrain" > "$OUT/retrain-0.log" 2>&1 &
"$A" nas train "${S[@]}" --seeds 1,2 --threads 1 --out "$OUT/retrain" > "$OUT/retrain-12.log" 2>&1 &
wait
"$A" nas train "${S[@]}" --seeds 0,1,2 --threads 1 --out "$OUT/retrain" > "$OUT/retrain.log" 2>&1
# The ground truth of evolution's incumbents (its regret curve): each by the table's recipe, seed 0
# (the last one is the retrained choice).
python3 -c '
import json, sys
inc = []
for h in json.load(open(sys.argv[1]))["history"]:
    if not inc or inc[-1] != h["incumbent"]: inc.append(h["incumbent"])
print("\n".join(inc[:-1]))' "$OUT/evolution/search.json" > "$OUT/incumbents.txt"
k=0
while read -r a; do
  "$A" nas train --arch "$a" --seeds 0 --threads 1 --out "$OUT/evolution-incumbents/$k" > "$OUT/evolution-incumbents-$k.log" 2>&1
  k=$((k + 1))
done < "$OUT/incumbents.txt"
