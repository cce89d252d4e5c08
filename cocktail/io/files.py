"""Files on disk: atomic writes, clean-up after an interruption, and
refusing to write over an input.

Outputs are written under a temporary name beside their target and renamed
into place, so an interrupted run never leaves a half-written file; a
device or a FIFO is written into instead (it is not a file to replace), and
a symbolic link's target is written.
"""

import io
import os
import stat
import sys
import tempfile
from pathlib import Path

from ..errors import CocktailError
from .audio import STDIO, display_name


def same_file(a, b):
    """Whether two paths name one file (by device and inode when both exist).

    When either does not exist, the resolved paths are compared.

    Parameters
    ----------
    a, b : str or path-like
        The paths.

    Returns
    -------
    bool
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_outputs_apart(input_path, targets):
    """Refuse outputs that are the input file itself.

    Parameters
    ----------
    input_path : str or path-like
        The input file, or ``-`` for standard input (never refused).
    targets : iterable of str or path-like
        The output paths; those that do not exist yet pass.

    Raises
    ------
    CocktailError
        If an output is the input file (same device and inode).
    """
    if str(input_path) == STDIO:
        return
    for t in targets:
        try:
            same = os.path.samefile(t, input_path)
        except OSError:
            same = False
        if same:
            raise CocktailError(f"output '{t}' would overwrite the input")


def check_stdout_apart(paths):
    """Refuse to write to a standard output that is one of the input files.

    ``cocktail separate mix.wav -o - >> mix.wav`` would otherwise read and
    append to the same file; the shell opened it, so only its device and
    inode tell.

    Parameters
    ----------
    paths : iterable of str, path-like or None
        The input files; None and ``-`` are skipped.

    Raises
    ------
    CocktailError
        If standard output is a regular file that is one of ``paths``.
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
            raise CocktailError(
                f"standard output is the input file {display_name(p)}: writing "
                "to it would damage it; redirect the output to another file"
            )


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_special(path):
    """True for an existing file that is neither regular nor a folder.

    A device, a FIFO, a socket. Such files are written in place, never
    replaced. A symbolic link is followed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool
        False also when ``path`` does not exist.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_target(path):
    """Where writing ``path`` really goes: the end of its chain of symbolic links.

    Renaming onto a link would replace the link by a file; its target is
    what the user means.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    pathlib.Path
        The resolved target of a link, else ``path`` itself.
    """
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def temporary_beside(path):
    """An empty file to write to before :func:`publish`.

    It lies in the folder of the real target (a link is followed), so the
    final rename stays on one file system; for a device or a FIFO, which are
    written in place, it lies in the system's temporary folder. It is
    registered for :func:`clean_up_after_interruption` before it is created.

    Parameters
    ----------
    path : str or path-like
        The final path.

    Returns
    -------
    str
        The temporary file's path, ``.<name>.<random hex>.part``, created
        empty with mode 0600.
    """
    target = write_target(path)
    folder = tempfile.gettempdir() if is_special(target) else str(target.parent)
    while True:
        tmp = os.path.join(folder, f".{target.name}.{os.urandom(4).hex()}.part")
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
    """Delete a temporary file that will not be published.

    A file already gone is no error.

    Parameters
    ----------
    tmp : str
        A path from :func:`temporary_beside`.
    """
    try:
        os.unlink(tmp)
    except OSError:
        pass
    _temporaries.discard(tmp)


def keep_folder(path):
    """A folder made for outputs now holds them: no interruption removes it.

    Parameters
    ----------
    path : str or path-like
        A folder returned by :func:`prepare_folder`.
    """
    p = Path(path)
    for folder in [p, *p.parents]:
        if folder in _made_folders:
            _made_folders.remove(folder)


def missing_folders(path):
    """The folders that creating ``path`` would make, outermost first.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of pathlib.Path
    """
    p = Path(path)
    return [q for q in reversed([p, *p.parents]) if not os.path.lexists(q)]


def remove_folders(folders):
    """Remove folders a failed run made, innermost first, if they are still empty.

    Parameters
    ----------
    folders : list of pathlib.Path
        As :func:`missing_folders` gave them, outermost first.
    """
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            continue  # not empty yet: the clean-up after an interruption tries again
        if folder in _made_folders:
            _made_folders.remove(folder)


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
    stays what it is. A symbolic link's target is written.

    Parameters
    ----------
    tmp : str
        A path from :func:`temporary_beside`.
    final : str or path-like
        The final path.
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
        """Write ``data`` to a temporary file for ``path`` (see :func:`temporary_beside`).

        Parameters
        ----------
        path : str or path-like
            The final path, written on :meth:`commit`.
        data : bytes
            The whole file.
        """
        tmp = temporary_beside(path)
        self._pending.append((tmp, path))
        with open(tmp, "wb") as f:
            f.write(data)

    def commit(self):
        """Publish every file added, in the order added."""
        for tmp, final in self._pending:
            publish(tmp, final)
        self._pending = []

    def discard(self):
        """Remove every temporary file added; nothing is published."""
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
    """Create an output folder (and parents) or say why it cannot be written.

    The folders this call made (the parents too) are removed by
    :func:`clean_up_after_interruption` unless :func:`keep_folder` is called
    first.

    Parameters
    ----------
    path : str or path-like
        The folder.

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Raises
    ------
    CocktailError
        If a file is in the way, the folder cannot be made, or it is not
        writable.
    """
    p = Path(path)
    made = missing_folders(p)
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
    _made_folders.extend(made)
    return p


def check_writable_file(path):
    """Fail early, before any work, if a file cannot be created at ``path``.

    Parameters
    ----------
    path : str or path-like
        The output file.

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Raises
    ------
    CocktailError
        If ``path`` is a folder, a device or FIFO that is not writable, or
        its folder (that of a link's target) does not exist or is not
        writable.
    """
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
