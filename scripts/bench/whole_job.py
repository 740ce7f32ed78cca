#!/usr/bin/env python3
"""Wall time and peak memory of one whole `amalgam` job, two builds side by side, interleaved.

    python3 scripts/bench/whole_job.py --rounds 2 --raw OUT.jsonl \
        --binary old=/tmp/amalgam-298eba1 --binary new=.build/release/amalgam \
        --args-old "merge --model cnn --budget-epochs 6 --seeds 0 --threads 2 --strategies merged" \
        --args-new "merge --model cnn --budget-epochs 6 --seeds 0 --threads 2 --strategies merged --validation 0"

Each round runs every build once (the order alternates between rounds), each in a fresh process
with a fresh output directory (`--out` is appended), under GNU time for the peak resident set.
Writes one JSON line per run (build, round, wall seconds, peak RSS in MB, exit status, the
command, and the job's summary.json when it wrote one) and prints the medians. The threads of
OpenBLAS and the engine are set by the job's own `--threads`; OPENBLAS_NUM_THREADS and
AMALGAM_NUM_THREADS are set to the same value when `--threads N` appears in the arguments.
"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("--rounds", type=int, default=2)
p.add_argument("--start-round", type=int, default=0, help="number of the first round (to continue a series in a second call; the order still alternates)")
p.add_argument("--binary", action="append", required=True, metavar="NAME=PATH")
p.add_argument("--raw", required=True, help="JSON lines, one per run (appended)")
p.add_argument("--keep", action="store_true", help="keep each run's output directory")
a, rest = p.parse_known_args()

builds = []
for spec in a.binary:
    name, sep, path = spec.partition("=")
    if not sep or not os.access(path, os.X_OK):
        sys.exit(f"--binary wants NAME=PATH to an executable, got {spec!r}")
    builds.append((name, path))
args = {}
i = 0
while i < len(rest):
    if rest[i].startswith("--args-") and i + 1 < len(rest):
        args[rest[i][len("--args-"):]] = shlex.split(rest[i + 1])
        i += 2
    else:
        sys.exit(f"unexpected argument {rest[i]!r} (want --args-NAME \"...\")")
for name, _ in builds:
    if name not in args:
        sys.exit(f"no --args-{name} for build {name}")
if not shutil.which("/usr/bin/time"):
    sys.exit("GNU time (/usr/bin/time) is needed for the peak resident set: apt-get install time")

runs = {}
for r in range(a.start_round, a.start_round + a.rounds):
    order = builds if r % 2 == 0 else list(reversed(builds))
    for name, path in order:
        out = tempfile.mkdtemp(prefix=f"whole-job-{name}-r{r}-")
        cmd = [path] + args[name] + ["--out", out, "--quiet"]
        env = dict(os.environ)
        if "--threads" in args[name]:
            t = args[name][args[name].index("--threads") + 1]
            env.update(OPENBLAS_NUM_THREADS=t, AMALGAM_NUM_THREADS=t)
        timing = os.path.join(out, "time.txt")
        start = time.monotonic()
        rc = subprocess.run(["/usr/bin/time", "-v", "-o", timing] + cmd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).returncode
        wall = time.monotonic() - start
        peak = None
        for line in open(timing):
            if "Maximum resident set size" in line:
                peak = int(line.split(":")[1]) / 1024
        summary = None
        if os.path.exists(os.path.join(out, "summary.json")):
            summary = json.load(open(os.path.join(out, "summary.json")))
        row = {"build": name, "round": r, "wall_seconds": round(wall, 2), "peak_rss_mb": round(peak or 0, 1),
               "exit": rc, "command": " ".join(shlex.quote(c) for c in [os.path.basename(path)] + args[name]),
               "summary": summary}
        with open(a.raw, "a") as f:
            f.write(json.dumps(row) + "\n")
        runs.setdefault(name, []).append(row)
        print(f"round {r + 1}/{a.start_round + a.rounds} {name}: {wall:.1f} s, peak {peak or 0:.0f} MB, exit {rc}", file=sys.stderr)
        if not a.keep:
            shutil.rmtree(out, ignore_errors=True)

for name, _ in builds:
    rows = runs[name]
    walls = ", ".join(f"{x['wall_seconds']:.1f}" for x in rows)
    print(f"{name}: median wall {statistics.median(x['wall_seconds'] for x in rows):.1f} s "
          f"(runs {walls}), peak RSS {max(x['peak_rss_mb'] for x in rows):.0f} MB")
