"""Separation quality measures that need no reference signals."""
import numpy as np


def amari_index(P):
    """Amari index of a square gain matrix ``P = W A``, in [0, 1].

    0 exactly when ``P`` is a scaled permutation (perfect separation); it
    grows as any output keeps more than one source.
    """
    P = np.abs(np.asarray(P, dtype=float))
    n = P.shape[0]
    if n < 2:
        return 0.0
    rows = (P.sum(axis=1) / P.max(axis=1) - 1).sum()
    cols = (P.sum(axis=0) / P.max(axis=0) - 1).sum()
    return float((rows + cols) / (2 * n * (n - 1)))
