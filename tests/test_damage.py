"""Never damage what cocktail does not own, never write NaN.

Outputs onto devices, FIFOs and links; SIGTERM and Ctrl-C with worker
processes; stdout that is the input; unmixings and sources holding NaN.
Every special file is made here, in a temporary folder.
"""

import base64
import json
import os
import signal
import stat
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from cocktail import separation
from helpers import (
    SAMPLES,
    cocktail_cmd,
    default_sigint,
    only_error,
    pcm16_wav_header,
    run,
    speechlike,
)

#: Seconds a stopped command may take to clean up and leave (a hang guard, not a measure).
HANG_GUARD = 60
#: How often to look for a file a running command makes.
POLL = 0.05


def leftovers(folder):
    """Hidden temporary files anywhere below ``folder``."""
    return [p for p in folder.rglob(".*") if p.name.endswith(".part")]


@pytest.fixture
def null_device(tmp_path):
    """A character device like /dev/null, made in the test's own folder."""
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device needs privileges")
    return path


def is_device(path):
    return stat.S_ISCHR(os.lstat(path).st_mode)


# ------------------------------------------------- devices, FIFOs and links


def test_every_output_onto_a_device_writes_it_and_leaves_it_a_device(
    mixture, null_device, tmp_path
):
    mix, _, _ = mixture
    voices = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]
    runs = [
        ("separate", mix, "-o", tmp_path / "r", "--report", null_device),
        ("separate", mix, "-o", tmp_path / "o", "--plot", null_device),
        ("mix", *voices, "-o", null_device, "--sidecar", null_device),
        ("mix", *voices, "-o", tmp_path / "m.wav", "--sidecar", tmp_path / "m.json"),
        ("plot", tmp_path / "o", "-o", null_device),
        ("evaluate", tmp_path / "o", "-r", tmp_path / "o" / "speaker_1.wav", "--plot", null_device),
    ]
    for args in runs:
        result = run(*args, "-q")
        assert result.exit_code == 0, (args, result.output)
        assert is_device(null_device), args
    assert leftovers(tmp_path) == []


def test_an_output_onto_a_fifo_reaches_its_reader(mixture, tmp_path):
    mix, _, _ = mixture
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = run("separate", mix, "-o", tmp_path / "o", "--report", fifo, "-q")
    reader.join(HANG_GUARD)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(received[0])["n_sources"] == 3
    assert leftovers(tmp_path) == []


def test_a_link_is_followed_not_replaced(mixture, tmp_path):
    mix, _, _ = mixture
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "report.json"
    link = tmp_path / "report.json"
    os.symlink(target, link)  # dangling until written
    speaker_target = tmp_path / "elsewhere" / "one.wav"
    (tmp_path / "o").mkdir()
    os.symlink(speaker_target, tmp_path / "o" / "speaker_1.wav")
    result = run("separate", mix, "-o", tmp_path / "o", "--report", link, "-q")
    assert result.exit_code == 0, result.output
    assert os.path.islink(link) and os.path.islink(tmp_path / "o" / "speaker_1.wav")
    assert json.loads(target.read_text())["n_sources"] == 3
    assert sf.info(str(speaker_target)).frames == 16000
    assert leftovers(tmp_path) == []


# ------------------------------------------------------ signals and workers


def _wait_for(predicate, process):
    deadline = time.monotonic() + HANG_GUARD
    while not predicate():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the command never got there"
        time.sleep(POLL)


@pytest.mark.parametrize(
    "stop, word",
    [(signal.SIGTERM, b"terminated"), (signal.SIGHUP, b"hung up")],
    ids=["SIGTERM", "SIGHUP"],
)
def test_a_stop_signal_while_writing_cleans_up_like_ctrl_c(tmp_path, rng, stop, word):
    """SIGTERM (timeout, job schedulers) and SIGHUP (a closed terminal) are stops
    like Ctrl-C: one line, their own exit status, no .part file, no folder left."""
    rate = 8000
    X = np.array([[1.0, 0.5], [0.4, 1.0]]) @ speechlike(2, 4 * rate, rng)
    pcm = np.round(X / np.abs(X).max() * 20000).astype("<i2").T.tobytes()
    out = tmp_path / "o"
    p = subprocess.Popen(
        cocktail_cmd()
        + ["separate", "-", "-o", str(out), "--fit-seconds", "1", "--block-seconds", "0.1", "-q"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # A stream promising a minute: the writing starts after a second of it.
    p.stdin.write(pcm16_wav_header(2, rate, 60 * rate) + pcm)
    p.stdin.flush()
    _wait_for(lambda: out.is_dir() and len(leftovers(out)) == 2, p)
    p.send_signal(stop)
    assert p.wait(HANG_GUARD) == 128 + stop
    p.stdin.close()
    assert p.stderr.read() == b"Error: " + word + b"\n"
    assert leftovers(tmp_path) == [] and not out.exists()


def _room_inputs(tmp_path, n):
    inputs = []
    for i in range(n):
        path = tmp_path / f"in{i}.wav"
        path.write_bytes((SAMPLES / "mixture.wav").read_bytes())
        inputs.append(str(path))
    return inputs


@pytest.mark.parametrize("whole_group", [True, False], ids=["group", "parent-alone"])
def test_ctrl_c_with_workers_stops_every_file(tmp_path, whole_group):
    # A solver that would run for hours unless stopped.
    endless = ["--model", "convolutive", "--max-iter", "1000000", "--tol", "1e-300"]
    out = tmp_path / "out"
    p = subprocess.Popen(
        cocktail_cmd()
        + ["separate", *_room_inputs(tmp_path, 4), "-o", str(out), "--jobs", "2", "-q", *endless],
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    _wait_for(lambda: out.is_dir() and len(list(out.iterdir())) >= 2, p)
    time.sleep(1.0)  # let the workers get into their solvers
    if whole_group:
        os.killpg(p.pid, signal.SIGINT)
    else:
        os.kill(p.pid, signal.SIGINT)
    try:
        code = p.wait(HANG_GUARD)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert code == 130
    assert p.stderr.read().decode().splitlines()[-1] == "Error: interrupted"
    assert list(out.rglob("speaker_*")) == [] and leftovers(tmp_path) == []


def test_stdout_appending_to_the_input_is_refused(mixture):
    mix, _, _ = mixture
    before = mix.read_bytes()
    with open(mix, "ab") as stdout:
        p = subprocess.run(
            cocktail_cmd() + ["separate", str(mix), "-o", "-"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=HANG_GUARD,
        )
    assert p.returncode == 1
    assert p.stderr.decode() == (
        f"Error: standard output is the input file '{mix}': writing to "
        "it would damage it; redirect the output to another file\n"
    )
    assert mix.read_bytes() == before


def test_mix_to_stdout_appending_to_a_source_is_refused(tmp_path):
    src = tmp_path / "a.wav"
    src.write_bytes((SAMPLES / "alice.wav").read_bytes())
    before = src.read_bytes()
    with open(src, "ab") as stdout:
        p = subprocess.run(
            cocktail_cmd() + ["mix", str(src), str(SAMPLES / "bob.wav"), "-o", "-"],
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=HANG_GUARD,
        )
    assert p.returncode == 1 and b"standard output is the input file" in p.stderr
    assert src.read_bytes() == before


# ------------------------------------------------------------------- NaN


@pytest.fixture
def saved(mixture, tmp_path):
    mix, _, _ = mixture
    assert run("separate", mix, "-o", tmp_path / "first", "-q").exit_code == 0
    return mix, json.loads((tmp_path / "first" / "separation.json").read_text())


def _apply(mix, report, tmp_path):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(report).replace("Infinity", "NaN"))
    return run("separate", mix, "--apply", path, "-o", tmp_path / "o"), path


@pytest.mark.parametrize(
    "edit, why",
    [
        (
            lambda r: r["unmixing"][0].__setitem__(0, float("nan")),
            "its unmixing holds NaN or infinite values",
        ),
        (
            lambda r: r.update(unmixing=[[float("nan"), 1], [1, 0]], mean=[0.0, 0.0]),
            "its unmixing holds NaN or infinite values",
        ),
        (lambda r: r.update(unmixing=[1, 2, 3]), "unmixing is not a matrix"),
        (lambda r: r.update(unmixing=[[1, "a", 0]] * 3), "could not convert string to float: 'a'"),
        (lambda r: r.update(mean=[0.0]), "mean is not 3 finite numbers"),
        (lambda r: r.update(unmixing=r["unmixing"] * 2), "it has more sources than microphones"),
        (lambda r: r.pop("unmixing"), "no 'unmixing'"),
    ],
)
def test_apply_refuses_a_broken_instantaneous_unmixing(saved, tmp_path, edit, why):
    mix, report = saved
    edit(report)
    result, path = _apply(mix, report, tmp_path)
    only_error(result, f"cannot read '{path}': not a usable separation report ({why})")
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def _room_report(nfft=64, hop=16, n=2, m=2, value=0.5):
    W = np.full((nfft // 2 + 1, n, m), value, dtype="<f2")

    def pack(a):
        return base64.b64encode(a.tobytes()).decode()

    return {
        "unmixing_shape": list(W.shape),
        "unmixing_dtype": "<f2",
        "unmixing_real": pack(W),
        "unmixing_imag": pack(np.zeros_like(W)),
        "nfft": nfft,
        "hop": hop,
        "sample_rate": 16000,
        "mean": [0.0] * m,
    }


@pytest.mark.parametrize(
    "report, why",
    [
        (_room_report(value=np.nan), "its unmixing holds NaN or infinite values"),
        ({**_room_report(), "nfft": 7}, "nfft 7 is not a power of two of at least 16"),
        ({**_room_report(), "hop": 0}, "hop 0 is not between 1 and nfft/2"),
        ({**_room_report(), "nfft": 128}, "33 frequency bins do not match nfft 128"),
        (
            {**_room_report(), "unmixing_shape": [33, 2]},
            "unmixing_shape [33, 2] is not bins x sources x mics",
        ),
        (
            {**_room_report(), "unmixing_real": "AAAAAA=="},
            "the stored matrices do not hold [33, 2, 2] values",
        ),
        ({**_room_report(), "unmixing_dtype": "<i8"}, "unknown unmixing_dtype '<i8'"),
    ],
)
def test_apply_refuses_a_broken_room_unmixing(tmp_path, report, why):
    path = tmp_path / "room.json"
    path.write_text(json.dumps(report))
    result = run("separate", SAMPLES / "mixture.wav", "--apply", path, "-o", tmp_path / "o")
    only_error(result, f"cannot read '{path}': not a usable separation report ({why})")
    assert leftovers(tmp_path) == []


def test_a_working_room_report_still_applies(tmp_path):
    path = tmp_path / "room.json"
    path.write_text(json.dumps(_room_report(nfft=1024, hop=256)))
    result = run("separate", SAMPLES / "mixture.wav", "--apply", path, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    assert np.isfinite(sf.read(tmp_path / "o" / "speaker_1.wav")[0]).all()


def test_mix_refuses_a_source_holding_nan(tmp_path, rng):
    bad = rng.standard_normal(8000) * 0.1
    bad[1234] = np.nan
    sf.write(tmp_path / "bad.wav", bad, 8000, subtype="FLOAT")
    result = run("mix", SAMPLES / "alice.wav", tmp_path / "bad.wav", "-o", tmp_path / "m.wav")
    only_error(
        result, f"'{tmp_path / 'bad.wav'}' contains NaN or infinite samples (first at 0.154 s)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav"]


def test_no_block_that_is_not_finite_is_ever_written(mixture, tmp_path, monkeypatch):
    """The last guard, whatever produced the NaN."""
    mix, _, _ = mixture
    real = separation.Instantaneous.process

    def poisoned(self, block):
        y = real(self, block)
        y[0, -1] = np.nan
        return y

    monkeypatch.setattr(separation.Instantaneous, "process", poisoned)
    for out in (tmp_path / "o", "-"):
        result = run("separate", mix, "-o", out, "--block-seconds", "0.5")
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: not writing ") and result.stderr.endswith(
            ": the result holds NaN or infinite samples (the input or the unmixing is not usable)\n"
        )
        assert result.stdout_bytes == b""
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------- stdout itself


def test_closed_stdout_is_one_error_line(mixture):
    mix, _, _ = mixture
    p = subprocess.run(
        cocktail_cmd() + ["separate", str(mix), "-o", "-"],
        stdout=None,
        stderr=subprocess.PIPE,
        timeout=HANG_GUARD,
        preexec_fn=lambda: os.close(1),
    )
    assert p.returncode == 1
    assert p.stderr.decode() == (
        "Error: standard output is closed: redirect it to a file or a "
        "pipe, or give a file name instead of '-'\n"
    )


def test_a_reader_that_leaves_early_is_not_an_error(mixture):
    """`cocktail ... -o - | head -c 100`: quiet, with the status of SIGPIPE as other tools."""
    mix, _, _ = mixture
    p = subprocess.Popen(
        cocktail_cmd() + ["separate", str(mix), "-o", "-", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert len(p.stdout.read(100)) == 100
    p.stdout.close()
    assert p.wait(HANG_GUARD) == 128 + signal.SIGPIPE
    assert p.stderr.read() == b""


# ---------------------------------------------------------------- siblings


def test_report_onto_the_input_with_stdout_output_is_refused(mixture):
    mix, _, _ = mixture
    before = mix.read_bytes()
    result = run("separate", mix, "-o", "-", "--report", mix)
    only_error(result, f"output '{mix}' would overwrite the input")
    assert mix.read_bytes() == before


def test_outputs_onto_the_applied_report_are_refused(mixture, tmp_path):
    mix, _, _ = mixture
    assert run("separate", mix, "-o", tmp_path / "a", "-q").exit_code == 0
    saved = tmp_path / "a" / "separation.json"
    before = saved.read_bytes()
    for out in (tmp_path / "a", "-"):
        result = run("separate", mix, "-o", out, "--apply", saved, "--report", saved)
        only_error(result, f"output '{saved}' would overwrite the input")
    assert saved.read_bytes() == before


def test_mix_sidecar_onto_its_matrix_is_refused(tmp_path):
    matrix = tmp_path / "m.json"
    matrix.write_text("[[1, 0.5], [0.3, 1]]")
    result = run(
        "mix",
        SAMPLES / "alice.wav",
        SAMPLES / "bob.wav",
        "-o",
        tmp_path / "m.wav",
        "--matrix",
        matrix,
    )
    only_error(result, f"output '{matrix}' is also an input; choose another name")
    assert matrix.read_text() == "[[1, 0.5], [0.3, 1]]"


def test_evaluate_appending_to_its_estimates_is_refused(mixture, tmp_path):
    mix, _, _ = mixture
    assert run("separate", mix, "-o", tmp_path / "o", "-q").exit_code == 0
    speaker = tmp_path / "o" / "speaker_1.wav"
    before = speaker.read_bytes()
    with open(speaker, "ab") as stdout:
        p = subprocess.run(
            cocktail_cmd() + ["evaluate", str(tmp_path / "o"), "-r", str(mix)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=HANG_GUARD,
        )
    assert p.returncode == 1
    assert p.stderr.decode() == (
        f"Error: standard output is the input file '{speaker}': "
        "writing to it would damage it; redirect the output to another "
        "file\n"
    )
    assert speaker.read_bytes() == before


@pytest.mark.parametrize("rate", [0, -5, float("nan"), 16000.5])
def test_library_refuses_a_sample_rate_that_is_not_one(rate):
    import cocktail
    from cocktail.errors import CocktailError

    X = np.random.default_rng(0).laplace(size=(2, 16000))
    with pytest.raises(CocktailError) as err:
        cocktail.separate(X, rate)
    assert str(err.value) == (
        f"the sample rate must be a positive whole number of Hz, got {rate!r}"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["separate", "-", "-o", "{tmp}/o"],
        ["separate", "-", "--raw", "--rate", "8000", "--channels", "2", "-o", "{tmp}/o"],
        ["separate", str(SAMPLES / "mixture.wav"), "--apply", "-", "-o", "{tmp}/o"],
        ["evaluate", "-", "-r", str(SAMPLES / "mixture.wav")],
        [
            "mix",
            str(SAMPLES / "alice.wav"),
            str(SAMPLES / "bob.wav"),
            "--matrix",
            "-",
            "-o",
            "{tmp}/m.wav",
        ],
    ],
    ids=["wav", "raw", "apply", "evaluate", "matrix"],
)
def test_closed_stdin_is_one_error_line(tmp_path, args):
    p = subprocess.run(
        cocktail_cmd() + [a.format(tmp=tmp_path) for a in args],
        stdin=None,
        capture_output=True,
        timeout=HANG_GUARD,
        preexec_fn=lambda: os.close(0),
    )
    assert p.returncode == 1
    assert p.stderr.decode() == (
        "Error: standard input is closed: give a file name instead of '-', or pipe something in\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_plot_with_a_report_onto_a_device_is_refused_before_any_work(
    mixture, null_device, tmp_path
):
    mix, _, _ = mixture
    result = run(
        "separate", mix, "-o", tmp_path / "o", "--report", null_device, "--plot", tmp_path / "p.png"
    )
    only_error(
        result,
        f"--plot draws from the report: give --report a file, not "
        f"'{null_device}' (see 'cocktail separate --help')",
        code=2,
    )
    assert not (tmp_path / "o").exists() and is_device(null_device)


def test_mix_refuses_an_impulse_response_holding_nan(tmp_path, rng):
    rir = rng.standard_normal((400, 2)) * 0.01
    rir[10, 1] = np.inf
    for name in ("r1.wav", "r2.wav"):
        sf.write(tmp_path / name, rir, 16000, subtype="FLOAT")
    result = run(
        "mix",
        SAMPLES / "alice.wav",
        SAMPLES / "bob.wav",
        "--rir",
        tmp_path / "r1.wav",
        "--rir",
        tmp_path / "r2.wav",
        "-o",
        tmp_path / "m.wav",
        "-q",
    )
    only_error(result, f"impulse response '{tmp_path / 'r1.wav'}' contains NaN or infinite samples")
    assert not (tmp_path / "m.wav").exists()


def test_an_interruption_between_any_two_steps_leaves_nothing(mixture, tmp_path, monkeypatch):
    """Ctrl-C just after a writer made its temporary file, before anyone holds the writer."""
    from cocktail.io import stream

    mix, _, _ = mixture
    real = stream.Writer.__init__
    made = []

    def interrupted_after_second(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self.temporary)
        if len(made) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(stream.Writer, "__init__", interrupted_after_second)
    result = run("separate", mix, "-o", tmp_path / "o")
    only_error(result, "interrupted", code=130)
    assert len(made) == 2 and leftovers(tmp_path) == []
    assert not (tmp_path / "o").exists()


def test_a_picture_onto_a_file_inside_an_input_folder_is_refused(mixture, tmp_path):
    mix, _, _ = mixture
    assert run("separate", mix, "-o", tmp_path / "o", "-q").exit_code == 0
    report = tmp_path / "o" / "separation.json"
    before = report.read_bytes()
    only_error(
        run("plot", tmp_path / "o", "-o", report), f"output '{report}' would overwrite an input"
    )
    only_error(
        run("evaluate", tmp_path / "o", "-r", mix, "--plot", report),
        f"output '{report}' would overwrite an input",
    )
    assert report.read_bytes() == before
