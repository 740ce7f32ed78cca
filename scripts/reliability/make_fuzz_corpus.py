#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets (Fuzz/Corpus/<target>/): small valid inputs
of each reader, so the fuzzer starts from the formats' real structure. Synthetic by design (these
are robustness inputs, not data). Run from the repository root; the output is committed.

    python3 scripts/reliability/make_fuzz_corpus.py
"""
import gzip, io, json, os, struct, wave

import numpy as np

ROOT = "Fuzz/Corpus"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None, dtype="F32"):
    header, blobs, offset = {}, [], 0
    if metadata: header["__metadata__"] = metadata
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype={"F32": "<f4", "F16": "<f2", "I64": "<i8", "U8": "u1"}[dtype])
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b); offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def idx(shape, rng):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + rng.integers(0, 256, int(np.prod(shape)), dtype=np.uint8).tobytes()


def main():
    rng = np.random.default_rng(0)
    put("FuzzSafeTensors", "f32", safetensors({"a.weight": rng.standard_normal((2, 3)), "a.bias": np.zeros(2)}, {"model": "mlp"}))
    put("FuzzSafeTensors", "f16", safetensors({"x": rng.standard_normal(4)}, dtype="F16"))
    put("FuzzSafeTensors", "i64", safetensors({"ids": np.arange(3)}, dtype="I64"))
    put("FuzzSafeTensors", "empty", safetensors({}))

    put("FuzzIDX", "images", idx([2, 3, 3], rng))
    put("FuzzIDX", "labels", idx([5], rng))
    put("FuzzIDX", "images.gz", gzip.compress(idx([2, 4, 4], rng), mtime=0))

    put("FuzzCSV", "header", "a,b,y\n1,2,3\n4.5,-6e-1,7\n0,0,1\n")
    put("FuzzCSV", "plain", "1,2\n3,4\n")
    put("FuzzCSV", "quoted", "\"a\",\"b\"\r\n1,2\r\n")

    put("FuzzLIBSVM", "basic", "1 1:0.5 3:1 # comment\n-1 2:2\n+1 1:-1.5e-3 4:7\n")
    put("FuzzLIBSVM", "qid", "0 1:1\n1\n")

    vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\n##s\nsat\n,\n.\n"
    put("FuzzWordPiece", "sentence", vocab + "\0" + "The cats sat, the Cat sat [SEP] on mat.")
    put("FuzzWordPiece", "unicode", vocab + "\0" + "Café 日本 naïve\tthe\u00a0cat")

    config = {"vocab_size": 6, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
              "max_position_embeddings": 16, "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}
    put("FuzzBertConfig", "config", json.dumps(config, indent=2))
    put("FuzzBertConfig", "config+sbert", json.dumps(config) + "\0" + json.dumps({"max_seq_length": 8, "do_lower_case": True}))

    w = {"0.weight": rng.standard_normal((3, 4)), "0.bias": np.zeros(3), "2.weight": rng.standard_normal((2, 3)), "2.bias": np.zeros(2)}
    put("FuzzCheckpoint", "model", safetensors(w, {"model": "custom", "epoch": "1"}))
    state = {"model." + k: v for k, v in w.items()}
    for k, v in w.items():
        state[f"optimizer.{k}.0"] = np.zeros_like(v); state[f"optimizer.{k}.1"] = np.ones_like(v) * 1e-4
    meta = {"format": "amalgam.training-checkpoint", "step": "7", "optimizer_step": "7", "generator.1": "1,2,3,4", "user.epoch": "1"}
    put("FuzzCheckpoint", "training-state", safetensors(state, meta))

    for dtype in ["<f4", "<f8", "|u1", "<i8"]:
        b = io.BytesIO(); np.save(b, (rng.standard_normal((2, 3)) * 10).astype(dtype)); put("FuzzNPY", dtype.strip("<|"), b.getvalue())

    for channels, width in [(1, 2), (2, 2), (1, 3)]:
        b = io.BytesIO()
        with wave.open(b, "wb") as f:
            f.setnchannels(channels); f.setsampwidth(width); f.setframerate(22050)
            f.writeframes(rng.integers(0, 256, 40 * channels * width, dtype=np.uint8).tobytes())
        put("FuzzWAV", f"pcm{8 * width}-{channels}ch", b.getvalue())


if __name__ == "__main__":
    main()
