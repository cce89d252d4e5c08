"""Pictures: cocktail plot, evaluate --plot and plot_separation for other commands."""

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cocktail import plot
from helpers import ok, run

RATE = 8000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data):
    """(width, height) in pixels from a PNG's header."""
    assert data[:8] == PNG_SIGNATURE
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def separated(tmp_path, monkeypatch):
    """A 2-microphone mixture of two 1 s sources, separated into out/."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(7)
    t = np.arange(RATE) / RATE
    S = rng.laplace(size=(2, RATE)) * np.array(
        [np.sin(2 * np.pi * 2 * t) > 0, np.sin(2 * np.pi * 3 * t + 1) > -0.3]
    )
    for i in range(2):
        sf.write(f"s{i}.wav", 0.3 * S[i] / np.abs(S[i]).max(), RATE)
    ok(run("mix", "s0.wav", "s1.wav", "-o", "mix.wav", "-q"))
    ok(run("separate", "mix.wav", "-o", "out", "-q"))
    return tmp_path


def test_figure_size_is_documented():
    # 12 in at 100 dpi; each row 0.95 in, gaps 0.25 in, 1.3 in of margins, 2.2 in of convergence.
    assert plot.figure_size(4, 3, history=True) == (
        1200,
        round((1.3 + 4 * 0.95 + 2 * 0.25 + 2.2) * 100),
    )
    assert plot.figure_size(1, 1) == (1200, round((1.3 + 0.95) * 100))


def test_plot_command_writes_a_png_of_the_expected_size(separated):
    result = ok(run("plot", "out", "-o", "pic.png"))
    assert result.stderr == "picture -> pic.png\n"
    data = Path("pic.png").read_bytes()
    # mixture (2 mics) + 2 speakers, in 3 groups, with the convergence curve
    assert png_size(data) == plot.figure_size(4, 3, history=True)
    assert len(data) > 20000


def test_plot_with_references_and_report_path(separated):
    ok(
        run(
            "plot",
            "out/separation.json",
            "--mixture",
            "mix.wav",
            "-r",
            "mix.json",
            "-o",
            "pic.png",
            "-q",
        )
    )
    # Each speaker now has its reference under it: 2 + 2 x 2 rows.
    assert png_size(Path("pic.png").read_bytes()) == plot.figure_size(6, 3, history=True)


def test_plot_to_standard_output(separated):
    result = ok(run("plot", "out", "-o", "-"))
    assert png_size(result.stdout_bytes) == plot.figure_size(4, 3, history=True)


def test_plot_without_a_known_mixture_says_so(separated):
    Path("mix.wav").rename("elsewhere.wav")
    result = ok(run("plot", "out", "-o", "pic.png"))
    assert result.stderr == (
        "Note: the mixture is not known (give --mixture MIX.wav): drawn "
        "without it\npicture -> pic.png\n"
    )
    assert png_size(Path("pic.png").read_bytes()) == plot.figure_size(2, 2, history=True)


def test_evaluate_plot(separated):
    result = ok(run("evaluate", "out", "-r", "mix.json", "--plot", "scores.png", "--json"))
    assert json.loads(result.stdout)["average"]["sdr"] > 20
    assert result.stderr == "picture -> scores.png\n"
    assert png_size(Path("scores.png").read_bytes()) == plot.figure_size(6, 3, history=True)


def test_plot_separation_api(tmp_path):
    """The call another command (separate --plot) makes."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 4000)) * 0.1
    Y = rng.standard_normal((2, 4000)) * 0.1
    path = tmp_path / "sep.png"
    assert (
        plot.plot_separation(
            path,
            mixture=(X, RATE),
            estimates=(Y, RATE),
            references=None,
            history=[1.0, 0.1, 1e-3, 1e-8],
            title="Separation of 'x.wav'",
        )
        is None
    )
    assert png_size(path.read_bytes()) == plot.figure_size(5, 3, history=True)
    plot.plot_separation(path, mixture=(X, RATE), estimates=(Y[0], RATE))
    assert png_size(path.read_bytes()) == plot.figure_size(4, 2)


def test_estimates_are_drawn_with_the_most_similar_reference():
    rng = np.random.default_rng(3)
    R = rng.standard_normal((3, 1000))
    assert plot.match(np.array([-2 * R[2], R[0] + 0.1 * R[1], 0.5 * R[1]]), R) == [2, 0, 1]
    assert plot.match(R[:2], R) == [0, 1]
    assert plot.match(R, R[:2])[2] is None


def test_plot_matplotlib_missing(separated, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run("plot", "out", "-o", "pic.png")
    assert result.exit_code == 1
    assert result.stderr == "Error: cocktail plot needs matplotlib: pip install 'cocktail[plot]'\n"
    assert not Path("pic.png").exists()
    with pytest.raises(plot.CocktailError, match="^plotting needs matplotlib"):
        plot.plot_separation("p.png", mixture=None, estimates=(np.ones((1, 10)), RATE))


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "-o", "p.png"], "cannot read 'nope': no such file or folder"),
        (
            ["out", "-o", "no/dir/p.png"],
            "cannot write to 'no/dir/p.png': folder 'no/dir' does not exist",
        ),
        (["out", "--mixture", "nope.wav", "-o", "p.png"], "cannot read 'nope.wav': no such file"),
        (["out", "-o", "mix.wav"], "output 'mix.wav' would overwrite an input"),
    ],
)
def test_plot_errors(separated, args, message):
    if "mix.wav" in args:
        args = args[:1] + ["--mixture", "mix.wav"] + args[1:]
    result = run("plot", *args)
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


def test_plot_requires_an_output(separated):
    result = run("plot", "out")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Missing option '-o' / '--output'")


def test_plot_help_has_an_example():
    result = ok(run("plot", "--help"))
    assert (
        "Example:\n    cocktail separate mix.wav -o out/\n    cocktail plot out/ -o separation.png"
        in result.stdout
    )
