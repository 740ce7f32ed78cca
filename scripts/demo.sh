#!/usr/bin/env bash
# The main job: build Amalgam (release) and run the network-merging demo on Fashion-MNIST: two
# MLP teachers merged into one MLP of the original width, against one model trained for the
# whole budget, best-of-3, a single teacher and the teachers' ensemble, all with a 6-epoch
# budget. Prints the comparison table; writes runs/merge-demo/{summary.json,results.md,chart.svg}.
# About 2 minutes on 2 cores. Extra arguments go to `amalgam merge` (e.g. --model cnn --seeds 0,1,2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product amalgam
exec .build/release/amalgam merge --model mlp --dataset fashion-mnist --budget-epochs 6 --teachers 2 --seeds 0 --out runs/merge-demo "$@"
