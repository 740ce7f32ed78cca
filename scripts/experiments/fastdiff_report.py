#!/usr/bin/env python3
"""Tables and pictures of docs/results/fastdiff.md (issue 33) from the study's raw outputs.

Copies the raw outputs of scripts/experiments/fastdiff.sh (RUN, default runs/fastdiff) into
docs/results/fastdiff/ (config, training metrics, φ's losses, the searched schedule, every
reconstruction row, a few WAV samples; not the 61 MB weights), then prints:

1. per set and method: log-mel L1 and multi-resolution STFT error, mean over clips of each
   clip's mean over the 3 sampling seeds, ± the std over seeds of the set mean; the real-time
   factor (sum of seconds / sum of audio seconds, 2 threads) per seed, mean ± std;
2. paired differences per clip (seed-averaged) with a 95 % t interval: FastDiff 4 steps against
   Griffin-Lim, the searched 4-step schedule against the shipped one, 6 against 4 steps;
3. spectrogram pictures (reference, FastDiff-4, Griffin-Lim) of one clip per set, PNG.

usage: /tmp/venv-audio/bin/python scripts/experiments/fastdiff_report.py [RUN] [DEST]
(needs numpy, scipy, librosa, matplotlib)
"""
import json, os, shutil, sys, glob
import numpy as np
from scipy import stats

RUN = sys.argv[1] if len(sys.argv) > 1 else "runs/fastdiff"
D = sys.argv[2] if len(sys.argv) > 2 else "docs/results/fastdiff"
os.makedirs(D + "/audio", exist_ok=True)
for f in ["model/config.json", "model/metrics.jsonl", "model/result.json", "model/schedule_net_losses.jsonl", "schedule-4.json", "eval/rows.jsonl"]:
    if os.path.exists(os.path.join(RUN, f)):
        shutil.copy(os.path.join(RUN, f), os.path.join(D, os.path.basename(f)))

rows = [json.loads(l) for l in open(os.path.join(D, "rows.jsonl")) if l.strip()]
sets = ["real-alsa", "real-call", "synthetic-test"]
methods = sorted({r["method"] for r in rows}, key=lambda m: (m.startswith("griffin"), len(m), m))


def per_clip(set_, method, key):
    """{clip: mean over seeds}"""
    d = {}
    for r in rows:
        if r["set"] == set_ and r["method"] == method:
            d.setdefault(r["clip"], []).append(r[key])
    return {c: float(np.mean(v)) for c, v in d.items()}


def seed_means(set_, method, key):
    d = {}
    for r in rows:
        if r["set"] == set_ and r["method"] == method:
            d.setdefault(r["seed"], []).append(r[key])
    return [float(np.mean(v)) for _, v in sorted(d.items())]


def rtf(set_, method):
    d = {}
    for r in rows:
        if r["set"] == set_ and r["method"] == method:
            s = d.setdefault(r["seed"], [0.0, 0.0]); s[0] += r["seconds"]; s[1] += r["audio_seconds"]
    return [a / b for a, b in d.values()]


def pm(v, digits=3):
    v = list(v)
    if len(v) > 1:
        return f"{np.mean(v):.{digits}f} ± {np.std(v, ddof=1):.{digits}f}"
    return f"{np.mean(v):.{digits}f}" if v else "–"


print("## 1. Reconstruction of held-out speech from its mel\n")
print("| set | method | clips | seeds | log-mel L1 | MR-STFT | real-time factor |")
print("|---|---|---:|---:|---|---|---|")
for s in sets:
    for m in methods:
        c = per_clip(s, m, "log_mel_l1")
        if not c:
            continue
        seeds = seed_means(s, m, "log_mel_l1")
        l1 = pm(seed_means(s, m, "log_mel_l1")) if len(seeds) > 1 else f"{np.mean(list(c.values())):.3f}"
        mr = pm(seed_means(s, m, "mr_stft")) if len(seeds) > 1 else f"{np.mean(list(per_clip(s, m, 'mr_stft').values())):.3f}"
        print(f"| {s} | {m} | {len(c)} | {len(seeds)} | {l1} | {mr} | {pm(rtf(s, m))} |")

print("\n## 2. Paired differences (per clip, seed-averaged; negative = first is better)\n")
print("| set | comparison | metric | clips | mean difference | 95 % interval |")
print("|---|---|---|---:|---|---|")
pairs = [("fastdiff-4", "griffin-lim-60"), ("fastdiff-schedule-4", "fastdiff-4"), ("fastdiff-6", "fastdiff-4")]
for s in sets:
    for a, b in pairs:
        for key in ["log_mel_l1", "mr_stft"]:
            ca, cb = per_clip(s, a, key), per_clip(s, b, key)
            common = sorted(set(ca) & set(cb))
            if len(common) < 2:
                continue
            d = np.array([ca[k] - cb[k] for k in common])
            h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            print(f"| {s} | {a} − {b} | {key} | {len(d)} | {d.mean():+.3f} | [{d.mean() - h:+.3f}, {d.mean() + h:+.3f}] |")

# Training curve and φ.
met = [json.loads(l) for l in open(os.path.join(D, "metrics.jsonl"))]
print("\n## 3. Training\n")
for m in met[:: max(1, len(met) // 7)] + [met[-1]]:
    print(f"epoch {m['epoch']}: train ε-loss {m['train_loss']:.4f}, validation {m.get('test_loss', float('nan')):.4f}")
res = json.load(open(os.path.join(D, "result.json")))
print(f"steps {res['steps']}, {res['seconds']:.0f} s, {res['parameters']} parameters, {res['train_clips']} clips / {res['train_audio_seconds'] / 60:.1f} min")
if os.path.exists(os.path.join(D, "schedule-4.json")):
    sch = json.load(open(os.path.join(D, "schedule-4.json")))
    print(f"searched schedule: {sch['betas']} (a_N {sch['alpha_N']:.3f}, β_N {sch['beta_N']:.2f}), "
          f"validation log-mel L1 {sch['validation_log_mel_l1']:.3f}, {len(sch['candidates'])} candidates, lengths {sch['lengths_found']}, {sch['search_seconds']:.0f} s")

# Samples and spectrograms.
S = os.environ.get("AMALGAM_SPEECH", os.path.expanduser("~/.local/share/amalgam/speech"))
try:
    import librosa, matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("spectrograms need librosa and matplotlib")
for s in sets:
    wavs = sorted(glob.glob(os.path.join(RUN, "eval", f"{s}-*-seed0.wav")))
    if not wavs:
        continue
    first = sorted({os.path.basename(w).split("-fastdiff")[0].split("-griffin")[0] for w in wavs})[0]
    clip = first[len(s) + 1:]
    ref_path = os.path.join(S, s, clip + ".wav")
    panels = [("reference", ref_path)] + [(m, os.path.join(RUN, "eval", f"{first}-{m}-seed0.wav")) for m in ["fastdiff-4", "fastdiff-schedule-4", "fastdiff-1000", "griffin-lim-60"]]
    panels = [(n, p) for n, p in panels if os.path.exists(p)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3), sharey=True)
    for ax, (name, p) in zip(axes, panels):
        y, sr = librosa.load(p, sr=22050)
        M = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=80, fmin=80, fmax=7600, power=1.0)
        ax.imshow(np.log10(np.maximum(M, 1e-5)), origin="lower", aspect="auto", vmin=-5, vmax=1.5, cmap="magma")
        ax.set_title(name, fontsize=9); ax.set_xlabel("frame")
        if name != "reference":
            shutil.copy(p, os.path.join(D, "audio", os.path.basename(p)))
        else:
            y16, _ = librosa.load(p, sr=22050)
            import soundfile  # librosa depends on it
            soundfile.write(os.path.join(D, "audio", f"{s}-{clip}-reference.wav"), y16, 22050, subtype="PCM_16")
    axes[0].set_ylabel("mel band")
    fig.suptitle(f"{s} / {clip}: log-mel spectrograms", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(D, f"spectrogram-{s}.png"), dpi=90)
    plt.close(fig)
print("\nwrote", D)
