"""The instantaneous solvers side by side: lbfgs (default), natgrad and gradient."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from cocktail import CocktailError, separate
from cocktail.bss.ica import ALGORITHMS, Sparse, ica
from cocktail.bss.whitening import covariance_spectrum
from cocktail.metrics import amari_index
from helpers import only_error, run, speechlike

AMARI_BOUND = 0.02
#: Costs are per-sample averages of order 1; runs that reach the same optimum
#: agree far closer than this, runs at different points differ far more.
SAME_COST = 1e-6


def conditioned(condition, rng):
    """A 2 x 2 mixing matrix with this condition number."""
    U, _ = np.linalg.qr(rng.standard_normal((2, 2)))
    V, _ = np.linalg.qr(rng.standard_normal((2, 2)))
    return U @ np.diag([1.0, 1.0 / condition]) @ V.T


@pytest.fixture(scope="module")
def speech3():
    rng = np.random.default_rng(21)
    S = speechlike(3, 16000, rng)
    A = np.array([[1.0, 0.6, 0.3], [0.5, 1.0, -0.4], [0.2, -0.5, 1.0]])
    return S, A


@pytest.fixture(scope="module")
def fits(speech3):
    S, A = speech3
    return {alg: ica(A @ S, random_state=0, algorithm=alg) for alg in ALGORITHMS}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_solver_separates_speech(fits, speech3, algorithm):
    S, A = speech3
    res = fits[algorithm]
    assert res.algorithm == algorithm
    assert res.converged
    assert amari_index(res.unmixing @ A) < AMARI_BOUND
    assert res.densities == ["sparse"] * 3


@pytest.mark.parametrize("algorithm", ["natgrad", "gradient"])
def test_textbook_solvers_reach_the_defaults_optimum_in_more_iterations(fits, algorithm):
    """Same model, same start, same stages: only the step differs."""
    default, res = fits["lbfgs"], fits[algorithm]
    assert abs(res.cost_history[-1] - default.cost_history[-1]) < SAME_COST
    assert amari_index(res.unmixing @ np.linalg.pinv(default.unmixing)) < 1e-3
    assert res.n_iter > default.n_iter
    assert [s["name"] for s in res.stages] == [s["name"] for s in default.stages]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_history_records_cost_and_time_per_iteration_and_steps_descend(fits, algorithm):
    res = fits[algorithm]
    assert len(res.history) == len(res.cost_history) == len(res.time_history) == res.n_iter
    assert all(b >= a for a, b in zip(res.time_history, res.time_history[1:]))
    # Within a stage (one objective) every accepted step lowers the cost;
    # rounding may leave it equal.
    starts = [s["start"] - 1 for s in res.stages] + [res.n_iter]
    for a, b in zip(starts, starts[1:]):
        cost = np.array(res.cost_history[a:b])
        assert np.all(np.diff(cost) <= 1e-12 * np.abs(cost[1:]).clip(1.0))


def test_recorded_cost_is_the_negative_log_likelihood_of_the_result(fits, speech3):
    """The last cost is -log|det W| + sum E[G(y)] of the returned unmixing, with W
    acting on the centred microphones in principal-component coordinates and
    the outputs at unit power (the last stage's sparse density)."""
    S, A = speech3
    X = A @ S
    mean, _, eigvec = covariance_spectrum(X)
    for res in fits.values():
        W = res.unmixing @ eigvec  # principal-component coordinates (a rotation)
        Y = W @ eigvec.T @ (X - mean)
        scale = np.sqrt(np.mean(Y * Y, axis=1))
        W, Y = W / scale[:, None], Y / scale[:, None]
        nll = -np.linalg.slogdet(W)[1] + sum(Sparse()(y)[0] for y in Y)
        assert abs(res.cost_history[-1] - nll) < 1e-8


@pytest.mark.parametrize("algorithm", ["natgrad", "gradient"])
def test_textbook_solvers_switch_densities_and_reduce_dimension(algorithm):
    """Uniform sources need the sub-Gaussian density; 4 mics carry 2 sources."""
    rng = np.random.default_rng(25)
    S = rng.uniform(-1, 1, size=(2, 10000))
    A = np.array([[1.0, 0.4], [-0.3, 1.0]])  # well conditioned: the gradient is quick too
    res = ica(A @ S, random_state=0, algorithm=algorithm)
    assert res.densities == ["sub-gaussian"] * 2
    assert amari_index(res.unmixing @ A) < AMARI_BOUND
    S = speechlike(2, 10000, rng)
    A = rng.standard_normal((4, 2))
    res = ica(A @ S, n_sources=2, random_state=0, algorithm=algorithm)
    assert res.converged and res.unmixing.shape == (2, 4)
    assert amari_index(res.unmixing @ A) < AMARI_BOUND


def test_gradient_slows_down_on_an_ill_conditioned_mixture_natgrad_does_not():
    """Equivariance: the natural gradient sees only W A; the Euclidean one sees A."""
    rng = np.random.default_rng(22)
    S = speechlike(2, 8000, rng)
    iters = {}
    for condition in (1, 100):
        A = conditioned(condition, np.random.default_rng(23))
        for alg in ("natgrad", "gradient"):
            res = ica(A @ S, random_state=0, algorithm=alg, max_iter=1000)
            iters[alg, condition] = res.n_iter
            if alg == "natgrad":
                assert res.converged and amari_index(res.unmixing @ A) < AMARI_BOUND
    # (the start differs a little: whitening leaves a rotation that depends on A)
    assert abs(iters["natgrad", 100] - iters["natgrad", 1]) <= 10
    assert iters["gradient", 100] >= 10 * iters["natgrad", 100]
    assert iters["gradient", 100] >= 10 * iters["gradient", 1]


def test_textbook_solvers_iterate_longer_by_default():
    rng = np.random.default_rng(24)
    X = conditioned(100, rng) @ speechlike(2, 2000, rng)
    res = ica(X, random_state=0, algorithm="gradient", max_iter=None)
    assert res.n_iter > 500  # past the default's limit, its own is 5000


def test_unknown_algorithm():
    X = np.random.default_rng(0).laplace(size=(2, 1000))
    with pytest.raises(
        CocktailError, match="^unknown algorithm 'newton': choose one of lbfgs, natgrad, gradient$"
    ):
        ica(X, algorithm="newton")


# ------------------------------------------------------------ the report


def test_report_says_which_solver_ran(speech3):
    S, A = speech3
    X = 0.3 * (A @ S) / np.abs(A @ S).max()
    for alg, words in (("natgrad", "Amari's batch rule"), ("gradient", "Euclidean")):
        report = separate(X, 8000, algorithm=alg, model="instantaneous").report
        assert report["parameters"]["algorithm"] == alg
        assert words in report["algorithm"]
        assert report["parameters"]["max_iter"] == 5000
        n = report["iterations"]
        assert len(report["history"]) == len(report["history_cost"]) == n
        assert len(report["history_seconds"]) == n
    report = separate(X, 8000, model="instantaneous").report
    assert report["parameters"]["algorithm"] == "lbfgs"
    assert report["algorithm"].startswith("natural-gradient maximum-likelihood ICA (L-BFGS")
    assert len(report["history_cost"]) == report["iterations"]


def test_library_refuses_a_solver_the_chosen_model_lacks(speech3):
    S, A = speech3
    with pytest.raises(
        CocktailError,
        match="^--algorithm gradient is not a solver of the "
        "convolutive model: choose one of ilrma, "
        "auxiva-gauss, auxiva, natgrad$",
    ):
        separate(A @ S, 8000, algorithm="gradient", model="convolutive")


# --------------------------------------------------------- command line


@pytest.fixture
def mixed(mixture, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return mixture[0]


def test_cli_natgrad_and_gradient(mixed):
    for alg in ("natgrad", "gradient"):
        result = run("separate", mixed, "-o", alg, "--algorithm", alg, "-q")
        assert result.exit_code == 0, result.output
        report = json.loads(Path(alg, "separation.json").read_text())
        assert report["parameters"]["algorithm"] == alg
        assert report["converged"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--algorithm", "gradient", "--model", "convolutive"],
            "--algorithm gradient is not a solver of the convolutive model: choose one of ilrma, "
            "auxiva-gauss, auxiva, natgrad",
        ),
        (
            ["--algorithm", "ilrma", "--model", "instantaneous"],
            "--algorithm ilrma is not a solver of the instantaneous model: choose one of lbfgs, "
            "natgrad, gradient",
        ),
        (
            ["--algorithm", "fastica"],
            "unknown --algorithm 'fastica': choose one of lbfgs, natgrad, gradient (instantaneous) "
            "or ilrma, auxiva-gauss, auxiva, natgrad (convolutive)",
        ),
    ],
)
def test_cli_bad_algorithm_is_a_usage_error(mixed, args, message):
    result = run("separate", mixed, "-o", "out", *args)
    only_error(result, f"{message} (see 'cocktail separate --help')", 2)
    assert not Path("out").exists()


def test_cli_auto_model_without_that_solver_warns_and_runs_its_default(mixed):
    result = run("separate", mixed, "-o", "out", "--algorithm", "ilrma", "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Warning: --algorithm ilrma is not a solver of the instantaneous "
        "model, which --model auto chose: running its default, lbfgs\n"
    )
    report = json.loads(Path("out/separation.json").read_text())
    assert report["parameters"]["algorithm"] == "lbfgs"


def test_adaptive_help_names_the_online_natural_gradient():
    result = run("separate", "--help")
    assert "the online form of the natural gradient" in " ".join(result.stdout.split())


# ------------------------------------------------------- plot --convergence


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_overlays_convergence_curves(mixed):
    for alg in ("lbfgs", "natgrad"):
        assert run("separate", mixed, "-o", alg, "--algorithm", alg, "-q").exit_code == 0
    result = run("plot", "--convergence", "lbfgs", "natgrad/separation.json", "-o", "conv.png")
    assert result.exit_code == 0, result.output
    assert result.stderr == "picture -> conv.png\n"
    data = Path("conv.png").read_bytes()
    assert png_size(data) == (1200, 800)
    assert len(data) > 30000


def test_plot_convergence_notes_a_report_without_time_stamps(mixed):
    assert run("separate", mixed, "-o", "out", "-q").exit_code == 0
    report = json.loads(Path("out/separation.json").read_text())
    del report["history_seconds"], report["history_cost"]  # as an older cocktail wrote it
    Path("old.json").write_text(json.dumps(report))
    result = run("plot", "--convergence", "out", "old.json", "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stderr == "Note: 'old.json' has no time stamps: drawn against iterations only\n"
    assert png_size(result.stdout_bytes) == (1200, 800)


def test_plot_convergence_errors(mixed):
    assert run("separate", mixed, "-o", "out", "-q").exit_code == 0
    assert (
        run("separate", mixed, "-o", "again", "--apply", "out/separation.json", "-q").exit_code == 0
    )
    only_error(
        run("plot", "--convergence", "out", "-r", "x.json", "-o", "c.png"),
        "--convergence draws only the solvers' curves: it takes neither --mixture nor "
        "--reference (see 'cocktail plot --help')",
        2,
    )
    only_error(
        run("plot", "out", "again", "-o", "c.png"),
        "plot draws one separation: add --convergence to overlay several reports' "
        "convergence curves (see 'cocktail plot --help')",
        2,
    )
    only_error(
        run("plot", "--convergence", "out", "again", "-o", "c.png"),
        "'again/separation.json' has no convergence history to draw (a separation with "
        "--apply or --adaptive records none per iteration)",
        1,
    )
    only_error(
        run("plot", "--convergence", "out", "nope", "-o", "c.png"),
        "cannot read 'nope': no such file or folder",
        1,
    )
    Path("scores.json").write_text(json.dumps({"average": {"sdr": 30.0}}))
    only_error(
        run("plot", "--convergence", "scores.json", "-o", "c.png"),
        "'scores.json' is not a separation report written by cocktail separate",
        1,
    )
    assert not Path("c.png").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (dict(fit_seconds=0), "fit_seconds must be a positive number, got 0"),
        (dict(block_seconds=-1), "block_seconds must be a positive number, got -1"),
        (dict(tol=float("nan")), "tol must be a positive number, got nan"),
        (dict(max_iter=0), "max_iter must be a whole number of at least 1, got 0"),
        (dict(seed=-3), "seed must be a whole number of at least 0, got -3"),
        (dict(nfft=1000), "nfft must be a power of two of at least 16, got 1000"),
        (dict(count_seconds=0), "count_seconds must be a positive number, got 0"),
        (
            dict(count_seconds=0.5),
            "count_seconds must be at least 1 (the model and the count need a second of "
            "sound), got 0.5",
        ),
        (
            dict(n_sources=0),
            "n_sources must be a whole number of at least 1, 'auto' or 'all', got 0",
        ),
        (
            dict(n_sources="some"),
            "the number of sources must be a whole number, 'auto' or 'all', got 'some'",
        ),
        (
            dict(model="rooms"),
            "unknown model 'rooms': choose one of auto, instantaneous, convolutive",
        ),
    ],
)
def test_the_api_refuses_options_no_run_could_use(option, message):
    """Refused when the options are made, before any work, in the API's own words:
    fit_seconds=0 used to report a silent recording, block_seconds=-1 to run
    with blocks of one sample."""
    X = np.random.default_rng(0).laplace(size=(2, 4000))
    with pytest.raises(CocktailError) as info:
        separate(X, 8000, **option)
    assert str(info.value) == message
