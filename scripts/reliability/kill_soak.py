#!/usr/bin/env python3
"""kill -9 soak (issue 25, item 5): start a small `amalgam train` or `amalgam merge`, SIGKILL it
at a random moment, check what it left, resume it with --resume, and repeat until a run finishes;
then compare its outputs with an uninterrupted run's, byte for byte. Repeats whole campaigns
until at least --kills SIGKILLs have been sent.

    python3 scripts/reliability/kill_soak.py train --kills 100 [--binary .build/release/amalgam] [--out DIR]
    python3 scripts/reliability/kill_soak.py merge --kills 100

After every kill: each checkpoint present must load strictly (`amalgam evaluate` of the model
checkpoints; the training state through the next --resume, which refuses a damaged or mismatched
file), and no partial file may stand under a final name (atomic writes: a temporary name, then
rename). Kills that find a temporary file of an unfinished write are counted: they landed during
a checkpoint write. Writes OUT/<command>.json with every kill (time, what was on disk) and the
verdict. Fashion-MNIST (real data; small subsets keep each run to seconds).
"""
import argparse, glob, hashlib, json, os, random, shutil, signal, subprocess, sys, time

COMMANDS = {
    # 12 epochs of an MLP on 1,024 images: a checkpoint at every epoch end.
    "train": lambda out: ["train", "--model", "mlp", "--epochs", "12", "--train-limit", "1024", "--batch-size", "64",
                          "--seed", "3", "--threads", "1", "--quiet", "--out", out],
    # The merge pipeline on an MLP (teachers, gates, fine-tuning, baselines), budget 6 epochs on 1,024 images.
    "merge": lambda out: ["merge", "--model", "mlp", "--budget-epochs", "6", "--train-limit", "1024", "--seeds", "0",
                          "--strategies", "merged,long,best_of_3", "--threads", "1", "--quiet", "--out", out],
}
# Outputs whose bytes must equal the uninterrupted run's (times and machine facts excluded).
VOLATILE_KEYS = {"seconds", "train_seconds", "trainSeconds", "wall_seconds", "time", "threads", "blas_core", "date", "elapsed",
                 "teacher_seconds", "merge_seconds", "total_seconds", "selection_seconds"}


def strip(value, directory):
    """JSON without times, with the run's own directory written DIR and without --resume."""
    if isinstance(value, dict):
        return {k: strip(v, directory) for k, v in value.items() if k not in VOLATILE_KEYS and not k.endswith("_seconds") and not k.endswith("Seconds")}
    if isinstance(value, list):
        return [strip(v, directory) for v in value]
    if isinstance(value, str):
        return value.replace(directory, "DIR").replace(" --resume", "")  # the recorded command line
    return value


def fingerprint(directory):
    """Digest of every file: safetensors and other binaries by bytes, JSON/JSONL without times."""
    out = {}
    for path in sorted(glob.glob(directory + "/**/*", recursive=True)):
        if os.path.isdir(path) or "/." in path[len(directory):]:
            continue
        rel = os.path.relpath(path, directory)
        if rel.endswith("training-state.safetensors") or rel.endswith("-state.safetensors"):
            continue  # resumable state is removed or kept depending on when the run ended; the models are compared
        data = open(path, "rb").read()
        if rel.endswith(".json"):
            data = json.dumps(strip(json.loads(data), directory), sort_keys=True).encode()
        elif rel.endswith(".jsonl"):
            data = b"\n".join(json.dumps(strip(json.loads(l), directory), sort_keys=True).encode() for l in data.splitlines() if l.strip())
        elif rel.endswith((".svg", ".txt", ".md", ".csv")):
            continue  # renderings of the JSON
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def safetensors_problem(path):
    """None if `path` is a whole safetensors file (header parses, tensors tile the data exactly)."""
    import struct
    data = open(path, "rb").read()
    if len(data) < 8:
        return "shorter than its header length"
    n = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8:8 + n])
    except Exception:
        return "header is not JSON"
    end = max([v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"] or [0])
    return None if 8 + n + end == len(data) else f"data section is {len(data) - 8 - n} bytes, tensors need {end}"


def check_disk(binary, directory, command):
    """What a kill left: temporary files of unfinished writes (counted); every file under a final
    name must be whole, and train's model checkpoint must load strictly (`amalgam evaluate`)."""
    temps = glob.glob(directory + "/**/.*.tmp-*", recursive=True)
    problems = []
    for path in glob.glob(directory + "/**/*.safetensors", recursive=True):
        why = safetensors_problem(path)
        if why:
            problems.append(f"{path}: {why}")
    model = directory + "/model.safetensors"
    if command == "train" and os.path.exists(model):
        r = subprocess.run([binary, "evaluate", "--checkpoint", model, "--threads", "1", "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"{model}: {r.stderr.strip()}")
    return temps, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=sorted(COMMANDS))
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--binary", default=".build/release/amalgam")
    ap.add_argument("--out", default="docs/reliability/soak")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    rng = random.Random(a.seed)
    work = f"/tmp/amalgam-soak-{a.command}"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.makedirs(a.out, exist_ok=True)

    # The uninterrupted reference, timed: kills are drawn over its duration.
    ref = work + "/reference"
    t0 = time.time()
    r = subprocess.run([binary] + COMMANDS[a.command](ref), capture_output=True, text=True)
    duration = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"reference run failed: {r.stderr}")
    reference = fingerprint(ref)
    print(f"reference: {duration:.1f} s, {len(reference)} files compared", flush=True)

    kills, campaigns, failures = [], [], []
    while len(kills) < a.kills:
        run = f"{work}/run{len(campaigns)}"
        attempts = 0
        while True:
            args = [binary] + COMMANDS[a.command](run) + (["--resume"] if attempts > 0 else [])
            attempts += 1
            delay = rng.uniform(0.02, duration * 0.8)
            # Every other attempt aims at a checkpoint write: watch the directory and kill the
            # moment a temporary file appears (within a millisecond), after a random number of writes.
            aim_at_write = attempts % 2 == 0
            skip_writes = rng.randrange(3)
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                if aim_at_write:
                    seen, deadline = set(), time.time() + duration * 2
                    while p.poll() is None and time.time() < deadline:
                        temps = set(glob.glob(run + "/**/.*.tmp-*", recursive=True))
                        if temps - seen:
                            seen |= temps
                            if skip_writes == 0:
                                raise subprocess.TimeoutExpired(args, 0)
                            skip_writes -= 1
                        time.sleep(0.0005)
                    delay = round(time.time() - deadline + duration * 2, 3)
                    if p.poll() is not None:
                        raise StopIteration
                    raise subprocess.TimeoutExpired(args, 0)
                p.wait(timeout=delay)
            except StopIteration:
                p.wait()
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                temps, problems = check_disk(binary, run, a.command)
                mine = [t for t in temps if t.endswith(f".tmp-{p.pid}")]  # this process's unfinished write (older ones are swept by the next write)
                kills.append({"campaign": len(campaigns), "attempt": attempts, "aimed_at_a_write": aim_at_write, "after_s": round(delay, 3),
                              "temporary_files": len(mine), "stale_temporary_files": len(temps) - len(mine), "problems": problems})
                failures += problems
                if len(kills) % 10 == 0:
                    print(f"{len(kills)} kills ({sum(k['temporary_files'] > 0 for k in kills)} during a write)", flush=True)
                if attempts > 500:
                    failures.append(f"campaign {len(campaigns)}: no progress after 500 attempts")
                    break
                continue
            if p.returncode != 0:
                failures.append(f"campaign {len(campaigns)} attempt {attempts}: exit {p.returncode}: {p.stderr.read().strip()}")
            break
        got = fingerprint(run)
        differing = sorted(k for k in set(reference) | set(got) if reference.get(k) != got.get(k))
        litter = glob.glob(run + "/**/.*.tmp-*", recursive=True)
        campaigns.append({"campaign": len(campaigns), "attempts": attempts, "kills": attempts - 1, "identical": not differing, "differing": differing,
                          "temporary_files_left": len(litter)})
        if differing:
            failures.append(f"campaign {len(campaigns) - 1}: outputs differ from the uninterrupted run: {differing}")
        print(f"campaign {len(campaigns) - 1}: {attempts - 1} kills, {'identical' if not differing else 'DIFFERENT: ' + ', '.join(differing)}", flush=True)

    result = {"command": " ".join(["amalgam"] + COMMANDS[a.command]("DIR")), "reference_seconds": round(duration, 1),
              "kills": len(kills), "kills_during_a_write": sum(k["temporary_files"] > 0 for k in kills),
              "campaigns": len(campaigns), "identical_campaigns": sum(c["identical"] for c in campaigns),
              "temporary_files_left_after_completion": sum(c["temporary_files_left"] for c in campaigns),
              "failures": failures, "per_campaign": campaigns, "per_kill": kills}
    with open(f"{a.out}/{a.command}.json", "w") as f:
        json.dump(result, f, indent=1)
    print(f"{len(kills)} kills ({result['kills_during_a_write']} during a write), {result['identical_campaigns']} of {len(campaigns)} campaigns identical to the uninterrupted run, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
