"""Block-wise audio input and output, for recordings of any length and for pipes.

A :class:`Reader` hands out blocks of channels x frames (float64) from a file,
from a WAV stream on stdin (whose header may give a zero or maximal length,
as ``arecord`` and ``sox`` write when they cannot know it), or from raw PCM.
A :class:`Writer` takes blocks and writes a WAV file (under a temporary name,
renamed into place on success) or a WAV stream to stdout.
"""

import fcntl
import io
import os
import stat
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import CocktailError
from . import audio, files, wav


class Reader:
    """Blocks of audio from a file, a WAV stream or raw PCM.

    The protocol: :meth:`read` hands out blocks, fewer frames than asked at
    the end and none once the input has ended; :meth:`seek` goes back to
    read again (files and arrays only); :meth:`close` releases the input. A
    Reader is also a context manager that closes it.

    Attributes
    ----------
    sample_rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    frames : int or None
        Length in frames; None when unknown.
    subtype : str
        libsndfile name of the sample format, e.g. "PCM_16".
    name : str
        How to name the input in messages.
    seekable : bool
        Whether :meth:`seek` works.
    path : str or None
        Absolute path of a file, None for streams.
    notes : sequence of str
        What was unusual about the input, said once it is read.
    """

    path = None
    notes = ()

    def read(self, n):
        """Up to ``n`` frames as (channels, frames) float64; fewer at the end.

        Parameters
        ----------
        n : int
            Frames wanted.

        Returns
        -------
        ndarray, shape (channels, n_read), float64
            ``n_read <= n``; 0 once the input has ended.
        """
        raise NotImplementedError

    def seek(self, frame):
        """Go back to a frame, to read the input again.

        Parameters
        ----------
        frame : int
            Frame index, counted from the start of the input.

        Raises
        ------
        CocktailError
            Always, here: a stream cannot be read twice.
        """
        raise CocktailError(f"{self.name} cannot be read twice (it is a stream)")

    def close(self):
        """Release the input; nothing to do here."""
        pass

    def read_all(self, limit=None):
        """Read to the end of the input, or ``limit`` frames.

        Parameters
        ----------
        limit : int, optional
            Most frames to read; None reads everything.

        Returns
        -------
        ndarray, shape (channels, n_read), float64
        """
        blocks, got = [], 0
        while limit is None or got < limit:
            b = self.read(1 << 16 if limit is None else min(1 << 16, limit - got))
            if b.shape[1] == 0:
                break
            blocks.append(b)
            got += b.shape[1]
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((self.channels, 0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class FileReader(Reader):
    """A Reader over an audio file, through libsndfile.

    Parameters
    ----------
    path : str or path-like
        The file.

    Raises
    ------
    CocktailError
        If the file is missing, empty, truncated or not readable (see
        :func:`.audio.check_file`).
    """

    seekable = True

    def __init__(self, path):
        self.path = str(Path(path).resolve())
        self.name = audio.display_name(path)
        audio.check_file(path)
        try:
            self._f, self.notes = audio.open_sound(path, self.name)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise audio.unreadable(self.name, exc) from None
        self.sample_rate = self._f.samplerate
        self.channels = self._f.channels
        self.frames = self._f.frames
        self.subtype = self._f.subtype

    def read(self, n):
        """See :meth:`Reader.read`."""
        return self._f.read(n, dtype="float64", always_2d=True).T

    def seek(self, frame):
        """See :meth:`Reader.seek`."""
        self._f.seek(frame)

    def close(self):
        """Close the file."""
        self._f.close()


#: Set by :func:`end_input`: standard input ends at its next read.
_ENDED = []


def end_input():
    """End standard input at its next read, as if its writer had closed it.

    For the command line's first Ctrl-C on a live stream (a microphone's
    recording has no end of its own): what has arrived is separated and
    written, and the reader notes that the stream was ended so.  A read
    already waiting on the pipe returns when the next bytes (or its end)
    come.
    """
    _ENDED.append(True)


def reset_input():
    """Undo :func:`end_input` (for the next command run in the same process)."""
    _ENDED.clear()


class _ByteSource:
    """A binary stream read in exact-size pieces (pipes return short reads).

    ``endable``: standard input, which :func:`end_input` ends; ``cut`` is
    then set once it has.
    """

    def __init__(self, stream, prefix=b"", endable=False):
        self._stream = stream
        # read1 returns what the pipe has (at least one byte) instead of
        # waiting for a whole request: latency stays at one block.
        self._read = getattr(stream, "read1", stream.read)
        self._buf = bytearray(prefix)
        self.eof = False
        self._endable = endable
        self.cut = False

    def peek(self, n):
        self._fill(n)
        return bytes(self._buf[:n])

    def take(self, n):
        self._fill(n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _fill(self, n):
        while len(self._buf) < n and not self.eof:
            if self._endable and _ENDED:
                self.eof = self.cut = True
                break
            chunk = self._read(max(n - len(self._buf), 1 << 16))
            if not chunk:
                self.eof = True
                break
            self._buf += chunk

    def rest(self):
        """Everything up to the end of the stream."""
        while not self.eof:
            chunk = self._stream.read(1 << 20)
            if not chunk:
                self.eof = True
            else:
                self._buf += chunk
        out = bytes(self._buf)
        self._buf = bytearray()
        return out


class PCMReader(Reader):
    """Interleaved PCM frames from a byte stream, of known or unknown length.

    A stream that ends early, or on a partial frame, is not an error: what
    arrived is read and a note says what was wrong.

    Parameters
    ----------
    source : _ByteSource
        The bytes, positioned at the first sample.
    name : str
        How to name the input in messages.
    sample_rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    encoding : str
        A key of :data:`.wav.ENCODINGS`.
    frames : int, optional
        Frames the input promises; None when unknown.
    owned : file object, optional
        A file this reader opened, closed with it.
    """

    seekable = False

    def __init__(self, source, *, name, sample_rate, channels, encoding, frames=None, owned=None):
        self._src = source
        self._owned = owned  # a file this reader opened, closed with it
        self.name = name
        self.sample_rate = sample_rate
        self.channels = channels
        self.encoding = encoding
        self.subtype = wav.ENCODING_SUBTYPE[encoding]
        self.frames = frames
        self._frame_bytes = wav.bytes_per_frame(encoding, channels)
        self._left = None if frames is None else frames
        self._got = 0
        self.notes = []

    def read(self, n):
        """See :meth:`Reader.read`; never more than the frames promised."""
        if self._left is not None:
            n = min(n, self._left)
        data = self._src.take(n * self._frame_bytes)
        usable = len(data) - len(data) % self._frame_bytes
        if self._left is not None:
            self._left -= usable // self._frame_bytes
        self._got += usable // self._frame_bytes
        if n and len(data) < n * self._frame_bytes:
            self._ended(len(data) - usable)
        return wav.decode(data[:usable], self.encoding, self.channels)

    def _ended(self, leftover):
        """Say once what was wrong with how the input ended."""
        if self.notes:
            return
        if self._src.cut:
            self.notes.append(
                f"{self.name} was ended with Ctrl-C after {self._got / self.sample_rate:.3f} s: "
                "separated what had arrived"
            )
            return
        if leftover:
            self.notes.append(
                f"{self.name} ends with {_bytes_that_make(leftover)} no whole frame "
                f"({self._frame_bytes} bytes each): ignored"
            )
        if self._left:
            rate = self.sample_rate
            self.notes.append(
                f"{self.name} ended early: {self._got / rate:.3f} s of the "
                f"{(self._got + self._left) / rate:.3f} s its header promises "
                f"({self._got} of {self._got + self._left} frames; separated what arrived)"
            )

    def close(self):
        """Close the file this reader opened, if any (never stdin)."""
        if self._owned is not None:
            self._owned.close()


def open_input(path, *, raw=None):
    """A Reader for a path or '-' (stdin).

    On stdin a WAV stream (RIFF or RF64) is read block by block; another
    container (FLAC, AIFF...) is read whole first, as libsndfile needs it.

    Parameters
    ----------
    path : str or path-like
        The file, or ``-`` for standard input.
    raw : (int, str, int) tuple, optional
        ``(rate, channels, encoding)`` for headerless PCM: sample rate in
        Hz, number of channels, and a key of :data:`.wav.ENCODINGS`.

    Returns
    -------
    Reader
        A :class:`PCMReader` for raw PCM and WAV streams, a
        :class:`FileReader` for files, an :class:`ArrayReader` for other
        containers on stdin.

    Raises
    ------
    CocktailError
        If standard input is closed or empty, or the input cannot be read
        (see :func:`.audio.check_file` and :func:`.wav.read_stream_header`).
    """
    if raw is not None:
        rate, channels, encoding = raw
        if str(path) == audio.STDIO:
            src = _ByteSource(audio.stdin_stream(), endable=True)
            name = "standard input"
            frames = None
        else:
            audio.check_file(path)
            owned = open(path, "rb")
            src = _ByteSource(owned)
            name = audio.display_name(path)
            size, frame_bytes = os.path.getsize(path), wav.bytes_per_frame(encoding, channels)
            frames = size // frame_bytes
            reader = PCMReader(
                src,
                name=name,
                sample_rate=rate,
                channels=channels,
                encoding=encoding,
                frames=frames,
                owned=owned,
            )
            if size % frame_bytes:
                reader.notes.append(
                    f"{name} ends with {_bytes_that_make(size % frame_bytes)} no whole frame "
                    f"({frame_bytes} bytes each): ignored"
                )
            return reader
        return PCMReader(
            src, name=name, sample_rate=rate, channels=channels, encoding=encoding, frames=frames
        )
    if str(path) != audio.STDIO:
        return FileReader(path)
    src = _ByteSource(audio.stdin_stream(), endable=True)
    first = src.peek(4)
    if not first:
        raise CocktailError("standard input is empty: expected a WAV stream")
    if first in (b"RIFF", b"RF64"):
        rate, channels, encoding, frames = wav.read_stream_header(src.take, "standard input")
        return PCMReader(
            src,
            name="standard input",
            sample_rate=rate,
            channels=channels,
            encoding=encoding,
            frames=frames,
        )
    # Another container on stdin (FLAC, AIFF...): libsndfile needs it whole.
    data = src.rest()
    rec = audio.read("-", stdin_bytes=data)
    return ArrayReader(rec.samples, rec.sample_rate, rec.subtype, rec.name)


class ArrayReader(Reader):
    """A Reader over samples already in memory.

    Parameters
    ----------
    samples : ndarray, shape (channels, frames), float64
        The samples.
    sample_rate : int
        Sample rate in Hz.
    subtype : str, default "FLOAT"
        libsndfile name of the source's sample format.
    name : str, default "the recording"
        How to name it in messages.
    """

    seekable = True

    def __init__(self, samples, sample_rate, subtype="FLOAT", name="the recording"):
        self._x = samples
        self._pos = 0
        self.sample_rate = sample_rate
        self.channels = samples.shape[0]
        self.frames = samples.shape[1]
        self.subtype = subtype
        self.name = name

    def read(self, n):
        """See :meth:`Reader.read`; the block is a view of the samples, not a copy."""
        b = self._x[:, self._pos : self._pos + n]
        self._pos += b.shape[1]
        return b

    def seek(self, frame):
        """See :meth:`Reader.seek`."""
        self._pos = frame


def check_finite_output(block, target):
    """The last guard: no NaN or infinity is ever written as audio.

    Parameters
    ----------
    block : ndarray, shape (channels, frames)
        Samples about to be written.
    target : str, path-like or None
        Where they would go, for the message; None for standard output.

    Raises
    ------
    CocktailError
        If ``block`` holds NaN or infinite samples.
    """
    if not np.isfinite(block).all():
        where = "standard output" if target is None else f"'{target}'"
        raise CocktailError(
            f"not writing {where}: the result holds NaN or infinite samples "
            "(the input or the unmixing is not usable)"
        )


def _rewritable_position(stream):
    """Where a stream starts if it is a regular file we may go back into, else None."""
    try:
        fd = stream.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
        return stream.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


class Writer:
    """Write blocks of (channels, frames) to a WAV file or a WAV/raw stream.

    Files are written under a temporary name and only renamed into place by
    :meth:`commit`; :meth:`discard` removes them. A stream receives the
    header with the first samples; if it is a regular file it may go back
    into, the header's sizes are corrected on :meth:`commit`.

    Parameters
    ----------
    target : str, path-like or None
        The output file; with ``stream``, only named in messages (None for
        standard output).
    channels : int
        Number of channels.
    sample_rate : int
        Sample rate in Hz.
    subtype : str
        libsndfile subtype; written as is if "PCM_16", "PCM_24", "PCM_32",
        "FLOAT" or "DOUBLE", else as "FLOAT".
    frames : int, optional
        Frames that will be written, if known: for the header of a stream
        and to choose RF64 for a large file.
    raw : bool, default False
        Write headerless PCM instead of a WAV.
    stream : binary file object, optional
        Write to this stream (e.g. standard output) instead of a file.
    """

    def __init__(
        self, target, *, channels, sample_rate, subtype, frames=None, raw=False, stream=None
    ):
        self.target = target
        self.channels = channels
        self.encoding = wav.SUBTYPE_ENCODING.get(subtype, "f32")
        self._tmp = None
        if stream is not None:
            self._stream = stream
            self._file = None
            # Sent with the first samples, once they are known to be finite.
            self._header = b"" if raw else wav.header(channels, sample_rate, self.encoding, frames)
            self._promised = frames
            self._sent = 0  # frames written
            self._start = _rewritable_position(stream) if not raw else None
        else:
            self._tmp = files.temporary_beside(target)
            fmt = "RAW" if raw else ("WAV" if frames is None else wav.container(frames * channels))
            try:
                self._file = audio.open_for_writing(
                    self._tmp, sample_rate, channels, wav.ENCODING_SUBTYPE[self.encoding], fmt
                )
            except BaseException:
                files.remove_temporary(self._tmp)
                raise

    def write(self, block):
        """Write a block of shape (channels, frames), float, full scale 1.

        Raises
        ------
        CocktailError
            If the block holds NaN or infinite samples (nothing is written).
        """
        check_finite_output(block, self.target)
        if self._file is not None:
            if self.encoding in ("s16", "s32"):
                # Quantise here, as libsndfile would: handing it integers
                # is several times faster.
                self._file.write(
                    wav.quantise(block.T, self.encoding).astype(wav.ENCODINGS[self.encoding][0])
                )
            else:
                self._file.write(np.ascontiguousarray(block.T))
        else:
            self._stream.write(self._header + wav.encode(block, self.encoding))
            self._header = b""
            self._sent += block.shape[1]

    @property
    def temporary(self):
        """Path of the temporary file (str), None for a stream or once committed."""
        return self._tmp

    def close_temporary(self):
        """Finish the temporary file without renaming it (to read it back)."""
        if self._file is not None and not self._file.closed:
            self._file.close()

    def commit(self):
        """Finish: rename the file into place, or complete and flush the stream."""
        if self._file is not None:
            if not self._file.closed:
                self._file.close()
            files.publish(self._tmp, self.target)
            self._tmp = None
        else:
            if self._header:
                self._stream.write(self._header)
                self._header = b""
            if self._start is not None and self._sent != self._promised:
                self._fix_sizes()
            self._stream.flush()

    def _fix_sizes(self):
        """Write the real sizes into the header of a stream that is a regular file."""
        data = self._sent * wav.bytes_per_frame(self.encoding, self.channels)
        if 36 + data > wav.RIFF_LIMIT:
            return
        self._stream.flush()
        end = self._stream.tell()
        self._stream.seek(self._start + 4)
        self._stream.write(struct.pack("<I", 36 + data))
        self._stream.seek(self._start + 40)
        self._stream.write(struct.pack("<I", data))
        self._stream.seek(end)

    def discard(self):
        """Drop the output: close and remove the temporary file (nothing for a stream)."""
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - nothing more to do for a file being dropped
                pass
            if self._tmp is not None:  # None once committed: nothing left to remove
                files.remove_temporary(self._tmp)


def _bytes_that_make(n):
    """'1 byte that makes' or 'n bytes that make'."""
    return f"{n} byte that makes" if n == 1 else f"{n} bytes that make"
