"""Random and mutated WAV bytes: never a traceback, never a half-written file, never NaN.

Each example goes to `separate`, `evaluate` and `plot` as a file, and to
`separate` through a real pipe. The number of examples is bounded so the
whole file stays quick.
"""

import io
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import cocktail_cmd, run, speechlike

RATE = 8000
FRAMES = 3000
#: Header fields worth breaking: (offset, width) in a canonical 44-byte header.
FIELDS = [(4, 4), (16, 4), (20, 2), (22, 2), (24, 4), (28, 4), (32, 2), (34, 2), (40, 4)]
SPECIAL_VALUES = [0, 1, 2, 3, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]
HANG_GUARD = 120


def _base(subtype):
    rng = np.random.default_rng(7)
    X = np.array([[1.0, 0.6], [0.4, 1.0]]) @ speechlike(2, FRAMES, rng, rate=RATE)
    buf = io.BytesIO()
    sf.write(buf, (0.5 * X / np.abs(X).max()).T, RATE, format="WAV", subtype=subtype)
    return buf.getvalue()


BASES = [_base("PCM_16"), _base("FLOAT")]
REFERENCE = BASES[0]


@st.composite
def wav_bytes(draw):
    base = bytearray(draw(st.sampled_from(BASES)))
    kind = draw(st.sampled_from(["field", "flip", "truncate", "junk", "random"]))
    if kind == "field":
        for _ in range(draw(st.integers(1, 3))):
            offset, width = draw(st.sampled_from(FIELDS))
            value = draw(st.sampled_from(SPECIAL_VALUES) | st.integers(0, 2 ** (8 * width) - 1))
            base[offset : offset + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            base[draw(st.integers(0, 99))] = draw(st.integers(0, 255))
    elif kind == "truncate":
        base = base[: draw(st.integers(0, len(base)))]
    elif kind == "junk":
        base += draw(st.binary(min_size=1, max_size=64))
    else:
        base = bytearray(draw(st.binary(max_size=256)))
    return bytes(base)


def check_outcome(result, outputs, folder):
    """Exit 0 or 1 (the command line is right); an error is one last line; no leftovers."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert not [p for p in folder.rglob(".*") if p.name.endswith(".part")]
    if result.exit_code == 1:
        lines = result.stderr.splitlines()
        assert lines and lines[-1].startswith("Error: "), result.stderr
        assert not [p for p in outputs if p.exists() and (p.is_file() or any(p.iterdir()))]


def _no_nan(constant):
    raise AssertionError(f"{constant} in a report")


def finite_wavs(paths):
    for p in paths:
        x, _ = sf.read(p)
        assert np.isfinite(x).all(), p


FUZZ = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(data=wav_bytes())
def test_separate_a_file(data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        mix = d / "in.wav"
        mix.write_bytes(data)
        out = d / "out"
        result = run("separate", mix, "-o", out, "-q")
        check_outcome(result, [out], d)
        if result.exit_code == 0:
            finite_wavs(sorted(out.glob("speaker_*.wav")))
            json.loads((out / "separation.json").read_text(), parse_constant=_no_nan)
        assert mix.read_bytes() == data


@FUZZ
@given(data=wav_bytes())
def test_evaluate_a_file(data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        est, ref = d / "est.wav", d / "ref.wav"
        est.write_bytes(data)
        ref.write_bytes(REFERENCE)
        result = run("evaluate", est, "-r", ref, "--json", "-q")
        check_outcome(result, [], d)
        if result.exit_code == 0:
            json.loads(result.stdout, parse_constant=_no_nan)


@settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=wav_bytes())
def test_plot_a_file(data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        est, picture = d / "est.wav", d / "p.png"
        est.write_bytes(data)
        result = run("plot", est, "-o", picture, "-q")
        check_outcome(result, [picture], d)
        if result.exit_code == 0:
            assert picture.read_bytes().startswith(b"\x89PNG")


@settings(
    max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=wav_bytes())
def test_separate_through_a_pipe(data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        p = subprocess.run(
            cocktail_cmd() + ["separate", "-", "-o", str(d / "out"), "-q"],
            input=data,
            capture_output=True,
            timeout=HANG_GUARD,
        )
        assert p.returncode in (0, 1), p.stderr
        assert b"Traceback" not in p.stderr
        assert not [q for q in d.rglob(".*") if q.name.endswith(".part")]
        if p.returncode == 1:
            assert p.stderr.decode().splitlines()[-1].startswith("Error: ")
            assert not (d / "out").exists()
        else:
            finite_wavs(sorted((d / "out").glob("speaker_*.wav")))
