"""Streams and files whose header does not tell their true length.

Through real pipes (a seekable CliRunner stdin would hide what matters) and
with stdout redirected to a real file.
"""

import io
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from helpers import SAMPLES, cocktail_cmd

HANG_GUARD = 120
MIX = SAMPLES / "mixture.wav"


def cocktail(*args, stdin=None, stdout=subprocess.PIPE):
    return subprocess.run(
        cocktail_cmd() + [str(a) for a in args],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=HANG_GUARD,
    )


def data_offset(wav):
    """Where the samples start in a RIFF/WAVE file's bytes, and the chunk's size."""
    pos = 12
    while wav[pos : pos + 4] != b"data":
        pos += 8 + struct.unpack("<I", wav[pos + 4 : pos + 8])[0]
    return pos + 8, struct.unpack("<I", wav[pos + 4 : pos + 8])[0]


@pytest.fixture
def pcm16(tmp_path):
    """The sample mixture as a canonical 16-bit WAV (44-byte header), and its samples."""
    x, rate = sf.read(MIX, dtype="int16")
    path = tmp_path / "rec.wav"
    sf.write(path, x, rate, subtype="PCM_16")
    return path, x, rate


def with_sizes(wav, data_size, riff_size=None):
    """The same WAV with other sizes written into its header."""
    offset, _ = data_offset(wav)
    b = bytearray(wav)
    b[4:8] = struct.pack("<I", data_size if riff_size is None else riff_size)
    b[offset - 4 : offset] = struct.pack("<I", data_size)
    return bytes(b)


def cut_stream(pcm16, tmp_path, frames, extra=1):
    path, x, rate = pcm16
    wav = path.read_bytes()
    offset, _ = data_offset(wav)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav[: offset + frames * x.shape[1] * 2 + extra])
    return cut


def test_a_stream_that_ends_early_says_so(pcm16, tmp_path):
    _, x, rate = pcm16
    frames = 30000
    with open(cut_stream(pcm16, tmp_path, frames), "rb") as stdin:
        p = cocktail("separate", "-", "-o", tmp_path / "out", "-q", stdin=stdin)
    assert p.returncode == 0, p.stderr
    assert p.stderr.decode().splitlines() == [
        "Warning: standard input ends with 1 byte that makes no whole frame (4 bytes each): "
        "ignored",
        f"Warning: standard input ended early: {frames / rate:.3f} s of the "
        f"{len(x) / rate:.3f} s its header promises ({frames} of {len(x)} frames; "
        "separated what arrived)",
    ]
    for i in (1, 2):
        assert sf.info(str(tmp_path / "out" / f"speaker_{i}.wav")).frames == frames


def test_stdout_to_a_file_gets_the_true_sizes(pcm16, tmp_path):
    frames = 30000
    out = tmp_path / "o.wav"
    with open(cut_stream(pcm16, tmp_path, frames, extra=0), "rb") as stdin, open(out, "wb") as f:
        p = cocktail("separate", "-", "-o", "-", "-q", stdin=stdin, stdout=f)
    assert p.returncode == 0, p.stderr
    wav = out.read_bytes()
    assert data_offset(wav) == (44, frames * 2 * 2)
    assert struct.unpack("<I", wav[4:8])[0] == len(wav) - 8
    # ...so cocktail reads its own output back.
    p = cocktail("separate", out, "-o", tmp_path / "again", "-q")
    assert p.returncode == 0 and p.stderr == b""


def test_own_stream_output_of_unknown_length_reads_back(pcm16, tmp_path):
    """cat rec.wav | cocktail separate - -o - > sp.wav, through a pipe: sp.wav is usable."""
    path, x, _ = pcm16
    unknown = tmp_path / "unknown.wav"
    unknown.write_bytes(with_sizes(path.read_bytes(), 0xFFFFFFFF))
    cat = subprocess.Popen(["cat", str(unknown)], stdout=subprocess.PIPE)
    sep = subprocess.Popen(
        cocktail_cmd() + ["separate", "-", "-o", "-", "-q"],
        stdin=cat.stdout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    cat.stdout.close()
    wav, err = sep.communicate(timeout=HANG_GUARD)
    assert sep.returncode == 0, err
    sp = tmp_path / "sp.wav"
    sp.write_bytes(wav)
    assert data_offset(wav)[1] == 0xFFFFFFFF  # a pipe: the length was not known
    note = (
        f"the header of '{sp}' gives no length (as a stream written to a file does): read "
        "to the end of the file"
    )
    p = cocktail("separate", sp, "-o", tmp_path / "again", "-q")
    assert p.returncode == 0 and p.stderr.decode() == f"Warning: {note}\n"
    assert sf.info(str(tmp_path / "again" / "speaker_1.wav")).frames == len(x)
    p = cocktail("evaluate", sp, "-r", sp, "--json", "-q")
    assert p.returncode == 0, p.stderr
    p = cocktail("plot", sp, "-o", tmp_path / "p.png", "-q")
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("size", [0, 0x7FFFFFFF, 0xFFFFFFFF])
def test_a_file_with_no_length_in_its_header_reads_as_a_pipe_does(pcm16, tmp_path, size):
    path, x, _ = pcm16
    odd = tmp_path / "odd.wav"
    odd.write_bytes(with_sizes(path.read_bytes(), size, 36 if size == 0 else size))
    as_file = cocktail("separate", odd, "-o", tmp_path / "f", "-q")
    with open(odd, "rb") as stdin:
        as_pipe = cocktail("separate", "-", "-o", tmp_path / "p", "-q", stdin=stdin)
    assert as_file.returncode == 0 and as_pipe.returncode == 0, as_file.stderr + as_pipe.stderr
    assert as_file.stderr.decode() == (
        f"Warning: the header of '{odd}' gives no length (as a "
        "stream written to a file does): read to the end of the "
        "file\n"
    )
    for i in (1, 2):
        a, _ = sf.read(tmp_path / "f" / f"speaker_{i}.wav")
        b, _ = sf.read(tmp_path / "p" / f"speaker_{i}.wav")
        assert len(a) == len(x) and np.array_equal(a, b)


def test_a_truncated_file_is_still_refused(pcm16, tmp_path):
    path, x, _ = pcm16
    wav = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav[: len(wav) // 2])
    p = cocktail("separate", cut, "-o", tmp_path / "o")
    assert p.returncode == 1 and b"the file is truncated" in p.stderr


@pytest.mark.parametrize("via", ["file", "pipe"])
def test_raw_input_with_leftover_bytes_warns(pcm16, tmp_path, via):
    _, x, rate = pcm16
    raw = tmp_path / "rec.raw"
    raw.write_bytes(x.astype("<i2").tobytes() + b"\x01\x02\x03")
    args = ["--raw", "--rate", rate, "--channels", 2, "-o", tmp_path / "o", "-q"]
    if via == "file":
        p = cocktail("separate", raw, *args)
        name = f"'{raw}'"
    else:
        with open(raw, "rb") as stdin:
            p = cocktail("separate", "-", *args, stdin=stdin)
        name = "standard input"
    assert p.returncode == 0, p.stderr
    assert p.stderr.decode() == (
        f"Warning: {name} ends with 3 bytes that make no whole frame (4 bytes each): ignored\n"
    )
    assert sf.info(str(tmp_path / "o" / "speaker_1.wav")).frames == len(x)


def test_an_ended_stdin_stream_stops_and_the_next_one_reads_whole(monkeypatch):
    """What the first Ctrl-C on a live stream does to the reader: no read
    past what has arrived, and a note; once reset, standard input is read
    whole again (a second command in the same process)."""
    from cocktail.io import stream

    rate, n = 16000, 200_000
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (n, 2))
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    wav = buf.getvalue()

    def stdin():
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(wav))))
        return stream.open_input("-")

    reader = stdin()
    first = reader.read(1000)
    stream.end_input()
    try:
        rest = reader.read(n)
    finally:
        stream.reset_input()
    assert first.shape[1] + rest.shape[1] < n  # what the pipe had not delivered is not read
    assert reader.notes[-1].startswith("standard input was ended with Ctrl-C after ")
    assert stdin().read(n).shape[1] == n
