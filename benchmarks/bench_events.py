"""Sounds that are no talker (a door slam, a cough) in the batch models' cases.

usage: python benchmarks/bench_events.py CASE_DIR... [--before EXE] [--markdown FILE]

Into each case, room or instantaneous (``mix.wav``, ``refs.wav`` as
``benchmarks/cases.py`` writes them) a burst is added 5 s in (in the middle
of a recording too short for that), heard by every
microphone through its own short random response (through a gain of its
own in an instantaneous mixture): a door slam (30 times the
mixture's RMS, 0.3 s, decaying in 50 ms) or a cough (5 times, 0.4 s, a Hann
envelope). ``cocktail separate`` runs with its defaults (the speakers are
counted) on the case as it is and with each sound; ``--before EXE`` runs
another cocktail executable (an earlier release) on the same files. Cells:
the number of speakers written, and SDR in dB (BSS Eval, 512-tap filter,
best permutation; '-' with fewer speakers written than talk) over the
recording without the second around the sound
(from 0.5 s before it to 0.5 s after its end, the same stretch left out of
every column, so that the columns compare).
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_arrays import cocktail_executable, run, sdr  # noqa: E402

AT = 5.0  # seconds into the recording (the middle of one too short for that)
SOUNDS = {
    "door slam": (30.0, 0.3, "decay"),
    "cough": (5.0, 0.4, "hann"),
}
LONGEST = max(seconds for _, seconds, _ in SOUNDS.values())


def sound_at(n_samples, rate):
    """When the sounds start, in seconds: AT, or in the middle of a recording
    too short to hold the longest of them 1 s after AT (the 4 s clip)."""
    length = n_samples / rate
    return AT if length >= AT + LONGEST + 1.0 else (length - LONGEST) / 2


def with_sound(X, rate, level, seconds, envelope, seed=0, taps=50):
    """X (mics, samples) with a burst at :func:`sound_at`, each microphone through its own
    ``taps``-tap random response (1: a gain, as an instantaneous mixture
    hears it); then scaled to a peak of 0.9 (written as floats)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    env = np.exp(-np.arange(n) / (0.05 * rate)) if envelope == "decay" else np.hanning(n)
    burst = level * float(np.sqrt(np.mean(X**2))) * rng.standard_normal(n) * env
    Y = X.copy()
    at = int(sound_at(X.shape[1], rate) * rate)
    for m in range(len(Y)):
        Y[m, at : at + n] += np.convolve(burst, 0.3 * rng.standard_normal(taps))[:n]
    return Y * (0.9 / np.abs(Y).max())


def separated(program, path):
    """The outputs of ``program separate PATH`` with its defaults (None: it failed)."""
    est, _, _ = run(lambda out: [program, "separate", str(path), "-q", "-o", out])
    return est


def cell(est, refs, keep):
    """'speakers written / SDR' over the samples ``keep`` ('-' when fewer
    speakers were written than talk)."""
    if est is None:
        return "failed"
    score = sdr(refs[:, keep], est[:, keep[: est.shape[1]]])
    return f"{len(est)} / " + (f"{score:.1f}" if np.isfinite(score) else "-")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--before", help="another cocktail executable to run beside this one")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table here")
    a = ap.parse_args()
    exe = cocktail_executable()
    runs = [("cocktail", exe)] + ([("before", a.before)] if a.before else [])
    heads = [f"{s}, {name}" for s in SOUNDS for name, _ in runs]
    lines = [
        "| case | speakers | as it is | " + " | ".join(heads) + " |",
        "|---|---|---|" + "---|" * len(heads),
    ]
    for case in map(Path, a.cases):
        room = '"convolutive"' in (case / "meta.json").read_text()
        X, rate = sf.read(case / "mix.wav", dtype="float64", always_2d=True)
        X = X.T
        refs = sf.read(case / "refs.wav", dtype="float64", always_2d=True)[0].T
        n = refs.shape[0]
        keep = np.ones(refs.shape[1], dtype=bool)
        at = sound_at(refs.shape[1], rate)
        keep[int((at - 0.5) * rate) : int((at + LONGEST + 0.5) * rate)] = False

        cells = [cell(separated(exe, case / "mix.wav"), refs, keep)]
        with tempfile.TemporaryDirectory() as tmp:
            for k, (level, seconds, envelope) in enumerate(SOUNDS.values()):
                path = Path(tmp) / f"sound{k}.wav"
                Y = with_sound(X, rate, level, seconds, envelope, k, 50 if room else 1)
                sf.write(path, Y.T, rate, subtype="FLOAT")
                for _, program in runs:
                    cells.append(cell(separated(program, path), refs, keep))
        lines.append(f"| {case.name} | {n} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    print(table)
    if a.markdown:
        Path(a.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
