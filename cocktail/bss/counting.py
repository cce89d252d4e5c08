"""How many people talk: counting the sources of a recording.

Instantaneous mixtures (``x = A s`` plus sensor noise) are counted from the
eigenvalues of the channel covariance.  N sources in M microphones give N
eigenvalues that carry signal; the other M - N hold only what every
microphone adds on its own:

* the quantisation of the recording (a step of ``2 / 2**bits`` for integer
  audio, found from the samples themselves), or round-off for float audio:
  eigenvalues less than :data:`FLOOR_MARGIN` times that floor are absent;
* sensor noise, white across the microphones, adds the same amount to every
  eigenvalue: a run of at least two smallest eigenvalues equal to within
  :data:`FLAT_RATIO`, and :data:`NOISE_GAP` below the next larger one, is
  noise (the test of Wax & Kailath 1985, in the form of a ratio, since
  speech is not Gaussian and its samples are not independent) when its
  components are Gaussian (noise need not be white in time for this rule,
  the next one asks that); two quiet talkers can be as loud as each other;
* where noise fills every dimension, the directions of the weakest
  eigenvectors, which the sources do not reach, hold only noise: Gaussian
  and white, while any direction a speaker (or an instrument) reaches is
  sparse or has a spectrum; trailing components with excess kurtosis within
  :data:`GAUSSIAN_KURTOSIS` of zero and no more autocorrelation over the
  first :data:`WHITE_LAGS` lags than white noise shows (:data:`WHITE_Q`)
  are noise, whatever their level.  With as many microphones as talkers the
  weakest component is a quiet talker under the noise, and its
  autocorrelation, however faint, is the talker's: 20 dB of sensor noise
  can leave a talker 10 dB quieter than the others less than a tenth of
  that component's power.

When what is left could be either (the weakest kept component nearly
Gaussian), it is counted as a source: a spare
output costs less than a missing speaker, and the result says that it was
unsure.

Room recordings are counted from a separation into one output per
microphone: reverberation and noise fill every frequency bin, so the
covariance has no empty dimensions, but the outputs that hold them sound
like it.  A talker's output starts and stops with the syllables, while an
output made of reverberation is a smeared copy of the talkers, with soft
onsets.  Each output gets a score, its onset sharpness (the mean rise of its
log power from frame to frame, 200 Hz to 6 kHz) relative to the sharpest
output's; outputs within :data:`ROOM_MARGIN` of the best score are talkers,
those within :data:`ROOM_UNSURE` more are counted but reported as unsure.

An array with more microphones than talkers hears each talker in more than
one spatial pattern (on compact arrays, where the microphones are a few
centimetres apart, the trial separation gives most talkers two outputs,
each sharp, each loud).  Such a second output is the same voice through
another filter: in every frequency bin its power rises and falls with the
first output's, frame by frame, where two different talkers' powers do not
(the outputs of separated talkers correlate at most 0.33 over the
benchmark's rooms, a talker's second output with its first 0.50 to 0.68).
So the talkers are then taken loudest first, and one whose power
correlates with a louder talker's by :data:`DUPLICATE_CORRELATION` or more
(mean over the bins of 200 Hz to 6 kHz of the correlation over frames) is
that talker again, not another; one kept less than
:data:`DUPLICATE_UNSURE` below that line makes the count unsure (it was
kept: a spare output costs less than a missing talker).  The same rule counts one talker
alone in a room, whose outputs are all the same voice, as one.

With more microphones than talkers, some outputs hold the talkers'
reverberation, and on arrays such an output can still have sharp onsets
(its power starts with the syllables it echoes).  It is no talker of its
own: its power, bin by bin, is what the louder outputs' powers predict,
frame by frame and up to six frames (0.4 s) later, where a talker's power
is mostly its own.  When the trial separation shows spare dimensions (an
output with soft onsets, or a talker heard again), a candidate whose power
the louder candidates' powers explain (R^2 adjusted for the number of
predictors, mean over the bins of 200 Hz to 6 kHz) by at least
:data:`REVERB_EXPLAINED` + :data:`REVERB_SHORT` / frames is their
reverberation and is not counted.  Without spare dimensions the test is not
made: with as many talkers as microphones in a long reverberation, the
quick trial separation leaves a quiet talker's output so full of the others
that their powers explain 0.5 to 0.7 of it (measured on simulated rooms of
RT60 0.5 to 0.7 s), while the talkers' outputs on arrays with spare
dimensions stay below 0.34 and reverberation outputs reach 0.43 to 0.97
(one of 27: 0.24).  Nor does a spare dimension always show: on an office
array of 4 microphones and 2 talkers the two reverberation outputs can
have onsets only just sharp enough (within the unsure margin), and all
four were kept.  So when more than one candidate lies within the unsure
margin, those candidates (and only those) are tested; of those found to be
reverberation, the least explained is kept all the same, as the one spare
output an unsure count allows.  A quiet talker with as many microphones
as talkers can lie there too, explained 0.48 to 0.72 (4 of 74 simulated
rooms of RT60 0.3 to 0.8 s), where reverberation outputs lie at 0.54 to
0.89 (63 simulated line arrays of 4 to 8 microphones): any line would lose
talkers, so the test only keeps the count from exceeding the clearest one
by more than one.  Several outputs so explained are another matter: a
room with as many microphones as talkers gives one such output per quiet
talker, an array with spare microphones one per spare dimension.  So
when no spare dimension shows, every candidate is tested against a line
:data:`REVERB_MANY_MARGIN` higher (about 0.5 at 10 s), and if
:data:`REVERB_MANY` or more lie above it they are all reverberation.  On
100 simulated rooms with as many microphones as talkers (2 to 4, one or two
of them 3 to 15 dB down, RT60 0.3 to 0.8 s) never more than two outputs
did; on an office array of 6 microphones and 3 talkers three reverberation
outputs, explained 0.61 to 0.74 but each with sharp onsets, had been
counted as talkers (6 of 3).  On 100 simulated line arrays with more
microphones than talkers (2 or 3 talkers, 4 to 8 microphones 3 to 30 cm
apart, RT60 0.2 to 0.7 s) the count was then right on 57 instead of 46,
too many on 36 instead of 48, and too few on 7 instead of 6 (4
microphones, 2 talkers, RT60 0.7 s: every output but the loudest was
explained 0.57 to 0.84, the quieter talker's among them).

Where the direct path carries a talker (a room that rings little, as the
measured office does), there is one more sign. A talker's spatial pattern
(its column of the trial's mixing matrix, each microphone against the
first) turns in phase with frequency as the direct path's delay does;
reverberation comes from every direction and follows no one delay
(:func:`spatial_coherence`: 1 for a pure delay, about 0.1 for random
phases). On an array of at least :data:`DIFFUSE_MIN_MICS` microphones, a
candidate at least :data:`DIFFUSE_DB` below the loudest output whose
coherence is below :data:`DIFFUSE_COHERENCE` and below
:data:`DIFFUSE_RATIO` times the most coherent output's, and whose power the
louder candidates' powers explain by :data:`DIFFUSE_MARGIN` above the
reverberation line (about 0.58 at 10 s), is reverberation, whatever its
onsets. Each condition keeps a talker: over seven draws of the benchmark's
office arrays the talkers lie at 0.80 to 0.97 with 4 microphones on one
line and 0.35 to 0.84 with 6 on two (0.46 and up among those with sharp
onsets), most spare outputs at 0.20 to 0.35; but in simulated rooms of RT60
0.5 s or more every output, talker or not, can lie at 0.15 to 0.30 (nothing
then stands out from the most coherent output), a talker's output of the
quick trial can hold enough of a louder one to be explained 0.79 (2 dB
down, so not below DIFFUSE_DB), and with 3 microphones a poorly separated
talker's pattern can be as diffuse as 0.27. Dropping such an output does
not count as a spare dimension shown: the other candidates are judged as
before.

A small array in a room that rings little hears its talkers' direct paths
clearly and their reverberation less clearly, yet not diffusely: on the
measured office's responses with 4 microphones 3 cm apart, the clearest
output lies at 0.77 to 0.97 and the reverberation outputs at 0.33 to 0.51,
all of them with sharp onsets and none a talker heard again, so that no
spare dimension showed and one talker was counted 4 on one draw of six,
two talkers 4 on four of six.  So on an array whose clearest output
reaches :data:`ARRAY_DIRECT`, the candidates that point one way less than
:data:`ARRAY_RATIO` times as clearly are tested for reverberation without a
spare dimension shown, against a line :data:`ARRAY_MARGIN` above the usual
one: those outputs were explained 0.50 to 0.87, the quieter talkers there
0.02 to 0.42.  Both conditions keep the talkers that the test alone would
take: in simulated rooms with as many microphones as talkers (4, RT60 0.5
s or more), quiet talkers explained 0.50 to 0.65 lay in rooms whose
clearest output reached only 0.52 to 0.58, their own patterns 0.75 to 0.92
times as clear as it; in a line of 4 microphones with three talkers, one
pointing at 0.25 and explained 0.47, the clearest output was at 0.59.  On
517 rooms (the benchmark's arrays of eight draws, 252 simulated line arrays
of as many or more microphones than talkers, 141 line arrays simulated
with pyroomacoustics and 48 more with noise added, 36 compact arrays of
the measured office) it changed 9 counts: 8 from too many to right (6 of
the measured office's compact arrays, two lines of 4 microphones with 3
talkers) and one from 6 to 4 of 3 talkers; none became too few.

The other way round, a talker's output can have soft onsets: the quick
trial separation can leave it smeared by the room (three or four talkers
on microphones a few centimetres apart, RT60 0.2 to 0.4 s).  An output of
reverberation is soft because it follows the talkers; such a talker is
soft but its power is its own.  So an output without sharp onsets that is
at most :data:`SOFT_TALKER_DB` below the loudest, is no counted talker
heard again, and whose power the counted talkers' powers explain by at
least :data:`REVERB_UNSURE` less than the reverberation line (0.39 at 10
s) is counted too (the loudest one such, and the count is then unsure).
On 96 simulated rooms of recorded speech (2 to 4 talkers up to 6 dB
apart, 3 to 8 microphones 4 to 20 cm apart, RT60 0.2 to 0.6 s), 17
outputs without sharp onsets lay within 6 dB of the loudest: the 5
explained 0.12 to 0.30 were each in a room counted one too few without
them (right with them), the other 12 were explained 0.44 to 0.82 (two of
them, 0.44 and 0.54, in rooms still counted too few).  The counts that
were too few went from 11 to 6, and none became too many.  Noise as loud
(about 5 dB SNR) can pass for such a talker: on 24 simulated noisy arrays
it made 2 counts one too many (unsure) and 3 that were too few right.
None of the benchmark's 70 rooms of five draws has an output without
sharp onsets within 6 dB of the loudest.

A quieter talker's output with soft onsets (6 to 12 dB below the loudest)
is told from reverberation by where it comes from: on an array of at least
:data:`DIFFUSE_MIN_MICS` microphones whose counted talkers all point one way
(:func:`spatial_coherence` at least :data:`COHERENT_MARGIN` above
:data:`DIFFUSE_COHERENCE`), such an output that points one way at least
:data:`COHERENT_RATIO` times as clearly as the least clear talker (but no
more clearly than the clearest: a sound on all microphones alike, without
the room, is no talker), is no talker heard again and is explained by the
talkers' powers as little as the soft talker above must be, is counted too
(unsure).  On 469 rooms without added noise (the benchmark's arrays of
eight draws; simulated line arrays of 4 to 8 microphones 3 to 30 cm apart
with 2 to 4 talkers, RT60 0.1 to 0.8 s; compact arrays of measured office
responses) it fired on 4, each a room counted one too few (the output 8 to
12 dB down, coherence 0.50 to 0.72, the least clear talker's 0.42 to 0.62,
explained 0.08 to 0.21), and made no count too many.  On 48 of those rooms
with noise added (5 to 20 dB SNR; white or pink on each microphone, or one
pink noise on all alike) it made one count one too many (a noise on all
microphones alike, at 15 dB SNR, that the trial split into two outputs, one
of them 0.62 coherent); four more such noises, 0.81 to 0.99 coherent, are
left out by the upper bound.  Without the condition on the talkers it
counted one room too many: there the trial separation had split a talker,
its counted output 0.28 coherent and its direct sound in a soft output.

With two microphones nothing shows a spare dimension, and one talker in
a room that rings long can be counted twice: the trial's second output is
the talker's reverberation, with onsets as sharp as a talker's and a power
that does not follow the talker's frame by frame (correlation 0.37 to
0.46, under the line of a talker heard again).  Its power follows the
talker's later: the louder output's power 2 to 6 frames before
(:data:`LATE_LAGS`, 0.13 to 0.38 s at 16 kHz) explains it by 0.47 to 0.55,
where a second talker's is explained at most 0.30 on the benchmark's 56
two-microphone rooms of eight draws and at most 0.47 over 69 simulated
rooms (a talker 15 dB down in a room of 0.8 s).  Too close to drop it;
from :data:`LATE_UNSURE` the count is said to be unsure (one more than the
clearest count): of 10 such rooms of recorded speech counted two (of 30
with one talker, RT60 0.3 to 0.7 s, two microphones 3 to 20 cm apart), 5
had been counted two and sure; of the 125 rooms of two talkers one
reaches the line.

The margins were set on three draws of the benchmark's rooms (42 cases),
the reverberation line on those and 34 simulated arrays, and the condition
of a spare dimension after 27 more simulated rooms (9 of them, with as many
talkers as microphones and RT60 0.5 to 0.7 s, lost a talker without it):
where the count fails, it counts too many (an output of diffuse
reverberation or an array's spare dimension), not too few.

Counting a room runs its trial separation at 16 kHz at most (faster, and
onsets are measured below 6 kHz) on at most :data:`COUNT_SECONDS` of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np

__all__ = ["Count", "count_instantaneous", "count_outputs", "quantisation_step"]

#: An eigenvalue must exceed the quantisation (or round-off) noise by this
#: factor, 20 dB, to count: a dead microphone with a few LSB of hiss stays below.
FLOOR_MARGIN = 100.0
#: Relative round-off floor of float recordings.
ROUND_OFF = 1e-12
#: Noise eigenvalues are equal: the largest and smallest of a noise run
#: differ by less than this factor...
FLAT_RATIO = 1.5
#: ...and the run lies at least this factor (10 dB) below the next eigenvalue.
NOISE_GAP = 10.0
#: Noise is Gaussian: excess kurtosis within this of 0 (the estimate's
#: spread is 0.02 at STAT_SAMPLES; one talker gives 5 to 20)...
GAUSSIAN_KURTOSIS = 0.3
#: ...and white: the portmanteau (Ljung-Box) statistic of its first
#: WHITE_LAGS autocorrelations, T * sum r(k)**2 over T samples, below
#: WHITE_Q.  White noise gives a chi-square with WHITE_LAGS degrees of
#: freedom (above WHITE_Q once in a million draws; at most 33 measured on
#: 660 noise components), a talker's direction some 10**5, and a quiet
#: talker that the sensor noise all but buries (an equal number of
#: microphones and talkers at 20 dB SNR) 80 to 3000.
WHITE_LAGS = 10
WHITE_Q = 47.0
STAT_SAMPLES = 50_000
#: Whiteness is measured on this many contiguous stretches of
#: WHITE_STRETCH samples spread over the recording (all of it when shorter).
WHITE_STRETCHES = 16
WHITE_STRETCH = 8192
#: Bit depths whose quantisation grid is recognised, from 8 to 32 bits.
_BIT_DEPTHS = (8, 16, 24, 32)

#: Room counting: an output whose onset sharpness is within this margin of
#: the sharpest one's (as a fraction of it) is a talker...
ROOM_MARGIN = 0.36
#: ...and within this much more, counted but reported as unsure.
ROOM_UNSURE = 0.08
#: A talker output whose power correlates with a louder talker output's by
#: this much (per bin, over frames; mean over bins) is that talker again...
DUPLICATE_CORRELATION = 0.46
#: ...and the count is unsure when one is kept less than this below it.
DUPLICATE_UNSURE = 0.06
#: A candidate whose power, bin by bin, is predicted by the louder outputs'
#: powers in the same frame and REVERB_LAGS frames before (least squares,
#: R^2 adjusted for the number of predictors, mean over the bins of 200 Hz
#: to 6 kHz) by at least REVERB_EXPLAINED + REVERB_SHORT / frames is their
#: reverberation, not a talker (see the module docstring).
REVERB_LAGS = (0, 1, 2, 4, 6)
REVERB_EXPLAINED = 0.38
#: ...the line is higher for short recordings, where chance explains more.
REVERB_SHORT = 6.0
#: A talker kept less than this below that line makes the count unsure.
REVERB_UNSURE = 0.04
#: Without a spare dimension shown, REVERB_MANY or more candidates explained
#: by at least this much above the line are reverberation all the same (see
#: the module docstring): at 10 s the line is then about 0.5; the quiet
#: talkers of 100 simulated rooms with as many microphones as talkers
#: reached 0.78, but never three in one room.
REVERB_MANY = 3
REVERB_MANY_MARGIN = 0.08
#: With two outputs, both counted, the quieter one whose power the louder
#: one's power 2 to 6 frames before explains by LATE_UNSURE or more makes the
#: count unsure: so does a talker's own reverberation in a room that rings
#: long (see the module docstring).
LATE_LAGS = (2, 4, 6)
LATE_UNSURE = 0.45
#: On an array of at least DIFFUSE_MIN_MICS microphones whose most coherent
#: output points one way at least ARRAY_DIRECT clearly (a direct path
#: carries a talker), a candidate that points one way less than ARRAY_RATIO
#: times as clearly is tested for reverberation without a spare dimension
#: shown, at ARRAY_MARGIN above the line (see the module docstring).
ARRAY_DIRECT = 0.7
ARRAY_RATIO = 0.7
ARRAY_MARGIN = 0.04
#: An output with soft onsets that is at most SOFT_TALKER_DB below the loudest,
#: no counted talker heard again, and whose power the counted talkers' powers
#: explain by at least REVERB_UNSURE less than the reverberation line is a
#: talker all the same (the loudest one such; the count is then unsure): see
#: the module docstring.
SOFT_TALKER_DB = 6.0
#: On an array of at least DIFFUSE_MIN_MICS microphones, a candidate whose
#: spatial pattern points nowhere (:func:`spatial_coherence` below
#: DIFFUSE_COHERENCE) and whose power the louder candidates' powers explain
#: by at least DIFFUSE_MARGIN above the reverberation line is reverberation,
#: whatever its onsets (see the module docstring), when it is also below
#: DIFFUSE_RATIO times the most coherent output's coherence (the room sets
#: how much of a talker's pattern the direct path holds) and at least
#: DIFFUSE_DB below the loudest output.
DIFFUSE_MIN_MICS = 4
DIFFUSE_COHERENCE = 0.30
DIFFUSE_RATIO = 0.5
DIFFUSE_DB = 6.0
DIFFUSE_MARGIN = 0.16
#: When every counted talker's spatial pattern points one way
#: (:func:`spatial_coherence` at least COHERENT_MARGIN above
#: DIFFUSE_COHERENCE), an output with soft onsets that is at most
#: COHERENT_TALKER_DB below the loudest, whose pattern points one way at
#: least COHERENT_RATIO times as clearly as the least coherent talker's, that
#: is no counted talker heard again and whose power the counted talkers'
#: powers explain as little as SOFT_TALKER_DB's talker must is a talker too
#: (unsure): a source of its own, however soft its onsets; but not one more
#: coherent than every talker: what reaches all microphones alike, without
#: the room, is no talker (see the module docstring).
COHERENT_TALKER_DB = 12.0
COHERENT_RATIO = 0.9
COHERENT_MARGIN = 0.1
#: The band over which a spatial pattern's phase is fitted by one delay.
_DIFFUSE_HZ = (100.0, 4000.0)
#: Bins fitted at a time (memory: this many x 35 predictors x frames).
_REVERB_CHUNK = 128
_BAND_HZ = (200.0, 6000.0)


@dataclass
class Count:
    """A speaker count and why.

    Attributes
    ----------
    n : int
        How many sources.
    method : str
        How they were counted.
    unsure : bool
        True when the count could have been one less: a borderline
        component or output was kept.
    evidence : dict
        The figures the choice rests on, for the report.
    notes : list of str
        One line per remark, for stderr.
    heard_again : int
        Room counting: outputs of the trial separation that were a talker
        heard again (a louder talker's duplicate), not counted.
    reverberation : int
        Room counting: outputs of the trial separation with sharp onsets
        whose power the louder outputs' powers predict (their
        reverberation), not counted.
    explained_kept : int
        Room counting: outputs counted as talkers although the louder ones
        explain their power REVERB_MANY_MARGIN or more above the
        reverberation line (kept because too few were so explained to be
        dropped, or as the one spare output of an unsure count; a quiet
        talker can look like that, and so can reverberation on a short
        stretch).
    """

    n: int
    method: str
    unsure: bool = False
    evidence: dict = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    heard_again: int = 0
    reverberation: int = 0
    explained_kept: int = 0

    def describe(self):
        """One line for stderr: the count and what it rests on."""
        what = f"{self.n} speaker{'s' if self.n != 1 else ''}"
        return f"{what} ({self.method}{'; unsure, kept one more' if self.unsure else ''})"

    def as_report(self):
        """The count as a dict for the JSON report (``n_sources``, ``method``,
        ``unsure``, ``evidence``); the notes are left out."""
        return {
            "n_sources": int(self.n),
            "method": self.method,
            "unsure": bool(self.unsure),
            "evidence": self.evidence,
        }


def quantisation_step(X):
    """The step of the integer grid the samples lie on, or None for float audio.

    A recording read from 16-bit PCM holds multiples of 2**-15 only, and so on.
    Looks at every ``n_samples // 20000``-th sample (every sample of a short
    recording) and tries 8, 16, 24 and 32 bits, coarsest first.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples), float
        The recording in its float scale (full scale 1).

    Returns
    -------
    float or None
        ``2 ** (1 - bits)`` for the coarsest bit depth whose grid holds every
        sample looked at; None if none does.
    """
    X = np.asarray(X)
    sample = X[:, :: max(1, X.shape[1] // 20000)]
    for bits in _BIT_DEPTHS:
        scaled = sample * 2.0 ** (bits - 1)
        if np.all(np.abs(scaled) < 2.0**53) and np.array_equal(scaled, np.round(scaled)):
            return 2.0 ** (1 - bits)
    return None


def noise_floor(X, top, step=None):
    """The eigenvalue below which a component of X carries no signal.

    FLOOR_MARGIN times the quantisation noise power (step**2 / 12, the step
    found from the samples when not given) or times the round-off of the
    largest eigenvalue ``top`` for float audio, whichever is larger.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples), float
        The recording (full scale 1); only read when ``step`` is None.
    top : float
        The largest covariance eigenvalue.
    step : float, optional
        The quantisation step (full scale 1); found from ``X`` when None.

    Returns
    -------
    float
        The threshold, in the units of the covariance eigenvalues.
    """
    if step is None:
        step = quantisation_step(X)
    quant = 0.0 if step is None else step * step / 12.0
    return FLOOR_MARGIN * max(quant, ROUND_OFF * top)


def _stretches(n_samples):
    """(start, stop) of WHITE_STRETCHES stretches of WHITE_STRETCH samples,
    evenly spread over ``n_samples`` (one stretch of all when that is fewer)."""
    if n_samples <= WHITE_STRETCHES * WHITE_STRETCH:
        return [(0, n_samples)]
    starts = np.linspace(0, n_samples - WHITE_STRETCH, WHITE_STRETCHES).astype(int)
    return [(int(a), int(a) + WHITE_STRETCH) for a in starts]


def autocorrelation(v, X, stretches, lags):
    """Autocorrelation of the component ``v @ X`` at lags 1 to ``lags``, from
    the products of samples within each (start, stop) stretch, relative to
    its power there."""
    num = np.zeros(lags)
    power = 0.0
    for a, b in stretches:
        seg = v @ X[:, a:b]
        seg = seg - np.mean(seg)
        power += float(np.dot(seg, seg))
        for lag in range(1, min(lags, len(seg) - 1) + 1):
            num[lag - 1] += float(np.dot(seg[lag:], seg[:-lag]))
    return num / max(power, np.finfo(float).tiny)


def _set_aside(m, which, what):
    """Why the last ``m`` components are not counted, for Count.method."""
    if m == 1:
        return f"kept, the {which.split()[-1]} one being {what}"
    return f"kept, the {m} {which} being {what}"


def count_instantaneous(X, step=None):
    """Count the sources of an instantaneous mixture from its covariance.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
        The recording.
    step : float, optional
        Its quantisation step (full scale 1); found from the samples when
        not given (see :func:`quantisation_step`).

    Returns
    -------
    Count
        At least 1; ``evidence`` holds the rank, the eigenvalues in dB
        relative to the largest, the excess kurtosis and lag-1 correlation of
        the components tested, the noise floor in dB and the quantisation.
    """
    X = np.asarray(X, dtype=np.float64)
    if step is None:
        step = quantisation_step(X)
    Xc = X - X.mean(axis=1, keepdims=True)
    lam, vec = np.linalg.eigh(Xc @ Xc.T / X.shape[1])
    lam, vec = np.clip(lam[::-1], 0.0, None), vec[:, ::-1]
    top = max(float(lam[0]), np.finfo(float).tiny)
    threshold = noise_floor(X, top, step)
    rank = int(np.sum(lam > threshold))
    n, why = max(rank, 1), "above the noise floor"
    stride = max(1, X.shape[1] // STAT_SAMPLES)
    kurt = np.full(len(lam), np.nan)
    corr = np.full(len(lam), np.nan)

    stretches = _stretches(Xc.shape[1])
    stretched = sum(b - a for a, b in stretches)  # samples the whiteness is measured on
    white = np.full(len(lam), np.nan)

    def gaussian(k):
        if np.isnan(kurt[k]):
            z = vec[:, k] @ Xc[:, ::stride]
            z /= max(float(np.sqrt(np.mean(z * z))), np.finfo(float).tiny)
            kurt[k] = float(np.mean(z**4) - 3.0)
        return abs(kurt[k]) < GAUSSIAN_KURTOSIS

    def noise_like(k):
        r = autocorrelation(vec[:, k], Xc, stretches, WHITE_LAGS)
        corr[k] = float(r[0])
        white[k] = float(np.sum(r * r) * stretched)
        return gaussian(k) and white[k] < WHITE_Q

    if n == rank == len(lam):  # noise fills every dimension: is there any?
        k = rank
        while k > 1 and noise_like(k - 1):
            k -= 1
        if k < rank:
            n, why = k, _set_aside(rank - k, "weakest", "white Gaussian noise")
        else:
            # a run of equal smallest eigenvalues well below the rest, each
            # Gaussian: sensor noise, even when not white; where they are not
            # Gaussian, quiet talkers that happen to be as loud as each other
            for k in range(1, rank - 1):
                tail = lam[k:rank]
                if (
                    tail[0] <= FLAT_RATIO * tail[-1]
                    and lam[k - 1] >= NOISE_GAP * tail[0]
                    and all(gaussian(j) for j in range(k, rank))
                ):
                    n, why = k, _set_aside(rank - k, "equal smallest", "sensor noise")
                    break
    # the weakest kept component nearly Gaussian: a near-Gaussian source, or
    # noise; kept, as the cheaper mistake
    if n >= 2:
        gaussian(n - 1)
    unsure = n >= 2 and abs(kurt[n - 1]) < 2 * GAUSSIAN_KURTOSIS
    db = [round(float(10 * np.log10(max(v, 1e-300) / top)), 1) for v in lam]
    quant = "float" if step is None else f"{int(round(1 - np.log2(step)))}-bit"
    evidence = {
        "rank": rank,
        "eigenvalues_db": db,
        "excess_kurtosis": [None if np.isnan(v) else round(float(v), 2) for v in kurt],
        "lag1_correlation": [None if np.isnan(v) else round(float(v), 3) for v in corr],
        "whiteness": [None if np.isnan(v) else round(float(v), 1) for v in white],
        "noise_floor_db": round(float(10 * np.log10(threshold / FLOOR_MARGIN / top)), 1),
        "quantisation": quant,
    }
    method = f"covariance eigenvalues: {n} of {len(lam)} {why}"
    return Count(n, method, unsure, evidence)


def _in_band(freqs):
    """Which bins lie within _BAND_HZ, where speech carries its onsets."""
    return (freqs >= _BAND_HZ[0]) & (freqs <= _BAND_HZ[1])


def onset_sharpness(P, freqs):
    """Mean frame-to-frame rise of each output's log power.

    The power is summed over the bins from 200 Hz to 6 kHz; falls count as
    no rise.

    Parameters
    ----------
    P : ndarray, shape (n_freq, n_outputs, n_frames), float
        Power of each output per STFT bin and frame.
    freqs : ndarray, shape (n_freq,)
        Bin frequencies in Hz.

    Returns
    -------
    ndarray, shape (n_outputs,)
        The mean rise of the natural log of each output's power per frame.
    """
    band = _in_band(freqs)
    env = P[band].sum(axis=0)  # (K, T)
    env = np.maximum(env, 1e-9 * max(float(env.max()), np.finfo(float).tiny))
    rise = np.diff(np.log(env), axis=1)
    return np.mean(np.maximum(rise, 0.0), axis=1)


def _standardised(A):
    """A (..., T) with each row shifted and scaled to zero mean, unit power."""
    A = A - A.mean(axis=-1, keepdims=True)
    return A / np.maximum(np.sqrt(np.mean(A**2, axis=-1, keepdims=True)), np.finfo(float).tiny)


def power_correlation(P, freqs):
    """How much the outputs' powers rise and fall together, bin by bin.

    Parameters
    ----------
    P : ndarray, shape (n_freq, n_outputs, n_frames), float
        Power of each output per STFT bin and frame.
    freqs : ndarray, shape (n_freq,)
        Bin frequencies in Hz.

    Returns
    -------
    ndarray, shape (n_outputs, n_outputs)
        For each pair, the correlation over frames of the two outputs' power
        in a bin, averaged over the bins from 200 Hz to 6 kHz (1 on the
        diagonal of an output that is not silent).
    """
    U = _standardised(P[_in_band(freqs)])
    return np.einsum("fkt,fjt->kj", U, U) / max(U.shape[0] * U.shape[2], 1)


def reverberation_explained(P, freqs, k, louder, lags=None):
    """How much of output ``k``'s power the ``louder`` outputs' powers predict.

    In every bin from 200 Hz to 6 kHz, output k's power over frames is fitted
    by least squares to the louder outputs' powers in the same frame and
    REVERB_LAGS frames before (a talker's reverberation follows the talker's
    power and dies away over the next frames; another talker's power does
    not follow it).

    Parameters
    ----------
    P : ndarray, shape (n_freq, n_outputs, n_frames), float
        Power of each output per STFT bin and frame.
    freqs : ndarray, shape (n_freq,)
        Bin frequencies in Hz.
    k : int
        The output to explain.
    louder : list of int
        The outputs to explain it with.
    lags : tuple of int, optional
        The frames before that the louder powers are taken from (default
        REVERB_LAGS).

    Returns
    -------
    float
        The share of the variance explained (R^2 adjusted for the number of
        predictors, mean over the bins), or NaN when the recording has too
        few frames for so many predictors.
    """
    lags = REVERB_LAGS if lags is None else tuple(lags)
    band = _in_band(freqs)
    lag = max(lags)
    T = P.shape[2]
    n = T - lag
    p = len(louder) * len(lags)
    if not louder or n < 2 * p:
        return float("nan")
    bins = np.flatnonzero(band)
    r2 = np.empty(len(bins))
    for at in range(0, len(bins), _REVERB_CHUNK):  # bounded memory with many outputs
        B = P[bins[at : at + _REVERB_CHUNK]].astype(np.float64)
        regs = np.zeros((B.shape[0], p, T))
        for i, (j, d) in enumerate((j, d) for j in louder for d in lags):
            regs[:, i, d:] = B[:, j, : T - d]
        X = _standardised(regs)[:, :, lag:]
        y = _standardised(B[:, k])[:, lag:, None]
        G = X @ X.transpose(0, 2, 1) + 1e-3 * n * np.eye(p)
        resid = y - X.transpose(0, 2, 1) @ np.linalg.solve(G, X @ y)
        r2[at : at + _REVERB_CHUNK] = 1.0 - np.mean(resid[..., 0] ** 2, axis=1) / np.maximum(
            np.mean(y[..., 0] ** 2, axis=1), np.finfo(float).tiny
        )
    return float(np.mean(1.0 - (1.0 - r2) * (n - 1) / (n - p - 1)))


def _distinct(candidates, level, corr, explained=None):
    """The candidates (output indices) that are neither a louder kept one
    again nor the louder ones' reverberation.

    Taken loudest first, a candidate whose power correlates with a louder
    kept one's by DUPLICATE_CORRELATION or more is that talker heard again;
    then, if ``explained`` is given (``explained(k, louder)`` -> (R^2, line)),
    one whose power the louder candidates' powers predict up to the line is
    their reverberation.

    Returns the kept indices (in the order given), each candidate's largest
    correlation with a louder kept one (NaN for the loudest), each judged
    candidate's R^2, how many were heard again and how many reverberation,
    and whether one was kept within DUPLICATE_UNSURE of the correlation line
    or REVERB_UNSURE of the R^2 line (the count might be one less).
    """
    kept, louder, near, fit, unsure = [], [], {}, {}, False
    again = reverb = 0
    for k in sorted(candidates, key=lambda k: -level[k]):
        c = max((float(corr[k, j]) for j in kept), default=float("nan"))
        near[k] = c
        if c >= DUPLICATE_CORRELATION:
            again += 1
        else:
            r2, line = explained(k, louder) if kept and explained else (float("nan"), 0.0)
            fit[k] = r2
            if r2 >= line:
                reverb += 1
            else:
                kept.append(k)
                unsure |= c > DUPLICATE_CORRELATION - DUPLICATE_UNSURE
                unsure |= r2 > line - REVERB_UNSURE
        louder.append(k)
    return [k for k in candidates if k in kept], near, fit, again, reverb, unsure


def spatial_coherence(D, freqs):
    """How well one delay per microphone explains each output's spatial pattern.

    A talker reaches the microphones first by the direct path, so the phase
    of its mixing vector (microphone m against microphone 1) turns with
    frequency as one delay does; reverberation comes from everywhere and its
    phase follows no one delay.  Per output and microphone, the phase
    transform of that ratio over 100 Hz to 4 kHz is turned into a
    cross-correlation (as GCC-PHAT does), whose peak is 1 for a pure delay
    and about 0.1 for random phases; the mean over the microphones is the
    output's coherence.

    Parameters
    ----------
    D : ndarray, shape (n_freq, n_outputs, n_mics), complex
        The unmixing per bin; its pseudo-inverse holds the mixing vectors.
    freqs : ndarray, shape (n_freq,)
        Bin frequencies in Hz.

    Returns
    -------
    ndarray, shape (n_outputs,)
        Between 0 and 1.
    """
    A = np.linalg.pinv(D.astype(np.complex128))  # (F, M, K)
    band = (freqs >= _DIFFUSE_HZ[0]) & (freqs <= _DIFFUSE_HZ[1])
    n = 8 * (len(freqs) - 1)  # the delays on a grid 4 times finer than the frame's samples
    R = A[:, 1:, :] * np.conj(A[:, :1, :])  # (F, M - 1, K)
    R = np.where(band[:, None, None], R / np.maximum(np.abs(R), 1e-300), 0.0)
    peak = np.max(np.abs(np.fft.ifft(R, n=n, axis=0)), axis=0) * n / max(int(band.sum()), 1)
    return np.mean(peak, axis=0)


def count_outputs(P, freqs, upper=None, reverberation=True, coherence=None):
    """Count the talkers among the outputs of a room separation.

    The outputs with a talker's sharp onsets (within ROOM_MARGIN, or
    ROOM_UNSURE more, of the sharpest) are the candidates; taken loudest
    first, a candidate whose power correlates with a louder kept one's by
    DUPLICATE_CORRELATION or more is that talker heard again, and one whose
    power the louder candidates' powers predict (:func:`reverberation_explained`
    at least REVERB_EXPLAINED + REVERB_SHORT / frames) is their
    reverberation; neither is counted (see the module docstring).  With
    ``reverberation``, one output without sharp onsets is counted too when
    it is loud and the counted talkers' powers do not explain it
    (:func:`_soft_talker`); the count is then unsure.

    Parameters
    ----------
    P : ndarray, shape (n_freq, n_outputs, n_frames)
        Power of each output (as heard at microphone 1) per STFT bin and frame.
    freqs : ndarray, shape (n_freq,)
        Bin frequencies in Hz.
    upper : int, optional
        At most this many (e.g. the rank of the recording).
    reverberation : bool, default True
        Also drop the candidates that are the louder ones' reverberation.
    coherence : ndarray, shape (n_outputs,), optional
        Each output's :func:`spatial_coherence`: with ``reverberation``, a
        candidate at least DIFFUSE_DB below the loudest output, no talker
        heard again, below DIFFUSE_COHERENCE and DIFFUSE_RATIO times the
        most coherent output's, that the louder candidates explain by
        DIFFUSE_MARGIN above the reverberation line is reverberation.

    Returns
    -------
    count : Count
        How many talkers, unsure when one was kept within the unsure onset
        margin, less than DUPLICATE_UNSURE below DUPLICATE_CORRELATION or
        less than REVERB_UNSURE below the reverberation line.  Its evidence
        holds, per output in onset order, the level, the onset sharpness,
        the largest power correlation with a louder kept talker and the
        share of its power the louder ones predict (None for the loudest
        and for outputs that were not candidates or not judged).
    talkers : ndarray of int, shape (n,)
        The indices of the outputs counted as talkers, sharpest first.
    """
    K = P.shape[1]
    level = P.sum(axis=(0, 2))
    level_db = 10 * np.log10(np.maximum(level, 1e-300) / max(float(level.max()), 1e-300))
    onset = onset_sharpness(P, freqs)
    score = onset / max(float(onset.max()), np.finfo(float).tiny)
    order = np.argsort(-score, kind="stable")
    gap = score.max() - score[order]
    sharp = int(np.sum(gap <= ROOM_MARGIN + ROOM_UNSURE))
    sure = int(np.sum(gap <= ROOM_MARGIN))
    line = REVERB_EXPLAINED + REVERB_SHORT / max(P.shape[2], 1)
    r2 = {}  # a candidate's louder ones are those before it, whatever was kept

    def against(at):
        def explained(k, louder):
            if k not in r2:
                r2[k] = reverberation_explained(P, freqs, k, louder)
            return r2[k], at

        return explained

    explained = against(line)
    candidates, corr = list(order[:sharp]), power_correlation(P, freqs)
    talkers, near, fit, again, reverb, doubt = _distinct(candidates, level, corr)
    diffuse, judged = [], {}  # candidates from no one direction that follow the louder ones
    below = (
        None
        if coherence is None
        else min(DIFFUSE_COHERENCE, DIFFUSE_RATIO * float(np.max(coherence)))
    )
    if reverberation and coherence is not None:
        louder = []
        for k in sorted(candidates, key=lambda k: -level[k]):
            heard_again = near.get(k, np.nan) >= DUPLICATE_CORRELATION  # it shows a spare one
            if louder and coherence[k] < below and level_db[k] <= -DIFFUSE_DB and not heard_again:
                judged[int(k)] = reverberation_explained(P, freqs, k, louder)
                if judged[int(k)] >= line + DIFFUSE_MARGIN:
                    diffuse.append(int(k))
            louder.append(k)
    spare = sharp < K or again > 0
    if diffuse:
        candidates = [k for k in candidates if int(k) not in diffuse]
        talkers, near, fit, again, reverb, doubt = _distinct(candidates, level, corr)
    borderline = set(int(k) for k in order[sure:sharp]) - set(diffuse)
    many = None  # without a spare dimension: many outputs far above the line
    if reverberation and not spare and sharp > REVERB_MANY:
        many = _distinct(candidates, level, corr, against(line + REVERB_MANY_MARGIN))
        if many[4] + len(diffuse) < REVERB_MANY:  # those dropped as diffuse are far above it too
            many = None
    # An array that hears a talker's direct path: the outputs that point one
    # way less clearly than it are tested without a spare dimension shown.
    top = None if coherence is None else float(np.max(coherence))
    less_clear = set()  # the candidates so tested
    if reverberation and not spare and many is None and top is not None and top >= ARRAY_DIRECT:
        less_clear = {int(k) for k in candidates if coherence[k] < ARRAY_RATIO * top}
    direct = bool(less_clear)
    array_line = line + ARRAY_MARGIN
    tested = reverberation and (spare or many is not None or direct or len(borderline) > 1)
    if reverberation and spare:
        talkers, near, fit, again, reverb, doubt = _distinct(candidates, level, corr, explained)
    elif many is not None:
        talkers, near, fit, again, reverb, doubt = many
    elif tested:
        # No spare dimension shown. Outputs pointing less clearly than the
        # clearest, on such an array, are judged against a line ARRAY_MARGIN
        # higher; and if more than one output is only just sharp enough, of
        # those the louder ones' reverberation one is kept (one more, not
        # two or three more).
        pointing = against(array_line)

        def unsure_explained(k, louder):
            if int(k) in less_clear:
                return pointing(k, louder)
            if int(k) in borderline and len(borderline) > 1:
                return explained(k, louder)
            return float("nan"), 0.0

        kept, near, fit, again, reverb, doubt = _distinct(candidates, level, corr, unsure_explained)
        taken = [
            k
            for k in candidates
            if k not in kept
            and int(k) in borderline
            and int(k) not in less_clear
            and fit.get(k, np.nan) >= line
        ]
        if taken:  # the reverberation found: the least explained stays
            spare_one = min(taken, key=lambda k: fit[k])
            kept = [k for k in candidates if k in kept or k == spare_one]
            reverb -= 1
        talkers = kept
    soft, soft_line, pointed, coherent = None, line - REVERB_UNSURE, None, None
    if reverberation and (upper is None or len(talkers) < upper):
        soft = _soft_talker(P, freqs, order[sharp:], talkers, level_db, corr, soft_line)
    if soft is not None:
        talkers = list(talkers) + [soft[0]]
    least = None if coherence is None else min(float(coherence[k]) for k in talkers)
    if (
        reverberation
        and least is not None
        and least >= DIFFUSE_COHERENCE + COHERENT_MARGIN
        and (upper is None or len(talkers) < upper)
    ):
        # every talker counted comes from one direction: so does a quieter
        # soft output as clearly as they do (and not their reverberation)
        coherent = (COHERENT_RATIO * least, max(float(coherence[k]) for k in talkers))
        rest = [k for k in order[sharp:] if int(k) not in talkers]
        pointed = _soft_talker(
            P, freqs, rest, talkers, level_db, corr, soft_line, coherence, coherent
        )
    if pointed is not None:
        talkers = list(talkers) + [pointed[0]]
    if upper is not None:
        talkers = talkers[:upper]
    late = None  # two outputs, both counted: the quieter one a late echo of the louder?
    if reverberation and K == 2 and len(talkers) == 2:
        quiet, loud = sorted(talkers, key=lambda k: level[k])
        late = reverberation_explained(P, freqs, quiet, [loud], LATE_LAGS)
        late = late if np.isfinite(late) else None
    unsure = (
        doubt
        or any(int(k) in borderline for k in talkers)
        or soft is not None
        or pointed is not None
        or (late is not None and late >= LATE_UNSURE)
    )
    n = len(talkers)
    evidence = {
        "output_level_db": [round(float(v), 1) for v in level_db[order]],
        "onset_sharpness": [round(float(v), 3) for v in score[order]],
        "margin": ROOM_MARGIN,
        "unsure_margin": ROOM_UNSURE,
        "power_correlation": [
            round(near[k], 2) if np.isfinite(near.get(k, np.nan)) else None for k in order
        ],
        "duplicate_correlation": DUPLICATE_CORRELATION,
    }
    if coherence is not None:
        evidence["spatial_coherence"] = [round(float(coherence[k]), 2) for k in order]
        evidence["diffuse_coherence"] = round(below, 3)
    if judged:
        evidence["diffuse_explained"] = [
            round(judged[int(k)], 2) if int(k) in judged else None for k in order
        ]
        evidence["diffuse_line"] = round(line + DIFFUSE_MARGIN, 3)
    if tested:
        evidence["reverberation_explained"] = [
            round(fit[k], 2) if np.isfinite(fit.get(k, np.nan)) else None for k in order
        ]
        shown = line + (REVERB_MANY_MARGIN if many is not None else 0.0)
        evidence["reverberation_line"] = round(shown, 3)
        if direct:  # the line of the outputs pointing less clearly
            evidence["array_reverberation_line"] = round(array_line, 3)
            evidence["array_coherence_below"] = round(ARRAY_RATIO * top, 3)
    method = f"{sharp} of {K} outputs of a trial separation have a talker's sharp onsets" + (
        "" if sharp == K else "; the rest the soft ones of reverberation or noise"
    )
    if again:
        method += (
            f"; {again} of those {'rise and fall' if again > 1 else 'rises and falls'} "
            "with a louder one's power: the same talker heard again"
        )
    if diffuse:
        method += (
            f"; {len(diffuse)} of those {'come' if len(diffuse) > 1 else 'comes'} from no one "
            f"direction and {'follow' if len(diffuse) > 1 else 'follows'} the louder ones' "
            "power: reverberation"
        )
    if reverb:
        method += (
            f"; {reverb} of those {'follow' if reverb > 1 else 'follows'} the louder ones' power "
            "over the next frames: their reverberation"
        )
    if soft is not None:
        evidence["soft_talker"] = {
            "level_db": round(float(level_db[soft[0]]), 1),
            "onset_sharpness": round(float(score[soft[0]]), 3),
            "reverberation_explained": round(soft[1], 2),
            "below": round(soft_line, 3),
        }
        method += (
            f"; 1 output with soft onsets but {-level_db[soft[0]]:.1f} dB below the loudest "
            f"and only {soft[1]:.2f} of its power the talkers' reverberation: a talker"
        )
    if pointed is not None:
        evidence["soft_talker_from_one_direction"] = {
            "level_db": round(float(level_db[pointed[0]]), 1),
            "onset_sharpness": round(float(score[pointed[0]]), 3),
            "spatial_coherence": round(float(coherence[pointed[0]]), 2),
            "coherent_from": round(coherent[0], 3),
            "coherent_to": round(coherent[1], 3),
            "reverberation_explained": round(pointed[1], 2),
            "below": round(soft_line, 3),
        }
        method += (
            f"; 1 output with soft onsets, {-level_db[pointed[0]]:.1f} dB below the loudest, "
            f"but from one direction as clearly as the talkers (coherence "
            f"{coherence[pointed[0]]:.2f}) and only {pointed[1]:.2f} of its power their "
            "reverberation: a talker"
        )
    if late is not None:
        evidence["late_reverberation_explained"] = round(late, 2)
        evidence["late_reverberation_line"] = LATE_UNSURE
        if late >= LATE_UNSURE:
            method += (
                f"; the quieter output's power follows the louder one's 2 to 6 frames later "
                f"({late:.2f} explained), as a talker's own reverberation does in a room that "
                "rings long"
            )
    far = line + REVERB_MANY_MARGIN  # kept talkers the louder ones explain that well
    explained_kept = sum(1 for k in talkers if r2.get(k, float("nan")) >= far)
    if explained_kept:
        evidence["explained_but_kept"] = int(explained_kept)
    count = Count(
        n,
        method,
        unsure,
        evidence,
        heard_again=again,
        reverberation=reverb + len(diffuse),
        explained_kept=explained_kept,
    )
    return count, np.array(talkers, dtype=int)


def _soft_talker(P, freqs, soft, talkers, level_db, corr, below, coherence=None, coherent=None):
    """The loudest of the ``soft`` outputs (no talker's sharp onsets) that is
    a talker all the same: at most SOFT_TALKER_DB below the loudest output,
    not a kept talker heard again (power correlation below
    DUPLICATE_CORRELATION) and explained by less than ``below`` by the powers
    of the ``talkers`` counted (whatever their level: a talker's
    reverberation can hold more power than the talker's own output).  With
    ``coherence`` (per output) and ``coherent`` (low, high), down to
    COHERENT_TALKER_DB below the loudest, but only an output whose coherence
    lies between them.  Returns (its index, R^2) or None."""
    lowest = SOFT_TALKER_DB if coherence is None else COHERENT_TALKER_DB
    for k in sorted((int(k) for k in soft), key=lambda k: -level_db[k]):
        if level_db[k] < -lowest:
            break
        if coherence is not None and not coherent[0] <= coherence[k] <= coherent[1]:
            continue
        if any(corr[k, j] >= DUPLICATE_CORRELATION for j in talkers):
            continue
        r2 = reverberation_explained(P, freqs, k, [int(j) for j in talkers])
        if r2 < below:
            return k, float(r2)
    return None


#: The trial separation that room counting looks at: the quick AuxIVA of the
#: room model's warm-up, run a little longer, on at most COUNT_SECONDS of the
#: recording at COUNT_RATE (onsets are measured below 6 kHz).
COUNT_ALGORITHM = "auxiva-gauss"
COUNT_ITERATIONS = 15
COUNT_RATE = 16000
COUNT_SECONDS = 20.0


def _decimate(X, rate, new_rate):
    """X (M, L) at ``rate`` resampled to ``new_rate`` by cutting its spectrum."""
    L = X.shape[1]
    n = max(1, int(round(L * new_rate / rate)))
    spec = np.fft.rfft(X, axis=1)[:, : n // 2 + 1]
    return np.fft.irfft(spec, n=n, axis=1) * (n / L)


def count_room(X, sample_rate, upper=None, random_state=0):
    """Count the talkers of a room recording (see the module docstring).

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
        The recording.
    sample_rate : int
        Sample rate in Hz.
    upper : int, optional
        At most this many talkers (default: one per microphone).
    random_state : int, default 0
        Seed of the trial separation.

    Returns
    -------
    Count
        1 without a trial separation when fewer than two talkers are
        possible.
    """
    from .iva import default_nfft, separate_convolutive
    from .stft import STFT

    K = X.shape[0] if upper is None else upper
    if K < 2:
        return Count(1, "one component above the noise floor")
    X = np.asarray(X, dtype=np.float64)
    keep = int(COUNT_SECONDS * sample_rate)
    if X.shape[1] > keep:  # evenly spread pieces of a long recording
        starts = np.linspace(0, X.shape[1] - keep // 4, 4).astype(int)
        X = np.concatenate([X[:, s : s + keep // 4] for s in starts], axis=1)
    rate = sample_rate
    if rate > COUNT_RATE:
        X, rate = _decimate(X, rate, COUNT_RATE), COUNT_RATE
    nfft = default_nfft(rate, X.shape[1])
    res = separate_convolutive(
        X,
        n_sources=K,
        nfft=nfft,
        algorithm=COUNT_ALGORITHM,
        max_iter=COUNT_ITERATIONS,
        tol=0.0,
        random_state=random_state,
        runs=False,
        postfilter=False,  # the onset margins were set on the linear outputs
        beamform=K < X.shape[0],  # ...of the separation's own matrices when K = M
        merge=False,  # the trial's K outputs are what is counted
    )
    stft = STFT(nfft, nfft // 4)
    Yf = stft.forward(res.sources)
    P = Yf.real.astype(np.float64) ** 2 + Yf.imag.astype(np.float64) ** 2
    steady = res.steady  # a door slam is no talker: its frames left out
    if steady is not None and steady.size == P.shape[2]:
        P = np.ascontiguousarray(P[:, :, steady])
    freqs = np.arange(P.shape[0]) * rate / nfft
    coherence = None
    if K >= DIFFUSE_MIN_MICS:
        coherence = spatial_coherence(res.unmixing, freqs)
    count, _ = count_outputs(P, freqs, upper, coherence=coherence)
    return count
