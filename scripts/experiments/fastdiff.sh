#!/usr/bin/env bash
# FastDiff study (issue 33), resumable by phase: rerun the same command after an interruption.
#   1. data: synthetic (espeak-ng over Austen) and real speech, scripts/experiments/fastdiff_data.py
#   2. train: the paper-sized denoiser (32 channels) on the synthetic training speech
#   3. evaluate: reconstructions of held-out real and synthetic speech (4, 6 steps, Griffin-Lim)
# Outputs: runs/fastdiff/{model,eval} (raw outputs committed to docs/results/fastdiff/). Threads: 2 (this machine's cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
S="${AMALGAM_SPEECH:-$HOME/.local/share/amalgam/speech}"
OUT="${FASTDIFF_OUT:-runs/fastdiff}"
STEPS="${FASTDIFF_STEPS:-7000}"
BIN=.build/release/amalgam
[ -x "$BIN" ] || swift build -c release
[ -d "$S/synthetic-train" ] && [ -d "$S/real-call" ] || python3 scripts/experiments/fastdiff_data.py
mkdir -p "$OUT"
resume=""; [ -f "$OUT/model/training-state.safetensors" ] && resume="--resume"
$BIN diffusion train --data "$S/synthetic-train" --validation "$S/synthetic-val" --out "$OUT/model" \
  --steps "$STEPS" --steps-per-epoch 100 --batch-size 4 --segment-frames 32 --lr 2e-4 --seed 0 --threads 2 $resume
for set in real-alsa real-call synthetic-test; do
  $BIN diffusion evaluate --model "$OUT/model" --data "$S/$set" --set "$set" --methods 4,6,griffin-lim \
    --out "$OUT/eval" --save-audio 2 --threads 2
done
