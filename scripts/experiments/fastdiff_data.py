"""Speech for the FastDiff experiments (issue 33), written to $AMALGAM_SPEECH
(default ~/.local/share/amalgam/speech):

  synthetic-train/  espeak-ng speech (SYNTHETIC) of Austen sentences from five novels
  synthetic-val/    espeak-ng speech of Persuasion's first sentences (validation: schedule search)
  synthetic-test/   espeak-ng speech of later Persuasion sentences (held-out text)
  real-alsa/        the eight recorded voice clips of Debian's alsa-utils (48 kHz; Noise.wav left out)
  real-call/        pyannote-audio's sample.wav (a real two-speaker call, 16 kHz) cut into 5 s pieces

espeak-ng writes 22,050 Hz 16-bit mono. Voices cycle deterministically over five English
accents and 13 voice variants, at 150–185 words per minute. Needs: espeak-ng, alsa-utils,
the Austen text (scripts/setup-austen.sh) and the pyannote-audio wheel (pip download).
Usage: python3 scripts/experiments/fastdiff_data.py [--train N]
"""
import argparse, os, re, subprocess, sys, wave, zipfile, glob, shutil

ap = argparse.ArgumentParser()
ap.add_argument("--train", type=int, default=800)
ap.add_argument("--val", type=int, default=24)
ap.add_argument("--test", type=int, default=24)
args = ap.parse_args()

home = os.path.expanduser("~")
dest = os.environ.get("AMALGAM_SPEECH", os.path.join(home, ".local/share/amalgam/speech"))
austen = os.environ.get("AMALGAM_AUSTEN", os.path.join(home, ".local/share/amalgam/austen"))

def sentences(novel):
    text = open(os.path.join(austen, novel + ".txt"), encoding="utf-8").read()
    text = re.sub(r"\s+", " ", text)
    out = []
    for s in re.split(r"(?<=[.!?])\s+", text):
        s = s.strip().strip('"').strip()
        n = len(s.split())
        if 8 <= n <= 28 and not s.isupper() and "CHAPTER" not in s and "_" not in s:
            out.append(s)
    return out

langs = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029"]
variants = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt"]

def say(text, path, i):
    if os.path.exists(path):
        return
    voice = f"{langs[i % len(langs)]}+{variants[(i // len(langs)) % len(variants)]}"
    speed = 150 + (i * 7) % 36
    tmp = path + ".part"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", tmp, text], check=True)
    os.replace(tmp, path)

def synth(name, sents, offset):
    d = os.path.join(dest, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "transcripts.tsv"), "w") as f:
        for i, s in enumerate(sents):
            say(s, os.path.join(d, f"{i:04d}.wav"), offset + i)
            f.write(f"{i:04d}.wav\t{langs[(offset + i) % len(langs)]}+{variants[((offset + i) // len(langs)) % len(variants)]}\t{s}\n")

train_pool = []
for novel in ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey"]:
    train_pool += sentences(novel)
step = max(1, len(train_pool) // args.train)
synth("synthetic-train", train_pool[::step][: args.train], 0)
pers = sentences("persuasion")
synth("synthetic-val", pers[: args.val], 100_000)
synth("synthetic-test", pers[len(pers) // 2: len(pers) // 2 + args.test], 200_000)

alsa = os.path.join(dest, "real-alsa")
os.makedirs(alsa, exist_ok=True)
for p in sorted(glob.glob("/usr/share/sounds/alsa/*.wav")):
    if os.path.basename(p) != "Noise.wav":
        shutil.copy(p, alsa)

wheel = sorted(glob.glob("/tmp/pa/pyannote_audio-*.whl"))
if not wheel:
    sys.exit("pyannote-audio wheel missing: pip download --no-deps pyannote-audio -d /tmp/pa")
call = os.path.join(dest, "real-call")
os.makedirs(call, exist_ok=True)
with zipfile.ZipFile(wheel[-1]) as z:
    data = z.read("pyannote/audio/sample/sample.wav")
open(os.path.join(dest, "sample.wav"), "wb").write(data)
with wave.open(os.path.join(dest, "sample.wav")) as w:
    rate, width, ch = w.getframerate(), w.getsampwidth(), w.getnchannels()
    frames = w.readframes(w.getnframes())
piece = 5 * rate * width * ch
for k in range(len(frames) // piece):
    with wave.open(os.path.join(call, f"call-{k:02d}.wav"), "wb") as o:
        o.setnchannels(ch); o.setsampwidth(width); o.setframerate(rate)
        o.writeframes(frames[k * piece:(k + 1) * piece])
print("wrote", dest)
