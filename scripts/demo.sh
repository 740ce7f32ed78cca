#!/usr/bin/env bash
# The main job: build Amalgam (release) and train on Fashion-MNIST. Extra arguments are passed
# to `amalgam train` (for example --model cnn --epochs 5). Writes runs/<model>-seed<seed>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product amalgam
exec .build/release/amalgam train --model mlp --dataset fashion-mnist --epochs 5 --seed 0 "$@"
