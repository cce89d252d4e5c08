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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import CocktailError

STDIO = "-"

#: Sample formats kept as they are; anything else is written as 32-bit float.
KEPT_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}


@dataclass
class Audio:
    samples: np.ndarray  # (channels, frames), float64
    sample_rate: int
    subtype: str  # libsndfile subtype of the source, e.g. "PCM_16"
    name: str  # how to name the source in messages

    @property
    def channels(self):
        return self.samples.shape[0]

    @property
    def frames(self):
        return self.samples.shape[1]


def display_name(path):
    return "standard input" if str(path) == STDIO else f"'{path}'"


def _read_stdin():
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    return stream.read()


def _wav_data_chunk(head):
    """(offset, declared size) of a RIFF/WAVE data chunk, or None if not found."""
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        cid = head[pos:pos + 4]
        size = int.from_bytes(head[pos + 4:pos + 8], "little")
        if cid == b"data":
            return pos + 8, size
        pos += 8 + size + (size & 1)
    return None


def check_complete(head, total_size, name):
    """Refuse a WAV whose data chunk is shorter than its header promises.

    Streams of unknown length carry 0 or 0xFFFFFFFF as the size; those pass.
    """
    chunk = _wav_data_chunk(head)
    if chunk is None or head[:4] != b"RIFF":
        return
    offset, declared = chunk
    if declared in (0, 0xFFFFFFFF):
        return
    present = total_size - offset
    if present < declared:
        raise CocktailError(
            f"cannot read {name}: the file is truncated (its header promises {declared} "
            f"bytes of audio, only {max(present, 0)} are there)"
        )


def check_file(path):
    """Refuse, with a message naming the file, what cannot be an audio file."""
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
            check_complete(f.read(65536), p.stat().st_size, name)
    except PermissionError:
        raise CocktailError(f"cannot read {name}: permission denied") from None


def unreadable(name, exc):
    """The error for a file libsndfile cannot decode."""
    if isinstance(exc, PermissionError):
        return CocktailError(f"cannot read {name}: permission denied")
    reason = str(exc).split(":")[-1].strip() or "unknown format"
    return CocktailError(f"cannot read {name}: not a readable audio file ({reason})")


def read(path, *, stdin_bytes=None) -> Audio:
    """Read a WAV (or any format libsndfile knows) from a path or ``-`` for stdin."""
    name = display_name(path)
    if str(path) == STDIO:
        data = _read_stdin() if stdin_bytes is None else stdin_bytes
        if not data:
            raise CocktailError("standard input is empty: expected a WAV stream")
        check_complete(data[:65536], len(data), name)
        source = io.BytesIO(data)
    else:
        check_file(path)
        source = str(path)
    try:
        with sf.SoundFile(source) as f:
            subtype = f.subtype
            rate = f.samplerate
            samples = f.read(dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, PermissionError) as exc:
        raise unreadable(name, exc) from None
    return Audio(samples=np.ascontiguousarray(samples.T), sample_rate=int(rate),
                 subtype=subtype, name=name)


def output_subtype(input_subtype):
    """Keep the input's sample format where it is a plain PCM or float one."""
    return input_subtype if input_subtype in KEPT_SUBTYPES else "FLOAT"


#: libsndfile's command to switch off the PEAK chunk of float files.
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def open_for_writing(target, sample_rate, channels, subtype, fmt="WAV"):
    """A SoundFile for writing whose bytes depend on the samples only.

    libsndfile stamps float WAVs with a PEAK chunk holding the wall-clock
    time, so the same audio written a second later differs; it is switched
    off (players do not need it) so that the same input and seed give
    byte-identical files.
    """
    f = sf.SoundFile(target, "w", samplerate=sample_rate, channels=channels, subtype=subtype,
                     format=fmt)
    try:
        sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    except AttributeError:  # a soundfile without these internals: keep the chunk
        pass
    return f


def encode(samples, sample_rate, subtype) -> bytes:
    """A complete WAV file in memory (channels x frames in)."""
    buf = io.BytesIO()
    fmt = "WAV" if samples.size * 8 < 2**32 - 1024 else "RF64"
    with open_for_writing(buf, sample_rate, samples.shape[0], subtype, fmt) as f:
        f.write(np.ascontiguousarray(samples.T))
    return buf.getvalue()


def write_stdout(data: bytes):
    stream = getattr(sys.stdout, "buffer", sys.stdout)
    stream.write(data)
    stream.flush()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_beside(path):
    """An empty file in the folder of ``path`` to write to before :func:`publish`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return tmp


def publish(tmp, final):
    """Give a finished temporary file the usual permissions and its final name."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, final)


class AtomicWriter:
    """Write files under temporary names, then rename them all at once.

    Used as a context manager: on an exception every temporary file is
    removed and nothing appears at the final paths.
    """

    def __init__(self):
        self._pending = []  # (temporary path, final path)

    def add(self, path, data: bytes):
        tmp = temporary_beside(path)
        self._pending.append((tmp, path))
        with open(tmp, "wb") as f:
            f.write(data)

    def commit(self):
        for tmp, final in self._pending:
            publish(tmp, final)
        self._pending = []

    def discard(self):
        for tmp, _ in self._pending:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self._pending = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()
        return False


def prepare_folder(path):
    """Create an output folder (and parents) or say why it cannot be written."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CocktailError(f"cannot write to '{p}': a file of that name is in the way") from None
    except OSError as exc:
        raise CocktailError(f"cannot write to '{p}': {exc.strerror or exc}") from None
    if not p.is_dir():
        raise CocktailError(f"cannot write to '{p}': it is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise CocktailError(f"cannot write to '{p}': permission denied")
    return p


def check_writable_file(path):
    """Fail early, before any work, if a file cannot be created at ``path``."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise CocktailError(f"cannot write to '{p}': it is a folder")
    if not parent.is_dir():
        raise CocktailError(f"cannot write to '{p}': folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CocktailError(f"cannot write to '{p}': permission denied")
    return p
