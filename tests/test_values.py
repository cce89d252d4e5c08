"""Wrong values exit 2 naming the option; '-' works or is refused; library messages."""

import json

import numpy as np
import pytest
import soundfile as sf

import cocktail
from cocktail.errors import CocktailError
from helpers import SAMPLES, run

MIX = SAMPLES / "mixture.wav"
VOICES = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]


def usage_error(result, message, command):
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message} (see 'cocktail {command} --help')\n"
    assert result.stdout == ""


POSITIVE = "must be a positive number, got {}"
AT_LEAST_1 = "{} is not in the range x>=1."


@pytest.mark.parametrize(
    "option, value, why",
    [
        ("--fit-seconds", "0", POSITIVE),
        ("--fit-seconds", "-5", POSITIVE),
        ("--fit-seconds", "nan", POSITIVE),
        ("--block-seconds", "0", POSITIVE),
        ("--block-seconds", "-1", POSITIVE),
        ("--block-seconds", "nan", POSITIVE),
        ("--tol", "0", POSITIVE),
        ("--tol", "-1", POSITIVE),
        ("--tol", "nan", POSITIVE),
        ("--tol", "inf", POSITIVE),
        ("--nfft", "0", "must be a power of two of at least 16, got {}"),
        ("--nfft", "3", "must be a power of two of at least 16, got {}"),
        ("--nfft", "7", "must be a power of two of at least 16, got {}"),
        ("--nfft", "1000", "must be a power of two of at least 16, got {}"),
        ("--max-iter", "0", AT_LEAST_1),
        ("--max-iter", "-3", AT_LEAST_1),
        ("--seed", "-1", "{} is not in the range x>=0."),
    ],
)
def test_separate_wrong_values(option, value, why):
    usage_error(
        run("separate", MIX, option, value),
        f"Invalid value for '{option}': {why.format(value)}",
        "separate",
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--algorithm", "bogus"],
            "unknown --algorithm 'bogus': choose one of lbfgs, natgrad, "
            "gradient (instantaneous) or ilrma, auxiva-gauss, auxiva, natgrad "
            "(convolutive)",
        ),
        (["--jobs", "0"], "Invalid value for '-j' / '--jobs': 0 is not in the range x>=1."),
        (["--jobs", "-2"], "Invalid value for '-j' / '--jobs': -2 is not in the range x>=1."),
        (["--raw"], "--raw input needs --rate and --channels"),
        (["--raw", "--rate", "8000"], "--raw input needs --channels"),
        (
            ["--raw", "--rate", "8000", "--channels", "0"],
            "Invalid value for '--channels': 0 is not in the range x>=1.",
        ),
        (
            ["--raw", "--rate", "0", "--channels", "2"],
            "Invalid value for '--rate': 0 is not in the range x>=1.",
        ),
        (
            ["--raw", "--rate", "-16000", "--channels", "2"],
            "Invalid value for '--rate': -16000 is not in the range x>=1.",
        ),
        (["--rate", "16000"], "--rate, --channels and --encoding describe --raw input; add --raw"),
        (
            ["--count-seconds", "6"],
            "--count-seconds is for --adaptive (a file is counted from up to 20 s of it)",
        ),
        (
            ["--adaptive", "--count-seconds", "0"],
            "Invalid value for '--count-seconds': must be a positive number, got 0",
        ),
        (
            ["--adaptive", "--count-seconds", "0.5"],
            "--count-seconds must be at least 1 (the model and the count need a second "
            "of sound), got 0.5",
        ),
        (
            ["--apply", "r.json", "--sources", "2"],
            "--apply reuses a saved unmixing: it takes neither --adaptive nor --sources",
        ),
        (
            ["-o", "-", "--report", "-"],
            "-o and --report cannot both be '-': standard output "
            "carries one of them; give the others file names",
        ),
        (
            ["-o", "o", "--report", "-", "--plot", "p.png"],
            "--plot draws from the report: give --report a file, not '-'",
        ),
    ],
)
def test_separate_wrong_command_lines(args, message):
    usage_error(run("separate", MIX, *args), message, "separate")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mics", "0"], "Invalid value for '-m' / '--mics': 0 is not in the range x>=1."),
        (["--room", "0"], "Invalid value for '--room': must be a positive number, got 0"),
        (["--room", "-0.3"], "Invalid value for '--room': must be a positive number, got -0.3"),
        (["--room", "nan"], "Invalid value for '--room': must be a positive number, got nan"),
        (["--rate", "0"], "Invalid value for '--rate': 0 is not in the range x>=1."),
        (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0."),
        (
            ["--rir-mics", "0,1"],
            "Invalid value for '--rir-mics': must be channel numbers from 1 like 1,9, got '0,1'",
        ),
        (
            ["--rir-mics", "a,b"],
            "Invalid value for '--rir-mics': must be channel numbers from 1 like 1,9, got 'a,b'",
        ),
        (
            ["--rir-mics", "1,1"],
            "Invalid value for '--rir-mics': names a channel twice ('1,1'): "
            "two microphones in one place hear the same signal",
        ),
        (
            ["--room-size", "6x5"],
            "Invalid value for '--room-size': must be three positive lengths "
            "in metres like 6x5x3, got '6x5'",
        ),
        (
            ["--room-size", "6x-5x3"],
            "Invalid value for '--room-size': must be three positive "
            "lengths in metres like 6x5x3, got '6x-5x3'",
        ),
        (
            ["--source-distance", "0"],
            "Invalid value for '--source-distance': must be a positive number, got 0",
        ),
        (
            ["--mic-spacing", "-1"],
            "Invalid value for '--mic-spacing': must be a positive number, got -1",
        ),
        (
            ["--room", "0.3", "--mics", "1"],
            "Invalid value for '--mics': a room mixture needs at least two microphones",
        ),
        (
            ["--sidecar", "-", "-o", "-"],
            "-o and --sidecar cannot both be '-': standard output "
            "carries one of them; give the others file names",
        ),
        (["--truth", "-"], "--truth needs a folder (it receives one file per source), not '-'"),
    ],
)
def test_mix_wrong_values(args, message, tmp_path):
    out = [] if "-o" in args else ["-o", tmp_path / "m.wav"]
    usage_error(run("mix", *VOICES, *out, *args), message, "mix")
    assert list(tmp_path.iterdir()) == []


def test_evaluate_plot_to_stdout_is_a_wrong_command_line():
    usage_error(
        run("evaluate", MIX, "-r", MIX, "--plot", "-"),
        "--plot needs a file name: standard output carries the scores",
        "evaluate",
    )


@pytest.mark.parametrize("value", ["0", "-5"])
def test_evaluate_filter_length(value):
    usage_error(
        run("evaluate", MIX, "-r", MIX, "--filter-length", value),
        f"Invalid value for '--filter-length': {value} is not in the range x>=1.",
        "evaluate",
    )


# ------------------------------------------------------------ '-' for files


def test_report_to_stdout(tmp_path):
    result = run("separate", MIX, "-o", tmp_path / "o", "--report", "-", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_sources"] == 2
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["speaker_1.wav", "speaker_2.wav"]
    assert not (tmp_path / "-").exists()


def test_separate_plot_to_stdout(tmp_path):
    result = run("separate", MIX, "-o", tmp_path / "o", "--plot", "-", "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"\x89PNG")
    assert not (tmp_path / "-").exists()


def test_sidecar_to_stdout(tmp_path):
    result = run("mix", *VOICES, "-o", tmp_path / "m.wav", "--sidecar", "-", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_sources"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m.wav"]


def test_apply_and_matrix_from_stdin(tmp_path):
    assert run("separate", MIX, "-o", tmp_path / "a", "-q").exit_code == 0
    report = (tmp_path / "a" / "separation.json").read_text()
    result = run("separate", MIX, "--apply", "-", "-o", tmp_path / "b", "-q", input=report)
    assert result.exit_code == 0, result.output
    assert np.array_equal(
        sf.read(tmp_path / "a" / "speaker_1.wav")[0], sf.read(tmp_path / "b" / "speaker_1.wav")[0]
    )
    result = run(
        "mix",
        *VOICES,
        "-o",
        tmp_path / "m.wav",
        "--matrix",
        "-",
        "-q",
        input="[[1, 0.5], [0.3, 1]]",
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["mixing"] == [[1, 0.5], [0.3, 1]]


def test_apply_from_stdin_needs_a_file_input():
    usage_error(
        run("separate", "-", "--apply", "-"),
        "--apply - and the input '-' cannot both come from standard input",
        "separate",
    )


# ------------------------------------------------------------ the library


def test_library_refuses_samples_by_microphones():
    X = np.random.default_rng(0).standard_normal((2, 16000))
    with pytest.raises(CocktailError) as err:
        cocktail.separate(X.T, 16000)
    assert str(err.value) == (
        "the recording has 16000 rows and 2 columns: expected one row per "
        "microphone (microphones x samples, more samples than "
        "microphones); transpose it"
    )


def test_library_refuses_more_channels_than_any_array(tmp_path):
    X = np.random.default_rng(0).standard_normal((1100, 2000)) * 0.01
    with pytest.raises(CocktailError) as err:
        cocktail.separate(X, 16000)
    assert str(err.value) == (
        "the recording has 1100 channels, more than any microphone array "
        "(at most 1024 are accepted): one channel per microphone is "
        "expected"
    )


def test_library_messages_name_no_flags():
    from cocktail import evaluate as scoring
    from cocktail import mixing, room

    messages = []
    for call in (
        lambda: mixing.read_rirs([MIX], 2, 16000),
        lambda: room.room_responses(2, 2, 0.0, 16000),
        lambda: scoring.evaluate(MIX, MIX, filter_length=0),
    ):
        with pytest.raises(CocktailError) as err:
            call()
        messages.append(str(err.value))
    assert not [m for m in messages if "--" in m], messages
