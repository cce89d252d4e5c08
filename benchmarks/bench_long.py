"""Long recordings: speed and peak memory of `cocktail separate` on an hour of audio.

usage: python benchmarks/bench_long.py SPEECH_DIR [--minutes 60] [--mics 8] [--rate 48000]
                                        [--model instantaneous|convolutive] [--sources N]
                                        [--array SPACING] [--workdir DIR] [--markdown FILE]

Builds a recording of the given length from the speech clips in SPEECH_DIR
(16-bit PCM: an hour of 8 channels at 48 kHz is 2.8 GB on disk), then runs
`cocktail separate` on it as a child process and reports wall time, the
speed as a multiple of real time, and the child's peak resident memory.
The instantaneous recording is x = A s; the room recording convolves each
source with a decaying random impulse response per microphone (150 ms), so
the mixture has echoes like a small room. With ``--array SPACING`` the
room recording is instead a compact array: a line of microphones SPACING
metres apart in a simulated room of RT60 0.3 s (:mod:`cocktail.room`),
which hears each talker in more than one spatial pattern, so the room model
separates into one output per microphone and sums each talker's (its most
memory-hungry path). The recording is kept in
--workdir and reused when it already exists. Prints one Markdown row;
``--markdown FILE`` appends it to FILE (with the table's header when FILE
is new), so that several runs make the README's table.
"""

import argparse
import os
import subprocess
import sys
import time
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import oaconvolve, resample_poly

from cocktail.room import room_responses


def load_speech(folder, rate):
    clips = []
    for p in sorted(Path(folder).glob("*.wav")):
        x, sr = sf.read(p, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        if sr != rate:
            g = gcd(sr, rate)
            x = resample_poly(x, rate // g, sr // g)
        clips.append(x / (x.std() + 1e-12))
    if not clips:
        raise SystemExit(f"no .wav files in {folder}")
    return clips


def source_stream(clips, rng, n):
    """n samples of one speaker: random clips one after another."""
    out = np.empty(n)
    pos = 0
    while pos < n:
        c = clips[rng.integers(len(clips))]
        k = min(len(c), n - pos)
        out[pos : pos + k] = c[:k]
        pos += k
    return out


#: The compact array's room (``--array``): reverberation time in seconds.
ARRAY_RT60 = 0.3


def build(path, clips, *, seconds, mics, sources, rate, model, spacing=None, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((mics, sources))
    if spacing is None:
        taps = int(0.15 * rate)
        decay = np.exp(-np.arange(taps) / (0.03 * rate))
        H = rng.standard_normal((mics, sources, taps)) * decay
        H[:, :, 0] += 3.0  # a direct path
    else:
        H = room_responses(sources, mics, ARRAY_RT60, rate, spacing=spacing, seed=seed)[0]
        H = H / np.abs(H).max()
        taps = H.shape[2]
    block = 60 * rate
    tail = np.zeros((mics, taps - 1))
    gain = 0.05 / np.sqrt(sources)
    with sf.SoundFile(path, "w", rate, mics, subtype="PCM_16") as f:
        for start in range(0, int(seconds * rate), block):
            n = min(block, int(seconds * rate) - start)
            S = np.stack([source_stream(clips, rng, n) for _ in range(sources)])
            if model == "instantaneous":
                X = A @ S
            else:
                full = np.zeros((mics, n + taps - 1))
                for m in range(mics):
                    for s in range(sources):
                        full[m] += oaconvolve(S[s], H[m, s])
                full[:, : taps - 1] += tail
                X, tail = full[:, :n], full[:, n:]
            f.write(np.clip(gain * X, -1, 1).T)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("speech")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--mics", type=int, default=8)
    ap.add_argument("--sources", type=int, default=None)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--model", choices=["instantaneous", "convolutive"], default="instantaneous")
    ap.add_argument(
        "--array",
        type=float,
        metavar="SPACING",
        help="a compact line array, microphones SPACING m apart, in a simulated room (room model)",
    )
    ap.add_argument("--workdir", default="bench-long")
    ap.add_argument("--markdown", metavar="FILE", help="append the row here")
    a = ap.parse_args()
    sources = a.sources or (a.mics if a.model == "instantaneous" else a.mics // 2)
    if a.array is not None and a.model != "convolutive":
        ap.error("--array needs --model convolutive")
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    array = "" if a.array is None else f"_array{a.array:g}"
    path = work / f"{a.model}_{a.minutes:g}min_{a.mics}x{sources}_{a.rate}{array}.wav"
    if not path.exists():
        t = time.perf_counter()
        build(
            path,
            load_speech(a.speech, a.rate),
            seconds=a.minutes * 60,
            mics=a.mics,
            sources=sources,
            rate=a.rate,
            model=a.model,
            spacing=a.array,
        )
        print(
            f"built {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s"
        )
    exe = os.environ.get("COCKTAIL") or str(Path(sys.executable).with_name("cocktail"))
    cmd = [
        exe,
        "separate",
        str(path),
        "-o",
        str(work / "out"),
        "--model",
        a.model,
        "--sources",
        str(sources),
        "-q",
    ]
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_mb = 0.0
    # The child's own high-water mark (ru_maxrss would also count the pages
    # this process had when it forked the child).
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_mb = max(peak_mb, int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(p.stderr.read())
    audio_s = a.minutes * 60
    model = "room" if a.model == "convolutive" else a.model
    if a.array is not None:
        model += f", compact array ({a.array * 100:g} cm apart)"
    speed = audio_s / wall
    speed = f"{speed:.0f}" if speed >= 10 else f"{speed:.1f}"
    row = (
        f"| {model} | {a.minutes:g} min, {a.mics} mics, {sources} speakers, "
        f"{a.rate / 1000:g} kHz | "
        f"{wall:.0f} s | {speed}x real time | {peak_mb:.0f} MB |"
    )
    print(row)
    if a.markdown:
        md = Path(a.markdown)
        head = (
            ""
            if md.exists()
            else (
                "| model | recording | wall time | speed | peak memory |\n|---|---|---|---|---|\n"
            )
        )
        with md.open("a") as f:
            f.write(head + row + "\n")


if __name__ == "__main__":
    main()
