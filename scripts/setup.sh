#!/usr/bin/env bash
# Installs the system packages Amalgam needs, if missing: OpenBLAS, oneDNN (convolutions and
# products; optional at run time, see AmalgamCore's Backend), FFTW and libsoxr (audio), zlib headers, Fashion-MNIST.
# Uses sudo when not root. Swift 6 must already be installed (swift.org toolchain).
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev libfftw3-dev libsoxr-dev zlib1g-dev pkg-config dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "error: Swift 6 is required (https://www.swift.org/install/linux/); 'swift' is not on PATH" >&2
  exit 1
fi
