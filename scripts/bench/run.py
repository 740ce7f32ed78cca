#!/usr/bin/env python3
"""Side-by-side benchmark of Amalgam and PyTorch on the same cores, alternating A B A B.

    swift build -c release --product amalgam-bench
    python3 -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install torch==2.13.0 numpy
    /tmp/venv-bench/bin/python scripts/bench/run.py [--rounds 5] [--threads 2] [--seconds 3] [--workloads ...] [--out docs/benchmarks.md]

Each round runs every workload once on each side, each in a fresh process; the table gives the
median over rounds, the ratio Amalgam/PyTorch in throughput (time ratios are inverted so that
> 1 always means Amalgam is faster), and each side's peak resident memory.
"""
import argparse, json, os, platform, statistics, subprocess, sys, time

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
p = argparse.ArgumentParser()
p.add_argument("--rounds", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=3)
p.add_argument("--workloads", nargs="*", default=["sgemm512", "sgemm1024", "mlp", "cnn", "resnet20", "tiny"])
p.add_argument("--out", default=None, help="write a markdown report here")
p.add_argument("--raw", default=None, help="write every run's JSON line here (JSON lines)")
p.add_argument("--input", default=None, help="sentences for the embed workload (one per line)")
p.add_argument("--backends", nargs="*", default=["onednn", "openblas"],
               help="Amalgam backends to run (AMALGAM_BACKEND); 'onednn+dispatch' is oneDNN with Amalgam's kernels on a separate Dispatch pool (AMALGAM_KERNEL_POOL=dispatch)")
p.add_argument("--binary", action="append", default=[], metavar="NAME=PATH",
               help="another amalgam-bench build (an earlier commit, say) run in the same interleaved rounds on the default backend, reported as 'Amalgam NAME'; repeatable")
p.add_argument("--contended", action="store_true", help="keep one core busy with a second process during every run")
a = p.parse_args()

amalgam = os.path.join(root, ".build", "release", "amalgam-bench")
extra_binaries = []
for spec in a.binary:
    name, sep, path = spec.partition("=")
    if not sep or not name or not os.access(path, os.X_OK):
        sys.exit(f"--binary wants NAME=PATH to an executable amalgam-bench, got {spec!r}")
    extra_binaries.append((name, path))
torch_side = [sys.executable, os.path.join(root, "scripts", "bench", "torch_bench.py")]
env = dict(os.environ, OPENBLAS_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))


def run(cmd, extra=None):
    out = subprocess.run(cmd, env=dict(env, **(extra or {})), check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def backend_env(b):
    backend, _, pool = b.partition("+")
    return dict({"AMALGAM_BACKEND": backend}, **({"AMALGAM_KERNEL_POOL": pool} if pool else {}))


busy = None
if a.contended:
    # A second process that keeps one core busy for the whole run (a shared machine).
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])

results = {}
raw = []
for r in range(a.rounds):
    for w in a.workloads:
        common = [w, "--threads", str(a.threads), "--seconds", str(a.seconds)] + (["--input", a.input] if a.input else [])
        sides = [(f"amalgam-{b}", [amalgam] + common, backend_env(b)) for b in a.backends]
        sides += [(f"amalgam-{name}", [path] + common, {}) for name, path in extra_binaries]
        sides.append(("pytorch", torch_side + common, {}))
        if r % 2:
            sides.reverse()
        for side, cmd, extra in sides:
            out = run(cmd, extra)
            results.setdefault((w, side), []).append(out)
            raw.append(dict(out, side=side, round=r))
    print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
if busy:
    busy.kill()

def median(w, side):
    return statistics.median(x["value"] for x in results[(w, side)])

def ratio(w, side):
    unit = results[(w, side)][0]["unit"]
    ma, mp = median(w, side), median(w, "pytorch")
    return mp / ma if unit.startswith("s") and "/" not in unit else ma / mp

names = {"onednn": "oneDNN", "openblas": "OpenBLAS", "onednn+dispatch": "oneDNN, Dispatch pool"}
names.update({name: name for name, _ in extra_binaries})
columns = list(a.backends) + [name for name, _ in extra_binaries]
head = ["workload", "unit"] + [f"Amalgam {names[b]}" for b in columns] + ["PyTorch"] + \
       [f"ratio {names[b]}" for b in columns] + [f"peak MB {names[b]}" for b in columns] + ["peak MB PyTorch"]
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
for w in a.workloads:
    unit = results[(w, "pytorch")][0]["unit"]
    cells = [w, unit] + [f"{median(w, f'amalgam-{b}'):.4g}" for b in columns] + [f"{median(w, 'pytorch'):.4g}"]
    cells += [f"{ratio(w, f'amalgam-{b}'):.2f}" for b in columns]
    cells += [f"{max(x['peak_rss_mb'] for x in results[(w, s)]):.0f}" for s in [f"amalgam-{b}" for b in columns] + ["pytorch"]]
    lines.append("| " + " | ".join(cells) + " |")
table = "\n".join(lines)
print(table)
if a.raw:
    with open(a.raw, "w") as f:
        for x in raw:
            f.write(json.dumps(x) + "\n")
if a.out:
    load = os.getloadavg()
    with open(a.out, "w") as f:
        f.write(f"""# Benchmarks: Amalgam against PyTorch on the same cores

Generated by `scripts/bench/run.py --rounds {a.rounds} --threads {a.threads} --seconds {a.seconds}` on
{time.strftime('%Y-%m-%d')}, Amalgam built with `swift build -c release`. Machine: {platform.processor() or platform.machine()},
{os.cpu_count()} cores; load average at the end {load[0]:.2f}. Threads: OpenBLAS and Amalgam's workers = {a.threads},
`torch.set_num_threads({a.threads})`. Medians over {a.rounds} alternating rounds, each side in a fresh process.
Ratio = Amalgam throughput / PyTorch throughput (> 1: Amalgam faster), per Amalgam backend
(`AMALGAM_BACKEND`).{' One core was kept busy by a second process throughout (--contended).' if a.contended else ''} Training rows: forward + backward +
SGD step at batch 128 (tiny: MLP 2-16-1 at batch 8) on random inputs of the real shapes.

{table}
""")
