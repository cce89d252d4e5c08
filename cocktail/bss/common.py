"""Pieces the solvers share: the instantaneous ones (batch :mod:`.ica`,
block-online :mod:`.online`) and the block-online room one (:mod:`.online_iva`)."""

import numpy as np

from ..errors import CocktailError


def median(a, axis=0):
    """The median along ``axis`` of finite values, as ``np.median`` gives it.

    ``np.median`` imports ``numpy.ma`` at its first call, a fifth of a 4 s
    live run's start; sorting gives the same values without it.
    """
    s = np.sort(np.asarray(a), axis=axis)
    n = s.shape[axis]
    return (np.take(s, (n - 1) // 2, axis=axis) + np.take(s, n // 2, axis=axis)) / 2


def quantile(a, q, axis=0, keepdims=False):
    """The ``q`` quantile along ``axis``, as ``np.quantile`` gives it (linear
    interpolation between the order statistics, to the last bit), without
    the ``numpy.ma`` import that its first call costs.
    """
    s = np.sort(np.asarray(a, dtype=np.float64), axis=axis)
    n = s.shape[axis]
    at = (n - 1) * q  # the virtual index
    lo = int(np.floor(at))
    hi = min(lo + 1, n - 1)
    t = at - lo
    below = np.take(s, lo, axis=axis)
    above = np.take(s, hi, axis=axis)
    step = above - below
    out = above - step * (1.0 - t) if t >= 0.5 else below + step * t
    return np.expand_dims(out, axis) if keepdims else out


def as_recording(X):
    """A whole recording as a float64 array, checked to be 2-D.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)

    Returns
    -------
    ndarray, shape (n_mics, n_samples), float64

    Raises
    ------
    CocktailError
        If ``X`` is not 2-D.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise CocktailError("expected a 2-D array of microphones x samples")
    return X


def as_block(block, n_mics):
    """The next block of a stream as a float64 array, checked.

    Parameters
    ----------
    block : array_like, shape (n_mics, n_samples)
    n_mics : int
        Rows the block must have.

    Returns
    -------
    ndarray, shape (n_mics, n_samples), float64

    Raises
    ------
    CocktailError
        If the block does not have ``n_mics`` rows, or holds NaN or infinite
        samples.
    """
    X = np.asarray(block, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != n_mics:
        raise CocktailError(f"expected a block of {n_mics} microphones x samples")
    if not np.all(np.isfinite(X)):
        raise CocktailError("the block contains NaN or infinite samples")
    return X


def random_rotation(rng, n):
    """A random orthogonal n x n matrix (Haar-distributed: QR of a Gaussian
    matrix with the signs of R's diagonal moved into Q).

    Whitened data are already decorrelated, so any rotation is an equally
    good starting point for a relative-gradient solver.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the Gaussian draws.
    n : int
        Size of the matrix (the number of sources).

    Returns
    -------
    ndarray, shape (n, n)
        The rotation.
    """
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def pair_newton(G, h, floor, lam=None):
    """Solve the Newton system of the relative gradient, pair by pair.

    For a relative update ``W <- (I + D) W`` the Hessian of the ICA loss is
    approximately block diagonal, one 2 x 2 block per pair (i, j) of
    outputs, ``[[h_ij, lam_i], [lam_j, h_ji]]`` with ``h_ij = E[psi_i'(y_i)
    y_j^2]`` and ``lam_i = E[psi_i(y_i) y_i]``. Each block is lifted so that
    its smallest eigenvalue is at least ``floor``, which keeps the direction
    one of descent.

    Parameters
    ----------
    G : ndarray, shape (n, n)
        The relative gradient.
    h : ndarray, shape (n, n)
        The curvatures ``h_ij`` (the diagonal is not used).
    floor : float
        Least eigenvalue of each block.
    lam : ndarray, shape (n,), optional
        ``lam_i``; None for outputs of unit power, where every ``lam_i`` is 1
        (the batch solver's normalisation).

    Returns
    -------
    ndarray, shape (n, n)
        The off-diagonal entries of the direction ``D``; the diagonal is 0.
    """
    a, b = h, h.T  # h_ij and h_ji
    if lam is None:
        low = 0.5 * (a + b - np.sqrt((a - b) ** 2 + 4.0))
        shift = np.maximum(floor - low, 0.0)
        a = a + shift
        b = b + shift
        D = (b * G - G.T) / (a * b - 1.0)
    else:
        li = lam[:, None]
        lj = lam[None, :]
        low = 0.5 * (a + b) - np.sqrt(0.25 * (a - b) ** 2 + np.maximum(li * lj, 0.0))
        shift = np.maximum(floor - low, 0.0)
        a = a + shift
        b = b + shift
        D = (b * G - li * G.T) / (a * b - li * lj)
    np.fill_diagonal(D, 0.0)
    return D


#: Instantaneous mixtures: a block of TRANSIENT_BLOCK samples whose power in
#: the whitened channels exceeds TRANSIENT_RATIO times the 95th percentile of
#: the blocks' is a transient that is no talker (a door slam, a cough), left
#: out of what the unmixing is estimated from, with a block on either side
#: (the room model's rule, ``cocktail.bss.iva.TRANSIENT_RATIO``, in the time
#: domain).  ICA takes the least Gaussian signal for a source, and a burst
#: 30 times the speech's level for 0.3 s from a third direction took an
#: output of a 2 x 2 mixture of two talkers: 4.1 and 36.7 dB against 44.0
#: and 47.3 without it.  On the benchmark's 35 instantaneous mixtures of five
#: draws no block comes within the line (the loudest at most 2.1 times the
#: percentile).
TRANSIENT_BLOCK = 1024
TRANSIENT_RATIO = 4.0


def loud_stretches(power, ratio=None, near=1, percentile=95):
    """Which of ``power`` (one value per frame or block) are a transient:
    above ``ratio`` (default TRANSIENT_RATIO, read when called) times their
    ``percentile``-th percentile (an order statistic), each with ``near``
    neighbours on either side.  (n,) bool, or None when none is."""
    ratio = TRANSIENT_RATIO if ratio is None else ratio
    k = int(percentile / 100.0 * (power.size - 1))
    ref = float(np.partition(power, k)[k])
    loud = power > ratio * ref
    if not (loud.any() and ref > 0):
        return None
    return np.convolve(loud.astype(float), np.ones(2 * near + 1), mode="same") > 0


def steady_samples(X):
    """Which samples of X (n_mics, n_samples) the unmixing is estimated
    from: (n_samples,) bool, or None when all of them (no transient, see
    TRANSIENT_RATIO)."""
    n = X.shape[1] // TRANSIENT_BLOCK
    if n < 2:
        return None
    Xc = X[:, : n * TRANSIENT_BLOCK] - X.mean(axis=1, keepdims=True)
    w, V = np.linalg.eigh(Xc @ Xc.T / Xc.shape[1])
    use = w > 1e-12 * max(float(w[-1]), np.finfo(float).tiny)
    Z = (V[:, use] / np.sqrt(w[use])).T @ Xc
    loud = loud_stretches(np.einsum("kt,kt->t", Z, Z).reshape(n, TRANSIENT_BLOCK).sum(axis=1))
    if loud is None:
        return None
    steady = np.ones(X.shape[1], dtype=bool)
    steady[: n * TRANSIENT_BLOCK] = np.repeat(~loud, TRANSIENT_BLOCK)
    return steady
