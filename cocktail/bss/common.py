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
