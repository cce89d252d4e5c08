import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cocktail.errors import CocktailError
from cocktail.io import audio, files

FRAMES = st.integers(min_value=1, max_value=300)
CHANNELS = st.integers(min_value=1, max_value=6)
RATES = st.sampled_from([8000, 16000, 22050, 44100, 48000])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), channels=CHANNELS, frames=FRAMES, rate=RATES)
def test_float_round_trip_is_exact(data, channels, frames, rate):
    x = data.draw(
        arrays(np.float32, (channels, frames), elements=st.floats(-1, 1, width=32, allow_nan=False))
    )
    back = audio.read("-", stdin_bytes=audio.encode(x.astype(np.float64), rate, "FLOAT"))
    assert back.sample_rate == rate and back.subtype == "FLOAT"
    np.testing.assert_array_equal(back.samples, x.astype(np.float64))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), channels=CHANNELS, frames=FRAMES, rate=RATES)
def test_pcm16_round_trip_is_exact(data, channels, frames, rate):
    q = data.draw(arrays(np.int16, (channels, frames)))
    x = q.astype(np.float64) / 32768.0
    back = audio.read("-", stdin_bytes=audio.encode(x, rate, "PCM_16"))
    assert back.subtype == "PCM_16"
    np.testing.assert_array_equal(back.samples, x)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), channels=CHANNELS, frames=FRAMES)
def test_file_round_trip_keeps_shape(tmp_path_factory, data, channels, frames):
    x = data.draw(
        arrays(np.float64, (channels, frames), elements=st.floats(-1, 1, allow_nan=False))
    )
    path = tmp_path_factory.mktemp("rt") / "x.wav"
    with files.AtomicWriter() as w:
        w.add(path, audio.encode(x, 16000, "DOUBLE"))
    back = audio.read(path)
    assert back.samples.shape == (channels, frames)
    np.testing.assert_array_equal(back.samples, x)


def test_unknown_length_header_is_accepted():
    """Streams written by arecord or sox carry 0 or 0xFFFFFFFF as the data size."""
    x = np.linspace(-0.5, 0.5, 200).reshape(2, 100)
    data = bytearray(audio.encode(x, 8000, "PCM_16"))
    pos = data.index(b"data") + 4
    data[pos : pos + 4] = (0xFFFFFFFF).to_bytes(4, "little")
    back = audio.read("-", stdin_bytes=bytes(data))
    np.testing.assert_allclose(back.samples, x, atol=1 / 32768)


def test_atomic_writer_discards_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with files.AtomicWriter() as w:
            w.add(tmp_path / "a.wav", b"abc")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_unusual_subtypes_are_written_as_float():
    assert audio.output_subtype("ULAW") == "FLOAT"
    assert audio.output_subtype("PCM_24") == "PCM_24"


def test_folder_given_as_input(tmp_path):
    with pytest.raises(CocktailError, match="it is a folder, not an audio file"):
        audio.read(tmp_path)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    channels=CHANNELS,
    frames=FRAMES,
    encoding=st.sampled_from([("PCM_16", "s16"), ("PCM_24", "s24"), ("PCM_32", "s32")]),
)
def test_stream_encoding_matches_libsndfile(data, channels, frames, encoding):
    """Audio written to a pipe has exactly the bytes a file would hold."""
    import io

    import soundfile as sf

    from cocktail.io.wav import encode

    subtype, enc = encoding
    x = data.draw(
        arrays(np.float64, (channels, frames), elements=st.floats(-1.5, 1.5, allow_nan=False))
    )
    buf = io.BytesIO()
    sf.write(buf, x.T, 8000, subtype=subtype, format="RAW")
    assert encode(x, enc) == buf.getvalue()


def test_a_committed_file_survives_a_late_discard(tmp_path):
    """discard() after commit() (an error after the outputs were published)
    leaves the file and raises nothing."""
    from cocktail.io.stream import Writer

    w = Writer(tmp_path / "out.wav", channels=1, sample_rate=8000, subtype="FLOAT", frames=4)
    w.write(np.zeros((1, 4)))
    w.commit()
    w.discard()
    assert sf.info(tmp_path / "out.wav").frames == 4


@pytest.mark.parametrize(
    "subtype, encoding", [("PCM_U8", "u8"), ("ALAW", "alaw"), ("ULAW", "ulaw")]
)
def test_eight_bit_stream_decoding_matches_libsndfile(subtype, encoding):
    """Every 8-bit code decodes to the value libsndfile gives a file."""
    import io

    from cocktail.io.wav import decode

    codes = bytes(range(256)) * 2  # two channels, interleaved
    ref, _ = sf.read(io.BytesIO(codes), format="RAW", subtype=subtype, samplerate=8000, channels=2)
    assert np.array_equal(decode(codes, encoding, 2), ref.T)
