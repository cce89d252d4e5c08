"""Room recordings and microphone arrays: cocktail beside the anchors and the
best a per-frequency linear filter can do, in one run.

usage: python benchmarks/bench_arrays.py CASE_DIR... [--before EXE] [--anchors LIST]
                                         [--json OUT.json] [--markdown FILE]

A CASE_DIR holds mix.wav (one channel per microphone), refs.wav (each
speaker's image at microphone 1) and meta.json (``n_src``, ``kind``), as
``benchmarks/cases.py`` writes them. For every room case it runs, as whole
processes timed on the wall clock:

- ``cocktail separate`` with its defaults (the speakers are counted), and
  with ``--sources N`` (the true number);
- ``--before EXE``: another cocktail executable (e.g. an earlier release in
  its own environment) with its defaults, for a side-by-side comparison;
- the anchors of ``anchors.py`` named in ``--anchors`` (default
  auxiva-best,ilrma-best,fastmnmf2), given the true number of speakers;

and scores each with BSS Eval (fast_bss_eval, 512-tap distortion filter, best
permutation; with more outputs than speakers, the best-matching ones). The
ceiling is the oracle per-bin Wiener filter: for each speaker and STFT bin
(4096 samples at 16 kHz, in proportion at other rates, a quarter hop) the linear
filter over all microphones that best reproduces the true image, i.e. the
most any method with one unmixing matrix per bin can reach. Prints (and
with ``--markdown`` also writes) the Markdown table for the README, cells SDR
in dB and whole-process seconds, and under it a summary: how often the count
was right, on how many cases the default run is ahead of every anchor, its
distance to the ceiling, and its time against the first anchor's.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fast_bss_eval
import numpy as np
import soundfile as sf
from scipy.signal import istft, stft

HERE = Path(__file__).resolve().parent
FILTER = 512


def read_outputs(folder):
    files = sorted(Path(folder).glob("speaker_*.wav"), key=lambda p: int(p.stem.split("_")[1]))
    if not files:
        files = sorted(Path(folder).glob("*.wav"))
    ys = [sf.read(f, dtype="float64", always_2d=True)[0][:, 0] for f in files]
    n = min(len(y) for y in ys)
    return np.stack([y[:n] for y in ys])


def sdr(refs, est):
    n = min(refs.shape[1], est.shape[1])
    r, e = refs[:, :n], est[:, :n]
    if e.shape[0] < r.shape[0]:
        return float("nan")
    if e.shape[0] > r.shape[0]:  # keep the outputs that best match a speaker
        c = np.abs(np.corrcoef(np.vstack([r, e]))[: len(r), len(r) :])
        pick = []
        for i in range(len(r)):
            j = int(np.argmax(c[i]))
            pick.append(j)
            c[:, j] = -np.inf
        e = e[pick]
    return float(np.mean(fast_bss_eval.bss_eval_sources(r, e, filter_length=FILTER)[0]))


def ceiling(X, refs, rate):
    """SDR of the oracle per-bin Wiener filter over all microphones."""
    return sdr(refs, oracle(X, refs, 4096 * rate // 16000))


def oracle(X, refs, nfft):
    """Each speaker through the per-bin Wiener filter over all microphones that
    best gives its image at microphone 1 (computed from the images themselves),
    with STFT frames of ``nfft`` samples; (n_speakers, n_samples)."""
    kw = dict(nperseg=nfft, noverlap=nfft - nfft // 4)
    Xf = stft(X, **kw)[2]  # (M, F, T)
    Rf = stft(refs, **kw)[2]  # (N, F, T)
    out = np.zeros_like(Rf)
    T = Xf.shape[2]
    for f in range(Xf.shape[1]):
        x = Xf[:, f]
        cxx = x @ x.conj().T / T
        cxx += 1e-9 * np.real(np.trace(cxx)) / len(cxx) * np.eye(len(cxx))
        w = np.linalg.solve(cxx, x @ Rf[:, f].conj().T / T)  # (M, N)
        out[:, f] = w.conj().T @ x
    return istft(out, **kw)[1][:, : refs.shape[1]]


def run(command):
    """Run command(OUTDIR) as a whole process; (outputs or None, seconds, files)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        t = time.perf_counter()
        p = subprocess.run(command(str(out)), capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            return None, wall, 0
        est = read_outputs(out)
        return est, wall, len(est)


def cocktail_executable():
    """The cocktail to benchmark: $COCKTAIL, else the one beside this Python."""
    return os.environ.get("COCKTAIL") or shutil.which(
        "cocktail", path=str(Path(sys.executable).parent)
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--before", help="another cocktail executable to run beside this one")
    ap.add_argument("--anchors", default="auxiva-best,ilrma-best,fastmnmf2")
    ap.add_argument("--json", help="write the raw rows here")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table and summary here")
    a = ap.parse_args()
    exe = cocktail_executable()
    anchors = [m for m in a.anchors.split(",") if m]
    rows = []
    for case in map(Path, a.cases):
        meta = json.loads((case / "meta.json").read_text())
        if meta["kind"] != "convolutive":
            continue
        X, rate = sf.read(case / "mix.wav", dtype="float64", always_2d=True)
        refs = sf.read(case / "refs.wav", dtype="float64", always_2d=True)[0].T
        n, mix = meta["n_src"], str(case / "mix.wav")
        runs = {
            "cocktail": lambda o, mix=mix: [exe, "separate", mix, "-q", "-o", o],
            "cocktail --sources N": lambda o, mix=mix, n=n: [
                exe,
                "separate",
                mix,
                "-q",
                "--sources",
                str(n),
                "-o",
                o,
            ],
        }
        if a.before:
            runs["before"] = lambda o, mix=mix: [a.before, "separate", mix, "-q", "-o", o]
        for m in anchors:
            runs[m] = lambda o, m=m, mix=mix, n=n: [
                sys.executable,
                str(HERE / "anchors.py"),
                m,
                mix,
                o,
                str(n),
            ]
        row = {
            "case": case.name,
            "mics": X.shape[1],
            "speakers": n,
            "mic1": sdr(refs, np.repeat(X.T[:1], n, axis=0)),
            "ceiling": ceiling(X.T, refs, rate),
        }
        for name, command in runs.items():
            est, wall, files = run(command)
            row[name] = {
                "sdr": float("nan") if est is None else sdr(refs, est),
                "wall": wall,
                "files": files,
                "failed": est is None,
            }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    lines = table(rows, list(runs)) + [""] + summary(rows, anchors)
    print("\n".join(lines))
    if a.markdown:
        Path(a.markdown).write_text("\n".join(lines) + "\n")


def table(rows, methods):
    def cell(r):
        return "fails" if r["failed"] else f"{r['sdr']:.1f} / {r['wall']:.1f}s"

    head = ["case", "mics / speakers", "files written"] + methods + ["ceiling", "gap"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        gap = r["ceiling"] - r["cocktail"]["sdr"]
        lines.append(
            "| "
            + " | ".join(
                [r["case"], f"{r['mics']} / {r['speakers']}", str(r["cocktail"]["files"])]
                + [cell(r[m]) for m in methods]
                + [f"{r['ceiling']:.1f}", f"{gap:.1f}"]
            )
            + " |"
        )
    return lines


def summary(rows, anchors):
    """The figures the README's prose quotes, computed rather than read off by hand."""
    n = len(rows)

    def ok(r, m):
        return not r[m]["failed"] and np.isfinite(r[m]["sdr"])

    right = [r["case"] for r in rows if r["cocktail"]["files"] == r["speakers"]]
    wrong = [
        f"{r['case']} ({r['cocktail']['files']} for {r['speakers']})"
        for r in rows
        if r["cocktail"]["files"] != r["speakers"]
    ]
    lines = [
        f"- count right on {len(right)} of {n} cases"
        + (f"; wrong on {', '.join(wrong)}" if wrong else "")
    ]
    if anchors:
        margin = {
            r["case"]: r["cocktail"]["sdr"]
            - max((r[m]["sdr"] for m in anchors if ok(r, m)), default=-np.inf)
            for r in rows
        }
        ahead = [c for c, d in margin.items() if d > 0]
        behind = [f"{c} ({d:+.1f})" for c, d in margin.items() if d <= 0]
        lines.append(
            f"- default run ahead of every anchor on {len(ahead)} of {n} cases, by 1 dB or "
            f"more on {sum(d >= 1 for d in margin.values())}"
            + (f"; not on {', '.join(behind)}" if behind else "")
        )
    gaps = sorted((r["ceiling"] - r["cocktail"]["sdr"], r["case"]) for r in rows)
    lines.append(
        "- gap to the ceiling, smallest first: " + ", ".join(f"{c} {g:.1f}" for g, c in gaps)
    )
    if "cocktail --sources N" in rows[0]:
        told = [
            (r["cocktail --sources N"]["sdr"] - r["cocktail"]["sdr"], r["case"])
            for r in rows
            if r["cocktail"]["files"] != r["speakers"]
        ]
        if told:
            lines.append(
                "- told the number where the count was wrong: "
                + ", ".join(f"{c} {d:+.1f} dB" for d, c in told)
            )
    if anchors:
        first = anchors[0]
        ratios = [r["cocktail"]["wall"] / r[first]["wall"] for r in rows if not r[first]["failed"]]
        lines.append(
            f"- default run's time: {min(ratios):.2f} to {max(ratios):.2f} times {first}'s"
        )
    return lines


if __name__ == "__main__":
    main()
