"""How long a room rings: a blind estimate of its decay time from a recording.

When a talker stops, the sound in a room dies away at the room's own rate:
its level falls by 60 dB in the reverberation time (RT60).  Speech cannot
fall faster than the room lets it, and it often stops abruptly, so the
steepest falls of a recording's level, band by band, are set by the room.

The recording (all microphones' power summed) is cut into four octave bands
from 250 Hz to 4 kHz on 32 ms frames; in each band a straight line is fitted
to the level in dB over every window of :data:`WINDOW_SECONDS`.  Windows
that fall, start above the band's median level (a fall into the noise floor
is not the room's) and follow their line to within :data:`FIT_DB` are
falls; the decay time is 60 dB over the :data:`STEEP_QUANTILE` quantile of
their rates, pooled over the bands.

It is an estimate biased long (speech's own offsets and sensor noise slow
the falls): on the benchmark's rooms it gives 0.28 to 0.32 s for RT60
0.2 s, 0.33 to 0.45 s for 0.3 s, 0.43 to 0.47 s for 0.4 s and 0.59 to
0.63 s for 0.6 s.  What it is for is telling rooms that ring long from
those that do not (:data:`cocktail.bss.iva.LONG_DECAY`).
"""

from __future__ import annotations

import numpy as np

from .common import median, quantile
from .stft import STFT

__all__ = ["decay_time"]

#: Length of the windows whose level is fitted by a line, in seconds.
WINDOW_SECONDS = 0.12
#: A window is a fall when its level stays within this of its line (RMS, dB).
FIT_DB = 2.0
#: The decay rate taken: this quantile of the falls' rates (the steep end).
STEEP_QUANTILE = 0.9
#: Octave bands whose level is followed, in Hz.
BAND_EDGES_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0)
#: Fewest falls for an estimate.
MIN_FALLS = 20


def decay_time(X, sample_rate):
    """The decay time of the room a recording was made in, estimated blind.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples), float
        The recording.
    sample_rate : float
        Its sample rate in Hz (at least 8 kHz for the top band).

    Returns
    -------
    float
        Seconds for the level to fall by 60 dB at the recording's steepest
        falls, or NaN when it has too few falls to tell (silence, a clip of
        a second or two).
    """
    X = np.asarray(X, dtype=np.float64)
    nfft = int(2 ** round(np.log2(0.032 * sample_rate)))
    hop = nfft // 4
    length = max(3, int(round(WINDOW_SECONDS * sample_rate / hop)))
    if X.shape[1] < (length + 2) * hop:
        return float("nan")
    spec = STFT(nfft, hop).forward(X)  # (F, M, T)
    power = np.einsum("fmt,fmt->ft", spec.real, spec.real) + np.einsum(
        "fmt,fmt->ft", spec.imag, spec.imag
    )
    del spec
    freqs = np.arange(power.shape[0]) * float(sample_rate) / nfft
    t = np.arange(length) * hop / float(sample_rate)
    t -= t.mean()
    rates = []
    for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:]):
        band = power[(freqs >= lo) & (freqs < hi)].sum(axis=0)
        top = float(band.max()) if band.size else 0.0
        if top <= 0.0:
            continue
        level = 10.0 * np.log10(band + 1e-12 * top)
        windows = np.lib.stride_tricks.sliding_window_view(level, length)
        centred = windows - windows.mean(axis=1, keepdims=True)
        slope = centred @ t / float(t @ t)  # dB per second
        residual = centred - slope[:, None] * t
        fits = np.sqrt(np.mean(residual**2, axis=1)) < FIT_DB
        loud = windows[:, 0] > median(level)
        falls = fits & loud & (slope < 0.0)
        rates.append(-slope[falls])
    rates = np.concatenate(rates) if rates else np.zeros(0)
    if len(rates) < MIN_FALLS:
        return float("nan")
    return float(60.0 / quantile(rates, STEEP_QUANTILE))
