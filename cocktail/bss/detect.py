"""Tell an instantaneous mixture from a room (convolutive) recording.

In an instantaneous mixture ``x = A s`` every microphone is a real weighted
sum of the sources, with no delays.  The cross-spectrum between two channels
is then ``sum_n a_in a_jn |S_n(f)|^2``: a real number, so the inter-channel
phase is 0 or 180 degrees at every frequency.  In a room the paths from a
speaker to two microphones differ in delay and echoes, and the phase takes
any value.

The statistic: on a few seconds taken from across the recording, the complex
coherence of every channel pair in every frequency bin (100 Hz to 7 kHz);
among the most coherent quarter of the bins of each pair (where the sources,
not noise, dominate), the fraction whose phase is within 10 degrees of 0 or
180 degrees, or within three standard deviations of the estimation noise of
the phase, whichever is wider.  Coherence is normalised by the channel
powers, so channel gains do not matter; the DC bin and low rumble are
excluded, so offsets do not matter; bins are chosen in hertz and the frame
length in milliseconds, so the sample rate does not matter.
"""

from __future__ import annotations

import numpy as np

from ..errors import CocktailError
from . import stft
from .common import quantile

__all__ = ["choose_model", "phase_realness", "REALNESS_THRESHOLD"]

#: fraction of coherent bins with real cross-spectra above which a mixture is
#: taken as instantaneous
REALNESS_THRESHOLD = 0.90

_SEGMENT_SECONDS = 1.0
_N_SEGMENTS = 5
_FRAME_SECONDS = 0.032
_FMIN, _FMAX = 100.0, 7000.0
_ANGLE_DEG = 10.0


def _excerpt(X, sample_rate):
    """Up to _N_SEGMENTS one-second pieces spread evenly over the recording."""
    n = X.shape[1]
    seg = int(round(_SEGMENT_SECONDS * sample_rate))
    if n <= seg * _N_SEGMENTS:
        return X
    starts = np.linspace(0, n - seg, _N_SEGMENTS).astype(int)
    return np.concatenate([X[:, s : s + seg] for s in starts], axis=1)


def phase_realness(X, sample_rate):
    """Fraction of the coherent (channel pair, bin) cells with a real cross-spectrum.

    Real meaning a phase of 0 or 180 degrees, within the tolerance described
    in the module docstring.  Near 1 for instantaneous mixtures.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)
        The recording.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    fraction : float
        The fraction of coherent cells that are real; nan when no cell
        carries signal (or the excerpt is shorter than four frames).
    n_cells : int
        How many coherent cells were counted; 0 when ``fraction`` is nan.
    """
    X = np.asarray(X, dtype=np.float64)
    M = X.shape[0]
    xs = _excerpt(X, sample_rate)
    xs = xs - xs.mean(axis=1, keepdims=True)
    nfft = int(2 ** round(np.log2(max(_FRAME_SECONDS * sample_rate, 16))))
    hop = nfft // 2
    n_frames = 1 + (xs.shape[1] - nfft) // hop if xs.shape[1] >= nfft else 0
    if n_frames < 4:
        return float("nan"), 0
    lo = max(1, int(np.ceil(_FMIN * nfft / sample_rate)))
    hi = min(nfft // 2, int(np.floor(_FMAX * nfft / sample_rate)))
    if hi <= lo:
        lo, hi = 1, nfft // 2
    frames = stft.frames(xs, nfft, hop) * stft.analysis_window(nfft)  # (M, T, nfft)
    S = np.fft.rfft(frames, axis=2)[:, :, lo:hi]  # (M, T, F)
    C = np.einsum("itf,jtf->fij", S, np.conj(S))  # (F, M, M)
    power = np.einsum("fii->fi", C).real
    iu, ju = np.triu_indices(M, 1)
    cross = C[:, iu, ju]  # (F, P)
    denom = np.sqrt(power[:, iu] * power[:, ju])
    ok = denom > 1e-12 * max(float(denom.max()), np.finfo(float).tiny)
    coh = np.where(ok, cross / np.where(ok, denom, 1.0), 0.0)
    mag = np.abs(coh)
    live = ok.any(axis=0)  # pairs where both channels carry signal
    if not live.any():
        return float("nan"), 0
    mag, coh, ok = mag[:, live], coh[:, live], ok[:, live]
    sin_phase = np.abs(coh.imag) / np.maximum(mag, 1e-12)
    # estimation noise of the phase of a coherence from n_frames frames
    g = np.clip(mag, 1e-3, 0.999)
    sigma = np.sqrt((1.0 - g**2) / (2.0 * n_frames * g**2))
    tol = np.maximum(np.sin(np.deg2rad(_ANGLE_DEG)), 3.0 * sigma)
    top = (mag >= quantile(mag, 0.75, axis=0, keepdims=True)) & ok & (mag > 0)
    n_cells = int(top.sum())
    if n_cells == 0:
        return float("nan"), 0
    frac = float(np.sum(top & (sin_phase < tol)) / n_cells)
    return frac, n_cells


def choose_model(X, sample_rate):
    """Decide whether a recording is an instantaneous or a convolutive mixture.

    A single channel, or channels with too little signal to measure, are
    taken as instantaneous.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)
        The recording.
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    model : str
        "instantaneous" or "convolutive".
    reason : str
        A sentence for the user naming the measured statistic and the
        threshold.

    Raises
    ------
    CocktailError
        If ``X`` is not 2-D, the sample rate is not a positive finite number,
        or ``X`` contains NaN or infinite samples.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise CocktailError(
            f"the recording must be 2-D (n_mics, n_samples), got {X.ndim} dimension(s)"
        )
    if not np.isfinite(sample_rate) or sample_rate <= 0:
        raise CocktailError(
            f"the sample rate must be a positive number of hertz, got {sample_rate!r}"
        )
    if not np.all(np.isfinite(X)):
        raise CocktailError("the recording contains NaN or infinite samples")
    if X.shape[0] < 2:
        return (
            "instantaneous",
            "a single channel has no inter-channel delays to measure: treated as instantaneous",
        )
    frac, n = phase_realness(X, float(sample_rate))
    if not np.isfinite(frac):
        return (
            "instantaneous",
            "the channels carry too little signal (or are too short) to measure inter-channel "
            "phase: treated as instantaneous",
        )
    pct = 100.0 * frac
    thr = 100.0 * REALNESS_THRESHOLD
    if frac >= REALNESS_THRESHOLD:
        return (
            "instantaneous",
            f"inter-channel phase is 0/180 degrees in {pct:.0f}% of the coherent "
            f"time-frequency bins (threshold {thr:.0f}%): no delays between microphones",
        )
    return (
        "convolutive",
        f"inter-channel phase is 0/180 degrees in only {pct:.0f}% of the coherent "
        f"time-frequency bins (threshold {thr:.0f}%): delays and echoes between microphones, "
        "as in a room",
    )
