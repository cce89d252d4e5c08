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
    """The result of :func:`whiten`: ``z = matrix @ (x - mean)``."""

    matrix: np.ndarray  # (n_components, n_mics)
    mean: np.ndarray  # (n_mics, 1)
    eigenvalues: np.ndarray  # all covariance eigenvalues, largest first
    rank: int  # how many components carry signal


def covariance_spectrum(X):
    """Mean, eigenvalues (descending) and eigenvectors of the channel covariance."""
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
    """How many principal components carry more than round-off energy."""
    if eigenvalues[0] <= 0:
        return 0
    return int(np.sum(eigenvalues > RANK_TOLERANCE * eigenvalues[0]))


def whiten(X, n_components):
    """Centre ``X`` and whiten it onto its ``n_components`` strongest components."""
    mean, eigval, eigvec = covariance_spectrum(X)
    rank = signal_rank(eigval)
    if n_components > rank:
        raise CocktailError(
            f"cannot separate {n_components} sources: the microphones carry only "
            f"{rank} independent signal{'s' if rank != 1 else ''}"
        )
    K = eigvec[:, :n_components].T / np.sqrt(eigval[:n_components])[:, None]
    return Whitening(matrix=K, mean=mean, eigenvalues=eigval, rank=rank)
