#!/usr/bin/env bash
# FastDiff study (issue 33), resumable by phase: rerun the same command after an interruption.
#   1. data: synthetic (espeak-ng over Austen) and real speech, scripts/experiments/fastdiff_data.py
#   2. train: the paper-sized denoiser (32 channels, 15.3 M parameters) on the synthetic training speech
#   3. schedule: BDDM's φ with θ frozen, then the 4-step schedule search scored on validation audio
#   4. evaluate: held-out real and synthetic speech from their mels — FastDiff with the shipped
#      4- and 6-step schedules and the searched one, and Griffin-Lim — 3 sampling seeds each;
#      the full 1,000-step DDPM on the first two alsa clips and the first synthetic test clip
#      (seed 0; minutes a clip)
# Outputs: runs/fastdiff/{model,eval,schedule-4.json} (raw outputs copied to docs/results/fastdiff/
# by scripts/experiments/fastdiff_report.py). Threads: 2 (this machine's cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
S="${AMALGAM_SPEECH:-$HOME/.local/share/amalgam/speech}"
OUT="${FASTDIFF_OUT:-runs/fastdiff}"
STEPS="${FASTDIFF_STEPS:-7000}"
BIN=.build/release/amalgam
[ -x "$BIN" ] || swift build -c release
[ -d "$S/synthetic-train" ] && [ -d "$S/real-call" ] || python3 scripts/experiments/fastdiff_data.py
mkdir -p "$OUT"
if [ ! -f "$OUT/model/result.json" ]; then
  resume=""; [ -f "$OUT/model/training-state.safetensors" ] && resume="--resume"
  $BIN diffusion train --data "$S/synthetic-train" --validation "$S/synthetic-val" --out "$OUT/model" \
    --steps "$STEPS" --steps-per-epoch 100 --batch-size 4 --segment-frames 32 --lr 2e-4 --seed 0 --threads 2 $resume
fi
[ -f "$OUT/schedule-4.json" ] || $BIN diffusion schedule --model-dir "$OUT/model" --validation "$S/synthetic-val" --steps 4 \
  --phi-steps 1000 --tau 200 --bins 9 --limit 6 --seed 0 --threads 2 --out "$OUT/schedule-4.json"
for set in real-alsa real-call synthetic-test; do
  for seed in 0 1 2; do
    save=0; [ "$seed" = 0 ] && save=2
    $BIN diffusion evaluate --model-dir "$OUT/model" --data "$S/$set" --set "$set" --methods "4,6,$OUT/schedule-4.json,griffin-lim" \
      --out "$OUT/eval" --save-audio $save --seed $seed --threads 2
  done
done
for spec in real-alsa:2 synthetic-test:1; do
  set=${spec%%:*}; n=${spec##*:}
  $BIN diffusion evaluate --model-dir "$OUT/model" --data "$S/$set" --set "$set" --methods 1000 --limit $n \
    --out "$OUT/eval" --save-audio 1 --seed 0 --threads 2
done
