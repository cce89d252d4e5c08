"""cocktail mix for rooms: measured responses, a simulated room, their errors."""

import json

import numpy as np
import pytest
import soundfile as sf

from cocktail.mixing import random_mixing, read_matrix
from cocktail.room import impulse_response
from helpers import SAMPLES, last_error, run

VOICES = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]


@pytest.fixture
def rirs(tmp_path, rng):
    """Two 3-channel responses at 16 kHz: a direct path and decaying echoes."""
    paths = []
    for k in range(2):
        h = rng.standard_normal((3, 800)) * np.exp(-np.arange(800) / 150) * 0.1
        h[:, 5 + 3 * k] += 1.0
        p = tmp_path / f"rir{k}.wav"
        sf.write(p, h.T, 16000, subtype="FLOAT")
        paths.append(p)
    return paths


def test_mix_with_measured_responses(rirs, tmp_path):
    r = run(
        "mix",
        *VOICES,
        "--rir",
        rirs[0],
        "--rir",
        rirs[1],
        "-o",
        tmp_path / "m.wav",
        "--truth",
        tmp_path / "t",
    )
    assert r.exit_code == 0, r.output
    x, rate = sf.read(tmp_path / "m.wav")
    assert x.shape[1] == 3 and rate == 16000
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["kind"] == "convolutive" and side["rir_mics"] == [1, 2, 3]
    # The truth is each source as heard at microphone 1, and adds up to it.
    truth = np.stack([sf.read(tmp_path / "t" / f"source_{i}.wav")[0] for i in (1, 2)])
    h0 = np.stack([sf.read(p)[0][:, 0] for p in rirs])
    s0 = sf.read(VOICES[0])[0]
    expected = np.convolve(s0, h0[0])[: len(s0)]
    np.testing.assert_allclose(truth[0, : len(s0)], expected, atol=1e-5)
    np.testing.assert_allclose(side["scale"] * truth.sum(axis=0), x[:, 0], atol=1e-5)


def test_rir_mics_pick_channels(rirs, tmp_path):
    r = run(
        "mix",
        *VOICES,
        "--rir",
        rirs[0],
        "--rir",
        rirs[1],
        "--rir-mics",
        "1,3",
        "-o",
        tmp_path / "m.wav",
    )
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "m.wav").channels == 2


def test_rir_count_must_match_sources(rirs, tmp_path):
    last_error(
        run("mix", *VOICES, "--rir", rirs[0], "-o", tmp_path / "m.wav"),
        "--rir needs one impulse response per source: 2 sources, 1 responses "
        "(see 'cocktail mix --help')",
        code=2,
    )


def test_rir_with_wrong_channel_count(rirs, tmp_path, rng):
    odd = tmp_path / "two.wav"
    sf.write(odd, rng.standard_normal((100, 2)) * 0.1, 16000)
    last_error(
        run("mix", *VOICES, "--rir", rirs[0], "--rir", odd, "-o", tmp_path / "m.wav"),
        f"the impulse responses have different channel counts ('{rirs[0]}': 3, "
        f"'{odd}': 2); each needs one channel per microphone",
    )


def test_rir_at_another_sample_rate(rirs, tmp_path, rng):
    fast = tmp_path / "fast.wav"
    sf.write(fast, rng.standard_normal((100, 3)) * 0.1, 48000)
    last_error(
        run("mix", *VOICES, "--rir", rirs[0], "--rir", fast, "-o", tmp_path / "m.wav"),
        f"impulse response '{fast}' is at 48000 Hz but the sources are at 16000 Hz; "
        "resample it first",
    )


def test_rir_channel_out_of_range(rirs, tmp_path):
    last_error(
        run(
            "mix",
            *VOICES,
            "--rir",
            rirs[0],
            "--rir",
            rirs[1],
            "--rir-mics",
            "1,7",
            "-o",
            tmp_path / "m.wav",
        ),
        "the impulse responses have 3 channels; there is no channel 7",
    )


def test_simulated_room(tmp_path):
    r = run("mix", *VOICES, "--room", 0.2, "--mics", 3, "-o", tmp_path / "m.wav")
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["kind"] == "convolutive" and side["room"]["rt60"] == 0.2
    assert sf.info(tmp_path / "m.wav").channels == 3


def test_room_too_dead_for_its_size(tmp_path):
    last_error(
        run("mix", *VOICES, "--room", 0.01, "-o", tmp_path / "m.wav"),
        "a 6 x 5 x 3 m room cannot have an RT60 of 0.01 s: the shortest possible "
        "(walls absorbing everything) is 0.115 s",
    )


def test_only_one_kind_of_mixing(rirs, tmp_path):
    last_error(
        run(
            "mix",
            *VOICES,
            "--room",
            0.3,
            "--rir",
            rirs[0],
            "--rir",
            rirs[1],
            "-o",
            tmp_path / "m.wav",
        ),
        "choose one of --matrix, --rir and --room (see 'cocktail mix --help')",
        code=2,
    )


def test_image_source_response_decays_at_the_stated_rate():
    """Energy decay of the simulated response: direct path on time, then a decay
    whose slope matches RT60 within the usual spread of Sabine's formula."""
    rate, rt60 = 16000, 0.3
    h = impulse_response([2.0, 2.0, 1.5], [3.0, 2.5, 1.5], [6.0, 5.0, 3.0], rt60, rate)
    direct = np.hypot(1.0, 0.5) / 343.0 * rate
    assert abs(np.argmax(np.abs(h)) - direct) <= 1
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    t5, t25 = np.argmax(edc_db < -5), np.argmax(edc_db < -25)
    measured = 3.0 * (t25 - t5) / rate
    assert 0.7 * rt60 < measured < 1.5 * rt60


def test_random_mixing_is_well_conditioned_and_repeatable():
    A = random_mixing(4, 3, 7)
    assert np.linalg.cond(A) <= 4.0 + 1e-9
    np.testing.assert_array_equal(A, random_mixing(4, 3, 7))


def test_matrix_from_csv_and_json(tmp_path):
    (tmp_path / "a.csv").write_text("1, 0.5\n0.25, 1\n")
    (tmp_path / "a.json").write_text('{"mixing": [[1, 0.5], [0.25, 1]]}')
    np.testing.assert_array_equal(read_matrix(tmp_path / "a.csv"), read_matrix(tmp_path / "a.json"))


def test_room_mixture_separates(tmp_path):
    """mix --room, then separate chooses the room model and improves SDR."""
    assert run("mix", *VOICES, "--room", 0.2, "-o", tmp_path / "m.wav", "-q").exit_code == 0
    r = run("separate", tmp_path / "m.wav", "-o", tmp_path / "o")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    assert report["model"] == "convolutive"
    energy = [float((sf.read(tmp_path / "o" / f"speaker_{i}.wav")[0] ** 2).sum()) for i in (1, 2)]
    assert energy[0] >= energy[1]  # loudest first
    r = run("evaluate", tmp_path / "o", "-r", tmp_path / "m.json", "--json")
    scores = json.loads(r.stdout)
    assert scores["filter_length"] == 512
    assert scores["average"]["sdr_improvement"] > 5


def _decode(r, key, shape_key, dtype_key):
    import base64

    return np.frombuffer(base64.b64decode(r[key]), r[dtype_key]).reshape(r[shape_key])


@pytest.mark.parametrize("postfilter", ["--postfilter", "--no-postfilter"])
def test_room_report_holds_the_per_bin_matrices(tmp_path, postfilter):
    """The report's per-bin matrices and post-filter, read as its encoding
    fields say, reproduce the written outputs."""
    from cocktail.bss.stft import BinFilter

    assert run("mix", *VOICES, "--room", 0.2, "-o", tmp_path / "m.wav", "-q").exit_code == 0
    assert (
        run("separate", tmp_path / "m.wav", "-o", tmp_path / "o", "-q", postfilter).exit_code == 0
    )
    r = json.loads((tmp_path / "o" / "separation.json").read_text())
    W = _decode(r, "unmixing_real", "unmixing_shape", "unmixing_dtype") + 1j * _decode(
        r, "unmixing_imag", "unmixing_shape", "unmixing_dtype"
    )
    x = sf.read(tmp_path / "m.wav")[0].T - np.array(r["mean"])[:, None]
    f = BinFilter(W, r["nfft"], r["hop"])
    y = np.concatenate([f.process(x), f.flush()], axis=1)
    assert r["postfilter"]["used"] == (postfilter == "--postfilter")
    if postfilter == "--postfilter":
        a = _decode(r, "crosstalk", "crosstalk_shape", "crosstalk_dtype").astype(float)

        def gain(Y):  # as crosstalk_encoding says
            P = np.abs(Y) ** 2
            L = np.einsum("fnk,fkt->fnt", a, P)
            S = np.maximum(P - L, 0)
            Y *= np.maximum(S / np.maximum(S + L, 1e-30), 0.3)

        eye = np.broadcast_to(np.eye(2), (len(a), 2, 2))
        g = BinFilter(eye, r["crosstalk_nfft"], r["crosstalk_hop"], post=gain)
        y = np.concatenate([g.process(y), g.flush()], axis=1)
    else:
        assert "crosstalk" not in r
        assert r["postfilter"]["reason"] == "turned off with --no-postfilter"
    out = np.stack([sf.read(tmp_path / "o" / f"speaker_{i}.wav")[0] for i in (1, 2)])
    # float16 keeps about 3 significant digits of each entry: within 1% overall.
    assert np.linalg.norm(y - out) / np.linalg.norm(out) < 1e-2
