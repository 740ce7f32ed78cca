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
# The tests run an optimised build (-c release, with -enable-testing for @testable imports): the
# same checks as a debug build (preconditions and overflow traps stay on at -O), about 2.5× less
# time (the suite: ~1,100 s debug, ~420 s release on a 2-core machine beside one busy core), which keeps CI
# under its 30 minutes. `swift build --build-tests` + `swift test --skip-build` (debug) is the
# quicker edit-compile loop and runs the same suite.
release=(-c release -Xswiftc -enable-testing)
swift build "${release[@]}" --build-tests
swift test "${release[@]}" --skip-build --disable-swift-testing   # all tests are XCTest; oneDNN, the default backend
# The portable backend (AMALGAM_BACKEND=openblas: no oneDNN call at all) on every library suite;
# the command-line suites (AmalgamCLITests) run the same library code end to end and are left to
# the default backend here for time. The whole suite on it, all of AmalgamCLITests included:
#   AMALGAM_BACKEND=openblas swift test -c release -Xswiftc -enable-testing --skip-build
AMALGAM_BACKEND=openblas swift test "${release[@]}" --skip-build --disable-swift-testing --skip AmalgamCLITests
# The API documentation (DocC catalogues of every library target) builds without a warning.
scripts/docs/build-docc.sh .build/docs
