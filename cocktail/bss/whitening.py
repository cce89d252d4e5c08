"""Centring, PCA whitening and rank reduction of multi-microphone signals.

Arrays are channels x samples. Whitening maps the centred microphones ``x`` to
``z = K x`` with identity covariance; with fewer sources than microphones ``K``
keeps only the strongest principal components, so ICA runs on as many signals
as there are sources.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import CocktailError

#: Relative eigenvalue below which a principal component counts as absent
#: (a silent or duplicated microphone leaves one at round-off level).
RANK_TOLERANCE = 1e-9


@dataclass
class Whitening:
    """The result of :func:`whiten`: ``z = matrix @ (x - mean)``.

    Attributes
    ----------
    matrix : ndarray, shape (n_components, n_mics)
        The whitening matrix ``K``.
    mean : ndarray, shape (n_mics, 1)
        The mean of each microphone, removed before whitening.
    eigenvalues : ndarray, shape (n_mics,)
        All covariance eigenvalues, largest first.
    rank : int
        How many components carry signal.
    """

    matrix: np.ndarray
    mean: np.ndarray
    eigenvalues: np.ndarray
    rank: int


def covariance_spectrum(X):
    """Mean, eigenvalues (descending) and eigenvectors of the channel covariance.

    The covariance is that of the centred signals, divided by ``n_samples``.
    Eigenvalues are clipped at 0, and each eigenvector's sign is fixed (its
    largest entry positive) so that results repeat across platforms.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples), float
        The microphone signals.

    Returns
    -------
    mean : ndarray, shape (n_mics, 1)
        The mean of each microphone.
    eigenvalues : ndarray, shape (n_mics,)
        Covariance eigenvalues, largest first.
    eigenvectors : ndarray, shape (n_mics, n_mics)
        The matching unit eigenvectors, one per column.
    """
    mean = X.mean(axis=1, keepdims=True)
    Xc = X - mean
    cov = Xc @ Xc.T / X.shape[1]
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    eigval = np.clip(eigval[order], 0.0, None)
    eigvec = eigvec[:, order]
    # Fix each eigenvector's sign so that results repeat across platforms.
    flip = np.sign(eigvec[np.argmax(np.abs(eigvec), axis=0), np.arange(eigvec.shape[1])])
    eigvec = eigvec * np.where(flip == 0, 1.0, flip)
    return mean, eigval, eigvec


def signal_rank(eigenvalues):
    """How many principal components carry more than round-off energy.

    Parameters
    ----------
    eigenvalues : ndarray, shape (n_mics,)
        Covariance eigenvalues, largest first.

    Returns
    -------
    int
        The number of eigenvalues above ``RANK_TOLERANCE`` times the largest;
        0 if the largest is not positive.
    """
    if eigenvalues[0] <= 0:
        return 0
    return int(np.sum(eigenvalues > RANK_TOLERANCE * eigenvalues[0]))


def whiten(X, n_components):
    """Centre ``X`` and whiten it onto its ``n_components`` strongest components.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples), float
        The microphone signals.
    n_components : int
        How many principal components to keep (the number of sources).

    Returns
    -------
    Whitening
        The whitening matrix, the mean, the eigenvalues and the rank.

    Raises
    ------
    CocktailError
        If ``n_components`` exceeds the number of components that carry
        signal.
    """
    mean, eigval, eigvec = covariance_spectrum(X)
    rank = signal_rank(eigval)
    if n_components > rank:
        raise CocktailError(
            f"cannot separate {n_components} sources: the microphones carry only "
            f"{rank} independent signal{'s' if rank != 1 else ''}"
        )
    K = eigvec[:, :n_components].T / np.sqrt(eigval[:n_components])[:, None]
    return Whitening(matrix=K, mean=mean, eigenvalues=eigval, rank=rank)
