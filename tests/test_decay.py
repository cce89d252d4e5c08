"""How long a room rings (cocktail.bss.decay), and the Wiener filters at
twice the frame that a room ringing long gets (cocktail.bss.iva, *Long rooms*)."""

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from test_iva import convolve_mix, speech_like

from cocktail.bss.decay import decay_time
from cocktail.bss.iva import LONG_DECAY, separate_convolutive
from cocktail.cli import cli
from cocktail.room import room_responses

RATE = 8000


def room(rt60, seed, seconds=10):
    """Two speech-like talkers in the simulated room of ``cocktail mix``
    (two microphones 10 cm apart): the recording and each talker's image at
    microphone 1."""
    rng = np.random.default_rng(seed)
    S = speech_like(2, seconds * RATE, rng)
    return convolve_mix(S, room_responses(2, 2, rt60, RATE, spacing=0.1, seed=seed)[0])


def sdr(images, result):
    import fast_bss_eval

    est = result.sources[:, : images.shape[1]]
    return fast_bss_eval.bss_eval_sources(images, est, filter_length=512)[0].mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decay_time_tells_a_room_that_rings_long_from_one_that_does_not(seed):
    """RT60 0.2 s against 0.6 s: the estimates (0.16 and 0.52 to 0.54 s
    measured) fall either side of the line the room model draws."""
    short = decay_time(room(0.2, seed)[0], RATE)
    long = decay_time(room(0.6, seed)[0], RATE)
    assert 0.1 < short < LONG_DECAY < long < 0.8


def test_decay_time_of_silence_or_a_blip_cannot_be_told():
    assert np.isnan(decay_time(np.zeros((2, 10 * RATE)), RATE))
    assert np.isnan(decay_time(np.ones((2, 100)), RATE))


def test_a_room_that_rings_long_gets_wiener_filters_at_twice_the_frame():
    """RT60 0.6 s: the separation at 2048 samples leaves each talker a tail
    of reverberation that a filter one frame long cannot shape; the Wiener
    filters at 4096 do (2.5 against 4.9 dB measured)."""
    X, images = room(0.6, 2)
    longer = separate_convolutive(X, n_sources=2, nfft=2048, sample_rate=RATE)
    kept = separate_convolutive(X, n_sources=2, nfft=2048, sample_rate=RATE, long_frames=False)
    assert longer.lengthened and (longer.nfft, longer.hop) == (4096, 1024)
    assert longer.unmixing.shape == (2049, 2, 2)
    assert not kept.lengthened and kept.decay is None and kept.nfft == 2048
    assert longer.decay > LONG_DECAY
    assert sdr(images, longer) > sdr(images, kept) + 1.5


def test_a_room_that_does_not_ring_long_keeps_its_frame():
    """RT60 0.2 s: the separation is already clean (about 20 dB), and
    filters steered by estimated shares would lose some of it."""
    X, _ = room(0.2, 0)
    result = separate_convolutive(X, n_sources=2, nfft=2048, sample_rate=RATE)
    kept = separate_convolutive(X, n_sources=2, nfft=2048, sample_rate=RATE, long_frames=False)
    assert not result.lengthened and result.decay < LONG_DECAY and result.nfft == 2048
    assert np.array_equal(result.sources, kept.sources)


def test_the_report_says_so_and_a_frame_given_is_kept(tmp_path):
    X, _ = room(0.6, 2)
    sf.write(tmp_path / "mix.wav", (0.5 * X / np.abs(X).max()).T, RATE, subtype="FLOAT")
    runner = CliRunner()
    for extra, nfft in (([], 4096), (["--nfft", "2048"], 2048)):
        out = tmp_path / f"out{nfft}"
        args = ["separate", str(tmp_path / "mix.wav"), "-o", str(out), "--sources", "2"]
        result = runner.invoke(cli, args + ["--report", str(out) + ".json"] + extra)
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / f"out{nfft}.json").read_text())
        assert report["parameters"]["nfft"] == nfft
        if extra:
            assert "decay_time_seconds" not in report
        else:
            assert report["decay_time_seconds"] > LONG_DECAY
            assert "twice the frame (4096 samples)" in report["all_microphones"]
