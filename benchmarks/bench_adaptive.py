"""Adaptive (block-online) against batch separation when a speaker moves.

Speech sources are mixed with one matrix for the first half of the recording
and a different one for the second half (an abrupt move). For each half the
SIR is measured after a re-convergence time (2 s by default), with the output
permutation found on that half, for

* adaptive: ``cocktail.separate(X, rate, adaptive=True, model="instantaneous")``,
  what ``cocktail separate --adaptive --model instantaneous`` does,
* batch: ``cocktail.ica.ica`` on the whole recording (one matrix for both halves),

then the SIR of the adaptive outputs is followed in short windows around the
switch, and the speed is reported as multiples of real time.

    python benchmarks/bench_adaptive.py SPEECH_DIR [--sources 2 3] [--seeds 1 2 3]
                                        [--markdown FILE]

Prints (and with ``--markdown`` also writes) the Markdown table for the
README, one row per number of speakers and seed, and under it how long after
the switch the adaptive SIR first came back above 20 dB (in --window steps).

SPEECH_DIR holds mono WAV files of speech at one sample rate; the files that
match --pattern are dealt round-robin to the sources, in name order, and each
source is the concatenation of its files, cut to --seconds.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import fast_bss_eval
except ImportError:  # pragma: no cover
    sys.exit("this benchmark needs fast-bss-eval (pip install fast-bss-eval)")


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from speech import load_sources  # noqa: E402

from cocktail import separate  # noqa: E402
from cocktail.ica import ica  # noqa: E402
from cocktail.mixing import random_mixing  # noqa: E402


def switching_mixture(S, seed):
    n = S.shape[0]
    A1 = random_mixing(n, n, seed)
    A2 = random_mixing(n, n, seed + 1000)
    half = S.shape[1] // 2
    X = np.concatenate([A1 @ S[:, :half], A2 @ S[:, half:]], axis=1)
    return X * (0.9 / np.abs(X).max()), half


def sir(ref, est):
    """Mean and smallest SIR (dB), with the permutation found on this segment."""
    _, sir_, _, _ = fast_bss_eval.bss_eval_sources(ref, est, filter_length=1)
    return float(np.mean(sir_)), float(np.min(sir_))


def halves(S, Y, half, settle):
    return [
        sir(S[:, a + settle : b], Y[:, a + settle : b]) for a, b in ((0, half), (half, S.shape[1]))
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("speech", help="folder of mono speech WAV files")
    p.add_argument("--pattern", default="*.wav", help="which files to use (default: %(default)s)")
    p.add_argument("--sources", type=int, nargs="+", default=[2, 3])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--seconds", type=float, default=20.0, help="length of the mixture")
    p.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="re-convergence time left out at the start of each half (s)",
    )
    p.add_argument("--window", type=float, default=0.5, help="SIR window around the switch (s)")
    p.add_argument("--markdown", metavar="FILE", help="also write the README's table here")
    args = p.parse_args(argv)
    md = [
        "| speakers | `--adaptive` half 1 | `--adaptive` half 2 | batch half 1 | batch half 2 "
        "| speed |",
        "|---|---|---|---|---|---|",
    ]

    print(
        f"SIR in dB, mean over sources (smallest in brackets), each half without its "
        f"first {args.settle:g} s"
    )
    print(
        f"{'n':>2} {'seed':>4} | {'adaptive half 1':>15} {'adaptive half 2':>15} | "
        f"{'batch half 1':>13} {'batch half 2':>13} | {'x real time':>11}"
    )
    traces = []
    summary = {"adaptive": [], "batch": [], "speed": []}
    for n in args.sources:
        S, rate, _ = load_sources(args.speech, args.pattern, n, args.seconds)
        settle = int(args.settle * rate)
        for seed in args.seeds:
            X, half = switching_mixture(S, seed)
            t0 = time.perf_counter()
            Y = separate(X, rate, adaptive=True, model="instantaneous", n_sources="all").outputs
            speed = X.shape[1] / rate / (time.perf_counter() - t0)
            batch = ica(X, random_state=0).sources
            ad = halves(S, Y, half, settle)
            ba = halves(S, batch, half, settle)
            summary["adaptive"] += [h[0] for h in ad]
            summary["batch"].append(min(h[0] for h in ba))
            summary["speed"].append(speed)
            cells = [f"{m:6.1f} ({lo:5.1f})" for m, lo in ad + ba]
            print(
                f"{n:>2} {seed:>4} | {cells[0]:>15} {cells[1]:>15} | "
                f"{cells[2]:>13} {cells[3]:>13} | {speed:>10.0f}x"
            )
            md.append(
                f"| {n} (seed {seed}) | "
                + " | ".join(f"{m:.1f} ({lo:.1f})" for m, lo in ad + ba)
                + f" | {speed:.0f}x real time |"
            )
            w = int(args.window * rate)
            starts = range(half - 2 * w, min(half + 9 * w, X.shape[1] - w + 1), w)
            traces.append(
                (
                    n,
                    seed,
                    [sir(S[:, a : a + w], Y[:, a : a + w])[0] for a in starts],
                    [(a - half) / rate for a in starts],
                )
            )

    print(
        f"\nAdaptive SIR (dB, mean over sources) in {args.window:g} s windows; "
        "the mixing changes at 0 s"
    )
    offsets = traces[0][3]
    print(f"{'n':>2} {'seed':>4} | " + " ".join(f"{t:>+5.1f}" for t in offsets))
    for n, seed, values, _ in traces:
        print(f"{n:>2} {seed:>4} | " + " ".join(f"{v:5.0f}" for v in values))

    back = {}
    for n, _seed, values, offs in traces:
        after = [(t, v) for t, v in zip(offs, values) if t >= 0]
        hit = next((t + args.window for t, v in after if v > 20), None)
        back.setdefault(n, []).append(hit)
    md.append("")
    for n, hits in back.items():
        got = [h for h in hits if h is not None]
        text = (
            f"- {n} speakers: adaptive SIR back above 20 dB within "
            + (
                f"{min(got):g} to {max(got):g} s"
                if len(set(got)) > 1
                else f"{got[0]:g} s"
                if got
                else "-"
            )
            + " of the switch"
        )
        if len(got) < len(hits):
            text += (
                f"; not within {offs[-1] + args.window:g} s on {len(hits) - len(got)} "
                f"of {len(hits)}"
            )
        md.append(text)
    print("\n" + "\n".join(md))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")
    print(
        f"\nadaptive: worst half {min(summary['adaptive']):.1f} dB; "
        f"batch: worse half {np.mean(summary['batch']):.1f} dB on average; "
        f"speed {min(summary['speed']):.0f}x real time at least"
    )


if __name__ == "__main__":
    main()
