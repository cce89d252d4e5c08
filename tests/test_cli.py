"""The command line as a user meets it: files on disk, exact error text."""

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from cocktail.cli import cli
from cocktail.io import stream
from cocktail.metrics import amari_index
from helpers import SAMPLES, only_error, run, speechlike


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ separate


def test_separate_writes_speakers_and_report(mixture, tmp_path):
    mix, S, A = mixture
    out = tmp_path / "out"
    result = run("separate", mix, "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "separation.json",
        "speaker_1.wav",
        "speaker_2.wav",
        "speaker_3.wav",
    ]
    Y = np.stack([sf.read(out / f"speaker_{i}.wav")[0] for i in (1, 2, 3)])
    assert Y.shape == S.shape
    report = json.loads((out / "separation.json").read_text())
    for key in (
        "unmixing",
        "mixing",
        "iterations",
        "gradient_norm",
        "converged",
        "model",
        "parameters",
        "sample_rate",
        "outputs",
        "history",
    ):
        assert key in report
    assert report["converged"] is True
    assert report["model"] == "instantaneous"
    W = np.array(report["unmixing"])
    assert amari_index(W @ A) < 0.02
    # The report's matrix reproduces the written files.
    X = sf.read(mix)[0].T
    recon = W @ (X - np.array(report["mean"])[:, None])
    np.testing.assert_allclose(recon, Y, atol=1e-6)


def test_outputs_sound_as_at_microphone_one(mixture, tmp_path):
    """Projection back: each output is that speaker's image at mic 1."""
    mix, S, A = mixture
    run("separate", mix, "-o", tmp_path / "out")
    Y = np.stack([sf.read(tmp_path / "out" / f"speaker_{i}.wav")[0] for i in (1, 2, 3)])
    X = sf.read(mix)[0].T
    scale = np.abs(X).max() / np.abs(A @ S).max()
    images = scale * A[0][:, None] * S
    images -= images.mean(axis=1, keepdims=True)
    for y in Y:
        err = min(np.linalg.norm(y - im) / np.linalg.norm(im) for im in images)
        assert err < 0.02
    # Loudest first.
    power = (Y**2).sum(axis=1)
    assert list(power) == sorted(power, reverse=True)


def test_integer_input_stays_integer_and_never_clips(write_wav, rng, tmp_path):
    S = speechlike(2, 16000, rng)
    # Sources that add up at mic 1, so each image is loud: projection back
    # would exceed full scale without headroom.
    X = np.array([[1.0, 1.0], [1.0, -0.3]]) @ S
    X *= 0.99 / np.abs(X).max()
    mix = write_wav("int.wav", X, subtype="PCM_16")
    assert run("separate", mix, "-o", tmp_path / "o").exit_code == 0
    for i in (1, 2):
        info = sf.info(tmp_path / "o" / f"speaker_{i}.wav")
        assert info.subtype == "PCM_16"
        y = sf.read(tmp_path / "o" / f"speaker_{i}.wav", dtype="int16")[0]
        assert np.abs(y.astype(int)).max() < 32767


def test_float_input_stays_float(mixture, tmp_path):
    mix, _, _ = mixture
    run("separate", mix, "-o", tmp_path / "o")
    assert sf.info(tmp_path / "o" / "speaker_1.wav").subtype == "FLOAT"


def test_same_input_and_seed_give_identical_bytes(mixture, tmp_path):
    """Two runs, as a user makes them: separate processes, seconds apart."""
    import subprocess
    import time

    from helpers import cocktail_cmd

    mix, _, _ = mixture
    for out in ("a", "b"):
        subprocess.run(
            cocktail_cmd() + ["separate", str(mix), "-o", str(tmp_path / out), "--seed", "3", "-q"],
            check=True,
            timeout=120,
        )
        time.sleep(1.1)  # a file stamped with the time would now differ
    for i in (1, 2, 3):
        assert digest(tmp_path / "a" / f"speaker_{i}.wav") == digest(
            tmp_path / "b" / f"speaker_{i}.wav"
        )


def test_stdout_carries_one_multichannel_wav(mixture):
    mix, S, _ = mixture
    result = run("separate", mix, "-o", "-", "-q")
    assert result.exit_code == 0
    y, rate = sf.read(__import__("io").BytesIO(result.stdout_bytes))
    assert rate == 8000 and y.shape == (S.shape[1], 3)


def test_stdin_input(mixture, tmp_path):
    mix, _, _ = mixture
    result = run("separate", "-", "-o", tmp_path / "o", input=mix.read_bytes())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "speaker_3.wav").exists()


def test_default_output_folder_is_named_after_input(mixture, tmp_path, monkeypatch):
    mix, _, _ = mixture
    monkeypatch.chdir(tmp_path)
    assert run("separate", mix).exit_code == 0
    assert (tmp_path / "separated" / "mix" / "speaker_1.wav").exists()


def test_fewer_sources_than_mics(write_wav, rng, tmp_path):
    S = speechlike(2, 16000, rng)
    A = rng.standard_normal((4, 2))
    mix = write_wav("four.wav", 0.2 * A @ S)
    result = run("separate", mix, "--sources", 2, "-o", tmp_path / "o")
    assert result.exit_code == 0
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    assert amari_index(np.array(report["unmixing"]) @ A) < 0.02
    assert not (tmp_path / "o" / "speaker_3.wav").exists()


def test_progress_and_summary_on_stderr_quiet_silences(mixture, tmp_path):
    mix, _, _ = mixture
    loud = run("separate", mix, "-o", tmp_path / "a")
    assert "3 speakers separated" in loud.stderr and loud.stdout == ""
    quiet = run("separate", mix, "-o", tmp_path / "b", "--quiet")
    assert quiet.stderr == "" and quiet.stdout == ""


def test_non_convergence_is_reported(mixture, tmp_path):
    mix, _, _ = mixture
    result = run("separate", mix, "-o", tmp_path / "o", "--max-iter", 2)
    assert result.exit_code == 0
    assert "Warning: the solver did not converge in 2 iterations" in result.stderr
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    assert report["converged"] is False and report["iterations"] == 2


# ----------------------------------------------------------- bad input rows


def test_missing_file():
    only_error(run("separate", "missing.wav"), "cannot read 'missing.wav': no such file")


def test_text_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("not audio\n")
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"cannot read '{p}': not a readable audio file (Format not recognised.)",
    )
    assert not (tmp_path / "o").exists()


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    only_error(run("separate", p, "-o", tmp_path / "o"), f"cannot read '{p}': the file is empty")


def test_truncated_header(mixture, tmp_path):
    mix, _, _ = mixture
    p = tmp_path / "cut.wav"
    p.write_bytes(mix.read_bytes()[:30])
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"cannot read '{p}': not a readable audio file "
        "(Error in WAV file. No 'data' chunk marker.)",
    )


def test_truncated_data(mixture, tmp_path):
    mix, _, _ = mixture
    p = tmp_path / "cut.wav"
    p.write_bytes(mix.read_bytes()[:1000])
    result = run("separate", p, "-o", tmp_path / "o")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: cannot read '{p}': the file is truncated (its header promises"
    )


def test_mono_file(write_wav, rng, tmp_path):
    p = write_wav("mono.wav", rng.laplace(size=(1, 4000)) * 0.1)
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"'{p}' has one channel; separation needs at least two microphones "
        "(one channel per microphone)",
    )


def test_sources_more_than_microphones(mixture, tmp_path):
    mix, _, _ = mixture
    only_error(
        run("separate", mix, "--sources", 4, "-o", tmp_path / "o"),
        f"the number of sources must be between 1 and 3 (the number of microphones in "
        f"'{mix}'), got 4",
    )


@pytest.mark.parametrize("n", ["0", "-1", "two", "1.5"])
def test_sources_not_a_count(mixture, n, tmp_path):
    mix, _, _ = mixture
    only_error(
        run("separate", mix, "--sources", n, "-o", tmp_path / "o"),
        f"Invalid value for '-n' / '--sources': '{n}' is not a positive whole number, "
        "'auto' or 'all' (see 'cocktail separate --help')",
        code=2,
    )


def test_zero_length(write_wav, tmp_path):
    p = write_wav("none.wav", np.zeros((2, 0)))
    only_error(run("separate", p, "-o", tmp_path / "o"), f"'{p}' contains no samples")


def test_all_silent(write_wav, tmp_path):
    p = write_wav("silence.wav", np.zeros((2, 8000)), subtype="PCM_16")
    only_error(
        run("separate", p, "-o", tmp_path / "o"), f"'{p}' is silent: every channel is constant"
    )


def test_too_short(write_wav, rng, tmp_path):
    p = write_wav("blip.wav", rng.laplace(size=(2, 50)) * 0.1)
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"'{p}' is too short to separate 2 sources: 50 samples (0.006 s); at least 400 are needed",
    )


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "inf")])
def test_nan_or_inf_samples(write_wav, rng, tmp_path, bad, what):
    X = rng.laplace(size=(2, 8000)) * 0.1
    X[1, 4000] = bad
    p = write_wav("bad.wav", X)
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"'{p}' contains NaN or infinite samples (first in channel 2 at 0.500 s)",
    )
    assert not (tmp_path / "o" / "speaker_1.wav").exists()


def test_dead_channel_reduces_rank_with_warning(write_wav, rng, tmp_path):
    S = speechlike(2, 16000, rng)
    X = np.vstack([np.array([[1.0, 0.5], [0.4, 1.0]]) @ S, np.zeros((1, 16000))]) * 0.3
    p = write_wav("dead.wav", X)
    result = run("separate", p, "-o", tmp_path / "o")
    assert result.exit_code == 0
    assert (
        f"Warning: '{p}' carries only 2 independent signals (channel 3 is silent): "
        "separating 2 sources\n"
    ) in result.stderr
    assert sorted(f.name for f in (tmp_path / "o").glob("*.wav")) == [
        "speaker_1.wav",
        "speaker_2.wav",
    ]


def test_dead_channel_of_two_cannot_separate(write_wav, rng, tmp_path):
    X = np.vstack([rng.laplace(size=(1, 8000)) * 0.1, np.zeros((1, 8000))])
    p = write_wav("dead2.wav", X)
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"cannot separate 2 sources from '{p}': its 2 channels carry only 1 independent "
        "signal (channel 2 is silent)",
    )


def test_duplicated_channel(write_wav, rng, tmp_path):
    S = speechlike(2, 16000, rng)
    X = np.array([[1.0, 0.5], [0.4, 1.0]]) @ S * 0.3
    p = write_wav("dup.wav", np.vstack([X, X[:1]]))
    only_error(
        run("separate", p, "--sources", 3, "-o", tmp_path / "o"),
        f"cannot separate 3 sources from '{p}': its 3 channels carry only 2 independent "
        "signals (channel 3 duplicates channel 1)",
    )


def test_copies_of_one_channel_are_each_named_once(write_wav, rng, tmp_path):
    """Four copies of one channel: each copy is named once, against the
    channel it copies, not against every other copy."""
    s = speechlike(1, 16000, rng)[0] * 0.3
    p = write_wav("copies.wav", np.vstack([s, s, s, s]))
    only_error(
        run("separate", p, "-o", tmp_path / "o"),
        f"cannot separate 4 sources from '{p}': its 4 channels carry only 1 independent "
        "signal (channel 2 duplicates channel 1; channel 3 duplicates channel 1; "
        "channel 4 duplicates channel 1)",
    )


def test_unwritable_output_folder(mixture, tmp_path):
    mix, _, _ = mixture
    blocker = tmp_path / "file"
    blocker.write_text("x")
    only_error(
        run("separate", mix, "-o", blocker / "out"),
        f"cannot write to '{blocker / 'out'}': Not a directory",
    )


def test_output_folder_is_a_file(mixture, tmp_path):
    mix, _, _ = mixture
    blocker = tmp_path / "file"
    blocker.write_text("x")
    only_error(
        run("separate", mix, "-o", blocker),
        f"cannot write to '{blocker}': a file of that name is in the way",
    )


def test_usage_errors_are_one_line(mixture):
    mix, _, _ = mixture
    only_error(
        run("separate", mix, "--model", "magic"),
        "Invalid value for '--model': 'magic' is not one of 'auto', 'instantaneous', "
        "'convolutive'. (see 'cocktail separate --help')",
        code=2,
    )


def test_interrupted_run_leaves_no_partial_output(mixture, tmp_path, monkeypatch):
    mix, _, _ = mixture
    calls = []
    real = stream.Writer.write

    def write_then_interrupt(self, block):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, block)

    monkeypatch.setattr(stream.Writer, "write", write_then_interrupt)
    before = digest(mix)
    result = run("separate", mix, "-o", tmp_path / "o")
    only_error(result, "interrupted", code=130)
    assert not (tmp_path / "o").exists()  # not even an empty folder
    assert digest(mix) == before


def test_inputs_are_never_touched(mixture, tmp_path):
    mix, _, _ = mixture
    before = digest(mix), mix.stat().st_mtime_ns
    run("separate", mix, "-o", tmp_path / "o")
    run("separate", mix, "-o", mix.parent)
    assert (digest(mix), mix.stat().st_mtime_ns) == before


# ---------------------------------------------------------------------- mix


@pytest.fixture
def voices():
    return [SAMPLES / "alice.wav", SAMPLES / "bob.wav", SAMPLES / "carol.wav"]


def test_mix_writes_mixture_sidecar_and_truth(voices, tmp_path):
    out = tmp_path / "m.wav"
    result = run("mix", *voices[:2], "-o", out, "--seed", 5, "--truth", tmp_path / "truth")
    assert result.exit_code == 0, result.output
    X, rate = sf.read(out)
    side = json.loads((tmp_path / "m.json").read_text())
    assert rate == side["sample_rate"] == 16000
    assert X.shape == (side["n_samples"], 2)
    assert np.abs(X).max() <= 0.9 + 1e-6
    A = np.array(side["mixing"])
    assert np.linalg.cond(A) <= 4.0 + 1e-9 and side["seed"] == 5
    truth = np.stack([sf.read(tmp_path / "truth" / f"source_{i}.wav")[0] for i in (1, 2)])
    np.testing.assert_allclose(side["scale"] * A @ truth, X.T, atol=1e-6)
    assert "Note: shorter sources padded with silence" in result.stderr


def test_mix_then_separate_recovers_the_truth(voices, tmp_path):
    run("mix", *voices, "-o", tmp_path / "m.wav", "--truth", tmp_path / "t")
    assert run("separate", tmp_path / "m.wav", "-o", tmp_path / "o").exit_code == 0
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    side = json.loads((tmp_path / "m.json").read_text())
    assert amari_index(np.array(report["unmixing"]) @ np.array(side["mixing"])) < 0.01


def test_mix_more_mics_and_given_matrix(voices, tmp_path):
    assert run("mix", *voices[:2], "--mics", 4, "-o", tmp_path / "a.wav").exit_code == 0
    assert sf.info(tmp_path / "a.wav").channels == 4
    (tmp_path / "A.csv").write_text("1,0.5\n0.3,1\n0.2,0.2\n")
    assert (
        run("mix", *voices[:2], "--matrix", tmp_path / "A.csv", "-o", tmp_path / "b.wav").exit_code
        == 0
    )
    side = json.loads((tmp_path / "b.json").read_text())
    assert side["mixing"] == [[1, 0.5], [0.3, 1], [0.2, 0.2]]
    # A sidecar is itself a valid --matrix.
    assert (
        run("mix", *voices[:2], "--matrix", tmp_path / "b.json", "-o", tmp_path / "c.wav").exit_code
        == 0
    )
    np.testing.assert_allclose(sf.read(tmp_path / "c.wav")[0], sf.read(tmp_path / "b.wav")[0])


def test_mix_resamples_and_downmixes_with_notes(voices, write_wav, rng, tmp_path):
    stereo = write_wav("stereo.wav", rng.laplace(size=(2, 8000)) * 0.1, rate=8000)
    result = run("mix", voices[0], stereo, "-o", tmp_path / "m.wav")
    assert result.exit_code == 0, result.output
    assert f"Note: '{stereo}' has 2 channels: downmixed to mono" in result.stderr
    assert f"Note: '{stereo}' resampled from 8000 Hz to 16000 Hz" in result.stderr
    assert sf.info(tmp_path / "m.wav").samplerate == 16000


def test_mix_to_stdout(voices):
    result = run("mix", *voices[:2], "-o", "-")
    assert result.exit_code == 0
    x, rate = sf.read(__import__("io").BytesIO(result.stdout_bytes))
    assert rate == 16000 and x.shape[1] == 2


def test_mix_one_source(voices, tmp_path):
    only_error(
        run("mix", voices[0], "-o", tmp_path / "m.wav"),
        "mix needs at least two sources (see 'cocktail mix --help')",
        code=2,
    )


def test_mix_output_equal_to_input(voices, tmp_path):
    a = tmp_path / "a.wav"
    a.write_bytes(voices[0].read_bytes())
    before = digest(a)
    only_error(
        run("mix", a, voices[1], "-o", a), f"output '{a}' is also an input; choose another name"
    )
    assert digest(a) == before


def test_mix_matrix_of_wrong_shape(voices, tmp_path):
    (tmp_path / "A.json").write_text("[[1, 0.5, 0.2], [0.3, 1, 0.1]]")
    only_error(
        run("mix", *voices[:2], "--matrix", tmp_path / "A.json", "-o", tmp_path / "m.wav"),
        f"matrix '{tmp_path / 'A.json'}' has 3 columns but there are 2 sources "
        "(one column per source)",
    )


def test_mix_unwritable_output(voices, tmp_path):
    only_error(
        run("mix", *voices[:2], "-o", tmp_path / "nowhere" / "m.wav"),
        f"cannot write to '{tmp_path / 'nowhere' / 'm.wav'}': folder "
        f"'{tmp_path / 'nowhere'}' does not exist",
    )


def test_mix_missing_source(voices, tmp_path):
    only_error(
        run("mix", voices[0], tmp_path / "nope.wav", "-o", tmp_path / "m.wav"),
        f"cannot read '{tmp_path / 'nope.wav'}': no such file",
    )


# --------------------------------------------------------------------- help


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and "cocktail, version" in result.stdout


def test_separate_plot_writes_a_picture(mixture, tmp_path):
    mix, _, _ = mixture
    result = run("separate", mix, "-o", tmp_path / "o", "--plot", tmp_path / "p.png", "-q")
    assert result.exit_code == 0, result.output
    data = (tmp_path / "p.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    assert width == 1200


def test_separate_plot_needs_a_folder(mixture):
    mix, _, _ = mixture
    only_error(
        run("separate", mix, "-o", "-", "--plot", "p.png"),
        "--plot takes one input and an output folder (not -o -) (see 'cocktail separate --help')",
        code=2,
    )


def test_auto_model_says_what_it_chose_and_why(mixture, tmp_path):
    mix, _, _ = mixture
    result = run("separate", mix, "-o", tmp_path / "o")
    first = result.stderr.splitlines()[0]
    assert first.startswith("Note: instantaneous model: inter-channel phase is 0/180 degrees in ")
    assert first.endswith("(threshold 90%): no delays between microphones")
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    assert report["model_reason"].startswith("auto: inter-channel phase")


def test_unreadable_file(mixture, tmp_path, monkeypatch):
    """A file the user may not read (simulated: tests may run as root, who may)."""
    mix, _, _ = mixture
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if str(path) == str(mix):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    only_error(
        run("separate", mix, "-o", tmp_path / "o"), f"cannot read '{mix}': permission denied"
    )


def test_full_disk_is_one_line_and_leaves_nothing(mixture, tmp_path, monkeypatch):
    mix, _, _ = mixture

    def no_space(self, block):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stream.Writer, "write", no_space)
    only_error(run("separate", mix, "-o", tmp_path / "o"), "No space left on device")
    assert not (tmp_path / "o").exists()


def test_a_failed_run_leaves_none_of_the_folders_it_made(tmp_path):
    """Parents included: -o a/b/c for an unreadable input leaves no a/."""
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    result = run("separate", bad, "-o", tmp_path / "a" / "b" / "c")
    assert result.exit_code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav"]
    (tmp_path / "keep").mkdir()
    run("separate", bad, "-o", tmp_path / "keep" / "new")
    assert list((tmp_path / "keep").iterdir()) == []  # a folder that was there stays
