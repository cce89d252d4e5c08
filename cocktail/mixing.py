"""Test mixtures with the ground truth kept: x = A s, scaled with headroom."""
import csv
import io
import json
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import List

import numpy as np

from . import audio
from .errors import CocktailError

#: Largest ratio of largest to smallest singular value of a random mixing matrix.
MAX_CONDITION = 4.0
#: Peak of a mixture after scaling (about -1 dBFS).
MIX_PEAK = 0.9


@dataclass
class Sources:
    signals: np.ndarray  # (n_sources, n_samples) exactly as they enter the mix
    sample_rate: int
    notes: List[str] = field(default_factory=list)  # adjustments made, for stderr


def _resample(x, rate_from, rate_to):
    from scipy.signal import resample_poly

    g = gcd(rate_from, rate_to)
    return resample_poly(x, rate_to // g, rate_from // g)


def load_sources(paths, *, sample_rate=None) -> Sources:
    """Read mono sources, downmixing, resampling and padding as needed."""
    clips = [audio.read(p) for p in paths]
    notes = []
    for c in clips:
        if c.frames == 0:
            raise CocktailError(f"{c.name} contains no samples")
    rate = sample_rate or max(c.sample_rate for c in clips)
    signals = []
    for c in clips:
        x = c.samples
        if c.channels > 1:
            notes.append(f"{c.name} has {c.channels} channels: downmixed to mono")
            x = x.mean(axis=0, keepdims=True)
        x = x[0]
        if c.sample_rate != rate:
            notes.append(f"{c.name} resampled from {c.sample_rate} Hz to {rate} Hz")
            x = _resample(x, c.sample_rate, rate)
        signals.append(x)
    n = max(len(x) for x in signals)
    if any(len(x) != n for x in signals):
        notes.append(f"shorter sources padded with silence to {n / rate:.2f} s")
    S = np.zeros((len(signals), n))
    for i, x in enumerate(signals):
        S[i, : len(x)] = x
    for i, c in enumerate(clips):
        if not np.any(S[i]):
            raise CocktailError(f"{c.name} is silent: every sample is zero")
    return Sources(signals=S, sample_rate=rate, notes=notes)


def random_mixing(n_mics, n_sources, random_state=None):
    """A random mixing matrix with condition number at most MAX_CONDITION.

    Directions are Gaussian; singular values are drawn between 1 and
    1/MAX_CONDITION, so no two microphones hear nearly the same blend.
    """
    rng = np.random.default_rng(random_state)
    G = rng.standard_normal((n_mics, n_sources))
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    k = min(n_mics, n_sources)
    s = np.sort(rng.uniform(1.0 / MAX_CONDITION, 1.0, k))[::-1]
    s[0], s[-1] = 1.0, max(s[-1], 1.0 / MAX_CONDITION)
    A = (U * s) @ Vt
    # Deterministic signs: microphone 1 hears every source with positive gain.
    A = A * np.where(A[0] < 0, -1.0, 1.0)
    return A / np.abs(A).max()


def read_matrix(path):
    """A mixing matrix from JSON (a list of rows, or an object with "mixing") or CSV."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise CocktailError(f"cannot read matrix '{p}': no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CocktailError(f"cannot read matrix '{p}': {exc}") from None
    try:
        if text.lstrip().startswith(("[", "{")):
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("mixing")
        else:
            data = [[float(v) for v in row if v.strip()] for row in csv.reader(io.StringIO(text))
                    if any(v.strip() for v in row)]
        A = np.array(data, dtype=float)
    except (ValueError, TypeError) as exc:
        raise CocktailError(f"cannot read matrix '{p}': expected rows of numbers ({exc})") from None
    if A.ndim != 2 or A.size == 0:
        raise CocktailError(f"cannot read matrix '{p}': expected rows of numbers, one row per microphone")
    if not np.all(np.isfinite(A)):
        raise CocktailError(f"matrix '{p}' contains NaN or infinite values")
    return A


def mix(S, A, *, peak=MIX_PEAK):
    """Return (x, scale) with x = scale * A s and max |x| = peak."""
    X = A @ S
    top = np.abs(X).max()
    if top == 0:
        raise CocktailError("the mixture is silent: the mixing matrix cancels every source")
    scale = peak / top
    return X * scale, float(scale)
