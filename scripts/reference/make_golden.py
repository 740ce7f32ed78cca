#!/usr/bin/env python3
"""Golden values from PyTorch for Amalgam's layer, loss, optimizer and schedule tests, and a
safetensors fixture written by the Python `safetensors` package.

Run by hand (outputs are committed):
    python3 -m venv /tmp/venv-ref && /tmp/venv-ref/bin/pip install torch==2.13.0 safetensors numpy
    /tmp/venv-ref/bin/python scripts/reference/make_golden.py
Writes Tests/AmalgamNNTests/Fixtures/nn_golden.safetensors and
Tests/AmalgamFormatsTests/Fixtures/python_written.{safetensors,json}.
"""
import json, os
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
import sys; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import ResNet, SmallCNN  # noqa: E402

torch.manual_seed(1234)
root = os.path.join(os.path.dirname(__file__), "..", "..")
out = {}

def put(name, t):
    out[name] = t.detach().to(torch.float32).contiguous().clone()

# Linear
lin = nn.Linear(7, 5)
x = torch.randn(3, 4, 7)
put("linear.x", x); put("linear.weight", lin.weight); put("linear.bias", lin.bias); put("linear.y", lin(x))

# Conv2d variants
def conv_case(name, cin, cout, k, stride, padding, dilation, groups, bias, hw):
    c = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    x = torch.randn(2, cin, *hw)
    put(f"{name}.x", x); put(f"{name}.weight", c.weight)
    if bias: put(f"{name}.bias", c.bias)
    put(f"{name}.y", c(x))
conv_case("conv_a", 3, 4, 3, 2, 1, 1, 1, True, (9, 8))
conv_case("conv_b", 4, 6, 3, 1, 2, 2, 2, False, (7, 9))
conv_case("conv_c", 6, 3, 1, 1, 0, 1, 1, True, (5, 5))
conv_case("conv_d", 4, 4, 3, (2, 1), 1, 1, 4, True, (6, 6))  # depthwise, asymmetric stride

# BatchNorm2d: train step (output + running stats), then eval
bn = nn.BatchNorm2d(3, momentum=0.1)
with torch.no_grad():
    bn.weight.copy_(torch.randn(3)); bn.bias.copy_(torch.randn(3))
    bn.running_mean.copy_(torch.randn(3)); bn.running_var.copy_(torch.rand(3) + 0.5)
put("bn2d.weight", bn.weight); put("bn2d.bias", bn.bias)
put("bn2d.running_mean0", bn.running_mean); put("bn2d.running_var0", bn.running_var)
x = torch.randn(4, 3, 5, 5) * 2 + 1
bn.train(); y = bn(x)
put("bn2d.x", x); put("bn2d.y_train", y)
put("bn2d.running_mean1", bn.running_mean); put("bn2d.running_var1", bn.running_var)
x2 = torch.randn(2, 3, 5, 5)
bn.eval(); put("bn2d.x_eval", x2); put("bn2d.y_eval", bn(x2))

bn1 = nn.BatchNorm1d(6)
with torch.no_grad():
    bn1.weight.copy_(torch.randn(6)); bn1.bias.copy_(torch.randn(6))
x = torch.randn(8, 6)
put("bn1d.weight", bn1.weight); put("bn1d.bias", bn1.bias); put("bn1d.x", x); put("bn1d.y_train", bn1(x))
put("bn1d.running_mean1", bn1.running_mean); put("bn1d.running_var1", bn1.running_var)

# LayerNorm over the last axis and over the last two axes
ln = nn.LayerNorm(8)
with torch.no_grad():
    ln.weight.copy_(torch.randn(8)); ln.bias.copy_(torch.randn(8))
x = torch.randn(2, 3, 8) * 3
put("ln.weight", ln.weight); put("ln.bias", ln.bias); put("ln.x", x); put("ln.y", ln(x))
ln2 = nn.LayerNorm([3, 8], eps=1e-12)
with torch.no_grad():
    ln2.weight.copy_(torch.randn(3, 8)); ln2.bias.copy_(torch.randn(3, 8))
put("ln2.weight", ln2.weight); put("ln2.bias", ln2.bias); put("ln2.y", ln2(x))

# Pooling
x = torch.randn(2, 3, 9, 11)
put("pool.x", x)
put("pool.max_k3s2p1", F.max_pool2d(x, 3, 2, 1))
put("pool.max_k2", F.max_pool2d(x, 2))
put("pool.avg_k3s2p1", F.avg_pool2d(x, 3, 2, 1))
put("pool.avg_k2", F.avg_pool2d(x, 2))
put("pool.adaptive_4x3", F.adaptive_avg_pool2d(x, (4, 3)))
put("pool.adaptive_1", F.adaptive_avg_pool2d(x, 1))

# Activations
x = torch.linspace(-6, 6, 97)
put("act.x", x)
put("act.gelu", F.gelu(x)); put("act.gelu_tanh", F.gelu(x, approximate="tanh"))
put("act.softplus", F.softplus(x)); put("act.sigmoid", torch.sigmoid(x)); put("act.tanh", torch.tanh(x))
z = torch.randn(4, 6) * 3
put("act.softmax_x", z); put("act.softmax", F.softmax(z, 1)); put("act.log_softmax", F.log_softmax(z, 1))
put("act.logsumexp", torch.logsumexp(z, 1))

# Losses
logits = torch.randn(6, 5) * 2
labels = torch.tensor([0, 4, 2, 2, 1, 3])
put("ce.logits", logits); put("ce.labels", labels.float())
put("ce.loss", F.cross_entropy(logits, labels).reshape(1))
put("ce.loss_smooth", F.cross_entropy(logits, labels, label_smoothing=0.1).reshape(1))
target = F.softmax(torch.randn(6, 5), 1)
put("kl.target", target); put("kl.loss", F.kl_div(F.log_softmax(logits, 1), target, reduction="batchmean").reshape(1))
put("mse.loss", F.mse_loss(logits, target).reshape(1))

# Optimizers: three steps from the same start with fixed gradients
p0 = torch.randn(10); grads = [torch.randn(10) for _ in range(3)]
put("opt.p0", p0)
for i, g in enumerate(grads): put(f"opt.g{i}", g)
def run(make):
    p = nn.Parameter(p0.clone()); o = make([p])
    for g in grads:
        o.zero_grad(); p.grad = g.clone(); o.step()
    return p
put("opt.sgd", run(lambda ps: torch.optim.SGD(ps, lr=0.1)))
put("opt.sgd_momentum", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)))
put("opt.sgd_nesterov", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)))
put("opt.adam", run(lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)))
put("opt.adamw", run(lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)))

# Schedules: learning rate at steps 0..29
def lrs(make_sched, steps=30, lr=0.1):
    p = nn.Parameter(torch.zeros(1)); o = torch.optim.SGD([p], lr=lr); s = make_sched(o); v = []
    for _ in range(steps):
        v.append(o.param_groups[0]["lr"]); o.step(); s.step()
    return torch.tensor(v)
put("sched.cosine", lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.001)))
put("sched.onecycle", lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=30)))
put("sched.multistep", lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[10, 25], gamma=0.5)))

# Whole networks: logits, loss and every parameter's gradient (train mode) for architectures
# written to match Amalgam's ResNet and SmallCNN layer for layer (same dotted names).
for name, net in [("resnet", ResNet(blocks=2, widths=(4, 6, 8), classes=3)), ("cnn", SmallCNN(size=12, classes=3))]:
    x = torch.randn(4, 1, 12, 12); y = torch.tensor([0, 2, 1, 2])
    for k, v in net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            put(f"{name}.state.{k}", v)
    net.train(); logits = net(x); loss = F.cross_entropy(logits, y); loss.backward()
    put(f"{name}.x", x); put(f"{name}.labels", y.float()); put(f"{name}.logits", logits); put(f"{name}.loss", loss.reshape(1))
    for k, p in net.named_parameters():
        put(f"{name}.grad.{k}", p.grad)
    for k, v in net.state_dict().items():
        if "running" in k:
            put(f"{name}.after.{k}", v)

save_file(out, os.path.join(root, "Tests/AmalgamNNTests/Fixtures/nn_golden.safetensors"),
          metadata={"generator": "scripts/reference/make_golden.py", "torch": torch.__version__})

# A safetensors file written by Python in several dtypes, with the float32 values it holds.
g = torch.Generator().manual_seed(7)
tensors = {
    "features.0.weight": torch.randn(4, 3, generator=g),
    "features.0.bias": torch.randn(4, generator=g),
    "half.weight": torch.randn(2, 5, generator=g).to(torch.float16),
    "brain.weight": torch.randn(3, 2, generator=g).to(torch.bfloat16),
    "embeddings.position_ids": torch.arange(12, dtype=torch.int64).reshape(1, 12),
    "bn1.num_batches_tracked": torch.tensor(5, dtype=torch.int64),
}
save_file(tensors, os.path.join(root, "Tests/AmalgamFormatsTests/Fixtures/python_written.safetensors"),
          metadata={"format": "pt", "note": "written by safetensors"})
expected = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                "values": v.to(torch.float32).flatten().tolist()} for k, v in tensors.items()}
with open(os.path.join(root, "Tests/AmalgamFormatsTests/Fixtures/python_written.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print("wrote", len(out), "golden tensors")
