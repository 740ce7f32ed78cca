#!/usr/bin/env bash
# The DASH results of docs/results/dash.md (issue 32):
#   1. the direct-vs-FFT crossover and the aggregated mixture against naive weight sharing, on
#      the idle machine (amalgam dash costs);
#   2. the study on both tasks, 3 seeds: DASH's search then retrain, against the backbone's own
#      kernels and random kernels retrained by the same procedure. Three worker processes of one
#      thread each share the seeds on the two cores (every seed has its own directory; `dash
#      report` collects them): Austen (about 20 minutes a seed at one thread) then Fashion-MNIST
#      on 5,000 training images (about half an hour a seed), the third worker Fashion-MNIST
#      alone. Wall times inside one seed are measured under the same sharing for every arm.
#   3. the tables (amalgam dash report), raw outputs copied to docs/results/dash/.
# Resumable: rerun the same command; finished phases are skipped, an interrupted one resumes
# from its last epoch. Committed phases resume too: copy docs/results/dash/<task>/seed-N back to
# OUT/<task>/seed-N first (their run-key.txt and result.json make them finished).
#   scripts/experiments/dash.sh [OUT]   (AMALGAM=a release binary)
# Recipe sizes come from timings on this project's 2-core machines (search epoch on 2,000
# Fashion-MNIST images ≈ 110 s at one thread with K×D = 12 and receptive fields up to 25).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/dash}
A=${AMALGAM:-.build/release/amalgam}
[ -n "${AMALGAM:-}" ] || swift build -c release --product amalgam
RAW=docs/results/dash
mkdir -p "$OUT" "$RAW"
[ -f "$OUT/costs/costs.md" ] || "$A" dash costs --out "$OUT/costs" --threads 2 > "$OUT/costs.log" 2>&1
AUSTEN=(--dataset austen-chars --search-epochs 5 --search-fraction 1 --epochs 10 --grid-epochs 2 --grid-fraction 0.25 --out "$OUT/austen" --threads 1)
FMNIST=(--dataset fashion-mnist --train-limit 5000 --search-epochs 2 --search-fraction 0.5 --epochs 4 --grid-wd 5e-4 --grid-fraction 0.25 --out "$OUT/fmnist" --threads 1)
( "$A" dash study "${AUSTEN[@]}" --seeds 0,1 && "$A" dash study "${FMNIST[@]}" --seeds 0 ) > "$OUT/worker-a.log" 2>&1 &
( "$A" dash study "${AUSTEN[@]}" --seeds 2 && "$A" dash study "${FMNIST[@]}" --seeds 1 ) > "$OUT/worker-b.log" 2>&1 &
"$A" dash study "${FMNIST[@]}" --seeds 2 > "$OUT/worker-c.log" 2>&1 &
wait
for t in austen fmnist; do
    "$A" dash report --out "$OUT/$t" > "$OUT/$t-report.log" 2>&1
    for d in "$OUT/$t"/seed-*/*/; do
        rel=${d#"$OUT/"}; mkdir -p "$RAW/$rel"
        cp "$d"/{result.json,metrics.jsonl,alpha.jsonl,run-key.txt} "$RAW/$rel" 2>/dev/null || true
        for g in "$d"/grid-*/ "$d"/train/; do
            [ -d "$g" ] || continue; r2=${g#"$OUT/"}; mkdir -p "$RAW/$r2"
            cp "$g"/{result.json,metrics.jsonl,run-key.txt} "$RAW/$r2" 2>/dev/null || true
        done
    done
    cp "$OUT/$t"/{results.json,table.md} "$RAW/$t/" 2>/dev/null || true
done
cp -r "$OUT/costs" "$RAW/" ; cp "$OUT"/*.log "$RAW/" 2>/dev/null || true
