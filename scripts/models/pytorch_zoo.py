#!/usr/bin/env python3
"""Checkpoint conversion between PyTorch and Amalgam for the model zoo (mlp, cnn, cnn-bn, vgg, resnet20), with
the PyTorch twins of scripts/reference/torch_models.py: the same modules under the same
parameter names, so a state_dict moves between the two frameworks as it is.

    python scripts/models/pytorch_zoo.py to-amalgam --model cnn model.pt model.safetensors [--mean 0.286 --std 0.353]
    python scripts/models/pytorch_zoo.py to-pytorch --model cnn model.safetensors model.pt
    python scripts/models/pytorch_zoo.py golden Tests/AmalgamNNTests/Fixtures/pytorch_zoo.json
    python scripts/models/pytorch_zoo.py markdown > docs/models.md

`to-amalgam` reads a PyTorch state_dict (torch.save'd .pt/.pth, or .safetensors), checks it against
the twin (every name, every shape) and writes an Amalgam checkpoint: float32 safetensors with the
metadata `amalgam evaluate/predict/export` read (model, width, and the input normalisation when
given). `to-pytorch` goes back: the Amalgam checkpoint loads strictly into the twin and is saved
with torch.save (num_batches_tracked as int64, as PyTorch keeps it).

`golden` writes the test fixture: each twin's state_dict names and shapes in PyTorch's order, and
its logits on a fixed input with weights from a fixed rational formula that the Swift test
reproduces exactly (so no weights need committing). Requires torch (2.13.0+cpu was used) and
safetensors.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from torch_models import MLP, ResNet, SmallCNN, VGG  # noqa: E402  (the twins the golden tests use)

# name: (builder at width k, description for docs/models.md)
ZOO = {
    "mlp": (lambda k=1: MLP(hidden=(512 * k, 512 * k)), "Flatten → Linear 784→512 → ReLU → Linear 512→512 → ReLU → Linear 512→classes (`layers.N`)."),
    "cnn": (lambda k=1: SmallCNN(widths=(32 * k, 64 * k, 128 * k)),
            "PyTorch's MNIST example: conv 3×3 1→32, ReLU, conv 3×3 32→64, ReLU, max-pool 2, dropout 0.25, flatten, linear 9216→128, ReLU, dropout 0.5, linear 128→classes."),
    "cnn-bn": (lambda k=1: SmallCNN(widths=(32 * k, 64 * k, 128 * k), batch_norm=True),
               "The small CNN with BatchNorm after each convolution and the hidden linear layer (before the ReLU): network merging's PyTorch reference architecture."),
    "vgg": (lambda k=1: VGG(widths=tuple(w * k for w in (32, 32, 0, 64, 64, 0, 128, 128, 0))),
            "(conv 3×3 pad 1 → BN → ReLU) × 2 per stage, max-pool after each of 3 stages (32, 64, 128), global average pooling, linear classifier."),
    "resnet20": (lambda k=1: ResNet(widths=(16 * k, 32 * k, 64 * k)),
                 "He et al.'s CIFAR ResNet-20: stem conv 3×3 → 16, three stages of three basic blocks (16, 32, 64; strides 1, 2, 2; 1×1 projection shortcuts), global average pooling, linear classifier."),
}


def formula(name, shape):
    """Weights both frameworks compute bit for bit: ((i·7919 + h) mod 1000 − 500) / 5000 in
    float32, h the sum of the name's bytes; running variances 0.5 + ((i·7919 + h) mod 1000)/1000;
    num_batches_tracked 0."""
    n = 1
    for d in shape:
        n *= d
    h = sum(name.encode())
    i = torch.arange(n, dtype=torch.int64)
    r = (i * 7919 + h) % 1000
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if name.endswith("running_var"):
        v = torch.tensor(0.5, dtype=torch.float32) + r.to(torch.float32) / torch.tensor(1000.0, dtype=torch.float32)
    else:
        v = (r - 500).to(torch.float32) / torch.tensor(5000.0, dtype=torch.float32)
    return v.reshape(shape)


def golden_input():
    """x[i] = ((i·31) mod 255) / 255, float32 [2, 1, 28, 28]."""
    i = torch.arange(2 * 784, dtype=torch.int64)
    return (((i * 31) % 255).to(torch.float32) / torch.tensor(255.0)).reshape(2, 1, 28, 28)


def load_state(path):
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def check(model, state, where):
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    wrong = [f"{k}: {list(state[k].shape)} vs {list(v.shape)}" for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or extra or wrong:
        sys.exit(f"{where}: not this architecture's state_dict — missing {missing[:5]}, unexpected {extra[:5]}, shapes {wrong[:5]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-amalgam"); a.add_argument("--model", choices=ZOO, required=True); a.add_argument("input"); a.add_argument("output")
    a.add_argument("--width", type=int, default=1); a.add_argument("--mean", type=float); a.add_argument("--std", type=float)
    p = sub.add_parser("to-pytorch"); p.add_argument("--model", choices=ZOO, required=True); p.add_argument("input"); p.add_argument("output")
    p.add_argument("--width", type=int, default=1)
    g = sub.add_parser("golden"); g.add_argument("output")
    sub.add_parser("markdown")
    args = ap.parse_args()

    if args.command == "to-amalgam":
        from safetensors.torch import save_file
        model = ZOO[args.model][0](args.width)
        state = load_state(args.input)
        check(model, state, args.input)
        meta = {"model": args.model, "width": str(args.width), "converted_from": args.input}
        if args.mean is not None and args.std is not None:
            meta["normalization_mean"], meta["normalization_std"] = str(args.mean), str(args.std)
        save_file({k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}, args.output, metadata=meta)
    elif args.command == "to-pytorch":
        model = ZOO[args.model][0](args.width)
        state = load_state(args.input)
        check(model, state, args.input)
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
        torch.save(model.state_dict(), args.output)
    elif args.command == "golden":
        out = {"torch": torch.__version__, "input": "x[i] = ((i*31) mod 255)/255, float32 [2, 1, 28, 28]", "models": {}}
        x = golden_input()
        for name, (build, _) in ZOO.items():
            m = build().eval()
            state = {k: formula(k, list(v.shape)) for k, v in m.state_dict().items()}
            m.load_state_dict(state)
            with torch.no_grad():
                logits = m(x)
            out["models"][name] = {"parameters": [[k, list(v.shape)] for k, v in m.state_dict().items()],
                                   "logits": [round(float(v), 7) for v in logits.flatten()]}
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    else:
        print(markdown())


def markdown():
    lines = ["# Models: parameter names and shapes", "",
             "Amalgam's zoo models use PyTorch's module names, so a `state_dict` moves between the two",
             "frameworks unchanged. `scripts/models/pytorch_zoo.py` holds the PyTorch twin of each model and",
             "converts both ways:", "", "```sh",
             "python scripts/models/pytorch_zoo.py to-amalgam --model cnn model.pt model.safetensors --mean 0.2860 --std 0.3530",
             ".build/release/amalgam evaluate --checkpoint model.safetensors",
             "python scripts/models/pytorch_zoo.py to-pytorch --model cnn runs/cnn/model.safetensors model.pt",
             "```", "",
             "The tests check it: the twins' `state_dict` names and shapes (this page, generated by",
             "`python scripts/models/pytorch_zoo.py markdown > docs/models.md`) equal Amalgam's, and weights",
             "written by PyTorch give PyTorch's logits in Amalgam within 1e-4",
             "(`Tests/AmalgamNNTests/Fixtures/pytorch_zoo.json`, from `pytorch_zoo.py golden`).",
             "Images are 1×28×28 floats, normalised with the training set's mean and standard deviation",
             "(`amalgam train` stores them in the checkpoint metadata as `normalization_mean` /",
             "`normalization_std`; give them to `to-amalgam`, else `evaluate` recomputes Fashion-MNIST's).",
             "`--width K` multiplies every hidden width (the metadata key `width`).", "",
             "Text models (the BERT encoder, `amalgam finetune`'s classifier) use Hugging Face's",
             "`BertModel` / `BertForSequenceClassification` names (`embeddings.word_embeddings.weight`,",
             "`encoder.layer.N.attention.self.query.weight`, …; the classifier prefixes them with `bert.`",
             "and adds `classifier.weight`/`classifier.bias`, with mean pooling instead of the `[CLS]` pooler).", ""]
    for name, (build, description) in ZOO.items():
        m = build()
        params = sum(p.numel() for p in m.parameters())
        lines += [f"## `{name}` ({params:,} parameters)", "", description, "",
                  "| name | shape | kind |", "|---|---|---|"]
        buffers = {k for k, _ in m.named_buffers()}
        for k, v in m.state_dict().items():
            lines.append(f"| `{k}` | {list(v.shape)} | {'buffer' if k in buffers else 'parameter'} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
