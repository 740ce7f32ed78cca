"""The runs of a coreset sweep (scripts/experiments/coreset_sweep.sh), for the report scripts."""
import glob
import json
import os


def load(root):
    """({(method, fraction): {seed: summary}} of the finished runs, {(method, fraction): [seed]} of
    the runs that stopped with an error (failed.txt instead of summary.json)), in glob order."""
    runs, failed = {}, {}
    for name, into in (("summary.json", runs), ("failed.txt", failed)):
        for path in glob.glob(os.path.join(root, "f*", "*", "seed*", name)):
            parts = path.split(os.sep)
            key, seed = (parts[-3], float(parts[-4][1:])), int(parts[-2][4:])
            if into is runs:
                runs.setdefault(key, {})[seed] = json.load(open(path))
            else:
                failed.setdefault(key, []).append(seed)
    return runs, failed
