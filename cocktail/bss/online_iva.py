"""Block-online separation of room (convolutive) recordings: online AuxIVA.

The batch room model (:mod:`cocktail.bss.iva`) estimates one unmixing matrix per
STFT bin from the whole recording.  Here the matrices are re-estimated after
every block of a stream, from statistics that forget the past, so that the
separation starts as soon as audio arrives and follows speakers who move
(the room responses change).

Method: online auxiliary-function IVA (Taniguchi et al. 2014; Nakashima &
Ono 2022).  Each output ``n`` keeps, per bin ``f``, a weighted covariance of
the microphones,

    V_nf <- (1 - w) V_nf + w mean_t x_f(t) x_f(t)^H / r_n(t),

where ``r_n(t)`` is the output's loudness in frame ``t`` (time-varying
Gaussian prior: the mean power over bins, the same for every bin, which is
what ties the bins of one speaker together).  The past forgets with a time
constant of ``forgetting`` seconds, and the new frames' weight ``w`` is
their share of the forgetting weights summed since the start, so that the
statistics are proper weighted averages from the first block on (a plain
exponential average would let the first block outweigh the next seconds;
measured on the benchmark rooms, the weighted average gains up to 0.7 dB
with three or four speakers).  Row ``n`` of every bin's matrix is then
updated by iterative projection (``iva._ip_sweep``).  The rows keep their
order from block to block (each row is updated from its own history), so an
output keeps its speaker across a gradual move.

With two speakers once the warm-up has run, and with three once the ring
buffer below is full (the model then floored at NMF_LOUDNESS_FLOOR of the
frame's loudness), ``r_n`` becomes a power per cell,
``r_n(f, t) = sum_k B_n(f, k) H_n(k, t)``: each output's spectrum a
sum of ONLINE_NMF_BASES spectral shapes (ILRMA's source model, Kitamura et
al. 2016, learnt online).  The shapes are fitted on the ring buffer at the
warm-up and then follow by online Itakura-Saito NMF, their statistics
forgetting as the covariances do; each block's activations are fitted to its
frames with the shapes held.

Batch steps help, all on a ring buffer of the last HISTORY_SECONDS of
frames (bounded memory): after WARM_SECONDS, a short batch AuxIVA (ILRMA from
WARM_ILRMA_FROM speakers) on what has arrived gives the online updates a good
start, and the Wiener filters' image covariances (:meth:`OnlineIVA._learn`)
restart from the same frames with it: until then they follow the first
second's online outputs, which need not be in its order (+0.26 dB on average
over the benchmark's 42 rooms, better on 27, worse on 5); with REWARM_FROM
speakers or more, when the separation is still unsure as the ring buffer
fills, that warm-up runs once more on it, its outputs matched to the running
ones (and again whenever a separation that was sure turns unsure for
CHANGED_SECONDS: the mixture changed, e.g. a microphone's gain); and every ALIGN_EVERY
seconds the bins are re-aligned to the same speakers as the batch model's
final alignment does (``iva._align`` with ``local``: by activity, band by
band, bin by bin against its neighbours, and by the speakers' delays; the
online updates alone can leave a band of bins following the other speaker),
a re-alignment that would swap the speakers as a whole being undone.  Once the
ring buffer is full (ALIGN_GUARD_SECONDS), a re-alignment that would move
most of the bins at once is refused: it comes from recent frames that
mislead the alignment, and it would hand the speakers to the other outputs.

Once warmed up, a frame far louder than the running power (TRANSIENT_CAP:
a door slam, a cough) is learnt from as if it were that loud, so that it
does not fill the statistics for many of their time constants.

With more microphones than outputs, each bin is first projected onto the
``n_sources`` principal components of a running covariance, tracked block by
block (the matrices are re-expressed in the new basis when it turns).

Outputs are projected back to microphone 1 per bin with the running mixture
covariance (``iva._projection_back``), and synthesised by overlap-add
(:class:`cocktail.bss.stft.BinFilter`): a block's frames are separated with the
matrices estimated up to and including that block, so output depends only on
input already received and follows it by less than one block plus one STFT
frame (:func:`latency_seconds`).

Output filters on longer frames: a matrix per bin of the separation's frame
is a filter as long as the frame, shorter than most rooms ring.  So the
outputs are made by multichannel Wiener filters over all microphones on
frames OUTPUT_FRAME_FACTOR times as long, at the same hop (:class:`_Output`),
each speaker's image covariance tracked from its share of every cell as the
separation of the nearest bin gives it; with low-delay windows they add no
latency.  The post-filter's crosstalk is measured on those frames.

Windows: low-delay (asymmetric) analysis and synthesis windows
(:func:`cocktail.bss.stft.low_delay_windows`, LOW_DELAY): a frame's output is
final a hop after the frame ends, rather than three hops, and each bin still
has the whole frame's frequency resolution.

Frame length: 2048 samples at 16 kHz keep that latency at 0.19 s, but a
matrix per bin of a 128 ms frame is a filter 128 ms long, and a room that
rings for 0.4 to 0.6 s leaves each output its own reverberation and much of
the other speaker's.  :func:`room_frame` chooses frames twice as long for a
stream heard by two microphones whose decay time, estimated on its held
start (:func:`cocktail.bss.decay.decay_time`), is at least LONG_DECAY; the
latency is then 0.25 s.  With more microphones or more speakers the
longer frames lost on most benchmark rooms (half the frames per second to
learn from), so they keep 2048.

Confidence: for every second of output, the dependence of the outputs (how
much their time-frequency power rises and falls together) is recorded beside
that of the microphones, and seconds where separating did not lower it by
UNSURE_MARGIN are reported as unsure (a warning names those after the
start-up).
"""

from __future__ import annotations

import itertools
from typing import List, NamedTuple, Optional

import numpy as np

from ..errors import CocktailError
from .common import as_block, as_recording
from .decay import decay_time
from .iva import (
    _TINY,
    BEAMFORM_SMOOTH_HZ,
    WIENER_RIDGE,
    _align,
    _best_permutations,
    _hermitian,
    _inv,
    _ip_sweep,
    _log_abs_det,
    _power,
    _projection_back,
    _separate_whitened,
    _smooth_bins,
    _solve,
    _whiten,
    smoothing_width,
)
from .postfilter import apply_gain, crosstalk, not_used, summary
from .stft import BinFilter

__all__ = [
    "BLOCK_SECONDS",
    "FORGETTING",
    "OnlineIVA",
    "describe",
    "default_nfft",
    "latency_seconds",
    "room_frame",
    "separate_online_iva",
]

#: Every microphone first goes through a DC blocker (first-order high-pass)
#: with this cutoff, in Hz (0: none): an offset of 5% of full scale cost 1.3
#: to 7.1 dB on five benchmark rooms without it; on the 42 rooms of three
#: draws, which have none, it moves the figure by -0.05 dB on average.
DC_CUTOFF_HZ = 20.0
#: The Wiener filters weigh cells by the speakers' shares of their power
#: averaged over this band of neighbouring bins, in Hz (0: one bin), as the
#: batch model's step 6 does: 5 bins of the 2048-sample frame gained 0.1 to
#: 1.4 dB (mean 0.46) on all 28 benchmark rooms of two draws.
LIVE_SMOOTH_HZ = BEAMFORM_SMOOTH_HZ
#: Nominal block, in seconds: the matrices are updated once per block.
BLOCK_SECONDS = 0.125
#: STFT frame at 16 kHz (128 ms), scaled with the sample rate; hop a quarter.
NFFT_16K = 2048
#: Low-delay windows (:func:`cocktail.bss.stft.low_delay_windows`): output
#: final one hop after its frame ends instead of three, at most 0.19 s behind
#: the input instead of 0.25 s at 16 kHz (0.25 s instead of 0.38 s with the
#: long frames).  Streamed (library, told the number of speakers, SDR from 3 s)
#: through the 48 rooms of four draws of the benchmark with the default
#: frames they gained 0.49 dB on average (better on 35, from -1.38 to
#: +4.67), on the standard draw's 11 rooms 0.20 (-1.89 to +1.38; the
#: 8-microphone circle lost on four draws of five, -0.61 to -1.89), and on
#: the ten rooms of 0.4 and 0.6 s of five draws with frames of 4096 samples
#: 0.57 (better on 9, from -1.45 to +1.29).  The best one filter per bin can
#: do (the oracle, scored as the benchmark does) rose 0.2 to 2.1 dB on seven
#: benchmark rooms at 2048 samples.
LOW_DELAY = True
#: Time constant of the running statistics, in seconds.
FORGETTING = 2.5
#: Iterative-projection sweeps per block (the loudness re-estimated between).
SWEEPS = 1
#: Floor on an output's frame loudness, relative to its running mean.
LOUDNESS_FLOOR = 1e-3
#: Ridge added to the weighted covariances, relative to their mean power (and
#: to the outputs' Wiener filters' covariances with more microphones than
#: speakers).
RIDGE = 1e-4
#: The outputs' Wiener filters' ridge with as many microphones as speakers,
#: relative to the mixture's mean power per microphone: the batch model's
#: step 6's (``iva.WIENER_RIDGE``).  With no dimension left over, every one
#: holds a speaker to be cancelled, and RIDGE's loading keeps the filters
#: from cancelling them where a bin is weaker than the average (the upper
#: band).  Streamed through the command line, SDR from 3 s, against RIDGE:
#: room250ms_4x4 of eight draws +0.84 to +1.25 dB (the standard draw 6.82 to
#: 7.92), room300ms_3x3 +0.15 to +0.55, office_3x3 0.00 to +0.07 (24 rooms,
#: none worse); 12 simulated rooms of 3 or 4 microphones 2.5 to 4 cm apart
#: with as many talkers, +0.27 on average (better on 9, worse on 2: -0.16
#: and -0.51); the two-microphone rooms of four draws -0.06 to +0.04.  With more
#: microphones than speakers RIDGE stays: there 1e-6 lost on 23 of 28
#: benchmark arrays of seven draws (-0.10 on average, compact4 -0.18 to
#: -0.63) and on 9 of 12 simulated ones, and 1e-3 on the compact arrays
#: (-0.04 on eight).
WIENER_RIDGE_EVEN = WIENER_RIDGE
#: A second is reported as unsure when the outputs are not at least this
#: much less dependent than the microphones (``OnlineIVA._close_second``).
UNSURE_MARGIN = 0.25
#: Fewest frames in a second for its dependence to be judged.
MIN_FRAMES_JUDGED = 4
#: Floor of the log power in the dependence, relative to the mean power.
LOG_FLOOR = 1e-6
#: Seconds of per-second confidence kept in the report (beyond: only the
#: unsure intervals are kept), so memory stays bounded.
MAX_SECONDS_KEPT = 3600
#: A block whose power is below this fraction of the running power is silence.
SILENCE = 1e-10
#: Once warmed up, a frame whose power (all bins and microphones) exceeds
#: this many times the running power (7 dB) is scaled down to it for all
#: the model learns from: a door slam, a cough or a dropped object is not
#: a talker, and its power would fill the running statistics for many of
#: their time constants (a burst 30 times the speech's level, 0.3 s long,
#: in a simulated 0.3 s room: 2 to 4 dB lost for 8 s after it, against 0.0
#: to 1.6 dB and 2 s capped; three coughs: 1.8 to 6.2 dB lost in the
#: seconds between them, 0.2 to 3.5 capped).  Speech seldom reaches it
#: after the warm-up: on 34 benchmark rooms of three draws the live figure
#: moved by -0.06 to +0.51 dB (+0.015 on average; 26 within 0.005); at 3
#: times, -0.36 to +0.25.  The outputs themselves are the filters applied to the frames as
#: they are.
TRANSIENT_CAP = 5.0
#: With more microphones than outputs, the principal subspace is found
#: afresh (eigendecomposition) every this many blocks, tracked in between.
EIGEN_EVERY = 40
#: Seconds at the start of a stream not warned about (still starting up).
STARTUP_SECONDS = 2
#: Unsure stretches named in the warning (the report has them all).
MAX_SPANS_SAID = 5
#: Seconds of recent frames kept for the warm-up and the alignment of bins.
HISTORY_SECONDS = 3.0
#: Once this many seconds have arrived, a short batch AuxIVA (or ILRMA, see
#: WARM_ILRMA_FROM) on them, with the batch model's alignment of bins, gives
#: the online updates a good start (one-off cost; output waits for it).  With
#: frames longer than :func:`default_nfft`, it waits in proportion, for as many
#: frames (with 4096-sample frames at 16 kHz and the warm-up after 1 s,
#: room600ms_2x2 gained 1.0 to 2.9 dB over four draws, but a simulated 0.3 s
#: room fell 6.8 dB below its 2048-sample figure and an office 8.1 dB; after
#: 2 s, +1.0 to +2.9, -2.8 and +0.9).
WARM_SECONDS = 1.0
#: Iterations of that batch warm-up.
WARM_ITER = 30
#: With this many speakers or more, the warm-up is ILRMA (its low-rank source
#: model needs fewer frames to tell three or four speakers apart); with two,
#: AuxIVA. Measured on 15 rooms with 3 or 4 speakers (three draws): +0.46 dB
#: on average, better on 12 (up to +1.5), worse on 3 (down to -0.9); with
#: two speakers ILRMA's start on 1 s was once 3 dB worse (room300ms_2x2_4s).
WARM_ILRMA_FROM = 3
#: The start over (REWARM_FROM) is ILRMA with two speakers too when the ring
#: buffer holds at least this many frames (3 s of the default frame at 16 kHz
#: hold 94, at 48 kHz 70; frames twice as long, 47).  On the two-speaker
#: benchmark rooms of four draws that start over with such a buffer: better
#: on 10 of 14 (up to +1.95 dB; room300ms_2x2_48k 9.9 to 10.9), worse on 4
#: (down to -0.28), +0.32 on average; on 17 simulated rooms with two
#: speakers and 2 or 3 microphones (RT60 0.3 to 0.5 s), better on 15 (up to
#: +1.94), worse on 1 (-0.16).  With 47 frames (the long frames of a room
#: that rings long) it was -1.35 to +0.85 on seven rooms, and the line was
#: 60; since the low-delay windows and the spectral shapes, 47 frames gain:
#: +0.40 dB on average over the ten rooms of 0.4 and 0.6 s of five draws
#: (better on 8, -0.21 to +1.72) and +1.43 over eight simulated rooms of
#: RT60 0.5 to 0.7 s (better on 7, -0.41 to +5.66).  (At 48 kHz the long
#: frames' 35 stay AuxIVA.)
REWARM_ILRMA_FRAMES = 40
#: With at most this many microphones, that ILRMA start over runs whether or
#: not the separation was unsure: a sure start gains from it too.  On the
#: two-microphone benchmark rooms of four draws that did not start over
#: (the rooms of RT60 0.2 s and the offices): better on 6 of 8 (up to +2.19
#: dB), worse on 1 (-0.14); on 6 such simulated rooms, better on 5 (up to
#: +0.91), worse on 1 (-0.50); on 6 of the bundled synthesised speech, better
#: on 5 (up to +4.08), worse on 1 (-0.05).  With three microphones (and
#: SHAPES_WAIT_SECONDS), through the command line from 3 s: office_3x3 of
#: eight draws, where the live separation is often sure at 3 s and poor,
#: +2.1 dB on average (better on all, +0.2 to +6.7), room300ms_3x3 +0.4 (0
#: to +1.8; half of them start over anyway); 12 three-talker rooms of
#: synthesised speech +0.4 (-0.9 to +1.9); simulated rooms with recorded
#: speech, which mostly start over anyway, unchanged but +0.2 on 1 of 14.
#: With four or more microphones, from scratch, it lost up to 6.6 dB
#: (office_4mic_2src, two speakers), as AuxIVA's did: see
#: REWARM_FROM_RUNNING.
REWARM_ALWAYS_MICS = 3
#: With more microphones than REWARM_ALWAYS_MICS, the ILRMA start over runs
#: whether or not the separation was unsure too, unless the stream's start
#: was primed (``prime``), but from the running separation: the batch
#: iterations start from its matrices rather than from scratch.  Told the
#: number (not primed), through the command line from 3 s, on the field
#: suite's four arrays of eight draws: +0.95 dB on average, better on 26 of
#: 32 (up to +2.9; compact8_300ms_3src 7.6 to 10.2), worse on 3 (down to
#: -0.7); room250ms_4x4 told 4 of eight draws: +2.2 on one, the others
#: starting over anyway.  From scratch, as three microphones do, it took
#: office_4mic_2src from 9.0 to 1.7 dB (the batch fit on 3 s was worse than
#: the running separation even on those 3 s).  In a primed start (counted
#: from 6 s) it gave +0.12 on average (-0.94 to +1.41): not there.  With
#: three microphones, from the running separation gained less than from
#: scratch (office_3x3 of eight draws +1.45 dB against +2.08).
REWARM_FROM_RUNNING = True
#: After a start over that the separation did not ask for (it was sure;
#: REWARM_ALWAYS_MICS, REWARM_FROM_RUNNING), three speakers' spectral shapes
#: (ONLINE_NMF_LATE_MAX_SOURCES) wait this many seconds before they are
#: fitted on the ring buffer: fitted at once on the start over's outputs,
#: they held a speaker mixed in that the loudness model let go of (a
#: 3-talker room of synthesised speech, RT60 0.3 s: 8.7 dB from 4 s without
#: the start over, 3.6 with it, 8.6 with the wait); over 12 such rooms +0.4
#: dB on average against no start over, +0.1 without the wait.  A wait of
#: 0.5 or 1.5 s gained less (+0.2 and +0.3 on 6 of them).  On the 16
#: three-speaker arrays of eight draws starting over from the running
#: separation, no wait moved them by +0.01 dB on average (-1.44 to +1.03).
SHAPES_WAIT_SECONDS = 1.0
#: With this many speakers or more, when one of the last two seconds (the
#: first excepted) was unsure as the ring buffer fills (HISTORY_SECONDS of
#: sound), the warm-up runs again from scratch on the buffered frames, its
#: outputs taking the places of the running ones they rise and fall with.
#: Three seconds hold what one does not: the batch model on the first 3 s of
#: room300ms_3x3 gives 7.0 dB over seconds 1 to 3 (with the live model's
#: frames), while the live outputs were at 2 dB over seconds 3 to 5.  On the
#: benchmark's rooms (three draws) it ran on 4 of 15 with 3 or 4 speakers
#: (+3.0, +1.2, +1.2 and -0.1 dB) and on 16 of 27 with two (+0.2 dB on
#: average, better on 11, from -0.8 to +1.5); on rooms of
#: :mod:`cocktail.room` (RT60 0.3 to 0.6 s) with the same recorded speech, on
#: 16 of 16 with three speakers (+1.5 dB on average, worse on 3, down to
#: -0.9) and 13 of 16 with two (+0.5, worse on 2, down to -1.2).  Run
#: whatever the live separation's state, it lost 0.8 to 1.7 dB on the three
#: 3-microphone offices (where the live model beats the batch model with its
#: frames), and 5.8 dB on office_4mic_2src, measured on an earlier model
#: (before the spectral shapes, and AuxIVA then with two speakers); measured
#: again since, it runs whatever the state (REWARM_ALWAYS_MICS,
#: REWARM_FROM_RUNNING).
REWARM_FROM = 2
#: A separation that was sure for CHANGED_SECONDS seconds and then unsure for
#: as many has met a changed mixture that it does not follow on its own, and
#: starts over from the buffered frames (all from after the change by then)
#: as at REWARM_FROM, each output keeping its speaker.  One microphone's gain
#: falling or rising 10 dB (automatic gain control) 6 s into two talkers in a
#: simulated 0.2 s room: 0.0 to 1.7 dB on the 2 s windows from 7 to 13 s
#: (16.2 to 16.7 before the change), and 16.4 and 16.2 with the start over
#: 3 s after it.  Unsure seconds all through, as in a room that rings long,
#: are no such change: started over on every 3 unsure seconds,
#: room600ms_2x2 fell from 4.95 to -1.75 dB on one draw.  None of the
#: benchmark's 33 rooms of three draws meets the rule (every figure the same).
CHANGED_SECONDS = 3
#: Once this many seconds of frames have been learnt from (the start over
#: of REWARM_FROM came at half that), a separation of up to REFIT_MAX_MICS
#: microphones is refitted once on all of them: ILRMA from the running
#: separation (WARM_ITER iterations, as the start over), each output keeping
#: its speaker, the outputs' Wiener statistics carrying on.  Three seconds
#: can be too few to separate a band: in a simulated room with microphones 7
#: cm apart, batch ILRMA on the first 3 s left the speakers mixed between
#: 150 and 300 Hz and on the first 5 s did not, and the live separation kept
#: the start over's state there for the rest of the stream (1.6 dB from 3 s
#: on, 8.7 with that band left out of the score); refitted from the running
#: separation it keeps much of it (1.8 dB), but four other rooms of its set
#: gain 1.5 to 6.7 dB.  Streamed through the
#: command line, SDR from 3 s (from 6.5 s in brackets): 24 two-talker rooms
#: simulated with pyroomacoustics as ``bench_live_rooms.py`` draws them
#: +0.63 dB on average (+1.03), better on 12, worse on 6, from -1.7 to +6.7;
#: 24 more drawn after it was set +0.22 (+0.46), from -0.70 to +3.30; 16
#: rooms of ``cocktail.room`` +0.09 (+0.16), from -0.48 to +0.61; the
#: benchmark's 56 two-microphone rooms of eight draws +0.05 (+0.09), from
#: -0.26 to +0.62.  Restarting the Wiener statistics too, as the start over
#: does, lost 0.17 dB on those 56; from scratch rather than from the running
#: separation, a draw of office_2x2 lost its speakers' order; with three
#: microphones (16 rooms of eight draws) +0.04 (+0.11), worse on 7.  0 turns
#: it off.
REFIT_SECONDS = 6.0
REFIT_MAX_MICS = 2
#: ...with this many iterations: with 10 or 15, +0.43 and +0.47 on the first
#: 24 rooms, +0.01 and +0.06 on the next, +0.03 and -0.17 on the benchmark's
#: 56 (one of them with its speakers exchanged).  It takes 0.17 to 0.19 s
#: once (two microphones, 2048- and 4096-sample frames): the whole process
#: on a 10 s stream 16 to 23% longer, and a paced stream's output that much
#: later for a moment at 6 s (the start over at 3 s: 0.11 s).
REFIT_ITER = WARM_ITER
#: ...and waits while more than REFIT_QUIET_SHARE of those frames lie
#: REFIT_QUIET below the loudest tenth's power (-25 dB): near-silent frames
#: weigh in the fit as much as speech does.  A stream opening with 2 s of
#: hiss after a tap on the table, then two talkers whose room changes 5 s
#: later: refitted at once on 6 s, its last 3 s fell from 7.1 and 4.8 dB to
#: 5.7 and 2.1; waiting (refitted at 7.4 s) they rose to 9.2 and 8.3.  No
#: room above waited.
REFIT_QUIET = 10**-2.5
REFIT_QUIET_SHARE = 0.3
#: Every this many seconds, the bins are re-aligned to the same speakers on
#: the recent frames (``iva._align``): the online updates alone can leave a
#: band of bins following the other speaker.
ALIGN_EVERY = 1.0
#: Every this many seconds (and after the warm-up), the post-filter's
#: crosstalk is measured anew on the recent frames; measuring it every second
#: costs a tenth of a two-microphone run.
CROSSTALK_EVERY = 2.0
#: Once this many seconds of stream have arrived (the ring buffer is full),
#: a re-alignment that would move more than ALIGN_MOVE_LIMIT of the rows
#: (bins times outputs) at once is refused: so large a move then comes from
#: a window of recent frames that misleads the alignment, not from the
#: speakers (seen: the upper band of a 4-microphone office recording swapped
#: 24 s into a steady stream, and the speakers then changed outputs; and,
#: with LOCAL_ALIGN, the same recording 4 s in).  Before it, large moves are
#: how the alignment fixes the warm-up's mistakes.
ALIGN_GUARD_SECONDS = HISTORY_SECONDS
#: The largest share of rows one re-alignment may move after ALIGN_GUARD_SECONDS.
ALIGN_MOVE_LIMIT = 0.5
#: Whether that alignment also re-orders whole bands and matches each bin to
#: its neighbours and to the speakers' inter-microphone delays, as the batch
#: model's final alignment does (``iva._align`` with ``local``).  Measured on
#: the benchmark rooms: +0.1 to +2.1 dB on 9 of 14 (most on the office
#: arrays), within 0.02 dB on 3, -0.5 on room300ms_3x3 and room300ms_2x2_snr20.
LOCAL_ALIGN = True
#: Blocks learnt from before the Wiener filters replace the separation's own
#: matrices (their statistics need about a second to settle).
WIENER_AFTER = 8
#: Up to this many outputs, a re-alignment that would relabel the speakers as
#: a whole is undone (all orderings are tried).
MAX_RELABEL = 6
#: A held start of a stream at least this long (seconds from its first
#: sound) is learnt from before it is streamed (:meth:`OnlineIVA.prime`):
#: twice HISTORY_SECONDS, so that the first pass has filled the ring buffer
#: and had its chance to start over (REWARM_FROM) on frames heard once.
#: Measured on the benchmark rooms, from 3 s on: with the 6 s an array is
#: counted from, +0.13 to +1.62 dB on all 15 arrays of three draws; on the 8
#: standard and field rooms of 2 and 3 microphones of one draw, -0.37 to +0.96
#: (mean +0.22); primed on 4 s, mean +0.15; on 2 s, room300ms_3x3 lost 3.1 dB
#: (the second pass's restart then saw the same frames twice).
PRIME_SECONDS = 2 * HISTORY_SECONDS
#: With this many microphones or more, the Wiener filters on the separation's
#: own frames (OUTPUT_FRAME_FACTOR 1, :meth:`OnlineIVA._wiener`) are solved
#: on every second update only (their statistics still learn from every
#: block): the (M x M) solves are a quarter of an 8-microphone run, and
#: filters whose statistics remember 2.5 s change little in 0.125 s.  On the
#: six 6- and 8-microphone benchmark rooms (three draws) the live model ran
#: 10 to 18% faster, SDR -0.47 to +0.08 dB (-0.2 on average).  The outputs'
#: filters on the longer frames (:class:`_Output`, the default) are solved on
#: every update: halved as well, the 12 such arrays of six draws lost 0.19 dB
#: on average (11 worse, -0.50 to +0.07) for a tenth less time (library,
#: interleaved runs: 2.4 to 2.8 s against 2.7 to 3.1 s on compact8_300ms_3src).
WIENER_HALF_FROM = 6
#: The Wiener filters that make the outputs work on frames this many times
#: the separation's, at its hop (:class:`_Output`), steered by it: each
#: speaker's share of a cell is taken from the separation's matrix of the
#: nearest bin.  A filter per bin of a 128 ms frame is shorter than most rooms
#: ring, and with low-delay windows a longer frame adds no latency (a sample
#: is final two hops after it arrives whatever the frame).  Streamed
#: (library, told the number, SDR from 3 s, with the post-filter) on the 14
#: benchmark rooms of the standard draws: +0.60 dB on average, better on 12
#: (from -0.07 on room250ms_4x4 to +1.28 on compact4_300ms_2src;
#: room200ms_2x2 +0.59); on the 42 of three other draws +0.69, better on 36
#: (from -0.79 on an office_4mic_2src to +2.26).  One and a half times the
#: frame: +0.59 and +0.61.  1 (or symmetric windows, whose latency grows
#: with the frame): the separation's own frames.
OUTPUT_FRAME_FACTOR = 2
#: The most complex numbers a temporary of the image covariances holds
#: (:func:`_image_covariances` works through the bins in pieces that fit).
CHUNK_ELEMENTS = 1 << 18
#: Time constant of those filters' statistics, as a multiple of
#: ``forgetting``: twice the bins learn from the same frames (with 2.5 s
#: instead of 4 s, +0.47 dB instead of +0.60 on the 14 rooms above).
OUTPUT_MEMORY = 1.6
#: Frames far louder than the running power (TRANSIENT_CAP) are left out of
#: what those filters learn unless such frames have lasted this long, in
#: seconds (a louder stretch, not a transient), when they are learnt from
#: scaled down as the separation learns from them.  Scaled down and learnt
#: from, a door slam 30 times the speech's level 5 s into a simulated 0.3 s
#: room cost 0.5 to 1.7 dB from 2 s after it to 11 s (three rooms), against
#: up to 0.7 with the separation's frames; left out, up to 1.3 (0.3 on two).
SUSTAINED_SECONDS = 0.5


#: A live room heard by at most LONG_MAX_MICS microphones is separated with
#: frames twice :func:`default_nfft` when its decay time, estimated on the
#: stream's held start (2 s), is at least this, in seconds.  On the 28
#: two-microphone rooms of four draws of the benchmark (streamed, SDR from
#: 3 s) the estimate on the first 2 s is 0.26 to 0.34 s in the rooms of RT60
#: 0.2 s, 0.38 to 0.42 s in the offices, 0.31 to 0.49 s at 0.3 s, 0.43 to
#: 0.56 s at 0.4 s and 0.58 to 0.66 s at 0.6 s; the line takes the four rooms
#: of 0.6 s and three of 0.4 s, and the longer frames gain 0.8 to 2.8 dB on
#: all seven (room600ms_2x2 4.5 to 6.9 dB on the standard draw), in 27 of
#: their 28 windows of 2 s from 3 s on.  Below the line they lost up to
#: 6.6 dB on 0.2 s rooms and 1.2 dB in the offices.  On 20 rooms simulated with
#: :mod:`cocktail.room` (RT60 0.3 to 0.7 s, recorded speech, not used to
#: choose the line) it took 12: +1.5 dB on average, better on 11 (up to
#: +3.9), worse on one (-3.7).
LONG_DECAY = 0.5
#: ...heard by at most this many microphones: with three, or with more
#: microphones than speakers, 4096-sample frames lost 0.4 to 10.1 dB on 14 of
#: 16 benchmark rooms of four draws (with the warm-up after 1 s).
LONG_MAX_MICS = 2

#: Each output's power in every time-frequency cell is modelled as a sum of
#: this many spectral shapes (online ILRMA: the shapes learnt by online
#: Itakura-Saito NMF, Lefevre, Bach & Fevotte 2011, from statistics that
#: forget as the others do; each block's activations fitted to its frames),
#: and the covariances weigh each cell by it rather than by the frame's
#: loudness shared by all bins (0: loudness only).  With two speakers from
#: the warm-up on.  Streamed (library, SDR from 3 s) on the 35 two-speaker
#: rooms of five benchmark draws: +0.54 dB on average, better on 33 (from
#: -0.24 to +2.37; 4 shapes: +0.45); on the ten of them with the long frames
#: +0.28 (-0.05 to +0.77); about a tenth more time.
ONLINE_NMF_BASES = 8
#: Up to this many speakers the shapes start with the warm-up; with more (up
#: to ONLINE_NMF_LATE_MAX_SOURCES), once the ring buffer is full
#: (HISTORY_SECONDS of frames), fitted on it.  From the warm-up, three or
#: four speakers lost (room250ms_4x4 -1.4 dB on average over five draws,
#: office_3x3 -0.6, room300ms_3x3 -0.5, down to -5.1): one second is too
#: little to learn three speakers' shapes from.
ONLINE_NMF_MAX_SOURCES = 2
#: ...and with more speakers, up to this many, the modelled power of a cell
#: floored at NMF_LOUDNESS_FLOOR of the output's loudness in its frame.
#: On the 20 three-speaker rooms of five draws, streamed three times in a
#: row: +0.21 dB on average on the first pass (better on 15, -0.98 to
#: +1.16), +0.50 on the second (18 better), +0.74 on the third (all 20
#: better).  Without the floor the shapes drifted on some rooms over the
#: passes; with four speakers they drifted even with it (room250ms_4x4 6.8,
#: 5.1 and 5.1 dB over three passes against 6.3, 6.3 and 7.0 with the
#: loudness alone), so four or more keep the loudness.
ONLINE_NMF_LATE_MAX_SOURCES = 3
#: The floor, a fraction of the frame's loudness (with two speakers it cost
#: 0.04 dB on average, down to -1.6, so they go without).
NMF_LOUDNESS_FLOOR = 0.1
#: Multiplicative updates of a block's activations, from the frames' loudness.
ONLINE_NMF_ITER = 5
#: Multiplicative updates of the shapes and activations fitted on the ring
#: buffer at the warm-up and the start over.
ONLINE_NMF_FIT_ITER = 30


def room_frame(first, sample_rate, n_sources):
    """The live room model's STFT frame for a stream, from its held start.

    Parameters
    ----------
    first : ndarray, shape (n_mics, n_samples)
        The stream's start, from its first sound (what the model and the count
        were judged on).
    sample_rate : float
        Sample rate in Hz.
    n_sources : int
        The number of speakers to separate.

    Returns
    -------
    nfft : int
        :func:`default_nfft`, or twice it in a room that rings long (decay time
        at least LONG_DECAY, two speakers or more, at most LONG_MAX_MICS
        microphones).
    decay : float or None
        The estimated decay time in seconds, None when it was not estimated
        (more microphones, one speaker) or cannot be (too little sound).
    """
    nfft = default_nfft(sample_rate)
    if first.shape[0] > LONG_MAX_MICS or n_sources < 2:
        return nfft, None
    decay = decay_time(first, sample_rate)  # NaN when too little sound
    if not np.isfinite(decay):
        return nfft, None
    return (2 * nfft if decay >= LONG_DECAY else nfft), float(decay)


def describe(n_sources=None):
    """One line naming the method, for the report.

    Parameters
    ----------
    n_sources : int, optional
        The speakers separated: the source model is the spectral shapes'
        after the warm-up with two (ONLINE_NMF_MAX_SOURCES), once the ring
        buffer is full with three (ONLINE_NMF_LATE_MAX_SOURCES), the frames'
        loudness with more.

    Returns
    -------
    str
    """
    prior = "time-varying Gaussian prior"
    if ONLINE_NMF_BASES and n_sources and 1 < n_sources <= ONLINE_NMF_LATE_MAX_SOURCES:
        shapes = (
            f"each speaker's power a sum of {ONLINE_NMF_BASES} spectral shapes learnt online "
            "(online ILRMA)"
        )
        late = f"{prior}, then {shapes} from {HISTORY_SECONDS:g} s on"
        prior = shapes if n_sources <= ONLINE_NMF_MAX_SOURCES else late
    return (
        "block-online AuxIVA per STFT bin (iterative projection, forgetting statistics, "
        f"{prior}; Taniguchi et al. 2014)"
    )


def default_nfft(sample_rate):
    """STFT frame length for the online model: 2048 at 16 kHz, scaled to a power of two.

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.

    Returns
    -------
    int
        The frame length in samples (:data:`NFFT_16K` scaled with the sample
        rate and rounded to a power of two).
    """
    return int(2 ** round(np.log2(NFFT_16K * sample_rate / 16000.0)))


def latency_seconds(
    sample_rate, block_seconds=BLOCK_SECONDS, nfft=None, low_delay=LOW_DELAY, hop=None
):
    """Longest delay, in seconds, from a sample's arrival to its output.

    A sample is output once every frame that adds to it has been read and
    the block holding that frame's end is complete: with symmetric windows
    the last such frame ends up to ``nfft`` samples after the sample, with
    low-delay ones (whose synthesis window covers the frame's last two hops)
    up to ``2 hop``.  So at most one block plus one STFT frame: 0.19 s at
    16 kHz with the defaults (0.25 s with symmetric windows).

    Parameters
    ----------
    sample_rate : float
        Sample rate in Hz.
    block_seconds : float, default BLOCK_SECONDS
        Block length in seconds (rounded to whole samples).
    nfft : int, optional
        STFT frame length in samples (default :func:`default_nfft`); the hop
        is ``nfft // 4``.
    low_delay : bool, default LOW_DELAY
        Whether the windows are low-delay ones.
    hop : int, optional
        STFT hop in samples (default ``nfft // 4``).

    Returns
    -------
    float
        The latency in seconds.
    """
    nfft = default_nfft(sample_rate) if nfft is None else nfft
    block = max(1, int(round(block_seconds * sample_rate)))
    hop = nfft // 4 if hop is None else hop
    return (block + (2 * hop if low_delay else nfft)) / float(sample_rate)


class _Filter(BinFilter):
    """A :class:`BinFilter` whose matrices are re-estimated from each batch of frames."""

    def __init__(self, owner, W, nfft, hop):
        super().__init__(W, nfft, hop, post=owner._post, low_delay=owner.low_delay)
        self._owner = owner

    def _learn(self, spec):
        self.W = self._owner._learn(spec)


class _Analyser(BinFilter):
    """The separation's frames of a stream, cut as :class:`_Filter` cuts them,
    learnt from and not synthesised (the outputs are :class:`_Output`'s)."""

    def __init__(self, owner):
        super().__init__(
            None, owner.nfft, owner.hop, channels=owner.n_mics, low_delay=owner.low_delay
        )
        self._owner = owner

    def _run(self, final):
        spec = self._read_frames()
        if spec is not None:
            self._owner._learn(spec)
        return np.zeros((self.n_out, 0))


class Handover(NamedTuple):
    """What the separation passes on to the outputs after learning from a
    block (:meth:`OnlineIVA.analyse`), for :meth:`OnlineIVA.synthesise`.

    Attributes
    ----------
    block : ndarray or None
        The block (DC blocked), None at the end of the input.
    D : ndarray or None
        The separation now, at the outputs' bins, (F, N, M); None when the
        outputs are the separation's own filters (and all the work is
        :meth:`OnlineIVA.synthesise`'s).
    warmed : bool
        Whether the warm-up has run.
    restart : bool
        The separation started afresh from its ring buffer since the last
        handover: the outputs' statistics restart from theirs.
    learns : bool or None
        Whether the separation learnt from the block's frames (None: it saw no
        whole frame).
    remeasure : bool
        The separation warmed up or re-aligned since the last handover: the
        outputs' crosstalk is measured again once their filters follow.
    """

    block: Optional[np.ndarray]
    D: Optional[np.ndarray]
    warmed: bool = False
    restart: bool = False
    learns: Optional[bool] = None
    remeasure: bool = False


class _History:
    """What :class:`_Output` and :class:`OnlineIVA` share: the last frames in a
    ring buffer (``_hist``, ``_hist_n`` frames written to it in all) and the
    post-filter's crosstalk measured on them (``crosstalk``)."""

    def _keep_history(self, F, M, length, crosstalk_every, postfilter):
        self._hist = np.zeros((F, M, length), dtype=np.complex64)  # ring buffer
        self._hist_n = 0  # frames written to it in all
        self._crosstalk_every = crosstalk_every
        self._next_crosstalk = 0
        self._measures = postfilter
        self.crosstalk = None  # (F, N, N) once measured

    def _remember(self, X):
        """Keep the last frames X (F, M, T) in the ring buffer."""
        self._hist_n = _ring_write(self._hist, self._hist_n, X)

    def _recent(self):
        """The buffered frames in time order, (F, M, T)."""
        return _ring_read(self._hist, self._hist_n)

    def _measure_crosstalk(self, W):
        """Measure the crosstalk of the outputs of filters W (F, N, M) on the
        ring buffer, when ``_crosstalk_every`` frames have passed since the
        last time."""
        if not self._measures or self._hist_n < self._next_crosstalk:
            return
        self._next_crosstalk = self._hist_n + self._crosstalk_every
        self.crosstalk = _crosstalk_of(W, self._recent())

    def _post(self, out):
        """The post-filter's gains on filtered frames ``out`` (F, N, T), in place."""
        if self.crosstalk is not None:
            apply_gain(out, self.crosstalk)


class _Output(_History, BinFilter):
    """The outputs: multichannel Wiener filters over all microphones on frames
    OUTPUT_FRAME_FACTOR times the separation's, at its hop.

    Each speaker's image covariance is tracked from its share of every cell,
    taken from the separation's matrix of the nearest bin of the owner's
    frame, as :meth:`OnlineIVA._wiener` does at that frame; the post-filter's
    crosstalk is measured on these frames.  Fed the same blocks right after
    the owner's :class:`_Analyser`, so that a block's frames are filtered with
    what the separation learnt from them.  The statistics restart from the
    ring buffer whenever the separation does (warm-up, start over), learn
    nothing before the warm-up, and leave out transients (SUSTAINED_SECONDS).
    """

    def __init__(self, owner, nfft):
        F, M, N = nfft // 2 + 1, owner.n_mics, owner.n_sources
        super().__init__(
            np.zeros((F, N, M), dtype=np.complex128),
            nfft,
            owner.hop,
            post=self._post,
            low_delay=True,
        )
        self._nearest = np.minimum(
            np.round(np.arange(F) * owner.nfft / nfft).astype(int), owner.nfft // 2
        )
        rate = owner.sample_rate
        self._frame_weight = np.exp(-owner.hop / (OUTPUT_MEMORY * owner.forgetting * rate))
        self._smooth = smoothing_width(nfft, rate, LIVE_SMOOTH_HZ)
        self._C = np.zeros((F, M, M), dtype=np.complex128)
        self._R = np.zeros((N, F, M, M), dtype=np.complex128)
        self._mass = 0.0
        self._power = 0.0  # running power per frame, for TRANSIENT_CAP
        self._power_mass = 0.0
        self._loud_run = 0  # frames in a row above TRANSIENT_CAP times the running power
        self._sustained = int(round(SUSTAINED_SECONDS * rate / owner.hop))
        self._keep_history(F, M, owner._hist_len, owner._crosstalk_every, owner.postfilter)
        self.updates = 0
        # What the separation told it (:meth:`receive`, before every block),
        # kept until used, as the separation left it after learning from the
        # same frames.
        self._D_now = None
        self._warmed = False
        self._restart = False  # restart the statistics from the ring buffer
        self._learns = False  # the separation learnt from the frames now arriving
        self._remeasure = False  # measure the crosstalk again once the filters are updated

    def receive(self, handover):
        """Take what the separation passed on after learning from a block
        (:class:`Handover`)."""
        self._D_now = handover.D
        self._warmed = handover.warmed
        self._restart = self._restart or handover.restart
        self._remeasure = self._remeasure or handover.remeasure
        if handover.learns is not None:
            self._learns = handover.learns

    def _learn(self, spec):
        X = np.ascontiguousarray(spec.transpose(2, 0, 1)).astype(np.complex128)  # (F, M, T)
        learn = X  # the frames the statistics learn from
        if self._warmed and TRANSIENT_CAP and self._power > 0:
            loud = np.mean(X.real**2 + X.imag**2, axis=(0, 1)) * X.shape[1]
            over = loud > TRANSIENT_CAP * self._power
            runs = []  # how many frames in a row, up to each, were that loud
            for o in over:
                self._loud_run = self._loud_run + 1 if o else 0
                runs.append(self._loud_run)
            if np.any(over):
                # kept scaled down, as the separation's ring buffer keeps them,
                # and left out of the statistics unless they have lasted
                # SUSTAINED_SECONDS (a louder stretch, not a transient)
                X[:, :, over] *= np.sqrt(TRANSIENT_CAP * self._power / loud[over])
                learn = X[:, :, ~over | (np.array(runs) > self._sustained)]
        self._remember(X)
        D = self._D_now
        if self._restart:  # the separation started afresh from its ring buffer
            self._restart = False
            recent = self._recent().astype(np.complex128)
            self._R = _image_covariances(D, recent, self._smooth)
            self._C = np.matmul(recent, _hermitian(recent)) / recent.shape[2]
            self._mass = min(float(recent.shape[2]), 1.0 / (1.0 - self._frame_weight))
            self._power = float(np.mean(recent.real**2 + recent.imag**2)) * recent.shape[1]
            self._power_mass = self._mass
        elif self._learns and not self._warmed:
            pass  # what it would learn is replaced from the ring buffer at the warm-up
        elif self._learns:  # the separation learnt from these frames
            # the running power follows every frame (scaled down), as the
            # separation's does, so that a louder stretch is soon the norm
            self._power_mass, w = _weigh(self._power_mass, X.shape[2], self._frame_weight)
            power = float(np.mean(X.real**2 + X.imag**2)) * X.shape[1]
            self._power = (1 - w) * self._power + w * power
            T = learn.shape[2]
            if T == 0:
                return
            self._mass, w = _weigh(self._mass, T, self._frame_weight)
            R = _image_covariances(D, learn, self._smooth)
            self._R *= 1 - w
            self._R += R * w
            # the shares sum to one: the mixture's covariance is the images'
            # sum, which keeps each speaker's complement C - R_n their sum
            self._C *= 1 - w
            self._C += R.sum(axis=0) * w
        else:
            return
        self._learns = False
        self.updates += 1
        if self.updates <= WIENER_AFTER or not self._warmed:
            self.W = D  # the statistics need about a second to settle, and the warm-up
        else:
            filters = _wiener_filters(self._C, self._R)
            if filters is not None:
                self.W = filters
        if self._remeasure:  # after a warm-up or re-alignment, on what is now applied
            self._remeasure = False
            self._measure_crosstalk(self.W)


class OnlineIVA(_History):
    """Separate a room recording block by block, following changing rooms.

    Parameters
    ----------
    n_mics : int
        Microphones (rows of each block), at least 2.
    n_sources : int, optional
        Outputs, at most ``n_mics`` (default ``n_mics``).
    sample_rate : float
        Samples per second (Hz).
    block_seconds : float, default BLOCK_SECONDS
        Nominal block, in seconds; :meth:`process` takes blocks of any
        length, and the matrices are updated whenever whole STFT frames are
        complete.
    nfft : int, optional
        The separation's STFT frame in samples (default :func:`default_nfft`);
        hop ``nfft // 4``.  The outputs' Wiener filters work on frames
        OUTPUT_FRAME_FACTOR times as long (``output_nfft``).
    forgetting : float, default FORGETTING
        Time constant of the running statistics, in seconds: shorter follows
        a moving speaker sooner, longer separates better at rest.
    sweeps : int, default SWEEPS
        Iterative-projection sweeps per batch of frames.
    wiener : bool, default True
        Output each speaker through a multichannel Wiener filter over all
        microphones, built from the separation (see :meth:`_learn`), rather
        than through the separation's own matrices; with low-delay windows
        and two speakers or more, on frames OUTPUT_FRAME_FACTOR times the
        separation's (:class:`_Output`).
    postfilter : bool, default True
        Scale each time-frequency cell of the outputs down by the crosstalk
        it holds (:mod:`cocktail.bss.postfilter`), measured on the ring
        buffer after the warm-up and every CROSSTALK_EVERY seconds; applied
        on the same frames as the filters, so it adds no latency. False
        keeps the outputs a linear filter of the input.
    hop : int, optional
        STFT hop in samples (default ``nfft // 4``).
    low_delay : bool, default LOW_DELAY
        Low-delay analysis and synthesis windows
        (:func:`cocktail.bss.stft.low_delay_windows`; hop at most
        ``nfft // 2``); False: symmetric Hann windows.

    Attributes
    ----------
    nfft, hop, block_size : int
        The separation's STFT frame, the STFT hop and the nominal block, in
        samples.
    output_nfft : int
        The frame the outputs' filters work on (``nfft`` without
        :class:`_Output`).
    n_freq : int
        Frequency bins, ``nfft // 2 + 1``.
    warmed : bool
        Whether the batch warm-up has run.
    frames, updates : int
        STFT frames seen, and batches of frames whose update was kept.
    seconds : int
        Seconds of output whose confidence has been judged.
    dependence, mic_dependence : list of float
        Per second (the first MAX_SECONDS_KEPT), the dependence of the
        outputs and of as many microphones.
    cost : list of float
        Per second (the first MAX_SECONDS_KEPT), the mean cost change of its
        blocks.
    unsure : list of [int, int]
        The unsure seconds, as merged ``[start, end)`` intervals.
    last_cost_change : float
        The cost change of the last update.

    Raises
    ------
    CocktailError
        If ``n_mics`` is below 2, ``n_sources`` is not between 1 and
        ``n_mics``, or ``sample_rate``, ``block_seconds`` or ``forgetting`` is
        not positive.
    """

    def __init__(
        self,
        n_mics,
        n_sources=None,
        *,
        sample_rate,
        block_seconds=BLOCK_SECONDS,
        nfft=None,
        forgetting=FORGETTING,
        sweeps=SWEEPS,
        wiener=True,
        postfilter=True,
        hop=None,
        low_delay=LOW_DELAY,
    ):
        if n_sources is None:
            n_sources = n_mics
        if n_mics < 2:
            raise CocktailError(f"online IVA needs at least two microphones, got {n_mics}")
        if not 1 <= n_sources <= n_mics:
            raise CocktailError(f"n_sources must be between 1 and {n_mics}, got {n_sources}")
        if not (sample_rate > 0 and block_seconds > 0 and forgetting > 0):
            raise CocktailError("sample_rate, block_seconds and forgetting must be positive")
        if sweeps < 1:
            raise CocktailError(f"sweeps must be at least 1, got {sweeps}")
        self.n_mics, self.n_sources = int(n_mics), int(n_sources)
        self.sample_rate = float(sample_rate)
        self.nfft = default_nfft(sample_rate) if nfft is None else int(nfft)
        self.hop = self.nfft // 4 if hop is None else int(hop)
        if not (1 <= self.hop <= self.nfft // 2 and self.nfft % self.hop == 0):
            raise CocktailError(
                f"the STFT hop must divide the frame of {self.nfft} samples and be at most "
                f"half of it, got {self.hop}"
            )
        self.low_delay = bool(low_delay)
        self.block_size = max(1, int(round(block_seconds * sample_rate)))
        self.forgetting = float(forgetting)
        self.sweeps = int(sweeps)
        F, M, N = self.nfft // 2 + 1, self.n_mics, self.n_sources
        self.n_freq = F
        self._frame_weight = np.exp(-self.hop / (self.forgetting * self.sample_rate))
        self._C = np.zeros((F, M, M), dtype=np.complex128)  # mixture covariance
        self._V = np.zeros((N, F, N, N), dtype=np.complex128)  # weighted, on the subspace
        self._P = None  # (F, N, M) principal subspace, None when N == M
        self._W = np.tile(np.eye(N, dtype=np.complex128), (F, 1, 1))  # on the subspace
        self._D = np.zeros((F, N, M), dtype=np.complex128)  # separation, projected back
        self.wiener = bool(wiener)
        self._R = np.zeros((N, F, M, M), dtype=np.complex128)  # each speaker's image covariance
        self._B = None  # (N, F, K) spectral shapes, once they are fitted (_low_rank)
        self._Bnum = self._Bden = None  # their update's running numerator and denominator
        # bins over which the Wiener filters' shares are averaged
        self._smooth = smoothing_width(self.nfft, self.sample_rate, LIVE_SMOOTH_HZ)
        self._wiener_updates = 0
        self._applied = self._D  # what the filter applies: the Wiener filters once settled
        self._power = 0.0  # running mixture power per frame
        # Forgetting weights summed over the frames each running statistic
        # holds: a new batch of T frames weighs T / (this sum), so that the
        # statistics are weighted averages from the first frame on.
        self._C_mass = self._V_mass = self._R_mass = 0.0
        self.postfilter = bool(postfilter)
        self._remeasure = False  # measure it again once the filters are updated
        self._R_fresh = False  # _R was just set from the ring buffer
        self._filter = _Filter(self, self._D, self.nfft, self.hop)
        self._hist_len = max(1, int(round(HISTORY_SECONDS * self.sample_rate / self.hop)))
        every = max(1, int(round(CROSSTALK_EVERY * self.sample_rate / self.hop)))
        self._keep_history(F, M, self._hist_len, every, self.postfilter)
        # as many frames as WARM_SECONDS gives at the default frame, or more
        longer = max(1.0, 4 * self.hop / default_nfft(self.sample_rate))
        self._warm_at = int(round(longer * WARM_SECONDS * self.sample_rate / self.hop))
        self._align_every = max(1, int(round(ALIGN_EVERY * self.sample_rate / self.hop)))
        self._next_align = self._warm_at + self._align_every
        self.warmed = False
        self.rewarmed = False
        self._dc_state = None  # the DC blocker's state, per microphone
        self.restarted_at = None  # stream seconds when it started over (REWARM_FROM)
        self.refitted_at = None  # stream seconds when it was refitted (REFIT_SECONDS)
        refit = REFIT_SECONDS and M <= REFIT_MAX_MICS and N > 1
        self._refit_at = int(round(REFIT_SECONDS * self.sample_rate / self.hop)) if refit else 0
        self._refit_frames: list = []  # the frames kept for it and their powers, until it runs
        self._shapes_from = 0  # frame count before which the shapes wait (SHAPES_WAIT_SECONDS)
        self._priming = False  # within prime()
        self.primed_seconds = None  # seconds learnt from before streaming (prime)
        self.tamed_frames = 0  # frames learnt from scaled down (TRANSIENT_CAP)
        self.changes = 0  # start overs on a changed mixture (CHANGED_SECONDS)
        self._started_over = 0  # the second of the last one
        self.frames = 0
        self.updates = 0
        # per-second confidence
        self._frames_per_second = max(1, int(round(self.sample_rate / self.hop)))
        self._start_confidence()
        self.last_cost_change = 0.0
        # Seconds of silence or steady noise the stream began with (set by the
        # caller): the start-up whose unsure seconds go unsaid begins after them.
        self.sound_from = 0.0
        # The outputs' frame: with the Wiener filters and low-delay windows,
        # OUTPUT_FRAME_FACTOR times the separation's (:class:`_Output`).
        longer = self.wiener and self.low_delay and OUTPUT_FRAME_FACTOR > 1 and N > 1
        self.output_nfft = int(OUTPUT_FRAME_FACTOR * self.nfft) if longer else self.nfft
        self._output = None
        # What the outputs are told with the next handover (see Handover).
        self._output_restart = False
        self._output_learns: Optional[bool] = None
        if longer:
            self._filter = _Analyser(self)
            self._output = _Output(self, self.output_nfft)

    def _start_confidence(self):
        """Per-second confidence from nothing: at the start, and again when
        the stream is separated anew after :meth:`prime`."""
        self._sec_loud: List[np.ndarray] = []  # log power (N, F) per frame of the current second
        self._sec_mix: List[np.ndarray] = []  # the same for the first N microphones
        self._sec_cost: List[float] = []
        self.dependence: List[float] = []  # outputs' dependence per second
        self.mic_dependence: List[float] = []  # microphones' dependence per second
        self.unsure: List[List[float]] = []  # [start, end) seconds, merged
        self.cost: List[float] = []  # per second: mean cost change of its blocks
        self.seconds = 0

    # -- state ------------------------------------------------------------

    @property
    def unmixing(self) -> np.ndarray:
        """The per-bin filters applied now, each speaker as heard at mic 1,
        shape (output_nfft // 2 + 1, n_sources, n_mics), complex128."""
        return (self._applied if self._output is None else self._output.W).copy()

    @property
    def latency(self) -> float:
        """Longest delay from a sample's arrival to its output, in seconds
        (:func:`latency_seconds`)."""
        return latency_seconds(
            self.sample_rate,
            self.block_size / self.sample_rate,
            self.nfft,
            self.low_delay,
            self.hop,
        )

    # -- learning ---------------------------------------------------------

    def _subspace(self):
        """Track the principal subspace of each bin; re-express W in it.

        The first block takes the eigenvectors of the covariance; later ones
        one step of subspace iteration from the last basis (orthonormalised
        ``C P^H``), far cheaper than an eigendecomposition per block, and
        enough for a covariance that changes slowly.
        """
        if self._P is None or self.updates % EIGEN_EVERY == 0:
            evals, evecs = np.linalg.eigh(self._C)
            P = _hermitian(evecs[:, :, ::-1][:, :, : self.n_sources])  # (F, N, M)
        else:
            P = _hermitian(np.linalg.qr(np.matmul(self._C, _hermitian(self._P)))[0])
        if self._P is not None:
            R = np.matmul(self._P, _hermitian(P))  # old coordinates from new ones
            self._W = np.matmul(self._W, R)
            self._V = np.matmul(np.matmul(_hermitian(R), self._V), R)
        self._P = P

    def _loudness(self, Y):
        """Frame loudness r (N, T) of outputs Y (F, N, T) under the Gaussian prior."""
        r = np.mean(Y.real**2 + Y.imag**2, axis=0)
        ref = max(float(np.mean(r)), _TINY)
        return np.maximum(r, LOUDNESS_FLOOR * ref)

    def _learn(self, spec):
        """Learn from new frames ``spec`` (M, T, F); return the filters to apply to them.

        The separation is updated (:meth:`_separate`); then, with ``wiener``,
        each speaker's spatial covariance over all microphones is tracked from
        the separated outputs' shares of every time-frequency cell, and the
        multichannel Wiener filter (Souden et al. 2010) estimates the
        speaker's image at microphone 1 from all microphones, as the batch
        model does with more microphones than speakers
        (``iva._beamform``): it uses the dimensions the separation leaves
        out, and removes reverberation and noise the separation lets
        through. Measured on the benchmark rooms it gains 0.2 to 3.6 dB (most
        with more microphones than speakers).
        """
        X = np.ascontiguousarray(spec.transpose(2, 0, 1)).astype(np.complex128)  # (F, M, T)
        loud = np.mean(X.real**2 + X.imag**2, axis=(0, 1)) * X.shape[1]  # per frame
        if self.warmed and TRANSIENT_CAP and self._power > 0:
            over = loud > TRANSIENT_CAP * self._power
            if np.any(over):
                self.tamed_frames += int(np.sum(over))
                X[:, :, over] *= np.sqrt(TRANSIENT_CAP * self._power / loud[over])
        before = self.updates
        D = self._separate(X)
        if self._refit_at and self.updates != before:
            self._refit(X, loud)  # (the powers as they arrived, none scaled down)
            D = self._D
        if self._output is not None:  # the outputs' own Wiener filters follow
            self._output_learns = self.updates != before
            self._applied = D
            return D
        filters = self._wiener(D, X) if self.wiener and self.updates != before else None
        if self._wiener_updates <= WIENER_AFTER:
            self._applied = D
        elif filters is not None:
            self._applied = filters
        if self._remeasure:  # after a warm-up or re-alignment, on what is now applied
            self._remeasure = False
            self._measure_crosstalk(self._applied)
        return self._applied

    def _wiener(self, D, X):
        """Update the speakers' image covariances from frames X (F, M, T) with
        the separation D (F, N, M); return the Wiener filters (F, N, M), or
        None when they are not finite."""
        F, M, T = X.shape
        if self._R_fresh:  # restarted from the ring buffer, these frames included
            self._R_fresh = False
        else:
            self._R_mass, w = _weigh(self._R_mass, T, self._frame_weight)
            self._R = (1 - w) * self._R + w * _image_covariances(D, X, self._smooth)
        self._wiener_updates += 1
        settled = self._wiener_updates > WIENER_AFTER
        if settled and M >= WIENER_HALF_FROM and self._wiener_updates % 2:
            return None  # the filters of the last update stay
        return _wiener_filters(self._C, self._R)

    def _separate(self, X):
        """Update the separation from new frames ``X`` (F, M, T); return its
        matrices, projected back to microphone 1."""
        F, M, T = X.shape
        if T == 0:
            return self._D
        power = float(np.mean(np.abs(X) ** 2)) * M
        if power <= SILENCE * self._power or power == 0.0:
            self.frames += T
            self._confidence(None, None, T, None)
            return self._D
        self._C_mass, w = _weigh(self._C_mass, T, self._frame_weight)  # 1 at the start
        self._power = (1 - w) * self._power + w * power
        Cb = np.matmul(X, _hermitian(X)) / T
        self._C = (1 - w) * self._C + w * Cb
        N = self.n_sources
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            try:
                W0, P0, V0 = self._W.copy(), self._P, self._V
                if N < M:
                    self._subspace()
                    Xs = np.matmul(self._P, X)
                else:
                    Xs = X
                Xsh = _hermitian(Xs)
                cost0 = None
                V_mass = self._V_mass
                self._V_mass, wv = _weigh(self._V_mass, T, self._frame_weight)
                B0 = self._B, self._Bnum, self._Bden
                for sweep in range(self.sweeps):
                    Y = np.matmul(self._W, Xs)
                    r = self._loudness(Y)  # (N, T)
                    if sweep == 0:
                        cost0 = self._cost(r)
                    if self._B is None:
                        Vb = _weighted_covariances(Xs, Xsh, 1.0 / r)
                    else:
                        P = (Y.real**2 + Y.imag**2).transpose(1, 0, 2)
                        floor = self._loudness_floor()
                        H = _nmf_activations(self._B, P, floor)
                        R = _nmf_model(self._B, H, P, floor)
                        Vb = _weighted_covariances(Xs, Xsh, 1.0 / R)
                        if sweep == 0:
                            self._track_shapes(P, H, R, wv)
                    V = (1 - wv) * self._V + wv * Vb
                    Vs = V + _ridge(V)
                    self._W = _ip_sweep(self._W, Vs)
                self._V = V
                D = self._W if N == M else np.matmul(self._W, self._P)
                D = _projection_back(D, self._C + _ridge(self._C[None])[0])
                if not np.all(np.isfinite(D)):
                    raise FloatingPointError("non-finite unmixing")
            except (FloatingPointError, np.linalg.LinAlgError):
                self._W, self._P, self._V = W0, P0, V0
                self._B, self._Bnum, self._Bden = B0
                self._V_mass = V_mass
                self.frames += T
                self._confidence(None, None, T, None)
                return self._D
        self._D = D
        self.updates += 1
        self.frames += T
        self._remember(X)
        # The batch steps count from the stream's first sound (``sound_from``:
        # noise held before it must not be what they learn from).
        heard = min(self._hist_n, self.frames - int(self.sound_from * self.sample_rate / self.hop))
        rewarm = self._restart_due(heard)
        if N > 1 and not self.warmed and heard >= self._warm_at:
            self._warm_up()
            Xs = X if N == M else np.matmul(self._P, X)
            self._remeasure = True
        elif rewarm:
            if self.restarted_at is None:  # (not again on a changed mixture)
                self.restarted_at = round(self.frames * self.hop / self.sample_rate, 2)
            self._started_over = self.seconds
            self._warm_up(keep_order=True, from_running=rewarm == "running")
            Xs = X if N == M else np.matmul(self._P, X)
            self._next_align = self._hist_n + self._align_every
            self._remeasure = True
        elif N > 1 and self.warmed and self._hist_n >= self._next_align:
            self._realign()
            self._next_align = self._hist_n + self._align_every
            self._remeasure = True
        if self._B is None and self._low_rank():  # three or more: the buffer is full
            state = self._W, self._V, self._D, self._V_mass
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                try:
                    self._refresh(self._recent().astype(np.complex128))
                except (FloatingPointError, np.linalg.LinAlgError):
                    self._W, self._V, self._D, self._V_mass = state
                    self._B = self._Bnum = self._Bden = None
        Y = np.matmul(self._W, Xs)
        self.last_cost_change = self._cost(self._loudness(Y)) - cost0
        self._confidence(Y, X, T, self.last_cost_change)
        return self._D

    def _refit(self, X, loud):
        """Keep the frames X (F, M, T), just learnt from, and their powers
        ``loud`` (T,) for the refit of REFIT_SECONDS, and run it once that
        many seconds of sound have arrived."""
        if self._priming:
            return
        if self.primed_seconds is not None or self.changes:
            # learnt from the held start already / the mixture changed
            self._refit_at, self._refit_frames = 0, []
            return
        self._refit_frames.append((X.astype(np.complex64), loud))
        kept = sum(x.shape[2] for x, _ in self._refit_frames)
        while kept - self._refit_frames[0][0].shape[2] >= self._refit_at:
            kept -= self._refit_frames.pop(0)[0].shape[2]
        if not self.rewarmed or kept < self._refit_at:
            return
        # frames far below the loud ones (a stream's quiet start, a long
        # pause's hiss) weigh in the fit as much as speech: wait while they
        # are more than REFIT_QUIET_SHARE of the frames kept
        power = np.concatenate([p for _, p in self._refit_frames])
        if np.mean(power < REFIT_QUIET * np.percentile(power, 90)) > REFIT_QUIET_SHARE:
            return
        frames = np.concatenate([x for x, _ in self._refit_frames], axis=2).astype(np.complex128)
        self._refit_at, self._refit_frames = 0, []
        done = self._warm_up(
            keep_order=True,
            from_running=True,
            frames=frames,
            restart_outputs=False,
            n_iter=REFIT_ITER,
        )
        if done:  # (a failed fit leaves the running separation as it was)
            self.refitted_at = round(self.frames * self.hop / self.sample_rate, 2)
            self._next_align = self._hist_n + self._align_every
            self._remeasure = True

    def _refresh(self, X):
        """Recompute the weighted covariances and the applied unmixing for a new W."""
        Xs = X if self._P is None else np.matmul(self._P, X)
        Y = np.matmul(self._W, Xs)
        if self._low_rank():
            P = (Y.real**2 + Y.imag**2).transpose(1, 0, 2)
            self._B, H = _nmf_fit(P, ONLINE_NMF_BASES)
            R = _nmf_model(self._B, H, P, self._loudness_floor())
            self._Bnum = self._Bden = None
            self._track_shapes(P, H, R, 1.0)
            weights = 1.0 / R
        else:
            weights = 1.0 / self._loudness(Y)
        self._V = _weighted_covariances(Xs, _hermitian(Xs), weights)
        self._V_mass = min(float(X.shape[2]), 1.0 / (1.0 - self._frame_weight))
        self._refresh_D()

    def _warm_up(
        self, keep_order=False, from_running=False, frames=None, restart_outputs=True, n_iter=None
    ):
        """A short batch separation on the first frames (AuxIVA; ILRMA from
        WARM_ILRMA_FROM speakers), then online from there.  With
        ``keep_order`` (the start over), its outputs take the places of the
        running outputs they rise and fall with (loudness over the buffered
        frames), and it is ILRMA whenever the buffer holds
        REWARM_ILRMA_FRAMES; with ``from_running`` its iterations start from
        the running separation (REWARM_FROM_RUNNING).  On ``frames`` (F, M, T)
        instead of the ring buffer's when given (REFIT_SECONDS); without
        ``restart_outputs`` the outputs' Wiener statistics carry on.  Returns
        whether it ran (False: the numbers failed, the separation as it was)."""
        self.warmed = True
        X = self._recent().astype(np.complex128) if frames is None else frames
        W_old, V_old, D_old = self._W, self._V, self._D
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            try:
                Z, Q, C = _whiten(X.astype(np.complex64), self.n_sources)
                W0 = None
                if from_running:  # REWARM_FROM_RUNNING
                    W0 = np.matmul(self._D, np.linalg.pinv(Q))  # (F, N, N), of Z
                    W0 /= np.linalg.norm(W0, axis=2, keepdims=True)
                W, _, _, _ = _separate_whitened(
                    Z,
                    Q,
                    C,
                    "ilrma" if self._warm_ilrma(keep_order) else "auxiva-gauss",
                    WARM_ITER if n_iter is None else n_iter,
                    0.0,
                    np.random.default_rng(0),
                    None,
                    W0=W0,
                )
                D = np.matmul(W, Q)
                if keep_order:
                    D = D[:, self._matching(D, X)]
                self._W = D if self._P is None else np.matmul(D, _hermitian(self._P))
                self._refresh(X)
                if self.wiener and restart_outputs:
                    # The speakers' image statistics restart from the buffered
                    # frames with the new separation (what they held came from
                    # the first second's online one, whose outputs need not even
                    # be in the same order).
                    self._restart_R(X)
            except (FloatingPointError, np.linalg.LinAlgError):
                self._W, self._V, self._D = W_old, V_old, D_old
                return False
        return True

    def _warm_ilrma(self, restart):
        """Whether the warm-up (or, with ``restart``, the start over) is ILRMA."""
        if self.n_sources >= WARM_ILRMA_FROM:
            return True
        return restart and self._hist_len >= REWARM_ILRMA_FRAMES

    def _restart_due(self, heard):
        """Whether to start over now (REWARM_FROM), and how: None, "scratch"
        or "running" (from the running separation, REWARM_FROM_RUNNING).
        Asked once, when ``heard`` frames of sound fill the ring buffer: from
        scratch when one of the last two seconds since the first second of
        sound was unsure, and otherwise too when it is ILRMA, with up to
        REWARM_ALWAYS_MICS microphones from scratch, with more from the
        running separation unless priming; three speakers' shapes then wait
        SHAPES_WAIT_SECONDS.  Later, from scratch on a changed mixture."""
        if self.rewarmed:
            return "scratch" if self._changed() else None
        if not self.warmed or not REWARM_FROM:
            return None
        if self.n_sources < REWARM_FROM or heard < self._hist_len:
            return None
        self.rewarmed = True
        first = int(self.sound_from) + 1
        if any(end > max(self.seconds - 2, first) for _, end in self.unsure):
            return "scratch"
        if not self._warm_ilrma(True):
            return None
        start = "scratch"
        if self.n_mics > REWARM_ALWAYS_MICS:
            if not REWARM_FROM_RUNNING or self._priming:
                return None
            start = "running"
        if self.n_sources > ONLINE_NMF_MAX_SOURCES:  # shapes not fitted yet
            wait = SHAPES_WAIT_SECONDS * self.sample_rate / self.hop
            self._shapes_from = self.frames + int(wait)
        return start

    def _changed(self):
        """Whether the mixture has changed under a separation that had settled
        (CHANGED_SECONDS): the last CHANGED_SECONDS seconds all unsure, the
        ones before them sure, and the ring buffer holding only frames from
        after the last start over; the start over then runs again."""
        if not (CHANGED_SECONDS and self.unsure and self.n_sources >= REWARM_FROM):
            return False
        start, end = self.unsure[-1]
        if end < self.seconds or end - start < CHANGED_SECONDS:
            return False
        if start - CHANGED_SECONDS < int(self.sound_from) + 3:  # the start-up
            return False
        if any(e > start - CHANGED_SECONDS for _, e in self.unsure[:-1]):
            return False  # not sure before: a room that is hard throughout
        if self.seconds - self._started_over < HISTORY_SECONDS:
            return False
        self._started_over = self.seconds
        self.changes += 1
        return True

    def _matching(self, D, X):
        """The order of D's outputs (F, N, M) that best follows the running
        ones on frames X (F, M, T): greatest summed correlation of their
        log loudness per frame."""
        X = X.astype(np.complex64)

        def loud(U):
            Y = np.matmul(U.astype(np.complex64), X)
            r = np.mean(Y.real**2 + Y.imag**2, axis=0, dtype=np.float64)  # (N, T)
            r = np.log(r + LOG_FLOOR * max(float(np.mean(r)), _TINY))
            r -= r.mean(axis=1, keepdims=True)
            return r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), _TINY)

        corr = loud(self._D) @ loud(D).T  # (running, new)
        return _best_permutations(corr[None])[0]

    def _restart_R(self, X):
        """Each speaker's image covariance from the buffered frames X (F, M, T)
        with the current separation, and the mixture's with them, so that it
        stays their sum; the next update skips these frames."""
        self._output_restart = True
        R = _image_covariances(self._D, X, self._smooth)
        if np.all(np.isfinite(R)):
            mass = min(float(X.shape[2]), 1.0 / (1.0 - self._frame_weight))
            self._R, self._C = R, np.matmul(X, _hermitian(X)) / X.shape[2]
            self._R_mass = self._C_mass = mass
            self._R_fresh = True

    def _realign(self):
        """Re-order each bin's rows so they follow the same speakers (recent frames)."""
        X = self._recent()
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            try:
                Q = (
                    np.broadcast_to(np.eye(self.n_mics), (self.n_freq,) + (self.n_mics,) * 2)
                    if self._P is None
                    else self._P
                )
                Z = X if self._P is None else np.matmul(self._P.astype(X.dtype), X)
                W = _align(self._W, Z, Q, self._C, local=LOCAL_ALIGN)
            except (FloatingPointError, np.linalg.LinAlgError):
                return
        # which old row each new row is, per bin
        d = np.abs(W[:, :, None, :] - self._W[:, None, :, :]).sum(axis=3)  # (F, N, N)
        perm = np.argmin(d, axis=2)
        if np.all(perm == np.arange(self.n_sources)):
            return
        # Keep each speaker on its output: if most of the energy moved, the
        # alignment relabelled the speakers as a whole; undo that relabelling.
        F, N = perm.shape
        energy = np.einsum("fmm->f", self._C).real
        vote = np.zeros((N, N))  # vote[i, k]: energy of the bins whose new row i is old row k
        np.add.at(
            vote,
            (np.broadcast_to(np.arange(N), (F, N)), perm),
            np.broadcast_to(energy[:, None], (F, N)),
        )
        if N <= MAX_RELABEL:
            sigma = max(
                itertools.permutations(range(N)), key=lambda g: sum(vote[g[n], n] for n in range(N))
            )
            perm = perm[:, list(sigma)]
        if np.all(perm == np.arange(N)):
            return
        rows = np.arange(F)[:, None]
        started = self._hist_n * self.hop > ALIGN_GUARD_SECONDS * self.sample_rate
        if started and np.mean(perm != np.arange(N)) > ALIGN_MOVE_LIMIT:
            return
        self._W = self._W[rows, perm]
        self._V = self._V[perm.T, rows.T]
        if self._B is not None:
            self._B = self._B[perm.T, rows.T]
            self._Bnum = self._Bnum[perm.T, rows.T]
            self._Bden = self._Bden[perm.T, rows.T]
        self._refresh_D()

    def _low_rank(self):
        """Whether the source model is now the spectral shapes' (ONLINE_NMF_BASES)."""
        if not (ONLINE_NMF_BASES and self.warmed and self.n_sources > 1):
            return False
        if self.frames < self._shapes_from:
            return False
        if self.n_sources <= ONLINE_NMF_MAX_SOURCES:
            return True
        return self.n_sources <= ONLINE_NMF_LATE_MAX_SOURCES and self._hist_n >= self._hist_len

    def _loudness_floor(self):
        """The fraction of the frame's loudness the modelled powers keep above."""
        return NMF_LOUDNESS_FLOOR if self.n_sources > ONLINE_NMF_MAX_SOURCES else 0.0

    def _track_shapes(self, P, H, R, w):
        """Update the spectral shapes (N, F, K) from outputs' powers P (N, F,
        T), their activations H (N, K, T) and the modelled powers R = B H:
        the multiplicative Itakura-Saito update, its numerator and
        denominator accumulated with weight ``w`` for the new frames
        (online NMF, Lefevre, Bach & Fevotte 2011)."""
        T = P.shape[2]
        iR = 1.0 / R
        num = np.matmul(P * iR * iR, H.transpose(0, 2, 1)) * self._B**2 / T
        den = np.matmul(iR, H.transpose(0, 2, 1)) / T
        if self._Bnum is None:
            self._Bnum, self._Bden = num, den
        else:
            self._Bnum = (1 - w) * self._Bnum + w * num
            self._Bden = (1 - w) * self._Bden + w * den
        self._B = np.maximum(np.sqrt(self._Bnum / np.maximum(self._Bden, _TINY)), _TINY)

    def _refresh_D(self):
        D = self._W if self._P is None else np.matmul(self._W, self._P)
        D = _projection_back(D, self._C + _ridge(self._C[None])[0])
        if np.all(np.isfinite(D)):
            self._D = D

    def _cost(self, r):
        """The model's negative log-likelihood per bin and output, for the frames of r."""
        F = self.n_freq
        logdet = float(np.sum(_log_abs_det(self._W)))
        return (F * float(np.sum(np.mean(np.log(r), axis=1))) - 2.0 * logdet) / (F * self.n_sources)

    def _confidence(self, Y, X, T, cost):
        """Accumulate per-second evidence of how sure the separation is.

        Y, X: the new frames' outputs (F, N, T) and microphones (F, M, T), or
        None for frames not learnt from.
        """
        if cost is not None:
            self._sec_cost.append(cost)
        if Y is not None:
            P = _log_power(Y)
            Pm = _log_power(X[:, : self.n_sources])
        for t in range(T):
            if Y is not None:
                self._sec_loud.append(P[:, :, t].T.astype(np.float32))
                self._sec_mix.append(Pm[:, :, t].T.astype(np.float32))
            if (self.frames - T + t + 1) % self._frames_per_second == 0:
                self._close_second()

    def _close_second(self):
        """Close a second: the outputs' dependence, and whether it was unsure.

        Dependence (``_dependence``) of the outputs and of as many
        microphones: separated speakers are loud in different bins at
        different times, so separating lowers it well below the microphones'
        (about 0.4 against 0.85 in a room where separation works).  A second
        where the outputs are not at least UNSURE_MARGIN less dependent than
        the microphones is unsure.
        """
        dep, dep_mix = 0.0, 1.0  # a second with (almost) nothing heard is not unsure
        if len(self._sec_loud) >= MIN_FRAMES_JUDGED and self.n_sources > 1:
            dep = _dependence(self._sec_loud)
            dep_mix = _dependence(self._sec_mix)
        change = float(np.mean(self._sec_cost)) if self._sec_cost else 0.0
        sec = self.seconds
        if sec < MAX_SECONDS_KEPT:
            self.dependence.append(round(dep, 3))
            self.mic_dependence.append(round(dep_mix, 3))
            self.cost.append(round(change, 4))
        if dep_mix - dep < UNSURE_MARGIN:
            if self.unsure and self.unsure[-1][1] == sec:
                self.unsure[-1][1] = sec + 1
            else:
                self.unsure.append([sec, sec + 1])
        self.seconds += 1
        self._sec_loud = []
        self._sec_mix = []
        self._sec_cost = []

    # -- report -----------------------------------------------------------

    def warnings(self) -> List[str]:
        """A sentence for stderr when seconds after the start-up (STARTUP_SECONDS
        from the stream's first sound, ``sound_from``) were unsure, else nothing.

        Returns
        -------
        list of str
            One sentence, or none.
        """
        first = int(np.ceil(STARTUP_SECONDS + self.sound_from))
        spans = [[max(a, first), b] for a, b in self.unsure if b > first]
        if not spans:
            return []
        total = sum(b - a for a, b in spans)
        said = ", ".join(f"{a}-{b} s" for a, b in spans[:MAX_SPANS_SAID])
        more = "" if len(spans) <= MAX_SPANS_SAID else f" and {len(spans) - MAX_SPANS_SAID} more"
        return [
            f"the live separation was unsure during {total} of {self.seconds} s ({said}{more}): "
            "the outputs rose and fell together almost as much as the microphones (the "
            "speakers moved, the room rings long, or too few microphones for the speakers); "
            "see 'unsure_seconds' in the report"
        ]

    def report(self) -> dict:
        """What the report records: settings and confidence per second.

        The final matrices, :attr:`unmixing`, are the caller's to store.

        Returns
        -------
        dict
            ``converged`` (no unsure interval, or the last one ended before
            the last second), ``latency_seconds``, ``windows``, ``forgetting_seconds``,
            ``updates``, ``unsure_seconds``, ``restarted_at_seconds`` (when
            the separation started over from the buffered frames, see
            REWARM_FROM; None if it did not), ``refitted_at_seconds`` (when it
            was refitted on REFIT_SECONDS of frames; None if it was not),
            ``primed_seconds`` (the held
            start learnt from before it was streamed, :meth:`prime`; None if
            not), ``loud_frames_tamed`` (frames learnt from scaled down to
            TRANSIENT_CAP times the running power: door slams, coughs),
            ``started_over_on_changes`` (CHANGED_SECONDS) and the per-second
            lists
            ``dependence_per_second``, ``mic_dependence_per_second`` and
            ``cost_change_per_second`` (also as ``history``, with its
            ``history_label``), ``output_filters`` and ``postfilter`` (the
            crosstalk last measured, median over bins, in dB).
        """
        return dict(
            converged=not self.unsure or self.unsure[-1][1] < self.seconds,
            latency_seconds=round(self.latency, 4),
            windows="low-delay (asymmetric)" if self.low_delay else "symmetric Hann",
            forgetting_seconds=self.forgetting,
            updates=self.updates,
            unsure_seconds=[list(u) for u in self.unsure],
            restarted_at_seconds=self.restarted_at,
            refitted_at_seconds=self.refitted_at,
            primed_seconds=self.primed_seconds,
            loud_frames_tamed=self.tamed_frames,
            started_over_on_changes=self.changes,
            dependence_per_second=list(self.dependence),
            mic_dependence_per_second=list(self.mic_dependence),
            cost_change_per_second=list(self.cost),
            history=list(self.cost),
            history_label="cost change per second",
            separation_nfft=self.nfft,
            output_filters=self._describe_output(),
            postfilter=self._describe_postfilter(),
        )

    def _describe_output(self):
        if self._output is not None and self._output.updates > WIENER_AFTER:
            return (
                f"Wiener filters over all microphones on {self.output_nfft}-sample frames, "
                f"steered by the separation on {self.nfft}-sample frames"
            )
        if self.wiener and self._applied is not self._D:
            return "Wiener filters over all microphones, from the separation"
        return "the separation's own matrices"

    def _describe_postfilter(self):
        measured = self.crosstalk if self._output is None else self._output.crosstalk
        if measured is None:
            return not_used(
                self.postfilter,
                self.n_sources,
                "the stream ended before its crosstalk was measured",
            )
        return summary(
            measured,
            self.output_nfft,
            self.hop,
            f"Wiener gain per time-frequency cell against the crosstalk measured "
            f"every {CROSSTALK_EVERY:g} s on the last {HISTORY_SECONDS:g} s",
        )

    # -- streaming --------------------------------------------------------

    def process(self, block) -> np.ndarray:
        """Separate a block; return the output samples now final.

        Concatenated with :meth:`flush`, the outputs have exactly the input's
        length and alignment, each speaker as heard at microphone 1.

        Parameters
        ----------
        block : array_like, shape (n_mics, n_samples)
            The next samples of every microphone.

        Returns
        -------
        ndarray, shape (n_sources, n_ready), float64

        Raises
        ------
        CocktailError
            If the block does not have ``n_mics`` rows, or holds NaN or
            infinite samples.
        """
        return self.synthesise(self.analyse(block))

    def analyse(self, block) -> Handover:
        """The first half of :meth:`process`: the separation learns from a
        block (None: the input has ended, as :meth:`flush`).

        The second, :meth:`synthesise`, makes the outputs from what this
        returns. Each handover must be synthesised, in order; a caller may
        do so on another thread while the separation learns from the next
        block (the two halves share no state but the handover), with the
        same samples as :meth:`process`. With the outputs on the
        separation's own filters (no Wiener filters, symmetric windows, or
        one speaker) all of the work is the second half's.

        Parameters
        ----------
        block : array_like, shape (n_mics, n_samples), or None

        Returns
        -------
        Handover

        Raises
        ------
        CocktailError
            As :meth:`process`.
        """
        if block is not None:
            block = self._dc_blocked(as_block(block, self.n_mics))
        if self._output is None:
            return Handover(block, None)
        if block is None:
            self._filter.flush()
        else:
            self._filter.process(block)  # the separation learns from the block
        handover = Handover(
            block,
            self._D[self._output._nearest],
            self.warmed,
            self._output_restart,
            self._output_learns,
            self._remeasure,
        )
        self._output_restart = self._remeasure = False
        self._output_learns = None
        return handover

    def synthesise(self, handover: Handover) -> np.ndarray:
        """The second half of :meth:`process` (or of :meth:`flush` at the end):
        the output samples now final, from what :meth:`analyse` handed over.

        Parameters
        ----------
        handover : Handover

        Returns
        -------
        ndarray, shape (n_sources, n_ready), float64
        """
        if handover.D is None:
            filt = self._filter
        else:
            filt = self._output
            filt.receive(handover)
        return filt.flush() if handover.block is None else filt.process(handover.block)

    def prime(self, X, start_seconds=0.0):
        """Learn from a stretch the caller holds before it is streamed.

        When the start of a stream is held anyway (to count its speakers from
        several seconds, see PRIME_SECONDS), the separation first runs over
        it, its output dropped, and the stream is then separated from its
        start with what was learnt: its first seconds come out as well
        separated as the later ones instead of from a cold start.  The
        output's length and alignment, the latency after the start and the
        per-second confidence (counted from the second pass) are as without.

        Parameters
        ----------
        X : array_like, shape (n_mics, n_samples)
            The held samples, after any digital silence (steady noise before
            the first sound, :attr:`sound_from`, may lead them).
        start_seconds : float, default 0.0
            Seconds of the stream (digital silence) before X.

        Returns
        -------
        bool
            Whether it primed: X must hold at least PRIME_SECONDS from the
            first sound on, and nothing may have been processed (or primed)
            yet.
        """
        X = as_block(X, self.n_mics)
        started = self.frames or self.primed_seconds is not None
        sound = X.shape[1] / self.sample_rate - max(self.sound_from - start_seconds, 0.0)
        if started or sound < PRIME_SECONDS:
            return False
        self.frames = int(round(start_seconds * self.sample_rate / self.hop))
        self._priming = True
        try:
            for i in range(0, X.shape[1], self.block_size):
                self.process(X[:, i : i + self.block_size])
            self.flush()
        finally:
            self._priming = False
        # the same stream again from its start: output and clock restart, the
        # statistics, matrices, ring buffer and post-filter are kept
        if self._output is None:
            self._filter = _Filter(self, self._applied, self.nfft, self.hop)
        else:
            self._filter = _Analyser(self)
            self._output.restart()  # its statistics, filters and post-filter are kept
        self._dc_state = None
        self.rewarmed = True  # its chance to start over was taken on the first pass
        self.primed_seconds = round(X.shape[1] / self.sample_rate, 3)
        self.tamed_frames = self.changes = self._started_over = 0  # the stream's, as output
        self.frames = self._shapes_from = 0
        self._start_confidence()
        return True

    def _dc_blocked(self, block):
        """The block without the microphones' DC offsets: a first-order
        high-pass at DC_CUTOFF_HZ, y[n] = x[n] - x[n-1] + rho y[n-1], started as
        if each microphone had always been at its first sample (so that an
        offset there gives no step)."""
        if not DC_CUTOFF_HZ or block.shape[1] == 0:
            return block
        if self._dc_state is None and not np.any(block):
            return block  # a silent start, fed as zeros: start at the first sound
        rho = np.exp(-2.0 * np.pi * DC_CUTOFF_HZ / self.sample_rate)
        if self._dc_state is None:
            self._dc_state = (block[:, :1].copy(), np.zeros((block.shape[0], 1)))
        x_prev, y_prev = self._dc_state
        # y[n] = rho^n (rho y[-1] + sum_{k<=n} rho^-k d[k]), in pieces short
        # enough that rho^-k stays below 1e3 (no loss of precision)
        piece = max(1, int(np.log(1e3) / -np.log(rho)))
        out = np.empty_like(block)
        for lo in range(0, block.shape[1], piece):
            x = block[:, lo : lo + piece]
            d = np.diff(x, axis=1, prepend=x_prev)
            p = rho ** np.arange(x.shape[1])
            y = p * (rho * y_prev + np.cumsum(d / p, axis=1))
            out[:, lo : lo + piece] = y
            x_prev, y_prev = x[:, -1:], y[:, -1:]
        self._dc_state = (x_prev.copy(), y_prev.copy())
        return out

    def flush(self) -> np.ndarray:
        """The output samples still held back, once the input has ended,
        shape (n_sources, n_rest)."""
        return self.synthesise(self.analyse(None))


def _crosstalk_of(W, X):
    """The post-filter's crosstalk (:func:`cocktail.bss.postfilter.crosstalk`)
    of the outputs of filters W (F, N, M) on frames X (F, M, T)."""
    Y = np.matmul(W.astype(np.complex64), X)
    return crosstalk(Y.real**2 + Y.imag**2)


def _ring_write(buf, n, X):
    """Write frames X (F, M, T) into the ring buffer ``buf`` (F, M, L) that
    has had ``n`` frames written in all; return the new count."""
    T, L = X.shape[2], buf.shape[2]
    if T >= L:
        X = X[:, :, T - L :]
        n += T - L
        T = L
    i = n % L
    first = min(T, L - i)
    buf[:, :, i : i + first] = X[:, :, :first]
    buf[:, :, : T - first] = X[:, :, first:]
    return n + T


def _ring_read(buf, n):
    """The frames of ring buffer ``buf`` (F, M, L) that has had ``n`` written,
    in time order, (F, M, min(n, L))."""
    L = buf.shape[2]
    if n < L:
        return buf[:, :, :n]
    i = n % L
    return np.concatenate([buf[:, :, i:], buf[:, :, :i]], axis=2)


def _wiener_filters(C, R):
    """Multichannel Wiener filters (Souden et al. 2010) for each speaker's
    image at microphone 1, (F, N, M), from the mixture's covariance C (F, M,
    M) and the speakers' image covariances R (N, F, M, M); None when they are
    not finite."""
    M = C.shape[-1]
    share = WIENER_RIDGE_EVEN if R.shape[0] == M else RIDGE
    ridge = share * float(np.mean(np.einsum("fii->f", C).real)) / M * np.eye(M)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        try:
            if M <= 3:  # closed-form inverses: only G's first column and trace
                inverse = _inv(C[None] - R + ridge)
                first = np.matmul(inverse, R[:, :, :, :1])[:, :, :, 0]
                trace = np.einsum("nfij,nfji->nf", inverse, R)
            else:
                G = _solve(C[None] - R + ridge, R)  # (N, F, M, M)
                first, trace = G[:, :, :, 0], np.einsum("nfii->nf", G)
        except (FloatingPointError, np.linalg.LinAlgError):
            return None
    lam = np.maximum(trace.real, 0.0)
    out = np.conj(first / (1.0 + lam[:, :, None])).transpose(1, 0, 2)
    return out if np.all(np.isfinite(out)) else None


def _weigh(mass, T, frame_weight):
    """A running statistic's forgetting weights summed over its frames, ``mass``,
    advanced by T new frames; returns (new mass, the new frames' weight)."""
    mass = frame_weight**T * mass + T
    return mass, T / mass


def _nmf_model(B, H, P, loudness=0.0):
    """The modelled powers B H (N, F, T), floored relative to the powers P:
    at 1e-6 of their mean, and with ``loudness`` at that fraction of each
    output's mean power in the frame."""
    R = np.matmul(B, H)
    R = np.maximum(R, 1e-6 * max(float(np.mean(P)), _TINY))
    if loudness:
        R = np.maximum(R, loudness * np.mean(P, axis=1, keepdims=True))
    return R


def _nmf_activations(B, P, loudness=0.0):
    """Activations H (N, K, T) of the shapes B (N, F, K) for the powers P (N,
    F, T): ONLINE_NMF_ITER multiplicative Itakura-Saito updates from the
    frames' loudness spread over the shapes, the model floored as
    :func:`_nmf_model` floors it with ``loudness``."""
    H = np.mean(P, axis=1, keepdims=True) / np.maximum(
        np.mean(B, axis=1)[:, :, None] * B.shape[2], _TINY
    )
    H = np.broadcast_to(H, (B.shape[0], B.shape[2], P.shape[2])).copy()
    Bt = B.transpose(0, 2, 1)
    for _ in range(ONLINE_NMF_ITER):
        iR = 1.0 / _nmf_model(B, H, P, loudness)
        H *= np.sqrt(np.matmul(Bt, P * iR * iR) / np.maximum(np.matmul(Bt, iR), _TINY))
        np.maximum(H, _TINY, out=H)
    return H


def _nmf_fit(P, K):
    """Shapes B (N, F, K) and activations H (N, K, T) fitted to the powers P
    (N, F, T) by Itakura-Saito NMF from a fixed random start, in single
    precision (a quarter of the time in double, on the 3 s buffer)."""
    N, F, T = P.shape
    rng = np.random.default_rng(0)
    B = rng.uniform(0.1, 1.0, size=(N, F, K)).astype(np.float32)
    H = rng.uniform(0.1, 1.0, size=(N, K, T)).astype(np.float32)
    P = P.astype(np.float32)
    level = max(float(np.mean(P)), _TINY)
    H *= np.float32(level / max(float(np.mean(np.matmul(B, H))), _TINY))
    floor, tiny = np.float32(1e-6 * level), np.float32(1e-30)

    def inverse_model():
        R = np.matmul(B, H)
        np.maximum(R, floor, out=R)
        return np.reciprocal(R, out=R)

    for _ in range(ONLINE_NMF_FIT_ITER):
        iR = inverse_model()
        Q = P * iR
        Q *= iR
        Ht = H.transpose(0, 2, 1)
        B *= np.sqrt(np.matmul(Q, Ht) / np.maximum(np.matmul(iR, Ht), tiny))
        np.maximum(B, tiny, out=B)
        iR = inverse_model()
        np.multiply(P, iR, out=Q)
        Q *= iR
        Bt = B.transpose(0, 2, 1)
        H *= np.sqrt(np.matmul(Bt, Q) / np.maximum(np.matmul(Bt, iR), tiny))
        np.maximum(H, tiny, out=H)
    return B.astype(np.float64), H.astype(np.float64)


def _weighted_covariances(X, Xh, w):
    """V[n, f] = mean_t w[n, t] x_f(t) x_f(t)^H for X (F, M, T), Xh its conjugate
    transpose and weights w (N, T), or w[n, f, t] for weights (N, F, T) (one
    per cell); (N, F, M, M)."""
    T = X.shape[2]
    return np.stack([np.matmul(X * (wn[..., None, :] / T), Xh) for wn in w])


def _image_covariances(D, X, smooth=1):
    """Each speaker's image covariance (N, F, M, M) on frames X (F, M, T): the
    cells' outer products weighed by the speaker's share of each cell's power
    in the outputs of D (F, N, M), the powers averaged over ``smooth``
    neighbouring bins (as the batch model's ``iva._beamform``)."""
    T = X.shape[2]
    share = _smooth_bins(_power(D, X).astype(np.float64), smooth)  # (N, F, T)
    total = share.sum(axis=0)
    share /= np.maximum(total, 1e-12 * max(float(total.mean()), _TINY))
    # Each speaker's share-weighed frames times the frames: one matrix product
    # per bin and speaker (with two microphones two fifths of the time of
    # forming every cell's outer product first, with eight a half), a few
    # bins at a time: the weighed frames of a restart's whole ring buffer
    # would be a temporary of tens of megabytes (an 8-microphone stream's peak
    # memory 236 MB with it, 174 MB without; the same bytes out).
    N, M = share.shape[0], X.shape[1]
    out = np.empty((N, X.shape[0], M, M), dtype=np.result_type(X, share))
    Xh = _hermitian(X)
    step = max(1, CHUNK_ELEMENTS // (N * M * T))
    for a in range(0, X.shape[0], step):
        b = a + step
        np.matmul(X[None, a:b] * (share[:, a:b, None, :] / T), Xh[None, a:b], out=out[:, a:b])
    return out


def _log_power(Y):
    """log |Y|^2 (F, K, T), floored relative to the mean power."""
    P = Y.real**2 + Y.imag**2
    return np.log(P + LOG_FLOOR * max(float(np.mean(P)), _TINY))


def _dependence(frames):
    """Largest correlation, over pairs of signals, of their log power.

    ``frames``: per frame, the log power (K, F) of K signals.  Every bin is
    centred on its mean over the frames, so per-bin gains do not count; the
    correlation is taken over all bins and frames.
    """
    L = np.stack(frames, axis=2)  # (K, F, T)
    L = L - L.mean(axis=2, keepdims=True)
    L = L.reshape(L.shape[0], -1)
    nrm = np.sqrt(np.sum(L * L, axis=1, dtype=np.float64))
    ok = nrm > 0
    if ok.sum() < 2:
        return 0.0
    L = L[ok] / nrm[ok, None].astype(np.float32)
    c = L @ L.T
    return float(np.max(c[~np.eye(len(c), dtype=bool)]))


def _ridge(V):
    """A ridge (…, F, K, K) for matrices V (…, F, K, K): RIDGE times their mean power."""
    K = V.shape[-1]
    tr = np.einsum("...fii->...f", V).real
    level = np.maximum(np.mean(tr, axis=-1, keepdims=True), _TINY) / K
    return (RIDGE * level)[..., None, None] * np.eye(K)


def separate_online_iva(
    X,
    sample_rate,
    *,
    n_sources: Optional[int] = None,
    block_seconds: float = BLOCK_SECONDS,
    nfft: Optional[int] = None,
    forgetting: float = FORGETTING,
    sweeps: int = SWEEPS,
    wiener: bool = True,
    postfilter: bool = True,
    hop: Optional[int] = None,
    low_delay: bool = LOW_DELAY,
):
    """Separate a whole room recording block-online, as a stream would be.

    Parameters
    ----------
    X : array_like, shape (n_mics, n_samples)
        The recording, microphones x samples.
    sample_rate : float
        Sample rate in Hz.
    n_sources, block_seconds, nfft, forgetting, sweeps, wiener, postfilter, hop, low_delay
        As for :class:`OnlineIVA`.

    Returns
    -------
    Y : ndarray, shape (n_sources, n_samples), float64
        The speakers as heard at microphone 1.
    sep : OnlineIVA
        The separator after the last block (report, confidence, matrices).

    Raises
    ------
    CocktailError
        If ``X`` is not 2-D, or as :class:`OnlineIVA` does.
    """
    X = as_recording(X)
    sep = OnlineIVA(
        X.shape[0],
        n_sources,
        sample_rate=sample_rate,
        block_seconds=block_seconds,
        nfft=nfft,
        forgetting=forgetting,
        sweeps=sweeps,
        wiener=wiener,
        postfilter=postfilter,
        hop=hop,
        low_delay=low_delay,
    )
    out = [sep.process(X[:, i : i + sep.block_size]) for i in range(0, X.shape[1], sep.block_size)]
    out.append(sep.flush())
    return np.concatenate(out, axis=1), sep
