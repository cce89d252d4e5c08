"""Build benchmark mixtures from a folder of real recordings.

usage: python benchmarks/cases.py DATA OUT [--seed S]

DATA holds speech/*.wav (16 kHz mono speech; names containing "music" are
music) and, for the room cases, rir/*source<k>*.wav (one multi-channel
impulse response per source position, channel m = microphone m). Each case is
a folder with mix.wav (one channel per microphone), refs.wav (the sources for
instantaneous cases; each source as heard at microphone 1 for room cases) and
meta.json.
"""
import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

SECONDS = 10


def clip(path, rate, seconds=SECONDS):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    if sr != rate:
        raise SystemExit(f"{path}: expected {rate} Hz, found {sr}")
    x = x.mean(axis=1)
    n = int(seconds * rate)
    x = np.resize(x, n) if len(x) < n else x[:n]  # loop short clips
    return x / (x.std() + 1e-12)


def save(out, name, mix, refs, rate, **meta):
    d = Path(out) / name
    d.mkdir(parents=True, exist_ok=True)
    g = 0.9 / np.abs(mix).max()
    sf.write(d / "mix.wav", (g * mix).T.astype(np.float32), rate, subtype="FLOAT")
    sf.write(d / "refs.wav", (g * refs).T.astype(np.float32), rate, subtype="FLOAT")
    meta.update(n_src=refs.shape[0], n_mic=mix.shape[0], sr=rate)
    (d / "meta.json").write_text(json.dumps(meta, indent=1))
    print(d)


def instantaneous(out, name, files, n_mic, rng, rate, A=None):
    S = np.stack([clip(f, rate) for f in files])
    if A is None:
        A = rng.standard_normal((n_mic, len(files)))
    save(out, name, A @ S, S, rate, kind="instantaneous", A=np.asarray(A).tolist(),
         sources=[Path(f).name for f in files])


def room(out, name, files, rirs, rate):
    """rirs: (n_mic, n_src, taps); references are the images at microphone 1."""
    S = np.stack([clip(f, rate) for f in files])
    n = S.shape[1]
    images = np.array([[fftconvolve(s, h)[:n] for s, h in zip(S, row)] for row in rirs])
    save(out, name, images.sum(axis=1), images[0], rate, kind="convolutive",
         sources=[Path(f).name for f in files])


def measured(rir_files, mics):
    hs = [sf.read(f, dtype="float64", always_2d=True)[0] for f in rir_files]
    taps = max(len(h) for h in hs)
    return np.array([[np.pad(h[:, m], (0, taps - len(h))) for h in hs] for m in mics])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    data = Path(a.data)
    rng = np.random.default_rng(a.seed)
    speech = sorted(p for p in (data / "speech").glob("*.wav") if "music" not in p.name)
    music = sorted((data / "speech").glob("*music*.wav"))
    rate = sf.info(speech[0]).samplerate
    pick = lambda k: [speech[i] for i in rng.choice(len(speech), k, replace=False)]
    instantaneous(a.out, "inst_2x2", pick(2), 2, rng, rate)
    instantaneous(a.out, "inst_3x3", pick(3), 3, rng, rate)
    instantaneous(a.out, "inst_4x4", pick(4), 4, rng, rate)
    instantaneous(a.out, "inst_6x6", pick(6), 6, rng, rate)
    instantaneous(a.out, "inst_4mic_2src", pick(2), 4, rng, rate)
    instantaneous(a.out, "inst_illcond", pick(2), 2, rng, rate, A=[[1.0, 0.95], [0.95, 1.0]])
    if music:
        instantaneous(a.out, "inst_speech_music", pick(2) + music[:1], 3, rng, rate)
    rir_files = sorted((data / "rir").glob("*.wav"), key=lambda p: [int(t) if t.isdigit() else t
                                                                      for t in re.split(r"(\d+)", p.name)])
    if len(rir_files) >= 3:
        room(a.out, "office_2x2", pick(2), measured(rir_files[:2], [0, 8]), rate)
        room(a.out, "office_3x3", pick(3), measured(rir_files[:3], [0, 8, 16]), rate)
    else:
        print("no impulse responses found: room cases skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
