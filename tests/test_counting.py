"""Counting the speakers (--sources auto) and using every microphone."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import lfilter
from test_iva import convolve_mix, room_responses, speech_like

from cocktail import separate
from cocktail.bss.counting import (
    count_instantaneous,
    count_outputs,
    quantisation_step,
    reverberation_explained,
    spatial_coherence,
)
from cocktail.bss.iva import separate_convolutive
from cocktail.cli import cli
from cocktail.room import room_responses as simulated_room

RATE = 8000


def quantise(X, bits=16):
    """X scaled to peak at 0.9, rounded to a ``bits``-bit grid."""
    X = 0.9 * X / np.abs(X).max()
    q = 2.0 ** (bits - 1)
    return np.round(X * q) / q


def instantaneous(n_src, n_mics, rng, snr_db=None, seconds=4):
    S = speech_like(n_src, seconds * RATE, rng)
    S *= 10 ** (rng.uniform(-10, 0, n_src) / 20)[:, None]  # speakers not equally loud
    X = rng.standard_normal((n_mics, n_src)) @ S
    if snr_db is not None:
        X += rng.standard_normal(X.shape) * np.sqrt(np.mean(X**2) * 10 ** (-snr_db / 10))
    return X


@pytest.mark.parametrize(
    "n_src,n_mics", [(2, 2), (2, 5), (3, 3), (3, 8), (4, 6), (5, 5), (6, 6), (6, 8)]
)
@pytest.mark.parametrize("noise", [None, 40])
@pytest.mark.parametrize("bits", [None, 16])
def test_instantaneous_count(n_src, n_mics, noise, bits):
    rng = np.random.default_rng(1000 * n_src + n_mics + (noise or 0))
    X = instantaneous(n_src, n_mics, rng, noise)
    X = quantise(X, bits) if bits else X
    counted = count_instantaneous(X)
    assert counted.n == n_src, counted.evidence


def test_sensor_noise_on_one_extra_microphone():
    """N + 1 microphones with white sensor noise: the extra dimension is
    Gaussian and white, not a speaker."""
    X = instantaneous(3, 4, np.random.default_rng(7), snr_db=30)
    counted = count_instantaneous(X)
    assert counted.n == 3
    assert (
        counted.method
        == "covariance eigenvalues: 3 of 4 kept, the weakest one being white Gaussian noise"
    )


def test_quiet_near_gaussian_source_is_kept_and_flagged():
    """A faint coloured Gaussian source (like a fan, or dense music) could be
    noise or a source: it is kept, one more rather than one fewer, and the
    count says it is unsure."""
    rng = np.random.default_rng(3)
    S = speech_like(2, 4 * RATE, rng)
    hum = lfilter([1.0], [1.0, -0.9], rng.standard_normal(4 * RATE))
    S = np.vstack([S, 0.05 * hum / hum.std()])
    X = rng.standard_normal((3, 3)) @ S
    counted = count_instantaneous(X)
    assert counted.n == 3 and counted.unsure


def test_scaled_copy_of_a_channel_is_not_a_speaker():
    """16-bit, channel 3 = -0.5 x channel 1: its rounding is quantisation noise."""
    rng = np.random.default_rng(4)
    X = quantise(rng.standard_normal((2, 2)) @ speech_like(2, 4 * RATE, rng))
    X = np.vstack([X, np.round(-0.5 * X[0] * 32768) / 32768])
    assert quantisation_step(X) == 2.0**-15
    assert count_instantaneous(X).n == 2


@pytest.mark.parametrize("seed", [8, 25, 57])
def test_a_quiet_talker_under_sensor_noise_is_counted(seed):
    """As many microphones as talkers, 20 dB of white sensor noise, talkers
    up to 10 dB apart: the weakest component is mostly noise, yet the quiet
    talker in it colours it, so it is counted (and the count says it was
    unsure). The kurtosis and lag-1 correlation alone called it noise."""
    rng = np.random.default_rng(seed)
    n_src = 3 + seed % 3
    counted = count_instantaneous(instantaneous(n_src, n_src, rng, snr_db=20))
    assert counted.n == n_src, counted.evidence
    assert counted.unsure
    assert counted.evidence["whiteness"][-1] > 200


def test_two_equally_quiet_talkers_are_not_sensor_noise():
    """Two talkers 14 dB below two others and as loud as each other give a
    run of equal smallest eigenvalues, as sensor noise does; they are not
    Gaussian, so they are counted."""
    rng = np.random.default_rng(0)
    S = speech_like(4, 4 * RATE, rng) * np.array([1.0, 0.8, 0.2, 0.18])[:, None]
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    counted = count_instantaneous(Q @ S)
    assert counted.n == 4, counted.evidence


def test_coloured_sensor_noise_on_extra_microphones_is_not_a_speaker():
    """Two talkers in four microphones whose own noise is Gaussian but not
    white (low-pass): the run of equal smallest eigenvalues is noise."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 2)) @ speech_like(2, 4 * RATE, rng)
    noise = lfilter([1.0], [1.0, -0.7], rng.standard_normal(X.shape), axis=1)
    counted = count_instantaneous(X + 0.05 * X.std() * noise / noise.std())
    assert counted.n == 2, counted.evidence
    assert "kept, the 2 equal smallest being sensor noise" in counted.method


def test_dead_microphone_with_hiss_is_not_a_speaker():
    """A dead microphone with +-2 LSB of hiss stays under the noise floor."""
    rng = np.random.default_rng(5)
    X = quantise(rng.standard_normal((2, 2)) @ speech_like(2, 4 * RATE, rng))
    hiss = rng.integers(-2, 3, size=X.shape[1]) / 32768
    assert count_instantaneous(np.vstack([X, hiss])).n == 2


def test_room_outputs_with_soft_onsets_are_not_talkers():
    """count_outputs on outputs whose envelopes are smeared copies of the
    talkers' (reverberation) keeps the talkers only."""
    rng = np.random.default_rng(6)
    F, T = 64, 400
    talkers = (rng.random((2, T)) < 0.3) * rng.uniform(1, 10, (2, T))  # bursts
    kernel = np.exp(-np.arange(30) / 10.0)
    smeared = np.array([np.convolve(t, kernel)[:T] for t in talkers]) * 0.3
    P = np.concatenate([talkers, smeared])[None].repeat(F, axis=0) + 1e-3
    counted, keep = count_outputs(P, np.linspace(0, 4000, F))
    assert counted.n == 2 and sorted(keep) == [0, 1]


@pytest.mark.parametrize("gain_db, n", [(-2.0, 3), (-9.0, 2)])
def test_a_loud_output_with_soft_onsets_of_its_own_is_a_talker(gain_db, n):
    """A third talker whose output has soft onsets (a quick trial separation
    can leave a talker smeared so) beside an output of the two others'
    reverberation, both soft: the reverberation follows the louder outputs'
    power and is dropped; the third talker's does not, and within 6 dB of
    the loudest it is counted, unsure, with the evidence saying why."""
    P, freqs = soft_third_talker(gain_db)
    T = P.shape[2]
    counted, keep = count_outputs(P, freqs)
    ev = counted.evidence
    assert min(ev["onset_sharpness"]) < 1 - ev["margin"] - ev["unsure_margin"]  # both soft
    assert counted.n == n and sorted(keep) == list(range(n))
    if n == 3:
        assert counted.unsure and ev["soft_talker"]["reverberation_explained"] < 0.3
        assert ev["soft_talker"]["level_db"] == pytest.approx(gain_db, abs=0.5)
        assert "1 output with soft onsets but 2.0 dB below the loudest" in counted.method
        assert ev["soft_talker"]["below"] == pytest.approx(0.38 + 6.0 / T - 0.04, abs=1e-3)
    else:
        assert "soft_talker" not in ev


def test_a_talker_heard_again_is_not_another_talker():
    """Two talkers, each also in a second output through another filter (as a
    trial separation of a compact array gives them): the second outputs have
    sharp onsets too, but their power rises and falls with a louder output's
    in every bin, so two are counted, and the evidence says why."""
    rng = np.random.default_rng(7)
    F, T = 64, 400
    talkers = (rng.random((2, 1, T)) < 0.3) * rng.uniform(1, 10, (2, F, T))  # bursts
    again = talkers * rng.uniform(0.05, 0.3, (2, F, 1)) * rng.uniform(0.7, 1.3, (2, F, T))
    P = np.concatenate([talkers, again]).transpose(1, 0, 2) + 1e-3
    counted, keep = count_outputs(P, np.linspace(0, 4000, F))
    assert counted.n == 2 and sorted(keep) == [0, 1] and not counted.unsure
    assert "2 of those rise and fall with a louder one's power" in counted.method
    ev = counted.evidence
    assert ev["duplicate_correlation"] == 0.46
    assert len(ev["power_correlation"]) == 4 and min(ev["onset_sharpness"]) > 1 - ev["margin"]
    assert sorted(v for v in ev["power_correlation"] if v is not None)[-2] > 0.8


@pytest.mark.parametrize("share, n, unsure", [(0.3, 3, False), (0.35, 3, True), (0.4, 2, False)])
def test_an_output_partly_like_a_louder_one(share, n, unsure):
    """A third output whose power is partly a louder talker's and partly its
    own: kept while it correlates less than 0.46 with that talker, and the
    count is flagged unsure when it comes within 0.06 of that line (kept:
    one more rather than one fewer)."""
    rng = np.random.default_rng(9)
    F, T = 64, 400
    bursts = (rng.random((3, 1, T)) < 0.3) * rng.uniform(1, 10, (3, F, T))
    third = 0.5 * (share * bursts[0] + (1 - share) * bursts[2])
    P = np.stack([bursts[0], bursts[1], third], axis=1) + 1e-3
    counted, _ = count_outputs(P, np.linspace(0, 4000, F))
    assert (counted.n, counted.unsure) == (n, unsure)


def test_independent_talkers_are_all_kept():
    """Four talkers whose bursts are independent: their powers do not rise and
    fall together, and none is taken for another heard again."""
    rng = np.random.default_rng(8)
    F, T = 64, 400
    P = (rng.random((4, 1, T)) < 0.3) * rng.uniform(1, 10, (4, F, T))
    P = P.transpose(1, 0, 2) * rng.uniform(0.1, 1, (1, 4, 1)) + 1e-3
    counted, keep = count_outputs(P, np.linspace(0, 4000, F))
    assert counted.n == 4 and not counted.unsure
    assert max(v for v in counted.evidence["power_correlation"] if v is not None) < 0.2


def two_talkers_and_two_echoes():
    """Powers (F, 4, T) of two talkers and two outputs of their reverberation
    whose power comes and goes (as an array's trial separation can give them),
    and the bins' frequencies."""
    rng = np.random.default_rng(10)
    F, T = 64, 400
    P = (rng.random((2, 1, T)) < 0.3) * rng.uniform(1, 10, (2, F, T))
    echoes = []
    for w0, w1 in [(0.2, 0.1), (0.1, 0.2)]:
        echo = np.zeros((F, T))
        for d, a in enumerate([1.0, 0.7, 0.5, 0.3, 0.2, 0.1]):
            echo[:, d:] += a * (w0 * P[0, :, : T - d] + w1 * P[1, :, : T - d])
        echoes.append(echo * np.where(rng.random((1, T)) < 0.7, 1.0, 0.02))
    freqs = np.linspace(0, 4000, F)
    return np.concatenate([P, np.array(echoes)]).transpose(1, 0, 2) + 0.1, freqs


def echoes_explained(monkeypatch, fits):
    """Make the count's reverberation test find the outputs ``fits`` names
    explained that much (the others as measured)."""
    from cocktail.bss import counting

    measured = counting.reverberation_explained
    monkeypatch.setattr(
        counting,
        "reverberation_explained",
        lambda P, f, k, louder, lags=None: fits.get(int(k), measured(P, f, k, louder, lags)),
    )


def test_of_several_outputs_only_just_sharp_enough_one_is_kept():
    """Two talkers and two outputs of their reverberation whose power comes and
    goes (as an array's trial separation can give them): their onsets are
    within the unsure margin of the sharpest, and no spare dimension shows.
    Both are what the louder outputs' powers predict: one of them is kept as
    the one spare output an unsure count allows, not both. With only one such
    output, it is kept (one more rather than one fewer)."""
    Q, freqs = two_talkers_and_two_echoes()
    counted, keep = count_outputs(Q, freqs)
    ev = counted.evidence
    sharp = ev["onset_sharpness"]
    assert 1 - ev["margin"] - ev["unsure_margin"] <= min(sharp) < max(sharp[2:]) < 1 - ev["margin"]
    assert all(v > ev["reverberation_line"] for v in ev["reverberation_explained"][2:])
    assert counted.n == 3 and counted.unsure and sorted(keep)[:2] == [0, 1]
    assert "1 of those follows the louder ones' power over the next frames" in counted.method
    assert "unsure, kept one more" in counted.describe()
    one, _ = count_outputs(Q[:, :3], freqs)
    assert one.n == 3 and one.unsure and "reverberation_explained" not in one.evidence


def test_three_outputs_far_above_the_reverberation_line_are_dropped_without_a_spare_dimension(
    monkeypatch,
):
    """Five outputs, every one with a talker's sharp onsets and none another's
    power again: no spare dimension shows. When three of them are what the
    louder ones' powers predict, well above the usual line, they are
    reverberation (an array with more microphones than talkers); two so
    explained are kept (a room with as many microphones as talkers can hold
    two quiet talkers explained as much), and so are three only just above
    the usual line."""
    from cocktail.bss import counting

    rng = np.random.default_rng(4)
    F, T = 64, 400
    level = np.array([1.0, 0.8, 0.5, 0.4, 0.3])[None, :, None]
    Q = (rng.random((1, 5, T)) < 0.3) * rng.uniform(1, 10, (F, 5, T)) * level + 0.01
    freqs = np.linspace(0, 4000, F)
    line = counting.REVERB_EXPLAINED + counting.REVERB_SHORT / T
    many = line + counting.REVERB_MANY_MARGIN

    def with_fits(fits):
        monkeypatch.setattr(counting, "reverberation_explained", lambda P, f, k, louder: fits[k])
        return count_outputs(Q, freqs)

    counted, keep = with_fits({1: 0.05, 2: many + 0.2, 3: many + 0.01, 4: many + 0.3})
    ev = counted.evidence
    assert min(ev["onset_sharpness"]) > 1 - ev["margin"]  # all in the sure band
    assert max(v for v in ev["power_correlation"] if v is not None) < ev["duplicate_correlation"]
    assert counted.n == 2 and sorted(keep) == [0, 1] and not counted.unsure
    assert "3 of those follow the louder ones' power over the next frames" in counted.method
    assert ev["reverberation_line"] == round(many, 3)
    judged = sorted(v for v in ev["reverberation_explained"] if v is not None)
    assert judged == [0.05] + [round(many + v, 2) for v in (0.01, 0.2, 0.3)]
    assert counted.explained_kept == 0 and "explained_but_kept" not in ev
    two, _ = with_fits({1: 0.05, 2: 0.1, 3: many + 0.2, 4: many + 0.3})
    assert two.n == 5 and "reverberation_explained" not in two.evidence
    # ...but the count says it kept them (a live array counts again from longer)
    assert two.explained_kept == 2 and two.evidence["explained_but_kept"] == 2
    just, _ = with_fits({1: 0.05, 2: many - 0.02, 3: many - 0.02, 4: many - 0.02})
    assert just.n == 5 and line < many - 0.02 and just.explained_kept == 0


def test_spatial_coherence_is_one_delay_per_microphone():
    """A talker's pattern in a dry room turns in phase as its direct path's
    delay does: coherent. Patterns of random phase (diffuse sound) are not,
    nor is a loud late echo more than its own share."""
    rate, nfft = 8000, 1024
    freqs = np.arange(nfft // 2 + 1) * rate / nfft
    H, _, _ = simulated_room(2, 4, 0.15, rate, spacing=0.05, seed=3)
    A = np.fft.rfft(H, n=nfft, axis=2).transpose(2, 0, 1)  # (F, M, N)
    rng = np.random.default_rng(0)
    diffuse = np.exp(2j * np.pi * rng.random((len(freqs), 4, 2)))
    coherence = spatial_coherence(np.linalg.pinv(np.concatenate([A, diffuse], axis=2)), freqs)
    assert coherence.shape == (4,)
    assert np.all(coherence[:2] > 0.6), coherence
    assert np.all(coherence[2:] < 0.2), coherence
    delay = np.exp(-2j * np.pi * freqs[:, None, None] * np.array([0, 1e-4, 2e-4, 3e-4])[:, None])
    assert spatial_coherence(np.linalg.pinv(delay), freqs)[0] > 0.95


def soft_third_talker(gain_db):
    """Powers (F, 4, T) of two talkers with sharp onsets, a third talker
    whose output has soft onsets, ``gain_db`` below the first, and an output
    of the first two's reverberation (soft too), and the bin frequencies."""
    rng = np.random.default_rng(12)
    F, T = 64, 400
    bursts = (rng.random((3, 1, T)) < 0.3) * rng.uniform(1, 10, (3, F, T))
    kernel = np.exp(-np.arange(30) / 10.0)
    kernel /= kernel.sum()
    smooth = lambda x: np.stack([np.convolve(row, kernel)[:T] for row in x])  # noqa: E731
    soft = smooth(bursts[2])
    soft *= 10 ** (gain_db / 10) * bursts[0].mean() / soft.mean()
    echo = smooth(0.6 * bursts[0] + 0.4 * bursts[1]) * 0.6
    return np.stack([bursts[0], bursts[1], soft, echo], axis=1) + 1e-3, np.linspace(0, 4000, F)


@pytest.mark.parametrize(
    "gain_db, coherence, n",
    [
        (-9.0, [0.8, 0.6, 0.7, 0.9], 3),  # from one direction as clearly as the talkers
        (-9.0, [0.8, 0.6, 0.5, 0.9], 2),  # less clearly than the least clear talker
        (-9.0, [0.8, 0.6, 0.95, 0.9], 2),  # more clearly than any: no room between
        (-9.0, [0.8, 0.35, 0.7, 0.9], 2),  # a talker's own pattern points nowhere
        (-14.0, [0.8, 0.6, 0.7, 0.9], 2),  # too faint
    ],
)
def test_a_quieter_soft_output_from_one_direction_is_a_talker(gain_db, coherence, n):
    """A quiet talker's output with soft onsets, further below the loudest
    than a soft talker may be, is counted (unsure) when the array shows it
    coming from one direction as clearly as the talkers, every talker's own
    pattern points one way, and the talkers' powers do not explain its own;
    the reverberation output beside it stays out however coherent it looks.
    An output more coherent than every talker reaches the microphones
    without the room (noise common to all channels): not counted."""
    P, freqs = soft_third_talker(gain_db)
    counted, keep = count_outputs(P, freqs, coherence=np.array(coherence))
    ev = counted.evidence
    assert "soft_talker" not in ev  # the rule for loud soft outputs does not take it
    assert counted.n == n and sorted(keep) == list(range(n))
    if n == 3:
        found = ev["soft_talker_from_one_direction"]
        assert counted.unsure and found["spatial_coherence"] == 0.7
        assert found["coherent_from"] == pytest.approx(0.9 * 0.6) and found["coherent_to"] == 0.8
        assert found["level_db"] == pytest.approx(gain_db, abs=0.5)
        assert found["reverberation_explained"] < found["below"]
        assert "from one direction as clearly as the talkers (coherence 0.70)" in (counted.method)
    else:
        assert "soft_talker_from_one_direction" not in ev and "direction" not in counted.method


def test_outputs_from_no_one_direction_that_follow_the_louder_ones_are_reverberation(
    monkeypatch,
):
    """An office array's spare outputs can have a talker's sharp onsets and
    show no spare dimension, yet come from no one direction (their spatial
    pattern follows no one delay) while the talkers' do, and be what the
    louder outputs' powers predict: they are reverberation, not counted, and
    the count is sure. Where every output is as diffuse (a room that rings
    long), where such an output is loud, or where it points somewhere, the
    count is what it was without the patterns."""

    Q, freqs = two_talkers_and_two_echoes()
    Q[:, 2:] *= 0.1  # 12 dB below the talkers
    echoes_explained(monkeypatch, {2: 0.7, 3: 0.65})
    before, _ = count_outputs(Q, freqs)
    assert before.n == 3 and before.unsure
    counted, keep = count_outputs(Q, freqs, coherence=np.array([0.9, 0.85, 0.25, 0.2]))
    ev = counted.evidence
    assert 1 - ev["margin"] - ev["unsure_margin"] <= min(ev["onset_sharpness"])
    assert counted.n == 2 and sorted(keep) == [0, 1] and not counted.unsure
    assert "2 of those come from no one direction and follow the louder ones' power" in (
        counted.method
    )
    assert ev["spatial_coherence"] == [0.9, 0.85, 0.2, 0.25]  # in onset order
    assert ev["diffuse_explained"] == [None, None, 0.65, 0.7] and ev["diffuse_line"] > 0.5
    for coherence, scale in [
        ([0.29, 0.28, 0.25, 0.2], 1.0),  # nothing stands out
        ([0.65, 0.6, 0.25, 0.2], 10.0),  # 2 dB below the talkers
        ([0.9, 0.85, 0.65, 0.63], 1.0),  # they point somewhere
    ]:
        R = Q.copy()
        R[:, 2:] *= scale
        as_before, _ = count_outputs(R, freqs, coherence=np.array(coherence))
        assert as_before.n == 3 and as_before.unsure and "direction" not in as_before.method


def test_an_array_that_hears_a_direct_path_drops_its_less_directional_reverberation(
    monkeypatch,
):
    """Four outputs with a talker's sharp onsets and no talker heard again:
    no spare dimension shows. On an array whose clearest output points one
    way (a direct path, as on a small array in a dry room) the two outputs
    that point one way less clearly, though not diffusely, and that follow
    the louder ones' power are reverberation: 2 talkers, sure. In a room
    where nothing points one way that clearly, or where those outputs point
    one way nearly as clearly as the talkers, the count is what it was
    without the patterns."""
    from cocktail.bss import counting

    Q, freqs = two_talkers_and_two_echoes()
    echoes_explained(monkeypatch, {2: 0.7, 3: 0.65})
    counted, keep = count_outputs(Q, freqs, coherence=np.array([0.9, 0.85, 0.4, 0.45]))
    ev = counted.evidence
    assert min(ev["spatial_coherence"]) > ev["diffuse_coherence"]  # not the diffuse rule
    assert counted.n == 2 and sorted(keep) == [0, 1] and not counted.unsure
    assert "2 of those follow the louder ones' power over the next frames" in counted.method
    line = counting.REVERB_EXPLAINED + counting.REVERB_SHORT / Q.shape[2]
    assert ev["array_reverberation_line"] == round(line + counting.ARRAY_MARGIN, 3)
    assert ev["array_coherence_below"] == round(counting.ARRAY_RATIO * 0.9, 3)
    assert sorted(v for v in ev["reverberation_explained"] if v is not None)[-2:] == [0.65, 0.7]
    for coherence in ([0.65, 0.6, 0.4, 0.45], [0.9, 0.85, 0.7, 0.65]):
        as_before, _ = count_outputs(Q, freqs, coherence=np.array(coherence))
        assert as_before.n == 3 and as_before.unsure, coherence


def test_reverberation_is_what_louder_outputs_powers_predict():
    """reverberation_explained: an output whose power in every bin is two
    louder outputs' power in the same and the next frames, fading, is
    explained almost wholly; a talker of its own hardly at all."""
    rng = np.random.default_rng(10)
    F, T = 64, 400
    P = (rng.random((3, 1, T)) < 0.3) * rng.uniform(1, 10, (3, F, T))
    echo = np.zeros((F, T))
    for d, a in enumerate([1.0, 0.7, 0.5, 0.3, 0.2, 0.1]):
        echo[:, d:] += a * (0.2 * P[0, :, : T - d] + 0.1 * P[1, :, : T - d])
    P = np.concatenate([P, echo[None] * rng.uniform(0.8, 1.2, (1, F, T))]).transpose(1, 0, 2)
    freqs = np.linspace(0, 4000, F)
    assert reverberation_explained(P, freqs, 3, [0, 1]) > 0.8
    assert abs(reverberation_explained(P, freqs, 2, [0, 1])) < 0.05
    # too few frames for so many predictors: not judged
    assert np.isnan(reverberation_explained(P[:, :, :20], freqs, 3, [0, 1]))


# ------------------------------------------------------------------ rooms


def room_mixture(n_src, n_mics, seed, seconds=6, rt60=None):
    """A room recording and each speaker's image at microphone 1: short random
    responses, or with ``rt60`` the simulated shoebox room of ``cocktail mix``."""
    rng = np.random.default_rng(seed)
    S = speech_like(n_src, seconds * RATE, rng)
    if rt60 is None:
        H = room_responses(n_mics, n_src, rng)
    else:
        H = simulated_room(n_src, n_mics, rt60, RATE, spacing=0.1, seed=seed)[0]
    return convolve_mix(S, H)


def sdr_db(ref, est):
    """SDR after the best scaling of each estimate (dB), best pairing."""
    out = []
    for r in ref:
        best = -np.inf
        for e in est:
            a = np.dot(e, r) / max(np.dot(e, e), 1e-300)
            err = r - a * e
            best = max(best, 10 * np.log10(np.dot(r, r) / max(np.dot(err, err), 1e-300)))
        out.append(best)
    return float(np.mean(out))


@pytest.mark.parametrize(
    "n_mics, seed, rt60, nfft, gain",
    [(4, 11, 0.3, 512, 1.0), (2, 12, 0.5, 1024, 0.5)],
    ids=["more-microphones", "as-many-microphones"],
)
def test_wiener_filters_over_every_microphone_where_they_pay(n_mics, seed, rt60, nfft, gain):
    """Two speakers in a reverberant room: the Wiener filters over all
    microphones are kept and raise the SDR. With 4 microphones they use what
    the 2-dimensional principal subspace leaves out; with 2, they take part of
    the other speaker's reverberation that one matrix per bin leaves in each
    output, and are kept because their outputs carry less crosstalk (+1.0 dB
    measured). In a nearly dry room the separation is already clean and they
    are left out. (Step 6 alone: no merging of talkers heard twice.)"""
    kwargs = dict(n_sources=2, nfft=nfft, merge=False)
    X, images = room_mixture(2, n_mics, seed, rt60=rt60)
    full = separate_convolutive(X, **kwargs)
    own = separate_convolutive(X, beamform=False, **kwargs)
    assert full.beamformed and not own.beamformed
    assert sdr_db(images, full.sources) > sdr_db(images, own.sources) + gain
    X, images = room_mixture(2, n_mics, 11)
    dry = separate_convolutive(X, **kwargs)
    assert not dry.beamformed and sdr_db(images, dry.sources) > 30


def test_wiener_filters_weigh_cells_by_shares_averaged_over_neighbouring_bins(monkeypatch):
    """Three talkers (the bundled sample voices) in a simulated room of RT60
    0.5 s, five microphones 15 cm apart: the Wiener filters over all
    microphones weigh each time-frequency cell by each talker's share of its
    power. Averaged over 35 Hz of neighbouring bins those shares are less
    noisy, and the talkers come out clearer than with one bin's shares
    (BSS Eval SDR with 512 taps: 5.1 against 4.1 dB measured)."""
    import fast_bss_eval
    import soundfile as sf

    import cocktail.bss.iva as iva

    voices = Path(__file__).parent.parent / "sample_audio"
    S = np.array([sf.read(voices / f"{n}.wav")[0][:90000] for n in ("alice", "bob", "carol")])
    X, images = convolve_mix(S, simulated_room(3, 5, 0.5, 16000, spacing=0.15, seed=2)[0])

    def sdr(res):
        return fast_bss_eval.bss_eval_sources(
            images, res.sources[:, : images.shape[1]], filter_length=512
        )[0].mean()

    averaged = separate_convolutive(X, n_sources=3, merge=False, sample_rate=16000)
    monkeypatch.setattr(iva, "BEAMFORM_SMOOTH_HZ", 0.0)
    single = separate_convolutive(X, n_sources=3, merge=False, sample_rate=16000)
    assert averaged.beamformed and single.beamformed
    assert sdr(averaged) > sdr(single) + 0.5


@pytest.mark.parametrize("n_mics", [2, 3])
def test_one_talker_alone_in_a_room_is_one(n_mics):
    """One talker heard by two or three microphones: the trial separation's
    outputs are all that talker, and one file is written, not one per
    microphone (before the power correlation was measured: two)."""
    X, _ = room_mixture(1, n_mics, 0)
    result = separate(X, RATE, model="convolutive")
    assert result.outputs.shape[0] == 1
    assert "the same talker heard again" in result.report["source_count"]["method"]


def test_one_talker_on_a_compact_array_is_one():
    """One talker, four microphones 5 cm apart (RT60 0.3 s): besides the
    talker and the talker heard again, the trial separation has an output
    of reverberation with sharp onsets whose power does not correlate with
    the talker's frame by frame (before the reverberation test: two
    speakers written). Its power is what the louder outputs' powers predict
    over the next frames, so one file is written."""
    rng = np.random.default_rng(0)
    S = speech_like(1, 6 * RATE, rng)
    X, _ = convolve_mix(S, simulated_room(1, 4, 0.3, RATE, spacing=0.05, seed=0)[0])
    result = separate(X, RATE, model="convolutive")
    assert result.outputs.shape[0] == 1
    count = result.report["source_count"]
    assert "follows the louder ones' power over the next frames" in count["method"]
    assert max(v for v in count["evidence"]["reverberation_explained"] if v is not None) > 0.8


@pytest.mark.parametrize("seed", [2, 3])
def test_one_talker_in_a_long_room_counted_two_is_said_to_be_unsure(seed):
    """One talker heard by two microphones in a room of RT60 0.7 s: the
    trial's second output (the talker's reverberation) has onsets as sharp
    as a talker's and does not follow the talker frame by frame, so two
    are counted (one more rather than one fewer); its power follows the
    talker's 2 to 6 frames later, as reverberation does, so the count says
    it is unsure (before: two, sure). Two talkers in the same rooms stay
    sure: the quieter one's power is its own."""
    X, _ = room_mixture(1, 2, seed, rt60=0.7)
    result = separate(X, RATE, model="convolutive")
    count = result.report["source_count"]
    assert result.report["n_sources"] == 2 and count["unsure"]
    ev = count["evidence"]
    assert ev["late_reverberation_explained"] >= ev["late_reverberation_line"]
    assert "follows the louder one's 2 to 6 frames later" in count["method"]
    assert any("unsure how many speakers" in w for w in result.warnings)
    X, _ = room_mixture(2, 2, seed, rt60=0.7)
    two = separate(X, RATE, model="convolutive").report["source_count"]
    assert two["n_sources"] == 2 and not two["unsure"]
    assert two["evidence"]["late_reverberation_explained"] < 0.3


def test_as_many_talkers_as_microphones_in_long_reverberation_are_all_kept():
    """Three talkers, three microphones, RT60 0.6 s: every output of the
    trial separation has sharp onsets and none is a talker heard again, so
    nothing says there is a spare dimension and the reverberation test is
    not made. (Made, it would take the quietest talker, whose output is
    mostly the others' reverberation, for theirs: two speakers.)"""
    rng = np.random.default_rng(0)
    S = speech_like(3, 6 * RATE, rng)
    X, _ = convolve_mix(S, simulated_room(3, 3, 0.6, RATE, spacing=0.1, seed=0)[0])
    result = separate(X, RATE, model="convolutive")
    assert result.report["n_sources"] == 3
    assert "reverberation_explained" not in result.report["source_count"]["evidence"]


@pytest.mark.parametrize("n_src,n_mics", [(2, 2), (3, 3)])
def test_room_count(n_src, n_mics):
    """Every talker of a simulated room is counted."""
    X, _ = room_mixture(n_src, n_mics, 20 + n_src, rt60=0.3)
    result = separate(X, RATE, model="convolutive")
    assert result.report["n_sources"] == n_src
    assert result.report["source_count"]["evidence"]["onset_sharpness"][0] == 1.0
    # the spatial patterns are weighed from four microphones on
    assert "spatial_coherence" not in result.report["source_count"]["evidence"]


# ------------------------------------------------------------ command line


def test_cli_says_and_records_the_count(tmp_path):
    rng = np.random.default_rng(8)
    X = quantise(instantaneous(2, 4, rng))
    import soundfile as sf

    sf.write(tmp_path / "mix.wav", X.T, RATE, subtype="PCM_16")
    res = CliRunner().invoke(
        cli, ["separate", str(tmp_path / "mix.wav"), "-o", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    assert "Note: 2 speakers (covariance eigenvalues: 2 of 4 above the noise floor)" in res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "separation.json",
        "speaker_1.wav",
        "speaker_2.wav",
    ]
    report = json.loads((tmp_path / "out" / "separation.json").read_text())
    assert report["n_sources"] == 2
    assert report["source_count"]["evidence"]["quantisation"] == "16-bit"
    assert report["source_count"]["evidence"]["rank"] == 2


def test_all_gives_one_output_per_microphone():
    """--sources all keeps 1.0's default: as many outputs as microphones."""
    X, _ = room_mixture(2, 3, 40, rt60=0.3)
    result = separate(X, RATE, model="convolutive", n_sources="all")
    assert result.outputs.shape[0] == 3
    assert result.report["sources_reason"] == "3 chosen with one per microphone"
    assert "source_count" not in result.report


def compact_array(seed):
    """Four microphones 5 cm apart in a simulated room (RT60 0.3 s), two talkers."""
    rng = np.random.default_rng(seed)
    S = speech_like(2, 6 * RATE, rng)
    H = simulated_room(2, 4, 0.3, RATE, spacing=0.05, seed=seed)[0]
    return convolve_mix(S, H)


def test_a_talker_heard_twice_is_the_sum_of_its_outputs():
    """On a compact array one talker takes two outputs of the separation into
    one per microphone; their sum is that talker, 4.5 dB clearer (measured)
    than through the two-dimensional principal subspace of every bin."""
    X, images = compact_array(2)
    merged = separate_convolutive(X, n_sources=2, nfft=1024, sample_rate=RATE)
    subspace = separate_convolutive(X, n_sources=2, nfft=1024, merge=False)
    assert sorted(map(len, merged.merged)) == [1, 2] and subspace.merged is None
    assert merged.sources.shape == subspace.sources.shape == (2, X.shape[1])
    assert merged.unmixing.shape == (513, 2, 4)
    assert sdr_db(images, merged.sources) > sdr_db(images, subspace.sources) + 2.5


def test_merged_outputs_are_reported_and_repeatable():
    """The default run counts two talkers, merges the outputs of the one heard
    twice, writes two speakers and says which outputs each is made of; the
    same input gives the same samples."""
    X, _ = compact_array(2)
    a = separate(X, RATE, model="convolutive")
    b = separate(X, RATE, model="convolutive")
    assert a.outputs.shape[0] == 2 and np.array_equal(a.outputs, b.outputs)
    groups = a.report["merged_outputs"]
    assert sorted(map(len, groups)) == [1, 2] and sorted(sum(groups, [])) == sorted(
        set(sum(groups, []))
    )
    assert a.report["all_microphones"] == (
        "one output per microphone; each speaker is the sum of its outputs "
        "(1 of 2 heard in more than one, see merged_outputs); the one left over "
        "(reverberation) shared among them per bin by their shares of its power"
    )


def test_the_output_no_talker_took_is_shared_among_the_talkers(monkeypatch):
    """Of the four outputs, three make the two talkers; the fourth holds
    their reverberation through a spatial pattern their outputs leave out,
    and the talkers' images hold that reverberation too.  Shared among them
    per bin, it makes them clearer than dropped: 2.4 dB measured on a
    processor without AVX-512, 0.2 dB on one with it (the same numpy, whose
    OpenBLAS then takes other kernels: their rounding leads the separation
    to another solution; of six such arrays this is the one with an output
    left over there)."""
    from cocktail.bss import iva

    X, images = compact_array(2)
    shared = separate_convolutive(X, n_sources=2, nfft=1024, sample_rate=RATE)
    assert sum(map(len, shared.merged)) == 3

    def dropped(D, groups, Xf, width, steady=None):
        return np.stack([D[:, group, :].sum(axis=1) for group in groups], axis=1)

    monkeypatch.setattr(iva, "_merged", dropped)
    without = separate_convolutive(X, n_sources=2, nfft=1024, sample_rate=RATE)
    assert sdr_db(images, shared.sources) > sdr_db(images, without.sources) + 0.1


def test_an_output_following_a_chosen_talker_below_the_count_line_is_merged():
    """Merging asks less than counting: once the talkers are chosen, an
    output left over whose power follows one of them by 0.43 (a talker's
    second output, measured on a 4-microphone circle, 14 dB quieter) is
    part of that talker, though the count would have kept it apart (0.46);
    one that follows nobody by more than 0.35, or is more than 20 dB
    quieter, is not."""
    from cocktail.bss.iva import _merge_groups

    level = np.array([1.0, 0.8, 10**-1.4, 10**-1.5, 10**-2.5])
    corr = np.eye(5)
    corr[0, 2] = corr[2, 0] = 0.43  # output 2 follows talker 0
    corr[1, 3] = corr[3, 1] = 0.35  # output 3 follows talker 1 a little
    corr[1, 4] = corr[4, 1] = 0.6  # output 4 follows talker 1, 25 dB under it
    assert _merge_groups([0, 1], level, corr, 2) == [[0, 2], [1]]
    corr[0, 2] = corr[2, 0] = 0.3
    assert _merge_groups([0, 1], level, corr, 2) is None


def test_faint_spare_outputs_are_not_merged():
    """A nearly dry room (6 ms responses): the spare outputs hold only the
    talkers' faint leakage, 26 and 45 dB below them, which would cost more
    than it adds (merged, 24 dB instead of 45): they are dropped, and the
    separation is that of the principal subspace, to the sample."""
    X, _ = room_mixture(2, 4, 11)
    res = separate_convolutive(X, n_sources=2, nfft=512, sample_rate=RATE)
    plain = separate_convolutive(X, n_sources=2, nfft=512, merge=False)
    assert res.merged is None and np.array_equal(res.sources, plain.sources)


def test_count_is_deterministic():
    X, _ = room_mixture(2, 3, 30)
    a = separate(X, RATE, model="convolutive")
    b = separate(X, RATE, model="convolutive")
    assert a.report["source_count"] == b.report["source_count"]
    assert np.array_equal(a.outputs, b.outputs)


def test_forced_count_above_the_noise_floor_is_refused(tmp_path):
    """--sources 3 on two speakers and a 16-bit scaled copy of a channel."""
    import soundfile as sf

    rng = np.random.default_rng(9)
    X = quantise(rng.standard_normal((2, 2)) @ speech_like(2, 4 * RATE, rng))
    X = np.vstack([X, np.round(-0.5 * X[0] * 32768) / 32768])
    sf.write(tmp_path / "mix.wav", X.T, RATE, subtype="PCM_16")
    res = CliRunner().invoke(
        cli, ["separate", str(tmp_path / "mix.wav"), "--sources", "3", "-o", str(tmp_path / "out")]
    )
    assert res.exit_code == 1
    assert "its 3 channels carry only 2 independent signals" in res.output
    res = CliRunner().invoke(
        cli, ["separate", str(tmp_path / "mix.wav"), "-o", str(tmp_path / "auto")]
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "auto").glob("speaker_*.wav"))) == 2
