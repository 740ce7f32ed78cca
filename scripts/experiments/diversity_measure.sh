#!/usr/bin/env bash
# Measures every model folder under DIR (DIR/<name>/model.safetensors with its architecture in
# DIR/<name>/arch) for the feature-diversity study: source test accuracy (eval.json), both
# diversity scores over 3 draws of 5,000 test images (diversity.json, diversity-std.json) and
# linear-probe transfer to each task in $TASKS (transfer-<task>.json; default digits,
# fashion-coarse and mnist — mnist is installed by scripts/setup-mnist.sh). A file that exists is
# not measured again, so the script resumes. Then `amalgam diversity-study --dir DIR`.
#   scripts/experiments/diversity_measure.sh DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=$1
A=${AMALGAM:-.build/release/amalgam}
T=${THREADS:+--threads $THREADS}   # THREADS=N: kernel threads of every command
TASKS=${TASKS:-digits fashion-coarse mnist}
case " $TASKS " in *" mnist "*) scripts/setup-mnist.sh ;; esac
for dir in "$OUT"/*/; do
  dir=${dir%/}; [ -f "$dir/model.safetensors" ] || continue
  m=$(cat "$dir/arch"); ck="$dir/model.safetensors"
  [ -f "$dir/eval.json" ] || $A evaluate --checkpoint "$ck" --model "$m" $T --json > "$dir/eval.json"
  [ -f "$dir/diversity.json" ] || $A diversity --checkpoint "$ck" --model "$m" $T --samples 5000 --draws 3 --out "$dir/diversity.json" > /dev/null
  [ -f "$dir/diversity-std.json" ] || $A diversity --checkpoint "$ck" --model "$m" $T --samples 5000 --draws 3 --standardize --out "$dir/diversity-std.json" > /dev/null
  for task in $TASKS; do
    [ -f "$dir/transfer-$task.json" ] || $A transfer --checkpoint "$ck" --model "$m" $T --downstream "$task" --out "$dir/transfer-$task.json" > /dev/null
  done
  echo "done $dir"
done
$A diversity-study --dir "$OUT" $T
