"""Fingerprint what cocktail writes, to check that a change alters no output.

Runs a fixed set of commands (separate with each model, solver and output
kind, mix, evaluate, plot, page, batches) and prints the SHA-256 of every
byte they write, as JSON. Timings in the reports are left out; everything
else, audio and reports alike, must match bit for bit. Run it before and
after a change that should change no behaviour, and compare:

    python benchmarks/fingerprint.py CASES... > before.json
    (change the code)
    python benchmarks/fingerprint.py CASES... --compare before.json

CASES are folders holding mix.wav (and refs.wav), such as the benchmark
cases of the yardstick; the bundled sample_audio/ is always used.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "sample_audio"
#: Report keys that hold wall-clock times, which differ from run to run.
TIMING_KEYS = {"history_seconds", "seconds"}


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


def _digest(path):
    data = Path(path).read_bytes()
    if path.suffix == ".json":
        try:
            data = json.dumps(_strip_timings(json.loads(data))).encode()  # key order kept
        except ValueError:
            pass
    return hashlib.sha256(data).hexdigest()


def _digest_tree(root):
    root = Path(root)
    if root.is_file():
        return {root.name: _digest(root)}
    return {str(p.relative_to(root)): _digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _commands(cases):
    """(name, argv, what to hash) for every check; paths are relative to a scratch folder."""
    s = str(SAMPLES)
    out = [
        ("sample", ["separate", f"{s}/mixture.wav", "-o", "sample"], "sample"),
        ("sample-stdout", ["separate", f"{s}/mixture.wav", "-o", "-"], None),
        (
            "sample-apply",
            ["separate", f"{s}/mixture.wav", "--apply", "sample/separation.json", "-o", "applied"],
            "applied",
        ),
        (
            "sample-natgrad",
            ["separate", f"{s}/mixture.wav", "--algorithm", "natgrad", "-o", "natgrad"],
            "natgrad",
        ),
        (
            "sample-gradient",
            [
                "separate",
                f"{s}/mixture.wav",
                "--algorithm",
                "gradient",
                "--max-iter",
                "40",
                "-o",
                "gradient",
            ],
            "gradient",
        ),
        ("sample-adaptive", ["separate", f"{s}/mixture.wav", "--adaptive", "-o", "-"], None),
        (
            "sample-report-stdout",
            ["separate", f"{s}/mixture.wav", "-o", "-", "--report", "stdout-report.json"],
            "stdout-report.json",
        ),
        (
            "mix-inst",
            [
                "mix",
                f"{s}/alice.wav",
                f"{s}/bob.wav",
                f"{s}/carol.wav",
                "--mics",
                "4",
                "--seed",
                "3",
                "-o",
                "mix4.wav",
                "--truth",
                "truth4",
            ],
            ["mix4.wav", "mix4.json", "truth4"],
        ),
        (
            "mix-room",
            [
                "mix",
                f"{s}/alice.wav",
                f"{s}/bob.wav",
                "--room",
                "0.3",
                "--seed",
                "1",
                "--subtype",
                "PCM_16",
                "-o",
                "room.wav",
            ],
            ["room.wav", "room.json"],
        ),
        ("mix-stdout", ["mix", f"{s}/alice.wav", f"{s}/bob.wav", "-o", "-"], None),
        ("room-default", ["separate", "room.wav", "-o", "room"], "room"),
        (
            "room-auxiva",
            [
                "separate",
                "room.wav",
                "--model",
                "convolutive",
                "--algorithm",
                "auxiva",
                "--max-iter",
                "20",
                "-o",
                "room-auxiva",
            ],
            "room-auxiva",
        ),
        (
            "room-gauss",
            [
                "separate",
                "room.wav",
                "--model",
                "convolutive",
                "--algorithm",
                "auxiva-gauss",
                "--max-iter",
                "20",
                "-o",
                "room-gauss",
            ],
            "room-gauss",
        ),
        (
            "room-natgrad",
            [
                "separate",
                "room.wav",
                "--model",
                "convolutive",
                "--algorithm",
                "natgrad",
                "--max-iter",
                "20",
                "-o",
                "room-natgrad",
            ],
            "room-natgrad",
        ),
        (
            "room-apply",
            ["separate", "room.wav", "--apply", "room/separation.json", "-o", "room-applied"],
            "room-applied",
        ),
        (
            "room-adaptive",
            ["separate", "room.wav", "--adaptive", "--model", "convolutive", "-o", "-"],
            None,
        ),
        (
            "room-blocks",
            [
                "separate",
                "room.wav",
                "--fit-seconds",
                "2",
                "--block-seconds",
                "0.3",
                "-o",
                "room-blocks",
            ],
            "room-blocks",
        ),
        (
            "mix4-sources",
            ["separate", "mix4.wav", "--sources", "all", "-o", "mix4-all"],
            "mix4-all",
        ),
        ("mix4-auto", ["separate", "mix4.wav", "-o", "mix4-auto"], "mix4-auto"),
        ("evaluate", ["evaluate", "sample", "-r", f"{s}/mixture.json", "--json"], None),
        ("evaluate-room", ["evaluate", "room", "-r", "room.json"], None),
        ("plot", ["plot", "sample", "-o", "sample.png"], "sample.png"),
        # Drawn against seconds too, so only its exit status is compared.
        ("plot-convergence", ["plot", "--convergence", "sample", "natgrad", "-o", "conv.png"], []),
        ("page", ["page", "sample", "-r", f"{s}/mixture.json"], "sample"),
        ("batch", ["separate", "mix4.wav", "room.wav", "-o", "batch", "--jobs", "2"], "batch"),
    ]
    for case in cases:
        name = Path(case).name
        out.append(
            (f"case-{name}", ["separate", f"{case}/mix.wav", "-o", f"case-{name}"], f"case-{name}")
        )
    return out


def fingerprint(cocktail, cases, scratch):
    result = {}
    env = dict(os.environ, PYTHONHASHSEED="0")
    for name, argv, what in _commands(cases):
        proc = subprocess.run([cocktail, *argv, "-q"], cwd=scratch, env=env, capture_output=True)
        entry = {"status": proc.returncode, "stderr": proc.stderr.decode(errors="replace")}
        if what is None:
            stdout = proc.stdout
            if argv[0] == "evaluate" and b"{" in stdout[:2]:
                stdout = json.dumps(_strip_timings(json.loads(stdout))).encode()
            entry["stdout"] = hashlib.sha256(stdout).hexdigest()
        else:
            for w in [what] if isinstance(what, str) else what:
                entry.update({f"{w}/{k}": v for k, v in _digest_tree(Path(scratch) / w).items()})
        result[name] = entry
        print(f"{name}: exit {proc.returncode}", file=sys.stderr)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="case folders holding mix.wav")
    parser.add_argument(
        "--cocktail",
        default=str(Path(sys.executable).parent / "cocktail"),
        help="the cocktail executable [default: beside this Python]",
    )
    parser.add_argument(
        "--compare",
        metavar="BEFORE.json",
        help="compare with an earlier fingerprint; exit 1 on any difference",
    )
    args = parser.parse_args()
    # A fixed place: reports and pages record the paths they were given.
    scratch = Path(tempfile.gettempdir()) / "cocktail-fingerprint"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        now = fingerprint(args.cocktail, args.cases, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not args.compare:
        json.dump(now, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    before = json.loads(Path(args.compare).read_text())
    differ = []
    for name in sorted(set(before) | set(now)):
        a, b = before.get(name, {}), now.get(name, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                differ.append(
                    f"{name}: {key}: {str(a.get(key))[:60]!r} -> {str(b.get(key))[:60]!r}"
                )
    print("\n".join(differ) if differ else f"identical: {len(now)} commands", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
