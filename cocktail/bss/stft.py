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
    """Periodic Hann window (sums to a constant at hops of nfft/4).

    Parameters
    ----------
    nfft : int
        Window length in samples.

    Returns
    -------
    ndarray, shape (nfft,), float64
    """
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nfft) / nfft)


def analysis_window(nfft):
    """Symmetric Hann window without its zero end points.

    For measuring spectra (model detection, pictures) rather than filtering.

    Parameters
    ----------
    nfft : int
        Window length in samples.

    Returns
    -------
    ndarray, shape (nfft,), float64
    """
    return np.hanning(nfft + 2)[1:-1]


def synthesis_window(window, hop):
    """The dual window giving perfect reconstruction by overlap-add.

    Parameters
    ----------
    window : ndarray, shape (nfft,)
        The analysis window.
    hop : int
        Hop between frames, in samples.

    Returns
    -------
    ndarray, shape (nfft,), float64
        ``window`` divided by the sum of the squared windows overlapping each
        sample.
    """
    nfft = len(window)
    norm = np.zeros(nfft)
    for k in range(-(nfft // hop), nfft // hop + 1):
        lo, hi = max(0, k * hop), min(nfft, nfft + k * hop)
        if lo < hi:
            norm[lo:hi] += window[lo - k * hop : hi - k * hop] ** 2
    return window / np.maximum(norm, 1e-12)


#: The low-delay analysis window rises as a Hann window's first half to this
#: power (Mauler & Martin take its square root, 0.5).  Streamed by the live
#: model on 60 benchmark rooms (five draws): +0.42 dB on average against
#: symmetric windows, from -1.16 to +5.33; 0.5 gave +0.44 but down to -1.89,
#: 1.0 gave +0.35.
RISE_POWER = 0.75


def low_delay_windows(nfft, hop):
    """Analysis and synthesis windows whose frames are final ``hop`` samples
    after they end (Mauler & Martin 2007's asymmetric windows).

    The analysis window rises slowly over the frame and falls over its last
    ``hop`` samples; the synthesis window is zero but for the frame's last
    ``2 hop`` samples, where the two windows' product is a Hann window of
    ``2 hop`` samples, which sums to one at a hop of ``hop``.  So a per-bin
    filter has the frequency resolution of the whole frame, while what a
    frame adds to the output ends with it.

    Parameters
    ----------
    nfft : int
        Frame length in samples, at least ``2 hop``.
    hop : int
        Hop between frames, in samples.

    Returns
    -------
    analysis, synthesis : ndarray, shape (nfft,), float64
    """
    if not 0 < 2 * hop <= nfft:
        raise ValueError(f"a low-delay frame of {nfft} samples needs a hop of 1 to {nfft // 2}")
    rise = nfft - hop
    short = hann(2 * hop)
    fall = np.sqrt(short[hop:])  # both windows' last hop
    analysis = np.empty(nfft)
    analysis[:rise] = hann(2 * rise)[:rise] ** RISE_POWER
    analysis[rise:] = fall
    synthesis = np.zeros(nfft)
    head = slice(nfft - 2 * hop, rise)
    synthesis[head] = short[:hop] / np.maximum(analysis[head], 1e-12)
    synthesis[rise:] = fall
    return analysis, synthesis


def frames(x, nfft, hop):
    """Read-only view of the frames of ``x`` starting at samples 0, hop, 2 hop, ...

    Only whole frames are taken: samples after the last whole frame are left
    out, and a signal shorter than ``nfft`` has no frames.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_samples)
        The signals.
    nfft : int
        Frame length in samples.
    hop : int
        Hop between frame starts, in samples.

    Returns
    -------
    ndarray, shape (n_channels, n_frames, nfft)
        A strided view sharing memory with ``x``; not writeable.
    """
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

    Parameters
    ----------
    nfft : int
        Frame length in samples; there are ``nfft // 2 + 1`` frequency bins.
    hop : int
        Hop between frames, in samples.
    """

    #: Samples of windowed frames transformed at once by :meth:`forward`.
    _CHUNK = 2**22

    def __init__(self, nfft, hop):
        self.nfft, self.hop = nfft, hop
        self.pre = nfft - hop
        self.window = hann(nfft)

    def n_frames(self, n_samples):
        """Frames covering ``n_samples`` samples.

        Parameters
        ----------
        n_samples : int
            Signal length in samples.

        Returns
        -------
        int
        """
        return -(-(n_samples + self.pre) // self.hop)

    def _frames(self, x):
        T = self.n_frames(len(x))
        xp = np.zeros((T - 1) * self.hop + self.nfft)
        xp[self.pre : self.pre + len(x)] = x
        return np.lib.stride_tricks.sliding_window_view(xp, self.nfft)[:: self.hop][:T]

    def forward(self, X, dtype=np.complex64):
        """Transform a whole recording, one channel at a time.

        Parameters
        ----------
        X : ndarray, shape (n_mics, n_samples), float
            The signals.
        dtype : numpy dtype, default complex64
            Data type of the result.

        Returns
        -------
        ndarray, shape (n_bins, n_mics, n_frames), complex
            The spectra, with ``n_bins = nfft // 2 + 1`` and
            ``n_frames = n_frames(n_samples)``.
        """
        M, L = X.shape
        T = self.n_frames(L)
        out = np.empty((self.nfft // 2 + 1, M, T), dtype=dtype)
        step = max(1, self._CHUNK // self.nfft)  # frames per transform: bounded temporaries
        for m in range(M):
            frames = self._frames(X[m])
            for a in range(0, T, step):
                out[:, m, a : a + step] = np.fft.rfft(frames[a : a + step] * self.window, axis=1).T
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
        """Resynthesise signals from their spectra.

        Parameters
        ----------
        Y : ndarray, shape (n_bins, n_sources, n_frames), complex
            Spectra laid out as :meth:`forward` returns them.
        n_samples : int
            Length of the signals to return, in samples.

        Returns
        -------
        ndarray, shape (n_sources, n_samples), float64
        """
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

    :meth:`process` returns as many output samples as it can finish;
    :meth:`flush` returns the rest. Concatenated, the outputs have exactly
    the input's length and alignment.

    Parameters
    ----------
    W : array_like, shape (n_bins, n_out, n_in), complex, or None
        One matrix per frequency bin, with ``n_bins = nfft // 2 + 1``; None
        passes the ``channels`` through unmixed (for ``post`` alone).
    nfft : int
        Frame length in samples.
    hop : int
        Hop between frames, in samples.
    dtype : numpy dtype, default complex128
        Data type in which ``W`` is kept and applied.
    post : callable, optional
        Called with every batch of filtered frames, shape (n_bins, n_out,
        n_frames), which it may change in place before synthesis (a
        time-varying gain, such as :mod:`cocktail.bss.postfilter`'s).
    channels : int, optional
        Channels in and out when ``W`` is None.
    low_delay : bool, default False
        Use :func:`low_delay_windows` (hop at most ``nfft // 2``): output
        is final ``2 hop - hop = hop`` samples after a frame ends rather than
        ``nfft - hop``.
    """

    def __init__(
        self, W, nfft, hop, dtype=np.complex128, post=None, channels=None, low_delay=False
    ):
        self.W = None if W is None else np.asarray(W, dtype=dtype)
        self.post = post
        self.nfft, self.hop = nfft, hop
        if low_delay:
            self.window, self.synth = low_delay_windows(nfft, hop)
            # the synthesis window is zero on the frame's first samples: keep
            # the output in a buffer that starts that much later
            self._shift = nfft - 2 * hop
        else:
            self.window = hann(nfft)
            self.synth = synthesis_window(self.window, hop)
            self._shift = 0
        self.n_out, self.n_in = (channels, channels) if W is None else self.W.shape[1:]
        self.restart()

    def restart(self):
        """Start a new stream: nothing read or output yet (``W`` is kept)."""
        pad = self.nfft - self.hop
        self._in = np.zeros((self.n_in, pad))  # leading zeros: the first frames see silence
        # the overlap-add tail not yet final
        self._acc = np.zeros((self.n_out, self.nfft - self._shift))
        self._skip = pad - self._shift  # output samples that belong to the leading padding
        self._seen = 0
        self._emitted = 0

    def _read_frames(self):
        """The windowed spectra (in, k, F) of the whole frames the input now
        holds, taken from it (the samples later frames still need are kept);
        None when there is none."""
        nfft, hop = self.nfft, self.hop
        x = self._in
        n_frames = 1 + (x.shape[1] - nfft) // hop if x.shape[1] >= nfft else 0
        if n_frames == 0:
            return None
        self._in = x[:, n_frames * hop :]
        return np.fft.rfft(frames(x, nfft, hop) * self.window, axis=-1)

    def _run(self, final):
        nfft, hop = self.nfft, self.hop
        spec = self._read_frames()  # (in, k, F)
        if spec is None:
            return np.zeros((self.n_out, 0))
        n_frames = spec.shape[1]
        self._learn(spec)
        if self.W is None:
            out = spec.transpose(2, 0, 1)
        else:
            # One small matrix product per bin, (F, out, in) @ (F, in, k), summed
            # over the inputs in a fixed order: a batched matmul may round
            # differently with the number of frames, and the samples must not
            # depend on how the stream was cut into blocks.
            S = spec.transpose(2, 0, 1).astype(self.W.dtype, copy=False)
            out = self.W[:, :, :1] * S[:, None, 0, :]
            for m in range(1, self.n_in):
                out += self.W[:, :, m : m + 1] * S[:, None, m, :]
        if self.post is not None:
            self.post(out)
        cut = self._shift
        seg = np.fft.irfft(out.transpose(1, 2, 0), n=nfft, axis=-1)[..., cut:] * self.synth[cut:]
        # Overlap-add: frame k's part that the synthesis window keeps starts
        # at k*hop in a buffer that begins with the tail carried over from
        # the last call.
        span = nfft - cut
        total = (n_frames - 1) * hop + span
        buf = np.zeros((self.n_out, max(total, span)))
        buf[:, :span] += self._acc
        r = -(-span // hop)
        for phase in range(r):
            ks = np.arange(phase, n_frames, r)
            if len(ks) == 0:
                continue
            start = phase * hop
            block = seg[:, ks, :].reshape(self.n_out, -1)
            buf[:, start : start + block.shape[1]] += block
        done = n_frames * hop  # samples no later frame can touch
        self._acc = np.zeros((self.n_out, span))
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
        """Filter the next block of input.

        Parameters
        ----------
        block : array_like, shape (n_in, n_samples)
            The next input samples.

        Returns
        -------
        ndarray, shape (n_out, n_ready), float64
            The output samples now final; possibly none.
        """
        block = np.asarray(block, dtype=np.float64)
        self._seen += block.shape[1]
        self._in = np.concatenate([self._in, block], axis=1)
        return self._emit(self._run(False))

    def flush(self):
        """End of input: return the remaining output, shape (n_out, n_rest)."""
        # Trailing zeros complete every frame that still covers real samples.
        pad = self.nfft - self.hop
        need = pad + (-(self._in.shape[1] + pad) % self.hop) + self.hop
        self._in = np.concatenate([self._in, np.zeros((self.n_in, need))], axis=1)
        y = self._run(True)
        y = np.concatenate([y, self._acc], axis=1)
        return self._emit(y)
