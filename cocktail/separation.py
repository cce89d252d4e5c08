"""From a multi-microphone recording to one signal per speaker, with a report.

This is the core behind ``cocktail separate``: it checks the recording, picks
the mixing model, runs the solver, projects the outputs back to microphone 1,
orders them and leaves headroom. It never prints; warnings are returned.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from . import __version__
from .errors import CocktailError
from .ica import FIT_SAMPLES, MAX_ITER, TOL, ica
from .scaling import energy_order, headroom_gain, project_back
from .whitening import covariance_spectrum, signal_rank

MODELS = ("auto", "instantaneous", "convolutive")
DEFAULT_MODEL = "auto"
#: Two channels whose correlation is this close to +-1 are the same signal.
DUPLICATE_CORRELATION = 1 - 1e-9
#: Fewest samples worth separating, whatever the number of sources.
MIN_SAMPLES = 400


@dataclass
class Separation:
    outputs: np.ndarray  # (n_sources, n_samples), ready to write
    report: dict  # everything needed to audit and reuse the result
    warnings: List[str] = field(default_factory=list)


def _seconds(index, rate):
    return f"{index / rate:.3f} s"


def check_recording(X, sample_rate, name="the recording"):
    """Reject recordings nothing can be separated from; return warnings."""
    n_mics, n_samples = X.shape
    if n_samples == 0:
        raise CocktailError(f"{name} contains no samples")
    if n_mics < 2:
        raise CocktailError(
            f"{name} has one channel; separation needs at least two microphones "
            "(one channel per microphone)"
        )
    finite = np.isfinite(X)
    if not finite.all():
        ch, t = np.argwhere(~finite)[0]
        raise CocktailError(
            f"{name} contains NaN or infinite samples (first in channel {ch + 1} "
            f"at {_seconds(t, sample_rate)})"
        )
    if not np.any(X - X[:, :1]):
        raise CocktailError(f"{name} is silent: every channel is constant")


def check_length(n_samples, n_sources, sample_rate, name="the recording"):
    """Refuse recordings too short for the statistics ICA relies on."""
    need = max(MIN_SAMPLES, 100 * n_sources**2)
    if n_samples < need:
        raise CocktailError(
            f"{name} is too short to separate {n_sources} sources: {n_samples} samples "
            f"({n_samples / sample_rate:.3f} s); at least {need} are needed"
        )


def diagnose_rank(X, name="the recording"):
    """Explain a rank-deficient recording: silent and duplicated channels."""
    Xc = X - X.mean(axis=1, keepdims=True)
    power = np.einsum("mt,mt->m", Xc, Xc)
    dead = [m for m in range(len(power)) if power[m] <= 1e-20 * power.max()]
    reasons = [f"channel {m + 1} is silent" for m in dead]
    live = [m for m in range(len(power)) if m not in dead]
    for a_i, a in enumerate(live):
        for b in live[a_i + 1:]:
            r = np.dot(Xc[a], Xc[b]) / np.sqrt(power[a] * power[b])
            if abs(r) > DUPLICATE_CORRELATION:
                reasons.append(f"channel {b + 1} duplicates channel {a + 1}")
    return reasons or ["the channels are linear combinations of each other"]


def resolve_sources(X, n_sources, name="the recording"):
    """Decide how many sources to separate; warn when the rank forces fewer."""
    n_mics = X.shape[0]
    warnings = []
    if n_sources is not None and not 1 <= n_sources <= n_mics:
        raise CocktailError(
            f"--sources must be between 1 and {n_mics} (the number of microphones "
            f"in {name}), got {n_sources}"
        )
    _, eigval, _ = covariance_spectrum(X)
    rank = signal_rank(eigval)
    wanted = n_mics if n_sources is None else n_sources
    if rank < wanted:
        why = "; ".join(diagnose_rank(X, name))
        if n_sources is not None or rank < 2:
            raise CocktailError(
                f"cannot separate {wanted} sources from {name}: its {n_mics} channels carry "
                f"only {rank} independent signal{'s' if rank != 1 else ''} ({why})"
            )
        warnings.append(
            f"{name} carries only {rank} independent signals ({why}): separating {rank} sources"
        )
        wanted = rank
    return wanted, warnings


def finish(unmixing, X, mean, ref=0):
    """Project back, order by energy, leave headroom; return (unmixing, outputs, gain).

    ``outputs = unmixing @ (X - mean)`` exactly, with the returned ``unmixing``.
    """
    mixing = np.linalg.pinv(unmixing)
    W = project_back(unmixing, mixing, ref)
    Xc = X - mean
    cov = Xc @ Xc.T / X.shape[1]
    W = W[energy_order(W, cov)]
    Y = W @ Xc
    gain = headroom_gain(float(np.abs(Y).max()))
    if gain != 1.0:
        W = W * gain
        Y = Y * gain
    return W, Y, gain


def separate(
    X,
    sample_rate,
    *,
    n_sources: Optional[int] = None,
    model: str = DEFAULT_MODEL,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
    random_state: int = 0,
    name: str = "the recording",
    callback: Optional[Callable[[int, float], None]] = None,
) -> Separation:
    """Separate a recording ``X`` (microphones x samples) into sources."""
    X = np.asarray(X, dtype=np.float64)
    check_recording(X, sample_rate, name)
    n_sources, warnings = resolve_sources(X, n_sources, name)
    check_length(X.shape[1], n_sources, sample_rate, name)
    if model not in MODELS:
        raise CocktailError(f"unknown model '{model}': choose one of {', '.join(MODELS)}")
    reason = "chosen by the user"
    if model == "auto":
        model, reason = "instantaneous", "only the instantaneous model is available"

    res = ica(X, n_sources=n_sources, max_iter=max_iter, tol=tol,
              random_state=random_state, callback=callback)
    W, Y, gain = finish(res.unmixing, X, res.mean)
    if not res.converged:
        warnings.append(
            f"the solver did not converge in {res.n_iter} iterations (gradient norm "
            f"{res.gradient_norm:.2e}, tolerance {tol:.0e}); the separation may be "
            "poor: raise --max-iter"
        )
    report = {
        "cocktail_version": __version__,
        "input": name,
        "sample_rate": int(sample_rate),
        "n_mics": int(X.shape[0]),
        "n_sources": int(n_sources),
        "n_samples": int(X.shape[1]),
        "model": model,
        "model_reason": reason,
        "algorithm": "natural-gradient maximum-likelihood ICA "
                     "(L-BFGS on the relative gradient, extended-infomax densities)",
        "parameters": {"max_iter": max_iter, "tol": tol, "seed": random_state,
                       "fit_samples": FIT_SAMPLES},
        "iterations": res.n_iter,
        "converged": res.converged,
        "gradient_norm": res.gradient_norm,
        "history": res.history,
        "densities": res.densities,
        "output_gain": gain,
        "mean": res.mean[:, 0].tolist(),
        "unmixing": W.tolist(),
        "mixing": np.linalg.pinv(W).tolist(),
    }
    return Separation(outputs=Y, report=report, warnings=warnings)
