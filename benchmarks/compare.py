"""Score cocktail beside the anchors on benchmark cases, in one run.

usage: python benchmarks/compare.py CASES METHOD [METHOD ...] [--match REGEX]
                                    [--markdown FILE] [--json FILE]

CASES is a folder of cases as ``benchmarks/cases.py`` writes them. A METHOD
is an anchor (see anchors.py) or "cocktail" with optional extra flags after a
colon ("cocktail:--model convolutive"); cocktail is run as the `cocktail`
command next to this interpreter (or $COCKTAIL). Each run is a whole process
(start-up, imports, reading and writing included), timed on the wall clock;
times are only comparable within one run of this script. SDR comes from BSS
Eval (fast_bss_eval) with the best permutation: no distortion filter on
instantaneous cases, 512 taps on room cases. dSDR is the improvement over
microphone 1 left unprocessed. ``--match`` (or $CASES_MATCH) keeps the cases
whose names match a regular expression.

Prints, and with ``--markdown`` also writes, the Markdown table for the
README: cells SDR / dSDR / seconds, the best SDR of each row in bold; then,
for the first METHOD against each other one, the range of SDR differences
and of time ratios, over the instantaneous and over the room cases; and, for
a plain "cocktail" run, the model its ``--model auto`` chose on each kind of
case.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fast_bss_eval
import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent


def outputs(folder):
    files = sorted(
        Path(folder).glob("*.wav"),
        key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)],
    )
    ys = [sf.read(f, dtype="float64", always_2d=True)[0] for f in files]
    if len(ys) == 1:
        return ys[0].T
    return np.stack([y[:, 0] for y in ys])


def command(method, mix, out, n):
    if method.startswith("cocktail"):
        exe = os.environ.get("COCKTAIL") or str(Path(sys.executable).with_name("cocktail"))
        extra = shlex.split(method.partition(":")[2])
        return shlex.split(exe) + ["separate", str(mix), "-o", str(out), "--quiet"] + extra
    return [sys.executable, str(HERE / "anchors.py"), method, str(mix), str(out), str(n)]


def sdr_sir(refs, est, taps):
    n = min(refs.shape[1], est.shape[1])
    sdr, sir, _, _ = fast_bss_eval.bss_eval_sources(refs[:, :n], est[:, :n], filter_length=taps)
    return float(np.mean(sdr)), float(np.mean(sir))


def score(case, method):
    meta = json.loads((case / "meta.json").read_text())
    refs = sf.read(case / "refs.wav", dtype="float64", always_2d=True)[0].T
    taps = 1 if meta["kind"] == "instantaneous" else 512
    row = dict(case=case.name, kind=meta["kind"], method=method)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = command(method, case / "mix.wav", Path(tmp) / "out", meta["n_src"])
        start = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            return dict(
                row, ok=False, wall=wall, error=(p.stderr.strip().splitlines() or ["?"])[-1]
            )
        est = outputs(Path(tmp) / "out")
        report = Path(tmp) / "out" / "separation.json"
        if report.exists():
            report = json.loads(report.read_text())
            row["model"] = report.get("model")
            share = re.search(
                r"in (?:only )?(\d+)% of the coherent", report.get("model_reason", "")
            )
            if share:
                row["real_phase"] = int(share.group(1))
    if len(est) != len(refs):
        return dict(row, ok=False, wall=wall, error=f"{len(est)} outputs for {len(refs)} sources")
    mix = sf.read(case / "mix.wav", dtype="float64", always_2d=True)[0].T
    base, _ = sdr_sir(refs, np.repeat(mix[:1], len(refs), axis=0), taps)
    sdr, sir = sdr_sir(refs, est, taps)
    return dict(row, ok=True, sdr=sdr, sir=sir, dsdr=sdr - base, wall=wall)


def span(values, fmt):
    values = sorted(values)
    if not values:
        return "no case"
    return (
        fmt.format(values[0])
        if fmt.format(values[0]) == fmt.format(values[-1])
        else f"{fmt.format(values[0])} to {fmt.format(values[-1])}"
    )


def summary(rows, methods):
    """Lines comparing the first method with each other one, by kind of case."""
    first, lines = methods[0], []
    by = {(r["case"], r["method"]): r for r in rows}
    cases = list(dict.fromkeys(r["case"] for r in rows))
    kinds = {r["case"]: r["kind"] for r in rows}
    for other in methods[1:]:
        for kind, label in (
            ("instantaneous", "instantaneous cases"),
            ("convolutive", "room cases"),
        ):
            pairs = [(by[c, first], by[c, other]) for c in cases if kinds[c] == kind]
            if not pairs:
                continue
            both = [(a, b) for a, b in pairs if a["ok"] and b["ok"]]
            failed = [b["case"] for a, b in pairs if not b["ok"]]
            text = (
                f"- {first} against {other}, {label}: SDR "
                f"{span([a['sdr'] - b['sdr'] for a, b in both], '{:+.1f}')} dB, time "
                f"{span([a['wall'] / b['wall'] for a, b in both], '{:.2f}')} times {other}'s"
            )
            if failed:
                text += f"; {other} fails on {', '.join(failed)}"
            lines.append(text)
    for m in methods:
        for kind, label in (("instantaneous", "instantaneous"), ("convolutive", "room")):
            gains = [r["dsdr"] for r in rows if r["method"] == m and r["kind"] == kind and r["ok"]]
            if gains and len(methods) > 1:
                lines.append(
                    f"- {m}: mean improvement over microphone 1 on the {label} cases "
                    f"{np.mean(gains):+.1f} dB ({len(gains)} cases)"
                )
    models = {}
    for r in rows:
        if r["method"] == "cocktail" and r.get("model"):
            models.setdefault(r["kind"], []).append(r)
    for kind, rs in sorted(models.items()):
        label = "room" if kind == "convolutive" else kind
        shares = [r["real_phase"] for r in rs if "real_phase" in r]
        lines.append(
            f"- `--model auto` on the {label} cases chose: "
            f"{', '.join(sorted({r['model'] for r in rs}))}"
            + (
                f" (inter-channel phase real in {span(shares, '{:d}')}% of the coherent bins)"
                if shares
                else ""
            )
        )
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases")
    ap.add_argument("methods", nargs="+", metavar="METHOD")
    ap.add_argument(
        "--match",
        default=os.environ.get("CASES_MATCH"),
        help="regular expression: only the cases whose names match",
    )
    ap.add_argument("--markdown", metavar="FILE", help="also write the table and summary here")
    ap.add_argument(
        "--json", metavar="FILE", default=os.environ.get("JSON_OUT"), help="write the raw rows here"
    )
    a = ap.parse_args()
    cases = sorted(p for p in Path(a.cases).iterdir() if (p / "meta.json").exists())
    if a.match:
        cases = [c for c in cases if re.search(a.match, c.name)]
    methods = a.methods
    rows, table = [], []
    head = [f"| case | {' | '.join(methods)} |", f"|---|{'---|' * len(methods)}"]
    print("\n".join(head), flush=True)
    for case in cases:
        results = [score(case, m) for m in methods]
        rows += results
        best = max((r["sdr"] for r in results if r["ok"]), default=None)
        cells = []
        for r in results:
            if not r["ok"]:
                cells.append("fails")
                print(f"{case.name} {r['method']}: {r['error']}", file=sys.stderr)
                continue
            value = f"{r['sdr']:.1f}"
            if len(methods) > 1 and f"{r['sdr']:.1f}" == f"{best:.1f}":
                value = f"**{value}**"
            cells.append(f"{value} / {r['dsdr']:+.1f} / {r['wall']:.2f}s")
        table.append(f"| {case.name} | {' | '.join(cells)} |")
        print(table[-1], flush=True)
    lines = summary(rows, methods)
    print("\n" + "\n".join(lines))
    if a.markdown:
        Path(a.markdown).write_text("\n".join(head + table + [""] + lines) + "\n")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
