#!/usr/bin/env bash
# The DASH results of docs/results/dash.md (issue 32), in five steps:
#   1. the direct-vs-FFT crossover and the aggregated mixture against naive weight sharing, on
#      the idle machine at one and two threads (amalgam dash costs);
#   2. the study on both tasks, 3 seeds: DASH's search then retrain, against the backbone's own
#      kernels and random kernels retrained by the same procedure. Three worker processes of one
#      thread share the seeds on the two cores (every seed has its own directory; `dash report`
#      collects them): Austen (a few minutes a seed) then Fashion-MNIST on 5,000 training images
#      (about a quarter of an hour a seed under that sharing), the third worker Fashion-MNIST alone;
#   3. the same studies with α's gradient scale s = 1 instead of the reference's 100 (with
#      s = 100 the short searches leave softmax(α) within 0.06–0.08 of uniform; see the page):
#      the backbone and random arms do not depend on the search and are copied, not retrained;
#   4. seed 0 of each task again, the two processes alone on the two cores (one core each), for
#      wall times not distorted by sharing — and a check that a seed reproduces its numbers;
#   5. the tables (amalgam dash report; scripts/experiments/dash_tables.py), raw outputs copied to
#      docs/results/dash/.
# Resumable: rerun the same command; finished phases are skipped, an interrupted one resumes
# from its last epoch. Committed phases resume too: copy docs/results/dash/<study>/seed-N back to
# OUT/<study>/seed-N first (their run-key.txt and result.json make them finished).
#   scripts/experiments/dash.sh [OUT]   (AMALGAM=a release binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/dash}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
RAW=docs/results/dash
mkdir -p "$OUT" "$RAW"
for t in 1 2; do
    [ -f "$OUT/costs-${t}t/costs.md" ] || "$A" dash costs --out "$OUT/costs-${t}t" --threads $t > "$OUT/costs-${t}t.log" 2>&1
done
AUSTEN=(--dataset austen-chars --search-epochs 5 --search-fraction 1 --epochs 10 --grid-epochs 2 --grid-fraction 0.25 --threads 1)
FMNIST=(--dataset fashion-mnist --train-limit 5000 --search-epochs 2 --search-fraction 0.5 --epochs 4 --grid-wd 5e-4 --grid-fraction 0.25 --threads 1)
( "$A" dash study "${AUSTEN[@]}" --out "$OUT/austen" --seeds 0,1 && "$A" dash study "${FMNIST[@]}" --out "$OUT/fmnist" --seeds 0 ) > "$OUT/worker-a.log" 2>&1 &
( "$A" dash study "${AUSTEN[@]}" --out "$OUT/austen" --seeds 2 && "$A" dash study "${FMNIST[@]}" --out "$OUT/fmnist" --seeds 1 ) > "$OUT/worker-b.log" 2>&1 &
"$A" dash study "${FMNIST[@]}" --out "$OUT/fmnist" --seeds 2 > "$OUT/worker-c.log" 2>&1 &
wait
for t in austen fmnist; do
    for s in 0 1 2; do
        mkdir -p "$OUT/$t-s1/seed-$s"
        for arm in backbone random; do [ -d "$OUT/$t-s1/seed-$s/$arm" ] || cp -r "$OUT/$t/seed-$s/$arm" "$OUT/$t-s1/seed-$s/"; done
    done
done
"$A" dash study "${AUSTEN[@]}" --gradient-scale 1 --out "$OUT/austen-s1" --seeds 0,1,2 > "$OUT/worker-s1.log" 2>&1 &
"$A" dash study "${FMNIST[@]}" --gradient-scale 1 --out "$OUT/fmnist-s1" --seeds 1,2,0 > "$OUT/worker-f1.log" 2>&1 &
wait
"$A" dash study "${AUSTEN[@]}" --out "$OUT/timing/austen" --seeds 0 > "$OUT/timing-austen.log" 2>&1 &
"$A" dash study "${FMNIST[@]}" --out "$OUT/timing/fmnist" --seeds 0 > "$OUT/timing-fmnist.log" 2>&1 &
wait
for st in austen fmnist austen-s1 fmnist-s1 timing/austen timing/fmnist; do
    "$A" dash report --out "$OUT/$st" > "$OUT/$(echo $st | tr / -)-report.log" 2>&1
    for d in "$OUT/$st"/seed-*/*/; do
        rel=${d#"$OUT/"}; mkdir -p "$RAW/$rel"
        cp "$d"/{result.json,metrics.jsonl,alpha.jsonl,run-key.txt} "$RAW/$rel" 2>/dev/null || true
        for g in "$d"/grid-*/ "$d"/train/; do
            [ -d "$g" ] || continue; r2=${g#"$OUT/"}; mkdir -p "$RAW/$r2"
            cp "$g"/{result.json,metrics.jsonl,run-key.txt} "$RAW/$r2" 2>/dev/null || true
        done
    done
    cp "$OUT/$st"/{results.json,table.md} "$RAW/$st/" 2>/dev/null || true
done
for t in 1 2; do cp -r "$OUT/costs-${t}t" "$RAW/"; done
cp "$OUT"/*.log "$RAW/" 2>/dev/null || true
python3 scripts/experiments/dash_tables.py "$RAW" > "$RAW/supplementary.md"
