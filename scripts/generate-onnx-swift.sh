#!/usr/bin/env bash
# Regenerates Sources/AmalgamONNX/Generated/onnx.pb.swift from onnx.proto (run once per ONNX
# schema update; the output is committed so that builds need neither protoc nor the plugin):
#   1. onnx.proto from the onnx wheel on PyPI (its version is pinned below);
#   2. protoc from Debian (protobuf-compiler);
#   3. protoc-gen-swift built from the swift-protobuf checkout this package resolves, so the
#      generated code matches the runtime library it compiles against.
set -euo pipefail
cd "$(dirname "$0")/.."
ONNX_VERSION=1.23.2
OUT=Sources/AmalgamONNX/Generated
command -v protoc >/dev/null || apt-get install -y protobuf-compiler
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pip download --no-deps "onnx==$ONNX_VERSION" -d "$tmp" -q
(cd "$tmp" && python3 -m zipfile -e onnx-*.whl extracted >/dev/null)
cp "$tmp/extracted/onnx/onnx.proto" "$OUT/onnx.proto"
swift package resolve
swift build -c release --package-path .build/checkouts/swift-protobuf --product protoc-gen-swift
plugin=$(swift build -c release --package-path .build/checkouts/swift-protobuf --show-bin-path)/protoc-gen-swift
protoc --plugin=protoc-gen-swift="$plugin" --swift_out="$OUT" -I "$OUT" "$OUT/onnx.proto"
echo "wrote $OUT/onnx.pb.swift from onnx $ONNX_VERSION's onnx.proto"
