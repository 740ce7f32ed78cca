#!/usr/bin/env python3
"""Runs an exported ONNX model in onnxruntime on saved inputs and compares with Amalgam's outputs.

    python3 scripts/reference/onnx_check.py MODEL.onnx DIR

DIR holds `input-<name>.npy` (one per graph input; int64 inputs saved as float32 and cast back)
and `expected-<name>.npy` (one per graph output to compare). Prints one JSON object:
{"max_abs_difference": {output: value}, "outputs": [...], "onnx_checker": "ok" | message}.
The ONNX checker (onnx.checker.check_model) runs when the onnx package is installed.
"""
import glob
import json
import os
import sys

import numpy as np
import onnxruntime as ort

model, directory = sys.argv[1], sys.argv[2]
checker = "onnx not installed"
try:
    import onnx
    onnx.checker.check_model(onnx.load(model), full_check=True)
    checker = "ok"
except ImportError:
    pass
except Exception as e:  # the checker's own message
    checker = str(e)
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
feeds = {}
for i in session.get_inputs():
    x = np.load(os.path.join(directory, f"input-{i.name}.npy"))
    feeds[i.name] = x.astype(np.int64) if i.type == "tensor(int64)" else x.astype(np.float32)
names = [o.name for o in session.get_outputs()]
results = dict(zip(names, session.run(names, feeds)))
differences = {}
for path in sorted(glob.glob(os.path.join(directory, "expected-*.npy"))):
    name = os.path.basename(path)[len("expected-"):-len(".npy")]
    expected = np.load(path)
    got = results[name]
    if got.shape != expected.shape:
        differences[name] = f"shape {list(got.shape)} vs {list(expected.shape)}"
    else:
        d = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
        differences[name] = d if np.isfinite(d) else "non-finite outputs"
print(json.dumps({"max_abs_difference": differences, "outputs": names, "onnx_checker": checker}))
