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

from typing import List, Protocol

import numpy as np

from .report import encode_unmixing


class Separator(Protocol):
    """What a run asks of an applier."""

    #: "instantaneous", "convolutive" or "adaptive"
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
    """y = W (x - mean): the same matrix for every sample."""

    kind = "instantaneous"
    latency = 0

    def __init__(self, unmixing, mean):
        self.unmixing = unmixing
        self.mean = mean

    def start(self):
        return self

    def process(self, block):
        return self.unmixing @ (block - self.mean)

    def flush(self):
        return np.zeros((self.unmixing.shape[0], 0))

    def scaled(self, gain):
        return Instantaneous(self.unmixing * gain, self.mean)

    def peak_bound(self, input_peak):
        """The largest output any input within +-input_peak can give."""
        return float(
            np.max(np.abs(self.unmixing).sum(axis=1)) * (input_peak + np.abs(self.mean).max())
        )

    def warnings(self):
        return []

    def report(self):
        return {
            "unmixing": self.unmixing.tolist(),
            "mean": self.mean[:, 0].tolist(),
            "mixing": np.linalg.pinv(self.unmixing).tolist(),
        }


class Convolutive:
    """Y_f = W_f (X_f): one matrix per STFT bin, applied by overlap-add."""

    kind = "convolutive"

    def __init__(self, unmixing, mean, nfft, hop):
        self.unmixing = unmixing  # (F, N, M) complex
        self.mean = mean
        self.nfft, self.hop = nfft, hop

    def start(self):
        from .bss.stft import BinFilter

        self._filter = BinFilter(self.unmixing, self.nfft, self.hop)
        return self

    def process(self, block):
        return self._filter.process(block - self.mean)

    def flush(self):
        return self._filter.flush()

    def scaled(self, gain):
        return Convolutive(self.unmixing * gain, self.mean, self.nfft, self.hop)

    def peak_bound(self, input_peak):
        # Each output sample is a sum over bins and overlapping frames; bound it
        # by the largest per-bin gain times the frame overlap.
        g = np.abs(self.unmixing).sum(axis=2).max()
        return float(g * (input_peak + np.abs(self.mean).max()) * 2.0)

    def warnings(self):
        return []

    def report(self):
        return {
            **encode_unmixing(self.unmixing),
            "mean": self.mean[:, 0].tolist(),
            "nfft": self.nfft,
            "hop": self.hop,
        }


class Adaptive:
    """Block-online separation: the unmixing follows a changing mixture.

    ``room`` selects online IVA per STFT bin (:mod:`cocktail.bss.online_iva`);
    otherwise the instantaneous natural gradient of :mod:`cocktail.bss.online`.
    """

    kind = "adaptive"

    def __init__(
        self, n_mics, n_sources, sample_rate, block_seconds, seed, callback=None, room=False
    ):
        self.room = room
        if room:
            from .bss.online_iva import OnlineIVA

            self._sep = OnlineIVA(
                n_mics, n_sources, sample_rate=sample_rate, block_seconds=block_seconds
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

    def start(self):
        return self

    def process(self, block):
        y = self._sep.process(block)
        if self._callback is not None and self.room and self._sep.updates:
            self._callback(
                self._sep.updates, float(self._sep.last_cost_change), "block cost change"
            )
        elif self._callback is not None and not self.room and self._sep.history:
            self._callback(
                len(self._sep.history), float(self._sep.history[-1]), "block gradient norm"
            )
        return y

    def flush(self):
        if self.room:
            return self._sep.flush()
        return np.zeros((self._sep.n_sources, 0))

    def warnings(self):
        return self._sep.warnings() if self.room else []

    def report(self):
        if self.room:
            s = self._sep
            final = Convolutive(s.unmixing, np.zeros((s.n_mics, 1)), s.nfft, s.hop)
            return {**final.report(), **s.report()}
        return {
            "unmixing": self._sep.unmixing.tolist(),
            "mean": self._sep.mean.ravel().tolist(),
            "history": [float(h) for h in self._sep.history],
            "densities": self._sep.densities,
        }


class MemorySink:
    """Collect outputs in memory (for the Python API and tests)."""

    def __init__(self, n_sources, n_frames):
        self.blocks = []
        self.n_sources = n_sources

    def write(self, block):
        if block.size:
            self.blocks.append(block)

    def commit(self):
        pass

    def discard(self):
        self.blocks = []

    def result(self):
        return np.concatenate(self.blocks, axis=1) if self.blocks else np.zeros((self.n_sources, 0))


def blocks_of(reader, block):
    """The recording ``reader`` delivers, ``block`` samples at a time."""
    while True:
        b = reader.read(block)
        if b.shape[1] == 0:
            return
        yield b


def peak_of(sep, blocks):
    """Largest absolute output over a pass of the recording."""
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
