#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-minilm.sh      # the pretrained sentence encoder the transformer tests load
scripts/setup-austen.sh      # Jane Austen's novels (the pruning task)
# onnxruntime and onnx (PyPI) check the ONNX export: the exported files run and pass the checker.
python3 -c "import onnxruntime, onnx" 2>/dev/null || python3 -m pip install -q onnxruntime onnx
export AMALGAM_REQUIRE_DATA=1   # the dataset tests must run, not skip
swift build --build-tests
swift test --skip-build --disable-swift-testing   # all tests are XCTest; oneDNN, the default backend
# The portable backend passes the same suite (AMALGAM_BACKEND=openblas: no oneDNN call at all).
AMALGAM_BACKEND=openblas swift test --skip-build --disable-swift-testing
# The API documentation (DocC catalogues of every library target) builds without a warning.
scripts/docs/build-docc.sh .build/docs
