"""Frequency-domain separation of convolutive (room) mixtures.

In a room every microphone hears every speaker through its own echoing path,
``x_m(t) = sum_n (h_mn * s_n)(t)``.  In the short-time Fourier domain a
convolution becomes (approximately) a product in each frequency bin, so the
mixture is instantaneous per bin, ``X_f(t) = A_f S_f(t)``, and one unmixing
matrix ``W_f`` per bin undoes it.  Estimating the bins one at a time would
leave each bin with its own ordering of the speakers; independent vector
analysis (IVA) estimates all bins jointly under a multivariate source prior
that ties together the bins of one speaker.

Every algorithm runs in the same frame (on the frames left after any
transient that is no talker, a door slam or a cough, is set aside:
:data:`TRANSIENT_RATIO`; the outputs are still made for every frame):

1. per-bin PCA: each bin is whitened and, with fewer speakers than
   microphones, reduced to its ``n_sources`` principal components (but see
   *Talkers heard twice* below);
2. a short warm-up of the algorithm's IVA updates from that start;
3. permutation alignment: the warm-up can still settle with whole frequency
   bands assigned to the wrong speaker (a local optimum of IVA); the bins are
   re-ordered so that the frame-by-frame activity of each output matches
   across frequency (power-ratio clustering, after Sawada et al.);
4. the main iterations until the cost settles (``tol``) or ``max_iter``,
   then the alignment of step 3 once more on the now cleaner outputs,
   followed by finer steps that also weigh how well each output fits
   each speaker's inter-microphone delays (after Sawada et al. 2004, who
   combine both cues): whole bands, each matched against the speakers'
   activity in all the other bands; with three to five outputs, runs of
   neighbouring bins of any length, the order of the whole spectrum chosen
   by dynamic programming (:func:`_refine_runs`); with two to five, the
   whole spectrum above a cut (:func:`_refine_split`); then single bins,
   each matched to its neighbouring and harmonic bins;
5. projection back: every output is rescaled per bin to how that speaker
   sounds at microphone 1 (the minimal distortion principle);
6. a multichannel Wiener filter per speaker and bin over all microphones,
   steered by the separated outputs (their powers averaged over
   :data:`BEAMFORM_SMOOTH_HZ` of neighbouring bins): with more microphones than speakers it
   recovers what the principal subspace of step 1 left out, and is kept if
   its outputs rise and fall together less than those of step 5; with as
   many, it takes reverberation of the other speakers that one matrix per
   bin cannot, and is kept if the crosstalk measured in its outputs (as
   step 7 measures it) is at least :data:`WIENER_MARGIN_DB` lower;
   in a room that rings long (*Long rooms* below), the Wiener filters are
   then made again at twice the frame;
7. a Wiener post-filter (:mod:`cocktail.bss.postfilter`): the crosstalk
   each output still carries from each other one is measured per bin, and
   every time-frequency cell is scaled down by the share of it that
   crosstalk explains (``postfilter=False`` keeps the outputs a linear
   filter of the recording).

Algorithms (all batched over frequency bins, no loop over bins):

``"ilrma"`` (default)
    IVA whose source model is a low-rank non-negative matrix factorisation
    of each speaker's power spectrogram (ILRMA, Kitamura et al. 2016):
    speech spectra are well described by a few spectral shapes switching on
    and off.  Iterative-projection (IP) updates, warm-up with ``auxiva-gauss``.
``"auxiva-gauss"``
    Auxiliary-function IVA (Ono 2011) with IP updates and a time-varying
    Gaussian prior (each speaker's loudness changes frame by frame).
``"auxiva"``
    The same with the spherical Laplace prior of the original IVA.
``"natgrad"``
    Natural-gradient IVA (Kim, Eltoft & Lee 2006), time-varying Gaussian
    prior, with step control: the step grows while the cost decreases and
    is halved, and the step retried, when it does not.

All updates decrease a cost (the negative log-likelihood of the model); the
``history`` of a result holds it per iteration (warm-up included).

Talkers heard twice.  With more microphones than speakers, the microphones
of a compact array (a few centimetres apart) hear each talker in more than
one spatial pattern: separated into one output per microphone, a talker
takes two outputs, the second as sharp as the first, and in every bin its
power rises and falls with the first one's (the duplicates of
:mod:`cocktail.bss.counting`).  Both hold part of that talker's image at
microphone 1, so their sum is the talker, and a better one than any one
output or than the separation of the principal subspace: on the benchmark's
4- and 8-microphone circles (6.4 and 10 cm across, RT60 0.3 s), 19.3 to 21.7
dB against 14.4 to 14.9, and 15.3 to 20.0 against 8.3 to 13.5 (three draws).  So by
default (``merge``) a recording with more microphones than speakers is
first separated into one output per microphone; the ``n_sources`` talkers
are chosen among the outputs as the count chooses them (sharp onsets,
loudest first, not a louder one again), every other output whose power
correlates with a talker's by :data:`MERGE_CORRELATION` or more, and that
is not more than 20 dB quieter (:data:`MERGE_LEVEL`), is added to that
talker, and each output left over (the talkers' reverberation through the
spatial patterns their own outputs leave out, or noise) is shared among
the talkers per bin by their shares of its power (:func:`_merged`), since
the talkers' images at microphone 1 hold that reverberation too: against
dropping them, +0.5 to +1.4 dB on the benchmark's 8-microphone circle of
seven draws (the 4-microphone circle leaves none over); on 18 arrays
simulated with recorded speech (4 to 8 microphones 3 to 10 cm apart,
RT60 0.2 to 0.5 s, four with sensor noise 45 dB down) that left outputs
over, better on 17 (+0.3 to +7.9 dB, +2.6 on average), worse on one
(-0.6).  On rooms simulated
with :mod:`cocktail.room` (4 to 8 microphones 3 to 10 cm apart, RT60 0.3 to
0.5 s, recorded speech, 16 mixtures) merging gained 1.4 to 7.8 dB on 13,
changed nothing on 2 (no talker heard twice) and lost 0.05 dB on one.  When no output
is a talker heard again (microphones far apart, as in the office arrays),
steps 1 to 6 run as above with ``n_sources`` outputs, from the same random
start as without ``merge``.  Merged outputs skip step 6 (its Wiener filters,
steered by the merged outputs, lost 2.8 dB on the 4-microphone array).

Long rooms.  One matrix per bin of a 4096-sample frame (256 ms) is a
filter a frame long, and a room that rings for half a second or more
leaves each output a tail of its own reverberation that such a filter
cannot shape (BSS Eval counts it as artefacts).  Separating with frames of
8192 samples models that tail, but gives IVA only 78 frames per bin in
10 s, and a quarter of the benchmark's rooms then lose their speakers in
some bands.  So the separation keeps its frame, and only the Wiener filters
of step 6 are made again at twice it, steered by the separated outputs
re-analysed at that frame: no band can change speaker, and the filters
reach twice as far.  This pays where the room rings long and is a loss
where it does not (a filter steered by estimated shares cannot keep the
21 dB of a 0.2 s room), so it runs when the recording's decay time
(:func:`cocktail.bss.decay.decay_time`) is at least :data:`LONG_DECAY`,
with at most :data:`LONG_MAX_MICS` microphones, no talker merged, and at
least MIN_FRAMES frames at twice the frame, unless the caller set the frame
(``long_frames``).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from ..errors import CocktailError
from .common import loud_stretches
from .counting import (
    DUPLICATE_CORRELATION,
    DUPLICATE_UNSURE,
    count_outputs,
    power_correlation,
)
from .decay import decay_time
from .postfilter import PostFilter, frame_for
from .stft import STFT

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_NFFT",
    "ConvolutiveResult",
    "separate_convolutive",
]

ALGORITHMS = ("ilrma", "auxiva-gauss", "auxiva", "natgrad")
DEFAULT_ALGORITHM = "ilrma"
#: STFT frame length used when none is given (256 ms at 16 kHz)
DEFAULT_NFFT = 4096

# (warm-up iterations, default max_iter) per algorithm
_SCHEDULE = {
    "ilrma": (15, 100),
    "auxiva-gauss": (15, 100),
    "auxiva": (15, 100),
    "natgrad": (40, 200),
}
_ILRMA_BASES = 8  # spectral shapes per speaker in the ILRMA source model
# final alignment's local step: neighbouring bins on each side a bin is matched
# to, and the weight of the inter-mic delay cue per such neighbour
_LOCAL_NEAR = 3
_DELAY_WEIGHT = 0.5
# band re-ordering before the local step: the spectrum is cut into 16, 32 and
# 64 bands in turn, and the delay cue weighs this much against activity
_BLOCK_DIVISIONS = (16, 32, 64)
_BLOCK_WEIGHT = 1.0
# runs of bins (:func:`_refine_runs`), with this many outputs (3 to 5): a
# change of order between neighbouring bins costs RUN_PENALTY typical
# per-bin score differences; the delay cue weighs as in the band step.
# Measured on the benchmark's rooms with 3 or 4 speakers of eight draws
# (library, told the number; 32 rooms): +0.17 dB on average, better on 4,
# worse on 3 (-0.36 to +3.32), gaining where the separation had failed
# (office_3x3 of the fifth draw 2.4 to 4.5 dB, office_6mic_3src of the
# eighth 1.1 to 4.4, room250ms_4x4 of the third 7.3 to 8.7).  On 16 rooms
# simulated with recorded speech (3 or 4 talkers, as many microphones or
# up to two more, 4 to 20 cm apart, RT60 0.2 to 0.6 s), -0.05 on average
# (-0.68 to +0.82, better on 2, worse on 5): it mends alignment failures
# and otherwise costs a little.  With two speakers (72 rooms) it lost on
# 34 (-0.94 to +0.51, -0.14 on average): they go without.  A penalty of 2
# instead of 1 kept the office gains and lost room250ms_4x4's.
_RUN_SOURCES = (3, 5)
_RUN_PENALTY = 1.0
# the spectrum in two (:func:`_refine_split`), with up to _SPLIT_SOURCES
# outputs: the upper part re-ordered when that raises the correlation of the
# two parts' activity, summed over the outputs, by _SPLIT_GAIN or more, and
# the delays fitted on the lower part agree; each part holds at least
# _SPLIT_SIDE of the bins' weight.  On the benchmark's 112 rooms of eight
# draws (library, told the number) the largest rise elsewhere was 0.19 but
# one of 0.38 that the delays refused (office_3x3 of the sixth draw, which
# it would have taken from 5.4 to 2.4 dB); the one it changed rose by 0.50
# (office_6mic_3src of the eighth draw, 4.4 to 9.0 dB).
_SPLIT_SOURCES = 5
_SPLIT_GAIN = 0.25
_SPLIT_SIDE = 0.1
# delays of the delay cue: 2 * _DELAY_STEPS + 1 of them, nfft / _DELAY_GRID apart
_DELAY_GRID = 16384
_DELAY_STEPS = 256


@dataclass
class ConvolutiveResult:
    """What :func:`separate_convolutive` found.

    Attributes
    ----------
    sources : ndarray, shape (n_sources, n_samples), float64
        Separated speakers in the time domain, each as heard at microphone 1.
    unmixing : ndarray, shape (n_bins, n_sources, n_mics), complex
        Per-bin demixing matrices, projection-back scaling included:
        ``Y_f = unmixing[f] @ X_f`` gives the separated STFT in bin ``f`` (the
        STFT being a periodic Hann window of ``nfft`` samples moved by
        ``hop``, first frame ending at sample ``hop``; see :class:`~cocktail.bss.stft.STFT`).
    n_iter : int
        Iterations run (warm-up included).
    converged : bool
        Whether the cost settled within ``tol`` before ``max_iter``.
    history : list of float
        Cost after each iteration, lower is better, for convergence plots
        (the model changes after the warm-up, so the curve may step there).
    algorithm : str
        The algorithm used (one of :data:`ALGORITHMS`).
    nfft : int
        STFT frame length used, in samples; ``n_bins = nfft // 2 + 1``.
    hop : int
        STFT hop used, in samples.
    beamformed : bool
        Whether the Wiener filters over all microphones were kept (step 6).
    postfilter : PostFilter or None
        The crosstalk post-filter (:class:`cocktail.bss.postfilter.PostFilter`),
        already applied to ``sources``; None when it was not used.
    merged : list of list of int or None
        When talkers heard twice were merged (module docstring), per speaker
        the outputs of the one-per-microphone separation it is the sum of;
        None otherwise.
    decay : float or None
        The recording's estimated decay time in seconds (NaN: too few falls
        to tell), where the filters at twice the frame were considered;
        None where they were not (see *Long rooms*).
    lengthened : bool
        Whether step 6's Wiener filters were made at twice the separation's
        frame (``nfft`` and ``hop`` are then theirs).
    steady : ndarray of bool or None
        Which frames of the separation's STFT (``nfft // 4`` hop before any
        lengthening) it was estimated from; None: all of them.
    """

    sources: np.ndarray
    unmixing: np.ndarray
    n_iter: int
    converged: bool
    history: List[float] = field(default_factory=list)
    algorithm: str = DEFAULT_ALGORITHM
    nfft: int = DEFAULT_NFFT
    hop: int = DEFAULT_NFFT // 4
    beamformed: bool = False
    postfilter: Optional[PostFilter] = None
    merged: Optional[List[List[int]]] = None
    decay: Optional[float] = None
    lengthened: bool = False
    steady: Optional[np.ndarray] = None

    @property
    def transients(self) -> int:
        """Frames of the separation's STFT left out of the estimation as
        transients that are no talker (TRANSIENT_RATIO)."""
        return 0 if self.steady is None else int(np.sum(~self.steady))


# ----------------------------------------------------------------------------
# argument checks


#: Fewest STFT frames the room model wants; shorter recordings get shorter frames.
MIN_FRAMES = 60


def default_nfft(sample_rate, n_samples=None):
    """The STFT frame length used when none is given.

    4096 at 16 kHz (256 ms, longer than most rooms' early echoes), scaled
    with the sample rate to a power of two; halved (down to a quarter) while
    a short recording would give fewer than MIN_FRAMES frames at a quarter-
    frame hop. Measured on the benchmark rooms cut to 3 s: 2048 gains 1.3 dB
    over 4096; from 5 s on, 4096 is best.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    n_samples : int, optional
        Length of the recording in samples; None leaves the frame unshortened.

    Returns
    -------
    int
        The frame length in samples, a power of two.
    """
    nfft = int(2 ** round(np.log2(4096 * sample_rate / 16000)))
    if n_samples is not None:
        floor = nfft // 4
        while nfft > floor and n_samples / (nfft // 4) < MIN_FRAMES:
            nfft //= 2
    return nfft


def _check_args(X, n_sources, nfft, hop, algorithm, max_iter, tol):
    if X.ndim != 2:
        raise CocktailError(
            f"the mixture must be 2-D (n_mics, n_samples), got {X.ndim} dimension(s)"
        )
    n_mics, n_samples = X.shape
    if n_mics < 2:
        raise CocktailError(f"convolutive separation needs at least 2 microphones, got {n_mics}")
    if n_mics > n_samples:
        raise CocktailError(
            f"the mixture has more channels ({n_mics}) than samples ({n_samples}); "
            "pass it as (n_mics, n_samples)"
        )
    if not np.issubdtype(X.dtype, np.floating) and not np.issubdtype(X.dtype, np.integer):
        raise CocktailError(f"the mixture must hold real numbers, got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        raise CocktailError("the mixture contains NaN or infinite samples")
    if n_sources is None:
        n_sources = n_mics
    if isinstance(n_sources, bool) or not isinstance(n_sources, (int, np.integer)):
        raise CocktailError(f"n_sources must be a whole number, got {n_sources!r}")
    n_sources = int(n_sources)
    if not 1 <= n_sources <= n_mics:
        raise CocktailError(
            f"n_sources must be between 1 and the number of microphones ({n_mics}), got {n_sources}"
        )
    if isinstance(nfft, bool) or not isinstance(nfft, (int, np.integer)) or nfft < 16:
        raise CocktailError(f"nfft must be a whole number of at least 16 samples, got {nfft!r}")
    nfft = int(nfft)
    if hop is None:
        hop = nfft // 4
    if isinstance(hop, bool) or not isinstance(hop, (int, np.integer)) or not 1 <= hop <= nfft // 2:
        raise CocktailError(
            f"hop must be a whole number between 1 and nfft/2 ({nfft // 2}), got {hop!r}"
        )
    hop = int(hop)
    if n_samples < nfft:
        raise CocktailError(
            f"the recording is too short: {n_samples} samples, shorter than one "
            f"STFT frame (nfft={nfft}); use a smaller nfft or a longer recording"
        )
    if algorithm not in ALGORITHMS:
        raise CocktailError(
            f"unknown algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}"
        )
    if max_iter is None:
        max_iter = _SCHEDULE[algorithm][1]
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise CocktailError(f"max_iter must be a whole number of at least 1, got {max_iter!r}")
    if isinstance(tol, bool) or not (
        isinstance(tol, (int, float, np.integer, np.floating)) and np.isfinite(tol) and tol >= 0
    ):
        raise CocktailError(f"tol must be a non-negative number, got {tol!r}")
    return n_sources, nfft, hop, int(max_iter), float(tol)


# ----------------------------------------------------------------------------
# linear algebra helpers

_TINY = np.finfo(np.float64).tiny


def _hermitian(A):
    return np.conj(np.swapaxes(A, -1, -2))


def _regularise(V, rel=1e-6):
    """Add a small ridge relative to the average power over all bins."""
    N = V.shape[-1]
    tr = np.einsum("...fii->...f", V).real
    ridge = rel * max(float(np.mean(tr)) / N, _TINY)
    return V + ridge * np.eye(N)


def _log_abs_det(W):
    """log |det W| of a stack of square matrices (closed form for 2 x 2)."""
    if W.shape[-1] == 2:
        with np.errstate(divide="ignore"):  # a singular matrix gives -inf, as slogdet
            return np.log(np.abs(_det2(W)))
    return np.linalg.slogdet(W)[1]


def _det2(A):
    return A[..., 0, 0] * A[..., 1, 1] - A[..., 0, 1] * A[..., 1, 0]


def _inv(A):
    """Inverse of a stack of square matrices.

    2 x 2 ones, the most common case (two microphones), in closed form: a
    batched LAPACK call costs ten times as much for them; 3 x 3 ones from
    their cofactors, in less than half its time.  A singular matrix raises
    ``LinAlgError`` either way.
    """
    if A.shape[-1] == 3:
        return _inv3(A)
    if A.shape[-1] != 2:
        return np.linalg.inv(A)
    det = _det2(A)
    if not np.all(det != 0):
        raise np.linalg.LinAlgError("Singular matrix")
    out = np.empty_like(A)
    out[..., 0, 0] = A[..., 1, 1]
    out[..., 1, 1] = A[..., 0, 0]
    out[..., 0, 1] = -A[..., 0, 1]
    out[..., 1, 0] = -A[..., 1, 0]
    out /= det[..., None, None]
    return out


def _inv3(A):
    """Inverses of a stack of 3 x 3 matrices: their cofactors over their
    determinants (as ``_inv``)."""
    a = [[A[..., i, j] for j in range(3)] for i in range(3)]
    # cofactor C[i][j] = (-1)^(i+j) times the minor without row i, column j
    C = [
        [
            a[(i + 1) % 3][(j + 1) % 3] * a[(i + 2) % 3][(j + 2) % 3]
            - a[(i + 1) % 3][(j + 2) % 3] * a[(i + 2) % 3][(j + 1) % 3]
            for j in range(3)
        ]
        for i in range(3)
    ]
    det = a[0][0] * C[0][0] + a[0][1] * C[0][1] + a[0][2] * C[0][2]
    if not np.all(det != 0):
        raise np.linalg.LinAlgError("Singular matrix")
    out = np.empty_like(A)
    for i in range(3):
        for j in range(3):
            out[..., i, j] = C[j][i]
    out /= det[..., None, None]
    return out


def _solve(A, B):
    """A^-1 B for stacks of square A (closed form up to 3 x 3, see ``_inv``)."""
    return np.matmul(_inv(A), B) if A.shape[-1] <= 3 else np.linalg.solve(A, B)


class _Covariances:
    """Weighted per-bin covariances of the whitened data, many at once.

    ``cov(w)`` returns V[k, f] = (1/T) sum_t w[k, (f,) t] z_f(t) z_f(t)^H for
    weights w of shape (K, T) (shared by all bins) or (K, F, T).  When memory
    allows, the N^2 distinct real numbers of every outer product z z^H are
    stored once (float32, Hermitian symmetry used, frames before products)
    and all K covariances come out of one matrix product per bin, (K, T) @
    (T, N^2), then are gathered into place; otherwise they are accumulated
    per weight.  With 8 outputs that layout and the gather take a call from
    29 to 16 ms on 10 s at 16 kHz (the 8-microphone circle's separation
    into one output per microphone, 9.4 to 9.6 s, now 8.2 to 8.7 s).
    """

    _BUDGET = 160 * 2**20  # bytes for the stored outer products

    def __init__(self, Z):
        F, N, T = Z.shape
        self.Z = Z
        self.shape = (F, N, T)
        self.iu, self.ju = np.triu_indices(N)
        self.off = self.iu != self.ju
        # where entry (i, j) of a covariance is read from the stored products'
        # sums: its real part from pair column re[i N + j], its imaginary part
        # from column im[...] times sign[...] (conjugate below the diagonal,
        # none on it)
        npair = len(self.iu)
        pair = np.empty((N, N), dtype=int)
        pair[self.iu, self.ju] = pair[self.ju, self.iu] = np.arange(npair)
        imag_col = np.zeros(npair, dtype=int)
        imag_col[self.off] = npair + np.arange(int(self.off.sum()))
        upper = np.triu(np.ones((N, N)), 1)
        self.re = pair.ravel()
        self.im = imag_col[pair].ravel()
        self.sign = (upper - upper.T).ravel()
        if F * N * N * T * Z.real.dtype.itemsize <= self._BUDGET:
            # frames before products: the covariances are then (F, K, T) @
            # (F, T, n2) matrix products, twice as fast as (F, n2, T) @ (F, T, K)
            Zt = np.swapaxes(Z, 1, 2)
            prod = Zt[:, :, self.iu] * np.conj(Zt[:, :, self.ju])  # (F, T, N(N+1)/2)
            self.R = np.concatenate([prod.real, prod.imag[:, :, self.off]], axis=2)
        else:
            self.R = None

    def cov(self, w):
        F, N, T = self.shape
        K = w.shape[0]
        w = np.asarray(w, dtype=self.Z.real.dtype)
        if self.R is None:  # blocks of bins keep the temporaries small
            V = np.empty((K, F, N, N), dtype=np.complex128)
            step = max(1, (16 * 2**20) // (N * T * self.Z.itemsize))
            for lo in range(0, F, step):
                Zb = self.Z[lo : lo + step]
                Zh = np.conj(np.swapaxes(Zb, 1, 2))
                for k in range(K):
                    wk = w[k][None, None, :] if w.ndim == 2 else w[k][lo : lo + step, None, :]
                    V[k, lo : lo + step] = np.matmul(Zb * wk, Zh)
            V /= T
            return V
        if w.ndim == 2:
            S = np.matmul(w[None], self.R)  # (F, K, n2)
        else:
            S = np.matmul(np.swapaxes(w, 0, 1), self.R)  # (F, K, n2)
        S = np.swapaxes(S, 0, 1).astype(np.float64) / T  # (K, F, n2)
        V = np.empty((K, F, N * N), dtype=np.complex128)
        V.real = np.take(S, self.re, axis=2)
        V.imag = np.take(S, self.im, axis=2) * self.sign
        return V.reshape(K, F, N, N)


def _whiten(X, n_sources):
    """Per-bin PCA: the n_sources principal components, whitened.

    X: (F, M, T).  Returns Z (F, N, T) = Q X, Q (F, N, M) and the mixture
    covariance C (F, M, M).  Eigenvalues are floored relative to the loudest
    bin, so silent bins and dead channels are not blown up.
    """
    F, M, T = X.shape
    C = np.empty((F, M, M), dtype=np.complex128)
    step = max(1, (16 * 2**20) // (M * T * X.itemsize))  # bins per block
    for lo in range(0, F, step):
        Xb = X[lo : lo + step]
        C[lo : lo + step] = np.matmul(Xb, _hermitian(Xb))
    C /= T
    C = 0.5 * (C + _hermitian(C))
    evals, evecs = np.linalg.eigh(C)  # ascending
    evals = evals[:, ::-1][:, :n_sources]
    evecs = evecs[:, :, ::-1][:, :, :n_sources]
    floor = 1e-10 * max(float(np.max(evals[:, 0])), _TINY)
    evals = np.maximum(evals, floor)
    Q = _hermitian(evecs) / np.sqrt(evals)[:, :, None]
    Z = np.matmul(Q.astype(X.dtype), X)
    return Z, Q, C


def _mixing_estimate(D, C):
    """Least-squares mixing matrices A = C D^H (D C D^H)^-1, (F, M, N).

    For a square, invertible D this is D^-1; column n is how output n reaches
    each microphone.
    """
    DC = np.matmul(D, C)
    G = _regularise(np.matmul(DC, _hermitian(D)), 1e-9)
    return np.matmul(_hermitian(DC), _inv(G))


def _projection_back(D, C, ref=0):
    """Scale the rows of D (F, N, M) so each output is its image at mic ``ref``."""
    A = _mixing_estimate(D, C)
    return D * A[:, ref, :, None]


#: A frame whose power (all bins and microphones) exceeds this many times
#: the recording's TRANSIENT_PERCENTILE-th percentile of frame powers is a
#: transient that is no talker (a door slam, a cough, a dropped object) and
#: is left out of everything the separation is estimated from; its outputs
#: are still the filters applied to it.  Separation looks for the most
#: independent, least Gaussian signals, and nothing is more so than a burst
#: far above the speech: in two simulated 0.3 s rooms of two talkers, one
#: 0.3 s burst 30 times the speech's level in 24 s took an output for itself
#: and left the talkers together (SDR 14.1 and 17.3 dB without it, -0.1 and
#: -0.6 with it), three coughs 5 times the speech's level likewise (-0.4 and
#: 1.1); left out, 14.1 and 14.0, 14.1 and 14.4.  A frame's power is taken
#: over the speech band, each bin relative to its own mean (a broadband
#: burst stands out where speech is weak), with the frames that overlap it
#: by half or more (its edges, under the line, still hold much of it: the
#: coughs stayed at 0.1 dB without them).  On the benchmark's 70 rooms of
#: five draws no frame comes within this line (the loudest at most 3.1
#: times the percentile, at the separation's, the count's and step 6's
#: frames alike).
TRANSIENT_RATIO = 4.0
TRANSIENT_PERCENTILE = 95
TRANSIENT_BAND_HZ = (200.0, 6000.0)
TRANSIENT_NEAR_FRAMES = 2


def _steady_frames(Xf, sample_rate):
    """Which frames of the STFT Xf (F, M, T) the separation is estimated
    from: (T,) bool, or None when all of them (no transient, see
    TRANSIENT_RATIO).  A frame's power is measured over the speech band
    (TRANSIENT_BAND_HZ), each bin relative to its mean over the frames, so
    that a broadband burst stands out where speech is weak as well."""
    hz = float(sample_rate) / max(2 * (Xf.shape[0] - 1), 1)  # per bin
    lo, hi = (int(np.ceil(TRANSIENT_BAND_HZ[0] / hz)), int(TRANSIENT_BAND_HZ[1] / hz) + 1)
    band = Xf[lo:hi]  # a view: no copy of the spectrum
    if band.shape[0] == 0 or band.shape[2] < 2:
        return None
    e = np.einsum("fmt,fmt->ft", band.real, band.real)
    e += np.einsum("fmt,fmt->ft", band.imag, band.imag)
    e /= np.maximum(e.mean(axis=1, keepdims=True), _TINY)
    # with the frames on either side that overlap it by half or more: a
    # transient's edges, under the line, still hold much of it
    loud = loud_stretches(
        e.mean(axis=0), TRANSIENT_RATIO, TRANSIENT_NEAR_FRAMES, TRANSIENT_PERCENTILE
    )
    return None if loud is None else ~loud


def _frames_of(Xf, steady):
    """Xf (F, M, T) with only the ``steady`` frames (all when None)."""
    return Xf if steady is None else np.ascontiguousarray(Xf[:, :, steady])


# ----------------------------------------------------------------------------
# source models and updates.  All work on the whitened data Z (F, N, T) and
# keep a state W (F, N, N) with Y = W Z.  Each ``_iterate_*`` is a generator:
# one step per ``next``, yielding the cost after it.


def _power(W, Z):
    """|W Z|^2 as (N, F, T) float32.

    Up to BATCHED_FROM - 1 outputs, one output at a time (cheapest, and the
    least memory); from BATCHED_FROM on, all outputs of a block of bins in
    one matrix product, the blocks small enough that their outputs stay
    within 32 MB: with 8 outputs that takes half the time (10 ms instead
    of 21 ms per iteration on 10 s at 16 kHz), with 2 to 4 it takes longer.
    """
    F, M, T = Z.shape
    K = W.shape[1]
    P = np.empty((K, F, T), dtype=Z.real.dtype)
    Wc = W.astype(Z.dtype)
    if K < BATCHED_FROM:
        for n in range(K):
            Y = np.matmul(Wc[:, n : n + 1, :], Z)[:, 0, :]
            np.multiply(Y.real, Y.real, out=P[n])
            P[n] += Y.imag**2
        return P
    step = max(1, _POWER_BLOCK_BYTES // max(K * T * Z.itemsize, 1))
    for lo in range(0, F, step):
        Y = np.matmul(Wc[lo : lo + step], Z[lo : lo + step])  # (bins, K, T)
        Pb = Y.real * Y.real
        Pb += Y.imag**2
        P[:, lo : lo + step] = Pb.transpose(1, 0, 2)
    return P


#: Outputs from which :func:`_power` computes them all in one product...
BATCHED_FROM = 5
#: ...a block of bins at a time, whose outputs take at most this many bytes.
_POWER_BLOCK_BYTES = 32 * 2**20


def _rel_floor(a, rel=1e-6):
    return np.maximum(a, rel * max(float(np.mean(a)), _TINY))


def _activity(P, prior):
    """Per-frame scale r (N, T) of each output under the prior, from the
    output powers P (N, F, T), and the prior's cost per frame summed over bins."""
    F = P.shape[1]
    if prior == "laplace":
        r = _rel_floor(np.sqrt(np.sum(P, axis=1, dtype=np.float64)))
        return r, float(np.sum(np.mean(r, axis=1)))
    r = _rel_floor(np.mean(P, axis=1, dtype=np.float64))
    return r, float(F * np.sum(np.mean(np.log(r), axis=1)))


def _ip_sweep(W, Vall):
    """One iterative-projection sweep: row k of W from covariance Vall[k]."""
    F, N, _ = W.shape
    if N == 2:
        return _ip_sweep_two(W, Vall)
    eye = np.eye(N)
    for k in range(N):
        V = _regularise(Vall[k])
        rhs = np.broadcast_to(eye[:, k], (F, N))[..., None]
        u = _solve(np.matmul(W, V), rhs)[..., 0]
        nrm = np.einsum("fi,fij,fj->f", u.conj(), V, u).real
        u /= np.sqrt(np.maximum(nrm, _TINY))[:, None]
        W[:, k, :] = u.conj()
    return W


def _ip_sweep_two(W, Vall):
    """``_ip_sweep`` for two outputs, written out: row k of W is column k of
    (W V)^-1, and its scale the quadratic form of V, each from the matrices'
    entries (a third of the time of the stacked products and inverses)."""
    for k in range(2):
        V = _regularise(Vall[k])
        v00, v01, v10, v11 = V[:, 0, 0], V[:, 0, 1], V[:, 1, 0], V[:, 1, 1]
        w00, w01, w10, w11 = W[:, 0, 0], W[:, 0, 1], W[:, 1, 0], W[:, 1, 1]
        a00, a01 = w00 * v00 + w01 * v10, w00 * v01 + w01 * v11  # A = W V
        a10, a11 = w10 * v00 + w11 * v10, w10 * v01 + w11 * v11
        det = a00 * a11 - a01 * a10
        if not np.all(det != 0):
            raise np.linalg.LinAlgError("Singular matrix")
        u0, u1 = (a11 / det, -a10 / det) if k == 0 else (-a01 / det, a00 / det)
        nrm = (
            v00.real * (u0.real**2 + u0.imag**2)
            + v11.real * (u1.real**2 + u1.imag**2)
            + 2.0 * (np.conj(u0) * v01 * u1).real
        )
        scale = 1.0 / np.sqrt(np.maximum(nrm, _TINY))
        W[:, k, 0] = np.conj(u0) * scale
        W[:, k, 1] = np.conj(u1) * scale
    return W


class _State:
    def __init__(self, W):
        self.W = W


def _iterate_auxiva(Z, state, cov, prior):
    """AuxIVA with IP updates (Ono 2011)."""
    F = Z.shape[0]
    r, _ = _activity(_power(state.W, Z), prior)
    while True:
        state.W = _ip_sweep(state.W, cov.cov(1.0 / r))
        r, g = _activity(_power(state.W, Z), prior)
        yield (g - 2.0 * float(np.sum(_log_abs_det(state.W)))) / F


def _iterate_natgrad(Z, state, cov, prior="gauss", n_tries=12):
    """Natural-gradient IVA (Kim, Eltoft & Lee 2006) with step control.

    Each iteration moves every bin along its natural gradient,
    W_f <- (I + mu_f G_f) W_f with G_f = I - E[phi(y) y^H] and phi the score
    of the prior.  The step mu_f is chosen per bin: with the frame scales r
    held at their current values, the cost splits into one quadratic-plus-
    log-determinant function per bin (a majoriser of the true cost), which
    is evaluated in closed form from the weighted covariances of that bin.
    A step is taken only where it lowers that function, so every iteration
    lowers the cost; it is halved and retried where it does not, and grows
    by half after a success.
    """
    F, N, T = Z.shape
    eye = np.eye(N)
    idx = np.arange(N)
    mu = np.full(F, 0.5)
    r, _ = _activity(_power(state.W, Z), prior)
    c = 0.5 if prior == "laplace" else 1.0  # weight of the quadratic majoriser
    while True:
        W = state.W
        V = cov.cov(c / r)  # (N, F, N, N) weighted covariances of z
        U = np.matmul(np.matmul(W[None], V), _hermitian(W)[None])  # of y
        G = eye - U[idx, :, idx, :].transpose(1, 0, 2)  # (F, N, N); row i from U[i]
        s0 = np.einsum("ifii->f", U).real
        accepted = np.zeros(F, dtype=bool)
        M_take = np.tile(eye.astype(np.complex128), (F, 1, 1))
        for _ in range(n_tries):
            M = eye + mu[:, None, None] * G
            quad = np.einsum("fij,ifjk,fik->f", M, U, M.conj()).real
            sign, logdet = np.linalg.slogdet(M)
            s = np.where(sign != 0, quad - 2.0 * logdet, np.inf)
            ok = (s < s0) & ~accepted
            M_take[ok] = M[ok]
            accepted |= ok
            if accepted.all():
                break
            mu[~accepted] *= 0.5
        mu[accepted] = np.minimum(1.5 * mu[accepted], 1.0)
        mu[~accepted] = np.maximum(mu[~accepted], 1e-4)
        state.W = np.matmul(M_take, W)
        r, g = _activity(_power(state.W, Z), prior)
        yield (g - 2.0 * float(np.sum(_log_abs_det(state.W)))) / F


def _iterate_ilrma(Z, state, cov, rng, n_basis=None):
    """ILRMA (Kitamura et al. 2016): IS-NMF source model + IP updates."""
    F, N, T = Z.shape
    n_basis = _ILRMA_BASES if n_basis is None else n_basis
    rdt = Z.real.dtype
    P = _power(state.W, Z)  # (N, F, T)
    mean_p = max(float(np.mean(P)), _TINY)
    floor = rdt.type(1e-6 * mean_p)
    tiny = rdt.type(np.finfo(rdt).tiny * 1e6)
    B = rng.uniform(0.1, 1.0, size=(N, F, n_basis)).astype(rdt)  # spectral shapes
    A = rng.uniform(0.1, 1.0, size=(N, n_basis, T)).astype(rdt)  # their activations
    A *= rdt.type(mean_p / max(float(np.mean(np.matmul(B, A))), _TINY))

    def model():
        R = np.matmul(B, A)
        return np.maximum(R, floor, out=R)

    R = model()
    while True:
        # multiplicative Itakura-Saito NMF updates of the variances R = B A
        iR = np.reciprocal(R)
        Q = P * iR
        Q *= iR
        At = np.swapaxes(A, 1, 2)
        B *= np.sqrt(np.matmul(Q, At) / np.maximum(np.matmul(iR, At), tiny))
        np.maximum(B, tiny, out=B)
        R = model()
        np.reciprocal(R, out=iR)
        np.multiply(P, iR, out=Q)
        Q *= iR
        Bt = np.swapaxes(B, 1, 2)
        A *= np.sqrt(np.matmul(Bt, Q) / np.maximum(np.matmul(Bt, iR), tiny))
        np.maximum(A, tiny, out=A)
        del Q, iR, P
        # IP updates of the demixing matrices with weights 1 / R
        R = np.reciprocal(model(), out=R)
        state.W = _ip_sweep(state.W, cov.cov(R))
        del R
        P = _power(state.W, Z)
        # fix the scale: unit average power per output, the model follows
        lam2 = np.mean(P, axis=(1, 2), dtype=np.float64)
        lam2 = np.maximum(lam2, 1e-12 * float(lam2.max()) + 1e-30)
        state.W /= np.sqrt(lam2)[None, :, None]
        P /= lam2.astype(rdt)[:, None, None]
        B /= lam2.astype(rdt)[:, None, None]
        R = model()
        nll = float(np.mean(P / R, dtype=np.float64) + np.mean(np.log(R), dtype=np.float64))
        yield nll * N - 2.0 * float(np.sum(_log_abs_det(state.W))) / F


# ----------------------------------------------------------------------------
# permutation alignment across bins


def _best_permutations(score):
    """score: (F, N, N), score[f, n, k] = how well output k of bin f fits
    source n.  Returns perm (F, N) maximising sum_n score[f, n, perm[f, n]].

    Exhaustive over all permutations for small N, greedy otherwise; batched
    over bins either way.
    """
    F, N, _ = score.shape
    if N <= 5:
        perms = np.array(list(itertools.permutations(range(N))))  # (P, N)
        tot = score[:, np.arange(N)[None, :], perms].sum(axis=2)  # (F, P)
        return perms[np.argmax(tot, axis=1)]
    s = score.copy()
    perm = np.zeros((F, N), dtype=int)
    rows = np.arange(F)
    low = -np.inf
    for _ in range(N):
        flat = np.argmax(s.reshape(F, -1), axis=1)
        n, k = np.divmod(flat, N)
        perm[rows, n] = k
        s[rows, n, :] = low
        s[rows, :, k] = low
    return perm


def _ratio_profiles(P):
    """Normalised activity profiles of the outputs of every bin.

    P: (N, F, T) power of each output as heard at the microphones (consumed).
    Returns v (N, F, T), the power ratio of each output in each frame (Sawada
    et al.), centred and scaled to unit norm per output and bin, so that the
    dot product of two profiles is their correlation; and wbin (F,), a weight
    growing with the energy of the bin.
    """
    tot = P.sum(axis=0)  # (F, T)
    np.maximum(tot, 1e-12 * max(float(tot.mean()), _TINY), out=tot)
    v = P
    v /= tot
    v -= v.mean(axis=2, keepdims=True)
    nrm = np.sqrt(np.einsum("nft,nft->nf", v, v))
    v /= np.maximum(nrm, 1e-12)[:, :, None]
    e = tot.mean(axis=1)
    wbin = np.sqrt(e / max(float(e.mean()), _TINY))
    return v, wbin


def _align_permutations(v, wbin, n_rounds=10):
    """Align bin-wise outputs to the same speaker by their activity.

    v, wbin: profiles and bin weights from ``_ratio_profiles``.  The time
    courses of the power ratios are alike across bins for one speaker; each
    bin is assigned the permutation that best matches per-speaker centroids
    (bins weighted by energy, so quiet bins do not drive them), refined a few
    rounds.  Returns perm (F, N): new output n of bin f is old output perm[f, n].
    """
    N, F, T = v.shape
    perm = np.tile(np.arange(N), (F, 1))
    eye = np.eye(N, dtype=v.dtype)
    for _ in range(n_rounds):
        sel = eye[perm] * wbin[:, None, None].astype(v.dtype)  # (F, N, N) weighted one-hot
        c = np.einsum("fnk,kft->nt", sel, v)  # centroids of the aligned outputs
        c = c - c.mean(axis=1, keepdims=True)
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), _TINY)
        score = np.einsum("nt,kft->fnk", c.astype(v.dtype), v)
        new = _best_permutations(score)
        if np.array_equal(new, perm):
            break
        perm = new
    return perm


def _delay_fit(A, wbin):
    """How well each output's mixing column fits each speaker's inter-mic delays.

    A: (F, M, N) estimated mixing matrices (already aligned across bins).
    For a speaker whose direct sound reaches microphone m ``tau_m`` samples
    after microphone 1, the phase of A[f, m, n] / A[f, 0, n] is close to
    ``-omega_f tau_m`` in every bin.  Each speaker's delays are fitted over all
    bins (energy-weighted search over +-nfft/64 samples, which covers any
    table-top or room-scale array), then d[f, n, k] in [-1, 1] says how well
    output k of bin f follows the delays of speaker n.  Reverberation blurs
    the phases, so this is a weaker cue than activity in echoing rooms but a
    clean one in dry rooms, where activity profiles can be ambiguous.
    """
    F, M, N = A.shape
    nfft = 2 * (F - 1)
    u = A[:, 1:, :] * np.conj(A[:, :1, :])  # (F, M-1, N), phase is what counts
    u /= np.maximum(np.abs(u), _TINY)
    omega = 2.0 * np.pi * np.arange(F) / nfft
    grid = _DELAY_GRID  # delays on a grid of nfft / grid samples: 1/64 ms at 4096, 16 kHz
    steps = np.arange(-_DELAY_STEPS, _DELAY_STEPS + 1)  # +-nfft/64 samples
    taus = steps * (nfft / grid)
    uw = (u * wbin[:, None, None]).reshape(F, -1)
    # fit[k] = Re sum_f uw[f] exp(i omega_f tau_k) = Re sum_f uw[f] exp(2 pi i f k / grid):
    # an inverse FFT over the bins (folded onto the grid), read at the steps k
    folded = np.zeros((grid, uw.shape[1]), dtype=np.complex128)
    if F <= grid:  # nothing to fold: one bin per grid point
        folded[:F] = uw
    else:
        np.add.at(folded, np.arange(F) % grid, uw)
    fit = (np.fft.ifft(folded, axis=0) * grid)[steps % grid].real
    tau = taus[np.argmax(fit, axis=0)].reshape(M - 1, N)
    model = np.exp(-1j * omega[:, None, None] * tau[None])  # (F, M-1, N)
    return np.einsum("fmn,fmk->fnk", np.conj(model), u).real / (M - 1)


def _refine_local(v, score0, near=3, n_rounds=10):
    """Sawada's local step: re-align every bin to its neighbours.

    The centroids of ``_align_permutations`` summarise each speaker over the
    whole spectrum; a bin whose activity differs from that average (a strong
    harmonic, a band where two speakers alternate) can be misassigned while
    its neighbours are right.  Here each bin is matched against the aligned
    profiles of the bins next to it (up to ``near`` on each side) and of its
    harmonic relatives (2f - 1, 2f, 2f + 1 and f / 2), plus ``score0``
    (F, N, N), an extra per-bin score in the same units as one neighbour.
    Returns perm (F, N) as ``_align_permutations``.
    """
    N, F, T = v.shape
    vf = np.transpose(v, (1, 2, 0))  # (F, T, N) for the batched products
    vb = np.transpose(v, (1, 0, 2))  # (F, N, T)
    idx = np.arange(F)
    perm = np.tile(np.arange(N), (F, 1))
    # Every product of a bin's outputs with a neighbour's or relative's, once:
    # a round only picks the rows its permutation of the neighbour selects.
    # Each term: the bins of the score it adds to, the products (one N x N
    # per bin, kept as rows), the neighbours whose permutations pick the
    # rows, and each product's first row.
    terms = []
    for o in range(1, near + 1):
        terms.append((slice(o, None), np.matmul(vb[:-o], vf[o:]), idx[:-o]))
        terms.append((slice(None, -o), np.matmul(vb[o:], vf[:-o]), idx[o:]))
    for g in (2 * idx - 1, 2 * idx, 2 * idx + 1, idx // 2):
        ok = np.flatnonzero((g >= 0) & (g < F) & (g != idx))
        terms.append((ok, np.matmul(vb[g[ok]], vf[ok]), g[ok]))
    if N == 2:
        return _refine_local_two(score0, terms, n_rounds)
    terms = [
        (where, prod.reshape(-1, N), bins, N * np.arange(len(bins))[:, None])
        for where, prod, bins in terms
    ]
    for _ in range(n_rounds):
        score = score0.copy()
        for where, rows, bins, first in terms:
            score[where] += rows[(first + perm[bins]).ravel()].reshape(-1, N, N)
        new = _best_permutations(score)
        if np.array_equal(new, perm):
            break
        perm = new
    return perm


def _refine_local_two(score0, terms, n_rounds):
    """``_refine_local``'s rounds for two outputs, where a permutation is
    kept or swapped: each bin needs only how much more keeping scores than
    swapping, and a neighbour's swap turns the sign of what it adds (five
    times as fast; the same choices except where the two tie to rounding)."""

    def gain(S):  # keeping's score minus swapping's, per bin
        return (S[:, 0, 0] + S[:, 1, 1]) - (S[:, 0, 1] + S[:, 1, 0])

    terms = [(where, gain(prod), bins) for where, prod, bins in terms]
    own = gain(score0)
    swapped = np.zeros(len(score0), dtype=bool)
    for _ in range(n_rounds):
        d = own.copy()
        sign = np.where(swapped, -1.0, 1.0).astype(d.dtype)
        for where, g, bins in terms:
            d[where] += g * sign[bins]
        new = d < 0
        if np.array_equal(new, swapped):
            break
        swapped = new
    return np.where(swapped[:, None], [1, 0], [0, 1])


def _refine_blocks(v, A, wbin, sizes, weight, n_rounds=3):
    """Re-order whole bands, scored by activity and inter-microphone delays.

    IVA's typical failure is a band of neighbouring bins whose speakers are
    consistently exchanged: neighbour-by-neighbour matching cannot see it
    (the neighbours agree with each other) and in low bands the activity
    profiles of two speakers can be nearly as alike as those of one.  Here
    each band of ``size`` bins (for every size in ``sizes``, coarse to fine)
    takes the one permutation that maximises, summed over its bins, the
    correlation with each speaker's centroid over all the *other* bins (the
    most energetic band would otherwise dominate the centroid it is compared
    with) plus ``weight`` times the fit to that speaker's delays
    (``_delay_fit``, fitted on all bins).
    v (N, F, T) and A (F, M, N) must be aligned already; returns
    perm (F, N) as ``_align_permutations``.
    """
    N, F, T = v.shape
    rows = np.arange(F)[:, None]
    perm = np.tile(np.arange(N), (F, 1))
    use_delay = A.shape[1] > 1 and weight > 0
    for size in sizes:
        starts = np.arange(0, F, size)
        which = np.arange(F) // size  # the band of every bin
        # the speakers' delays, fitted once per band size on the current order
        # (each fit searches hundreds of delays in every bin)
        dscore = 0.0
        if use_delay:
            dscore = weight * _delay_fit(A[rows, :, perm].transpose(0, 2, 1), wbin)
            fixed = perm.copy()
        for _ in range(n_rounds):
            va = v[perm.T, rows.T]  # (N, F, T): aligned output n of bin f
            part = va * wbin[None, :, None].astype(v.dtype)
            total = part.sum(axis=1)
            if use_delay and not np.array_equal(perm, fixed):
                # dscore[f, n, j] scored the output then in place j; follow the moves
                where = np.argsort(fixed, axis=1)[rows, perm]  # place of each output then
                dscore = dscore[rows[:, :, None], np.arange(N)[None, :, None], where[:, None, :]]
                fixed = perm.copy()
            # every band at once: a band's score is the correlation of its
            # weighted bins with the centroids of all the other bins
            band = np.add.reduceat(part, starts, axis=1)  # (N, B, T)
            c = total[:, None, :] - band
            c -= c.mean(axis=2, keepdims=True)
            c /= np.maximum(np.linalg.norm(c, axis=2, keepdims=True), _TINY)
            score = np.einsum("nbt,kbt->bnk", c.astype(v.dtype), band)
            if use_delay:
                score = score + np.add.reduceat(dscore * wbin[:, None, None], starts, axis=0)
            q = _best_permutations(score)  # (B, N)
            new = perm[rows, q[which]]
            if np.array_equal(new, perm):
                break
            perm = new
    return perm


def _refine_runs(v, A, wbin, weight, penalty=_RUN_PENALTY):
    """Re-order runs of neighbouring bins of any length: a path over the bins.

    The band step cuts the spectrum on a fixed grid, and the bin step
    matches each bin to its neighbours; a run of a few to a few tens of bins
    whose speakers are consistently exchanged (low bands with three or four
    speakers, where their activity is alike) falls between them: the grid's
    band holds it beside bins that are right, and inside the run every bin
    agrees with its neighbours.  Here each bin and permutation are scored
    as the band step scores a band, by the correlation with each speaker's
    centroid over all bins plus ``weight`` times the fit to that speaker's
    delays (``_delay_fit``), energy-weighted; a change of permutation
    between neighbouring bins costs ``penalty`` times the mean difference
    between a bin's scores; and the order of the whole spectrum that scores
    most is found by dynamic programming (Viterbi), so runs of any length
    and position can change.  v (N, F, T) and A (F, M, N) aligned already;
    returns perm (F, N) as ``_align_permutations``.
    """
    N, F, _ = v.shape
    c = np.einsum("nft,f->nt", v, wbin.astype(v.dtype))
    c -= c.mean(axis=1, keepdims=True)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), _TINY)
    S = np.einsum("nt,kft->fnk", c, v).astype(np.float64)  # (F, N, N)
    if A.shape[1] > 1 and weight > 0:
        S += weight * _delay_fit(A, wbin)
    S *= wbin[:, None, None]
    perms = np.array(list(itertools.permutations(range(N))))  # the identity first
    score = S[:, np.arange(N)[None, :], perms].sum(axis=2)  # (F, P)
    change = penalty * float(np.mean(np.abs(score - score[:, :1])))
    P = len(perms)
    came = np.empty((F, P), dtype=np.int64)  # the permutation of the bin before, on the best path
    total = score[0].copy()
    for f in range(1, F):
        j = int(np.argmax(total))
        stay = total >= total[j] - change
        came[f] = np.where(stay, np.arange(P), j)
        total = np.where(stay, total, total[j] - change) + score[f]
    path = np.empty(F, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for f in range(F - 1, 0, -1):
        path[f - 1] = came[f, path[f]]
    return perms[path]


def _refine_split(v, A, wbin):
    """Re-order the upper part of the spectrum as a whole: the spectrum in two.

    A separation can settle with the speakers of the whole upper part of
    the spectrum exchanged, every bin of it consistent with its neighbours
    (on the 6-microphone office of one draw, two of three speakers above
    2.4 kHz: 4.4 dB, and 9.0 once put back).  The band step cannot
    see it: each band there is compared with the centroid of all the other
    bins, and so many of them are in the same wrong order that the centroid
    agrees with it.  Here each cut on a grid of bins (F / 256) and each
    order of the upper part's outputs is scored by how well each output's
    activity below the cut (its centroid, bins weighted by energy) matches
    the activity above it (correlation, summed over the outputs); the best
    cut and order are taken if they score _SPLIT_GAIN more than the order
    as it is and the speakers' inter-microphone delays, fitted on the part
    below the cut, fit the new order above it better as well (where the
    separation is poor the activity alone can favour the wrong order).
    v (N, F, T) and A (F, M, N) aligned already; returns perm (F, N) as
    ``_align_permutations``: the identity when nothing is moved.
    """
    N, F, T = v.shape
    perm = np.tile(np.arange(N), (F, 1))
    if not 2 <= N <= _SPLIT_SOURCES:
        return perm
    weight = np.concatenate([[0.0], np.cumsum(wbin, dtype=np.float64)])
    step = max(F // 256, 2)
    cuts = np.arange(step, F, step)
    upper = 1.0 - weight[cuts] / max(float(weight[-1]), _TINY)
    cuts = cuts[(upper >= _SPLIT_SIDE) & (upper <= 1.0 - _SPLIT_SIDE)]
    if len(cuts) == 0:
        return perm
    # The weighted profiles summed between neighbouring cuts, one matrix
    # product per output (no copy of the profiles): below each cut the sum
    # of the pieces before it, above it the rest.  The two lowest bins hold
    # no speech.
    edges = np.concatenate([[2], cuts, [F]])
    piece = np.zeros((F, len(edges) - 1), dtype=v.dtype)
    bins = np.arange(2, F)
    piece[bins, np.searchsorted(edges, bins, side="right") - 1] = wbin[2:]
    sums = np.cumsum(np.stack([piece.T @ v[n] for n in range(N)]), axis=1, dtype=np.float64)
    below, above = sums[:, :-1], sums[:, -1:] - sums[:, :-1]  # (N, cuts, T)

    def centred(c):  # (N, B, T), unit norm over the frames
        c = c - c.mean(axis=2, keepdims=True)
        return c / np.maximum(np.linalg.norm(c, axis=2, keepdims=True), _TINY)

    S = np.einsum("nbt,kbt->bnk", centred(below), centred(above))  # (B, N, N)
    perms = np.array(list(itertools.permutations(range(N))))  # the identity first
    rise = S[:, np.arange(N)[None, :], perms].sum(axis=2)  # (B, P)
    rise -= rise[:, :1]
    b, j = np.unravel_index(int(np.argmax(rise)), rise.shape)
    if rise[b, j] < _SPLIT_GAIN:
        return perm
    cut, order = int(cuts[b]), perms[j]
    low = wbin.astype(np.float64)
    low[cut:] = 0.0
    fit = _delay_fit(A, low)[cut:] * wbin[cut:, None, None]  # (F - cut, N, N)
    if fit[:, np.arange(N), order].sum() > fit[:, np.arange(N), np.arange(N)].sum():
        perm[cut:] = order
    return perm


def _align(W, Z, Q, C, local=False, runs=False):
    """Permute the rows of W (F, N, N) so every bin's outputs follow the same speakers.

    With ``local``, the global alignment is followed by ``_refine_blocks``
    (whole bands) and the local step of ``_refine_local`` (single bins), both
    of which also weigh the fit to each speaker's inter-microphone delays;
    meant for the final, well separated outputs.  With ``runs`` too, and
    _RUN_SOURCES outputs, ``_refine_runs`` comes between them, and then,
    with up to _SPLIT_SOURCES outputs, ``_refine_split`` (the upper part of
    the spectrum as a whole).
    """
    F = W.shape[0]
    A = _mixing_estimate(np.matmul(W, Q), C)
    gain = np.sum(np.abs(A) ** 2, axis=1)  # (F, N): power of each output at the mics
    P = _power(W, Z)
    P *= gain.T[:, :, None].astype(P.dtype)
    v, wbin = _ratio_profiles(P)
    perm = _align_permutations(v, wbin)
    rows = np.arange(F)[:, None]
    if not local:
        return W[rows, perm]

    def reordered(perm):  # W, the profiles and the mixing estimates in a new order
        return W[rows, perm], v[perm.T, rows.T], A[rows, :, perm].transpose(0, 2, 1)

    W, v, A = reordered(perm)
    sizes = [max(F // k, 4) for k in _BLOCK_DIVISIONS]
    W, v, A = reordered(_refine_blocks(v, A, wbin, sizes, _BLOCK_WEIGHT))
    if runs and _RUN_SOURCES[0] <= W.shape[1] <= _RUN_SOURCES[1]:
        W, v, A = reordered(_refine_runs(v, A, wbin, _BLOCK_WEIGHT))
    if runs:
        split = _refine_split(v, A, wbin)
        if np.any(split != np.arange(W.shape[1])):  # mostly nothing moves: no copies then
            W, v, A = reordered(split)
    d = (_DELAY_WEIGHT * 2 * _LOCAL_NEAR) * _delay_fit(A, wbin)
    perm = _refine_local(v, d.astype(v.dtype), _LOCAL_NEAR)
    # The lowest bins lie within the main lobe of the window around 0 Hz:
    # they hold no speech and (almost) no direction, their order is arbitrary
    # and left as the global step put it.
    perm[:2] = np.arange(W.shape[1])
    return W[rows, perm]


# ----------------------------------------------------------------------------
# using every microphone


def _leakage(D, X):
    """How much the outputs Y = D X still rise and fall together: the mean
    correlation of their log power over all time-frequency cells, between
    every pair of outputs (lower is better separated)."""
    P = _power(D, X).astype(np.float64).reshape(D.shape[1], -1)
    L = np.log(P + 1e-6 * max(float(P.mean()), _TINY))
    L -= L.mean(axis=1, keepdims=True)
    L /= np.maximum(np.linalg.norm(L, axis=1, keepdims=True), _TINY)
    G = L @ L.T
    return float(np.mean(G[np.triu_indices(len(G), 1)]))


#: With as many microphones as speakers, the Wiener filters of step 6 replace
#: the separation's matrices only when the crosstalk measured in their outputs
#: (mean share over bins and outputs) is this much lower.  Forced on the
#: benchmark rooms (30 cases, 3 draws) they gain 0.1 to 1.7 dB where the
#: separation is poor and lose up to 1.7 dB where it is good (room200ms_2x2,
#: 14 to 21 dB); this margin keeps every loss out and 6 of the 10 largest gains.
WIENER_MARGIN_DB = 0.5


def _measured_outputs(D, X, stft, n_samples, nfft, measure=True):
    """The outputs of matrices D on recording X, and their crosstalk as the
    post-filter measures it: (post-filter or None, its STFT, the outputs'
    STFT at its frame or None, outputs (n_sources, n_samples))."""
    Y = np.matmul(D.astype(np.complex64), stft.forward(X))
    y = stft.inverse(Y, n_samples)
    del Y
    if not measure:
        return None, None, None, y
    post, post_stft, Yp = PostFilter.analyse(y, frame_for(nfft))
    return post, post_stft, Yp, y


def _crosstalk_db(post):
    """Mean crosstalk of a post-filter's measurement, in dB."""
    return 10.0 * np.log10(max(float(np.mean(post.shares.sum(axis=2))), 1e-12))


def _wiener_if_cleaner(D, X, C, stft, n_samples, nfft, smooth=1, steady=None):
    """Step 6 with as many microphones as speakers: the Wiener filters if their
    outputs carry WIENER_MARGIN_DB less crosstalk. Returns (matrices, whether
    they are the Wiener filters, the chosen outputs' measurement).

    The choice is made with the filters from one bin's shares (averaged
    shares can move the measured crosstalk either way, though their outputs
    are cleaner); the filters kept are those from shares averaged over
    ``smooth`` bins.  The filters are made while the recording's STFT is at
    hand; then one set of outputs with its STFT is held at a time (of the
    separation's own outputs only the samples are kept: the caller analyses
    them again if it filters them), so memory stays about that of one
    measurement.
    """
    Xf = _frames_of(stft.forward(X), steady)
    try:
        filters = _beamform(D, Xf, C, widths=(1, smooth) if smooth > 1 else (1,))
        B, S = filters[0], filters[-1]
    except (FloatingPointError, np.linalg.LinAlgError):
        B = S = None
    del Xf
    if B is None or not (np.all(np.isfinite(B)) and np.all(np.isfinite(S))):
        return D, False, _measured_outputs(D, X, stft, n_samples, nfft)
    post, post_stft, Yp, y = _measured_outputs(D, X, stft, n_samples, nfft)
    del Yp
    try:
        other = _measured_outputs(B, X, stft, n_samples, nfft)
        if _crosstalk_db(other[0]) <= _crosstalk_db(post) - WIENER_MARGIN_DB:
            if S is B:
                return B, True, other
            del other
            return S, True, _measured_outputs(S, X, stft, n_samples, nfft)
        del other
    except FloatingPointError:
        pass  # the filters' outputs overflow or vanish: keep the separation's own
    return D, False, (post, post_stft, None, y)


#: An output whose power rises and falls with a talker's output's by this much
#: (per bin, over frames; mean over the speech band) is that talker heard
#: again, and is added to it: the lower edge of the band in which the count
#: (:mod:`cocktail.bss.counting`) keeps an output as a talker but is unsure.
#: Merging asks less than counting: the talkers are already chosen, and an
#: output left over that follows one of them is part of its image. Separated
#: talkers correlate at most 0.33 over the benchmark's rooms; a talker's
#: second output on field_s2/compact4_300ms_2src correlates 0.43, and at the
#: count's line (0.46) was dropped (18.7 dB; 21.7 with it merged). Against
#: that line, on the 12 arrays of three draws and 20 arrays simulated with
#: recorded speech (RT60 0.15 to 0.5 s), 0.40 changed 6: +0.1 to +3.0 dB on
#: 5, -0.06 on one; 0.34 merged reverberation too (-1.0 dB on a dry room).
MERGE_CORRELATION = DUPLICATE_CORRELATION - DUPLICATE_UNSURE
#: ...when it is no more than 20 dB below that talker's output: on the
#: benchmark's compact arrays the second outputs are 0.1 to 13.3 dB below;
#: in a nearly dry room the spare outputs hold only the talkers' faint
#: leakage (15 to 45 dB below) and merging them cost up to 21 dB.
MERGE_LEVEL = 10 ** (-20 / 10)
#: ILRMA's spectral shapes per output in the separation into one output per
#: microphone (8 elsewhere), per microphone: its outputs are talkers, a
#: talker through a second spatial pattern and reverberation, whose
#: spectrograms are less low-rank than one talker's, and the more
#: microphones the more of each.  16 with 4 microphones, against 8: +0.2 to
#: +2.9 dB on the six compact-array rooms of three draws, and +0.3 to +2.5
#: dB on 13 of 16 arrays simulated with recorded speech (-0.03 to -0.71 on
#: the other 3), for about 5% more time.  (On rooms with as many
#: microphones as speakers 16 shapes moved SDR by -0.9 to +1.9 dB, +0.13 on
#: average over 36: not worth a change there.)  With 8 microphones, 32
#: against 16: +1.5 dB on average on the benchmark's 8-microphone circle
#: of five draws (-0.09 to +3.25), +0.38 on 7 simulated arrays of 8 (-0.82
#: to +1.48); with 6, 24 against 16: +0.9 to +3.8 dB on 3 of 5 simulated
#: arrays, the others unchanged.  With 4, 32 would move the circle of 4 by
#: -0.34 to +0.28 dB: it keeps 16.
MERGE_ILRMA_BASES_PER_MIC = 4


def _talkers_heard_twice(D, Xf, n_sources, freqs, stft, n_samples, steady=None):
    """Which outputs of a one-per-microphone separation make each talker.

    D: (F, M, M) separation projected back; Xf: (F, M, T) the recording's
    STFT.  The outputs are compared as the count compares them, on their
    re-analysed time signals (filtering per bin smears them in time, and
    the duplicates' powers then correlate 0.5 to 0.7 rather than 0.25).
    Returns, per talker, the list of its outputs (the talker first), or
    None when no output is another's talker heard again.
    """
    Yf = stft.forward(stft.inverse(np.matmul(D.astype(np.complex64), Xf), n_samples))
    P = Yf.real.astype(np.float64) ** 2 + Yf.imag.astype(np.float64) ** 2  # (F, K, T)
    del Yf
    if steady is not None and steady.size == P.shape[2]:
        P = P[:, :, steady]  # the transients left out, as from the separation
    _, talkers = count_outputs(P, freqs, reverberation=False)
    return _merge_groups(talkers, P.sum(axis=(0, 2)), power_correlation(P, freqs), n_sources)


def _merged(D, groups, Xf, width, steady=None):
    """Each talker's filters (F, N, M): the sum of its outputs' rows of D (F,
    M, M), plus, per bin, a share of every output no talker took.

    Those left over hold the talkers' reverberation (and any noise) through
    the spatial patterns the talkers' own outputs leave out; the talkers'
    images at microphone 1 hold that reverberation too.  Each one is split
    per bin by the talkers' shares of its power there: the talkers' powers
    (their merged outputs on the recording's STFT Xf (F, M, T), the
    ``steady`` frames only when given, averaged over ``width`` neighbouring
    bins) weigh its power frame by frame, so a talker gets what of it comes
    while he dominates.  The split is one number per bin, so the result is
    still one linear filter per bin.  Powers are single precision and one
    output's at a time: on an hour at 48 kHz this works on the minute
    fitted, 8 microphones of which take 0.37 GB as a spectrum.
    """
    talkers = np.stack([D[:, group, :].sum(axis=1) for group in groups], axis=1)
    taken = {k for group in groups for k in group}
    left = [k for k in range(D.shape[1]) if k not in taken]
    if not left:
        return talkers
    Xc = np.asarray(Xf, dtype=np.complex64)  # (no copy of a single-precision STFT)
    frames = slice(None) if steady is None else steady

    def power(rows):
        y = np.matmul(rows.astype(np.complex64), Xc)[:, 0, frames]  # (F, T)
        return np.square(y.real) + np.square(y.imag)

    share = np.stack([power(talkers[:, n : n + 1]) for n in range(len(groups))])  # (N, F, T)
    share = _smooth_bins(share, width)
    share /= np.maximum(share.sum(axis=0), np.finfo(np.float32).tiny)
    for k in left:
        e = power(D[:, k : k + 1])
        c = np.einsum("nft,ft->fn", share, e).astype(np.float64)
        c /= np.maximum(e.sum(axis=1, dtype=np.float64), _TINY)[:, None]
        talkers = talkers + c[:, :, None] * D[:, k][:, None, :]
    return talkers


def _merge_groups(talkers, level, corr, n_sources):
    """The outputs that make each of ``n_sources`` talkers (see
    :func:`_talkers_heard_twice`), from the outputs the count took for
    talkers, every output's power ``level`` (K,) and their power
    correlations ``corr`` (K, K); None when no output is merged."""
    loudest = [int(k) for k in np.argsort(-level, kind="stable")]
    talkers = sorted((int(k) for k in talkers), key=loudest.index)[:n_sources]
    for k in loudest:  # told more talkers than the count found: the loudest others
        if len(talkers) == n_sources:
            break
        if k not in talkers and max(corr[k, t] for t in talkers) < DUPLICATE_CORRELATION:
            talkers.append(k)
    for k in loudest:
        if len(talkers) == n_sources:
            break
        if k not in talkers:
            talkers.append(k)
    groups = {t: [t] for t in talkers}
    for k in loudest:
        if k in groups:
            continue
        best = max(talkers, key=lambda t: corr[k, t])
        if corr[k, best] >= MERGE_CORRELATION and level[k] >= MERGE_LEVEL * level[best]:
            groups[best].append(k)
    if all(len(g) == 1 for g in groups.values()):
        return None
    return [groups[t] for t in talkers]


#: Step 6 weighs each time-frequency cell by each speaker's share of its
#: power, with the outputs' powers first averaged over the neighbouring bins
#: within this band (Hz): one cell's share is a noisy estimate, and a noisy
#: weight biases the spatial covariances.  Over the 42 benchmark rooms of
#: three draws, 9 bins at 3.9 Hz (35 Hz) gained 0.15 to 1.0 dB on every
#: room where step 6 is used, the rest unchanged (17 bins: up to 1.2 dB, but
#: judged by its own filters it dropped a room's step 6).  Whether step 6 is
#: used is still judged with one bin's shares (see its two call sites).
BEAMFORM_SMOOTH_HZ = 35.0
#: Step 6 loads the diagonal of every bin's covariance of the speakers other
#: than the one filtered with this share of the mixture's power per
#: microphone (averaged over bins), so that its inverse stays finite.
WIENER_RIDGE = 1e-6
#: ...and with this share when there are more microphones than speakers.  The
#: dimensions the speakers leave over hold only the room's reverberation and
#: noise, whose weak directions estimated shares misplace, and a filter that
#: trusts those directions fully (as a superdirective beamformer trusts a weak
#: noise floor) loses what it gains elsewhere.  Against 1e-6 (library, told
#: the number): office_6mic_3src and office_4mic_2src of eight draws +0.05
#: dB on average, better on 14 of 16 (up to +0.11), worse on 2 (-0.01); on
#: simulated arrays of 4 and 6 microphones 6 to 50 cm apart where step 6 ran
#: (no talker heard twice), better on 6 of 7 (up to +0.68), worse on 1
#: (-0.45), and of 3 microphones with 2 talkers (RT60 0.5 to 0.65 s, most of
#: them made again at twice the frame) better on 5 of 7 (up to +0.63), worse
#: on 2 (-0.08 and -0.19).  1e-4: +0.01 on the 16; 3e-3 as 1e-3 on the
#: standard draw's offices, 1e-2 lower, 3e-2 lost office_4mic_2src's step 6.
#: With as many microphones as speakers (no dimension left over) the 1e-6
#: stays.
WIENER_RIDGE_SPARE = 1e-3


def smoothing_width(nfft, sample_rate, hz=None):
    """The odd number of bins of an ``nfft`` frame that spans about ``hz``
    (default BEAMFORM_SMOOTH_HZ, read when called)."""
    hz = BEAMFORM_SMOOTH_HZ if hz is None else hz
    return 2 * int(round(hz * nfft / float(sample_rate) / 2)) + 1


def _smooth_bins(P, width):
    """P (N, F, T) averaged, in place, over ``width`` (odd) neighbouring bins
    along F, the edge bins repeated beyond the ends (one output at a time)."""
    if width <= 1:
        return P
    h = width // 2
    for n in range(P.shape[0]):
        Q = np.concatenate([P[n, :1].repeat(h + 1, axis=0), P[n], P[n, -1:].repeat(h, axis=0)])
        Q[0] = 0.0  # so that c[k + width] - c[k] sums the width bins from k
        c = np.cumsum(Q, axis=0, dtype=np.float64)
        P[n] = (c[width:] - c[:-width]) / width
    return P


def _beamform(D, X, C, ref=0, widths=(1,)):
    """Per-speaker Wiener beamformers over all microphones, from the separation.

    With more microphones than speakers, the separation runs in each bin's
    principal subspace, and the dimensions left out still carry what tells
    a speaker from the reverberation and noise around it.  Here the
    separated outputs Y = D X only serve to weigh the time-frequency cells:
    each speaker's share of a cell's power (the powers averaged over a
    number of neighbouring bins) gives that speaker's spatial covariance
    R_n (the cells it dominates) and the rest's R_x - R_n, from which the
    multichannel Wiener filter
    w_n = (R_x - R_n)^-1 R_n e_ref / (1 + tr((R_x - R_n)^-1 R_n)) (Souden et
    al. 2010) estimates its image at microphone ``ref`` from all microphones.

    D: (F, N, M) demixing with projection back; X: (F, M, T) STFT of the
    mixture; C: (F, M, M) its covariance; ``widths``: the numbers of bins the
    powers are averaged over.  Returns a list with the new D (F, N, M) for
    each width (the mixture's outer products are made once for all).
    """
    trace = float(np.mean(np.einsum("fii->f", C).real))
    return _wiener_from_powers(lambda Xd: _power(D, Xd), X, trace, ref, widths)


def _wiener_from_powers(powers, X, trace, ref=0, widths=(1,)):
    """The Wiener filters of :func:`_beamform`, the cells weighed by the
    outputs' powers ``powers(X)`` (N, F, T), made afresh for each width (they
    are averaged in place), ``X`` in double precision; ``trace``: the mean
    over bins of the trace of the mixture's covariance (it sets the ridge)."""
    F, M, _ = X.shape
    # close microphones: differences of nearly equal covariances
    X = X.astype(np.complex128, copy=False)
    cov = _Covariances(X)
    filters = []
    for width in widths:
        share = _smooth_bins(powers(X), width)  # (N, F, T)
        N = share.shape[0]
        ridge = (WIENER_RIDGE_SPARE if N < M else WIENER_RIDGE) * trace / M * np.eye(M)
        tot = share.sum(axis=0)
        share /= np.maximum(tot, 1e-12 * max(float(tot.mean()), _TINY))
        del tot
        out = np.empty((F, N, M), dtype=np.complex128)
        for n in range(N):
            Rn = cov.cov(share[n : n + 1])[0]
            Ri = cov.cov(1.0 - share[n : n + 1])[0]
            G = _solve(Ri + ridge, Rn)
            lam = np.maximum(np.einsum("fii->f", G).real, 0.0)
            out[:, n, :] = np.conj(G[:, :, ref] / (1.0 + lam[:, None]))
        del share
        filters.append(out)
    return filters


#: Step 6 at twice the frame (*Long rooms* in the module docstring) when the
#: recording's decay time is at least this, in seconds (the estimate runs
#: long: 0.28 to 0.32 s in rooms of RT60 0.2 s, 0.33 to 0.45 s at 0.3 s).  On
#: the benchmark's 39 ten-second rooms of three draws, with at most 3
#: microphones and without merged talkers, it is +3.0 to +4.7 dB at RT60 0.4
#: and 0.6 s (six of six), +1.1 to +1.9 with 20 dB of sensor noise at 0.3 s,
#: +0.1 to +1.5 in the offices, -0.46 to +0.8 on room300ms_3x3; below the
#: line it would have lost 3.1 to 3.5 dB on room200ms_2x2.
LONG_DECAY = 0.36
#: ...with at most this many microphones: the covariances of more need more
#: frames than 10 s give at twice the frame (-0.3 on the 6-microphone office
#: array, -1.2 and -1.3 on two of three 4 x 4 rooms).
LONG_MAX_MICS = 3


def _lengthened(y, X, stft, sample_rate):
    """Step 6's Wiener filters at the frame of ``stft``, steered by the
    outputs ``y`` (n_sources, n_samples) analysed at that frame: (F, N, M)."""
    (M, n_samples), F = X.shape, stft.nfft // 2 + 1
    T = stft.n_frames(n_samples)
    P = np.empty((len(y), F, T))  # the outputs' powers, made before the mixture's STFT
    for n in range(len(y)):  # one output's spectrum at a time
        Yf = stft.forward(y[n : n + 1], dtype=np.complex128)[:, 0, :]
        np.multiply(Yf.real, Yf.real, out=P[n])
        P[n] += Yf.imag**2
        del Yf
    Xf = stft.forward(X, dtype=np.complex128)
    steady = _steady_frames(Xf, sample_rate)
    if steady is not None:
        Xf, P = _frames_of(Xf, steady), np.ascontiguousarray(P[:, :, steady])
    trace = sum(np.mean(Xf[:, m].real ** 2 + Xf[:, m].imag ** 2, axis=1) for m in range(M))
    width = smoothing_width(stft.nfft, sample_rate)
    return _wiener_from_powers(lambda _: P, Xf, float(np.mean(trace)), widths=(width,))[0]


# ----------------------------------------------------------------------------
# STFT


# ----------------------------------------------------------------------------
# driver


#: The cost has settled when its last step fell by at most ``tol`` per
#: output, and the step before fell too, by at most this many times as much:
#: it is levelling off, not turning.  The ILRMA cost can turn: on a 48 kHz
#: room (field suite, seed 3) it fell by 7.7, then 0.35, then rose for nine
#: steps (in thousandths per output), and taking the step where it turned as
#: settled stopped the iterations at 29, at 9.0 dB (13.9 run on).  Where
#: the cost levels off steadily (each fall 0.9 times the last, or so), this
#: stops at the same step as before.
SETTLING = 4.0


def _drive(steps, state, n, tol, callback, history):
    """Run up to n steps of a generator; stop early when the cost settles:
    when its last step fell by at most ``tol`` per output (the cost is per
    bin), and the one before fell by at most SETTLING times as much.

    A step that hits a floating-point error (overflow, division by zero) is
    undone and the iterations stop there, so no NaN reaches the output.
    Returns (steps run, converged).
    """
    done = 0
    for _ in range(n):
        W_before = state.W.copy()
        try:
            cost = next(steps)
        except (FloatingPointError, np.linalg.LinAlgError):
            state.W = W_before
            return done, False
        if not np.all(np.isfinite(state.W)) or not np.isfinite(cost):
            state.W = W_before
            return done, False
        done += 1
        history.append(float(cost))
        if callback is not None:
            callback(len(history), float(cost))
        if tol > 0 and done >= 3:
            before, fall = history[-3] - history[-2], history[-2] - cost
            if fall <= tol * state.W.shape[1] and 0.0 <= before <= SETTLING * fall:
                return done, True
    return done, False


def _steps(algorithm, Z, state, cov, rng, warm, n_basis=None):
    if algorithm == "natgrad":
        return _iterate_natgrad(Z, state, cov, "gauss")
    if algorithm == "auxiva":
        return _iterate_auxiva(Z, state, cov, "laplace")
    if algorithm == "auxiva-gauss" or warm:
        return _iterate_auxiva(Z, state, cov, "gauss")
    return _iterate_ilrma(Z, state, cov, rng, n_basis)


def _separate_whitened(
    Z, Q, C, algorithm, max_iter, tol, rng, callback, n_basis=None, runs=False, W0=None
):
    F, N, T = Z.shape
    # from scratch, or from the unmixing W0 (F, N, N) of Z
    W = np.tile(np.eye(N, dtype=np.complex128), (F, 1, 1)) if W0 is None else W0
    state = _State(W.astype(np.complex128))
    cov = _Covariances(Z)
    history: List[float] = []
    warm = min(_SCHEDULE[algorithm][0], max_iter // 4)
    n_iter = 0
    if warm > 0:
        warm_steps = _steps(algorithm, Z, state, cov, rng, True, n_basis)
        k, _ = _drive(warm_steps, state, warm, 0.0, callback, history)
        n_iter += k
        if N > 1:
            try:
                state.W = _align(state.W, Z, Q, C)
            except (FloatingPointError, np.linalg.LinAlgError):
                pass  # degenerate input: keep the warm-up's ordering
    k, converged = _drive(
        _steps(algorithm, Z, state, cov, rng, False, n_basis),
        state,
        max_iter - n_iter,
        tol,
        callback,
        history,
    )
    n_iter += k
    if N > 1 and n_iter > 0:
        # The main iterations sharpen the separation in every bin, which makes
        # the outputs' activity far more telling than after the warm-up: a
        # second alignment catches whole bands still assigned to the wrong
        # speaker.  It only reorders rows per bin; ``history`` is not affected.
        try:
            state.W = _align(state.W, Z, Q, C, local=True, runs=runs)
        except (FloatingPointError, np.linalg.LinAlgError):
            pass
    return state.W, n_iter, converged, history


# ----------------------------------------------------------------------------
# public entry point


def separate_convolutive(
    X,
    *,
    n_sources: Optional[int] = None,
    nfft: int = DEFAULT_NFFT,
    hop: Optional[int] = None,
    algorithm: str = DEFAULT_ALGORITHM,
    max_iter: Optional[int] = None,
    tol: float = 2e-3,
    random_state=None,
    callback: Optional[Callable[[int, float], None]] = None,
    beamform: bool = True,
    postfilter: bool = True,
    merge: bool = True,
    sample_rate: float = 16000.0,
    long_frames: bool = True,
    runs: bool = True,
) -> ConvolutiveResult:
    """Separate a room recording into its speakers, each as heard at mic 1.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples), real
        The recording, channels by samples; at least 2 microphones.
    n_sources : int, optional
        How many speakers to extract, at most n_mics (default n_mics).  With
        fewer speakers than microphones, a talker heard in more than one
        output of a separation into one per microphone is the sum of them
        (``merge``); otherwise every bin is first reduced to its n_sources
        principal components, and the separated speakers then steer a Wiener
        filter over all microphones.
    nfft : int, default DEFAULT_NFFT
        STFT frame length in samples, at least 16 and at most ``n_samples``.
        The frame should be long compared with the room's reverberation:
        4096 (256 ms) at 16 kHz suits rooms with 0.2-0.5 s reverberation.
    hop : int, optional
        STFT hop in samples, from 1 to ``nfft // 2`` (default ``nfft // 4``).
    algorithm : str, default "ilrma"
        One of :data:`ALGORITHMS` (module docstring).
    max_iter : int, optional
        Iteration limit, warm-up included (default 100; 200 for natgrad).
    tol : float, default 2e-3
        Stop when the cost (per bin and output, in nats) changes by less than
        ``tol`` per output between two iterations; 0 runs all ``max_iter``.
    random_state : int or numpy.random.Generator, optional
        Seed of the random start of ILRMA's source model; the same input and
        seed always give the same output (None means seed 0).
    callback : callable(iteration, cost), optional
        Called after every iteration, e.g. for a progress display.
    beamform : bool, default True
        Refine every speaker with a Wiener filter over all microphones where
        it pays (step 6 of the module docstring): with more microphones than
        speakers, and with as many when its outputs carry less crosstalk;
        False keeps the separation's own matrices.
    postfilter : bool, default True
        With two or more speakers, scale each time-frequency cell of the
        outputs down by the crosstalk it holds (step 7); False keeps every
        output a linear filter of the recording, ``unmixing`` applied alone.
    merge : bool, default True
        With more microphones than speakers, separate into one output per
        microphone first and give each talker heard in more than one output
        the sum of them (*Talkers heard twice* in the module docstring);
        where none is, the ``n_sources`` separation follows.  False goes
        straight to it (for a caller that knows no talker is heard twice).
    sample_rate : float, default 16000
        Sample rate of ``X`` in Hz: ``merge`` uses it to find the speech band
        in which outputs are compared, step 6 to average the outputs' powers
        over BEAMFORM_SMOOTH_HZ.
    long_frames : bool, default True
        In a room that rings long, make step 6's Wiener filters at twice the
        frame (*Long rooms* in the module docstring); the result's ``nfft``
        and ``hop`` are then twice ``nfft`` and ``hop``.  False keeps the
        frame given.
    runs : bool, default True
        With 3 to 5 outputs, the final alignment also re-orders runs of
        neighbouring bins of any length, and with 2 to 5 the whole spectrum
        above a cut (step 4); False leaves them out, as the speaker count's
        quick trial separation does.

    Returns
    -------
    ConvolutiveResult
        All zeros, with no iterations, for a silent recording.

    Raises
    ------
    CocktailError
        On arguments the function cannot work with; the message says what to
        change.
    """
    X = np.asarray(X)
    n_sources, nfft, hop, max_iter, tol = _check_args(
        X, n_sources, nfft, hop, algorithm, max_iter, tol
    )
    X = np.asarray(X, dtype=np.float64)
    n_mics, n_samples = X.shape
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    else:
        try:
            rng = np.random.default_rng(0 if random_state is None else random_state)
        except (TypeError, ValueError):
            raise CocktailError(
                f"random_state must be a non-negative whole number, a numpy Generator or None, "
                f"got {random_state!r}"
            ) from None
    n_freq = nfft // 2 + 1

    # the DC offset carries no speech; unit power keeps every floor relative
    X = X - X.mean(axis=1, keepdims=True)
    peak = float(np.max(np.abs(X)))
    if peak > 0.0:  # two steps, so that neither 1e-300 nor 1e300 under/overflows
        X /= peak
    scale = peak * float(np.sqrt(np.mean(np.square(X))))
    if not scale > 0.0:
        return ConvolutiveResult(
            np.zeros((n_sources, n_samples)),
            np.zeros((n_freq, n_sources, n_mics), dtype=np.complex128),
            0,
            True,
            [],
            algorithm,
            nfft,
            hop,
        )
    X /= scale / peak

    stft = STFT(nfft, hop)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        Xf = stft.forward(X)
        steady = _steady_frames(Xf, sample_rate)  # (transients are left out of the estimation)
        merged = None
        if merge and n_mics > n_sources > 1:
            start = copy.deepcopy(rng)  # the n_sources separation's, if it follows
            Z, Q, C = _whiten(_frames_of(Xf, steady), n_mics)
            W, n_iter, converged, history = _separate_whitened(
                Z,
                Q,
                C,
                algorithm,
                max_iter,
                tol,
                rng,
                callback,
                MERGE_ILRMA_BASES_PER_MIC * n_mics,
                runs=runs,
            )
            del Z
            D = _projection_back(np.matmul(W, Q), C)
            freqs = np.arange(n_freq) * float(sample_rate) / nfft
            merged = _talkers_heard_twice(D, Xf, n_sources, freqs, stft, n_samples, steady)
            if merged is None:
                rng = start
            else:
                D = _merged(D, merged, Xf, smoothing_width(nfft, sample_rate), steady)
        if merged is None:
            Z, Q, C = _whiten(_frames_of(Xf, steady), n_sources)
            del Xf
            W, n_iter, converged, history = _separate_whitened(
                Z, Q, C, algorithm, max_iter, tol, rng, callback, runs=runs
            )
            D = _projection_back(np.matmul(W, Q), C)
            del Z
        else:
            del Xf
        beamformed = False
        measured = None  # (post-filter, its STFT, the outputs' STFT or None, outputs)
        smooth = smoothing_width(nfft, sample_rate)
        if merged is not None:
            pass  # step 6 steered by merged outputs loses (module docstring)
        elif beamform and n_mics > n_sources > 1:
            Xf = _frames_of(stft.forward(X), steady)
            try:
                # Judged with the filters from unsmoothed shares (averaged
                # shares make outputs whose powers move together a little
                # more, though they are cleaner), used with the averaged ones.
                filters = _beamform(D, Xf, C, widths=(1, smooth) if smooth > 1 else (1,))
                if _leakage(filters[0], Xf) < _leakage(D, Xf) and np.all(np.isfinite(filters[-1])):
                    D, beamformed = filters[-1], True
                del filters
            except (FloatingPointError, np.linalg.LinAlgError):
                pass  # keep the separation's own matrices
            del Xf
        elif beamform and n_sources > 1:
            D, beamformed, measured = _wiener_if_cleaner(
                D, X, C, stft, n_samples, nfft, smooth, steady
            )
        post_nfft = nfft  # the post-filter's frame follows the separation's
        decay = None
        if (
            long_frames
            and beamform
            and merged is None
            and 1 < n_sources
            and n_mics <= LONG_MAX_MICS
            and n_samples / (hop * 2) >= MIN_FRAMES
        ):
            decay = decay_time(X, sample_rate)
        lengthened = False
        if decay is not None and decay >= LONG_DECAY:
            y_lin = (measured or _measured_outputs(D, X, stft, n_samples, nfft, False))[3]
            long_stft = STFT(2 * nfft, 2 * hop)
            try:
                L = _lengthened(y_lin, X, long_stft, sample_rate)
                if np.all(np.isfinite(L)):
                    D, stft, nfft, hop = L, long_stft, 2 * nfft, 2 * hop
                    measured, lengthened = None, True
            except (FloatingPointError, np.linalg.LinAlgError):
                pass  # keep the filters at the separation's frame
            del y_lin
        bad = ~np.all(np.isfinite(D), axis=(1, 2))
        if bad.any():  # cannot happen short of a bug; silence such bins
            D[bad] = 0.0
        if measured is None:
            measured = _measured_outputs(
                D, X, stft, n_samples, post_nfft, postfilter and n_sources > 1
            )
        post, post_stft, Yp, y = measured
        if postfilter and post is not None:
            # on the outputs' own STFT: filtering per bin leaves a set of
            # coefficients no signal has, and their re-analysis is what is heard
            Yp = post_stft.forward(y) if Yp is None else Yp
            y = post.filter_spectrum(post_stft, Yp, n_samples)
        else:
            post = None
        del Yp
    # D is linear and the post-filter's gains depend on ratios of powers only:
    # both map the unscaled recording to the unscaled outputs
    y *= scale
    return ConvolutiveResult(
        sources=y,
        unmixing=D,
        n_iter=int(n_iter),
        converged=bool(converged),
        history=history,
        algorithm=algorithm,
        nfft=nfft,
        hop=hop,
        beamformed=beamformed,
        postfilter=post,
        merged=merged,
        decay=decay,
        lengthened=lengthened,
        steady=steady,
    )
