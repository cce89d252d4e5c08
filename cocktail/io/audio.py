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
import secrets
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np
import soundfile as sf

from ..errors import CocktailError

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
    notes: List[str] = field(default_factory=list)  # what was unusual about reading it

    @property
    def channels(self):
        return self.samples.shape[0]

    @property
    def frames(self):
        return self.samples.shape[1]


def display_name(path):
    return "standard input" if str(path) == STDIO else f"'{path}'"


def stdin_stream():
    """The binary standard input, or an error saying it is closed."""
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    if stream is None or not hasattr(stream, "read"):  # Python starts so with descriptor 0 closed
        raise CocktailError("standard input is closed: give a file name instead of '-', or "
                            "pipe something in")
    return stream


def _read_stdin():
    return stdin_stream().read()


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


#: Data-chunk sizes that mean "unknown": what arecord, sox and cocktail write
#: to a pipe, where they cannot go back to fill in the length.
UNKNOWN_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)
#: Bytes at the start of a file searched for the header.
HEAD_BYTES = 65536
_RIFF_LIMIT = 0xFFFFFFFF


def check_complete(head, total_size, name):
    """Refuse a WAV whose data chunk is shorter than its header promises.

    Streams of unknown length carry one of UNKNOWN_SIZES; those pass.
    """
    chunk = _wav_data_chunk(head)
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

    Returns (patched head, note), or (None, None) when the header is usable
    as it is. The data then runs to the end of the file, as in a stream.
    """
    chunk = _wav_data_chunk(head)
    if chunk is None or head[:4] != b"RIFF":
        return None, None
    offset, declared = chunk
    present = total_size - offset
    if declared not in UNKNOWN_SIZES or present <= 0 or present == declared \
            or total_size - 8 > _RIFF_LIMIT:
        return None, None
    patched = bytearray(head)
    patched[4:8] = (total_size - 8).to_bytes(4, "little")
    patched[offset - 4:offset] = present.to_bytes(4, "little")
    note = (f"the header of {name} gives no length (as a stream written to a file does): "
            "read to the end of the file")
    return bytes(patched), note


class _PatchedHead:
    """A binary file seen through a corrected first few bytes (for libsndfile)."""

    def __init__(self, f, head):
        self._f, self._head = f, head

    def read(self, n=-1):
        pos = self._f.tell()
        data = self._f.read(n)
        if pos < len(self._head) and data:
            k = min(len(data), len(self._head) - pos)
            data = self._head[pos:pos + k] + data[k:]
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
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    patched, note = fixed_header(head, size, name)
    if patched is None:
        return sf.SoundFile(str(path)), []
    raw = open(path, "rb")
    try:
        return _OwningSoundFile(raw, _PatchedHead(raw, patched)), [note]
    except BaseException:
        raw.close()
        raise


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
            check_complete(f.read(HEAD_BYTES), p.stat().st_size, name)
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
    notes = []
    try:
        if str(path) == STDIO:
            data = _read_stdin() if stdin_bytes is None else stdin_bytes
            if not data:
                raise CocktailError("standard input is empty: expected a WAV stream")
            check_complete(data[:HEAD_BYTES], len(data), name)
            patched, note = fixed_header(data[:HEAD_BYTES], len(data), name)
            if patched is not None:
                data, notes = patched + data[len(patched):], []  # a stream: no note
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
    return Audio(samples=np.ascontiguousarray(samples.T), sample_rate=int(rate),
                 subtype=subtype, name=name, notes=notes)


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
    if not np.isfinite(samples).all():
        raise CocktailError("not writing audio that holds NaN or infinite samples")
    buf = io.BytesIO()
    fmt = "WAV" if samples.size * 8 < 2**32 - 1024 else "RF64"
    with open_for_writing(buf, sample_rate, samples.shape[0], subtype, fmt) as f:
        f.write(np.ascontiguousarray(samples.T))
    return buf.getvalue()


def stdout_stream():
    """The binary standard output, or an error saying it is closed."""
    out = sys.stdout
    try:
        if out is None:  # how Python starts with descriptor 1 closed
            raise ValueError
        os.fstat(out.fileno())
    except (AttributeError, io.UnsupportedOperation):
        pass  # an in-memory stream
    except (OSError, ValueError):
        raise CocktailError("standard output is closed: redirect it to a file or a pipe, or "
                            "give a file name instead of '-'") from None
    return getattr(out, "buffer", out)


def check_stdout_apart(paths):
    """Refuse to write to a standard output that is one of the input files.

    ``cocktail separate mix.wav -o - >> mix.wav`` would otherwise read and
    append to the same file; the shell opened it, so only its device and
    inode tell.
    """
    try:
        out = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return
    if not stat.S_ISREG(out.st_mode):
        return
    for p in paths:
        if p is None or str(p) == STDIO:
            continue
        try:
            st = os.stat(p)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            raise CocktailError(f"standard output is the input file {display_name(p)}: writing "
                                "to it would damage it; redirect the output to another file")


def write_stdout(data: bytes):
    stream = stdout_stream()
    stream.write(data)
    stream.flush()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_special(path):
    """True for an existing file that is neither regular nor a folder: a device,
    a FIFO, a socket. Such files are written in place, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_target(path):
    """Where writing ``path`` really goes: the end of its chain of symbolic links.

    Renaming onto a link would replace the link by a file; its target is
    what the user means.
    """
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def temporary_beside(path):
    """An empty file to write to before :func:`publish`.

    It lies in the folder of the real target (a link is followed), so the
    final rename stays on one file system; for a device or a FIFO, which are
    written in place, it lies in the system's temporary folder.
    """
    target = write_target(path)
    folder = tempfile.gettempdir() if is_special(target) else str(target.parent)
    while True:
        tmp = os.path.join(folder, f".{target.name}.{secrets.token_hex(4)}.part")
        # Known before it exists: an interruption at any moment leaves nothing behind.
        _temporaries.add(tmp)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _temporaries.discard(tmp)
            continue
        except BaseException:
            _temporaries.discard(tmp)
            raise
        os.close(fd)
        return tmp


#: Temporary files of this process not yet published or removed, and the
#: output folders it made: what an interruption must clean up.
_temporaries = set()
_made_folders = []


def remove_temporary(tmp):
    """Delete a temporary file that will not be published."""
    try:
        os.unlink(tmp)
    except OSError:
        pass
    _temporaries.discard(tmp)


def keep_folder(path):
    """A folder made for outputs now holds them: no interruption removes it."""
    p = Path(path)
    if p in _made_folders:
        _made_folders.remove(p)


def clean_up_after_interruption():
    """Remove every temporary file still pending, then the empty folders made.

    The command line calls it on Ctrl-C or SIGTERM, which can come between
    any two steps, even before a writer knows its own temporary file.
    """
    for tmp in list(_temporaries):
        remove_temporary(tmp)
    for folder in reversed(_made_folders):
        try:
            folder.rmdir()
        except OSError:
            pass
    _made_folders.clear()


_COPY_CHUNK = 1 << 20


def publish(tmp, final):
    """Give a finished temporary file its final name.

    A regular file (or nothing) at the target is replaced by a rename, with
    the usual permissions; a device or a FIFO receives the bytes instead and
    stays what it is.
    """
    target = write_target(final)
    if is_special(target):
        try:
            with open(tmp, "rb") as src, open(target, "wb") as dst:
                while True:
                    chunk = src.read(_COPY_CHUNK)
                    if not chunk:
                        break
                    dst.write(chunk)
        finally:
            remove_temporary(tmp)
        return
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)
    _temporaries.discard(tmp)


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
            remove_temporary(tmp)
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
    made = not os.path.lexists(p)
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
    if made:
        _made_folders.append(p)
    return p


def check_writable_file(path):
    """Fail early, before any work, if a file cannot be created at ``path``."""
    p = Path(path)
    if p.is_dir():
        raise CocktailError(f"cannot write to '{p}': it is a folder")
    if is_special(p):
        if not os.access(p, os.W_OK):
            raise CocktailError(f"cannot write to '{p}': permission denied")
        return p
    target = write_target(p)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CocktailError(f"cannot write to '{p}': folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CocktailError(f"cannot write to '{p}': permission denied")
    return p
