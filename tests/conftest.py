import numpy as np
import pytest
import soundfile as sf

from helpers import speechlike


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
