"""Test mixtures with the ground truth kept: x = A s, scaled with headroom."""

import csv
import io
import json
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import List

import numpy as np

from .errors import CocktailError
from .io import audio

#: Largest ratio of largest to smallest singular value of a random mixing matrix.
MAX_CONDITION = 4.0
#: Peak of a mixture after scaling (about -1 dBFS).
MIX_PEAK = 0.9


@dataclass
class Mixture:
    """A test mixture and what is kept of how it was made.

    Attributes
    ----------
    signals : ndarray, shape (n_mics, n_samples)
        The recording.
    truth : ndarray, shape (n_sources, n_samples)
        Each source as mixed (at microphone 1 in rooms).
    sidecar : dict
        What cocktail mix writes beside the mixture.
    n_mics : int
    """

    signals: np.ndarray
    truth: np.ndarray
    sidecar: dict
    n_mics: int


@dataclass
class Sources:
    """Sources read for mixing, as :func:`load_sources` made them.

    Attributes
    ----------
    signals : ndarray, shape (n_sources, n_samples)
        Exactly as they enter the mix.
    sample_rate : int
        In Hz.
    notes : list of str
        Adjustments made, for stderr.
    """

    signals: np.ndarray
    sample_rate: int
    notes: List[str] = field(default_factory=list)


def _resample(x, rate_from, rate_to):
    from scipy.signal import resample_poly

    g = gcd(rate_from, rate_to)
    return resample_poly(x, rate_to // g, rate_from // g)


def load_sources(paths, *, sample_rate=None) -> Sources:
    """Read mono sources, downmixing, resampling and padding as needed.

    Parameters
    ----------
    paths : list of str
        One audio file per source; channels of a multi-channel file are
        averaged to mono.
    sample_rate : int, optional
        Rate to resample to, in Hz (default: the highest rate of the files).

    Returns
    -------
    Sources
        Shorter sources padded with silence to the longest.

    Raises
    ------
    CocktailError
        When a file cannot be read, has no samples, NaN or infinite samples,
        or is silent.
    """
    clips = [audio.read(p) for p in paths]
    notes = []
    for c in clips:
        if c.frames == 0:
            raise CocktailError(f"{c.name} contains no samples")
        bad = np.flatnonzero(~np.isfinite(c.samples).all(axis=0))
        if bad.size:
            raise CocktailError(
                f"{c.name} contains NaN or infinite samples (first at "
                f"{bad[0] / c.sample_rate:.3f} s)"
            )
    rate = sample_rate or max(c.sample_rate for c in clips)
    signals = []
    for c in clips:
        x = c.samples
        if c.channels > 1:
            notes.append(f"{c.name} has {c.channels} channels: downmixed to mono")
            x = x.mean(axis=0, keepdims=True)
        x = x[0]
        if c.sample_rate != rate:
            notes.append(f"{c.name} resampled from {c.sample_rate} Hz to {rate} Hz")
            x = _resample(x, c.sample_rate, rate)
        signals.append(x)
    n = max(len(x) for x in signals)
    if any(len(x) != n for x in signals):
        notes.append(f"shorter sources padded with silence to {n / rate:.2f} s")
    S = np.zeros((len(signals), n))
    for i, x in enumerate(signals):
        S[i, : len(x)] = x
    for i, c in enumerate(clips):
        if not np.any(S[i]):
            raise CocktailError(f"{c.name} is silent: every sample is zero")
    return Sources(signals=S, sample_rate=rate, notes=notes)


#: Two sources whose correlation is this close to +-1 are the same signal.
SAME_SIGNAL = 1 - 1e-9
#: Condition number past which a mixing matrix cannot be undone in practice.
SINGULAR_CONDITION = 1e6


def mixing_warnings(S, names, A=None):
    """What makes a test mixture impossible to separate fully, one line each.

    Parameters
    ----------
    S : ndarray, shape (n_sources, n_samples)
        The sources as they enter the mix.
    names : list of str
        How to call each source in messages.
    A : ndarray, shape (n_mics, n_sources), optional
        The mixing matrix of an instantaneous mixture.

    Returns
    -------
    list of str
    """
    warnings = []
    Sc = S - S.mean(axis=1, keepdims=True)
    power = np.einsum("st,st->s", Sc, Sc)
    for i in range(len(S)):
        for j in range(i + 1, len(S)):
            r = np.dot(Sc[i], Sc[j]) / np.sqrt(power[i] * power[j]) if power[i] * power[j] else 0
            if abs(r) > SAME_SIGNAL:
                warnings.append(
                    f"sources {i + 1} and {j + 1} ({names[i]}, {names[j]}) are the "
                    "same signal: no separation can tell them apart"
                )
    if A is not None:
        cond = np.linalg.cond(A)
        if not cond < SINGULAR_CONDITION:
            warnings.append(
                f"the mixing matrix is singular or nearly so (condition number "
                f"{cond:.3g}): not every source can be recovered from the mixture"
            )
    return warnings


def random_mixing(n_mics, n_sources, random_state=None):
    """A random mixing matrix with condition number at most MAX_CONDITION.

    Directions are Gaussian; singular values are drawn between 1 and
    1/MAX_CONDITION, so no two microphones hear nearly the same blend.
    Signs are deterministic: microphone 1 hears every source with positive
    gain. The largest gain is 1.

    Parameters
    ----------
    n_mics : int
    n_sources : int
    random_state : int or numpy.random.Generator, optional
        Seed of the draw.

    Returns
    -------
    ndarray, shape (n_mics, n_sources)
    """
    rng = np.random.default_rng(random_state)
    G = rng.standard_normal((n_mics, n_sources))
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    k = min(n_mics, n_sources)
    s = np.sort(rng.uniform(1.0 / MAX_CONDITION, 1.0, k))[::-1]
    s[0], s[-1] = 1.0, max(s[-1], 1.0 / MAX_CONDITION)
    A = (U * s) @ Vt
    # Deterministic signs: microphone 1 hears every source with positive gain.
    A = A * np.where(A[0] < 0, -1.0, 1.0)
    return A / np.abs(A).max()


def read_matrix(path):
    """A mixing matrix from JSON (a list of rows, or an object with "mixing") or CSV.

    Parameters
    ----------
    path : str or Path
        The file, or ``-`` for standard input.

    Returns
    -------
    ndarray, shape (n_mics, n_sources)
        One row per microphone.

    Raises
    ------
    CocktailError
        When the file cannot be read, does not hold rows of numbers, or holds
        NaN or infinite values.
    """
    p = Path(path)
    try:
        text = audio.stdin_stream().read().decode() if str(path) == audio.STDIO else p.read_text()
    except FileNotFoundError:
        raise CocktailError(f"cannot read matrix '{p}': no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CocktailError(f"cannot read matrix '{p}': {exc}") from None
    try:
        if text.lstrip().startswith(("[", "{")):
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("mixing")
        else:
            data = [
                [float(v) for v in row if v.strip()]
                for row in csv.reader(io.StringIO(text))
                if any(v.strip() for v in row)
            ]
        A = np.array(data, dtype=float)
    except (ValueError, TypeError) as exc:
        raise CocktailError(f"cannot read matrix '{p}': expected rows of numbers ({exc})") from None
    if A.ndim != 2 or A.size == 0:
        raise CocktailError(
            f"cannot read matrix '{p}': expected rows of numbers, one row per microphone"
        )
    if not np.all(np.isfinite(A)):
        raise CocktailError(f"matrix '{p}' contains NaN or infinite values")
    return A


def mix(S, A, *, peak=MIX_PEAK):
    """Mix instantaneously and scale to a peak.

    Parameters
    ----------
    S : ndarray, shape (n_sources, n_samples)
    A : ndarray, shape (n_mics, n_sources)
    peak : float
        Largest magnitude of the mixture.

    Returns
    -------
    x : ndarray, shape (n_mics, n_samples)
        x = scale * A s, max abs(x) = peak.
    scale : float

    Raises
    ------
    CocktailError
        When the mixture is silent (the matrix cancels every source).
    """
    X = A @ S
    top = np.abs(X).max()
    if top == 0:
        raise CocktailError("the mixture is silent: the mixing matrix cancels every source")
    scale = peak / top
    return X * scale, float(scale)


def read_rirs(paths, n_sources, sample_rate, mics=None):
    """Measured responses, one multi-channel WAV per source.

    Parameters
    ----------
    paths : list of str
        One file per source, one channel per microphone.
    n_sources : int
    sample_rate : int
        The sources' rate, in Hz: every response must be at it.
    mics : list of int, optional
        Channels (0-based) to pick from every file; by default all of them.

    Returns
    -------
    ndarray, shape (n_mics, n_sources, n_taps)
        Shorter responses padded with zeros to the longest.

    Raises
    ------
    CocktailError
        When the number of files is not ``n_sources``, a response is at
        another rate, has NaN or infinite samples or is silent, the files have
        different channel counts, a channel picked does not exist, or fewer
        than two microphones remain.
    """
    if len(paths) != n_sources:
        raise CocktailError(
            f"one impulse response per source is needed: {n_sources} sources, "
            f"{len(paths)} responses"
        )
    responses = []
    for p in paths:
        r = audio.read(p)
        if r.sample_rate != sample_rate:
            raise CocktailError(
                f"impulse response {r.name} is at {r.sample_rate} Hz but the "
                f"sources are at {sample_rate} Hz; resample it first"
            )
        if not np.isfinite(r.samples).all():
            raise CocktailError(f"impulse response {r.name} contains NaN or infinite samples")
        if r.frames == 0 or not np.any(r.samples):
            raise CocktailError(f"impulse response {r.name} is silent")
        responses.append(r)
    channels = {r.channels for r in responses}
    if len(channels) > 1:
        detail = ", ".join(f"{r.name}: {r.channels}" for r in responses)
        raise CocktailError(
            f"the impulse responses have different channel counts ({detail}); "
            "each needs one channel per microphone"
        )
    n_ch = channels.pop()
    if mics is None:
        mics = list(range(n_ch))
    bad = [m + 1 for m in mics if not 0 <= m < n_ch]
    if bad:
        raise CocktailError(
            f"the impulse responses have {n_ch} channels; there is no channel {bad[0]}"
        )
    if len(mics) < 2:
        raise CocktailError(
            "a room mixture needs at least two microphones (channels of the impulse responses)"
        )
    taps = max(r.frames for r in responses)
    H = np.zeros((len(mics), n_sources, taps))
    for s, r in enumerate(responses):
        H[:, s, : r.frames] = r.samples[mics]
    return H


def images(S, H):
    """Each source as heard at each microphone.

    Parameters
    ----------
    S : ndarray, shape (n_sources, n_samples)
    H : ndarray, shape (n_mics, n_sources, n_taps)
        Impulse responses.

    Returns
    -------
    ndarray, shape (n_mics, n_sources, n_samples)
        The convolutions, cut to the sources' length.
    """
    from scipy.signal import oaconvolve

    n = S.shape[1]
    return np.array([[oaconvolve(s, h)[:n] for s, h in zip(S, row)] for row in H])


def convolutive_mix(S, H, *, peak=MIX_PEAK):
    """Mix through impulse responses and scale to a peak.

    Parameters
    ----------
    S : ndarray, shape (n_sources, n_samples)
    H : ndarray, shape (n_mics, n_sources, n_taps)
        Impulse responses.
    peak : float
        Largest magnitude of the mixture.

    Returns
    -------
    x : ndarray, shape (n_mics, n_samples)
        x = scale * sum of images, max abs(x) = peak.
    truth : ndarray, shape (n_sources, n_samples)
        The images at microphone 1, unscaled.
    scale : float

    Raises
    ------
    CocktailError
        When the mixture is silent.
    """
    img = images(S, H)
    X = img.sum(axis=1)
    top = np.abs(X).max()
    if top == 0:
        raise CocktailError("the mixture is silent")
    scale = peak / top
    return X * scale, img[0], float(scale)


def responses_from_sidecar(side, base, sample_rate):
    """The room responses a convolutive mixture was made with, from its sidecar.

    Measured responses are read again (a relative path is tried from the
    working folder, then from ``base``); a simulated room is simulated again.

    Parameters
    ----------
    side : dict
        The sidecar of cocktail mix.
    base : str or Path
        The folder of the sidecar.
    sample_rate : int
        In Hz.

    Returns
    -------
    ndarray, shape (n_mics, n_sources, n_taps)

    Raises
    ------
    CocktailError
        When the sidecar names neither impulse responses nor a room, or as
        :func:`read_rirs` and :func:`cocktail.room.room_responses`.
    """
    try:
        if side.get("rir"):
            paths = []
            for p in side["rir"]:
                q = Path(p)
                paths.append(str(q if q.exists() or q.is_absolute() else Path(base) / q))
            return read_rirs(paths, len(paths), sample_rate, [m - 1 for m in side["rir_mics"]])
        room = side.get("room")
        if not room:
            raise CocktailError("the sidecar names neither impulse responses nor a room")
        from .room import room_responses

        H, _, _ = room_responses(
            side["n_sources"],
            side["n_mics"],
            room["rt60"],
            sample_rate,
            size=room["size"],
            spacing=room["mic_spacing"],
            distance=room["source_distance"],
            seed=room["seed"],
        )
    except KeyError as exc:
        raise CocktailError(f"the sidecar does not say how its room was made (no {exc})") from None
    except (TypeError, ValueError) as exc:
        raise CocktailError(f"the sidecar's room is not usable ({exc})") from None
    return H


def matrix_for(n_sources, *, mics=None, seed=0, matrix_path=None, room=False):
    """The mixing matrix of an instantaneous mixture: read, or drawn at random.

    Parameters
    ----------
    n_sources : int
    mics : int, optional
        Microphones (rows); default one per source.
    seed : int
        Seed of the random matrix.
    matrix_path : str, optional
        A matrix file (see :func:`read_matrix`) to use instead.
    room : bool
        The mixture is convolutive: no matrix.

    Returns
    -------
    ndarray, shape (n_mics, n_sources), or None for a room

    Raises
    ------
    CocktailError
        As :func:`read_matrix`, or when the matrix read does not have one
        column per source and ``mics`` rows.
    """
    if matrix_path is not None:
        A = read_matrix(matrix_path)
        if A.shape[1] != n_sources:
            raise CocktailError(
                f"matrix '{matrix_path}' has {A.shape[1]} columns but there are {n_sources} "
                "sources (one column per source)"
            )
        if mics is not None and A.shape[0] != mics:
            raise CocktailError(
                f"matrix '{matrix_path}' has {A.shape[0]} rows but --mics is {mics} "
                "(one row per microphone)"
            )
        return A
    if room:
        return None
    return random_mixing(mics or n_sources, n_sources, seed)


def make_mixture(
    loaded,
    sources,
    A,
    *,
    seed,
    matrix_path,
    mics,
    rir_paths,
    rir_mics,
    rt60,
    room_size,
    mic_spacing,
    source_distance,
    subtype,
    warnings,
    truth,
):
    """Mix loaded sources, instantaneously with ``A`` or through a room.

    Parameters
    ----------
    loaded : Sources
        The sources, as :func:`load_sources` made them.
    sources : list of str
        Their files, as given (recorded in the sidecar).
    A : ndarray, shape (n_mics, n_sources), or None
        The mixing matrix; None for a room: the measured responses
        ``rir_paths`` (channels ``rir_mics``, counted from 1), else a
        simulated shoebox room with reverberation time ``rt60``.
    seed : int
        Seed of ``A`` (unless read from ``matrix_path``) or of the room layout.
    matrix_path : str or None
        The file ``A`` was read from (recorded in the sidecar).
    mics : int or None
        Microphones of a room (default: one per source, or every channel
        of the responses).
    rir_paths : list of str or None
        Measured impulse responses, one multi-channel WAV per source.
    rir_mics : list of int or None
        Channels of the responses to use, counted from 1 (default: the
        first ``mics``, or all).
    rt60 : float
        Reverberation time of the simulated room, in seconds.
    room_size : sequence of 3 floats
    mic_spacing : float
    source_distance : float
        The simulated room, in metres (see :func:`cocktail.room.room_responses`).
    subtype : str
        Sample format the mixture is written in (recorded in the sidecar).
    warnings : list of str
        Recorded in the sidecar.
    truth : list of str or None
        Where the true sources are written, recorded in the sidecar.

    Returns
    -------
    Mixture

    Raises
    ------
    CocktailError
        As :func:`mix`, :func:`read_rirs`, :func:`convolutive_mix` and
        :func:`cocktail.room.room_responses`.
    """
    from .report import convolutive_sidecar, instantaneous_sidecar, sidecar

    n = loaded.signals.shape[0]
    if A is not None:
        X, scale = mix(loaded.signals, A)
        true = loaded.signals
        made = instantaneous_sidecar(A, None if matrix_path else seed, matrix_path)
    else:
        if rir_paths:
            chans = [c - 1 for c in rir_mics] if rir_mics else (list(range(mics)) if mics else None)
            H = read_rirs(rir_paths, n, loaded.sample_rate, chans)
            made = {
                "rir": [str(p) for p in rir_paths],
                "rir_mics": [c + 1 for c in (chans if chans is not None else range(H.shape[0]))],
            }
        else:
            from .room import room_responses

            H, src_pos, mic_pos = room_responses(
                n,
                mics or n,
                rt60,
                loaded.sample_rate,
                size=room_size,
                spacing=mic_spacing,
                distance=source_distance,
                seed=seed,
            )
            made = {
                "room": {
                    "rt60": rt60,
                    "size": list(room_size),
                    "mic_spacing": mic_spacing,
                    "source_distance": source_distance,
                    "seed": seed,
                    "sources_xyz": np.round(src_pos, 4).tolist(),
                    "mics_xyz": np.round(mic_pos, 4).tolist(),
                }
            }
        X, true, scale = convolutive_mix(loaded.signals, H)
        made.update(convolutive_sidecar())
    n_mics = X.shape[0]
    side = sidecar(
        made,
        sources=sources,
        sample_rate=loaded.sample_rate,
        n_mics=n_mics,
        n_sources=n,
        n_samples=X.shape[1],
        scale=scale,
        subtype=subtype,
        truth=truth,
        warnings=warnings,
    )
    return Mixture(signals=X, truth=true, sidecar=side, n_mics=n_mics)
