"""From a multi-microphone recording to one signal per speaker, with a report.

This is the core behind ``cocktail separate``. It checks the recording,
chooses the mixing model, estimates the unmixing from a bounded,
representative part of the recording (all of it when it is short), then
applies it block by block while reading and writing, so a recording of any
length separates in bounded memory. Outputs are projected back to
microphone 1, ordered by energy and given headroom. It never prints; warnings
come back in the result.
"""

import collections
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Union

import numpy as np

from .appliers import (
    Adaptive,
    Convolutive,
    Instantaneous,
    MemorySink,
    Separator,
    Sink,
    blocks_of,
    peak_of,
)
from .bss.common import steady_samples
from .bss.ica import ALGORITHMS as ICA_ALGORITHMS
from .bss.ica import DESCRIPTIONS as ICA_DESCRIPTIONS
from .bss.ica import TOL, default_max_iter, ica
from .bss.iva import default_nfft
from .bss.postfilter import PostFilter, not_used
from .bss.scaling import energy_order, headroom_gain, project_back
from .bss.stft import MIN_NFFT
from .bss.whitening import covariance_spectrum
from .errors import CocktailError
from .report import header, read_unmixing

MODELS = ("auto", "instantaneous", "convolutive")
#: Two channels whose correlation is this close to +-1 are the same signal.
DUPLICATE_CORRELATION = 1 - 1e-9
#: Fewest samples worth separating, whatever the number of sources.
MIN_SAMPLES = 400
#: How much of a long recording the unmixing is estimated from: at most this
#: many seconds, in at most FIT_SEGMENTS pieces of FIT_PIECE_SECONDS or
#: more, spread evenly over the recording...
FIT_SECONDS = 60.0
FIT_SEGMENTS = 12
FIT_PIECE_SECONDS = 5.0
#: ...and at most this many samples over all channels (bounds the memory).
FIT_MAX_VALUES = 8_000_000
#: More microphones than any array has: an array passed samples x microphones.
MAX_MICROPHONES = 1024
#: Seconds per block when applying the unmixing.
BLOCK_SECONDS = 1.0
#: An adaptive run that took longer to separate its blocks than they last
#: (the start's one-off count and learning left out) is warned about once
#: this many seconds of sound have gone through: from a live input its
#: output would fall further and further behind, and the recorder feeding it
#: would drop samples when the pipe between them fills.
PACE_MIN_SECONDS = 5.0
#: The clock the separation's pace is measured with (a test may slow it down).
_clock = time.perf_counter
#: A live room stream of this many microphones or more has its outputs made
#: (and written) on a second thread while the separation learns from the next
#: block (:class:`_Outputs`). Measured through the command line, on a minute
#: of stream: 8 microphones 18% less time, 3 to 6 microphones 7 to 30% less;
#: with 2 the threads' turns at the interpreter cost more than they overlap
#: (3 to 5% more time).
OUTPUT_THREAD_MICS = 3
#: At most this many blocks' outputs are waiting or in the making at once
#: (what bounds their memory).
OUTPUT_QUEUE = 2
#: Longest default block of the adaptive mode for instantaneous mixtures.
INSTANT_BLOCK = 0.25
#: Live room separation counting from its first seconds: with this many
#: microphones or more, a count of two or more speakers is said to be unsure.
#: On the benchmark's 12 arrays with more microphones than talkers (4, 6 and
#: 8 microphones) the count from 2 s kept every microphone's output; with 2
#: and 3 microphones it was right on all 30 rooms.
LIVE_COUNT_MICS = 4
#: Seconds of a live stream's start from which the model is chosen and the
#: speakers counted, by default; --count-seconds sets it.
LIVE_COUNT_SECONDS = 2.0
#: ...and, in a room heard by LIVE_COUNT_MICS or more microphones, the
#: seconds the speakers are counted from (the model is still chosen on the
#: first LIVE_COUNT_SECONDS), from which on such a count is no longer said to
#: be unsure: on the benchmark's 12 arrays (4 to 8 microphones, three draws)
#: the count from the first 2, 3, 4 and 6 s was right on 1, 1, 5 and 9 (from
#: 2 s it mostly kept one output per microphone, and 8 outputs of 8
#: microphones run at about real time). Output waits for it.
LIVE_ARRAY_COUNT_SECONDS = 6.0
#: ...and, when that count is in doubt (unsure, or it kept outputs that the
#: louder ones explain as reverberation because there were too few of them
#: to drop, see cocktail.bss.counting.REVERB_MANY), the seconds it is made
#: again from.  On the benchmark's 25 arrays of five draws (4 to 8
#: microphones) the count from 6 s was wrong on 5 (office arrays: 4 or 3
#: speakers where 2 or 3 talk), and in doubt on exactly those 5; from 10 s
#: it is right on 24 (the other keeps one more, unsure).  On 30 harder
#: simulated arrays (2 to 4 talkers, 4 to 8 microphones 3 to 20 cm apart):
#: right from 6 s on 11, with the second count on 14; two counts went to
#: one fewer than talk, as a 10 s file's would.
LIVE_ARRAY_RECOUNT_SECONDS = 10.0
#: The least --count-seconds: the model and the count need a second of sound.
MIN_COUNT_SECONDS = 1.0


def count_seconds_too_short(value, name):
    """The complaint, naming the option ``name``, when ``value`` (a count's
    seconds, or None) is below MIN_COUNT_SECONDS; None when it is not."""
    if value is None or value >= MIN_COUNT_SECONDS:
        return None
    return (
        f"{name} must be at least {MIN_COUNT_SECONDS:g} (the model and the count need a "
        f"second of sound), got {value:g}"
    )


#: What ``n_sources`` may say instead of a number: count them, or one per microphone.
SOURCE_CHOICES = ("auto", "all")


@dataclass
class Options:
    """Everything a separation run can be told; the defaults live here.

    Checked when made: a value no run could use raises CocktailError naming
    the field (the command line checks its options before, in its own words).

    Attributes
    ----------
    n_sources : int, "auto", "all" or None
        Speakers to separate: a number, "auto" (or None) to count them, "all"
        for one per microphone.
    model : {"auto", "instantaneous", "convolutive"}
        The mixing model; "auto" chooses it from the recording.
    max_iter : int, optional
        Iteration limit of the solver (default: the solver's own).
    tol : float, optional
        Stopping tolerance (default: the model's own).
    seed : int
        Seed of the solver's starting point.
    fit_seconds : float
        Seconds of the recording, at most, the unmixing is estimated from.
    block_seconds : float
        Block length when applying the unmixing, in seconds.
    live_block_seconds : float, optional
        Block of the adaptive mode, in seconds: how often its unmixing is
        updated and, with the STFT frame of rooms, how far output trails
        input. Longer blocks cost less. Default: ``block_seconds`` up to
        0.125 s for rooms and 0.25 s for instantaneous mixtures.
    count_seconds : float, optional
        Adaptive mode: seconds of the stream's start, at least
        MIN_COUNT_SECONDS, from which the model is chosen and the speakers
        counted, before any output (default LIVE_COUNT_SECONDS; the speakers
        of a room heard by LIVE_COUNT_MICS or more microphones are counted
        from LIVE_ARRAY_COUNT_SECONDS; with ``model="convolutive"`` the
        separation starts at once, one output per microphone, unless this is
        given).
    adaptive : bool
        Separate block-online, following a changing mixture.
    nfft : int, optional
        STFT frame length of the room model, a power of two of at least 16.
    algorithm : str, optional
        Solver name (see :func:`algorithms_for`).
    apply : str, optional
        A separation.json whose unmixing to reuse instead of estimating one.
    postfilter : bool
        Let the room model scale each time-frequency cell down by the
        crosstalk it holds (:mod:`cocktail.bss.postfilter`); False keeps
        every speaker a linear filter of the recording.
    """

    n_sources: Optional[Union[int, str]] = None
    model: str = "auto"
    max_iter: Optional[int] = None
    tol: Optional[float] = None
    seed: int = 0
    fit_seconds: float = FIT_SECONDS
    block_seconds: float = BLOCK_SECONDS
    adaptive: bool = False
    nfft: Optional[int] = None
    algorithm: Optional[str] = None
    apply: Optional[str] = None
    live_block_seconds: Optional[float] = None
    count_seconds: Optional[float] = None
    postfilter: bool = True

    def __post_init__(self):
        if isinstance(self.n_sources, str) and self.n_sources not in SOURCE_CHOICES:
            raise CocktailError(
                f"the number of sources must be a whole number, 'auto' or "
                f"'all', got {self.n_sources!r}"
            )
        if (
            not isinstance(self.n_sources, str)
            and self.n_sources is not None
            and (not _whole(self.n_sources) or self.n_sources < 1)
        ):
            raise CocktailError(
                f"n_sources must be a whole number of at least 1, 'auto' or "
                f"'all', got {self.n_sources!r}"
            )
        if self.model not in MODELS:
            raise CocktailError(f"unknown model '{self.model}': choose one of {', '.join(MODELS)}")
        if self.max_iter is not None and (not _whole(self.max_iter) or self.max_iter < 1):
            raise CocktailError(
                f"max_iter must be a whole number of at least 1, got {self.max_iter!r}"
            )
        if not _whole(self.seed) or self.seed < 0:
            raise CocktailError(f"seed must be a whole number of at least 0, got {self.seed!r}")
        optional = ("tol", "live_block_seconds", "count_seconds")
        for name in ("fit_seconds", "block_seconds") + optional:
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if not _positive(value):
                raise CocktailError(f"{name} must be a positive number, got {value!r}")
        too_short = count_seconds_too_short(self.count_seconds, "count_seconds")
        if too_short:
            raise CocktailError(too_short)
        if self.nfft is not None and (
            not _whole(self.nfft) or self.nfft < MIN_NFFT or self.nfft & (self.nfft - 1)
        ):
            raise CocktailError(
                f"nfft must be a power of two of at least {MIN_NFFT}, got {self.nfft!r}"
            )


def _whole(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _positive(value):
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
        and value > 0
    )


@dataclass
class Separation:
    """What :func:`separate` returns.

    Attributes
    ----------
    outputs : ndarray, shape (n_sources, n_samples)
        Each speaker as heard at microphone 1, loudest first.
    report : dict
        The run's report, as written to separation.json.
    warnings : list of str
        What the user should know of the run.
    """

    outputs: np.ndarray
    report: dict
    warnings: List[str] = field(default_factory=list)


# ------------------------------------------------------------------ checks


def _seconds(index, rate):
    return f"{index / rate:.3f} s"


def check_finite(X, sample_rate, name, offset=0):
    """Refuse samples that are NaN or infinite.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    sample_rate : int
        In Hz, to give the time of the first bad sample.
    name : str
        How to call the recording in messages.
    offset : int
        Samples of the recording before ``X`` (when ``X`` is a block of it).

    Raises
    ------
    CocktailError
        Naming the channel and time of the first NaN or infinite sample.
    """
    finite = np.isfinite(X)
    if not finite.all():
        ch, t = np.argwhere(~finite)[0]
        raise CocktailError(
            f"{name} contains NaN or infinite samples (first in channel {ch + 1} "
            f"at {_seconds(t + offset, sample_rate)})"
        )


def check_recording(X, sample_rate, name="the recording"):
    """Reject recordings nothing can be separated from.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    sample_rate : int
        In Hz.
    name : str
        How to call the recording in messages.

    Raises
    ------
    CocktailError
        When the recording has no samples, one channel, NaN or infinite
        samples, or every channel is constant.
    """
    n_mics, n_samples = X.shape
    if n_samples == 0:
        raise CocktailError(f"{name} contains no samples")
    if n_mics < 2:
        raise CocktailError(
            f"{name} has one channel; separation needs at least two microphones "
            "(one channel per microphone)"
        )
    check_finite(X, sample_rate, name)
    if not np.any(X - X[:, :1]):
        raise CocktailError(f"{name} is silent: every channel is constant")


def check_length(n_samples, n_sources, sample_rate, name="the recording"):
    """Refuse recordings too short for the statistics ICA relies on.

    At least MIN_SAMPLES samples, and 100 per source squared.

    Parameters
    ----------
    n_samples : int
    n_sources : int
    sample_rate : int
        In Hz, to give the length in seconds.
    name : str
        How to call the recording in messages.

    Raises
    ------
    CocktailError
        When the recording is too short.
    """
    need = max(MIN_SAMPLES, 100 * n_sources**2)
    if n_samples < need:
        raise CocktailError(
            f"{name} is too short to separate {n_sources} sources: {n_samples} samples "
            f"({n_samples / sample_rate:.3f} s); at least {need} are needed"
        )


def diagnose_rank(X):
    """Explain a rank-deficient recording: silent and duplicated channels.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)

    Returns
    -------
    list of str
        One reason per silent channel (power under 1e-20 of the loudest) and
        per channel duplicating an earlier one that is not itself a duplicate
        (correlation past DUPLICATE_CORRELATION; eight copies of one channel
        give seven reasons, not 28); when there are none, that the channels
        are linear combinations of each other.
    """
    Xc = X - X.mean(axis=1, keepdims=True)
    power = np.einsum("mt,mt->m", Xc, Xc)
    dead = [m for m in range(len(power)) if power[m] <= 1e-20 * power.max()]
    reasons = [f"channel {m + 1} is silent" for m in dead]
    originals = []
    for b in (m for m in range(len(power)) if m not in dead):
        for a in originals:
            r = np.dot(Xc[a], Xc[b]) / np.sqrt(power[a] * power[b])
            if abs(r) > DUPLICATE_CORRELATION:
                reasons.append(f"channel {b + 1} duplicates channel {a + 1}")
                break
        else:
            originals.append(b)
    return reasons or ["the channels are linear combinations of each other"]


def _fixed(n_sources):
    """The forced number of sources, or None when it is to be found."""
    return None if n_sources is None or n_sources in SOURCE_CHOICES else n_sources


def check_sources(n_sources, n_mics, name):
    """Refuse a number of sources no recording with ``n_mics`` channels can give.

    Parameters
    ----------
    n_sources : int, "auto", "all" or None
        As :attr:`Options.n_sources`.
    n_mics : int
    name : str
        How to call the recording in messages.

    Raises
    ------
    CocktailError
        When ``n_sources`` is an unknown word, or a number outside 1..n_mics.
    """
    if isinstance(n_sources, str) and n_sources not in SOURCE_CHOICES:
        raise CocktailError(
            f"the number of sources must be a whole number, 'auto' or 'all', got {n_sources!r}"
        )
    n_sources = _fixed(n_sources)
    if n_sources is not None and not 1 <= n_sources <= n_mics:
        raise CocktailError(
            f"the number of sources must be between 1 and {n_mics} (the number of "
            f"microphones in {name}), got {n_sources}"
        )


def signal_rank(X):
    """Independent signals the channels of X (n_mics, n_samples) carry: the
    covariance eigenvalues above the recording's own noise floor (its
    quantisation step, or round-off; a scaled copy of a 16-bit channel
    differs from it by rounding only)."""
    from .bss.counting import noise_floor

    _, eigval, _ = covariance_spectrum(X)
    return int(np.sum(eigval > noise_floor(X, eigval[0]))) if eigval[0] > 0 else 0


def resolve_sources(X, n_sources, name="the recording"):
    """Decide how many sources to separate; warn when the rank forces fewer.

    Components under the recording's own noise floor (its quantisation step,
    or round-off) carry no signal and do not count towards the rank.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    n_sources : int, "auto", "all" or None
        As :attr:`Options.n_sources`.
    name : str
        How to call the recording in messages.

    Returns
    -------
    n : int
        The given number, or the number of microphones when it is to be
        found (an upper bound for counting), lowered to the rank.
    warnings : list of str
    rank : int
        Independent signals the channels carry.

    Raises
    ------
    CocktailError
        As :func:`check_sources`; when a given number exceeds the rank, or
        the rank is under 2.
    """
    n_mics = X.shape[0]
    check_sources(n_sources, n_mics, name)
    n_sources = _fixed(n_sources)
    rank = signal_rank(X)
    wanted = n_mics if n_sources is None else n_sources
    warnings = []
    if rank < wanted:
        why = "; ".join(diagnose_rank(X))
        if n_sources is not None or rank < 2:
            raise CocktailError(
                f"cannot separate {wanted} sources from {name}: its {n_mics} channels carry "
                f"only {rank} independent signal{'s' if rank != 1 else ''} ({why})"
            )
        warnings.append(
            f"{name} carries only {rank} independent signals ({why}): separating {rank} sources"
        )
        wanted = rank
    return wanted, warnings, rank


# ---------------------------------------------------------------- warnings

#: Share of samples at full scale from which a recording counts as clipped.
CLIPPED_SHARE = 1e-3
#: Bits of the integer sample formats (full scale is one step below 1).
INTEGER_BITS = {"PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "PCM_S8": 8, "PCM_U8": 8}
#: Outputs whose excess kurtosis is this close to 0 are near-Gaussian.
GAUSSIAN_KURTOSIS = 0.25
#: Samples per channel these checks look at at once (bounds their memory).
CHECK_CHUNK = 1 << 16
#: Samples per output the kurtosis is measured on, evenly spaced.
KURTOSIS_SAMPLES = 1 << 17


def clipping(X, subtype, name):
    """A warning when many samples sit at full scale (a clipped recording).

    Integer samples are clipped at their format's full scale.  Floating-point
    samples may go past 1.0 without loss, so there a channel counts as clipped
    where its samples pile up at its own peak level (a plateau that speech or
    music does not have), whatever that level is.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    subtype : str
        libsndfile sample format of the input (integers reach 1 - 2**-(bits-1)).
    name : str

    Returns
    -------
    list of str, empty or one warning
    """
    if not X.size:
        return []
    bits = INTEGER_BITS.get(subtype)
    if bits:
        top = np.full(X.shape[0], 1.0 - 2.0 ** -(bits - 1))
    else:
        top = np.zeros(X.shape[0])
        low = np.full(X.shape[0], np.inf)
        for i in range(0, X.shape[1], CHECK_CHUNK):
            a = np.abs(X[:, i : i + CHECK_CHUNK])
            top, low = np.maximum(top, a.max(axis=1)), np.minimum(low, a.min(axis=1))
        top = np.where((top > 0) & (low < top), top, np.inf)  # silent or constant: not clipped
    at_top = sum(
        np.count_nonzero(np.abs(X[:, i : i + CHECK_CHUNK]) >= top[:, None], axis=1)
        for i in range(0, X.shape[1], CHECK_CHUNK)
    )  # per channel
    share = float(np.sum(at_top)) / X.size
    if share < CLIPPED_SHARE:
        return []
    clipped = top[at_top >= CLIPPED_SHARE * X.shape[1]]  # the channels that are
    where = "at full scale" if bits or np.all(clipped >= 1.0) else "at their channel's peak level"
    return [
        f"{name} is clipped: {share:.1%} of its samples are {where}; clipping is not "
        "a mixture of the sources, so the separation will be poorer"
    ]


def gaussian_outputs(Y):
    """A warning when two or more outputs are near-Gaussian.

    ICA tells sources apart by how far from Gaussian they are; of several
    Gaussian sources it recovers only some blend.

    Parameters
    ----------
    Y : ndarray, shape (n_sources, n_samples)
        The separated outputs.

    Returns
    -------
    list of str, empty or one warning
    """
    Yc = Y - Y.mean(axis=1, keepdims=True)
    power = np.mean(Yc**2, axis=1)
    live = power > 0
    kurtosis = np.full(len(Y), np.inf)
    kurtosis[live] = np.mean(Yc[live] ** 4, axis=1) / power[live] ** 2 - 3.0
    near = [i + 1 for i in np.flatnonzero(np.abs(kurtosis) < GAUSSIAN_KURTOSIS)]
    if len(near) < 2:
        return []
    listed = ", ".join(str(i) for i in near)
    return [
        f"outputs {listed} are near-Gaussian (excess kurtosis under {GAUSSIAN_KURTOSIS}): "
        "independent component analysis cannot separate Gaussian sources from each other, "
        "so they may still be mixed"
    ]


def ignored_by_model(model, options):
    """Options of the room model given to a run that uses the instantaneous one.

    (A solver name the model lacks is dealt with by :func:`solver_for`.)

    Parameters
    ----------
    model : str
        The model the run uses.
    options : Options

    Returns
    -------
    list of str, empty or one warning
    """
    given = []
    if options.nfft is not None:
        given.append("nfft")
    if not options.postfilter:
        given.append("no-postfilter")
    if model != "instantaneous" or not given:
        return []
    return [
        f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} to the room "
        "(convolutive) model only: ignored by the instantaneous model"
    ]


def ignored_by_apply(options):
    """Estimation options given with a saved unmixing, which needs no estimation.

    Parameters
    ----------
    options : Options

    Returns
    -------
    list of str, empty or one warning
        Naming the options that differ from their defaults.
    """
    defaults = Options()
    given = [
        k
        for k in ("model", "nfft", "algorithm", "max_iter", "tol", "fit_seconds")
        if getattr(options, k) != getattr(defaults, k)
    ]
    if not given:
        return []
    return [
        f"{', '.join(given)} {'are' if len(given) > 1 else 'is'} ignored: the unmixing is "
        "applied as saved, not estimated"
    ]


# ------------------------------------------------------------ fit planning


def fit_plan(n_frames, n_channels, sample_rate, fit_seconds=FIT_SECONDS, segments=FIT_SEGMENTS):
    """Which (start, length) pieces of a recording the unmixing is estimated from.

    The whole recording when it fits the budget (``fit_seconds`` and
    FIT_MAX_VALUES samples over all channels); otherwise up to ``segments``
    equal pieces, each at least FIT_PIECE_SECONDS long (the room model needs
    whole STFT frames, many of them), spread evenly from start to end, so
    that every part of a long recording, and every speaker in it, is
    represented.

    Parameters
    ----------
    n_frames : int
        Length of the recording, in samples.
    n_channels : int
    sample_rate : int
        In Hz.
    fit_seconds : float
        The budget, in seconds.
    segments : int
        Most pieces.

    Returns
    -------
    list of (int, int)
        Start and length of each piece, in samples.
    """
    budget = int(min(fit_seconds * sample_rate, FIT_MAX_VALUES // max(n_channels, 1)))
    budget = max(budget, 1)
    if n_frames <= budget:
        return [(0, n_frames)]
    segments = max(1, min(segments, int(budget // (FIT_PIECE_SECONDS * sample_rate))))
    length = budget // segments
    starts = np.linspace(0, n_frames - length, segments).astype(int)
    return [(int(s), length) for s in starts]


def choose_model(X, sample_rate, model):
    """The mixing model to use, and why.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    sample_rate : int
        In Hz.
    model : {"auto", "instantaneous", "convolutive"}
        As asked; "auto" detects it from ``X`` (:mod:`cocktail.bss.detect`).

    Returns
    -------
    model : str
        "instantaneous" or "convolutive".
    reason : str

    Raises
    ------
    CocktailError
        For an unknown model.
    """
    if model not in MODELS:
        raise CocktailError(f"unknown model '{model}': choose one of {', '.join(MODELS)}")
    if model != "auto":
        return model, "chosen with --model"
    from .bss.detect import choose_model as detect

    chosen, reason = detect(X, sample_rate)
    return chosen, f"auto: {reason}"


def load_unmixing(path, X, sample_rate, name, postfilter=True):
    """The applier saved in a previous report, for a recording with the same microphones.

    Parameters
    ----------
    path : str
        A separation.json written by an earlier run, or ``-`` for stdin.
    X : ndarray, shape (n_mics, n_samples)
        The recording (or the part of it in memory) to apply it to; its mean
        is removed before unmixing.
    sample_rate : int
        In Hz.
    name : str
        How to call the recording in messages.
    postfilter : bool, default True
        Use the room model's crosstalk post-filter when the report has one;
        False applies the unmixing alone.

    Returns
    -------
    (Separator, dict, list of str)
        The applier, the report's account of it, and warnings.

    Raises
    ------
    CocktailError
        As :func:`cocktail.report.read_unmixing`.
    """
    saved = read_unmixing(path, X.shape[0], sample_rate, name)
    mean = X.mean(axis=1, keepdims=True)
    if saved.kind == "convolutive":
        post = saved.postfilter if postfilter else None
        sep = Convolutive(saved.unmixing, mean, saved.nfft, saved.hop, post)
    else:
        sep = Instantaneous(saved.unmixing, mean)
    report = {
        "model": sep.kind,
        "model_reason": f"unmixing applied from '{path}'",
        "n_sources": int(saved.unmixing.shape[-2]),
        "algorithm": f"unmixing reused from '{path}'",
        "parameters": {"apply": str(path)},
        "iterations": 0,
        "converged": True,
    }
    return sep, report, []


def algorithms_for(model):
    """The solver names ``--algorithm`` takes for a model, the default first.

    Parameters
    ----------
    model : {"instantaneous", "convolutive"}

    Returns
    -------
    tuple of str
    """
    if model == "instantaneous":
        return ICA_ALGORITHMS
    from .bss.iva import ALGORITHMS, DEFAULT_ALGORITHM

    return (DEFAULT_ALGORITHM,) + tuple(a for a in ALGORITHMS if a != DEFAULT_ALGORITHM)


def check_algorithm(algorithm, model):
    """Refuse an algorithm no model has, or one the model chosen with --model lacks.

    Parameters
    ----------
    algorithm : str or None
        None (the default solver) is always accepted.
    model : str
        As given with --model; "auto" accepts the solvers of either model.

    Raises
    ------
    CocktailError
        When the algorithm is unknown or not one of the model's.
    """
    if algorithm is None:
        return
    every = {
        "instantaneous": algorithms_for("instantaneous"),
        "convolutive": algorithms_for("convolutive"),
    }
    if not any(algorithm in names for names in every.values()):
        raise CocktailError(
            f"unknown --algorithm '{algorithm}': choose one of "
            + " or ".join(f"{', '.join(names)} ({kind})" for kind, names in every.items())
        )
    if model in every and algorithm not in every[model]:
        raise CocktailError(
            f"--algorithm {algorithm} is not a solver of the {model} model: choose one of "
            f"{', '.join(every[model])}"
        )


def solver_for(model, options, warnings):
    """The solver to run: ``options.algorithm`` when the model has it.

    With ``--model auto`` a name the chosen model lacks (it may suit other
    recordings of a batch) gives a warning and that model's default.

    Parameters
    ----------
    model : {"instantaneous", "convolutive"}
        The model the run uses.
    options : Options
    warnings : list of str
        Appended to in place.

    Returns
    -------
    str

    Raises
    ------
    CocktailError
        As :func:`check_algorithm`, when the name is not one of the model
        chosen with --model.
    """
    names = algorithms_for(model)
    wanted = options.algorithm
    if wanted is None or wanted in names:
        return wanted or names[0]
    check_algorithm(wanted, options.model)
    warnings.append(
        f"--algorithm {wanted} is not a solver of the {model} model, which "
        f"--model auto chose: running its default, {names[0]}"
    )
    return names[0]


def count_sources(X, sample_rate, model, upper, options, transients_left_out=False):
    """How many speakers ``X`` holds.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    sample_rate : int
        In Hz.
    model : {"instantaneous", "convolutive"}
    upper : int
        At most this many: the number of components above the noise floor, as
        :func:`resolve_sources` found (the instantaneous count ignores it).
    options : Options
        Its ``seed`` seeds the room model's count.
    transients_left_out : bool
        Whether X is already without its transients (an instantaneous count
        leaves them out, :func:`cocktail.bss.common.steady_samples`: a door
        slam is no source).

    Returns
    -------
    cocktail.bss.counting.Count
    """
    from .bss.counting import count_instantaneous, count_room

    if model == "instantaneous":
        steady = None if transients_left_out else steady_samples(X)
        return count_instantaneous(X if steady is None else X[:, steady])
    return count_room(X, sample_rate, upper, options.seed)


def fit(X, sample_rate, options: Options, *, name="the recording", callback=None):
    """Estimate the unmixing from ``X``.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
    sample_rate : int
        In Hz.
    options : Options
    name : str
        How to call the recording in messages.
    callback : callable, optional
        ``callback(iteration, value, what)`` as the solver progresses.

    Returns
    -------
    (Separator, dict, list of str)
        The applier (:class:`Instantaneous` or :class:`Convolutive`, outputs
        as heard at microphone 1, loudest first), the report's account of the
        estimation, and warnings.

    Raises
    ------
    CocktailError
        As :func:`resolve_sources`, :func:`check_length`, :func:`choose_model`
        and :func:`solver_for`.
    """
    n_sources, warnings, rank = resolve_sources(X, options.n_sources, name)
    check_length(X.shape[1], n_sources, sample_rate, name)
    model, reason = choose_model(X, sample_rate, options.model)
    report = {"model": model, "model_reason": reason}
    # an instantaneous mixture's transients (door slams) are found once, for
    # the count and the unmixing alike
    steady = steady_samples(X) if model == "instantaneous" else None
    n_sources, heard_again = _settle_count(
        X if steady is None else X[:, steady],
        sample_rate,
        model,
        n_sources,
        options,
        name,
        report,
        warnings,
        left_out=model == "instantaneous",
    )
    report["n_sources"] = int(n_sources)
    warnings.extend(ignored_by_model(model, options))
    algorithm = solver_for(model, options, warnings)
    if model == "instantaneous":
        sep, converged, n_iter, final = _fit_instantaneous(
            X, sample_rate, n_sources, algorithm, options, callback, report, warnings, steady
        )
    else:
        merge = False
        if rank == X.shape[0] > n_sources > 1:  # every microphone a dimension
            if heard_again is None:  # told the number: the count's trial says
                heard_again = count_sources(X, sample_rate, model, rank, options).heard_again > 0
            merge = heard_again
        sep, converged, n_iter, final = _fit_room(
            X, sample_rate, n_sources, algorithm, options, callback, report, merge
        )
    if not converged:
        warnings.append(
            f"the solver did not converge in {n_iter} iterations ({final}); the separation "
            "may be poor: raise the iteration limit (max_iter)"
        )
    return sep, report, warnings


def _settle_count(
    X, sample_rate, model, n_sources, options, name, report, warnings, counted=None, left_out=False
):
    """The number of speakers to separate: counted when asked (with the
    evidence in ``report`` and a warning when unsure), else as given; and
    whether the count's trial separation heard a talker in more than one
    output (None when there was no count).  ``counted``: the count of ``X``
    when it has been made already; ``left_out``: X is without its
    transients (:func:`count_sources`)."""
    heard_again = None
    if options.n_sources in (None, "auto") and n_sources > 1:
        if counted is None:
            counted = count_sources(X, sample_rate, model, n_sources, options, left_out)
        n_sources = counted.n
        heard_again = counted.heard_again > 0
        report["source_count"] = counted.as_report()
        if n_sources == 1:
            warnings.append(
                f"{name} seems to hold one source ({counted.method}): it is written "
                "as one speaker (give the number of sources to separate more)"
            )
        report["sources_reason"] = f"auto: {counted.describe()}"
        if counted.unsure:
            warnings.append(
                f"unsure how many speakers {name} holds: kept {counted.n}, one more "
                "than the clearest count (give the number of sources to override it)"
            )
    else:
        how = "--sources" if _fixed(options.n_sources) is not None else "one per microphone"
        report["sources_reason"] = f"{n_sources} chosen with {how}"
    return n_sources, heard_again


def _all_microphones(n_mics, n_sources, wiener, merged=None):
    """The report's account of how the room model used the microphones."""
    if merged is not None:
        twice = sum(len(g) > 1 for g in merged)
        left = n_mics - sum(len(g) for g in merged)
        shared = ""
        if left:
            which = "the one" if left == 1 else f"each of the {left}"
            shared = (
                f"; {which} left over (reverberation) shared among them per bin by their "
                "shares of its power"
            )
        return (
            "one output per microphone; each speaker is the sum of its outputs "
            f"({twice} of {n_sources} heard in more than one, see merged_outputs){shared}"
        )
    if n_mics > n_sources:
        return (
            "Wiener filters over all microphones"
            if wiener
            else "the separation of each bin's principal subspace"
        )
    return "every microphone is a dimension of the separation" + (
        "; then Wiener filters over them, whose outputs carry less crosstalk" if wiener else ""
    )


def _twice_the_frame(res):
    """The report's account of the Wiener filters at twice the frame, if used."""
    if not res.lengthened:
        return ""
    return (
        f"; Wiener filters at twice the frame ({res.nfft} samples) finish it: "
        f"the room rings long (estimated decay time {res.decay:.2f} s)"
    )


def _fit_instantaneous(
    X, sample_rate, n_sources, algorithm, options, callback, report, warnings, steady=None
):
    """ICA of an instantaneous mixture: the applier, and whether it converged
    (converged, iterations, what was still changing); fills ``report``.
    ``steady``: the samples it is estimated from (None: all), the others
    transients (:func:`cocktail.bss.common.steady_samples`)."""
    mean = X.mean(axis=1, keepdims=True)
    max_iter = default_max_iter(algorithm) if options.max_iter is None else options.max_iter
    tol = TOL if options.tol is None else options.tol
    if steady is not None:  # transients are left out of the estimation
        report["transient_samples_left_out"] = int(np.sum(~steady))
    res = ica(
        X if steady is None else X[:, steady],
        n_sources=n_sources,
        max_iter=max_iter,
        tol=tol,
        random_state=options.seed,
        callback=callback,
        algorithm=algorithm,
    )
    W = project_back(res.unmixing, res.mixing)
    W = W[energy_order(W, X @ X.T / X.shape[1] - mean @ mean.T)]
    sep = Instantaneous(W, mean)
    step = max(1, X.shape[1] // KURTOSIS_SAMPLES)
    warnings.extend(gaussian_outputs(sep.process(X[:, ::step])))
    report.update(
        algorithm=ICA_DESCRIPTIONS[algorithm],
        parameters={
            "algorithm": algorithm,
            "max_iter": max_iter,
            "tol": tol,
            "seed": options.seed,
        },
        iterations=res.n_iter,
        converged=res.converged,
        gradient_norm=res.gradient_norm,
        history=res.history,
        history_label="gradient norm",
        history_cost=res.cost_history,
        history_seconds=res.time_history,
        stages=res.stages,
        densities=res.densities,
    )
    return sep, res.converged, res.n_iter, f"gradient norm {res.gradient_norm:.2e}"


def _fit_room(X, sample_rate, n_sources, algorithm, options, callback, report, merge):
    """IVA per STFT bin of a room recording: the applier, and whether it
    converged (converged, iterations, what was still changing); fills
    ``report``.  ``merge``: try one output per microphone, each talker the
    sum of its outputs (``separate_convolutive``)."""
    from .bss.iva import separate_convolutive

    mean = X.mean(axis=1, keepdims=True)
    nfft = options.nfft or default_nfft(sample_rate, X.shape[1])
    kwargs = {} if options.max_iter is None else {"max_iter": options.max_iter}
    if options.tol is not None:
        kwargs["tol"] = options.tol
    report_cost = None if callback is None else (lambda i, v: callback(i, v, "cost"))
    res = separate_convolutive(
        X,
        n_sources=n_sources,
        nfft=nfft,
        algorithm=algorithm,
        random_state=options.seed,
        callback=report_cost,
        postfilter=options.postfilter,
        merge=merge,
        sample_rate=sample_rate,
        long_frames=options.nfft is None,
        **kwargs,
    )
    D = res.unmixing
    # Loudest first: the energy each output has at microphone 1.
    power = np.einsum("nt,nt->n", res.sources, res.sources)
    order = np.lexsort((np.arange(len(power)), -np.round(power / power.max(), 12)))
    post = res.postfilter
    if post is not None:
        post = PostFilter(post.shares[:, order][:, :, order], post.nfft, post.hop)
    sep = Convolutive(D[:, order], mean, res.nfft, res.hop, post)
    if res.merged is not None:
        report["merged_outputs"] = [[int(k) for k in res.merged[i]] for i in order]
    if res.decay is not None:
        report["decay_time_seconds"] = None if np.isnan(res.decay) else round(res.decay, 3)
    if res.transients:  # door slams, coughs: left out of the estimation
        report["transient_frames_left_out"] = res.transients
    report.update(
        algorithm=f"independent vector analysis per STFT bin ({res.algorithm})",
        parameters={
            "nfft": res.nfft,
            "hop": res.hop,
            "algorithm": res.algorithm,
            "seed": options.seed,
            **kwargs,
        },
        iterations=res.n_iter,
        converged=res.converged,
        history=res.history,
        history_label="cost",
        all_microphones=_all_microphones(X.shape[0], n_sources, res.beamformed, res.merged)
        + _twice_the_frame(res),
        postfilter=(
            not_used(options.postfilter, n_sources, "a silent recording: nothing to filter")
            if post is None
            else post.describe(
                "Wiener gain per time-frequency cell against the crosstalk measured per bin"
            )
        ),
    )
    return sep, res.converged, res.n_iter, "cost still changing"


# ------------------------------------------------------------------- running


@dataclass
class RunResult:
    """What :func:`run` did: the report, the warnings, the sink it wrote, the applier it used.

    ``report["output_gain"]`` is None when the sink was asked to choose the
    headroom gain itself (``run(..., defer_gain=True)``); the caller then
    passes the gain it chose to :meth:`set_gain`.

    Attributes
    ----------
    report : dict
        The report, header included.
    warnings : list of str
    sink : Sink
        Written, neither committed nor discarded.
    separator : Separator
        The applier, headroom gain included.
    """

    report: dict
    warnings: List[str]
    sink: Sink
    separator: Separator

    def set_gain(self, gain):
        """Record the headroom gain a deferring sink applied after the run.

        Parameters
        ----------
        gain : float
            Scales the separator and updates the report's unmixing unless it is 1.
        """
        self.report["output_gain"] = gain
        if gain != 1.0:
            self.separator = self.separator.scaled(gain)
            self.report.update(self.separator.report())


def _check_channels(reader):
    if reader.channels < 2:
        raise CocktailError(
            f"{reader.name} has one channel; separation needs at least two microphones "
            "(one channel per microphone)"
        )
    if reader.channels > MAX_MICROPHONES:
        raise CocktailError(
            f"{reader.name} has {reader.channels} channels, more than any microphone array "
            f"(at most {MAX_MICROPHONES} are accepted): one channel per microphone is expected"
        )


def _doubt(count):
    """Why an array's count from its first seconds is made again from longer."""
    if count.explained_kept:
        k = count.explained_kept
        return (
            f"{k} output{'s' if k > 1 else ''} counted as talkers followed the louder ones' "
            "power as reverberation does"
        )
    return "it was unsure"


def _doubt_live_array_count(mixing, n_sources, n_mics, seconds, name, report, warnings):
    """A live room count from an array of LIVE_COUNT_MICS or more microphones,
    from less than LIVE_ARRAY_COUNT_SECONDS, is unsure: say so, and how to
    give the number or count from longer (in place of the count's own
    warning when it was unsure already)."""
    count = report.get("source_count")
    if mixing != "convolutive" or count is None:
        return
    if n_mics < LIVE_COUNT_MICS or n_sources < 2 or seconds >= LIVE_ARRAY_COUNT_SECONDS:
        return
    if count["unsure"]:  # the count's own doubt: this says more (how to count from longer)
        said = f"unsure how many speakers {name} holds: kept {n_sources},"
        warnings[:] = [w for w in warnings if not w.startswith(said)]
    count["unsure"] = True
    warnings.append(
        f"unsure how many speakers {name} holds: kept {n_sources}; counted from its first "
        f"{seconds:g} s, a room heard by {LIVE_COUNT_MICS} or more microphones often shows "
        "its reverberation as extra talkers: if fewer people talk, give --sources N "
        f"(fewer outputs, and a faster live separation), or --count-seconds "
        f"{LIVE_ARRAY_COUNT_SECONDS:g} to count from longer (output then starts later)"
    )


def _start_adaptive(reader, options, callback):
    """The online applier, from a first stretch that checks the input and,
    with ``model="auto"``, chooses the model (a room needs longer) and, with
    ``n_sources`` "auto", counts the speakers (a room heard by an array from
    LIVE_ARRAY_COUNT_SECONDS, and again from LIVE_ARRAY_RECOUNT_SECONDS when
    that count is in doubt, or when one talker was heard: a stream that goes
    on then keeps 2 outputs). A first stretch that carries fewer
    independent signals than needed is held until one does
    (:func:`_past_too_few`). With ``model="convolutive"``
    the separation starts at once, before there is enough to count from:
    one output per microphone then.

    Returns (applier, report, warnings, first samples, block length): rooms
    are read in the online model's blocks, instantaneous mixtures in
    ``options.block_seconds`` (the applier updates every 0.25 s within them).
    """
    from .bss.online_iva import BLOCK_SECONDS as ROOM_BLOCK
    from .bss.online_iva import describe as room_algorithm

    name, rate = reader.name, reader.sample_rate
    at_once = options.model == "convolutive" and options.count_seconds is None
    judge = LIVE_COUNT_SECONDS if options.count_seconds is None else options.count_seconds
    wait = int((ROOM_BLOCK if at_once else judge) * rate)
    lead, first = _past_silence(reader, max(wait, MIN_SAMPLES))
    if lead and not first.shape[1]:
        raise CocktailError(f"{name} is silent: every channel is constant")
    quiet = np.zeros((reader.channels, 0))
    # an array's count from LIVE_ARRAY_COUNT_SECONDS, if made and kept; and
    # why it was made again from longer, if it was
    early, recount = None, ""
    one_talker = False  # one talker heard at first, and the count made again from longer
    if not at_once:  # the model (and the count) are judged from `first`
        quiet, first = _past_quiet(reader, first, wait, rate)
        check_finite(quiet, rate, name, lead)
    need = _fixed(options.n_sources) or 2
    faint, first = _past_too_few(
        reader, first, max(wait, MIN_SAMPLES), need, rate, name, lead + quiet.shape[1]
    )
    check_recording(first, rate, name)
    n_sources, warnings, _ = resolve_sources(first, options.n_sources, name)
    mixing, reason = choose_model(first, rate, options.model)
    if (
        options.count_seconds is None
        and mixing == "convolutive"
        and not at_once
        and options.n_sources in (None, "auto")
        and reader.channels >= LIVE_COUNT_MICS
    ):  # an array's room count needs longer: read on to LIVE_ARRAY_COUNT_SECONDS
        more = reader.read_all(limit=max(int(LIVE_ARRAY_COUNT_SECONDS * rate) - first.shape[1], 0))
        check_finite(more, rate, name, lead + quiet.shape[1] + first.shape[1])
        first = np.concatenate([first, more], axis=1)
        if n_sources > 1 and first.shape[1] >= int(LIVE_ARRAY_COUNT_SECONDS * rate):
            early = count_sources(first, rate, mixing, n_sources, options)
            if early.unsure or early.explained_kept:  # count again from longer
                more = reader.read_all(
                    limit=int(LIVE_ARRAY_RECOUNT_SECONDS * rate) - first.shape[1]
                )
                check_finite(more, rate, name, lead + quiet.shape[1] + first.shape[1])
                if more.shape[1]:  # the stream goes on: the count is made again
                    recount = f"from the first {first.shape[1] / rate:g} s {_doubt(early)}"
                    first, early = np.concatenate([first, more], axis=1), None
    if (
        options.count_seconds is None
        and mixing == "convolutive"
        and not at_once
        and options.n_sources in (None, "auto")
        and n_sources > 1
        and first.shape[1] < int(LIVE_ARRAY_RECOUNT_SECONDS * rate)
    ):  # one talker so far is no count for a stream: count again from longer
        if early is None:
            early = count_sources(first, rate, mixing, n_sources, options)
        if early.n == 1:
            more = reader.read_all(limit=int(LIVE_ARRAY_RECOUNT_SECONDS * rate) - first.shape[1])
            check_finite(more, rate, name, lead + quiet.shape[1] + faint.shape[1] + first.shape[1])
            if more.shape[1]:
                recount = f"from the first {first.shape[1] / rate:g} s one talker was heard"
                first, early, one_talker = np.concatenate([first, more], axis=1), None, True
    if one_talker and first.shape[1] >= int(LIVE_ARRAY_RECOUNT_SECONDS * rate):
        # the stream goes on: a talker who starts later must have an output
        early = count_sources(first, rate, mixing, n_sources, options)
        if early.n == 1:
            early = dataclasses.replace(
                early,
                n=2,
                unsure=True,
                method=f"{early.method}; one talker in the first "
                f"{first.shape[1] / rate:g} s of a stream that goes on: 2 outputs, so that "
                "a talker who starts later is separated too",
            )
    counted = first.shape[1] / rate  # seconds the model and the count were judged on
    counting = {}
    if at_once and options.n_sources in (None, "auto") and n_sources > 1:
        counting["sources_reason"] = (
            f"{n_sources}, one per microphone: with --model convolutive the live separation "
            "starts at once, before the speakers can be counted"
        )
    else:
        n_sources, _ = _settle_count(
            first, rate, mixing, n_sources, options, name, counting, warnings, early
        )
        if recount:
            counting["sources_reason"] += f"; counted from the first {counted:g} s, as {recount}"
            counting["source_count"]["recounted_from_seconds"] = round(counted, 3)
        _doubt_live_array_count(
            mixing, n_sources, reader.channels, round(counted, 1), name, counting, warnings
        )
    block = max(int(options.block_seconds * rate), 1)
    live = options.live_block_seconds
    if mixing == "convolutive":
        step = min(options.block_seconds, ROOM_BLOCK) if live is None else live
        block = max(int(step * rate), 1)
        algorithm = room_algorithm(n_sources)
    else:
        step = min(options.block_seconds, INSTANT_BLOCK) if live is None else live
        if live is not None:
            block = max(int(step * rate), 1)
        algorithm = "block-online natural-gradient ICA (Amari, Cichocki & Yang)"
    warnings.extend(ignored_by_model(mixing, options))
    framing = {}
    nfft = None  # the instantaneous model has no frames
    if mixing == "convolutive":
        nfft = _live_frame(first, rate, n_sources, step, options.nfft, at_once, framing)
    sep = Adaptive(
        reader.channels,
        n_sources,
        rate,
        step,
        options.seed,
        callback,
        room=mixing == "convolutive",
        postfilter=options.postfilter,
        nfft=nfft,
    )
    report = {
        "model": "adaptive",
        "mixing_model": mixing,
        "model_reason": reason if options.model == "auto" else "chosen with --adaptive",
        **counting,
        **framing,
        "n_sources": int(n_sources),
        "algorithm": algorithm,
        "parameters": {
            "block_seconds": step,
            "seed": options.seed,
            "count_seconds": None if at_once else round(counted, 3),
        },
    }
    sep.heard_from((lead + quiet.shape[1] + faint.shape[1]) / rate)
    held = np.concatenate([quiet, faint, first], axis=1)
    sep.prime(held, lead / rate)  # a start held for the count is learnt from first
    if lead:
        report["silent_start_seconds"] = round(lead / rate, 3)
        warnings.append(
            f"{name} began with {lead / rate:.2f} s of digital silence (every channel "
            "constant): the live separation started at the first sound, and that stretch "
            "is written as silence"
        )
    if quiet.shape[1]:
        report["quiet_start_seconds"] = round(quiet.shape[1] / rate, 3)
        warnings.append(
            f"{name} began with {quiet.shape[1] / rate:.2f} s of steady noise and no sound "
            "above it: the model and the number of speakers were judged from the first "
            "sound on"
        )
    if faint.shape[1]:
        report["few_signals_start_seconds"] = round(faint.shape[1] / rate, 3)
        after = "started" if at_once else "judged the model and the number of speakers"
        warnings.append(
            f"{name} began with {faint.shape[1] / rate:.2f} s in which its channels carried "
            f"fewer than {need} independent signals (sound under the recording's noise floor, "
            f"or one source alone): the live separation {after} from what followed"
        )
    return sep, report, warnings, (lead, held), block


def _past_too_few(reader, first, wanted, need, rate, name, offset):
    """While a stream's first stretch ``first`` carries fewer than ``need``
    independent signals (:func:`signal_rank`: a quiet room whose hiss lies
    under the quantisation noise, a click in it, one source alone in an
    instantaneous mixture), hold it and take the next ``wanted`` samples
    instead, for at most MAX_QUIET_SECONDS: a stream is judged from its first
    stretch with something to separate, not refused for its start.  Returns
    (the samples held, possibly none; the stretch to judge from: all that
    was read when the stream ended or the time ran out first, so that the
    rank's error describes it; also when a channel has stayed constant for
    DEAD_CHANNEL_SECONDS while another has not: a dead microphone, which
    waiting will not mend)."""
    held, total = [], 0
    varied = np.zeros(first.shape[0], dtype=bool)  # channels that have moved
    while (rank := signal_rank(first)) < need and total + first.shape[1] < MAX_QUIET_SECONDS * rate:
        varied |= np.any(first != first[:, :1], axis=1)
        if total >= DEAD_CHANNEL_SECONDS * rate and varied.any() and not varied.all():
            break  # a microphone that is dead, not waiting for a talker
        more = reader.read_all(limit=wanted)
        if not more.shape[1]:
            break
        check_finite(first, rate, name, offset + total)
        held.append(first)
        total += first.shape[1]
        first = more
    if not held:
        return first[:, :0], first
    if rank < need:  # (the rank of ``first`` as the loop left it)
        return first[:, :0], np.concatenate(held + [first], axis=1)
    # judged from the first tenth of a second that carries them on
    step = max(int(0.1 * rate), 1)
    start = next(
        (i for i in range(0, first.shape[1], step) if signal_rank(first[:, i : i + step]) >= need),
        0,
    )
    if start:
        more = reader.read_all(limit=start)
        check_finite(more, rate, name, offset + total + first.shape[1])
        held.append(first[:, :start])
        first = np.concatenate([first[:, start:], more], axis=1)
    return np.concatenate(held, axis=1), first


def _live_frame(first, rate, n_sources, step, given, at_once, report):
    """The live room model's STFT frame: ``given`` (--nfft), else chosen from
    the held start ``first`` by the room's decay time
    (:func:`cocktail.bss.online_iva.room_frame`); starting at once, the
    default. The reason, and the decay time when estimated, go to ``report``."""
    from .bss.online_iva import LONG_DECAY, default_nfft, latency_seconds, room_frame

    if given is not None:
        report["frame_reason"] = f"STFT frames of {given} samples, given with --nfft"
        return given
    if at_once:
        return None
    nfft, decay = room_frame(first, rate, n_sources)
    if decay is None:
        return nfft
    report["decay_time_seconds"] = round(decay, 3)
    heard = f"decay time {decay:.2f} s estimated on the first {first.shape[1] / rate:.3g} s"
    short = default_nfft(rate)
    if nfft == short:
        report["frame_reason"] = f"{heard}, under {LONG_DECAY:g} s: STFT frames of {nfft} samples"
        return nfft
    report["frame_reason"] = (
        f"auto: the room rings long ({heard}, {LONG_DECAY:g} s or more): STFT frames of "
        f"{nfft} samples, output {latency_seconds(rate, step, nfft):.2f} s behind its input "
        f"(--nfft {short} keeps it {latency_seconds(rate, step, short):.2f} s)"
    )
    return nfft


#: A live stream's first stretch is steady noise (no one talking yet) when
#: the power of its 0.1 s blocks varies less than this factor (6 dB; speech
#: varies by more than 10 dB from syllable to pause)...
QUIET_SPREAD = 4.0
#: ...and a sound has started with the first block this factor (10 dB) above
#: the quietest one.
SOUND_RISE = 10.0
#: Most seconds of steady noise held while waiting for a sound; after them the
#: stream is judged from what there is.
MAX_QUIET_SECONDS = 30.0
#: ...but a channel constant for this long while another moves is a dead
#: microphone: the stream is judged (and refused, if it carries too few
#: signals) at once rather than after MAX_QUIET_SECONDS.
DEAD_CHANNEL_SECONDS = 5.0


def _past_quiet(reader, first, wanted, rate):
    """When ``first`` (a stream's first stretch) is steady noise, read on until
    a sound rises above it (at most MAX_QUIET_SECONDS), then ``wanted``
    samples from that sound on. Returns (the noise held before the sound,
    possibly empty; the samples to judge the stream from)."""
    block = max(int(0.1 * rate), 1)
    empty = first[:, :0]
    n = first.shape[1] // block
    if n < 4 or not np.all(np.isfinite(first)):
        return empty, first
    offset = first.mean(axis=1, keepdims=True)

    def power(x):
        return np.mean((x - offset) ** 2, axis=0)

    P = power(first[:, : n * block]).reshape(n, block).mean(axis=1)
    floor = float(P.min())
    if not floor > 0 or P.max() >= QUIET_SPREAD * floor:
        return empty, first
    held, total = [first], first.shape[1]
    while total < MAX_QUIET_SECONDS * rate:
        b = reader.read_all(limit=block)
        if not b.shape[1]:
            break
        if np.all(np.isfinite(b)) and np.mean(power(b)) >= SOUND_RISE * floor:
            more = reader.read_all(limit=max(wanted - b.shape[1], 0))
            return np.concatenate(held, axis=1), np.concatenate([b, more], axis=1)
        held.append(b)
        total += b.shape[1]
    return empty, np.concatenate(held, axis=1)  # no sound: judged from what there is


def _past_silence(reader, wanted):
    """The first ``wanted`` samples of a stream, or, when they are digital
    silence (every channel constant), the first ``wanted`` from its first
    sound on, with only the length of the silence kept (so any length of it
    takes no memory). Returns (samples of silence skipped, samples read)."""
    first = reader.read_all(limit=wanted)
    if not first.shape[1] or np.any(first != first[:, :1]):
        return 0, first
    value, lead = first[:, :1], first.shape[1]
    while True:
        first = reader.read_all(limit=wanted)
        if not first.shape[1]:
            return lead, first
        moved = np.flatnonzero(np.any(first != value, axis=0))
        if moved.size:
            break
        lead += first.shape[1]
    lead, first = lead + int(moved[0]), first[:, int(moved[0]) :]
    more = reader.read_all(limit=wanted - first.shape[1])
    return lead, np.concatenate([first, more], axis=1)


def _fit_samples(reader, options):
    """The samples the unmixing is estimated from.

    Returns (X, whole, first): ``whole`` when X is the whole recording;
    ``first`` is X when it came from a stream (it is separated first, as it
    cannot be read again), else None.
    """
    rate = reader.sample_rate
    if reader.seekable and reader.frames is not None:
        plan = fit_plan(reader.frames, reader.channels, rate, options.fit_seconds)
        pieces = []
        for start, length in plan:
            reader.seek(start)
            pieces.append(reader.read_all(limit=length))
        return np.concatenate(pieces, axis=1), plan == [(0, reader.frames)], None
    # A stream: estimate from its beginning, which is separated first.
    limit = fit_plan(1 << 62, reader.channels, rate, options.fit_seconds, segments=1)[0][1]
    X = reader.read_all(limit=limit)
    return X, X.shape[1] < limit, X


def _headroom(sep, reader, X, whole, block, defer_gain):
    """One common gain that keeps every output below full scale.

    Returns (gain, outputs): the outputs of the whole recording when it is
    in memory (separated to find the peak), else None; gain None when the
    sink is to choose it.
    """
    if whole:
        sep.start()
        ready = [sep.process(X[:, i : i + block]) for i in range(0, X.shape[1], block)]
        ready.append(sep.flush())
        return headroom_gain(max(float(np.abs(y).max()) for y in ready if y.size)), ready
    if reader.seekable and sep.kind == "convolutive" and defer_gain:
        # A second STFT pass would double the cost: the sink keeps float
        # samples and applies the gain once it has seen the peak.
        reader.seek(0)
        return None, None
    if reader.seekable:
        reader.seek(0)
        peak = peak_of(sep, blocks_of(reader, block))
        reader.seek(0)
    else:
        # A stream cannot be read twice: bound the output by the input's
        # full scale (integers) or twice the peak seen so far (floats).
        in_peak = 1.0 if reader.subtype.startswith("PCM") else 2.0 * float(np.abs(X).max())
        peak = sep.peak_bound(in_peak)
    return headroom_gain(peak), None


def run(reader, open_sink, options: Options, *, callback=None, defer_gain=False) -> RunResult:
    """Separate everything ``reader`` delivers into the sink ``open_sink`` makes.

    Parameters
    ----------
    reader : cocktail.io.stream.Reader
        The recording, one channel per microphone.
    open_sink : callable
        ``open_sink(n_sources, n_frames)`` returns a :class:`Sink`; with
        ``defer_gain``, it may be called with ``deferred=True``: the sink
        then keeps float samples and chooses the headroom gain itself.
    options : Options
    callback : callable, optional
        ``callback(iteration, value, what)`` as the solver progresses.
    defer_gain : bool
        Let the sink choose the headroom gain of a long room recording
        (saves a second pass over it).

    Returns
    -------
    RunResult
        The caller commits (or discards) its sink. On any error the sink is
        discarded.
    """
    name, rate = reader.name, reader.sample_rate
    _check_channels(reader)
    check_sources(options.n_sources, reader.channels, name)
    block = max(int(options.block_seconds * rate), 1)
    ready = None  # separated output of the whole recording, when it was in memory
    lead = 0  # samples of digital silence a live stream began with, written as silence
    if options.adaptive:
        sep, report, warnings, (lead, first), block = _start_adaptive(reader, options, callback)
        gain, X = 1.0, first
    else:
        X, whole, first = _fit_samples(reader, options)
        check_recording(X, rate, name)
        if options.apply:
            sep, report, warnings = load_unmixing(options.apply, X, rate, name, options.postfilter)
            warnings.extend(ignored_by_apply(options))
        else:
            sep, report, warnings = fit(X, rate, options, name=name, callback=callback)
        gain, ready = _headroom(sep, reader, X, whole, block, defer_gain)
        if gain is not None and gain != 1.0:
            sep = sep.scaled(gain)  # (outputs already in memory are scaled as written)
    report["output_gain"] = gain
    warnings = clipping(X, reader.subtype, name) + warnings

    n_sources = report["n_sources"]
    sink = (
        open_sink(n_sources, reader.frames)
        if gain is not None
        else open_sink(n_sources, reader.frames, deferred=True)
    )
    try:
        if ready is not None:
            for y in ready:
                sink.write(y * gain if gain != 1.0 else y)
            written, busy = X.shape[1], None
        else:
            written, busy = _consume(sep, sink, reader, block, first, lead)
    except BaseException:
        sink.discard()
        raise
    report.update(sep.report())
    report["n_samples"] = int(written)
    warnings = warnings + sep.warnings() + list(reader.notes)
    if options.adaptive and busy is not None:
        warnings += _pace(report, written / rate, busy, name)
    return RunResult(
        report={**header(reader, options), **report}, warnings=warnings, sink=sink, separator=sep
    )


class _Busy:
    """Seconds, on ``_clock``, during which at least one of the threads
    separating a stream was at work (each such stretch ``with busy: ...``)."""

    def __init__(self):
        self.seconds = 0.0
        self._at_work = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def __enter__(self):
        with self._lock:
            if self._at_work == 0:
                self._since = _clock()
            self._at_work += 1

    def __exit__(self, *exc):
        with self._lock:
            self._at_work -= 1
            if self._at_work == 0:
                self.seconds += _clock() - self._since


class _Outputs:
    """A live room stream's outputs, made from the separation's handovers
    (:meth:`cocktail.appliers.Adaptive.synthesise`) and written to the sink
    on a second thread, in order, while the separation learns from the next
    block: on two cores the two halves of the work overlap whenever input is
    waiting (an unpaced input, or the backlog of a live one's start), and
    each block is written as soon as it is made (no added latency). The
    samples are those of doing both halves in turn. At most OUTPUT_QUEUE
    blocks wait; an error on that thread is raised on the caller's at its
    next :meth:`put` or :meth:`finish`."""

    def __init__(self, sep, sink, busy):
        self._sep, self._sink, self._busy = sep, sink, busy
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cocktail-outputs")
        self._waiting = collections.deque()
        self._failed = False

    def _make(self, handover):
        if self._failed:  # an earlier block failed: its error is being raised
            return
        try:
            with self._busy:
                y = self._sep.synthesise(handover)
            self._sink.write(y)
        except BaseException:
            self._failed = True
            raise

    def put(self, handover):
        while len(self._waiting) >= OUTPUT_QUEUE:
            self._waiting.popleft().result()
        self._waiting.append(self._thread.submit(self._make, handover))

    def finish(self):
        """Wait until every block is written."""
        while self._waiting:
            self._waiting.popleft().result()

    def close(self):
        """Stop the thread: after the block it is making, the others dropped
        (on an error, before the sink is discarded)."""
        self._thread.shutdown(wait=True, cancel_futures=True)


def _consume(sep, sink, reader, block, first, silence=0):
    """Separate ``first`` (samples already read) and the rest of the reader
    into the sink, after ``silence`` samples of digital silence for the
    silent start skipped before ``first`` (fed as zeros, so that the
    separator's clock, and so its per-second reports, follow the input's);
    return the number of input samples and the seconds spent separating them
    (waiting for the input and for the sink, which may be a player taking
    the output at its own pace, left out). A live room stream's outputs are
    made on a second thread from OUTPUT_THREAD_MICS microphones on
    (:class:`_Outputs`)."""
    busy = _Busy()
    threaded = getattr(sep, "pipelined", False) and reader.channels >= OUTPUT_THREAD_MICS
    outputs = _Outputs(sep, sink, busy) if threaded else None

    def put(b):  # None: the end of the input
        if outputs is not None:
            with busy:
                handover = sep.analyse(b)
            outputs.put(handover)
            return
        with busy:
            y = sep.flush() if b is None else sep.process(b)
        sink.write(y)

    sep.start()
    try:
        for i in range(0, silence, block):
            put(np.zeros((reader.channels, min(block, silence - i))))
        written = silence
        if first is not None:
            for i in range(0, first.shape[1], block):
                put(first[:, i : i + block])
            written += first.shape[1]
        for b in blocks_of(reader, block):
            check_finite(b, reader.sample_rate, reader.name, written)
            put(b)
            written += b.shape[1]
        put(None)
        if outputs is not None:
            outputs.finish()
    finally:
        if outputs is not None:
            outputs.close()
    return written, busy.seconds


def _pace(report, seconds, busy, name):
    """Put an adaptive run's compute time and pace in ``report``; return the
    warning of PACE_MIN_SECONDS, if any."""
    report["compute_seconds"] = round(busy, 3)
    report["real_time_factor"] = round(seconds / busy, 2) if busy > 0 else None
    if seconds < PACE_MIN_SECONDS or busy <= seconds:
        return []
    return [
        f"{name} was separated at {seconds / busy:.2f}x real time, slower than it plays: "
        "from a live input the output falls further and further behind, and a recorder "
        "feeding it drops samples once the pipe fills (fewer microphones, a lower sample "
        "rate or a longer --block-seconds cost less)"
    ]


def separate(
    X,
    sample_rate,
    *,
    callback: Optional[Callable[[int, float, str], None]] = None,
    name="the recording",
    **options,
) -> Separation:
    """Separate a recording held in memory.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)
        One row per microphone.
    sample_rate : int
        In Hz.
    callback : callable, optional
        ``callback(iteration, value, what)`` as the solver progresses.
    name : str
        How to call the recording in messages.
    **options
        Fields of :class:`Options` (``n_sources``, ``model``, ``max_iter``,
        ``tol``, ``seed``, ``adaptive``, ``nfft``, ``algorithm``...).

    Returns
    -------
    Separation
        ``outputs`` (n_sources, n_samples), each speaker as heard at
        microphone 1, loudest first; the report; the warnings.
    """
    from .io.stream import ArrayReader

    opts = Options(**options)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise CocktailError("expected a 2-D array of microphones x samples")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or sample_rate < 1
    ):
        raise CocktailError(
            f"the sample rate must be a positive whole number of Hz, got {sample_rate!r}"
        )
    if X.shape[0] > X.shape[1]:
        raise CocktailError(
            f"{name} has {X.shape[0]} rows and {X.shape[1]} columns: expected one row per "
            "microphone (microphones x samples, more samples than microphones); transpose it"
        )
    done = run(ArrayReader(X, sample_rate, name=name), MemorySink, opts, callback=callback)
    return Separation(outputs=done.sink.result(), report=done.report, warnings=done.warnings)
