"""The live room model against the batch room model in rooms it was not tuned on.

The benchmark's rooms (``bench_live.py``) share one geometry: a 6 x 5 x 3 m
room, two microphones 5 cm apart at its centre, talkers 1.5 m away.  Here
each of ``--rooms`` two-talker rooms is drawn at random and simulated by
pyroomacoustics (an image-source simulator the live model's settings were
not chosen on): RT60 0.12 to 0.45 s, a room 4 to 8 m long, the two
microphones 3 to 20 cm apart somewhere near its middle, the talkers 0.8 to
2.2 m away at least 20 degrees apart, the second 0 to 6 dB quieter, and on
a quarter of the rooms sensor noise at 20 to 35 dB SNR.  The speech is
recorded (SPEECH_DIR, 16 kHz mono WAVs; two clips per room, repeated to 10
s).  Every room is streamed through a real pipe into ``cocktail separate -
--adaptive -o -`` and separated as a file by the batch room model, both
with the command line's defaults; SDR (BSS Eval, 512-tap distortion filter)
from 3 s on, as ``bench_live.py`` scores it.

    python benchmarks/bench_live_rooms.py SPEECH_DIR [--rooms K] [--seed S]
                                          [--markdown FILE] [--save DIR]

Needs the ``bench`` extra (pyroomacoustics, fast-bss-eval).  Prints a
Markdown table, one row per room, and a summary under it: how many rooms
the live model is within 4 dB of the batch model on (the target set for the
benchmark's rooms), how many it gains 6 dB over microphone 1 on.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live import LINES, batch, images, live_reported, out, sdr, wav_bytes  # noqa: E402
from cases import line, responses  # noqa: E402

try:
    import pyroomacoustics as pra
except ImportError:  # pragma: no cover
    sys.exit("this benchmark needs pyroomacoustics (pip install -e '.[bench]')")

RATE = 16000
SECONDS = 10.0
WITHIN_DB = 4.0  # the live target against the batch model
OVER_MIC_DB = 6.0  # ... and over microphone 1, with two speakers


def load_clips(folder):
    """Every mono 16 kHz clip of ``folder``, at unit power."""
    clips = []
    for f in sorted(Path(folder).glob("*.wav")):
        x, rate = sf.read(f, dtype="float64", always_2d=True)
        if rate == RATE:
            x = x.mean(axis=1)
            clips.append(x / max(float(np.std(x)), 1e-12))
    if len(clips) < 2:
        sys.exit(f"{folder} holds fewer than two 16 kHz clips")
    return clips


def draw_room(rng, clips):
    """One random room: (mixture (2, n), images at microphone 1 (2, n), its description)."""
    rt60 = float(rng.uniform(0.12, 0.45))
    size = np.array([rng.uniform(4.0, 8.0), rng.uniform(3.5, 6.0), rng.uniform(2.5, 3.2)])
    absorption, order = pra.inverse_sabine(rt60, size)
    room = pra.ShoeBox(size, fs=RATE, materials=pra.Material(absorption), max_order=order)
    spacing = float(rng.uniform(0.03, 0.2))
    centre = size / 2 + np.array([rng.uniform(-0.8, 0.8), rng.uniform(-0.6, 0.6), 0.0])
    centre[2] = rng.uniform(1.0, 1.6)
    room.add_microphone_array(centre[:, None] + np.array(line(2, spacing)).T)
    distance = float(rng.uniform(0.8, 2.2))
    angles = np.sort(rng.uniform(-75.0, 75.0, 2))
    while angles[1] - angles[0] < 20.0:
        angles = np.sort(rng.uniform(-75.0, 75.0, 2))
    for a in np.deg2rad(angles):
        p = centre + distance * np.array([np.sin(a), np.cos(a), 0.0])
        p[2] = rng.uniform(1.1, 1.8)
        room.add_source(np.clip(p, 0.3, size - 0.3))
    H = responses(room)
    n = int(SECONDS * RATE)
    quieter = float(rng.uniform(0.0, 6.0))
    S = np.zeros((2, n))
    for i, k in enumerate(rng.choice(len(clips), 2, replace=False)):
        S[i] = np.resize(clips[k], n) * 10 ** (-quieter * i / 20)
    img = images(S, H)
    X, refs = img.sum(axis=1), img[0]
    snr = float(rng.uniform(20.0, 35.0)) if rng.uniform() < 0.25 else None
    if snr is not None:
        X = X + rng.standard_normal(X.shape) * np.std(X) * 10 ** (-snr / 20)
    peak = 0.3 / np.abs(X).max()
    desc = dict(rt60=rt60, spacing=spacing, distance=distance, quieter=quieter, snr=snr)
    return X * peak, refs * peak, desc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("speech", help="folder of mono 16 kHz speech WAVs")
    ap.add_argument("--rooms", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", metavar="FILE", help="also write the table here")
    ap.add_argument(
        "--save", metavar="DIR", help="also write each room as DIR/room_K/{mix,refs}.wav"
    )
    args = ap.parse_args()
    clips = load_clips(args.speech)
    rng = np.random.default_rng(args.seed)
    out(
        "| room | RT60 | mics apart | talkers away | quieter talker | sensor noise | mic 1 "
        "| batch | live | live - batch | live frames |"
    )
    out("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for k in range(args.rooms):
        X, refs, d = draw_room(rng, clips)
        y_live, _, _, report = live_reported(wav_bytes(X, RATE), [])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.save) / f"room_{k + 1}" if args.save else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            sf.write(folder / "mix.wav", X.T, RATE, subtype="FLOAT")
            if args.save:
                sf.write(folder / "refs.wav", refs.T, RATE, subtype="FLOAT")
            y_batch, _ = batch(folder / "mix.wav", [])
        mic = sdr(refs, np.repeat(X[:1], 2, axis=0), RATE)[0]
        s_batch = sdr(refs, y_batch, RATE)[0] if len(y_batch) == 2 else float("nan")
        s_live = sdr(refs, y_live, RATE)[0] if len(y_live) == 2 else float("nan")
        rows.append((mic, s_batch, s_live))
        noise = "-" if d["snr"] is None else f"{d['snr']:.0f} dB SNR"
        frames = report.get("separation_nfft", report.get("nfft"))
        out(
            f"| {k + 1} | {d['rt60']:.2f} s | {100 * d['spacing']:.0f} cm | {d['distance']:.1f} m "
            f"| {d['quieter']:.1f} dB | {noise} | {mic:.1f} | {s_batch:.1f} | {s_live:.1f} "
            f"| {s_live - s_batch:+.1f} | {frames} |"
        )
    mic, s_batch, s_live = (np.array(v) for v in zip(*rows))
    gap = s_live - s_batch
    out(
        f"\n- live within {WITHIN_DB:g} dB of the batch model on {int(np.sum(gap >= -WITHIN_DB))} "
        f"of {len(rows)} rooms (live - batch: mean {np.nanmean(gap):+.1f} dB, from "
        f"{np.nanmin(gap):+.1f} to {np.nanmax(gap):+.1f})"
    )
    out(
        f"- live at least {OVER_MIC_DB:g} dB above microphone 1 on "
        f"{int(np.sum(s_live - mic >= OVER_MIC_DB))} of {len(rows)} rooms"
    )
    out(
        f"- mean SDR: microphone 1 {np.mean(mic):.1f}, batch {np.nanmean(s_batch):.1f}, "
        f"live {np.nanmean(s_live):.1f} dB"
    )
    if args.markdown:
        Path(args.markdown).write_text("\n".join(LINES).strip() + "\n")


if __name__ == "__main__":
    main()
