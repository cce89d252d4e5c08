"""Block-online natural-gradient ICA that follows moving speakers.

The batch solver (:mod:`cocktail.bss.ica`) finds one unmixing matrix for the whole
recording; once a speaker walks across the room the mixing matrix is no
longer the same and that single answer fails on part of the recording. Here
the unmixing matrix ``W`` is updated block by block with the relative
(natural) gradient of Amari, Cichocki & Yang (1996),

    W <- W - mu D W,      D = H^-1 offdiag(E_block[psi(y) y^T]),   y = W (x - m),

which is equivariant: how fast it converges depends on the global system
``W A`` only, not on the mixing matrix ``A`` or on the level of the input.

Source model. Speech is loud and quiet by turns, and that is the strongest
cue there is to tell speakers apart. Each output is modelled as a
non-Gaussian signal ``u`` times a scale ``s`` that changes every frame
(16 ms): ``psi(y) = (u + k tanh u) / s`` with ``u = y / s``. ``k`` is the
extended-infomax switch of Lee, Girolami & Sejnowski (1999), made gradual:
the running statistic ``E[sech^2 u] E[u^2] - E[u tanh u]`` scaled to
``[-1, 1]`` (positive for super-Gaussian, negative for sub-Gaussian outputs,
near zero when the scale alone explains the signal). With a constant scale
this is the extended-infomax rule itself, so stationary sources, uniform ones
included, are separated too. The scale of each output is held at unit running
variance and the diagonal of the gradient is dropped (the nonholonomic form of
Amari, Chen & Cichocki 2000), so outputs are free to fall silent.

Preconditioning. The block-to-block loudness changes of speech make the
curvature of some pairs hundreds of times that of others, and a plain
gradient step small enough for the first is far too small for the second.
``H`` is therefore the pairwise (2 x 2) block-diagonal approximation of the
Hessian estimated on the block, as in :mod:`cocktail.bss.ica`, lifted to stay
positive: ``mu = 1`` is a full Newton step on the block.

Step control, in the spirit of the "learning of the learning rate" of Murata,
Mueller, Ziehe & Amari (1997): a leaky average ``r`` of the preconditioned
direction is near zero at steady state, where successive directions are
zero-mean jitter, and large while the iteration is far from the solution or
just after the mixing changed, where they agree. The step follows ``|r|``:
it jumps up at once and decays gradually, between ``step_min`` and
``step_max``.

Everything else is there to keep the iteration safe on real input: a running
mean removes DC offset; silent blocks leave the state untouched; a step is
clipped so ``I - mu D`` stays well conditioned, and a step that overflows is
undone and the step size cut. With fewer sources than microphones ``W`` acts
on the strongest principal subspace of a running covariance, re-expressed
whenever that subspace moves.

Each block is output with the matrices before and after its update, the first
faded into the second across the block, so that the change of ``W`` makes no
click. Outputs are projected back to microphone 1 and keep the order they had
when the iteration first converged. The output of a block depends on the
samples up to the end of that block only.
"""

from typing import Callable, List, Optional

import numpy as np

from ..errors import CocktailError
from .common import as_block, as_recording, pair_newton, random_rotation
from .scaling import reference_gains

#: Defaults shared by the library and the command line.
BLOCK_SECONDS = 0.25
FORGETTING = 1.0  # time constant, in seconds, of the running statistics
STEP = 1.0  # initial step, per block (1 = a full Newton step on the block)
STEP_MIN = 0.2
STEP_MAX = 1.0
#: Step = STEP_GAIN * |leaky average of the preconditioned direction|, clipped.
STEP_GAIN = 4.0
#: Fraction (in log scale) by which a falling step moves to its target per block.
STEP_DECAY = 0.3
SWEEPS = 1  # gradient steps taken on each block
#: Frame over which the scale of an output is taken as constant.
FRAME_SECONDS = 0.016
#: Floor on the squared frame scale, relative to the running output variance.
SCALE_FLOOR = 1e-3
#: Extended-infomax statistic at which the tanh term takes its full weight.
KURTOSIS_SCALE = 0.02
#: Smallest eigenvalue allowed in a pair's 2 x 2 Hessian block.
LAMBDA_MIN = 0.1
#: Largest Frobenius norm of one relative update ``mu D``; below 1 it keeps
#: ``I - mu D`` invertible.
MAX_UPDATE = 0.5
#: A block whose power is below this fraction of the running power is silence.
SILENCE = 1e-8
#: Blocks shorter than this many samples are output but not learnt from.
MIN_BLOCK = 16
#: Floor on covariance eigenvalues, relative to the largest, at initialisation.
EIGEN_FLOOR = 1e-6


def _kurtosis_sign(Y):
    """Extended-infomax statistic per row: negative for a sub-Gaussian output."""
    th = np.tanh(Y)
    return np.mean(1.0 - th * th, axis=1) * np.mean(Y * Y, axis=1) - np.mean(th * Y, axis=1)


class OnlineSeparator:
    """Separate a stream block by block, tracking a mixing matrix that changes.

    Parameters
    ----------
    n_mics : int
        Number of microphones (rows of each block).
    n_sources : int, optional
        Number of outputs (default: one per microphone).
    sample_rate : float
        Sample rate in Hz; sets the time constants.
    block_seconds : float, default BLOCK_SECONDS
        Nominal block length, in seconds. :meth:`process` accepts blocks of
        any length: the running statistics forget by the actual duration,
        and a block shorter than nominal takes a proportionally shorter step,
        so the adaptation per second stays the same.
    step : float, default STEP
        Initial step (per nominal block; 1 is a full Newton step on the
        block).
    forgetting : float, default FORGETTING
        Time constant, in seconds, of the running mean, covariance, output
        scales, density statistics and the step control's average.
    random_state : int, default 0
        Seed of the initial rotation.
    sweeps : int, default SWEEPS
        Gradient steps taken on each block.
    step_min, step_max : float, default STEP_MIN, STEP_MAX
        Bounds of the step control.

    Attributes
    ----------
    block_size : int
        The nominal block length in samples.
    history : list of float
        Relative-gradient norm per block (0 for a block not learnt from, or
        whose step failed and was undone).
    steps : list of float
        Step size used per block.
    blocks : int
        Blocks processed.
    updates : int
        Blocks whose update was kept.

    Raises
    ------
    CocktailError
        If ``n_sources`` is not between 1 and ``n_mics``, if ``sample_rate``,
        ``block_seconds`` or ``forgetting`` is not positive, or unless
        ``0 < step_min <= step <= step_max``.
    """

    def __init__(
        self,
        n_mics,
        n_sources=None,
        *,
        sample_rate,
        block_seconds=BLOCK_SECONDS,
        step=STEP,
        forgetting=FORGETTING,
        random_state=0,
        sweeps=SWEEPS,
        step_min=STEP_MIN,
        step_max=STEP_MAX,
    ):
        if n_sources is None:
            n_sources = n_mics
        if n_mics < 1 or not 1 <= n_sources <= n_mics:
            raise CocktailError(f"n_sources must be between 1 and {n_mics}, got {n_sources}")
        if sample_rate <= 0 or block_seconds <= 0 or forgetting <= 0:
            raise CocktailError("sample_rate, block_seconds and forgetting must be positive")
        if not 0 < step_min <= step <= step_max:
            raise CocktailError("expected 0 < step_min <= step <= step_max")
        self.n_mics = int(n_mics)
        self.n_sources = int(n_sources)
        self.sample_rate = float(sample_rate)
        self.block_seconds = float(block_seconds)
        self.block_size = max(1, int(round(block_seconds * sample_rate)))
        self.forgetting = float(forgetting)
        self.step = float(step)
        self.step_min = float(step_min)
        self.step_max = float(step_max)
        self.sweeps = int(sweeps)
        self.rng = np.random.default_rng(random_state)
        self.history: List[float] = []  # relative-gradient norm per block
        self.steps: List[float] = []  # step size used per block
        self.blocks = 0
        self.updates = 0
        self._W = None  # (n_sources, n_sources) acting on the subspace
        self._P = None  # (n_sources, n_mics) orthonormal basis of the subspace
        self._mean = None
        self._cov = None
        self._kurt = None
        self._r = None  # leaky average of the relative gradient
        self._out = np.zeros((self.n_sources, self.n_mics))  # projected-back unmixing

    # -- state ---------------------------------------------------------------

    @property
    def unmixing(self) -> np.ndarray:
        """Current unmixing of the centred microphones, scaled to microphone 1,
        shape (n_sources, n_mics); zeros before the first update."""
        return self._out.copy()

    @property
    def mean(self) -> np.ndarray:
        """Running mean of the microphones, shape (n_mics, 1)."""
        return np.zeros((self.n_mics, 1)) if self._mean is None else self._mean.copy()

    @property
    def densities(self) -> List[str]:
        """Kind of each output by the sign of its extended-infomax statistic,
        "sub-gaussian" or "super-gaussian" (list of n_sources str)."""
        if self._kurt is None:
            return ["super-gaussian"] * self.n_sources
        return ["sub-gaussian" if k < 0 else "super-gaussian" for k in self._kurt]

    def _forget(self, n):
        """Weight of a block of ``n`` samples in the running statistics."""
        return 1.0 - np.exp(-n / (self.forgetting * self.sample_rate))

    def _subspace(self, cov):
        """Orthonormal basis of the ``n_sources`` strongest principal components."""
        if self.n_sources == self.n_mics:
            return np.eye(self.n_mics)
        eigval, eigvec = np.linalg.eigh(cov)
        return eigvec[:, ::-1][:, : self.n_sources].T

    def _start(self, Xc):
        """First block with signal: whiten it and turn by a random rotation."""
        cov = Xc @ Xc.T / Xc.shape[1]
        self._cov = cov
        self._P = self._subspace(cov)
        c = self._P @ cov @ self._P.T
        eigval, eigvec = np.linalg.eigh(c)
        eigval = np.maximum(eigval, EIGEN_FLOOR * eigval.max())
        K = eigvec.T / np.sqrt(eigval)[:, None]
        self._W = random_rotation(self.rng, self.n_sources) @ K
        n = self.n_sources
        self._kurt = np.zeros(n)
        self._r = np.zeros((n, n))

    def _project_back(self):
        W = self._W @ self._P
        mixing = np.linalg.pinv(W)
        return W * reference_gains(mixing, 0)[:, None]

    # -- one block -----------------------------------------------------------

    def _update(self, Xc, weight):
        """One block's natural-gradient step(s); return the relative-gradient norm."""
        n = self.n_sources
        Z = self._P @ Xc
        T = Z.shape[1]
        W = self._W
        Y = W @ Z
        # Unit running variance per output: the score sees a known scale
        # whatever the input level (a change of row scale leaves the outputs,
        # once projected back, as they are).
        scale = 1.0 / np.sqrt((1.0 - weight) + weight * np.mean(Y * Y, axis=1))
        W = W * scale[:, None]
        Y = Y * scale[:, None]
        F = max(1, int(round(FRAME_SECONDS * self.sample_rate)))
        edges = np.linspace(0, T, max(1, T // F) + 1).astype(int)
        lengths = np.diff(edges)
        off = ~np.eye(n, dtype=bool)
        gnorm = 0.0
        for sweep in range(self.sweeps):
            power = np.add.reduceat(Y * Y, edges[:-1], axis=1) / lengths
            s = np.sqrt(np.repeat(power, lengths, axis=1) + SCALE_FLOOR)
            U = Y / s
            if sweep == 0:
                self._kurt = (1.0 - weight) * self._kurt + weight * _kurtosis_sign(U)
                k = np.clip(self._kurt / KURTOSIS_SCALE, -1.0, 1.0)[:, None]
            th = np.tanh(U)
            psi = (U + k * th) / s
            G = np.where(off, psi @ Y.T / T, 0.0)
            h = ((1.0 + k * (1.0 - th * th)) / (s * s)) @ (Y * Y).T / T
            lam = np.mean(psi * Y, axis=1)
            D = pair_newton(G, h, LAMBDA_MIN, lam)
            if sweep == 0:
                gnorm = float(np.sqrt(np.sum(G * G)))
                # Step control: consistent directions lately mean far from home.
                self._r = (1.0 - weight) * self._r + weight * D
                target = STEP_GAIN * float(np.sqrt(np.sum(self._r * self._r)))
                target = min(max(target, self.step_min), self.step_max)
                if target >= self.step:
                    self.step = target
                else:
                    self.step = self.step * (target / self.step) ** STEP_DECAY
            mu = self.step * min(1.0, T / self.block_size)
            size = mu * float(np.sqrt(np.sum(D * D)))
            if size > MAX_UPDATE:
                mu *= MAX_UPDATE / size
            W = W - mu * D @ W
            if sweep + 1 < self.sweeps:
                Y = W @ Z
        self._W = W
        return gnorm

    def _silent(self, X):
        """Whether a block carries nothing to learn from: too short, or what it
        varies by about its own mean (a constant block is silence or pure
        offset) is far below the running covariance."""
        n = X.shape[1]
        Xv = X - X.mean(axis=1, keepdims=True)
        power = float(np.sum(Xv * Xv)) / n
        return (
            n < MIN_BLOCK
            or power == 0.0
            or (self._cov is not None and power <= SILENCE * float(np.trace(self._cov)))
        )

    def _learn(self, Xc, weight):
        """Update the statistics and the unmixing from a centred block; return
        the gradient norm (NaN when the step failed and was undone)."""
        n = Xc.shape[1]
        if self._W is None:
            self._start(Xc)
        saved = (self._W, self._P, self._cov, self._kurt, self._r, self.step)
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                cov = Xc @ Xc.T / n
                self._cov = (1.0 - weight) * self._cov + weight * cov
                if self.n_sources < self.n_mics:
                    P = self._subspace(self._cov)
                    self._W = self._W @ (self._P @ P.T)
                    self._P = P
                gnorm = self._update(Xc, weight)
                out = self._project_back()
            if not np.all(np.isfinite(out)):
                raise FloatingPointError("non-finite unmixing")
            self._out = out
            self.updates += 1
        except (FloatingPointError, np.linalg.LinAlgError):
            # Undo the block's update and retry later with a smaller step.
            (self._W, self._P, self._cov, self._kurt, self._r, step) = saved
            self.step = max(self.step_min, 0.5 * step)
            gnorm = float("nan")
        return gnorm

    def process(self, block) -> np.ndarray:
        """Separate one block and learn from it.

        The outputs are the sources as heard at microphone 1, centred. Across
        the block the unmixing fades from the matrix before the block's update
        to the one after it.

        Parameters
        ----------
        block : array_like, shape (n_mics, n_samples)
            The next samples of every microphone; any length, even 0.

        Returns
        -------
        ndarray, shape (n_sources, n_samples), float64

        Raises
        ------
        CocktailError
            If the block does not have ``n_mics`` rows, or holds NaN or
            infinite samples.
        """
        X = as_block(block, self.n_mics)
        n = X.shape[1]
        if n == 0:
            return np.zeros((self.n_sources, 0))
        self.blocks += 1
        weight = self._forget(n)
        if self._mean is None:
            self._mean = X.mean(axis=1, keepdims=True)
        old_mean = self._mean
        self._mean = (1.0 - weight) * self._mean + weight * X.mean(axis=1, keepdims=True)
        Xc = X - self._mean
        old_out = self._out
        gnorm = 0.0 if self._silent(X) else self._learn(Xc, weight)
        self.history.append(gnorm if np.isfinite(gnorm) else 0.0)
        self.steps.append(self.step)
        # Fade from the old matrix to the new one across the block.
        new = self._out @ Xc
        if old_out is self._out or not np.any(old_out):
            return new
        old = old_out @ (X - old_mean)
        ramp = (np.arange(1, n + 1) / n)[None, :]
        return old + ramp * (new - old)


def separate_adaptive(
    X,
    sample_rate,
    *,
    n_sources: Optional[int] = None,
    block_seconds: float = BLOCK_SECONDS,
    step: float = STEP,
    forgetting: float = FORGETTING,
    random_state: int = 0,
    callback: Optional[Callable[[int, float], None]] = None,
):
    """Separate a whole recording block-online with an :class:`OnlineSeparator`.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)
        The recording, microphones x samples.
    sample_rate : float
        Sample rate in Hz.
    n_sources : int, optional
        Number of outputs (default: one per microphone).
    block_seconds : float, default BLOCK_SECONDS
        Block length in seconds.
    step : float, default STEP
        Initial step (1 is a full Newton step on the block).
    forgetting : float, default FORGETTING
        Time constant, in seconds, of the running statistics.
    random_state : int, default 0
        Seed of the initial rotation.
    callback : callable, optional
        Called as ``callback(block, gradient_norm)`` after each block,
        counting blocks from 1.

    Returns
    -------
    Y : ndarray, shape (n_sources, n_samples), float64
        The outputs as heard at microphone 1.
    info : dict
        The final ``unmixing`` and ``mean``, the per-block ``history`` of
        gradient norms and ``steps``, ``densities``, the block counts
        ``blocks`` and ``updates``, and ``block_size`` in samples.

    Raises
    ------
    CocktailError
        If ``X`` is not 2-D, or as :class:`OnlineSeparator` and its
        :meth:`~OnlineSeparator.process` do.
    """
    X = as_recording(X)
    sep = OnlineSeparator(
        X.shape[0],
        n_sources,
        sample_rate=sample_rate,
        block_seconds=block_seconds,
        step=step,
        forgetting=forgetting,
        random_state=random_state,
    )
    Y = np.zeros((sep.n_sources, X.shape[1]))
    b = sep.block_size
    for k, start in enumerate(range(0, X.shape[1], b)):
        Y[:, start : start + b] = sep.process(X[:, start : start + b])
        if callback is not None:
            callback(k + 1, sep.history[-1])
    info = {
        "unmixing": sep.unmixing,
        "mean": sep.mean,
        "history": list(sep.history),
        "steps": list(sep.steps),
        "densities": sep.densities,
        "blocks": sep.blocks,
        "updates": sep.updates,
        "block_size": b,
    }
    return Y, info
