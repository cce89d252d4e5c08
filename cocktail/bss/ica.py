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

Two textbook solvers run the same model (same start, same densities, same
stages) with a plain step instead, to show what the quasi-Newton step and the
natural gradient buy (``algorithm=``):

* ``"natgrad"``: Amari's batch rule ``W <- W - mu (E[psi(y) y^T] - I) W``;
* ``"gradient"``: the ordinary (Euclidean) gradient of the same loss,
  ``W <- W - mu (E[psi(y) x^T] - W^-T)``, on the centred microphones in
  principal-component coordinates (a rotation of the microphones: their
  conditioning is kept, and with it the gradient's dependence on it).

Their step ``mu`` is found by backtracking: halved until the loss decreases,
then grown by half after each accepted step (a "bold driver"), so every
accepted step lowers the loss. Both stop on the same relative-gradient
tolerance as the default.
"""

import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from ..errors import CocktailError
from .common import pair_newton, random_rotation
from .whitening import whiten

LOG2 = float(np.log(2.0))

#: The instantaneous solvers (see the module docstring); the first is the default.
ALGORITHMS = ("lbfgs", "natgrad", "gradient")
DEFAULT_ALGORITHM = "lbfgs"
#: What each one is, for reports.
DESCRIPTIONS = {
    "lbfgs": "natural-gradient maximum-likelihood ICA (L-BFGS on the relative gradient, "
    "extended-infomax and sparse densities)",
    "natgrad": "natural-gradient maximum-likelihood ICA (Amari's batch rule with a "
    "backtracking step, extended-infomax and sparse densities)",
    "gradient": "maximum-likelihood ICA by the ordinary (Euclidean) gradient (backtracking "
    "step, extended-infomax and sparse densities)",
}

#: Defaults shared by the library and the command line.
MAX_ITER = 500
#: Iteration limits of the textbook solvers: plain steps converge linearly,
#: so they need far more iterations than the quasi-Newton default.
TEXTBOOK_MAX_ITER = 5000
TOL = 1e-7
#: Above this many samples the solver first converges on an evenly strided
#: subset, then finishes on every sample (same optimum, far fewer full passes).
FIT_SAMPLES = 40_000
#: The last stage uses at most this many samples over all outputs (evenly
#: strided beyond): far more than the estimate's accuracy needs, and it
#: bounds the memory.
FINE_MAX_VALUES = 2_000_000
MEMORY = 7  # L-BFGS pairs kept
LAMBDA_MIN = 1e-2  # floor on the eigenvalues of the approximate Hessian
LS_TRIES = 12  # halvings of the step before falling back to the gradient
COARSE_TOL = 1e-4  # tolerance of the coarse pass
ROUNDING = 1e-13  # relative change of the loss that counts as rounding
STALL_TOL = 1e-4  # below this gradient, a failed line search means converged
# Step control of the textbook solvers ("bold driver").
FIRST_STEP = 0.1  # the first step changes the outputs by this much (Frobenius norm)
STEP_GROW = 1.5  # after an accepted step, the next one tries a step this much larger
STEP_SHRINK = 0.5  # a step that does not lower the loss is shrunk by this factor...
STEP_TRIES = 40  # ...at most this many times before the solver gives up


def default_max_iter(algorithm=DEFAULT_ALGORITHM):
    """The iteration limit used when none is given.

    Parameters
    ----------
    algorithm : str, default DEFAULT_ALGORITHM
        One of :data:`ALGORITHMS`.

    Returns
    -------
    int
        :data:`MAX_ITER` for the default solver, :data:`TEXTBOOK_MAX_ITER`
        for the textbook ones.
    """
    return MAX_ITER if algorithm == DEFAULT_ALGORITHM else TEXTBOOK_MAX_ITER


@dataclass
class ICAResult:
    """What :func:`ica` found. ``sources = unmixing @ (x - mean)``.

    Attributes
    ----------
    unmixing : ndarray, shape (n_sources, n_mics)
        The unmixing matrix, applied to the centred microphones.
    mixing : ndarray, shape (n_mics, n_sources)
        The pseudo-inverse of ``unmixing``.
    mean : ndarray, shape (n_mics, 1)
        The mean of each microphone.
    signals : ndarray, shape (n_mics, n_samples), float64
        The microphones it was fitted on.
    n_iter : int
        Iterations run, over all stages.
    converged : bool
        Whether the last stage reached its tolerance.
    gradient_norm : float
        Largest entry of the relative gradient at the end.
    densities : list of str
        "sparse", "super-gaussian" or "sub-gaussian", one per output.
    history : list of float
        The gradient norm per iteration.
    stages : list of dict
        One per stage run: ``{"start": iteration, "name": ...}``.
    algorithm : str
        Which solver ran (one of :data:`ALGORITHMS`).
    cost_history : list of float
        Per iteration, at the same points as ``history``: the loss (negative
        log-likelihood per sample of the centred microphones in principal-
        component coordinates, up to the densities' constants; in the sparse
        stages, with each output held at unit power).
    time_history : list of float
        Per iteration, at the same points as ``history``: the seconds since
        :func:`ica` was called.
    """

    unmixing: np.ndarray
    mixing: np.ndarray
    mean: np.ndarray
    signals: np.ndarray = field(repr=False)
    n_iter: int
    converged: bool
    gradient_norm: float
    densities: List[str]
    history: List[float] = field(default_factory=list)
    stages: List[dict] = field(default_factory=list)
    algorithm: str = DEFAULT_ALGORITHM
    cost_history: List[float] = field(default_factory=list)
    time_history: List[float] = field(default_factory=list)

    @property
    def sources(self):
        """The separated outputs, shape (n_sources, n_samples), computed on demand."""
        return self.unmixing @ (self.signals - self.mean)


def _logcosh(y):
    """log cosh, fast where cosh cannot overflow, stable everywhere."""
    if np.max(np.abs(y)) < 300.0:
        return np.log(np.cosh(y))
    a = np.abs(y)
    return a + np.log1p(np.exp(-2.0 * a)) - LOG2


class SuperGaussian:
    """G = log cosh y, psi = tanh y: the classic infomax/Picard density.

    Called on one output ``y``, shape (n_samples,), it returns the mean of
    ``G(y)``, then ``psi(y)`` and ``psi'(y)``, each shape (n_samples,).
    """

    name = "super-gaussian"

    def __call__(self, y):
        th = np.tanh(y)
        return _logcosh(y).mean(), th, 1.0 - th * th


class SubGaussian:
    """G = y^2/2 - log cosh y: a bimodal density for uniform-like sources.

    Called like :class:`SuperGaussian`.
    """

    name = "sub-gaussian"

    def __call__(self, y):
        th = np.tanh(y)
        return np.mean(0.5 * y * y - _logcosh(y)), y - th, th * th


class Sparse:
    """G = (y^2 + eps)^(1/4): a generalised Gaussian of shape 1/2, smoothed.

    Its shape depends on the scale of ``y`` (through ``eps``), so it is used
    on outputs held at unit power (see ``fixed_scale`` in :func:`_solve`).

    Speech is silent or quiet most of the time, far sparser than log cosh
    assumes; a score closer to its true one makes the maximum-likelihood
    estimate much more accurate. The density is not log-concave, so it is
    only used near a solution found with a log-concave one, and only for
    outputs where it passes the stability test of :func:`_stability`.

    Called like :class:`SuperGaussian`.
    """

    name = "sparse"
    eps = 1e-4  # relative to unit power: the smooth zone is |y| < 0.01

    def __call__(self, y):
        eps = self.eps
        r = y * y
        r += eps
        q = np.sqrt(r)
        np.sqrt(q, out=q)  # r^(1/4)
        qr = np.divide(q, r)  # r^(-3/4)
        psi = qr * y
        psi *= 0.5
        psid = np.divide(0.75 * eps, r)  # psi' = r^(-3/4) (3 eps / 4r - 1/4)
        psid -= 0.25
        psid *= qr
        return q.mean(), psi, psid


def _switch_densities(densities, Y):
    """Extended infomax's switch: outputs of Y where the super-Gaussian model
    is unstable become sub-Gaussian and back.  The new list of densities, or
    None when every output keeps its kind."""
    kinds = [isinstance(d, SubGaussian) for d in densities]
    now = [_stability(SuperGaussian(), y) < 0 for y in Y]
    if kinds == now:
        return None
    return [
        SubGaussian() if k else (d if not isinstance(d, SubGaussian) else SuperGaussian())
        for k, d in zip(now, densities)
    ]


def _stability(density, y):
    """kappa = E[psi'] E[y^2] - E[psi y]; separation is stable where kappa > 0."""
    _, psi, psid = density(y)
    return np.mean(psid) * np.mean(y * y) - np.mean(psi * y)


def _choose_densities(Y, current, sparse):
    """Per output: sub- or super-Gaussian (extended infomax), sparse where stable."""
    chosen = []
    for y, d in zip(Y, current):
        d = SubGaussian() if _stability(SuperGaussian(), y) < 0 else d
        if isinstance(d, SubGaussian) and _stability(SuperGaussian(), y) >= 0:
            d = SuperGaussian()
        if sparse and not isinstance(d, SubGaussian) and _stability(Sparse(), y) > 0:
            d = Sparse()
        chosen.append(d)
    return chosen


class _State:
    """Loss, relative gradient and Hessian approximation at outputs ``Y``.

    ``densities`` has one density per row; ``logdet`` is log|det W| of the
    transform that produced ``Y`` from the whitened data.
    """

    def __init__(self, Y, densities, logdet, fixed_scale=False):
        n, T = Y.shape
        loss = 0.0
        psi = np.empty_like(Y)
        psid_mean = np.empty(n)
        self.h_diag = np.empty(n)
        for i, d in enumerate(densities):
            g, psi[i], psid = d(Y[i])
            loss += g
            psid_mean[i] = psid.mean()
            self.h_diag[i] = np.mean(psid * Y[i] * Y[i]) + 1.0
        y2 = np.einsum("it,it->i", Y, Y) / T
        self.Y = Y
        self.logdet = logdet
        self.loss = float(loss - logdet)
        self.G = psi @ Y.T / T - np.eye(n)
        if fixed_scale:
            # The loss of unit-power outputs, -log|det W| + sum log sigma_i +
            # E[G(y_i / sigma_i)]: rescaling adds E[y_i y_j] (1 - E[psi_i y_i])
            # to the relative gradient; the diagonal is held by the scaling.
            # (the diagonal of G is E[psi_i y_i] - 1).
            C = Y @ Y.T / T
            self.G -= C * np.diag(self.G)[:, None]
            np.fill_diagonal(self.G, 0.0)
        self.h_off = psid_mean[:, None] * y2[None, :]


def _precondition(G, h_off, h_diag):
    """Solve the block-diagonal Hessian system (pairs (i,j), (j,i)) for G."""
    D = pair_newton(G, h_off, LAMBDA_MIN)
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


def _unit_rows(Y):
    """Scale each row to unit mean square; return (scaled Y, scales)."""
    scale = np.sqrt(np.einsum("it,it->i", Y, Y) / Y.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    return Y / scale[:, None], scale


def _line_search(state, densities, direction, fixed_scale):
    """Backtrack from the full step until the loss decreases.

    Near the optimum the loss stops changing in floating point before the
    gradient vanishes; there a step that leaves the loss equal to rounding
    and shrinks the gradient is accepted too. With ``fixed_scale`` every
    output is brought back to unit power after the step (the diagonal of
    the direction is then zero).
    Returns (M, step, new_state) with the transform ``M`` applied and the
    step taken (the scaled direction), or None.
    """
    n = direction.shape[0]
    gnorm = np.max(np.abs(state.G))
    noise = ROUNDING * max(abs(state.loss), 1.0)
    step = 1.0
    for _ in range(LS_TRIES):
        M = np.eye(n) + step * direction
        sign, logabs = np.linalg.slogdet(M)
        if sign != 0:
            Y = M @ state.Y
            if fixed_scale:
                Y, scale = _unit_rows(Y)
                M = M / scale[:, None]
                logabs -= np.log(scale).sum()
            new = _State(Y, densities, state.logdet + logabs, fixed_scale)
            if new.loss < state.loss - noise or (
                new.loss <= state.loss + noise and np.max(np.abs(new.G)) < gnorm
            ):
                return M, step * direction, new
        step *= 0.5
    return None


class _Trace:
    """What every solver records per iteration, and the progress callback."""

    def __init__(self, callback):
        self.start = time.perf_counter()
        self.callback = callback
        self.gradient: List[float] = []
        self.cost: List[float] = []
        self.seconds: List[float] = []

    def record(self, gnorm, cost):
        self.gradient.append(gnorm)
        self.cost.append(float(cost))
        self.seconds.append(time.perf_counter() - self.start)
        if self.callback is not None:
            self.callback(len(self.gradient), gnorm)


def _solve(Y, densities, *, max_iter, tol, extended, trace, cost_offset=0.0, fixed_scale=False):
    """L-BFGS on the relative gradient from ``W = I``.

    With ``fixed_scale`` the outputs are kept at unit power and only their
    mixing is optimised: the right parametrisation for densities whose
    shape depends on the scale (the sparse one). ``cost_offset`` turns the
    loss relative to the starting point into the absolute cost recorded in
    ``trace``.
    Returns (W, Y, n_iter, converged, gradient_norm, densities).
    """
    n = Y.shape[0]
    W = np.eye(n)
    logdet = 0.0
    if fixed_scale:
        Y, scale = _unit_rows(Y)
        W = W / scale[:, None]
        logdet = -float(np.log(scale).sum())
    state = _State(Y, densities, logdet, fixed_scale)
    memory = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        gnorm = float(np.max(np.abs(state.G)))
        trace.record(gnorm, state.loss + cost_offset)
        if gnorm < tol:
            converged = True
            break
        direction = _lbfgs_direction(state.G, state.h_off, state.h_diag, memory)
        if fixed_scale:
            np.fill_diagonal(direction, 0.0)
        found = _line_search(state, densities, direction, fixed_scale)
        if found is None:
            # The quasi-Newton direction failed: forget the memory and use the
            # preconditioned gradient, a descent direction.
            memory = []
            direction = -_precondition(state.G, state.h_off, state.h_diag)
            if fixed_scale:
                np.fill_diagonal(direction, 0.0)
            found = _line_search(state, densities, direction, fixed_scale)
            if found is None:
                # No step lowers the loss in floating point: the optimum as
                # far as the data can tell, if the gradient is small too.
                converged = gnorm < STALL_TOL
                break
        M, s, new = found
        W = M @ W
        if extended and it % 5 == 0:
            switched = _switch_densities(densities, new.Y)
            if switched is not None:
                densities = switched
                memory = []
                state = _State(new.Y, densities, new.logdet, fixed_scale)
                continue
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
    return W, state.Y, it, converged, gnorm, densities


def _textbook_direction(G, W, algorithm):
    """The step in W down the loss whose relative gradient at ``W`` is ``G``.

    The Euclidean gradient of the loss with respect to W is
    ``E[psi(y) x^T] - W^-T = G W^-T``; the natural gradient is ``G W``, the
    Euclidean one seen through the Fisher metric, which depends on W only
    through the outputs.
    """
    if algorithm == "natgrad":
        return -G @ W
    return -np.linalg.solve(W, G.T).T


def _solve_textbook(
    Z, W, densities, *, algorithm, max_iter, tol, extended, trace, fixed_scale=False
):
    """Plain gradient steps with a bold-driver step size, from ``W``.

    ``Z`` (n, T) is the data in fixed coordinates and ``W`` (n, n) the
    unmixing in the same coordinates: unlike :func:`_solve` the iterate is
    not re-based at each step, which is what lets the Euclidean gradient
    feel the conditioning. The loss is absolute (``-log|det W|`` included).
    Returns (W, n_iter, converged, gradient_norm, densities).
    """

    def evaluate(W):
        sign, logabs = np.linalg.slogdet(W)
        if sign == 0 or not np.isfinite(logabs):
            return None
        Y = W @ Z
        if fixed_scale:
            Y, scale = _unit_rows(Y)
            W = W / scale[:, None]
            logabs -= np.log(scale).sum()
        return W, _State(Y, densities, logabs, fixed_scale)

    W, state = evaluate(W)
    mu = None
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        gnorm = float(np.max(np.abs(state.G)))
        trace.record(gnorm, state.loss)
        if gnorm < tol:
            converged = True
            break
        direction = _textbook_direction(state.G, W, algorithm)
        if mu is None:
            # The first step changes the outputs by FIRST_STEP: W <- (I + mu D W^-1) W.
            relative = np.linalg.norm(np.linalg.solve(W.T, direction.T))
            mu = FIRST_STEP / max(relative, np.finfo(float).tiny)
        noise = ROUNDING * max(abs(state.loss), 1.0)
        found = None
        for _ in range(STEP_TRIES):
            try:
                trial = evaluate(W + mu * direction)
            except FloatingPointError:  # a step far too long: shorten it
                trial = None
            if trial is not None and (
                trial[1].loss < state.loss - noise
                or (trial[1].loss <= state.loss + noise and np.max(np.abs(trial[1].G)) < gnorm)
            ):
                found = trial
                break
            mu *= STEP_SHRINK
        if found is None:
            # No step lowers the loss in floating point.
            converged = gnorm < STALL_TOL
            break
        W, new = found
        mu *= STEP_GROW
        if extended and it % 5 == 0:
            switched = _switch_densities(densities, new.Y)
            if switched is not None:
                densities = switched
                new = _State(new.Y, densities, new.logdet, fixed_scale)
        state = new
    else:
        gnorm = float(np.max(np.abs(state.G)))
        converged = gnorm < tol
    return W, it, converged, gnorm, densities


def ica(
    X,
    *,
    n_sources: Optional[int] = None,
    max_iter: Optional[int] = None,
    tol: float = TOL,
    extended: bool = True,
    sparse: bool = True,
    fit_samples: Optional[int] = FIT_SAMPLES,
    random_state=None,
    callback: Optional[Callable[[int, float], None]] = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> ICAResult:
    """Separate an instantaneous mixture by natural-gradient ML ICA.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)
        The microphone signals.
    n_sources : int, optional
        How many sources to extract (default: one per microphone); with
        fewer sources than microphones PCA reduces the dimension first.
    max_iter : int, optional
        Stop after this many iterations over all stages (default: MAX_ITER
        for the default solver, TEXTBOOK_MAX_ITER for the others).
    tol : float, default TOL
        Stop once the largest entry of the relative gradient is below this.
    extended : bool, default True
        Switch each output between super- and sub-Gaussian densities.
    sparse : bool, default True
        Finish with the sparse density (shape 1/2) on the outputs where it is
        stable, e.g. speech; needs ``extended``.
    fit_samples : int or None, default FIT_SAMPLES
        Converge first on about this many evenly strided samples, then
        finish on all of them (``None``: all samples from the start).
    random_state : int, numpy.random.Generator or None
        Seed or generator for the initial rotation.
    callback : callable, optional
        Called as ``callback(iteration, gradient_norm)`` at each iteration.
    algorithm : str, default "lbfgs"
        One of :data:`ALGORITHMS`: ``"lbfgs"`` (quasi-Newton, the default and
        the fastest), ``"natgrad"`` (Amari's rule) or ``"gradient"`` (the
        Euclidean gradient). All three fit the same model from the same start
        through the same stages; only the step differs.

    Returns
    -------
    ICAResult
        ``unmixing`` (n_sources, n_mics), ``mixing`` (n_mics, n_sources), and
        per iteration the relative-gradient norm, the cost and the time.

    Raises
    ------
    CocktailError
        If ``algorithm`` is unknown, ``X`` is not 2-D, ``n_sources`` is not
        between 1 and ``n_mics``, there are fewer than ``2 * n_sources``
        samples, ``max_iter`` is below 1, ``X`` holds NaN or infinite
        values, the microphones carry fewer independent signals than
        ``n_sources`` (see :func:`.whitening.whiten`), or the solver diverges
        (a floating-point error).
    """
    if algorithm not in ALGORITHMS:
        raise CocktailError(
            f"unknown algorithm '{algorithm}': choose one of {', '.join(ALGORITHMS)}"
        )
    if max_iter is None:
        max_iter = default_max_iter(algorithm)
    trace = _Trace(callback)
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
    rng = np.random.default_rng(random_state)
    W_total = random_rotation(rng, n_sources)

    def outputs(step):
        """Current outputs on every ``step``-th sample (computed afresh, not kept)."""
        return np.ascontiguousarray((W_total @ white.matrix) @ (X[:, ::step] - white.mean))

    # The textbook solvers work on the centred microphones in principal-
    # component coordinates, not whitened (a rotation: the conditioning of
    # the mixing is kept), with the same starting outputs.
    root = np.sqrt(white.eigenvalues[:n_sources])
    to_components = white.matrix * root[:, None]  # (n_sources, n_mics)
    W_components = W_total / root[None, :]
    # Costs are reported in those coordinates: log|det| of the whitening, added.
    cost_whitening = float(np.log(root).sum())

    done: List[dict] = []
    n_iter = 0
    densities = [SuperGaussian() for _ in range(n_sources)]
    coarse = 1 if not fit_samples else max(1, n_samples // fit_samples)
    fine = max(1, -(-n_sources * n_samples // FINE_MAX_VALUES))
    # Stages: log-concave densities first (robust from any start), then the
    # sparse ones where stable; on a strided subset while far from the
    # optimum (cheap), on every sample (up to FINE_MAX_VALUES) to finish.
    stages = [(coarse, False, max(tol, COARSE_TOL))]
    if sparse and extended:
        stages.append((coarse, True, max(tol, COARSE_TOL) if coarse > fine else tol))
    if coarse > fine:
        stages.append((fine, sparse and extended, tol))
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            for step, use_sparse, stage_tol in stages:
                done.append(
                    {
                        "start": n_iter + 1,
                        "name": ("sparse" if use_sparse else "log cosh")
                        + ("" if step == 1 else f", 1/{step} of samples"),
                    }
                )
                if algorithm == DEFAULT_ALGORITHM:
                    part = outputs(step)
                else:
                    Z = np.ascontiguousarray(to_components @ (X[:, ::step] - white.mean))
                    part = W_components @ Z
                if extended:
                    densities = _choose_densities(
                        _unit_rows(part)[0] if use_sparse else part, densities, sparse=use_sparse
                    )
                if algorithm == DEFAULT_ALGORITHM:
                    offset = cost_whitening - float(np.linalg.slogdet(W_total)[1])
                    W, part, it, converged, gnorm, densities = _solve(
                        part,
                        densities,
                        max_iter=max(max_iter - n_iter, 1),
                        tol=stage_tol,
                        extended=extended,
                        trace=trace,
                        cost_offset=offset,
                        fixed_scale=use_sparse,
                    )
                    W_total = W @ W_total
                else:
                    W_components, it, converged, gnorm, densities = _solve_textbook(
                        Z,
                        W_components,
                        densities,
                        algorithm=algorithm,
                        max_iter=max(max_iter - n_iter, 1),
                        tol=stage_tol,
                        extended=extended,
                        trace=trace,
                        fixed_scale=use_sparse,
                    )
                    del Z
                del part
                n_iter += it
                if n_iter >= max_iter:
                    break
    except FloatingPointError as exc:
        raise CocktailError(
            f"the solver diverged (floating-point {exc}); try another seed"
        ) from None
    if algorithm == DEFAULT_ALGORITHM:
        unmixing = W_total @ white.matrix
    else:
        unmixing = W_components @ to_components
    mixing = np.linalg.pinv(unmixing)
    return ICAResult(
        unmixing=unmixing,
        mixing=mixing,
        mean=white.mean,
        signals=X,
        n_iter=n_iter,
        converged=bool(converged),
        gradient_norm=gnorm,
        densities=[d.name for d in densities],
        history=trace.gradient,
        stages=done,
        algorithm=algorithm,
        cost_history=trace.cost,
        time_history=trace.seconds,
    )
