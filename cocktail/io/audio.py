"""Reading and writing WAV files, standard input and standard output.

Inside the package audio is a float64 array of channels x samples; the
transposition to soundfile's samples x channels happens here only. Pipes are
buffered through memory both ways: libsndfile cannot read a WAV from a pipe
(it seeks for the data chunk) and writes a broken header to one (it seeks back
to fill in the sizes). Files are written under a temporary name in the target
folder and renamed into place, so an interrupted run never leaves a
half-written WAV behind.
"""

import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np
import soundfile as sf

from ..errors import CocktailError
from . import wav

STDIO = "-"

#: Sample formats kept as they are; anything else is written as 32-bit float.
KEPT_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}


@dataclass
class Audio:
    """A recording read whole into memory.

    Attributes
    ----------
    samples : ndarray, shape (channels, frames), float64
        The samples, full scale 1.
    sample_rate : int
        Sample rate in Hz.
    subtype : str
        libsndfile subtype of the source, e.g. "PCM_16".
    name : str
        How to name the source in messages.
    notes : list of str
        What was unusual about reading it.
    """

    samples: np.ndarray
    sample_rate: int
    subtype: str
    name: str
    notes: List[str] = field(default_factory=list)

    @property
    def channels(self):
        """Number of channels (int)."""
        return self.samples.shape[0]

    @property
    def frames(self):
        """Number of frames, samples per channel (int)."""
        return self.samples.shape[1]


def display_name(path):
    """How to name a path in messages.

    Parameters
    ----------
    path : str or path-like
        A file path, or ``-`` for standard input.

    Returns
    -------
    str
        "standard input" for ``-``, else the path in single quotes.
    """
    return "standard input" if str(path) == STDIO else f"'{path}'"


def stdin_stream():
    """The binary standard input, or an error saying it is closed.

    Returns
    -------
    binary file object
        ``sys.stdin.buffer``, or ``sys.stdin`` itself when it has no buffer.

    Raises
    ------
    CocktailError
        If standard input is closed.
    """
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    if stream is None or not hasattr(stream, "read"):  # Python starts so with descriptor 0 closed
        raise CocktailError(
            "standard input is closed: give a file name instead of '-', or pipe something in"
        )
    return stream


def _read_stdin():
    return stdin_stream().read()


class _PatchedHead:
    """A binary file seen through a corrected first few bytes (for libsndfile)."""

    def __init__(self, f, head):
        self._f, self._head = f, head

    def read(self, n=-1):
        pos = self._f.tell()
        data = self._f.read(n)
        if pos < len(self._head) and data:
            k = min(len(data), len(self._head) - pos)
            data = self._head[pos : pos + k] + data[k:]
        return data

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def close(self):
        self._f.close()


class _OwningSoundFile(sf.SoundFile):
    """A SoundFile over a file object it closes with itself."""

    def __init__(self, owned, *args, **kwargs):
        self._owned = owned
        super().__init__(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            self._owned.close()


def open_sound(path, name):
    """A libsndfile reader for a file, and the notes about reading it.

    A WAV whose header gives no length is read to its end (with a note)
    instead of being taken as empty or truncated.

    Parameters
    ----------
    path : str or path-like
        The file.
    name : str
        How to name it in messages (see :func:`display_name`).

    Returns
    -------
    reader : soundfile.SoundFile
        Open for reading; closing it closes every file it opened.
    notes : list of str
        At most one note, when the header was repaired.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(wav.HEAD_BYTES)
    patched, note = wav.fixed_header(head, size, name)
    if patched is None:
        return sf.SoundFile(str(path)), []
    raw = open(path, "rb")
    try:
        return _OwningSoundFile(raw, _PatchedHead(raw, patched)), [note]
    except BaseException:
        raw.close()
        raise


def check_file(path):
    """Refuse, with a message naming the file, what cannot be an audio file.

    Parameters
    ----------
    path : str or path-like
        The file to read.

    Raises
    ------
    CocktailError
        If the file does not exist, is a folder, is empty, cannot be read
        (permission denied), or is a WAV whose data chunk is shorter than its
        header promises.
    """
    name = display_name(path)
    p = Path(path)
    if not p.exists():
        raise CocktailError(f"cannot read {name}: no such file")
    if p.is_dir():
        raise CocktailError(f"cannot read {name}: it is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise CocktailError(f"cannot read {name}: the file is empty")
    try:
        with open(p, "rb") as f:
            wav.check_complete(f.read(wav.HEAD_BYTES), p.stat().st_size, name)
    except PermissionError:
        raise CocktailError(f"cannot read {name}: permission denied") from None


def unreadable(name, exc):
    """The error for a file libsndfile cannot decode.

    Parameters
    ----------
    name : str
        How to name the file in messages.
    exc : Exception
        What libsndfile (or opening the file) raised.

    Returns
    -------
    CocktailError
        The error to raise: permission denied, or not a readable audio file
        with libsndfile's reason.
    """
    if isinstance(exc, PermissionError):
        return CocktailError(f"cannot read {name}: permission denied")
    reason = str(exc).split(":")[-1].strip() or "unknown format"
    return CocktailError(f"cannot read {name}: not a readable audio file ({reason})")


def read(path, *, stdin_bytes=None) -> Audio:
    """Read a WAV (or any format libsndfile knows) from a path or ``-`` for stdin.

    Parameters
    ----------
    path : str or path-like
        The file, or ``-`` for standard input.
    stdin_bytes : bytes, optional
        The whole of standard input when it has already been read; used
        instead of reading it again (only when ``path`` is ``-``).

    Returns
    -------
    Audio
        The samples as (channels, frames) float64.

    Raises
    ------
    CocktailError
        If the input is empty, missing, truncated or not a readable audio
        file (see :func:`check_file` and :func:`unreadable`).
    """
    name = display_name(path)
    notes = []
    try:
        if str(path) == STDIO:
            data = _read_stdin() if stdin_bytes is None else stdin_bytes
            if not data:
                raise CocktailError("standard input is empty: expected a WAV stream")
            wav.check_complete(data[: wav.HEAD_BYTES], len(data), name)
            patched, note = wav.fixed_header(data[: wav.HEAD_BYTES], len(data), name)
            if patched is not None:
                data, notes = patched + data[len(patched) :], []  # a stream: no note
            f = sf.SoundFile(io.BytesIO(data))
        else:
            check_file(path)
            f, notes = open_sound(path, name)
        with f:
            subtype = f.subtype
            rate = f.samplerate
            samples = f.read(dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, PermissionError) as exc:
        raise unreadable(name, exc) from None
    return Audio(
        samples=np.ascontiguousarray(samples.T),
        sample_rate=int(rate),
        subtype=subtype,
        name=name,
        notes=notes,
    )


def output_subtype(input_subtype):
    """Keep the input's sample format where it is a plain PCM or float one.

    Parameters
    ----------
    input_subtype : str
        libsndfile subtype of the input, e.g. "PCM_16".

    Returns
    -------
    str
        ``input_subtype`` if it is in :data:`KEPT_SUBTYPES`, else "FLOAT".
    """
    return input_subtype if input_subtype in KEPT_SUBTYPES else "FLOAT"


#: libsndfile's command to switch off the PEAK chunk of float files.
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def open_for_writing(target, sample_rate, channels, subtype, fmt="WAV"):
    """A SoundFile for writing whose bytes depend on the samples only.

    libsndfile stamps float WAVs with a PEAK chunk holding the wall-clock
    time, so the same audio written a second later differs; it is switched
    off (players do not need it) so that the same input and seed give
    byte-identical files.

    Parameters
    ----------
    target : str, path-like or binary file object
        Where to write.
    sample_rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    subtype : str
        libsndfile subtype, e.g. "PCM_16" or "FLOAT".
    fmt : str, default "WAV"
        libsndfile container format, e.g. "WAV", "RF64" or "RAW".

    Returns
    -------
    soundfile.SoundFile
        Open for writing.
    """
    f = sf.SoundFile(
        target, "w", samplerate=sample_rate, channels=channels, subtype=subtype, format=fmt
    )
    try:
        sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    except AttributeError:  # a soundfile without these internals: keep the chunk
        pass
    return f


def encode(samples, sample_rate, subtype) -> bytes:
    """A complete WAV file in memory.

    Written as RF64 when it is too large for a RIFF header (see
    :func:`.wav.container`).

    Parameters
    ----------
    samples : ndarray, shape (channels, frames), float
        The samples, full scale 1.
    sample_rate : int
        Sample rate in Hz.
    subtype : str
        libsndfile subtype, e.g. "PCM_16".

    Returns
    -------
    bytes
        The file's bytes.

    Raises
    ------
    CocktailError
        If the samples hold NaN or infinite values.
    """
    if not np.isfinite(samples).all():
        raise CocktailError("not writing audio that holds NaN or infinite samples")
    buf = io.BytesIO()
    fmt = wav.container(samples.size)
    with open_for_writing(buf, sample_rate, samples.shape[0], subtype, fmt) as f:
        f.write(np.ascontiguousarray(samples.T))
    return buf.getvalue()


def stdout_stream():
    """The binary standard output, or an error saying it is closed.

    Returns
    -------
    binary file object
        ``sys.stdout.buffer``, or ``sys.stdout`` itself when it has no buffer
        (an in-memory stream).

    Raises
    ------
    CocktailError
        If standard output is closed.
    """
    out = sys.stdout
    try:
        if out is None:  # how Python starts with descriptor 1 closed
            raise ValueError
        os.fstat(out.fileno())
    except (AttributeError, io.UnsupportedOperation):
        pass  # an in-memory stream
    except (OSError, ValueError):
        raise CocktailError(
            "standard output is closed: redirect it to a file or a pipe, or "
            "give a file name instead of '-'"
        ) from None
    return getattr(out, "buffer", out)


def write_stdout(data: bytes):
    """Write bytes to standard output and flush it.

    Parameters
    ----------
    data : bytes
        What to write, e.g. a file from :func:`encode`.

    Raises
    ------
    CocktailError
        If standard output is closed.
    """
    stream = stdout_stream()
    stream.write(data)
    stream.flush()
