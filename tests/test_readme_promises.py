"""The README's exit-status table, row by row: each example runs and gives its status."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import ROOT, SAMPLES, cocktail_cmd, default_sigint, pcm16_wav_header, speechlike

HANG_GUARD = 120
POLL = 0.05
RATE = 8000


def table_rows():
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- exit-status table")[1].split("<!-- end of exit-status table")[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 3 and cells[0].isdigit():
            example = re.search(r"`(.*?)`", cells[2]).group(1).replace("\\|", "|")
            rows.append((int(cells[0]), cells[1], example))
    return rows


ROWS = table_rows()


def test_the_table_lists_every_status_the_command_line_gives():
    assert [status for status, _, _ in ROWS] == [0, 1, 2, 130, 141, 143]


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(SAMPLES / "mixture.wav", tmp_path / "mix.wav")
    (tmp_path / "notes.txt").write_text("not audio\n")
    return tmp_path


def run_example(example, workdir):
    """The example in bash, `cocktail` being this checkout's, with pipefail."""
    script = f'cocktail() {{ "{sys.executable}" -m cocktail "$@"; }}\nset -o pipefail\n{example}\n'
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        ["bash", "-c", script], cwd=workdir, capture_output=True, timeout=HANG_GUARD, env=env
    )


def signalled_run(signum, workdir):
    """A run writing its outputs, stopped by ``signum``: its status and stderr."""
    rng = np.random.default_rng(3)
    X = np.array([[1.0, 0.5], [0.4, 1.0]]) @ speechlike(2, 3 * RATE, rng)
    pcm = np.round(X / np.abs(X).max() * 20000).astype("<i2").T.tobytes()
    out = workdir / "out"
    p = subprocess.Popen(
        cocktail_cmd()
        + ["separate", "-", "-o", str(out), "--fit-seconds", "1", "--block-seconds", "0.1", "-q"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )
    p.stdin.write(pcm16_wav_header(2, RATE, 60 * RATE) + pcm)  # promises a minute, sends 3 s
    p.stdin.flush()
    deadline = time.monotonic() + HANG_GUARD
    while not (out.is_dir() and any(out.glob(".*.part"))):
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
        time.sleep(POLL)
    p.send_signal(signum)
    code = p.wait(HANG_GUARD)
    p.stdin.close()
    return code, p.stderr.read().decode(), out


@pytest.mark.parametrize("status, meaning, example", ROWS, ids=[str(r[0]) for r in ROWS])
def test_each_row(status, meaning, example, workdir):
    if example.startswith("kill -"):
        signum = {"-INT": signal.SIGINT, "-TERM": signal.SIGTERM}[example.split()[1]]
        code, stderr, out = signalled_run(signum, workdir)
        assert code == status
        assert stderr == (
            "Error: interrupted\n" if signum == signal.SIGINT else "Error: terminated\n"
        )
        assert not out.exists()  # no partial file, not even the folder
        return
    before = (workdir / "mix.wav").read_bytes()
    p = run_example(example, workdir)
    assert p.returncode == status, p.stderr
    stderr = p.stderr.decode()
    assert "Traceback" not in stderr
    if status == 0:
        assert (workdir / "out" / "speaker_1.wav").is_file()
    elif status == 141:
        assert stderr == ""
    else:
        assert len(stderr.splitlines()) == 1 and stderr.startswith("Error: ")
        assert not (workdir / "out").exists()
    if status == 2:
        assert "'--tol'" in stderr
    assert (workdir / "mix.wav").read_bytes() == before
