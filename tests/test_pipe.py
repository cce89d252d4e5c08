"""Bytes through real OS pipes: CliRunner's seekable stdin would hide the bugs."""

import io
import json
import subprocess

import numpy as np
import soundfile as sf

from cocktail.metrics import amari_index
from helpers import SAMPLES, cocktail_cmd


def test_mix_to_separate_through_a_pipe(tmp_path):
    voices = [str(SAMPLES / f) for f in ("alice.wav", "bob.wav")]
    mixer = subprocess.Popen(
        cocktail_cmd()
        + ["mix", *voices, "--seed", "2", "-o", "-", "--sidecar", str(tmp_path / "m.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sep = subprocess.run(
        cocktail_cmd() + ["separate", "-", "-o", str(tmp_path / "out")],
        stdin=mixer.stdout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    mixer.stdout.close()
    assert mixer.wait(timeout=60) == 0
    assert sep.returncode == 0, sep.stderr
    assert sep.stdout == ""
    report = json.loads((tmp_path / "out" / "separation.json").read_text())
    side = json.loads((tmp_path / "m.json").read_text())
    assert amari_index(np.array(report["unmixing"]) @ np.array(side["mixing"])) < 0.01
    for i in (1, 2):
        y, rate = sf.read(tmp_path / "out" / f"speaker_{i}.wav")
        assert rate == 16000 and len(y) == side["n_samples"]


def test_separate_stdout_through_a_pipe_is_a_valid_wav(tmp_path):
    mix = str(SAMPLES / "mixture.wav")
    with open(mix, "rb") as f:
        p = subprocess.run(
            cocktail_cmd() + ["separate", "-", "-o", "-", "--quiet"],
            stdin=f,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    y, rate = sf.read(io.BytesIO(p.stdout))
    x, _ = sf.read(mix)
    assert rate == 16000 and y.shape == x.shape
    # The header's sizes are right: the data chunk holds exactly the samples.
    assert int.from_bytes(p.stdout[4:8], "little") == len(p.stdout) - 8


def test_errors_through_a_pipe_are_one_line():
    p = subprocess.run(
        cocktail_cmd() + ["separate", "-"],
        input=b"this is not a wav file",
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == 1
    assert p.stdout == b""
    assert p.stderr.decode() == (
        "Error: cannot read standard input: not a readable audio file (Format not recognised.)\n"
    )


def test_empty_stdin():
    p = subprocess.run(
        cocktail_cmd() + ["separate", "-"], input=b"", capture_output=True, timeout=60
    )
    assert p.returncode == 1
    assert p.stderr.decode() == "Error: standard input is empty: expected a WAV stream\n"


def test_eight_bit_wav_streams_read_like_files(tmp_path):
    """arecord's default format (unsigned 8-bit) and G.711 A-law and mu-law
    WAVs piped in separate exactly as the same files given by name."""
    x, rate = sf.read(SAMPLES / "mixture.wav")
    for subtype in ("PCM_U8", "ALAW", "ULAW"):
        path = tmp_path / f"{subtype}.wav"
        sf.write(path, x, rate, subtype=subtype)
        piped = subprocess.run(
            cocktail_cmd() + ["separate", "-", "-o", "-", "--quiet"],
            input=path.read_bytes(),
            capture_output=True,
            timeout=120,
        )
        named = subprocess.run(
            cocktail_cmd() + ["separate", str(path), "-o", "-", "--quiet"],
            capture_output=True,
            timeout=120,
        )
        assert piped.returncode == 0, piped.stderr
        assert piped.stdout == named.stdout
        y, out_rate = sf.read(io.BytesIO(piped.stdout))
        assert sf.info(io.BytesIO(piped.stdout)).subtype == "FLOAT"
        assert out_rate == rate and y.shape == x.shape


def test_adaptive_run_through_a_pipe_reports_its_pace(tmp_path):
    """cat mixture.wav | cocktail separate - --adaptive -o - --report r.json:
    the report says how long separating the stream took, and the pace that
    makes, computed from the samples that went through."""
    with open(SAMPLES / "mixture.wav", "rb") as f:
        p = subprocess.run(
            cocktail_cmd()
            + [
                "separate",
                "-",
                "--adaptive",
                "-o",
                "-",
                "--report",
                str(tmp_path / "r.json"),
            ],
            stdin=f,
            capture_output=True,
            timeout=120,
        )
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    busy, pace = report["compute_seconds"], report["real_time_factor"]
    seconds = report["n_samples"] / report["sample_rate"]
    assert busy > 0
    assert seconds / (busy + 5e-4) <= pace <= seconds / max(busy - 5e-4, 1e-9)
    # ...and so does the last line on stderr
    last = p.stderr.decode().strip().splitlines()[-1]
    said = f"{pace:.{0 if pace >= 10 else 1}f}x real time) -> stdout"
    assert last.startswith("2 speakers separated (") and last.endswith(", separating at " + said)
