"""Output scale, order and sign: projection back, energy ordering and headroom.

ICA recovers sources only up to order and scale. Projection back fixes both
the scale and the sign physically: each output becomes the source as it sounds
at a reference microphone (column ``i`` of the estimated mixing matrix ``A``
gives how source ``i`` reaches each microphone). Outputs are then ordered by
that energy, loudest first, and scaled down together if any would clip.
"""

import numpy as np

#: Largest peak allowed in an output file (just below integer full scale).
PEAK_LIMIT = 0.999


def reference_gains(mixing, ref=0):
    """How each source reaches microphone ``ref`` (row of the mixing matrix).

    A source that microphone ``ref`` does not hear at all is taken at the
    microphone that hears it best instead, so no output is silenced
    ("not at all" meaning a gain below 1e-6 times the source's largest gain).

    Parameters
    ----------
    mixing : ndarray, shape (n_mics, n_sources)
        The estimated mixing matrix ``A``; column ``i`` is how source ``i``
        reaches each microphone.
    ref : int, default 0
        Index of the reference microphone.

    Returns
    -------
    ndarray, shape (n_sources,)
        The gain of each source at its reference microphone.
    """
    A = np.asarray(mixing)
    g = A[ref].copy()
    weak = np.abs(g) < 1e-6 * np.abs(A).max(axis=0)
    if np.any(weak):
        best = np.argmax(np.abs(A), axis=0)
        g[weak] = A[best[weak], np.flatnonzero(weak)]
    return g


def project_back(unmixing, mixing, ref=0):
    """Rescale unmixing rows so that outputs sound as at microphone ``ref``.

    Parameters
    ----------
    unmixing : ndarray, shape (n_sources, n_mics)
        The unmixing matrix ``W``.
    mixing : ndarray, shape (n_mics, n_sources)
        The matching mixing matrix ``A``; see :func:`reference_gains`.
    ref : int, default 0
        Index of the reference microphone.

    Returns
    -------
    ndarray, shape (n_sources, n_mics)
        ``W`` with row ``i`` multiplied by the gain of source ``i`` at the
        reference microphone.
    """
    g = reference_gains(mixing, ref)
    return unmixing * g[:, None]


def energy_order(unmixing, covariance):
    """Row order putting the most energetic output first (ties by index).

    Powers are taken relative to the largest and rounded to 12 decimal
    places, so outputs whose powers differ only by round-off keep their
    index order.

    Parameters
    ----------
    unmixing : ndarray, shape (n_sources, n_mics)
        The unmixing matrix, real.
    covariance : ndarray, shape (n_mics, n_mics)
        Covariance of the centred microphone signals.

    Returns
    -------
    ndarray of int, shape (n_sources,)
        The row indices, loudest output first.
    """
    power = np.einsum("im,mn,in->i", unmixing, covariance, unmixing).real
    return np.lexsort((np.arange(len(power)), -np.round(power / power.max(), 12)))


def headroom_gain(peak, limit=PEAK_LIMIT):
    """The common gain (at most 1) that keeps every output below ``limit``.

    Parameters
    ----------
    peak : float
        Largest absolute sample value over all outputs.
    limit : float, default PEAK_LIMIT
        Largest peak allowed, relative to full scale.

    Returns
    -------
    float
        1.0 if ``peak`` is already at most ``limit``, else ``limit / peak``.
    """
    return 1.0 if peak <= limit or peak == 0 else limit / peak
