"""The short-time Fourier transform, whole and streaming.

The room model separates with an unmixing matrix per STFT bin. :class:`STFT`
transforms a whole recording held in memory (to estimate the matrices) and
back; :class:`BinFilter` applies such matrices to a signal of any length,
block by block, with a Hann analysis window and its weighted-overlap-add
dual for synthesis: with identity matrices the output equals the input to
rounding error. Output lags input by ``nfft - hop`` samples inside the
filter; :class:`BinFilter` takes care of that, so what comes out lines up
with what went in.
"""

import numpy as np

#: Shortest STFT frame the room model takes (a power of two).
MIN_NFFT = 16


def hann(nfft):
    """Periodic Hann window (sums to a constant at hops of nfft/4)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nfft) / nfft)


def analysis_window(nfft):
    """Symmetric Hann window without its zero end points, for measuring
    spectra (model detection, pictures) rather than filtering."""
    return np.hanning(nfft + 2)[1:-1]


def synthesis_window(window, hop):
    """The dual window giving perfect reconstruction by overlap-add."""
    nfft = len(window)
    norm = np.zeros(nfft)
    for k in range(-(nfft // hop), nfft // hop + 1):
        lo, hi = max(0, k * hop), min(nfft, nfft + k * hop)
        if lo < hi:
            norm[lo:hi] += window[lo - k * hop : hi - k * hop] ** 2
    return window / np.maximum(norm, 1e-12)


def frames(x, nfft, hop):
    """(channels, n) -> (channels, n_frames, nfft) view of the frames starting at 0, hop, ..."""
    n_frames = 1 + (x.shape[1] - nfft) // hop if x.shape[1] >= nfft else 0
    s0, s1 = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (x.shape[0], n_frames, nfft), (s0, s1 * hop, s1), writeable=False
    )


class STFT:
    """Short-time Fourier transform with a periodic Hann window.

    Frame k covers samples [k * hop - (nfft - hop), k * hop + hop) of the
    signal (zero-padded at both ends), so every sample is covered by full
    overlap.  The inverse is the least-squares overlap-add (window applied
    again, divided by the summed squared windows), which reconstructs any
    signal exactly for any hop <= nfft / 2.  Plain numpy: scipy.signal costs
    more to import than the whole separation of a short recording.
    """

    def __init__(self, nfft, hop):
        self.nfft, self.hop = nfft, hop
        self.pre = nfft - hop
        self.window = hann(nfft)

    def n_frames(self, n_samples):
        """Frames covering ``n_samples`` samples."""
        return -(-(n_samples + self.pre) // self.hop)

    def _frames(self, x):
        T = self.n_frames(len(x))
        xp = np.zeros((T - 1) * self.hop + self.nfft)
        xp[self.pre : self.pre + len(x)] = x
        return np.lib.stride_tricks.sliding_window_view(xp, self.nfft)[:: self.hop][:T]

    def forward(self, X, dtype=np.complex64):
        """(M, L) real -> (F, M, T) complex, one channel at a time."""
        M, L = X.shape
        T = self.n_frames(L)
        out = np.empty((self.nfft // 2 + 1, M, T), dtype=dtype)
        for m in range(M):
            out[:, m, :] = np.fft.rfft(self._frames(X[m]) * self.window, axis=1).T
        return out

    def _overlap_add(self, frames):
        T = frames.shape[0]
        hop = self.hop
        R = -(-self.nfft // hop)
        if R * hop != self.nfft:
            frames = np.concatenate([frames, np.zeros((T, R * hop - self.nfft))], axis=1)
        frames = frames.reshape(T, R, hop)
        out = np.zeros((T + R) * hop)
        for j in range(R):
            out[j * hop : (j + T) * hop].reshape(T, hop)[...] += frames[:, j, :]
        return out

    def inverse(self, Y, n_samples):
        """(F, N, T) complex -> (N, n_samples) float64."""
        F, N, T = Y.shape
        norm = self._overlap_add(np.tile(self.window**2, (T, 1)))
        live = norm > 1e-10 * norm.max()
        inv = np.where(live, 1.0 / np.where(live, norm, 1.0), 0.0)
        out = np.empty((N, n_samples))
        for n in range(N):
            frames = np.fft.irfft(Y[:, n, :].T.astype(np.complex128), n=self.nfft, axis=1)
            y = self._overlap_add(frames * self.window) * inv
            out[n] = y[self.pre : self.pre + n_samples]
        return out


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
            buf[:, start : start + block.shape[1]] += block
        done = n_frames * hop  # samples no later frame can touch
        self._in = x[:, done:]
        self._acc = np.zeros((self.n_out, nfft))
        tail = buf[:, done:]
        self._acc[:, : tail.shape[1]] = tail
        return buf[:, :done]

    def _learn(self, spec):
        """Hook for adaptive filters: see the frames (in, k, F) before they are filtered."""

    def _emit(self, y):
        if self._skip:
            cut = min(self._skip, y.shape[1])
            y = y[:, cut:]
            self._skip -= cut
        y = y[:, : max(self._seen - self._emitted, 0)]
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
