"""Natural-gradient maximum-likelihood ICA for instantaneous mixtures x = A s.

The microphones are centred and whitened, then an unmixing matrix ``W`` is found
that maximises the likelihood of independent non-Gaussian outputs ``y = W z``.
The loss is

    L(W) = -log|det W| + sum_i E[G_i(y_i)],

with ``G`` the negative log-density of each source. Its *relative* (natural)
gradient, the change of L under a multiplicative update ``W <- (I + E) W``, is

    G(W) = E[psi(y) y^T] - I,      psi = G',

Amari's natural gradient: it measures the step by how much the output
distribution changes (the Fisher metric), not by how much the matrix entries
change, so the iteration behaves the same whatever the conditioning of ``A``
(equivariance). A plain step ``W <- W - mu G W`` crawls or oscillates, so the
step here is a quasi-Newton one on the same relative gradient, as in Picard
(Ablin, Cardoso & Gramfort 2018): L-BFGS whose initial Hessian is the
block-diagonal approximation of the true Hessian near independence, with a
backtracking line search on the loss, so every accepted step lowers it.

Each output uses a super-Gaussian density (``G = log cosh``, for speech and
music) or a sub-Gaussian one (``G = y^2/2 - log cosh``, for uniform-like
signals), switched by the extended-infomax criterion of Lee, Girolami &
Sejnowski (1999) as the iteration goes.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from .errors import CocktailError
from .whitening import whiten

LOG2 = float(np.log(2.0))

#: Defaults shared by the library and the command line.
MAX_ITER = 500
TOL = 1e-7
#: Above this many samples the solver first converges on an evenly strided
#: subset, then finishes on every sample (same optimum, far fewer full passes).
FIT_SAMPLES = 40_000
MEMORY = 7  # L-BFGS pairs kept
LAMBDA_MIN = 1e-2  # floor on the eigenvalues of the approximate Hessian
LS_TRIES = 12  # halvings of the step before falling back to the gradient


@dataclass
class ICAResult:
    """What :func:`ica` found. ``sources = unmixing @ (x - mean)``."""

    unmixing: np.ndarray  # (n_sources, n_mics)
    mixing: np.ndarray  # (n_mics, n_sources), the pseudo-inverse of unmixing
    mean: np.ndarray  # (n_mics, 1)
    sources: np.ndarray  # (n_sources, n_samples)
    n_iter: int
    converged: bool
    gradient_norm: float
    densities: List[str]  # "super-gaussian" or "sub-gaussian" per output
    history: List[float] = field(default_factory=list)  # gradient norm per iteration


def _logcosh(Y):
    """log cosh, fast where cosh cannot overflow, stable everywhere."""
    if np.max(np.abs(Y)) < 300.0:
        return np.log(np.cosh(Y))
    a = np.abs(Y)
    return a + np.log1p(np.exp(-2.0 * a)) - LOG2


def _sub_gaussian(Y):
    """Extended-infomax switch: True where a row is better fit as sub-Gaussian."""
    th = np.tanh(Y)
    k = np.mean(1.0 - th * th, axis=1) * np.mean(Y * Y, axis=1) - np.mean(th * Y, axis=1)
    return k < 0


class _State:
    """Loss, relative gradient and Hessian approximation at outputs ``Y``.

    ``sub`` marks the rows modelled as sub-Gaussian; ``logdet`` is
    log|det W| of the transform that produced ``Y`` from the whitened data.
    """

    def __init__(self, Y, sub, logdet):
        n, T = Y.shape
        y2 = np.mean(Y * Y, axis=1)
        loss = _logcosh(Y).mean(axis=1)
        th = np.tanh(Y)
        psid = 1.0 - th * th
        if sub.any():
            loss = np.where(sub, 0.5 * y2 - loss, loss)
            psi = np.where(sub[:, None], Y - th, th)
            psid = np.where(sub[:, None], 1.0 - psid, psid)
        else:
            psi = th
        self.Y = Y
        self.logdet = logdet
        self.loss = float(loss.sum() - logdet)
        self.G = psi @ Y.T / T - np.eye(n)
        self.h_off = np.mean(psid, axis=1)[:, None] * y2[None, :]
        self.h_diag = np.mean(psid * Y * Y, axis=1) + 1.0


def _precondition(G, h_off, h_diag):
    """Solve the block-diagonal Hessian system (pairs (i,j), (j,i)) for G."""
    a, b = h_off, h_off.T  # a_ij and a_ji
    # Smallest eigenvalue of [[a_ij, 1], [1, a_ji]]; lift it to LAMBDA_MIN.
    lam = 0.5 * (a + b - np.sqrt((a - b) ** 2 + 4.0))
    shift = np.maximum(LAMBDA_MIN - lam, 0.0)
    a = a + shift
    b = b + shift
    det = a * b - 1.0
    D = (b * G - G.T) / det
    np.fill_diagonal(D, np.diag(G) / np.maximum(h_diag, LAMBDA_MIN))
    return D


def _lbfgs_direction(G, h_off, h_diag, memory):
    q = G.copy()
    alphas = []
    for s, y, rho in reversed(memory):
        alpha = rho * np.sum(s * q)
        q -= alpha * y
        alphas.append(alpha)
    z = _precondition(q, h_off, h_diag)
    for (s, y, rho), alpha in zip(memory, reversed(alphas)):
        beta = rho * np.sum(y * z)
        z += (alpha - beta) * s
    return -z


def _line_search(state, sub, direction):
    """Backtrack from the full step until the loss decreases.

    Returns (M, new_state) with ``M = I + step * direction``, or None.
    """
    n = direction.shape[0]
    step = 1.0
    for _ in range(LS_TRIES):
        M = np.eye(n) + step * direction
        sign, logabs = np.linalg.slogdet(M)
        if sign != 0:
            new = _State(M @ state.Y, sub, state.logdet + logabs)
            if new.loss < state.loss:
                return M, new
        step *= 0.5
    return None


def _solve(Y, *, max_iter, tol, extended, callback, history, start_iter=0):
    """L-BFGS on the relative gradient from ``W = I``.

    Returns (W, Y, n_iter, converged, gradient_norm, sub).
    """
    n = Y.shape[0]
    W = np.eye(n)
    sub = _sub_gaussian(Y) if extended else np.zeros(n, dtype=bool)
    state = _State(Y, sub, 0.0)
    memory = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        gnorm = float(np.max(np.abs(state.G)))
        history.append(gnorm)
        if callback is not None:
            callback(start_iter + it, gnorm)
        if gnorm < tol:
            converged = True
            break
        direction = _lbfgs_direction(state.G, state.h_off, state.h_diag, memory)
        found = _line_search(state, sub, direction)
        if found is None:
            # The quasi-Newton direction failed: forget the memory and use the
            # preconditioned gradient, a descent direction.
            memory = []
            direction = -_precondition(state.G, state.h_off, state.h_diag)
            found = _line_search(state, sub, direction)
            if found is None:
                # No step lowers the loss at floating-point precision: the
                # optimum as far as the data can tell.
                converged = True
                break
        M, new = found
        W = M @ W
        if extended and it % 5 == 0:
            new_sub = _sub_gaussian(new.Y)
            if np.any(new_sub != sub):
                sub = new_sub
                memory = []
                new = _State(new.Y, sub, new.logdet)
                state = new
                continue
        s = M - np.eye(n)
        yk = new.G - state.G
        sy = np.sum(s * yk)
        if sy > 1e-12 * np.sqrt(np.sum(s * s) * np.sum(yk * yk)):
            memory.append((s, yk, 1.0 / sy))
            if len(memory) > MEMORY:
                memory.pop(0)
        state = new
    else:
        gnorm = float(np.max(np.abs(state.G)))
        converged = gnorm < tol
    return W, state.Y, it, converged, gnorm, sub


def ica(
    X,
    *,
    n_sources: Optional[int] = None,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
    extended: bool = True,
    fit_samples: Optional[int] = FIT_SAMPLES,
    random_state=None,
    callback: Optional[Callable[[int, float], None]] = None,
) -> ICAResult:
    """Separate an instantaneous mixture by natural-gradient ML ICA.

    Parameters
    ----------
    X : array (n_mics, n_samples)
    n_sources : how many sources to extract (default: one per microphone);
        with fewer sources than microphones PCA reduces the dimension first.
    max_iter, tol : stop after ``max_iter`` iterations or once the largest
        entry of the relative gradient is below ``tol``.
    extended : switch each output between super- and sub-Gaussian densities.
    fit_samples : converge first on about this many evenly strided samples,
        then finish on all of them (``None``: all samples from the start).
    random_state : seed or ``numpy.random.Generator`` for the initial rotation.
    callback : called as ``callback(iteration, gradient_norm)``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise CocktailError("expected a 2-D array of microphones x samples")
    n_mics, n_samples = X.shape
    if n_sources is None:
        n_sources = n_mics
    if not 1 <= n_sources <= n_mics:
        raise CocktailError(f"n_sources must be between 1 and {n_mics}, got {n_sources}")
    if n_samples < 2 * n_sources:
        raise CocktailError(f"too few samples ({n_samples}) to separate {n_sources} sources")
    if max_iter < 1:
        raise CocktailError(f"max_iter must be at least 1, got {max_iter}")
    if not np.all(np.isfinite(X)):
        raise CocktailError("the signal contains NaN or infinite values")

    white = whiten(X, n_sources)
    Z = white.matrix @ (X - white.mean)
    rng = np.random.default_rng(random_state)
    # A random rotation as the starting point: whitened data are already
    # decorrelated, so any orthogonal matrix is an equally good start.
    Q, R = np.linalg.qr(rng.standard_normal((n_sources, n_sources)))
    Q = Q * np.sign(np.diag(R))
    Y = Q @ Z

    history: List[float] = []
    W_total = Q
    n_iter = 0
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            stride = 1 if not fit_samples else max(1, n_samples // fit_samples)
            if stride > 1:
                # Coarse pass: the same optimum on a strided subset, cheaply.
                W, _, n_iter, _, _, _ = _solve(
                    np.ascontiguousarray(Y[:, ::stride]), max_iter=max_iter,
                    tol=max(tol, 1e-4), extended=extended, callback=callback,
                    history=history,
                )
                W_total = W @ W_total
                Y = W @ Y
            W, Y, it, converged, gnorm, sub = _solve(
                Y, max_iter=max(max_iter - n_iter, 1), tol=tol, extended=extended,
                callback=callback, history=history, start_iter=n_iter,
            )
    except FloatingPointError as exc:
        raise CocktailError(f"the solver diverged (floating-point {exc}); try another --seed") from None
    W_total = W @ W_total
    n_iter += it
    unmixing = W_total @ white.matrix
    mixing = np.linalg.pinv(unmixing)
    return ICAResult(
        unmixing=unmixing,
        mixing=mixing,
        mean=white.mean,
        sources=Y,
        n_iter=n_iter,
        converged=bool(converged),
        gradient_norm=gnorm,
        densities=["sub-gaussian" if s else "super-gaussian" for s in sub],
        history=history,
    )
