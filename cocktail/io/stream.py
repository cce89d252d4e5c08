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

    Attributes: ``sample_rate``, ``channels``, ``frames`` (None when unknown),
    ``subtype`` (libsndfile name), ``name`` (for messages), ``seekable``,
    ``path`` (absolute path of a file, None for streams).
    """

    path = None
    notes = ()  # what was unusual about the input, said once it is read

    def read(self, n):
        """Up to ``n`` frames as (channels, frames) float64; fewer at the end."""
        raise NotImplementedError

    def seek(self, frame):
        raise CocktailError(f"{self.name} cannot be read twice (it is a stream)")

    def close(self):
        pass

    def read_all(self, limit=None):
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
        return self._f.read(n, dtype="float64", always_2d=True).T

    def seek(self, frame):
        self._f.seek(frame)

    def close(self):
        self._f.close()


class _ByteSource:
    """A binary stream read in exact-size pieces (pipes return short reads)."""

    def __init__(self, stream, prefix=b""):
        self._stream = stream
        # read1 returns what the pipe has (at least one byte) instead of
        # waiting for a whole request: latency stays at one block.
        self._read = getattr(stream, "read1", stream.read)
        self._buf = bytearray(prefix)
        self.eof = False

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
    """Interleaved PCM frames from a byte stream, of known or unknown length."""

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
        if leftover:
            self.notes.append(
                f"{self.name} ends with {leftover} byte{'s' if leftover != 1 else ''} that "
                f"make no whole frame ({self._frame_bytes} bytes each): ignored"
            )
        if self._left:
            rate = self.sample_rate
            self.notes.append(
                f"{self.name} ended early: {self._got / rate:.3f} s of the "
                f"{(self._got + self._left) / rate:.3f} s its header promises "
                "(separated what arrived)"
            )

    def close(self):
        if self._owned is not None:
            self._owned.close()


def open_input(path, *, raw=None):
    """A Reader for a path or '-' (stdin); ``raw`` = (rate, channels, encoding) for PCM."""
    if raw is not None:
        rate, channels, encoding = raw
        if str(path) == audio.STDIO:
            src = _ByteSource(audio.stdin_stream())
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
                    f"{name} ends with {size % frame_bytes} "
                    f"byte{'s' if size % frame_bytes != 1 else ''}"
                    f" that make no whole frame ({frame_bytes} bytes each): ignored"
                )
            return reader
        return PCMReader(
            src, name=name, sample_rate=rate, channels=channels, encoding=encoding, frames=frames
        )
    if str(path) != audio.STDIO:
        return FileReader(path)
    src = _ByteSource(audio.stdin_stream())
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
    """A Reader over samples already in memory."""

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
        b = self._x[:, self._pos : self._pos + n]
        self._pos += b.shape[1]
        return b

    def seek(self, frame):
        self._pos = frame


def check_finite_output(block, target):
    """The last guard: no NaN or infinity is ever written as audio."""
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
    :meth:`commit`; :meth:`discard` removes them.
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
        return self._tmp

    def close_temporary(self):
        """Finish the temporary file without renaming it (to read it back)."""
        if self._file is not None and not self._file.closed:
            self._file.close()

    def commit(self):
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
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - nothing more to do for a file being dropped
                pass
            files.remove_temporary(self._tmp)
