"""Pieces the instantaneous solvers share: the batch one (:mod:`.ica`) and the
block-online one (:mod:`.online`)."""

import numpy as np


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
