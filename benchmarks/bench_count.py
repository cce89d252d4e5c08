"""How often `--sources auto` finds the right number of speakers.

usage: python benchmarks/bench_count.py SPEECH_DIR [CASE_DIR...] [--trials 3]
                                        [--rir DIR] [--linear K] [--markdown FILE]

Instantaneous mixtures: real recordings from SPEECH_DIR (16 kHz mono WAVs,
speech and music), 8 s each, 2 to 6 of them at random levels (0 to -10 dB)
mixed by random matrices into N to 8 microphones, clean or with white sensor
noise at 40 or 20 dB SNR, as float or as 16-bit audio; ``--trials`` draws of
each. Room recordings: the CASE_DIRs (mix.wav, meta.json with ``n_src``, as
``benchmarks/cases.py`` writes them, or folders of them), counted as
``cocktail separate`` does; and, with rooms given, one talker alone in
simulated rooms of RT60 0.2, 0.4 and 0.6 s with two microphones. With
``--rir DIR`` (measured office responses, office_source*.wav), compact arrays
too: 4 to 8 neighbouring microphones of those responses, 3 or 6 cm apart,
and a simulated room's 4 microphones 3 cm apart. With ``--linear K``, K
simulated rooms (cocktail.room) with a line of as many microphones as
talkers, and K with more.
Prints (and with ``--markdown`` also writes) the Markdown tables for the
README: right / too many / too few, then the room cases one by one (folded
in a <details> element) with a summary under them.
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from cocktail.bss.counting import count_instantaneous
from cocktail.separation import Options, count_sources, resolve_sources

SECONDS = 8
RATE = 16000


def load(folder):
    out = []
    for f in sorted(Path(folder).glob("*.wav")):
        x, rate = sf.read(f, dtype="float64")
        if rate != RATE or x.ndim != 1:
            continue
        x = np.resize(x, SECONDS * RATE) if len(x) < SECONDS * RATE else x[: SECONDS * RATE]
        out.append(x / x.std())
    return np.array(out)


def instantaneous(S, trials):
    rng = np.random.default_rng(0)
    tally = defaultdict(lambda: [0, 0, 0])
    for _ in range(trials):
        for n in range(2, 7):
            for m in range(n, 9):
                for snr in (None, 40, 20):
                    for bits in (None, 16):
                        pick = S[rng.choice(len(S), n, replace=False)]
                        X = rng.standard_normal((m, n)) @ (
                            pick * 10 ** (rng.uniform(-10, 0, n) / 20)[:, None]
                        )
                        if snr is not None:
                            X += rng.standard_normal(X.shape) * np.sqrt(
                                np.mean(X**2) * 10 ** (-snr / 10)
                            )
                        X *= 0.9 / np.abs(X).max()
                        if bits:
                            X = np.round(X * 2 ** (bits - 1)) / 2 ** (bits - 1)
                        got = count_instantaneous(X).n
                        key = (
                            "clean" if snr is None else f"{snr} dB SNR",
                            "M = N" if m == n else "M > N",
                        )
                        tally[key][0 if got == n else 1 if got > n else 2] += 1
    lines = ["| sensor noise | microphones | right | too many | too few |", "|---|---|---|---|---|"]
    for (noise, mics), (ok, more, fewer) in sorted(tally.items()):
        lines.append(f"| {noise} | {mics} | {ok} | {more} | {fewer} |")
    print("\n".join(lines), flush=True)
    return lines


def rooms(cases):
    lines = [
        "<details><summary>Room counts per case</summary>",
        "",
        "| case | mics | speakers | counted | onset sharpness of the trial outputs "
        "| power correlation with a louder talker | share the louder outputs' power explains "
        "| spatial coherence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines))
    tally = defaultdict(lambda: [0, 0, 0, 0])  # right, too many, too few, unsure
    folders = [Path(c) for c in cases]
    folders = [
        d
        for c in folders
        for d in (
            [c]
            if (c / "meta.json").exists()
            else sorted(p for p in c.iterdir() if (p / "meta.json").exists())
        )
    ]
    for case in folders:
        meta = json.loads((case / "meta.json").read_text())
        if meta["kind"] != "convolutive":
            continue
        X, rate = sf.read(case / "mix.wav", dtype="float64", always_2d=True)
        X = X.T
        upper, _, _ = resolve_sources(X, None)
        counted = count_sources(X, rate, "convolutive", upper, Options())
        sharp = counted.evidence.get("onset_sharpness", [])
        again = counted.evidence.get("power_correlation", [])
        echo = counted.evidence.get("reverberation_explained") or [None] * len(again)
        diffuse = counted.evidence.get("diffuse_explained") or [None] * len(again)
        echo = [d if e is None else e for e, d in zip(echo, diffuse)]
        coherence = counted.evidence.get("spatial_coherence")
        n, m = meta["n_src"], X.shape[0]
        t = tally["M = N" if m == n else "M > N"]
        t[0 if counted.n == n else 1 if counted.n > n else 2] += 1
        t[3] += bool(counted.unsure)
        lines.append(
            f"| {case.parent.name}/{case.name} | {m} | {n} | {counted.n}"
            f"{' (unsure)' if counted.unsure else ''} | {', '.join(f'{v:.2f}' for v in sharp)} | "
            + ", ".join("-" if v is None else f"{v:.2f}" for v in again)
            + " | "
            + ", ".join("-" if v is None else f"{v:.2f}" for v in echo)
            + " | "
            + (", ".join(f"{v:.2f}" for v in coherence) if coherence else "-")
            + " |"
        )
        print(lines[-1], flush=True)
    lines += ["", "</details>", ""]
    for key in ("M = N", "M > N"):
        if key in tally:
            ok, more, fewer, unsure = tally[key]
            lines.append(
                f"- rooms with {key}: right on {ok} of {ok + more + fewer}, too many on {more}, "
                f"too few on {fewer}; {unsure} flagged unsure"
            )
    print("\n".join(lines[-3:]))
    return lines


def single_talker(S, trials):
    """One source (a clip of SPEECH_DIR) in a simulated room (cocktail.room, microphones
    5 cm apart), counted as ``cocktail separate`` counts a room: how often it finds one."""
    from scipy.signal import fftconvolve

    from cocktail.room import room_responses

    rng = np.random.default_rng(1)
    lines = ["| one source alone, 2 microphones | counted 1 | counted 2 |", "|---|---|---|"]
    for rt60 in (0.2, 0.4, 0.6):
        got = [0, 0]
        for k in range(trials):
            s = S[rng.integers(len(S))]
            H = room_responses(1, 2, rt60, RATE, seed=k)[0]
            X = np.array([fftconvolve(s, h[0])[: len(s)] for h in H])
            X *= 0.9 / np.abs(X).max()
            upper, _, _ = resolve_sources(X, None)
            got[count_sources(X, RATE, "convolutive", upper, Options()).n - 1] += 1
        lines.append(f"| RT60 {rt60:g} s | {got[0]} | {got[1]} |")
        print(lines[-1], flush=True)
    return lines


def compact_arrays(S, rir_dir, trials):
    """Talkers heard by a few neighbouring microphones, 3 cm apart, of the
    measured office responses in RIR_DIR (office_source*.wav, one channel per
    microphone), and by a simulated room's 4 microphones 3 cm apart (cocktail.room,
    RT60 0.3 s), counted as ``cocktail separate`` counts a room."""
    from scipy.signal import fftconvolve

    from cocktail.room import room_responses

    rirs = [
        sf.read(f, dtype="float64")[0] for f in sorted(Path(rir_dir).glob("office_source*.wav"))
    ]
    rng = np.random.default_rng(2)
    lines = [
        "| compact array | talkers | microphones | right | too many | too few |",
        "|---|---|---|---|---|---|",
    ]
    for where, n, step, m in [
        ("measured office", 1, 1, 4),
        ("measured office", 2, 1, 4),
        ("measured office", 2, 2, 8),
        ("measured office", 3, 1, 6),
        ("simulated, RT60 0.3 s", 2, 1, 4),
        ("simulated, RT60 0.3 s", 1, 1, 4),
    ]:
        got = [0, 0, 0]
        for k in range(trials):
            pick = S[rng.choice(len(S), n, replace=False)]
            pick = pick * 10 ** (rng.uniform(-6, 0, n) / 20)[:, None]
            if where.startswith("measured"):
                first = rng.integers(2) * 16 + rng.integers(16 - step * (m - 1))
                mics = first + step * np.arange(m)
                talkers_at = rng.choice(len(rirs), n, replace=False)
                H = [[rirs[p][:, c] for p in talkers_at] for c in mics]
            else:
                H = room_responses(n, m, 0.3, RATE, spacing=0.03 * step, seed=k)[0]
            X = np.array([sum(fftconvolve(s, h)[: len(s)] for s, h in zip(pick, row)) for row in H])
            X *= 0.9 / np.abs(X).max()
            upper, _, _ = resolve_sources(X, None)
            c = count_sources(X, RATE, "convolutive", upper, Options()).n
            got[0 if c == n else 1 if c > n else 2] += 1
        ok, more, fewer = got
        lines.append(f"| {where} | {n} | {m}, {3 * step} cm apart | {ok} | {more} | {fewer} |")
        print(lines[-1], flush=True)
    return lines


def linear_arrays(S, draws):
    """Talkers in simulated rooms (cocktail.room) heard by a line of microphones
    3 to 30 cm apart: as many microphones as talkers (2 to 4, RT60 0.3 to 0.8 s,
    the quietest talker 3 to 15 dB down) and more (2 or 3 talkers in 4 to 8
    microphones, RT60 0.2 to 0.7 s, the quietest 0 to 10 dB down), ``draws``
    of each, counted as ``cocktail separate`` counts a room. None of these set
    a margin."""
    from scipy.signal import fftconvolve

    from cocktail.room import room_responses

    rng = np.random.default_rng(3)
    lines = [
        "| simulated linear array | RT60 | right | too many | too few |",
        "|---|---|---|---|---|",
    ]
    tally = defaultdict(lambda: [0, 0, 0])
    for k in range(2 * draws):
        if k < draws:
            n = int(rng.integers(2, 5))
            m, rt60 = n, float(rng.choice([0.3, 0.4, 0.5, 0.6, 0.7, 0.8]))
            quiet = float(rng.choice([-3, -6, -10, -12, -15]))
            family = "M = N"
        else:
            n = int(rng.integers(2, 4))
            m, rt60 = (
                int(rng.choice([4, 5, 6, 8])),
                float(rng.choice([0.2, 0.3, 0.4, 0.5, 0.6, 0.7])),
            )
            quiet = float(rng.choice([0, -3, -6, -10]))
            family = "M > N"
        spacing = float(rng.choice([0.03, 0.05, 0.1, 0.2, 0.3]))
        pick = S[rng.choice(len(S), n, replace=False)]
        pick[-1] = pick[-1] * 10 ** (quiet / 20)
        H = room_responses(n, m, rt60, RATE, spacing=spacing, seed=k)[0]
        X = np.array([sum(fftconvolve(s, h)[: len(s)] for s, h in zip(pick, row)) for row in H])
        X += 1e-4 * X.std() * rng.standard_normal(X.shape)
        X *= 0.9 / np.abs(X).max()
        upper, _, _ = resolve_sources(X, None)
        c = count_sources(X, RATE, "convolutive", upper, Options()).n
        band = "0.2 to 0.4 s" if rt60 <= 0.4 else "0.5 to 0.8 s"
        tally[(family, band)][0 if c == n else 1 if c > n else 2] += 1
        print(
            f"  {family}: {n} talkers, {m} mics {100 * spacing:g} cm apart, RT60 {rt60:g} s, "
            f"quietest {quiet:g} dB: counted {c}",
            flush=True,
        )
    for (family, band), (ok, more, fewer) in sorted(tally.items()):
        lines.append(f"| {family} | {band} | {ok} | {more} | {fewer} |")
    print("\n".join(lines), flush=True)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("speech")
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--rir", metavar="DIR", help="measured office responses for compact arrays")
    ap.add_argument(
        "--linear", type=int, default=0, metavar="K", help="K simulated linear arrays of each kind"
    )
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables here")
    a = ap.parse_args()
    lines = instantaneous(load(a.speech), a.trials)
    if a.cases:
        print()
        lines += [""] + rooms(a.cases)
        print()
        lines += [""] + single_talker(load(a.speech), a.trials)
    if a.rir:
        print()
        lines += [""] + compact_arrays(load(a.speech), a.rir, 2 * a.trials)
    if a.linear:
        print()
        lines += [""] + linear_arrays(load(a.speech), a.linear)
    if a.markdown:
        Path(a.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
