"""The WAV format itself: RIFF chunks, headers and raw PCM sample codecs.

What libsndfile does not do for cocktail: read a WAV header from a stream
(libsndfile seeks), write one to a pipe (libsndfile seeks back to fill in
the sizes), and repair a header whose sizes say "unknown".
"""

import io
import struct

import numpy as np

from ..errors import CocktailError

#: Data-chunk sizes that mean "unknown": what arecord, sox and cocktail write
#: to a pipe, where they cannot go back to fill in the length.
UNKNOWN_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)
#: Bytes at the start of a file searched for the header.
HEAD_BYTES = 65536
#: Largest size a RIFF header can state.
RIFF_LIMIT = 0xFFFFFFFF
#: Room libsndfile may need before the samples (format, fact and other chunks).
HEADER_ROOM = 4096


def check_complete(head, total_size, name):
    """Refuse a WAV whose data chunk is shorter than its header promises.

    Streams of unknown length carry one of UNKNOWN_SIZES; those pass, and
    so does anything that is not a RIFF WAV with a data chunk in ``head``.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (up to :data:`HEAD_BYTES`).
    total_size : int
        Size of the whole file in bytes.
    name : str
        How to name the file in messages.

    Raises
    ------
    CocktailError
        If the file is truncated.
    """
    chunk = data_chunk(head)
    if chunk is None or head[:4] != b"RIFF":
        return
    offset, declared = chunk
    if declared in UNKNOWN_SIZES:
        return
    present = total_size - offset
    if present < declared:
        raise CocktailError(
            f"cannot read {name}: the file is truncated (its header promises {declared} "
            f"bytes of audio, only {max(present, 0)} are there)"
        )


def fixed_header(head, total_size, name):
    """The first bytes of a WAV whose header gives no length, with the real sizes.

    The data then runs to the end of the file, as in a stream.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (up to :data:`HEAD_BYTES`).
    total_size : int
        Size of the whole file in bytes.
    name : str
        How to name the file in the note.

    Returns
    -------
    head : bytes or None
        ``head`` with the RIFF and data sizes filled in; None when the header
        is usable as it is (or cannot state the real sizes).
    note : str or None
        A sentence for the user saying the length was missing; None with a
        None head.
    """
    chunk = data_chunk(head)
    if chunk is None or head[:4] != b"RIFF":
        return None, None
    offset, declared = chunk
    present = total_size - offset
    if (
        declared not in UNKNOWN_SIZES
        or present <= 0
        or present == declared
        or total_size - 8 > RIFF_LIMIT
    ):
        return None, None
    patched = bytearray(head)
    patched[4:8] = (total_size - 8).to_bytes(4, "little")
    patched[offset - 4 : offset] = present.to_bytes(4, "little")
    note = (
        f"the header of {name} gives no length (as a stream written to a file does): "
        "read to the end of the file"
    )
    return bytes(patched), note


def container(n_values):
    """The container for a file of ``n_values`` samples: "WAV" or "RF64".

    "WAV" while ``n_values`` samples (at most 8 bytes each) fit the 4 GiB a
    RIFF header can state, less :data:`HEADER_ROOM`, else "RF64".

    Parameters
    ----------
    n_values : int
        Samples over all channels.

    Returns
    -------
    str
    """
    return "WAV" if n_values * 8 < RIFF_LIMIT + 1 - HEADER_ROOM else "RF64"


def is_wave(head):
    """Whether the first 12 bytes are a RIFF (or RF64) WAVE header.

    Parameters
    ----------
    head : bytes
        The first bytes of a file or stream.

    Returns
    -------
    bool
    """
    return len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE"


def chunks(take):
    """Walk the chunks of a WAV up to its data chunk, after its 12-byte RIFF header.

    Parameters
    ----------
    take : callable
        ``take(n)`` returns the next ``n`` bytes (fewer at the end).

    Yields
    ------
    (bytes, int, bytes or None)
        Each chunk's id, declared size and body; the data chunk comes last,
        with no body (its samples follow). Stops early, without the data
        chunk, when the bytes end first.
    """
    while True:
        ch = take(8)
        if len(ch) < 8:
            return
        cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
        if cid == b"data":
            yield cid, size, None
            return
        yield cid, size, take(size + (size & 1))


def data_chunk(head):
    """Where the data chunk of a WAV starts, and its declared size.

    Parameters
    ----------
    head : bytes
        The first bytes of the file.

    Returns
    -------
    (int, int) or None
        The offset of the first sample and the declared size of the data
        chunk, both in bytes; None when ``head`` is not a WAV or holds no
        data chunk header.
    """
    if not is_wave(head):
        return None
    src = io.BytesIO(head)
    src.seek(12)
    for cid, size, _ in chunks(src.read):
        if cid == b"data":
            return src.tell(), size
    return None


#: Raw PCM encodings: name -> (numpy dtype, scale from integer to [-1, 1))
ENCODINGS = {
    "s16": ("<i2", 32768.0),
    "s24": (None, 8388608.0),  # packed 3-byte little-endian
    "s32": ("<i4", 2147483648.0),
    "f32": ("<f4", 1.0),
    "f64": ("<f8", 1.0),
}
SUBTYPE_ENCODING = {
    "PCM_16": "s16",
    "PCM_24": "s24",
    "PCM_32": "s32",
    "FLOAT": "f32",
    "DOUBLE": "f64",
}
#: 8-bit formats a WAV stream may hold (arecord's default is unsigned 8-bit;
#: telephony records G.711 A-law and mu-law): read, never written, as files
#: in them are written as float.  name -> (WAV format tag, libsndfile subtype)
READ_ONLY = {"u8": (1, "PCM_U8"), "alaw": (6, "ALAW"), "ulaw": (7, "ULAW")}
ENCODING_SUBTYPE = {v: k for k, v in SUBTYPE_ENCODING.items()}
ENCODING_SUBTYPE.update({name: subtype for name, (_, subtype) in READ_ONLY.items()})


def _g711_tables():
    """Every 8-bit code's sample value (full scale 1) in A-law and mu-law
    (ITU-T G.711), as libsndfile decodes them."""
    code = np.arange(256, dtype=np.int64)
    # mu-law: bits inverted; sign, 3-bit segment, 4-bit step; bias 0x84
    u = ~code & 0xFF
    seg, step = (u >> 4) & 7, u & 0x0F
    mag = (((step << 3) + 0x84) << seg) - 0x84
    ulaw = np.where(u & 0x80, -mag, mag) / 32768.0
    # A-law: even bits inverted; sign set means positive
    a = code ^ 0x55
    seg, step = (a >> 4) & 7, a & 0x0F
    mag = np.where(seg == 0, (step << 4) + 8, ((step << 4) + 0x108) << np.maximum(seg - 1, 0))
    alaw = np.where(a & 0x80, mag, -mag) / 32768.0
    return alaw, ulaw


_ALAW, _ULAW = _g711_tables()
#: (WAV format tag, bits per sample) -> the encoding a stream is read with.
_WAV_FORMATS = {(1, 16): "s16", (1, 24): "s24", (1, 32): "s32", (3, 32): "f32", (3, 64): "f64"}
_WAV_FORMATS.update({(tag, 8): name for name, (tag, _) in READ_ONLY.items()})


def decode(data, encoding, channels):
    """Decode interleaved little-endian raw PCM.

    Parameters
    ----------
    data : bytes
        Whole frames of interleaved samples.
    encoding : str
        A key of :data:`ENCODINGS` ("s16", "s24", "s32", "f32" or "f64") or
        of :data:`READ_ONLY` ("u8", "alaw" or "ulaw").
    channels : int
        Number of channels.

    Returns
    -------
    ndarray, shape (channels, frames), float64
        Integers scaled to [-1, 1); floats as they are.
    """
    if encoding in READ_ONLY:
        v = np.frombuffer(data, dtype=np.uint8)
        if encoding == "u8":
            x = (v.astype(np.float64) - 128.0) / 128.0
        else:
            x = (_ALAW if encoding == "alaw" else _ULAW)[v]
        return x.reshape(-1, channels).T
    dtype, scale = ENCODINGS[encoding]
    if encoding == "s24":
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
    else:
        v = np.frombuffer(data, dtype=dtype)
    return (v.reshape(-1, channels).T / scale).astype(np.float64)


def quantise(x, encoding):
    """Float samples to integers exactly as libsndfile writes them.

    Through 32-bit full scale (rounded), then shifted down (so rounding
    toward -inf). Integer samples read as float come back unchanged.
    Samples beyond full scale are clipped.

    Parameters
    ----------
    x : ndarray, float
        Samples of any shape, full scale 1.
    encoding : str
        "s16", "s24" or "s32".

    Returns
    -------
    ndarray, same shape as ``x``, float64
        Whole numbers in the range of the encoding.
    """
    v = np.rint(np.clip(x, -1.0, 1.0) * 2147483648.0)
    np.clip(v, -2147483648.0, 2147483647.0, out=v)
    shift = {"s16": 65536.0, "s24": 256.0, "s32": 1.0}[encoding]
    return np.floor(v / shift) if shift != 1.0 else v


def encode(block, encoding):
    """Encode samples as interleaved little-endian raw PCM.

    Parameters
    ----------
    block : array_like, shape (channels, frames), float
        The samples, full scale 1.
    encoding : str
        A key of :data:`ENCODINGS`; integers are quantised by
        :func:`quantise`.

    Returns
    -------
    bytes
    """
    x = np.ascontiguousarray(np.asarray(block).T)
    dtype, _ = ENCODINGS[encoding]
    if encoding in ("f32", "f64"):
        return x.astype(dtype).tobytes()
    q = quantise(x, encoding).astype(np.int64)
    if encoding == "s24":
        q = q.reshape(-1) & 0xFFFFFF
        return (
            np.stack([q & 0xFF, (q >> 8) & 0xFF, (q >> 16) & 0xFF], axis=1)
            .astype(np.uint8)
            .tobytes()
        )
    return q.astype(dtype).tobytes()


def bytes_per_frame(encoding, channels):
    """Bytes of one frame (a sample of every channel) in a raw encoding.

    Parameters
    ----------
    encoding : str
        A key of :data:`ENCODINGS` or :data:`READ_ONLY`.
    channels : int
        Number of channels.

    Returns
    -------
    int
    """
    if encoding in READ_ONLY:
        return channels
    return (3 if encoding == "s24" else np.dtype(ENCODINGS[encoding][0]).itemsize) * channels


def read_stream_header(take, name):
    """Parse a RIFF/WAVE header from a stream, up to the first sample.

    An RF64 stream's length is taken from its ds64 chunk.

    Parameters
    ----------
    take : callable
        ``take(n)`` returns the next ``n`` bytes (fewer at the end).
    name : str
        How to name the stream in messages.

    Returns
    -------
    rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    encoding : str
        A key of :data:`ENCODINGS` or :data:`READ_ONLY`.
    frames : int or None
        Frames the header promises; None when the size is one of
        :data:`UNKNOWN_SIZES`.

    Raises
    ------
    CocktailError
        If the stream is not a WAV, ends before its data, has no format
        chunk, or holds a sample format other than 16-, 24- or 32-bit
        integer, 32- or 64-bit float, unsigned 8-bit, A-law or mu-law.
    """
    if not is_wave(take(12)):
        raise CocktailError(f"cannot read {name}: not a WAV stream (use --raw for headerless PCM)")
    fmt = None
    ds64_data = None
    for cid, size, body in chunks(take):
        if cid == b"data":
            break
        if cid == b"fmt ":
            fmt = body[:size]
        elif cid == b"ds64" and len(body) >= 24:
            ds64_data = struct.unpack("<Q", body[8:16])[0]
    else:
        raise CocktailError(f"cannot read {name}: the WAV stream ends before its data")
    if fmt is None or len(fmt) < 16:
        raise CocktailError(f"cannot read {name}: the WAV stream has no format chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    encoding = _WAV_FORMATS.get((tag, bits))
    if encoding is None or channels < 1:
        raise CocktailError(
            f"cannot read {name}: unsupported WAV sample format (format {tag}, {bits} bits)"
        )
    if ds64_data is not None:
        size = ds64_data
    frames = None if size in UNKNOWN_SIZES else size // bytes_per_frame(encoding, channels)
    return rate, channels, encoding, frames


def header(channels, rate, encoding, frames):
    """A canonical 44-byte WAV header.

    Parameters
    ----------
    channels : int
        Number of channels.
    rate : int
        Sample rate in Hz.
    encoding : str
        A key of :data:`ENCODINGS`.
    frames : int or None
        Frames that will follow; None when unknown.

    Returns
    -------
    bytes
        The header; with an unknown length, or one too large for RIFF, both
        sizes are the maximal ``RIFF_LIMIT``.
    """
    fb = bytes_per_frame(encoding, channels)
    tag = 3 if encoding in ("f32", "f64") else 1
    bits = fb // channels * 8
    if frames is None:
        data_size = riff_size = RIFF_LIMIT
    else:
        data_size = frames * fb
        riff_size = 36 + data_size
        if riff_size > RIFF_LIMIT:
            data_size = riff_size = RIFF_LIMIT
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, tag, channels, rate, rate * fb, fb, bits)
        + b"data"
        + struct.pack("<I", data_size)
    )
