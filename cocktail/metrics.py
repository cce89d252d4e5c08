"""Separation quality measures that need no reference signals."""

import numpy as np

from .errors import CocktailError


def amari_index(P):
    """Amari index of a square gain matrix ``P = W A``, normalised to [0, 1].

    ``sum_i (sum_j |p_ij| / max_j |p_ij| - 1) + sum_j (sum_i |p_ij| / max_i |p_ij| - 1)``
    divided by its largest value ``2 n (n - 1)``. It is 0 exactly when ``P``
    is a permutation of a diagonal matrix (each output one source, whatever
    its scale and order), 1 when every entry has the same magnitude.

    Parameters
    ----------
    P : array_like, shape (n, n)
        The global gain matrix, real or complex; only magnitudes are used.

    Returns
    -------
    float
        The index in [0, 1]; 0 for a 1 x 1 matrix, and 1 when a row or a
        column is all zero (an output that hears nothing, or a source nobody
        hears).

    Raises
    ------
    CocktailError
        If ``P`` is not a non-empty square matrix.
    """
    P = np.abs(np.asarray(P, dtype=float))
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.size == 0:
        raise CocktailError(f"the Amari index needs a square matrix, got shape {P.shape}")
    n = P.shape[0]
    if n == 1:
        return 0.0
    row_max = P.max(axis=1)
    col_max = P.max(axis=0)
    if not (np.all(row_max > 0) and np.all(col_max > 0)):
        return 1.0  # an output that hears nothing, or a source nobody hears
    rows = (P.sum(axis=1) / row_max - 1).sum()
    cols = (P.sum(axis=0) / col_max - 1).sum()
    return float((rows + cols) / (2 * n * (n - 1)))
