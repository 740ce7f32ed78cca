#!/usr/bin/env python3
"""Checks that a safetensors file written by Amalgam loads in Python with the expected values.

    swift test -c release --filter SafeTensorsTests/testWritePythonCheckFile   # writes /tmp/amalgam_written.*
    /tmp/venv-ref/bin/python scripts/reference/check_amalgam_safetensors.py /tmp/amalgam_written
Expects PREFIX.safetensors (and PREFIX.f16.safetensors, PREFIX.bf16.safetensors) plus PREFIX.json
with the float32 values, names and metadata Amalgam intended to write.
"""
import json, sys
import torch
from safetensors import safe_open

prefix = sys.argv[1]
expected = json.load(open(prefix + ".json"))
for suffix, dtype, tol in [("", torch.float32, 0.0), (".f16", torch.float16, 1e-3), (".bf16", torch.bfloat16, 8e-3)]:
    path = prefix + suffix + ".safetensors"
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == expected["metadata"], (path, f.metadata())
        assert sorted(f.keys()) == sorted(expected["tensors"]), (path, f.keys())
        for k, v in expected["tensors"].items():
            t = f.get_tensor(k)
            assert t.dtype == dtype, (path, k, t.dtype)
            assert list(t.shape) == v["shape"], (path, k, t.shape)
            want = torch.tensor(v["values"], dtype=torch.float32).reshape(v["shape"])
            err = (t.float() - want).abs().max().item() if want.numel() else 0.0
            assert err <= tol * max(1.0, want.abs().max().item() if want.numel() else 1.0), (path, k, err)
    print("ok", path)
