#!/usr/bin/env python3
"""The PyTorch side of the side-by-side benchmark: the same workloads as `amalgam-bench`.

    python torch_bench.py WORKLOAD [--threads N] [--seconds S]

Prints one JSON line like amalgam-bench. Models come from scripts/reference/torch_models.py.
"""
import argparse, gzip, json, os, resource, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from torch_models import MLP, ResNet, SmallCNN  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("workload"); p.add_argument("--threads", type=int, default=2); p.add_argument("--seconds", type=float, default=3)
p.add_argument("--input", help="sentences, one per line (embed)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def rate(body, warmup=3):
    for _ in range(warmup):
        body()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < a.seconds or n < 3:
        body(); n += 1
    return n / (time.perf_counter() - start)


def train_rate(model, shape, classes, batch):
    x = torch.randn(batch, *shape); y = torch.arange(batch) % classes
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return rate(step)


def gemm_rate(n):
    x, y = torch.randn(n, n), torch.randn(n, n)
    return rate(lambda: torch.mm(x, y)) * 2 * n ** 3 / 1e9


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class SqueezeExcitation(torch.nn.Module):
    def __init__(self, c, reduction=4):
        super().__init__()
        self.fc1 = torch.nn.Linear(c, max(1, c // reduction)); self.fc2 = torch.nn.Linear(max(1, c // reduction), c)
    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))[:, :, None, None]


class SEBasicBlock(torch.nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(o)
        self.se = SqueezeExcitation(o)
        self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o)) if stride != 1 or i != o else None
    def forward(self, x):
        h = self.se(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class SEResNet20(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, 1, 1, bias=False); self.bn1 = torch.nn.BatchNorm2d(16)
        blocks, c = [], 16
        for w_, s_ in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(SEBasicBlock(c, w_, s_ if i == 0 else 1)); c = w_
        self.blocks = torch.nn.Sequential(*blocks); self.fc = torch.nn.Linear(64, 10)
    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.blocks(F.relu(self.bn1(self.conv1(x)))), 1).flatten(1))


class DepthwiseSeparable(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.dw = nn.Conv2d(64, 64, 3, 1, 1, groups=64, bias=False); self.bn1 = nn.BatchNorm2d(64)
        self.pw = nn.Conv2d(64, 128, 1, bias=False); self.bn2 = nn.BatchNorm2d(128); self.fc = nn.Linear(128, 10)
    def forward(self, x):
        h = F.relu(self.bn2(self.pw(F.relu(self.bn1(self.dw(x))))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class ConvStack1d(torch.nn.Module):
    layers = [(3, 1), (5, 2), (7, 4), (9, 8), (15, 1), (21, 2), (31, 1), (3, 8)]
    def __init__(self):
        super().__init__()
        mods = []
        for k, d in self.layers:
            mods += [torch.nn.Conv1d(64, 64, k, padding=d * (k - 1) // 2, dilation=d), torch.nn.ReLU()]
        self.convs = torch.nn.Sequential(*mods); self.fc = torch.nn.Linear(64, 10)
    def forward(self, x):
        return self.fc(self.convs(x).mean(-1))


class MoELayer(torch.nn.Module):
    def __init__(self, d=256, experts=8):
        super().__init__()
        self.router = torch.nn.Linear(d, experts, bias=False)
        self.up = torch.nn.ModuleList(torch.nn.Linear(d, 4 * d) for _ in range(experts))
        self.down = torch.nn.ModuleList(torch.nn.Linear(4 * d, d) for _ in range(experts))
    def forward(self, x):
        probs = self.router(x).softmax(-1)
        choice = probs.argmax(1)
        out = torch.zeros_like(x)
        for e in range(len(self.up)):
            idx = (choice == e).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            h = self.down[e](F.gelu(self.up[e](x.index_select(0, idx))))
            out = out.index_add(0, idx, h * probs.index_select(0, idx)[:, e:e + 1])
        return out


class FastDiffTwin(torch.nn.Module):
    """FastDiff's denoiser at the paper's size, written from the architecture (our code, the same
    layers as AmalgamDiffusion.FastDiffModel and the reference's FastDiff_model.py): weight-normed
    Conv1d everywhere, ConvTranspose1d upsamplers, kernel predictors, LVC by unfold + einsum."""
    def __init__(self, c=32, bands=80, ratios=(8, 8, 4), layers=4, kp=64):
        super().__init__()
        wn = torch.nn.utils.parametrizations.weight_norm
        conv = lambda i, o, k, d=1: wn(torch.nn.Conv1d(i, o, k, padding=d * (k - 1) // 2, dilation=d))
        self.c, self.layers, self.ratios = c, layers, ratios
        self.first = conv(1, c, 7)
        self.fc1, self.fc2 = torch.nn.Linear(128, 512), torch.nn.Linear(512, 512)
        self.down = torch.nn.ModuleList()
        self.blocks = torch.nn.ModuleList()
        for n, r in enumerate(ratios):
            self.down.append(torch.nn.ModuleList([conv(c, c, 1)] + [conv(c, c, 3, d) for d in (1, 2, 4)]))
            blk = torch.nn.Module()
            blk.up = torch.nn.ConvTranspose1d(c, c, 2 * r, stride=r, padding=r // 2)
            blk.fc_t = torch.nn.Linear(512, bands)
            blk.inp = conv(bands, kp, 5)
            blk.res = torch.nn.ModuleList([conv(kp, kp, 3) for _ in range(6)])
            blk.kernel = conv(kp, c * 2 * c * 3 * layers, 3)
            blk.bias = conv(kp, 2 * c * layers, 3)
            blk.convs = torch.nn.ModuleList([conv(c, c, 3, 3 ** i) for i in range(layers)])
            self.blocks.append(blk)
        self.final = conv(c, 1, 7)

    @staticmethod
    def lvc(x, k, b, hop):
        B, cin, L = x.shape
        _, _, cout, ks, frames = k.shape
        x = F.pad(x, (1, 1)).unfold(2, hop + 2, hop)          # B, cin, frames, hop + 2
        x = x.unfold(3, ks, 1)                                  # B, cin, frames, hop, ks
        o = torch.einsum("bilsk,biokl->bols", x, k) + b.unsqueeze(-1)
        return o.reshape(B, cout, L)

    def forward(self, audio, mel, t):
        half = 64
        f = torch.exp(torch.arange(half) * -(np.log(10000.0) / (half - 1)))
        e = t[:, None] * f[None]
        e = torch.cat([e.sin(), e.cos()], 1)
        e = F.silu(self.fc2(F.silu(self.fc1(e))))
        x = self.first(audio)
        skips = []
        for d, r in zip(self.down, reversed(self.ratios)):
            skips.append(x)
            size = x.shape[-1] // r
            res = F.interpolate(d[0](x), size=size)
            h = F.interpolate(x, size=size)
            for cv in d[1:]:
                h = cv(F.leaky_relu(h, 0.2))
            x = h + res
        hop = 1
        for blk, r, skip in zip(self.blocks, self.ratios, reversed(skips)):
            hop *= r
            cond = mel + blk.fc_t(e).unsqueeze(-1)
            h = F.leaky_relu(blk.inp(cond), 0.1)
            rr = h
            for cv in blk.res:
                rr = F.leaky_relu(cv(rr), 0.1)
            h = h + rr
            B, _, frames = h.shape
            ks = blk.kernel(h).view(B, self.layers, self.c, 2 * self.c, 3, frames)
            bs = blk.bias(h).view(B, self.layers, 2 * self.c, frames)
            x = blk.up(F.leaky_relu(x, 0.2))
            for i, cv in enumerate(blk.convs):
                x = x + skip
                y = F.leaky_relu(cv(F.leaky_relu(x, 0.2)), 0.2)
                y = self.lvc(y, ks[:, i], bs[:, i], hop)
                x = x + torch.sigmoid(y[:, :self.c]) * torch.tanh(y[:, self.c:])
        return self.final(x)


w = a.workload
if w in ("sgemm512", "sgemm1024"):
    value, unit = gemm_rate(int(w[5:])), "GFLOP/s"
elif w == "mlp":
    value, unit = train_rate(MLP(), (784,), 10, 128), "steps/s"
elif w == "cnn":
    value, unit = train_rate(SmallCNN(), (1, 28, 28), 10, 128), "steps/s"
elif w == "resnet20":
    value, unit = train_rate(ResNet(), (1, 28, 28), 10, 128), "steps/s"
elif w == "tiny":
    value, unit = train_rate(MLP(2, (16,), 1), (2,), 1, 8), "steps/s"
elif w == "se-resnet20":
    value, unit = train_rate(SEResNet20(), (1, 28, 28), 10, 128), "steps/s"
elif w == "dw-separable":
    value, unit = train_rate(DepthwiseSeparable(), (64, 28, 28), 10, 64), "steps/s"
elif w == "conv1d-stack":
    value, unit = train_rate(ConvStack1d(), (64, 4096), 10, 8), "steps/s"
elif w in ("fastdiff-step", "fastdiff-train"):
    model = FastDiffTwin()
    b, frames = (4, 32) if w == "fastdiff-train" else (1, 86)
    x, mel, t = torch.randn(b, 1, frames * 256), torch.randn(b, 80, frames), torch.tensor([100.0 + 200 * i for i in range(b)])
    if w == "fastdiff-train":
        opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0)
        def step():
            opt.zero_grad(set_to_none=True)
            (model(x, mel, t) - x).pow(2).mean().backward()
            opt.step()
    else:
        model.eval()
        def step():
            with torch.no_grad():
                model(x, mel, t)
    value, unit = rate(step), "steps/s"
elif w in ("moe", "moe-layer", "ffn"):
    # moe-layer: the same Switch computation as "moe" (Amalgam adds its balance loss: negligible);
    # ffn: one dense FFN 256 -> 1024 -> 256, the experts' width (equal active parameters).
    layer = MoELayer() if w != "ffn" else torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 256))
    x = torch.randn(2048, 256)
    opt = torch.optim.SGD(layer.parameters(), lr=0.01)
    def step():
        opt.zero_grad(set_to_none=True)
        layer(x).pow(2).mean().backward()
        opt.step()
    value, unit = rate(step), "steps/s"
elif w in ("cnn-epoch", "resnet20-epoch"):
    d = os.environ.get("AMALGAM_DATA", "/usr/share/datasets/fashion-mnist")
    x = torch.from_numpy(idx(d + "/train-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    y = torch.from_numpy(idx(d + "/train-labels-idx1-ubyte.gz").astype(np.int64))
    x = (x - x.mean()) / x.std()
    model = SmallCNN() if w == "cnn-epoch" else ResNet(); opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for idxs in torch.randperm(len(y), generator=g).split(128):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idxs]), y[idxs]).backward()
        opt.step()
    value, unit = time.perf_counter() - start, "s"
elif w == "embed":
    # sentence-transformers on the same sentences, batch 32 (it sorts by length, as Amalgam does).
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer
    sentences = [l for l in open(a.input, encoding="utf-8").read().split("\n") if l]
    model = SentenceTransformer(os.environ.get("AMALGAM_MINILM", os.path.expanduser("~/.local/share/amalgam/all-MiniLM-L6-v2")), device="cpu")
    model.encode(sentences[:64], batch_size=32)
    start = time.perf_counter()
    model.encode(sentences, batch_size=32)
    value, unit = len(sentences) / (time.perf_counter() - start), "sentences/s"
elif w == "bert-layer":
    from transformers.models.bert.modeling_bert import BertConfig, BertLayer
    cfg = BertConfig(hidden_size=384, num_attention_heads=12, intermediate_size=1536, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    layer = BertLayer(cfg); x = torch.randn(8, 128, 384)
    opt = torch.optim.SGD(layer.parameters(), lr=0.01)
    def step():
        opt.zero_grad(set_to_none=True)
        out = layer(x)
        (out[0] if isinstance(out, tuple) else out).pow(2).mean().backward()
        opt.step()
    value, unit = rate(step), "steps/s"
else:
    sys.exit(f"unknown workload {w}")
print(json.dumps({"side": "pytorch", "workload": w, "threads": a.threads, "value": value, "unit": unit,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
