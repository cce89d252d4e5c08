"""What the tests share: running the command line, reading its outcome,
signals to separate, and separation measures.

Three SIR measures, for three kinds of output:

* :func:`sir_db`: one output of an instantaneous mixture, by least squares
  on the true sources;
* :func:`output_sirs_db`: every output of a changing instantaneous mixture,
  each with the source it holds most of;
* :func:`filtered_sir_db`: outputs of a room, where each output may hold a
  short filter of its source (the mean over the best pairing).
"""

import itertools
import signal
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from cocktail.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"


def run(*args, input=None):
    """``cocktail ARGS`` in this process; returns click's Result."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def ok(result):
    """The run succeeded; return it."""
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def only_error(result, message, code=1):
    """The run failed with exactly one line, `Error: message`, and no traceback."""
    assert result.exit_code == code, result.output
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


def last_error(result, message, code=1):
    """The run failed and its last line is `Error: message` (notes may come before)."""
    assert result.exit_code == code, result.output
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert "Traceback" not in result.output


def cocktail_cmd():
    return [sys.executable, "-m", "cocktail"]


def default_sigint():
    """For ``preexec_fn``: the child starts with SIGINT's default action.

    A process that a non-interactive shell starts in the background (``cmd &``,
    as a CI runner may start the test suite) inherits SIGINT ignored, and
    Python then leaves it ignored, so a child sent SIGINT would not stop. A
    child under test gets SIGINT as it would in a terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def speechlike(n_sources, n_samples, rng, rate=8000):
    """Laplace noise under slow random envelopes, with pauses: speech-like."""
    S = rng.laplace(size=(n_sources, n_samples))
    t = np.arange(n_samples) / rate
    for i in range(n_sources):
        f = rng.uniform(1.5, 4.0)
        env = np.maximum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)), 0.05)
        S[i] *= env
    return S


def sir_db(estimate, sources):
    """SIR of one estimate against known sources: best-matching source vs the rest (dB)."""
    coef, *_ = np.linalg.lstsq(sources.T, estimate, rcond=None)
    parts = sources * coef[:, None]
    power = (parts**2).sum(axis=1)
    k = int(np.argmax(power))
    return 10 * np.log10(power[k] / max(power.sum() - power[k], 1e-300))


def output_sirs_db(S, Y):
    """SIR of each output, by least-squares projection onto the true sources.

    Each output is matched with the source it contains most of; the SIR is
    that source's energy over the energy of all the others.
    """
    coef = np.linalg.lstsq(S.T, Y.T, rcond=None)[0]  # (n_sources, n_outputs)
    energy = coef**2 * np.sum(S * S, axis=1)[:, None]
    best = np.argmax(energy, axis=0)
    cols = np.arange(Y.shape[0])
    wanted = energy[best, cols]
    return 10 * np.log10(wanted / (energy.sum(axis=0) - wanted)), best


def _delayed(r, lags):
    L = len(r)
    out = np.zeros((len(lags), L))
    for i, d in enumerate(lags):
        if d >= 0:
            out[i, d:] = r[: L - d]
        else:
            out[i, : L + d] = r[-d:]
    return out


def filtered_sir_db(refs, est, n_taps=8):
    """Mean SIR (dB) of est against refs, best permutation.

    Every output is fitted by least squares with short filters (lags
    -n_taps..n_taps) of all references; the fitted part from its own source is
    target, the parts from the others interference."""
    lags = range(-n_taps, n_taps + 1)
    basis = [_delayed(r, lags) for r in refs]
    Bm = np.concatenate(basis).T  # (L, n_refs * n_lags)
    k = len(lags)
    energy = np.zeros((est.shape[0], refs.shape[0]))  # output x source
    for j, y in enumerate(est):
        coef, *_ = np.linalg.lstsq(Bm, y, rcond=None)
        for i in range(refs.shape[0]):
            part = Bm[:, i * k : (i + 1) * k] @ coef[i * k : (i + 1) * k]
            energy[j, i] = np.sum(part**2)
    best = -np.inf
    for perm in itertools.permutations(range(est.shape[0]), refs.shape[0]):
        sirs = []
        for i, j in enumerate(perm):
            target = energy[j, i]
            interf = energy[j].sum() - target
            sirs.append(10 * np.log10(target / max(interf, 1e-12)))
        best = max(best, float(np.mean(sirs)))
    return best


def pcm16_wav_header(channels, rate, frames):
    """A 16-bit PCM WAV header promising ``frames`` frames (the samples follow).

    Written by hand, not by the package, so that tests can send a stream
    that promises more than it delivers.
    """
    size = frames * channels * 2
    return (
        b"RIFF"
        + (36 + size).to_bytes(4, "little")
        + b"WAVE"
        + b"fmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + channels.to_bytes(2, "little")
        + rate.to_bytes(4, "little")
        + (rate * channels * 2).to_bytes(4, "little")
        + (channels * 2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + size.to_bytes(4, "little")
    )
