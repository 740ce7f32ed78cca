#!/usr/bin/env python3
"""Compares two output trees (paths inside values are compared relative to each tree) of scripts/equivalence/runs.sh: every safetensors file must hold
byte-identical tensors and metadata (metadata keys that record wall time excepted), every
other file must be byte-identical, except JSON / JSON-lines files, whose values must be equal
once keys that record wall time or the command line are dropped.

Usage: compare.py BEFORE AFTER   (exit status 1 and a list of differences when they differ)
"""
import json, os, struct, sys

TIME_KEYS = ("seconds", "wall", "time")   # wall-clock fields differ between any two runs
IGNORED_KEYS = {"command", "speedup"}      # the command line names the output folder; speed-ups are ratios of wall times


def timing(key):
    return any(t in key.lower() for t in TIME_KEYS) or key in IGNORED_KEYS


ROOTS = []   # (before, after): paths inside values name their own tree


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not timing(k)}
    if isinstance(v, list):
        return [strip(x) for x in v]
    if isinstance(v, str):
        for root in ROOTS:
            v = v.replace(root, "ROOT")
    return v


def safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    return header, strip(meta), data[8 + n:]


def same(a, b):
    if a.endswith(".safetensors"):
        return safetensors(a) == safetensors(b)
    if a.endswith(".json"):
        return strip(json.load(open(a))) == strip(json.load(open(b)))
    if a.endswith(".jsonl"):
        la = [strip(json.loads(l)) for l in open(a) if l.strip()]
        lb = [strip(json.loads(l)) for l in open(b) if l.strip()]
        return la == lb
    if a.endswith((".md", ".svg")):   # reports print the wall times
        return True
    return open(a, "rb").read() == open(b, "rb").read()


def files(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


EVALUATION_KEYS = {"model", "dataset", "normalization_mean", "normalization_std", "seed", "role"}


def written_once(before, after, fa, fb):
    """Merging used to save each finished phase twice: DIR/seedS/phase-NAME.safetensors (the
    phase store) and DIR/seedS/NAME.safetensors (the CLI). Since it writes each model once, as
    NAME.safetensors with the metadata of both. Such pairs are checked here: the one file must
    hold the tensors of both old copies, byte for byte, and the union of their metadata (plus
    what evaluation reads, for models the CLI did not copy, such as the gated wide network)."""
    checked = set()
    for f in sorted(fa - fb):
        d, name = os.path.split(f)
        if not (name.startswith("phase-") and name.endswith(".safetensors")) or name.endswith(".progress.safetensors"):
            continue
        new = os.path.join(d, name[len("phase-"):])
        if new not in fb:
            continue
        h, meta, data = safetensors(os.path.join(after, new))
        old = [safetensors(os.path.join(before, g)) for g in (f, new) if g in fa]
        union = {}
        for _, m, _ in old:
            union.update(m)
        extra = set(meta) - set(union)
        if any(oh != h or od != data for oh, _, od in old) or any(meta.get(k) != v for k, v in union.items()) or not extra <= EVALUATION_KEYS:
            yield f"differs: {new} (not the one copy of {f})"
        checked.update({f, new})
    yield checked


def main(before, after):
    ROOTS.extend([os.path.abspath(before), os.path.abspath(after), before.rstrip("/"), after.rstrip("/")])
    fa, fb = files(before), files(after)
    *bad, merged = written_once(before, after, fa, fb)
    bad += [f"only in {before}: {f}" for f in sorted(fa - fb - merged)] + [f"only in {after}: {f}" for f in sorted(fb - fa - merged)]
    compared = len(merged)
    for f in sorted((fa & fb) - merged):
        compared += 1
        if not same(os.path.join(before, f), os.path.join(after, f)):
            bad.append(f"differs: {f}")
    for line in bad:
        print(line)
    print(f"{compared} files compared, {len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
