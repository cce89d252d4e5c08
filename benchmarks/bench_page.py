"""Time `cocktail page` and `cocktail separate --html`, and measure the pages they write.

Usage:
    python benchmarks/bench_page.py SPEECH_DIR [--rate HZ] [--repeat N] [--long-minutes M]
                                    [--mics C] [--skip-long] [--workdir DIR] [--markdown FILE]

SPEECH_DIR holds mono speech WAVs, all at one sample rate (at least two files);
--rate resamples them first (default: their own rate).

Short case: the two longest, cut or looped to 10 s, are mixed by `cocktail mix`
into 2 microphones (the sidecar mix.json lands next to mix.wav, so the page
also scores the speakers). `cocktail separate mix.wav` is run with and
without --html, --repeat times each, as a user runs it (one process, start-up
included); the page's cost is the difference of the medians. It is also
given without the sidecar (no scores), and as `cocktail page out/` alone.

Long case: C sources, each the speech files in a random order with pauses,
looped to M minutes, mixed by a random well-conditioned C x C matrix into a
16-bit C-channel WAV (written block by block), separated once by `cocktail
separate --model instantaneous`, then `cocktail page out/` is timed once.
Peak memory is the maximum resident size of that process. Times include a
small launcher process that measures it (about 20 ms).

Prints (and with --markdown also writes) a Markdown table. Every figure is
wall-clock on this machine.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SHORT_SECONDS = 10.0
BLOCK_SECONDS = 10.0
PAUSE_SECONDS = (0.2, 2.0)  # silence between two utterances of one source
PEAK = 0.9


def cocktail():
    exe = shutil.which("cocktail", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "cocktail"]


#: Runs a command and prints its peak resident memory in kB. A child forked from
#: this (large) script would count the script's pages until it execs; forked
#: from this small launcher it counts only its own.
LAUNCHER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); "
    "_, st, ru = os.wait4(p.pid, 0); print(ru.ru_maxrss, file=sys.stderr); "
    "sys.exit(os.waitstatus_to_exitcode(st))"
)


def run(cmd):
    """(seconds, peak resident MB) of one process; exits on failure."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER] + list(map(str, cmd)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1]) / 1024


def folder_size(path, skip=()):
    return sum(
        p.stat().st_size
        for p in Path(path).rglob("*")
        if p.is_file() and not any(s in p.parts for s in skip)
    )


def page_size(folder):
    folder = Path(folder)
    return (folder / "index.html").stat().st_size + folder_size(folder / "listen")


def speech(folder, rate=None, work=None):
    """(files, clips, rate): the speech WAVs, resampled to ``rate`` into ``work`` if given."""
    from math import gcd

    from scipy.signal import resample_poly

    files = sorted(Path(folder).glob("*.wav"))
    clips = [sf.read(f, dtype="float64", always_2d=True) for f in files]
    rates = {r for _, r in clips}
    if len(files) < 2 or len(rates) != 1:
        sys.exit(f"{folder}: need at least two mono WAVs of one sample rate")
    own = rates.pop()
    clips = [c[:, 0] for c, _ in clips]
    if rate is None or rate == own:
        return files, clips, own
    g = gcd(rate, own)
    clips = [resample_poly(c, rate // g, own // g) for c in clips]
    resampled = []
    for f, c in zip(files, clips):
        resampled.append(Path(work) / f.name)
        sf.write(resampled[-1], c, rate, subtype="FLOAT")
    return resampled, clips, rate


def median_time(cmd, repeat, before=None):
    times = []
    for _ in range(repeat):
        if before:
            before()
        times.append(run(cmd)[0])
    return statistics.median(times)


def short_case(files, rate, repeat, work):
    work = work / "short"
    work.mkdir()
    n = int(SHORT_SECONDS * rate)
    longest = sorted(files, key=lambda f: -sf.info(str(f)).frames)[:2]
    for k in range(2):
        x, _ = sf.read(longest[k], always_2d=True)
        sf.write(work / f"s{k}.wav", np.resize(x[:, 0], n), rate, subtype="FLOAT")
    mix = work / "mix.wav"
    run(
        cocktail()
        + [
            "mix",
            str(work / "s0.wav"),
            str(work / "s1.wav"),
            "-o",
            str(mix),
            "--subtype",
            "PCM_16",
            "-q",
        ]
    )
    out = work / "out"

    def clean():
        shutil.rmtree(out, ignore_errors=True)

    base = cocktail() + ["separate", str(mix), "-o", str(out), "-q"]
    rows = []
    t_sep = median_time(base, repeat, clean)
    t_html = median_time(base + ["--html"], repeat, clean)
    rows.append(
        (
            "10 s, 2 mics, 2 speakers, scored (mix.json beside)",
            "full",
            f"{t_sep:.2f}",
            f"{t_html:.2f}",
            f"{t_html - t_sep:+.2f}",
            page_size(out),
            None,
        )
    )
    t_page = median_time(cocktail() + ["page", str(out), "-q"], repeat)
    rows.append(
        (
            "10 s, 2 mics: `cocktail page out/` alone, scored",
            "full",
            "",
            "",
            f"{t_page:.2f}",
            page_size(out),
            None,
        )
    )
    (work / "mix.json").rename(work / "aside.json")
    t_sep = median_time(base, repeat, clean)
    t_html = median_time(base + ["--html"], repeat, clean)
    rows.append(
        (
            "10 s, 2 mics, 2 speakers, not scored",
            "full",
            f"{t_sep:.2f}",
            f"{t_html:.2f}",
            f"{t_html - t_sep:+.2f}",
            page_size(out),
            None,
        )
    )
    return rows


def long_case(clips, rate, minutes, mics, work):
    work = work / "long"
    work.mkdir()
    rng = np.random.default_rng(0)
    loops = []
    for _ in range(mics):
        parts = []
        for k in rng.permutation(len(clips)):
            parts.append(clips[k] / max(np.abs(clips[k]).max(), 1e-9))
            parts.append(np.zeros(int(rng.uniform(*PAUSE_SECONDS) * rate)))
        loops.append(np.concatenate(parts))
    A = rng.standard_normal((mics, mics)) + 2 * np.eye(mics)
    gain = PEAK / np.abs(A).sum(axis=1).max()
    n = int(minutes * 60 * rate)
    mix = work / "mix.wav"
    block = int(BLOCK_SECONDS * rate)
    with sf.SoundFile(mix, "w", samplerate=rate, channels=mics, subtype="PCM_16") as f:
        for start in range(0, n, block):
            idx = np.arange(start, min(start + block, n))
            S = np.stack([loop[(idx + 7919 * i) % len(loop)] for i, loop in enumerate(loops)])
            f.write((gain * A @ S).T)
    out = work / "out"
    t_sep, _ = run(
        cocktail() + ["separate", str(mix), "-o", str(out), "-q", "--model", "instantaneous"]
    )
    t_page, mem = run(cocktail() + ["page", str(out), "-q"])
    mb = mix.stat().st_size / 1e6
    return [
        (
            f"{minutes:g} min, {mics} mics, {mics} speakers ({mb:.0f} MB WAV)",
            "30 s excerpt",
            f"{t_sep:.1f}",
            "",
            f"{t_page:.1f}",
            page_size(out),
            mem,
        )
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("speech_dir")
    ap.add_argument("--rate", type=int, default=None, help="resample the speech to this rate")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--long-minutes", type=float, default=60.0)
    ap.add_argument("--mics", type=int, default=8)
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--workdir", help="where to put the recordings (default: a temp folder)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        files, clips, rate = speech(args.speech_dir, args.rate, work)
        rows = short_case(files, rate, args.repeat, work)
        if not args.skip_long:
            rows += long_case(clips, rate, args.long_minutes, args.mics, work)
    md = [
        f"| recording ({rate} Hz) | audio on the page | separate (s) | separate --html (s) "
        "| page (s) | page size | peak memory |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for what, mode, t_sep, t_html, t_page, size, mem in rows:
        md.append(
            f"| {what} | {mode} | {t_sep} | {t_html} | {t_page} | {size / 1e6:.2f} MB | "
            + (f"{mem:.0f} MB |" if mem else " |")
        )
    md += [
        "",
        f"Medians of {args.repeat} runs for the short case (page = difference of the "
        "medians, or `cocktail page` alone); one run for the long case.",
    ]
    print("\n".join(md))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
