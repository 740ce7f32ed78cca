#!/usr/bin/env python3
"""Determinism (issue 25, item 7): the same seed, run twice, on 1 and on 2 threads, with each
compute backend (oneDNN, OpenBLAS): are the checkpoints byte-identical? Trains each zoo model
for one epoch on a 512-image Fashion-MNIST subset and hashes model.safetensors.

    python3 scripts/reliability/determinism.py [--binary .build/release/amalgam] [--out docs/reliability/determinism.json]
"""
import argparse, hashlib, json, os, subprocess, tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/amalgam")
    ap.add_argument("--out", default="docs/reliability/determinism.json")
    ap.add_argument("--models", default="mlp,cnn,vgg,resnet20")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            for backend in ["onednn", "openblas"]:
                for threads in [1, 2]:
                    for repeat in [0, 1]:
                        out = f"{tmp}/{model}-{backend}-{threads}-{repeat}"
                        env = dict(os.environ, AMALGAM_BACKEND=backend)
                        r = subprocess.run([a.binary, "train", "--model", model, "--epochs", "1", "--train-limit", "512", "--batch-size", "64",
                                            "--seed", "5", "--threads", str(threads), "--quiet", "--out", out], env=env, capture_output=True, text=True)
                        if r.returncode != 0:
                            raise SystemExit(f"{model} {backend} {threads}: {r.stderr}")
                        digest = hashlib.sha256(open(out + "/model.safetensors", "rb").read()).hexdigest()
                        acc = json.load(open(out + "/summary.json"))["test_accuracy"]
                        rows.append({"model": model, "backend": backend, "threads": threads, "repeat": repeat, "sha256": digest, "test_accuracy": acc})
                        print(model, backend, threads, repeat, digest[:16], acc, flush=True)
    summary = {}
    for model in a.models.split(","):
        mine = [r for r in rows if r["model"] == model]
        key = lambda r: r["sha256"]
        summary[model] = {
            "repeat_identical": all(key(r) == key(next(s for s in mine if s["backend"] == r["backend"] and s["threads"] == r["threads"])) for r in mine),
            "threads_identical": {b: len({key(r) for r in mine if r["backend"] == b}) == 1 for b in ["onednn", "openblas"]},
            "backends_identical": len({key(r) for r in mine}) == 1,
            "distinct_checkpoints": len({key(r) for r in mine}),
        }
    json.dump({"command": "amalgam train --model M --epochs 1 --train-limit 512 --batch-size 64 --seed 5 --threads T (AMALGAM_BACKEND=B)",
               "summary": summary, "runs": rows}, open(a.out, "w"), indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
