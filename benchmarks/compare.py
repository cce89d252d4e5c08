"""Score cocktail beside the anchors on benchmark cases, in one run.

usage: python benchmarks/compare.py CASES METHOD [METHOD ...]

A METHOD is an anchor (see anchors.py) or "cocktail" with optional extra
flags after a colon ("cocktail:--model convolutive"); cocktail is run as the
`cocktail` command next to this interpreter (or $COCKTAIL). Each run is a
whole process (start-up, imports, reading and writing included), timed on
the wall clock; times are only comparable within one run of this script.
SDR and SIR come from BSS Eval (fast_bss_eval) with the best permutation: no
distortion filter on instantaneous cases, 512 taps on room cases. dSDR is the
improvement over microphone 1 left unprocessed. Set CASES_MATCH to a regular
expression to run only some cases.
"""
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
    files = sorted(Path(folder).glob("*.wav"), key=lambda p: [int(t) if t.isdigit() else t
                                                              for t in re.split(r"(\d+)", p.name)])
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
    with tempfile.TemporaryDirectory() as tmp:
        cmd = command(method, case / "mix.wav", Path(tmp) / "out", meta["n_src"])
        start = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            return dict(case=case.name, method=method, ok=False, wall=wall,
                        error=(p.stderr.strip().splitlines() or ["?"])[-1])
        est = outputs(Path(tmp) / "out")
    mix = sf.read(case / "mix.wav", dtype="float64", always_2d=True)[0].T
    base, _ = sdr_sir(refs, np.repeat(mix[:1], len(refs), axis=0), taps)
    sdr, sir = sdr_sir(refs, est, taps)
    return dict(case=case.name, method=method, ok=True, sdr=sdr, sir=sir, dsdr=sdr - base, wall=wall)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cases = sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "meta.json").exists())
    match = os.environ.get("CASES_MATCH")
    if match:
        cases = [c for c in cases if re.search(match, c.name)]
    methods = sys.argv[2:]
    rows = []
    print(f"| case | {' | '.join(methods)} |\n|---|{'---|' * len(methods)}")
    for case in cases:
        cells = []
        for m in methods:
            r = score(case, m)
            rows.append(r)
            cells.append(f"{r['sdr']:.1f} / {r['dsdr']:+.1f} / {r['wall']:.2f}s" if r["ok"]
                         else f"failed ({r['error']})")
        print(f"| {case.name} | {' | '.join(cells)} |", flush=True)
    if os.environ.get("JSON_OUT"):
        Path(os.environ["JSON_OUT"]).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
