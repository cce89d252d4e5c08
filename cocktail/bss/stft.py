"""Streaming short-time Fourier filtering: apply one matrix per frequency bin.

The room model separates with an unmixing matrix per STFT bin. This module
applies such matrices to a signal of any length, block by block, with a Hann
analysis window and its weighted-overlap-add dual for synthesis: with
identity matrices the output equals the input to rounding error. Output lags
input by ``nfft - hop`` samples inside the filter; :class:`BinFilter` takes
care of that, so what comes out lines up with what went in.
"""
import numpy as np


def hann(nfft):
    """Periodic Hann window (sums to a constant at hops of nfft/4)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nfft) / nfft)


def synthesis_window(window, hop):
    """The dual window giving perfect reconstruction by overlap-add."""
    nfft = len(window)
    norm = np.zeros(nfft)
    for k in range(-(nfft // hop), nfft // hop + 1):
        lo, hi = max(0, k * hop), min(nfft, nfft + k * hop)
        if lo < hi:
            norm[lo:hi] += window[lo - k * hop:hi - k * hop] ** 2
    return window / np.maximum(norm, 1e-12)


def frames(x, nfft, hop):
    """(channels, n) -> (channels, n_frames, nfft) view of the frames starting at 0, hop, ..."""
    n_frames = 1 + (x.shape[1] - nfft) // hop if x.shape[1] >= nfft else 0
    s0, s1 = x.strides
    return np.lib.stride_tricks.as_strided(x, (x.shape[0], n_frames, nfft), (s0, s1 * hop, s1),
                                           writeable=False)


def stft(x, nfft, hop, window=None):
    """STFT of (channels, n) with the signal padded so every sample is fully covered.

    Returns (channels, n_freq, n_frames) complex.
    """
    window = hann(nfft) if window is None else window
    pad = nfft - hop
    x = np.pad(x, ((0, 0), (pad, pad + (-(x.shape[1] + pad) % hop))))
    F = np.fft.rfft(frames(x, nfft, hop) * window, axis=-1)
    return F.transpose(0, 2, 1)


class BinFilter:
    """Apply ``Y_f = W_f X_f`` per bin to a stream, block by block.

    ``W``: (n_freq, n_out, n_in) complex with n_freq = nfft // 2 + 1.
    :meth:`process` returns as many output samples as it can finish;
    :meth:`flush` returns the rest. Concatenated, the outputs have exactly
    the input's length and alignment.
    """

    def __init__(self, W, nfft, hop, dtype=np.complex128):
        self.W = np.asarray(W, dtype=dtype)
        self.nfft, self.hop = nfft, hop
        self.window = hann(nfft)
        self.synth = synthesis_window(self.window, hop)
        self.n_out, self.n_in = self.W.shape[1], self.W.shape[2]
        pad = nfft - hop
        self._in = np.zeros((self.n_in, pad))  # leading zeros: the first frames see silence
        self._acc = np.zeros((self.n_out, nfft))  # overlap-add tail not yet final
        self._skip = pad  # output samples that belong to the leading padding
        self._seen = 0
        self._emitted = 0

    def _run(self, final):
        nfft, hop = self.nfft, self.hop
        x = self._in
        n_frames = 1 + (x.shape[1] - nfft) // hop if x.shape[1] >= nfft else 0
        if n_frames == 0:
            return np.zeros((self.n_out, 0))
        spec = np.fft.rfft(frames(x, nfft, hop) * self.window, axis=-1)  # (in, k, F)
        self._learn(spec)
        # One small matrix product per bin, batched: (F, out, in) @ (F, in, k).
        out = np.matmul(self.W, spec.transpose(2, 0, 1).astype(self.W.dtype, copy=False))
        seg = np.fft.irfft(out.transpose(1, 2, 0), n=nfft, axis=-1) * self.synth  # (out, k, nfft)
        # Overlap-add: frame k starts at k*hop in a buffer that begins with the
        # tail carried over from the last call.
        total = (n_frames - 1) * hop + nfft
        buf = np.zeros((self.n_out, max(total, nfft)))
        buf[:, :nfft] += self._acc
        r = nfft // hop
        for phase in range(r):
            ks = np.arange(phase, n_frames, r)
            if len(ks) == 0:
                continue
            start = phase * hop
            block = seg[:, ks, :].reshape(self.n_out, -1)
            buf[:, start:start + block.shape[1]] += block
        done = n_frames * hop  # samples no later frame can touch
        self._in = x[:, done:]
        self._acc = np.zeros((self.n_out, nfft))
        tail = buf[:, done:]
        self._acc[:, :tail.shape[1]] = tail
        return buf[:, :done]

    def _learn(self, spec):
        """Hook for adaptive filters: see the frames (in, k, F) before they are filtered."""

    def _emit(self, y):
        if self._skip:
            cut = min(self._skip, y.shape[1])
            y = y[:, cut:]
            self._skip -= cut
        y = y[:, :max(self._seen - self._emitted, 0)]
        self._emitted += y.shape[1]
        return y

    def process(self, block):
        block = np.asarray(block, dtype=np.float64)
        self._seen += block.shape[1]
        self._in = np.concatenate([self._in, block], axis=1)
        return self._emit(self._run(False))

    def flush(self):
        # Trailing zeros complete every frame that still covers real samples.
        pad = self.nfft - self.hop
        need = pad + (-(self._in.shape[1] + pad) % self.hop) + self.hop
        self._in = np.concatenate([self._in, np.zeros((self.n_in, need))], axis=1)
        y = self._run(True)
        y = np.concatenate([y, self._acc], axis=1)
        return self._emit(y)
