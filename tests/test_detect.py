"""Tests of the instantaneous / convolutive mixture detector."""

import time

import numpy as np
import pytest
from scipy.signal import lfilter

from cocktail.bss.detect import REALNESS_THRESHOLD, choose_model, phase_realness
from cocktail.errors import CocktailError


def speech_like(n_src, n_samples, fs, rng):
    """Laplace noise, coloured by a random resonance and switched on and off by
    slow random envelopes, like speech."""
    out = np.empty((n_src, n_samples))
    t = np.arange(n_samples) / fs
    for n in range(n_src):
        f0 = rng.uniform(300, min(1500, 0.3 * fs))
        r = 0.95
        x = lfilter(
            [1.0, -0.5],
            [1.0, -2 * r * np.cos(2 * np.pi * f0 / fs), r * r],
            rng.laplace(size=n_samples),
        )
        env = sum(
            np.sin(2 * np.pi * rng.uniform(1, 5) * t + rng.uniform(0, 2 * np.pi)) for _ in range(4)
        )
        out[n] = x * np.maximum(env, 0) ** 2
        out[n] /= out[n].std()
    return out


def instantaneous(n_mics, n_src, fs=16000, seconds=6.0, seed=0):
    rng = np.random.default_rng(seed)
    S = speech_like(n_src, int(seconds * fs), fs, rng)
    return rng.standard_normal((n_mics, n_src)) @ S


def convolutive(n_mics, n_src, fs=16000, seconds=6.0, seed=0, echoes=True, max_delay_s=3e-4):
    """Each path: a (fractional) delay of up to max_delay_s, plus decaying echoes."""
    rng = np.random.default_rng(seed)
    S = speech_like(n_src, int(seconds * fs), fs, rng)
    taps = int(0.05 * fs) if echoes else 64
    X = np.zeros((n_mics, S.shape[1]))
    k = np.arange(taps)
    for m in range(n_mics):
        for s in range(n_src):
            d = 8 + rng.uniform(0, max_delay_s * fs)
            h = np.sinc(k - d) * np.hanning(taps) * rng.uniform(0.5, 1.0)
            if echoes:
                h += 0.3 * rng.standard_normal(taps) * np.exp(-k / (0.01 * fs)) * (k > d + 2)
            X[m] += np.convolve(S[s], h)[: S.shape[1]]
    return X


@pytest.mark.parametrize("n_mics, n_src", [(2, 2), (3, 3), (4, 2), (6, 6)])
def test_instantaneous_mixtures(n_mics, n_src):
    model, reason = choose_model(instantaneous(n_mics, n_src, seed=n_mics), 16000)
    assert model == "instantaneous", reason


@pytest.mark.parametrize("n_mics, n_src", [(2, 2), (3, 3), (4, 2), (6, 6)])
def test_convolutive_mixtures(n_mics, n_src):
    model, reason = choose_model(convolutive(n_mics, n_src, seed=n_mics), 16000)
    assert model == "convolutive", reason


def test_pure_delays_without_echoes_are_convolutive():
    # a small array in an anechoic space: only sub-millisecond delays
    model, reason = choose_model(convolutive(2, 2, echoes=False, seed=1), 16000)
    assert model == "convolutive", reason


@pytest.mark.parametrize("fs", [8000, 22050, 44100, 48000])
def test_any_sample_rate(fs):
    assert choose_model(instantaneous(3, 3, fs=fs, seconds=4.0, seed=1), fs)[0] == "instantaneous"
    assert choose_model(convolutive(3, 3, fs=fs, seconds=4.0, seed=1), fs)[0] == "convolutive"


def test_robust_to_gain_offset_and_noise():
    rng = np.random.default_rng(5)
    for X, want in [
        (instantaneous(3, 3, seed=5), "instantaneous"),
        (convolutive(3, 3, seed=5), "convolutive"),
    ]:
        Y = X * np.array([[1e-3], [-2.0], [50.0]])  # wildly different gains, one inverted
        Y = Y + np.array([[0.5], [-3.0], [100.0]])  # DC offsets
        Y = Y + 0.1 * Y.std(axis=1, keepdims=True) * rng.standard_normal(Y.shape)  # 20 dB SNR
        model, reason = choose_model(Y, 16000)
        assert model == want, reason


def test_ill_conditioned_instantaneous():
    rng = np.random.default_rng(2)
    S = speech_like(2, 6 * 16000, 16000, rng)
    X = np.array([[1.0, 0.95], [0.95, 1.0]]) @ S
    assert choose_model(X, 16000)[0] == "instantaneous"


def test_reason_names_statistic_and_threshold():
    model, reason = choose_model(instantaneous(2, 2), 16000)
    assert f"threshold {100 * REALNESS_THRESHOLD:.0f}%" in reason
    assert "0/180 degrees" in reason
    assert reason.endswith("no delays between microphones")
    model, reason = choose_model(convolutive(2, 2), 16000)
    assert f"threshold {100 * REALNESS_THRESHOLD:.0f}%" in reason
    assert "as in a room" in reason


def test_statistic_separates_the_two_kinds_with_margin():
    inst, _ = phase_realness(instantaneous(4, 4, seed=3), 16000)
    conv, _ = phase_realness(convolutive(4, 4, seed=3), 16000)
    assert inst > 0.97
    assert conv < 0.75


def test_degenerate_inputs():
    assert choose_model(np.zeros((1, 16000)), 16000)[0] == "instantaneous"
    assert choose_model(np.zeros((3, 16000)), 16000)[0] == "instantaneous"
    assert choose_model(np.zeros((2, 100)), 16000)[0] == "instantaneous"  # too short
    X = instantaneous(3, 2, seed=4)
    X[1] = 0.0  # a dead channel does not decide the matter
    assert choose_model(X, 16000)[0] == "instantaneous"
    X = convolutive(3, 2, seed=4)
    X[1] = 0.0
    assert choose_model(X, 16000)[0] == "convolutive"


def test_bad_arguments():
    with pytest.raises(CocktailError) as err:
        choose_model(np.zeros(100), 16000)
    assert str(err.value) == "the recording must be 2-D (n_mics, n_samples), got 1 dimension(s)"
    with pytest.raises(CocktailError) as err:
        choose_model(np.zeros((2, 100)), 0)
    assert str(err.value) == "the sample rate must be a positive number of hertz, got 0"
    X = np.zeros((2, 100))
    X[0, 0] = np.inf
    with pytest.raises(CocktailError) as err:
        choose_model(X, 16000)
    assert str(err.value) == "the recording contains NaN or infinite samples"


def test_cheap_on_long_recordings():
    X = instantaneous(6, 6, seconds=10.0, seed=6)
    choose_model(X, 16000)  # warm-up
    t = time.perf_counter()
    choose_model(X, 16000)
    assert time.perf_counter() - t < 0.5  # typically about 0.03 s
