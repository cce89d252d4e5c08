"""Build benchmark mixtures from a folder of real recordings.

usage: python benchmarks/cases.py DATA OUT [--suite standard|field] [--seed S]

DATA holds speech/*.wav (16 kHz mono speech; names containing "music" are
music) and rir/office_source<k>.wav (impulse responses measured in an office
from loudspeaker position k to 32 microphones, channel m = microphone m).
Each case is a folder with mix.wav (one channel per microphone, float32),
refs.wav (the sources for instantaneous cases; each source as heard at
microphone 1 for room cases) and meta.json (``kind``, ``n_src``, ``n_mic``).

The standard suite (12 cases): seven instantaneous mixtures x = A s of 10 s
(2x2, 3x3, 4x4, 6x6, 4 microphones for 2 speakers, an ill-conditioned 2x2,
two speakers and music); two rooms from the measured office responses
(office_2x2, office_3x3); three simulated shoebox rooms, microphones 5 cm
apart (room200ms_2x2, room400ms_2x2, room300ms_3x3).

The field suite (9 cases), closer to what people record: arrays with more
microphones than speakers (4 and 6 of the office's microphones; simulated
compact circles of 4 and 8 microphones), 4 speakers in 4 microphones, 0.6 s
of reverberation, 20 dB of white sensor noise, a 4 s clip, and 48 kHz.

Simulated rooms use pyroomacoustics' image-source method (``pip install -r
benchmarks/requirements.txt``); cocktail itself never needs it. The same
DATA, suite and seed give the same cases.
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

SECONDS = 10
RATE = 16000
SEED = 20261128
ROOM = (6.0, 5.0, 3.0)


def clip(path, seconds=SECONDS):
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    if sr != RATE:
        raise SystemExit(f"{path}: expected {RATE} Hz, found {sr}")
    x = x.mean(axis=1)
    n = int(seconds * RATE)
    x = np.resize(x, n) if len(x) < n else x[:n]  # loop short clips
    return x / (x.std() + 1e-12)


def save(out, name, mix, refs, rate=RATE, **meta):
    d = Path(out) / name
    d.mkdir(parents=True, exist_ok=True)
    g = 0.9 / max(np.abs(mix).max(), 1e-9)
    sf.write(d / "mix.wav", (g * mix).T.astype(np.float32), rate, subtype="FLOAT")
    sf.write(d / "refs.wav", (g * refs).T.astype(np.float32), rate, subtype="FLOAT")
    meta.update(n_src=int(refs.shape[0]), n_mic=int(mix.shape[0]), sr=rate)
    (d / "meta.json").write_text(json.dumps(meta, indent=1))
    return d


def instantaneous(out, name, files, n_mic, rng, A=None):
    S = np.stack([clip(f) for f in files])
    if A is None:
        A = rng.standard_normal((n_mic, len(files)))
    A = np.asarray(A)
    return save(
        out,
        name,
        A @ S,
        S,
        kind="instantaneous",
        A=A.tolist(),
        cond=float(np.linalg.cond(A)),
        sources=[Path(f).name for f in files],
    )


def room(out, name, files, rirs, seconds=SECONDS, rate=RATE, snr_db=None, rng=None):
    """rirs: (n_mic, n_src, taps). References are the images at microphone 1;
    snr_db adds white noise per microphone at that ratio to the mixture."""
    S = np.stack([clip(f, seconds) for f in files])
    if rate != RATE:
        S = resample_poly(S, rate // RATE, 1, axis=1)
    n = S.shape[1]
    images = np.array([[fftconvolve(s, h)[:n] for s, h in zip(S, row)] for row in rirs])
    X = images.sum(axis=1)
    if snr_db is not None:
        noise = rng.standard_normal(X.shape)
        X = X + noise * np.sqrt(np.mean(X**2) / 10 ** (snr_db / 10)) / noise.std()
    return save(
        out,
        name,
        X,
        images[0],
        rate,
        kind="convolutive",
        snr_db=snr_db,
        sources=[Path(f).name for f in files],
    )


def measured(rir_dir, positions, mics):
    """(n_mic, n_src, taps) from rir/office_source<k>.wav."""
    hs = [
        sf.read(Path(rir_dir) / f"office_source{k}.wav", dtype="float64", always_2d=True)[0]
        for k in positions
    ]
    taps = max(len(h) for h in hs)
    return np.array([[np.pad(h[:, m], (0, taps - len(h))) for h in hs] for m in mics])


def simulated(n_src, mics_xyz, rt60, seed, rate=RATE, distance=1.5):
    """Shoebox room 6 x 5 x 3 m (pyroomacoustics), microphones around its centre,
    speakers 1.5 m away spread over -60..60 degrees. (n_mic, n_src, taps)"""
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    e_abs, max_order = pra.inverse_sabine(rt60, ROOM)
    r = pra.ShoeBox(ROOM, fs=rate, materials=pra.Material(e_abs), max_order=max_order)
    centre = np.array([3.0, 2.5, 1.5])
    r.add_microphone_array(centre[:, None] + np.asarray(mics_xyz, dtype=float).T)
    for a in np.deg2rad(np.linspace(-60, 60, n_src) + rng.uniform(-10, 10, n_src)):
        r.add_source(centre + distance * np.array([np.sin(a), np.cos(a), 0.0]))
    return responses(r)


def responses(room):
    """The impulse responses of a pyroomacoustics room, computed and padded to
    one length: (n_mic, n_src, taps)."""
    room.compute_rir()
    n_mic, n_src = len(room.rir), len(room.rir[0])
    taps = max(len(room.rir[m][s]) for m in range(n_mic) for s in range(n_src))
    H = np.zeros((n_mic, n_src, taps))
    for m in range(n_mic):
        for s in range(n_src):
            H[m, s, : len(room.rir[m][s])] = room.rir[m][s]
    return H


def line(n_mic, spacing):
    return [[spacing * (i - (n_mic - 1) / 2), 0.0, 0.0] for i in range(n_mic)]


def circle(n_mic, radius):
    return [
        [radius * np.cos(2 * np.pi * i / n_mic), radius * np.sin(2 * np.pi * i / n_mic), 0.0]
        for i in range(n_mic)
    ]


def positions(rir_dir):
    return sorted(
        int(re.search(r"(\d+)", f.stem).group(1)) for f in Path(rir_dir).glob("office_source*.wav")
    )


def standard(data, out, seed):
    rng = np.random.default_rng(seed)
    speech = sorted(p for p in (data / "speech").glob("*.wav") if "music" not in p.name)
    music = sorted((data / "speech").glob("*music*.wav"))

    def pick(k, rng=rng):
        return [speech[i] for i in rng.choice(len(speech), k, replace=False)]

    made = [
        instantaneous(out, "inst_2x2", pick(2), 2, rng),
        instantaneous(out, "inst_3x3", pick(3), 3, rng),
        instantaneous(out, "inst_4x4", pick(4), 4, rng),
        instantaneous(out, "inst_6x6", pick(6), 6, rng),
        instantaneous(out, "inst_4mic_2src", pick(2), 4, rng),
        instantaneous(out, "inst_illcond", pick(2), 2, rng, A=[[1.0, 0.95], [0.95, 1.0]]),
        instantaneous(out, "inst_speech_music", pick(2) + music[:1], 3, rng),
    ]
    rir = data / "rir"
    k = positions(rir)
    k = [k[0], k[2], k[-1]]
    v = seed % 7
    made += [
        room(out, "office_2x2", pick(2), measured(rir, k[:2], [0, 8])),
        room(out, "office_3x3", pick(3), measured(rir, k, [0, 8, 16])),
        room(out, "room200ms_2x2", pick(2), simulated(2, line(2, 0.05), 0.2, 1 + v)),
        room(out, "room400ms_2x2", pick(2), simulated(2, line(2, 0.05), 0.4, 3 + v)),
        room(out, "room300ms_3x3", pick(3), simulated(3, line(3, 0.05), 0.3, 5 + v)),
    ]
    return made


def field(data, out, seed):
    rng = np.random.default_rng(seed + 1)
    speech = sorted(p for p in (data / "speech").glob("*.wav") if "music" not in p.name)

    def pick(k, rng=rng):
        return [speech[i] for i in rng.choice(len(speech), k, replace=False)]

    rir = data / "rir"
    k = positions(rir)
    o, v = seed % 4, seed % 97  # which microphones of the office's two lines; room seeds
    return [
        room(
            out,
            "office_4mic_2src",
            pick(2),
            measured(rir, [k[0], k[-1]], [o, o + 4, o + 8, o + 12]),
        ),
        room(
            out,
            "office_6mic_3src",
            pick(3),
            measured(rir, [k[0], k[1], k[-1]], [o, o + 4, o + 8, o + 16, o + 20, o + 24]),
        ),
        room(out, "compact4_300ms_2src", pick(2), simulated(2, circle(4, 0.032), 0.3, v + 1)),
        room(out, "compact8_300ms_3src", pick(3), simulated(3, circle(8, 0.05), 0.3, v + 2)),
        room(out, "room250ms_4x4", pick(4), simulated(4, line(4, 0.05), 0.25, v + 3)),
        room(out, "room600ms_2x2", pick(2), simulated(2, line(2, 0.1), 0.6, v + 4)),
        room(
            out,
            "room300ms_2x2_snr20",
            pick(2),
            simulated(2, line(2, 0.08), 0.3, v + 5),
            snr_db=20,
            rng=rng,
        ),
        room(out, "room300ms_2x2_4s", pick(2), simulated(2, line(2, 0.08), 0.3, v + 6), seconds=4),
        room(
            out,
            "room300ms_2x2_48k",
            pick(2),
            simulated(2, line(2, 0.08), 0.3, v + 7, rate=48000),
            rate=48000,
        ),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="folder with speech/ and rir/")
    ap.add_argument("out", help="folder to write the cases into")
    ap.add_argument("--suite", choices=["standard", "field"], default="standard")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    for d in (standard if a.suite == "standard" else field)(Path(a.data), a.out, a.seed):
        print(d)


if __name__ == "__main__":
    main()
