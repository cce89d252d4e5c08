import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_audio"


def speechlike(n_sources, n_samples, rng, rate=8000):
    """Laplace noise under slow random envelopes, with pauses: speech-like."""
    S = rng.laplace(size=(n_sources, n_samples))
    t = np.arange(n_samples) / rate
    for i in range(n_sources):
        f = rng.uniform(1.5, 4.0)
        env = np.maximum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)), 0.05)
        S[i] *= env
    return S


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def write_wav(tmp_path):
    """write_wav(name, samples (channels x frames), rate=8000, subtype="FLOAT") -> path"""

    def write(name, samples, rate=8000, subtype="FLOAT"):
        path = tmp_path / name
        sf.write(path, np.asarray(samples).T, rate, subtype=subtype)
        return path

    return write


@pytest.fixture
def mixture(write_wav, rng):
    """A 3-mic instantaneous mixture of 3 speech-like sources, 2 s at 8 kHz."""
    S = speechlike(3, 16000, rng)
    A = np.array([[1.0, 0.6, 0.3], [0.5, 1.0, -0.4], [0.2, -0.5, 1.0]])
    X = A @ S
    X *= 0.5 / np.abs(X).max()
    return write_wav("mix.wav", X), S, A


def cocktail_cmd():
    return [sys.executable, "-m", "cocktail"]


def sir_db(estimate, sources):
    """SIR of one estimate against known sources: best-matching source vs the rest (dB)."""
    coef, *_ = np.linalg.lstsq(sources.T, estimate, rcond=None)
    parts = sources * coef[:, None]
    power = (parts**2).sum(axis=1)
    k = int(np.argmax(power))
    return 10 * np.log10(power[k] / max(power.sum() - power[k], 1e-300))
