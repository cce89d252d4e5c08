"""How many speakers the live mode finds on arrays, counted from 6 s and again from 10 s.

usage: python benchmarks/bench_live_count.py CASE_DIR [CASE_DIR ...] [--markdown FILE]

Every case (mix.wav, meta.json with ``n_src``, as ``benchmarks/cases.py``
writes them, or folders of them) heard by 4 or more microphones is streamed
through a pipe into ``cocktail separate - --adaptive`` twice: with
``--count-seconds 6`` (the count from the first 6 s, kept whatever it says)
and with the defaults (the count from 6 s, made again from 10 s when it is in
doubt). The table gives both counts against the true number, and the
seconds the default run counted from (output waits for them). Printed as
Markdown (and written to ``--markdown FILE``) with a summary under it.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf

COCKTAIL = os.environ.get("COCKTAIL", "").split() or [sys.executable, "-m", "cocktail"]
MIN_MICS = 4


def cases(folders):
    for folder in folders:
        folder = Path(folder)
        found = [folder] if (folder / "mix.wav").exists() else sorted(folder.iterdir())
        for case in found:
            if (case / "mix.wav").exists() and sf.info(case / "mix.wav").channels >= MIN_MICS:
                yield case


def live_count(mix, extra):
    """Stream ``mix`` into the live mode; (speakers written, report)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        with open(mix, "rb") as stream:
            res = subprocess.run(
                COCKTAIL
                + ["separate", "-", "--adaptive", "-o", tmp, "-q", "--report", str(report)]
                + extra,
                stdin=stream,
                capture_output=True,
                text=True,
            )
        if res.returncode:
            raise SystemExit(f"{mix}: {res.stderr.strip()}")
        written = len(list(Path(tmp).glob("speaker_*.wav")))
        return written, json.loads(report.read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table here")
    args = ap.parse_args()
    lines = [
        "| case | mics | speakers | counted from 6 s | default run | default counted from |",
        "|---|---|---|---|---|---|",
    ]
    tally = {"six": 0, "default": 0, "again": 0, "total": 0, "one_more": 0, "fewer": 0}
    for case in cases(args.cases):
        n = json.loads((case / "meta.json").read_text())["n_src"]
        mics = sf.info(case / "mix.wav").channels
        six, _ = live_count(case / "mix.wav", ["--count-seconds", "6"])
        got, report = live_count(case / "mix.wav", [])
        again = report["source_count"].get("recounted_from_seconds")
        seconds = report["parameters"]["count_seconds"]
        unsure = " (unsure)" if report["source_count"]["unsure"] else ""
        tally["total"] += 1
        tally["six"] += six == n
        tally["default"] += got == n
        tally["again"] += again is not None
        tally["one_more"] += got == n + 1
        tally["fewer"] += got < n
        name = f"{case.parent.name}/{case.name}"
        lines.append(
            f"| {name} | {mics} | {n} | {six} | {got}{unsure} | "
            f"{seconds:g} s{' (again)' if again else ''} |"
        )
        print(lines[-1], flush=True)
    t = tally
    lines += [
        "",
        f"- counted from 6 s: right on {t['six']} of {t['total']}",
        f"- default run: right on {t['default']} of {t['total']}, one more on {t['one_more']}, "
        f"fewer on {t['fewer']}; counted again from 10 s on {t['again']}",
    ]
    text = "\n".join(lines)
    print("\n".join(lines[-3:]))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
