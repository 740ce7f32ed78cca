#!/usr/bin/env bash
# Builds the DocC documentation of every library target with the swift-docc-plugin and fails on
# any warning (a broken symbol link, an undocumented parameter in a documented list):
#   scripts/docs/build-docc.sh [OUTPUT_DIR]     (default .build/docs; one folder per target)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.build/docs}"
mkdir -p "$out"
targets=$(sed -n 's/.*\.library(name: "\([A-Za-z]*\)".*/\1/p' Package.swift)
for t in $targets; do
  swift package --allow-writing-to-directory "$out" generate-documentation --target "$t" \
    --warnings-as-errors --output-path "$out/$t" --transform-for-static-hosting > "$out/$t.log" 2>&1 \
    || { cat "$out/$t.log"; echo "DocC: $t has warnings or errors (above)"; exit 1; }
  echo "DocC: $t"
done
