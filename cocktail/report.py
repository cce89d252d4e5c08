"""The JSON files cocktail writes: the separation report and the mix sidecar.

One owner for both formats. ``separation.json`` records what went in, how it
was separated and the unmixing (so that ``--apply`` can reuse it); the
sidecar of ``cocktail mix`` records how a test mixture was made (so that
``cocktail evaluate`` can score against the truth). Everything that writes,
recognises or reads either one comes through here; the per-bin matrices of
the room model have one codec, :func:`encode_unmixing` and
:func:`decode_unmixing`.
"""

import base64
import binascii
import json
from dataclasses import asdict
from pathlib import Path
from typing import List, NamedTuple, Optional

import numpy as np

from . import __version__
from .bss.stft import MIN_NFFT
from .errors import CocktailError

#: The report's name in an output folder.
REPORT_NAME = "separation.json"
#: Sample types a report may store its per-bin matrices in.
REPORT_DTYPES = ("<f2", "<f4", "<f8")
#: Largest magnitude stored as float16; a matrix with larger gains uses float32.
FLOAT16_LIMIT = 6e4
#: What the encoded matrices mean, written beside them for readers of the report.
UNMIXING_ENCODING = (
    "base64 of the little-endian unmixing_dtype, bins x sources x mics, real and imaginary "
    "parts apart: W = np.frombuffer(b64decode(unmixing_real), unmixing_dtype).reshape(shape) "
    "+ 1j * (the same for unmixing_imag); outputs = overlap-add of W_f STFT_f(x - mean), "
    "then the crosstalk post-filter when the report holds crosstalk"
)
#: What the post-filter's crosstalk shares mean, written beside them.
CROSSTALK_ENCODING = (
    "base64 of the little-endian crosstalk_dtype, bins x sources x sources: a[f, n, k] is the "
    "share of output k's power that reaches output n. Y = the outputs' STFT (crosstalk_nfft, "
    "crosstalk_hop); each cell of output n is scaled by max(S / (S + L), 0.3), "
    "L = sum_k a[f, n, k] |Y_k|^2, S = max(|Y_n|^2 - L, 0), then overlap-added"
)


def dumps(data):
    """The bytes of a report or sidecar as written: indented JSON and a newline.

    Parameters
    ----------
    data : dict

    Returns
    -------
    bytes
    """
    return (json.dumps(data, indent=1) + "\n").encode()


# ------------------------------------------------------------ recognising


def is_report(data):
    """Whether a JSON object is a separation report.

    Parameters
    ----------
    data : dict

    Returns
    -------
    bool
        True when it holds an unmixing (as numbers, or encoded as the room
        models write it), or outputs and iterations.
    """
    return (
        "unmixing" in data
        or "unmixing_real" in data
        or ("outputs" in data and "iterations" in data)
    )


def is_sidecar(data):
    """Whether a JSON object is the sidecar of ``cocktail mix``.

    Parameters
    ----------
    data : dict

    Returns
    -------
    bool
        True when it lists sources and holds a mixing matrix or says it is
        convolutive.
    """
    return "sources" in data and ("mixing" in data or data.get("kind") == "convolutive")


def read_json(path, what):
    """A JSON object from a file, or the usual one-line error.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should hold, for the message (e.g. "a separation report").

    Returns
    -------
    dict

    Raises
    ------
    CocktailError
        When the file cannot be read, is not valid JSON or holds no JSON object.
    """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CocktailError(f"cannot read '{path}': no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CocktailError(f"cannot read '{path}': {reason}") from None
    except json.JSONDecodeError as exc:
        raise CocktailError(f"cannot read '{path}': not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CocktailError(f"cannot read '{path}': expected {what}, a JSON object")
    return data


def read_report(path):
    """The separation report at ``path``: its JSON, or a folder holding separation.json.

    Parameters
    ----------
    path : str or Path
        The report, or the output folder it is in.

    Returns
    -------
    (dict, Path)
        The report and the file it came from.

    Raises
    ------
    CocktailError
        When there is no such file or report, or it lacks ``algorithm`` or
        ``n_sources`` (it was not written by ``cocktail separate``).
    """
    p = Path(path)
    if not p.exists():
        raise CocktailError(f"cannot read '{p}': no such file or folder")
    if p.is_dir():
        if not (p / REPORT_NAME).is_file():
            raise CocktailError(f"no {REPORT_NAME} in '{p}': give the report of a separation")
        p = p / REPORT_NAME
    report = read_json(p, "a separation report")
    if "algorithm" not in report or "n_sources" not in report:
        raise CocktailError(f"'{p}' is not a separation report written by cocktail separate")
    return report, p


def listed_outputs(report, report_path, folder):
    """The speaker files a report names, each checked to exist.

    Parameters
    ----------
    report : dict
    report_path : str or Path
        Where the report was read from, for the message.
    folder : str or Path
        The folder the files are in.

    Returns
    -------
    list of Path, or None when the report names none (its separation went
    to standard output)

    Raises
    ------
    CocktailError
        When a listed file does not exist.
    """
    outputs = report.get("outputs")
    if not outputs:
        return None
    files = [Path(folder) / str(name) for name in outputs]
    for f in files:
        if not f.is_file():
            raise CocktailError(f"cannot read '{f}': no such file (listed in '{report_path}')")
    return files


def input_candidates(report, report_path):
    """Where the recording a report names may be now, most likely first.

    The report keeps the path as given on the command line; a relative one
    is tried from the working folder, then beside the report and up to two
    folders above it. Standard input and raw PCM from a pipe give nothing.

    Parameters
    ----------
    report : dict
    report_path : str or Path
        Where the report was read from.

    Returns
    -------
    list of Path
    """
    name = str(report.get("input_path") or report.get("input", ""))
    quoted = len(name) > 2 and name[0] == name[-1] == "'"
    if not report.get("input_path") and not quoted:
        return []
    rel = Path(name if report.get("input_path") else name[1:-1])
    here = Path(report_path).parent
    return [rel] + (
        [] if rel.is_absolute() else [here / rel, here.parent / rel, here.parent.parent / rel]
    )


# -------------------------------------------------------------- the report


def header(reader, options):
    """What a report says first: what went in and how the run was asked for.

    Parameters
    ----------
    reader : cocktail.io.stream.Reader
        The input (its name, path, sample rate and channels).
    options : cocktail.separation.Options

    Returns
    -------
    dict
    """
    return {
        "cocktail_version": __version__,
        "input": reader.name,
        "input_path": reader.path,
        "sample_rate": int(reader.sample_rate),
        "n_mics": int(reader.channels),
        "options": {k: v for k, v in asdict(options).items() if v is not None},
    }


def encode_unmixing(W):
    """The report's fields for per-bin unmixing matrices.

    Parameters
    ----------
    W : ndarray, shape (n_bins, n_sources, n_mics), complex
        float16 halves the size and keeps 3 significant digits; matrices
        with gains past its range are stored as float32.

    Returns
    -------
    dict
        ``unmixing_shape``, ``unmixing_dtype``, ``unmixing_encoding``,
        ``unmixing_real`` and ``unmixing_imag``.
    """
    dtype = "<f2" if np.abs(W).max() < FLOAT16_LIMIT else "<f4"

    def pack(a):
        return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode()

    return {
        "unmixing_shape": list(W.shape),
        "unmixing_dtype": dtype,
        "unmixing_encoding": UNMIXING_ENCODING,
        "unmixing_real": pack(W.real),
        "unmixing_imag": pack(W.imag),
    }


def encode_crosstalk(post):
    """The report's fields for the room model's crosstalk post-filter.

    Parameters
    ----------
    post : cocktail.bss.postfilter.PostFilter
        Its shares (at least 0, less than :data:`cocktail.bss.postfilter.MAX_SHARE`)
        are stored as float16.

    Returns
    -------
    dict
        ``crosstalk_shape``, ``crosstalk_dtype``, ``crosstalk_encoding``,
        ``crosstalk``, ``crosstalk_nfft`` and ``crosstalk_hop``.
    """
    return {
        "crosstalk_shape": list(post.shares.shape),
        "crosstalk_dtype": "<f2",
        "crosstalk_encoding": CROSSTALK_ENCODING,
        "crosstalk": base64.b64encode(
            np.ascontiguousarray(post.shares, dtype="<f2").tobytes()
        ).decode(),
        "crosstalk_nfft": post.nfft,
        "crosstalk_hop": post.hop,
    }


def decode_crosstalk(saved, n_sources):
    """The post-filter :func:`encode_crosstalk` stored, or None when there is none.

    Raises
    ------
    KeyError, TypeError, ValueError, binascii.Error
        When the fields are incomplete or do not fit ``n_sources`` outputs.
    """
    from .bss.postfilter import PostFilter

    if "crosstalk" not in saved:
        return None
    nfft = _whole(saved["crosstalk_nfft"], "crosstalk_nfft")
    hop = _whole(saved["crosstalk_hop"], "crosstalk_hop")
    if nfft < MIN_NFFT or nfft & (nfft - 1):
        raise ValueError(f"crosstalk_nfft {nfft} is not a power of two of at least {MIN_NFFT}")
    if not 1 <= hop <= nfft // 2:
        raise ValueError(f"crosstalk_hop {hop} is not between 1 and crosstalk_nfft/2")
    shape = [_whole(v, "crosstalk_shape") for v in saved["crosstalk_shape"]]
    if shape != [nfft // 2 + 1, n_sources, n_sources]:
        raise ValueError(f"crosstalk_shape {shape} does not fit crosstalk_nfft and the unmixing")
    dtype = saved.get("crosstalk_dtype", "<f2")
    if dtype not in REPORT_DTYPES:
        raise ValueError(f"unknown crosstalk_dtype {dtype!r}")
    a = np.frombuffer(base64.b64decode(saved["crosstalk"], validate=True), dtype)
    if a.size != np.prod(shape):
        raise ValueError(f"the stored crosstalk does not hold {shape} values")
    a = a.reshape(shape).astype(np.float64)
    if not (np.isfinite(a).all() and (a >= 0).all()):
        raise ValueError("the crosstalk holds negative or non-finite values")
    return PostFilter(a, nfft, hop)


def _whole(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{what} is not a whole number")
    return int(value)


def decode_unmixing(saved):
    """The per-bin matrices :func:`encode_unmixing` stored.

    Parameters
    ----------
    saved : dict
        A report with the fields :func:`encode_unmixing` writes.

    Returns
    -------
    ndarray, shape (n_bins, n_sources, n_mics), complex128

    Raises
    ------
    KeyError, TypeError, ValueError, binascii.Error
        When the fields are missing or do not hold the matrices they claim.
    """
    shape = [_whole(v, "unmixing_shape") for v in saved["unmixing_shape"]]
    dtype = saved.get("unmixing_dtype", "<f2")
    if dtype not in REPORT_DTYPES:
        raise ValueError(f"unknown unmixing_dtype {dtype!r}")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"unmixing_shape {shape} is not bins x sources x mics")
    parts = [
        np.frombuffer(base64.b64decode(saved[k], validate=True), dtype)
        for k in ("unmixing_real", "unmixing_imag")
    ]
    if any(p.size != np.prod(shape) for p in parts):
        raise ValueError(f"the stored matrices do not hold {shape} values")
    return (parts[0].reshape(shape) + 1j * parts[1].reshape(shape)).astype(np.complex128)


def _read_saved(path):
    try:
        if str(path) == "-":
            from .io.audio import stdin_stream

            text = stdin_stream().read().decode()
        else:
            with open(path) as f:
                text = f.read()
        return json.loads(text)
    except FileNotFoundError:
        raise CocktailError(f"cannot read '{path}': no such file") from None
    except IsADirectoryError:
        raise CocktailError(f"cannot read '{path}': it is a folder, not a report") from None
    except (OSError, ValueError) as exc:
        raise CocktailError(f"cannot read '{path}': not a separation report ({exc})") from None


class SavedUnmixing(NamedTuple):
    """An unmixing read back from a report, checked against the recording.

    Attributes
    ----------
    kind : {"instantaneous", "convolutive"}
    unmixing : ndarray, shape (n_sources, n_mics) or (n_bins, n_sources, n_mics)
        Real for the instantaneous model, complex for the room model.
    nfft : int or None
        The room model's STFT frame, in samples.
    hop : int or None
        The room model's STFT hop, in samples.
    postfilter : cocktail.bss.postfilter.PostFilter or None
        The room model's post-filter, when it used one.
    """

    kind: str
    unmixing: np.ndarray
    nfft: Optional[int] = None
    hop: Optional[int] = None
    postfilter: Optional[object] = None


def read_unmixing(path, n_mics, sample_rate, name):
    """The unmixing saved in a report, for a recording with the same microphones.

    Parameters
    ----------
    path : str
        A separation.json written by an earlier run, or ``-`` for stdin.
    n_mics : int
        Microphones of the recording it is for.
    sample_rate : int
        Its sample rate (a room unmixing only fits the rate it was made at).
    name : str
        How to call the recording in messages.

    Returns
    -------
    SavedUnmixing

    Raises
    ------
    CocktailError
        Unless the report holds a complete, finite unmixing for ``n_mics``
        microphones and no more sources than that (and, for the room model,
        a usable frame length and hop at the same sample rate).
    """
    saved = _read_saved(path)
    bad = f"cannot read '{path}': not a usable separation report"
    if not isinstance(saved, dict):
        raise CocktailError(f"{bad} (expected a JSON object)")
    try:
        if "unmixing_real" in saved:
            W = decode_unmixing(saved)
            nfft, hop = _whole(saved["nfft"], "nfft"), _whole(saved["hop"], "hop")
            if nfft < MIN_NFFT or nfft & (nfft - 1):
                raise ValueError(f"nfft {nfft} is not a power of two of at least {MIN_NFFT}")
            if not 1 <= hop <= nfft // 2:
                raise ValueError(f"hop {hop} is not between 1 and nfft/2")
            if W.shape[0] != nfft // 2 + 1:
                raise ValueError(f"{W.shape[0]} frequency bins do not match nfft {nfft}")
            if saved.get("sample_rate") != sample_rate:
                raise CocktailError(
                    f"the unmixing in '{path}' is for {saved.get('sample_rate')} Hz; "
                    f"{name} is at {sample_rate} Hz"
                )
            post = decode_crosstalk(saved, W.shape[1])
            found = SavedUnmixing("convolutive", W, nfft, hop, post)
        else:
            W = np.asarray(saved["unmixing"], dtype=float)
            if W.ndim != 2 or W.size == 0:
                raise ValueError("unmixing is not a matrix")
            found = SavedUnmixing("instantaneous", W)
        saved_mics = W.shape[-1]
        if "mean" in saved:
            stored_mean = np.asarray(saved["mean"], dtype=float)
            if stored_mean.shape != (saved_mics,) or not np.isfinite(stored_mean).all():
                raise ValueError(f"mean is not {saved_mics} finite numbers")
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CocktailError(f"{bad} ({what})") from None
    if not np.isfinite(W).all():
        raise CocktailError(f"{bad} (its unmixing holds NaN or infinite values)")
    if saved_mics != n_mics:
        raise CocktailError(
            f"the unmixing in '{path}' is for {saved_mics} microphones; {name} has {n_mics}"
        )
    if W.shape[-2] > saved_mics:
        raise CocktailError(f"{bad} (it has more sources than microphones)")
    return found


# ------------------------------------------------------------- the sidecar


def instantaneous_sidecar(A, seed, matrix_path):
    """The sidecar's description of ``x = scale * A s``.

    Parameters
    ----------
    A : ndarray, shape (n_mics, n_sources)
    seed : int or None
        The seed that drew ``A`` (None when it was read from ``matrix_path``).
    matrix_path : str or None

    Returns
    -------
    dict
    """
    return {
        "kind": "instantaneous",
        "model": "x = scale * mixing @ sources",
        "seed": seed,
        "matrix_file": matrix_path,
        "mixing": A.tolist(),
        "condition_number": float(np.linalg.cond(A)),
    }


def convolutive_sidecar():
    """The sidecar's description of a room mixture (after ``rir`` or ``room``).

    Returns
    -------
    dict
    """
    return {
        "kind": "convolutive",
        "model": "x_m = scale * sum_s (h_ms * source_s); truth: each source at mic 1",
    }


def sidecar(
    description,
    *,
    sources,
    sample_rate,
    n_mics,
    n_sources,
    n_samples,
    scale,
    subtype,
    truth: Optional[List[str]],
    warnings,
):
    """The whole sidecar of ``cocktail mix``, in the order it is written.

    Parameters
    ----------
    description : dict
        How the mixture was made (see :func:`instantaneous_sidecar`,
        :func:`convolutive_sidecar`), in order.
    sources : list of str
        The source files, as given.
    sample_rate : int
        In Hz.
    n_mics : int
    n_sources : int
    n_samples : int
        Length of the mixture, in samples.
    scale : float
        The gain applied to the whole mixture.
    subtype : str
        libsndfile sample format of the mixture file.
    truth : list of str or None
        The files the sources were written to exactly as mixed.
    warnings : list of str

    Returns
    -------
    dict
    """
    return {
        "cocktail_version": __version__,
        **description,
        "sources": [str(s) for s in sources],
        "sample_rate": sample_rate,
        "n_mics": int(n_mics),
        "n_sources": n_sources,
        "n_samples": int(n_samples),
        "scale": scale,
        "subtype": subtype,
        "truth": truth,
        "warnings": warnings,
    }
