"""The appliers: what turns a recording into outputs, block by block.

A separation run estimates (or loads) an unmixing, wraps it in an applier and
feeds it the recording block by block, writing each block's output into a
sink. Both sides are small protocols:

* :class:`Separator`, the applier: :class:`Instantaneous` (one matrix),
  :class:`Convolutive` (one matrix per STFT bin, by overlap-add) and
  :class:`Adaptive` (block-online, the unmixing follows the mixture);
* :class:`Sink`, where the outputs go: :class:`MemorySink` here, the
  folder of WAV files and the stream on standard output in
  :mod:`cocktail.batch`.
"""

import copy
from typing import List, Protocol

import numpy as np

from .report import encode_crosstalk, encode_unmixing


class Separator(Protocol):
    """What a run asks of an applier.

    Attributes
    ----------
    kind : {"instantaneous", "convolutive", "adaptive"}
    """

    kind: str

    def start(self) -> "Separator":
        """Reset the state a pass over the recording builds (the STFT's overlap)."""

    def process(self, block: np.ndarray) -> np.ndarray:
        """Outputs (n_sources, m) for a block (n_mics, n); m may lag n by the latency."""

    def flush(self) -> np.ndarray:
        """The outputs still held back at the end of the recording."""

    def scaled(self, gain: float) -> "Separator":
        """The same separation with every output multiplied by ``gain``."""

    def peak_bound(self, input_peak: float) -> float:
        """The largest output any input within +-input_peak can give."""

    def report(self) -> dict:
        """What the report records of the unmixing."""

    def warnings(self) -> List[str]:
        """What the user should know of the separation as it ran."""


class Sink(Protocol):
    """Where a run writes its outputs; the caller commits or discards it."""

    def write(self, block: np.ndarray) -> None:
        """Append outputs (n_sources, n_samples)."""

    def commit(self) -> None:
        """Make everything written final (rename temporary files into place)."""

    def discard(self) -> None:
        """Drop everything written; leave nothing behind."""


class Instantaneous:
    """y = W (x - mean): the same matrix for every sample.

    Parameters
    ----------
    unmixing : ndarray, shape (n_sources, n_mics)
        The unmixing matrix W.
    mean : ndarray, shape (n_mics, 1)
        The mean of each microphone, removed before unmixing.
    """

    kind = "instantaneous"
    latency = 0

    def __init__(self, unmixing, mean):
        self.unmixing = unmixing
        self.mean = mean

    def start(self):
        """Nothing to reset: return self."""
        return self

    def process(self, block):
        """Unmix a block; no latency."""
        return self.unmixing @ (block - self.mean)

    def flush(self):
        """Nothing is held back: an empty (n_sources, 0) array."""
        return np.zeros((self.unmixing.shape[0], 0))

    def scaled(self, gain):
        """A new applier with the unmixing multiplied by ``gain``."""
        return Instantaneous(self.unmixing * gain, self.mean)

    def peak_bound(self, input_peak):
        """The largest output any input within +-input_peak can give.

        The largest row sum of abs(W), times ``input_peak`` plus the largest absolute mean.
        """
        return float(
            np.max(np.abs(self.unmixing).sum(axis=1)) * (input_peak + np.abs(self.mean).max())
        )

    def warnings(self):
        """None: an empty list."""
        return []

    def report(self):
        """The unmixing, the mean and the mixing (pseudo-inverse of the unmixing)."""
        return {
            "unmixing": self.unmixing.tolist(),
            "mean": self.mean[:, 0].tolist(),
            "mixing": np.linalg.pinv(self.unmixing).tolist(),
        }


class Convolutive:
    """Y_f = W_f (X_f): one matrix per STFT bin, applied by overlap-add.

    Parameters
    ----------
    unmixing : ndarray, shape (n_bins, n_sources, n_mics), complex
        One unmixing matrix per bin, n_bins = nfft // 2 + 1.
    mean : ndarray, shape (n_mics, 1)
        The mean of each microphone, removed before unmixing.
    nfft : int
        STFT frame length, in samples.
    hop : int
        STFT hop, in samples.
    postfilter : cocktail.bss.postfilter.PostFilter, optional
        The crosstalk post-filter, applied after the unmixing; None for a
        linear filter alone.
    """

    kind = "convolutive"

    def __init__(self, unmixing, mean, nfft, hop, postfilter=None):
        self.unmixing = unmixing  # (F, N, M) complex
        self.mean = mean
        self.nfft, self.hop = nfft, hop
        self.postfilter = postfilter

    def start(self):
        """Start fresh filters (:class:`cocktail.bss.stft.BinFilter`); return self."""
        from .bss.stft import BinFilter

        self._filter = BinFilter(self.unmixing, self.nfft, self.hop)
        self._post = None if self.postfilter is None else self.postfilter.stage()
        return self

    def process(self, block):
        """Unmix a block; the filters hold back what they cannot finish yet."""
        y = self._filter.process(block - self.mean)
        return y if self._post is None else self._post.process(y)

    def flush(self):
        """The samples the filters still hold."""
        y = self._filter.flush()
        if self._post is None:
            return y
        return np.concatenate([self._post.process(y), self._post.flush()], axis=1)

    def scaled(self, gain):
        """A new applier with every bin's unmixing multiplied by ``gain``
        (the post-filter's shares are ratios of powers: a common gain leaves them)."""
        return Convolutive(self.unmixing * gain, self.mean, self.nfft, self.hop, self.postfilter)

    def peak_bound(self, input_peak):
        """The largest output any input within +-input_peak can give, roughly.

        Each output sample is a sum over bins and overlapping frames: the bound is
        the largest per-bin gain (row sum of abs(W_f)) times the frame overlap (2),
        times ``input_peak`` plus the largest absolute mean. The post-filter's
        gains are at most 1 and do not raise it.
        """
        g = np.abs(self.unmixing).sum(axis=2).max()
        return float(g * (input_peak + np.abs(self.mean).max()) * 2.0)

    def warnings(self):
        """None: an empty list."""
        return []

    def report(self):
        """The encoded unmixing (:func:`cocktail.report.encode_unmixing`), mean,
        nfft and hop, and the post-filter's crosstalk when there is one."""
        return {
            **encode_unmixing(self.unmixing),
            **({} if self.postfilter is None else encode_crosstalk(self.postfilter)),
            "mean": self.mean[:, 0].tolist(),
            "nfft": self.nfft,
            "hop": self.hop,
        }


class Adaptive:
    """Block-online separation: the unmixing follows a changing mixture.

    ``room`` selects online IVA per STFT bin (:mod:`cocktail.bss.online_iva`);
    otherwise the instantaneous natural gradient of :mod:`cocktail.bss.online`.
    A run gives its outputs no headroom gain (the unmixing changes as the
    audio arrives, so no peak is known in advance): ``peak_bound`` is
    infinite, and ``scaled`` is there for the protocol's sake.

    Parameters
    ----------
    n_mics : int
        Number of microphones (input channels).
    n_sources : int
        Number of outputs.
    sample_rate : int
        In Hz.
    block_seconds : float
        Length of the online separator's blocks, in seconds.
    seed : int
        Seed of the instantaneous separator's starting point (the room model
        does not take one).
    callback : callable, optional
        ``callback(count, value, what)`` after each processed block, once the
        unmixing has been updated: the number of updates (room) or of
        gradient norms recorded so far, the last cost change (room) or
        gradient norm, and a label saying which.
    room : bool
        Use the room (convolutive) model.
    postfilter : bool
        Room model: scale each time-frequency cell down by its crosstalk
        (:mod:`cocktail.bss.postfilter`).
    nfft : int, optional
        Room model: STFT frame length (default
        :func:`cocktail.bss.online_iva.default_nfft`).
    """

    kind = "adaptive"

    def __init__(
        self,
        n_mics,
        n_sources,
        sample_rate,
        block_seconds,
        seed,
        callback=None,
        room=False,
        postfilter=True,
        nfft=None,
    ):
        self.room = room
        if room:
            from .bss.online_iva import OnlineIVA

            self._sep = OnlineIVA(
                n_mics,
                n_sources,
                sample_rate=sample_rate,
                block_seconds=block_seconds,
                nfft=nfft,
                postfilter=postfilter,
            )
        else:
            from .bss.online import OnlineSeparator

            self._sep = OnlineSeparator(
                n_mics,
                n_sources,
                sample_rate=sample_rate,
                block_seconds=block_seconds,
                random_state=seed,
            )
        self._callback = callback
        self.gain = 1.0

    def start(self):
        """Nothing to reset (the unmixing keeps adapting): return self."""
        return self

    def scaled(self, gain):
        """The same online separation, its outputs multiplied by ``gain``."""
        other = copy.copy(self)
        other.gain = self.gain * gain
        return other

    def peak_bound(self, input_peak):
        """No bound: the unmixing changes as the audio arrives."""
        return float("inf")

    def _gained(self, y):
        return y * self.gain if self.gain != 1.0 else y

    @property
    def pipelined(self):
        """Whether a caller may split each block into :meth:`analyse` and
        :meth:`synthesise` (the room model)."""
        return self.room

    def process(self, block):
        """Unmix a block and update the unmixing; report progress to the callback."""
        if self.room:
            return self.synthesise(self.analyse(block))
        y = self._sep.process(block)
        if self._callback is not None and self._sep.history:
            self._callback(
                len(self._sep.history), float(self._sep.history[-1]), "block gradient norm"
            )
        return self._gained(y)

    def analyse(self, block):
        """Room model: the separation learns from a block (None: the input has
        ended); returns what :meth:`synthesise` makes the outputs from
        (:meth:`cocktail.bss.online_iva.OnlineIVA.analyse`), and reports
        progress to the callback."""
        handover = self._sep.analyse(block)
        if block is not None and self._callback is not None and self._sep.updates:
            self._callback(
                self._sep.updates, float(self._sep.last_cost_change), "block cost change"
            )
        return handover

    def synthesise(self, handover):
        """Room model: the output samples now final, from a handover of
        :meth:`analyse`."""
        return self._gained(self._sep.synthesise(handover))

    def flush(self):
        """The room model's held-back samples; nothing for the instantaneous one."""
        if self.room:
            return self._gained(self._sep.flush())
        return np.zeros((self._sep.n_sources, 0))

    def heard_from(self, seconds):
        """The stream's first sound came after ``seconds`` of silence or steady
        noise: the room model's start-up, whose unsure seconds are not warned
        about, begins there."""
        if self.room:
            self._sep.sound_from = float(seconds)

    def prime(self, X, start_seconds=0.0):
        """Room model: learn from a held start of the stream before it is
        streamed (:meth:`cocktail.bss.online_iva.OnlineIVA.prime`); whether
        it did. The instantaneous model does not."""
        return self.room and self._sep.prime(X, start_seconds)

    def warnings(self):
        """The room model's warnings; none for the instantaneous one."""
        return self._sep.warnings() if self.room else []

    def report(self):
        """The final unmixing and the online separator's own account of the run."""
        if self.room:
            s = self._sep
            final = Convolutive(s.unmixing, np.zeros((s.n_mics, 1)), s.output_nfft, s.hop)
            return {**final.report(), **s.report()}
        return {
            "unmixing": self._sep.unmixing.tolist(),
            "mean": self._sep.mean.ravel().tolist(),
            "history": [float(h) for h in self._sep.history],
            "densities": self._sep.densities,
        }


class MemorySink:
    """Collect outputs in memory (for the Python API and tests).

    Parameters
    ----------
    n_sources : int
        Number of outputs.
    n_frames : int or None
        Length of the recording in samples; unused, taken as every sink is.
    """

    def __init__(self, n_sources, n_frames):
        self.blocks = []
        self.n_sources = n_sources

    def write(self, block):
        """Keep a block (empty blocks are dropped)."""
        if block.size:
            self.blocks.append(block)

    def commit(self):
        """Nothing to do: the blocks are kept as written."""
        pass

    def discard(self):
        """Drop the blocks kept so far."""
        self.blocks = []

    def result(self):
        """Everything written, joined.

        Returns
        -------
        ndarray, shape (n_sources, n_samples)
            The outputs; (n_sources, 0) when nothing was written.
        """
        return np.concatenate(self.blocks, axis=1) if self.blocks else np.zeros((self.n_sources, 0))


def blocks_of(reader, block):
    """The recording ``reader`` delivers, ``block`` samples at a time.

    Parameters
    ----------
    reader : cocktail.io.stream.Reader
        The recording, read from where it stands to its end.
    block : int
        Samples per block.

    Yields
    ------
    ndarray, shape (n_mics, n)
        The next block; n is ``block`` but for the last one.
    """
    while True:
        b = reader.read(block)
        if b.shape[1] == 0:
            return
        yield b


def peak_of(sep, blocks):
    """Largest absolute output over a pass of the recording.

    Parameters
    ----------
    sep : Separator
        The applier; it is started afresh.
    blocks : iterable of ndarray, shape (n_mics, n)
        The recording, block by block.

    Returns
    -------
    float
        The largest absolute output sample, 0.0 for no output.
    """
    sep.start()
    peak = 0.0
    for b in blocks:
        y = sep.process(b)
        if y.size:
            peak = max(peak, float(np.abs(y).max()))
    y = sep.flush()
    if y.size:
        peak = max(peak, float(np.abs(y).max()))
    return peak
