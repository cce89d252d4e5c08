"""Warnings that say why a result will be poor, and the smaller courtesies."""

import json

import numpy as np
import pytest

from helpers import SAMPLES, run, speechlike

VOICES = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]


def warnings_of(result):
    return [
        line[len("Warning: ") :]
        for line in result.stderr.splitlines()
        if line.startswith("Warning: ")
    ]


def test_a_clean_mixture_gets_no_warning(mixture, tmp_path):
    mix, _, _ = mixture
    result = run("separate", mix, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0 and result.stderr == ""


def test_clipped_input_is_reported(write_wav, rng, tmp_path):
    S = speechlike(2, 16000, rng)
    X = np.array([[1.0, 0.6], [0.5, 1.0]]) @ S
    X = np.clip(2.0 * X / np.abs(X).max(), -1, 1)  # driven past full scale
    share = np.mean(np.abs(np.round(X * 32768).clip(-32768, 32767)) >= 32767)
    mix = write_wav("clipped.wav", X, subtype="PCM_16")
    result = run("separate", mix, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    expected = (
        f"'{mix}' is clipped: {share:.1%} of its samples are at full scale; clipping is "
        "not a mixture of the sources, so the separation will be poorer"
    )
    assert warnings_of(result) == [expected]
    assert json.loads((tmp_path / "o" / "separation.json").read_text())["warnings"] == [expected]


def test_float_input_past_full_scale_is_not_called_clipped(write_wav, rng, tmp_path):
    # Floating-point samples keep their values past 1.0: nothing was lost.
    S = speechlike(2, 16000, rng)
    X = np.array([[1.0, 0.6], [0.5, 1.0]]) @ S
    mix = write_wav("loud.wav", 40.0 * X / np.abs(X).max())
    result = run("separate", mix, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == []


def test_float_input_clipped_below_full_scale_is_reported(write_wav, rng, tmp_path):
    S = speechlike(2, 16000, rng)
    X = np.array([[1.0, 0.6], [0.5, 1.0]]) @ S
    X = np.clip(X / np.abs(X).max(), -0.25, 0.25).astype(np.float32)  # a limiter at -12 dB
    share = np.mean(np.abs(X) >= 0.25)
    mix = write_wav("limited.wav", X)
    result = run("separate", mix, "-o", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        f"'{mix}' is clipped: {share:.1%} of its samples are at their channel's peak level; "
        "clipping is not a mixture of the sources, so the separation will be poorer"
    ]


def test_float_clipping_is_named_by_the_clipped_channel(rng):
    """One float channel clipped at 1.0, the other unclipped at a lower
    peak: its samples are "at full scale", whatever the other's peak."""
    from cocktail.separation import clipping

    X = speechlike(2, 16000, rng)
    X = X / np.abs(X).max(axis=1, keepdims=True)
    X[0] = np.clip(3 * X[0], -1, 1)
    X[1] *= 0.8
    share = np.mean(np.abs(X[0]) >= 1.0) / 2
    assert clipping(X, "FLOAT", "'x.wav'") == [
        f"'x.wav' is clipped: {share:.1%} of its samples are at full scale; clipping is "
        "not a mixture of the sources, so the separation will be poorer"
    ]
    assert clipping(0.5 * X, "FLOAT", "'x.wav'")[0].startswith(
        f"'x.wav' is clipped: {share:.1%} of its samples are at their channel's peak level;"
    )


def test_two_gaussian_sources_are_reported(write_wav, rng, tmp_path):
    S = np.vstack([rng.standard_normal((2, 16000)), speechlike(1, 16000, rng)])
    A = np.array([[1.0, 0.6, 0.3], [0.5, 1.0, -0.4], [0.2, -0.5, 1.0]])
    X = A @ S
    mix = write_wav("gauss.wav", 0.5 * X / np.abs(X).max())
    result = run("separate", mix, "-o", tmp_path / "o", "-q", "--model", "instantaneous")
    assert result.exit_code == 0, result.output
    [w] = warnings_of(result)
    assert w.endswith(
        "are near-Gaussian (excess kurtosis under 0.25): independent component "
        "analysis cannot separate Gaussian sources from each other, so they may "
        "still be mixed"
    )
    assert json.loads((tmp_path / "o" / "separation.json").read_text())["warnings"] == [w]


def test_room_options_with_the_instantaneous_model_are_reported(mixture, tmp_path):
    mix, _, _ = mixture
    result = run(
        "separate", mix, "-o", tmp_path / "o", "-q", "--model", "instantaneous", "--nfft", 512
    )
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        "nfft applies to the room (convolutive) model only: ignored by the instantaneous model"
    ]


def test_estimation_options_with_apply_are_reported(mixture, tmp_path):
    mix, _, _ = mixture
    assert run("separate", mix, "-o", tmp_path / "a", "-q").exit_code == 0
    result = run(
        "separate",
        mix,
        "-o",
        tmp_path / "b",
        "-q",
        "--apply",
        tmp_path / "a" / "separation.json",
        "--model",
        "convolutive",
        "--nfft",
        1024,
    )
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        "model, nfft are ignored: the unmixing is applied as saved, not estimated"
    ]


def test_mix_of_one_file_twice(tmp_path):
    a = SAMPLES / "alice.wav"
    result = run("mix", a, a, "-o", tmp_path / "m.wav", "-q")
    assert result.exit_code == 0, result.output
    expected = (
        f"sources 1 and 2 ('{a}', '{a}') are the same signal: no separation can tell them apart"
    )
    assert warnings_of(result) == [expected]
    assert json.loads((tmp_path / "m.json").read_text())["warnings"] == [expected]


def test_mix_with_a_singular_matrix(tmp_path):
    (tmp_path / "a.csv").write_text("1,2\n2,4\n")
    result = run("mix", *VOICES, "-o", tmp_path / "m.wav", "--matrix", tmp_path / "a.csv", "-q")
    assert result.exit_code == 0, result.output
    [w] = warnings_of(result)
    assert w.startswith("the mixing matrix is singular or nearly so (condition number ")
    assert w.endswith("): not every source can be recovered from the mixture")


def test_room_layout_without_a_room(tmp_path):
    result = run(
        "mix", *VOICES, "-o", tmp_path / "m.wav", "--mic-spacing", 0.1, "--room-size", "4x4x3", "-q"
    )
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [
        "--room-size, --mic-spacing describe the simulated room: ignored without --room"
    ]


# ------------------------------------------------------------------ smaller


@pytest.mark.parametrize("name", ["p.pdf", "p.svg", "p.jpg"])
def test_plot_refuses_formats_it_does_not_write(mixture, tmp_path, name):
    mix, _, _ = mixture
    assert run("separate", mix, "-o", tmp_path / "o", "-q").exit_code == 0
    result = run("plot", tmp_path / "o", "-o", tmp_path / name)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: pictures are written as PNG: name the file 'p.png', not "
        f"'{tmp_path / name}' (see 'cocktail plot --help')\n"
    )
    assert not (tmp_path / name).exists()


def test_an_output_folder_named_like_a_wav_is_noted(mixture, tmp_path):
    mix, _, _ = mixture
    out = tmp_path / "speakers.wav"
    result = run("separate", mix, "-o", out)
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == (
        f"Note: '{out}' will be a folder holding "
        f"speaker_1.wav ... (for one multi-channel file: "
        f"-o - > {out})"
    )
    assert (out / "speaker_1.wav").is_file()


def test_a_rerun_with_fewer_speakers_leaves_no_stale_file(mixture, tmp_path):
    mix, _, _ = mixture
    out = tmp_path / "o"
    assert run("separate", mix, "-o", out, "-q").exit_code == 0
    (out / "notes.txt").write_text("mine")
    result = run("separate", mix, "-o", f"{out}/", "--sources", 1)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt",
        "separation.json",
        "speaker_1.wav",
    ]
    last = result.stderr.splitlines()[-1]
    assert last.startswith("1 speaker separated (") and last.endswith(f") -> {out}/")


def test_evaluate_json_holds_plain_paths(tmp_path):
    assert run("mix", *VOICES, "-o", tmp_path / "m.wav", "-q").exit_code == 0
    assert run("separate", tmp_path / "m.wav", "-o", tmp_path / "o", "-q").exit_code == 0
    result = run("evaluate", tmp_path / "o", "-r", tmp_path / "m.json", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["estimates"] == str(tmp_path / "o")
    assert report["references"] == str(tmp_path / "m.json")
    assert report["mixture"] == str(tmp_path / "m.wav")


def test_one_microphone_is_singular(tmp_path):
    result = run("mix", *VOICES, "--mics", 1, "-o", tmp_path / "one.wav")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == (
        f"mixed 2 sources into 1 microphone "
        f"(instantaneous) -> {tmp_path / 'one.wav'} "
        f"(ground truth in {tmp_path / 'one.json'})"
    )
