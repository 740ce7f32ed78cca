"""Golden values for AmalgamAudioTests from librosa (0.11) and soxr.

Run: python3 -m venv /tmp/venv-audio && /tmp/venv-audio/bin/pip install librosa numpy
     /tmp/venv-audio/bin/python scripts/reference/make_audio_fixtures.py Tests/AmalgamAudioTests/Fixtures

The input is a synthetic test signal (sines, a chirp and seeded noise; unit tests only).
Every array is written as little-endian float32 .npy.
"""
import sys, os, json
import numpy as np
import librosa

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
sr = 22050
n = 11025 + 37          # not a multiple of the hop
t = np.arange(n) / sr
rng = np.random.default_rng(0)
y = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1870 * t)
     + 0.2 * np.sin(2 * np.pi * (300 + 4000 * t) * t) + 0.02 * rng.standard_normal(n)).astype(np.float32)

def save(name, a):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a, dtype="<f4"))

save("signal", y)
S = librosa.stft(y, n_fft=1024, hop_length=256, win_length=1024, window="hann", pad_mode="constant")
save("stft_magnitude", np.abs(S))
S2 = librosa.stft(y, n_fft=512, hop_length=128, win_length=400, window="hann", center=True, pad_mode="reflect")
save("stft_reflect_magnitude", np.abs(S2))
save("istft", librosa.istft(S, hop_length=256, win_length=1024, window="hann", length=n))
basis = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=80, fmin=80, fmax=7600)
save("mel_basis", basis)
save("mel_basis_16k", librosa.filters.mel(sr=16000, n_fft=512, n_mels=40))
# FastDiff's conditioning (data_gen/tts/data_gen_utils.py, process_utterance): log10(max(1e-6, M |S|))
save("logmel", np.log10(np.maximum(1e-6, basis @ np.abs(S))))
save("resampled_16000", librosa.resample(y, orig_sr=sr, target_sr=16000, res_type="soxr_hq"))
save("resampled_48000", librosa.resample(y, orig_sr=sr, target_sr=48000, res_type="soxr_hq"))
with open(os.path.join(out, "audio_fixtures.json"), "w") as f:
    json.dump({"librosa": librosa.__version__, "numpy": np.__version__, "sample_rate": sr, "samples": n}, f, indent=1)
print("wrote", out)
