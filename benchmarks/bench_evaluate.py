"""Time `cocktail evaluate` as a user runs it and check its figures against fast_bss_eval.

Usage:
    python benchmarks/bench_evaluate.py CASE_DIR [CASE_DIR ...] [--repeat N] [--filter-length N]
                                        [--markdown FILE]

A case folder holds mix.wav (one channel per microphone), refs.wav (one
channel per true source) and meta.json (with "kind": "instantaneous" or a
room kind). For each case the mixture is first separated with
`cocktail separate` (timed apart), then `cocktail evaluate` is run as a
separate process, --repeat times, and its wall-clock time is reported
(best and median; the whole process, start-up and imports included). Its
JSON figures are compared with fast_bss_eval.bss_eval_sources called
directly on the same files, with the same filter length: 1 tap for
instantaneous cases, 512 otherwise (--filter-length overrides).

Figures far above 100 dB (an SIR of 117 dB, say) are at the rounding floor
of BSS Eval: fast_bss_eval gives them a dB or two apart for the same numbers
stored in another memory layout. The direct call therefore uses the layout
cocktail uses (C order); the 'layout' column shows how far fast_bss_eval moves
from itself on a strided copy, for figures below 100 dB.

Prints a wide text table, and with ``--markdown FILE`` writes the README's
Markdown table and, under it, the largest difference by kind of case.

Needs cocktail installed with the evaluate extra (fast-bss-eval).
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

#: Figures above this are at the float64 rounding floor of BSS Eval (1 - 1e-10 and
#: closer to 1 in the underlying cosines): they change with the memory layout alone.
FLOOR_DB = 100.0


def cocktail():
    exe = shutil.which("cocktail", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "cocktail"]


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr}")
    return proc, elapsed


def bench_case(case, repeat, filter_length):
    import fast_bss_eval

    case = Path(case)
    meta = json.loads((case / "meta.json").read_text()) if (case / "meta.json").exists() else {}
    kind = meta.get("kind", "unknown")
    if filter_length is None:
        filter_length = 1 if kind == "instantaneous" else 512
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        _, t_sep = run(cocktail() + ["separate", str(case / "mix.wav"), "-o", str(out), "-q"])
        cmd = cocktail() + [
            "evaluate",
            str(out),
            "-r",
            str(case / "refs.wav"),
            "--mixture",
            str(case / "mix.wav"),
            "--filter-length",
            str(filter_length),
            "--json",
            "-q",
        ]
        times = []
        for _ in range(repeat):
            proc, elapsed = run(cmd)
            times.append(elapsed)
        report = json.loads(proc.stdout)

        # soundfile gives samples x channels; .T is a strided (Fortran-order) view.
        R_view = sf.read(case / "refs.wav", always_2d=True)[0].T
        names = json.loads((out / "separation.json").read_text())["outputs"]
        E = np.stack([sf.read(out / n)[0] for n in names])
        n = min(R_view.shape[1], E.shape[1])
        R_view, E = R_view[:, :n], E[:, :n]
        R = np.ascontiguousarray(R_view)  # the layout cocktail passes
        start = time.perf_counter()
        sdr, sir, sar, perm = fast_bss_eval.bss_eval_sources(R, E, filter_length=filter_length)
        t_direct = time.perf_counter() - start
        si = -fast_bss_eval.numpy.si_sdr_loss(E[perm], R)
        # The same call on the strided view: the rounding of fast_bss_eval itself.
        view = fast_bss_eval.bss_eval_sources(R_view, E, filter_length=filter_length)

    diffs, layout = [], []
    same_pairs = True
    for i, row in enumerate(report["sources"]):
        same_pairs &= row["estimate"] == names[perm[i]]
        for key, ref in (("sdr", sdr), ("sir", sir), ("sar", sar), ("si_sdr", si)):
            diffs.append(abs(row[key] - ref[i]))
        for a, b in zip((sdr, sir, sar), view[:3]):
            if max(a[i], b[i]) < FLOOR_DB:
                layout.append(abs(a[i] - b[i]))
    return {
        "case": case.name,
        "kind": kind,
        "sources": R.shape[0],
        "seconds_of_audio": n / sf.info(str(case / "refs.wav")).samplerate,
        "filter_length": filter_length,
        "separate_s": t_sep,
        "evaluate_best_s": min(times),
        "evaluate_median_s": statistics.median(times),
        "direct_bss_eval_s": t_direct,
        "max_abs_diff_db": max(diffs),
        "layout_diff_db": max(layout, default=0.0),
        "same_pairing": bool(same_pairs),
        "average_sdr": report["average"]["sdr"],
        "average_sdr_improvement": report["average"]["sdr_improvement"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="+", metavar="CASE_DIR")
    parser.add_argument("--repeat", type=int, default=3, help="runs of cocktail evaluate per case")
    parser.add_argument(
        "--filter-length",
        type=int,
        default=None,
        help="BSS Eval filter taps [default: 1 instantaneous, 512 otherwise]",
    )
    parser.add_argument("--markdown", metavar="FILE", help="write the README's table here")
    args = parser.parse_args()
    md = [
        "| case | sources | taps | `cocktail evaluate` (s, median) | largest difference (dB) "
        "| same pairing |",
        "|---|---|---|---|---|---|",
    ]
    by_kind = {}
    print(
        f"{'case':<18} {'src':>3} {'dur s':>6} {'taps':>5} {'separate s':>10} "
        f"{'evaluate s (best/median)':>25} {'direct s':>9} {'max |diff| dB':>14} "
        f"{'pairs':>6} {'layout dB':>10} {'SDR':>7} {'SDRi':>7}"
    )
    worst = 0.0
    for case in args.cases:
        r = bench_case(case, args.repeat, args.filter_length)
        worst = max(worst, r["max_abs_diff_db"])
        kind = "instantaneous" if r["kind"] == "instantaneous" else "room"
        by_kind[kind] = max(by_kind.get(kind, 0.0), r["max_abs_diff_db"])
        md.append(
            f"| {r['case']} | {r['sources']} | {r['filter_length']} | "
            f"{r['evaluate_median_s']:.2f} | {r['max_abs_diff_db']:.1e} | "
            f"{'yes' if r['same_pairing'] else 'no'} |"
        )
        print(
            f"{r['case']:<18} {r['sources']:>3} {r['seconds_of_audio']:>6.1f} "
            f"{r['filter_length']:>5} {r['separate_s']:>10.2f} "
            f"{r['evaluate_best_s']:>12.2f} / {r['evaluate_median_s']:<10.2f} "
            f"{r['direct_bss_eval_s']:>9.2f} {r['max_abs_diff_db']:>14.2e} "
            f"{'same' if r['same_pairing'] else 'DIFF':>6} {r['layout_diff_db']:>10.1e} "
            f"{r['average_sdr']:>7.2f} "
            f"{r['average_sdr_improvement']:>7.2f}",
            flush=True,
        )
    print(
        f"largest difference from fast_bss_eval: {worst:.2e} dB "
        f"({'within' if worst <= 0.01 else 'OUTSIDE'} 0.01 dB)"
    )
    if args.markdown:
        md.append("")
        md += [
            f"- largest difference from fast_bss_eval on the {k} cases: {v:.1e} dB"
            for k, v in by_kind.items()
        ]
        Path(args.markdown).write_text("\n".join(md) + "\n")
    print(
        f"('layout dB': fast_bss_eval against itself on a strided copy of the same "
        f"references, figures below {FLOOR_DB:.0f} dB)"
    )


if __name__ == "__main__":
    main()
