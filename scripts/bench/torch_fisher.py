#!/usr/bin/env python3
"""The PyTorch side of the pruning-time comparison (docs/results/pruning.md): the Fisher pass of
Kwon et al.'s reference code (`prune/fisher.py`, `collect_mask_grads`) on MiniLM, timed on CPU.

    python torch_fisher.py [--samples 2048] [--batch-size 32] [--threads 2] [--model DIR] [--austen DIR]

Same work as `amalgam prune`'s Fisher stage: 2,048 passages of 40 consecutive words from the six
Austen novels (drawn with replacement, seed 0 — the same distribution of lengths, not the same
draw), WordPiece to at most 64 tokens, batches of 32 padded to their longest member; per batch a
forward pass with head and neuron masks at 1 (forward hooks scaling each head's context and
each `intermediate` output; the reference passes `head_mask`, which transformers 5 dropped), cross-entropy of a mean-pooled 6-way linear head,
and the gradient with respect to the masks only (weights frozen). Prints one JSON line with the
seconds of the whole pass (tokenisation excluded).
"""
import argparse, glob, json, os, random, re, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--samples", type=int, default=2048); p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--model", default=os.environ.get("AMALGAM_MINILM", os.path.expanduser("~/.local/share/amalgam/all-MiniLM-L6-v2")))
p.add_argument("--austen", default=os.environ.get("AMALGAM_AUSTEN", os.path.expanduser("~/.local/share/amalgam/austen")))
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
os.environ["HF_HUB_OFFLINE"] = "1"
from transformers import AutoTokenizer, BertModel  # noqa: E402

passages = []
for path in sorted(glob.glob(os.path.join(a.austen, "*.txt"))):
    words = re.sub(r"\s+", " ", open(path, encoding="utf-8").read()).split(" ")
    passages += [" ".join(words[i:i + 40]) for i in range(0, len(words) - 40, 40)]
random.seed(0)
drawn = [random.choice(passages) for _ in range(a.samples)]
tok = AutoTokenizer.from_pretrained(a.model)
batches = [tok(drawn[i:i + a.batch_size], padding=True, truncation=True, max_length=64, return_tensors="pt")
           for i in range(0, len(drawn), a.batch_size)]
mean_len = sum(int(b["attention_mask"].sum()) for b in batches) / a.samples

model = BertModel.from_pretrained(a.model, add_pooling_layer=False).eval()
for q in model.parameters():
    q.requires_grad_(False)
cfg = model.config
head = torch.nn.Linear(cfg.hidden_size, 6)
for q in head.parameters():
    q.requires_grad_(False)
head_mask = torch.ones(cfg.num_hidden_layers, cfg.num_attention_heads, requires_grad=True)
neuron_mask = torch.ones(cfg.num_hidden_layers, cfg.intermediate_size, requires_grad=True)
def mask_heads(o, l):
    ctx = o[0] if isinstance(o, tuple) else o
    b, t, hd = ctx.shape
    ctx = (ctx.view(b, t, cfg.num_attention_heads, -1) * head_mask[l].view(1, 1, -1, 1)).view(b, t, hd)
    return (ctx,) + tuple(o[1:]) if isinstance(o, tuple) else ctx

for l, layer in enumerate(model.encoder.layer):
    # The context of each head times its mask (what `head_mask` did before transformers 5).
    layer.attention.self.register_forward_hook(lambda m, i, o, l=l: mask_heads(o, l))
    layer.intermediate.register_forward_hook(lambda m, i, o, l=l: o * neuron_mask[l])
labels = [torch.randint(0, 6, (b["input_ids"].shape[0],)) for b in batches]

def fisher():
    head_grads, neuron_grads = [], []
    for b, y in zip(batches, labels):
        h = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        loss = F.cross_entropy(head((h * m).sum(1) / m.sum(1)), y)
        gh, gn = torch.autograd.grad(loss, [head_mask, neuron_mask])
        head_grads.append(gh); neuron_grads.append(gn)
    return torch.stack(head_grads).pow(2).sum(0), torch.stack(neuron_grads).pow(2).sum(0)

start = time.perf_counter()
head_fisher, neuron_fisher = fisher()
seconds = time.perf_counter() - start
assert bool((head_fisher > 0).all()) and bool((neuron_fisher > 0).any()), "mask gradients are zero: the hooks did not apply"
print(json.dumps({"side": "pytorch", "workload": "fisher", "threads": a.threads, "samples": a.samples,
                  "batches": len(batches), "mean_length": mean_len, "seconds": seconds,
                  "torch": torch.__version__}))
