"""Frequency-domain separation of convolutive (room) mixtures.

In a room every microphone hears every speaker through its own echoing path,
``x_m(t) = sum_n (h_mn * s_n)(t)``.  In the short-time Fourier domain a
convolution becomes (approximately) a product in each frequency bin, so the
mixture is instantaneous per bin, ``X_f(t) = A_f S_f(t)``, and one unmixing
matrix ``W_f`` per bin undoes it.  Estimating the bins one at a time leaves
every bin with its own arbitrary ordering of the speakers; independent vector
analysis (IVA) avoids that by estimating all bins jointly under a
multivariate source prior that ties the bins of one speaker together.

Algorithms (all batched over frequency bins):

``"auxiva"``
    Auxiliary-function IVA (Ono 2011) with iterative-projection (IP) updates
    and a spherical Laplace prior.  Every update decreases the cost, no step
    size to tune.
``"auxiva-gauss"``
    The same with a time-varying Gaussian prior (the variance of each speaker
    changes from frame to frame, shared by all bins).
``"ilrma"``
    IVA whose source model is a low-rank non-negative matrix factorisation of
    each speaker's power spectrogram (Kitamura et al. 2016); speech spectra
    are well described by a few spectral shapes, which helps in reverberant
    rooms.
``"natgrad"``
    Natural-gradient IVA (Kim, Eltoft & Lee 2006) with an adaptive step:
    the step grows while the cost decreases and is halved (and the step
    retried) when it does not.

The outputs are projected back to the first microphone: each separated
speaker is rescaled, per bin, to sound as it does at microphone 1 (the
minimal distortion principle), which fixes IVA's per-bin scale ambiguity.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional

import itertools

import numpy as np
from scipy.signal import ShortTimeFFT
from scipy.signal.windows import hann

from .errors import CocktailError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "ConvolutiveResult",
    "separate_convolutive",
]

ALGORITHMS = ("auxiva", "auxiva-gauss", "auxiva-iss", "ilrma", "natgrad")
DEFAULT_ALGORITHM = "ilrma"

_DEFAULT_MAX_ITER = {
    "auxiva": 100,
    "auxiva-gauss": 100,
    "auxiva-iss": 100,
    "ilrma": 100,
    "natgrad": 300,
}


@dataclass
class ConvolutiveResult:
    """What :func:`separate_convolutive` found.

    Attributes
    ----------
    sources : ndarray, shape (n_sources, n_samples)
        Separated speakers in the time domain, each as heard at microphone 1.
    unmixing : ndarray, shape (n_freq, n_sources, n_mics), complex
        Per-bin demixing matrices, projection-back scaling included:
        ``Y_f = unmixing[f] @ X_f`` gives the separated STFT in bin ``f``.
    n_iter : int
        Iterations run.
    converged : bool
        Whether the stopping tolerance was met before ``max_iter``.
    history : list of float
        Cost after each iteration (lower is better), for convergence plots.
    algorithm, nfft, hop
        The settings used.
    """

    sources: np.ndarray
    unmixing: np.ndarray
    n_iter: int
    converged: bool
    history: List[float] = field(default_factory=list)
    algorithm: str = DEFAULT_ALGORITHM
    nfft: int = 2048
    hop: int = 512


# ----------------------------------------------------------------------------
# argument checks


def _check_args(X, n_sources, nfft, hop, algorithm, max_iter, tol):
    if not isinstance(X, np.ndarray):
        raise CocktailError("the mixture must be a numpy array of shape (n_mics, n_samples)")
    if X.ndim != 2:
        raise CocktailError(
            f"the mixture must be 2-D (n_mics, n_samples), got {X.ndim} dimension(s)"
        )
    n_mics, n_samples = X.shape
    if n_mics < 2:
        raise CocktailError(
            f"convolutive separation needs at least 2 microphones, got {n_mics}"
        )
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
            f"n_sources must be between 1 and the number of microphones ({n_mics}), "
            f"got {n_sources}"
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
        max_iter = _DEFAULT_MAX_ITER[algorithm]
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise CocktailError(f"max_iter must be a whole number of at least 1, got {max_iter!r}")
    if not (isinstance(tol, (int, float, np.floating)) and np.isfinite(tol) and tol >= 0):
        raise CocktailError(f"tol must be a non-negative number, got {tol!r}")
    return n_sources, nfft, hop, int(max_iter), float(tol)


# ----------------------------------------------------------------------------
# helpers

_TINY = np.finfo(np.float64).tiny


def _hermitian(A):
    return np.conj(np.swapaxes(A, -1, -2))


class _Covariances:
    """Weighted per-bin covariances of the whitened data, many at once.

    ``cov(w)`` returns V[k, f] = (1/T) sum_t w[k, (f,) t] z_f(t) z_f(t)^H for
    weights w of shape (K, T) (shared by all bins) or (K, F, T).  When memory
    allows, the N^2 distinct real numbers of every outer product z z^H are
    kept (float32, Hermitian symmetry used) so that all K covariances come
    from one matrix product; otherwise they are accumulated per weight.
    """

    _BUDGET = 160 * 2 ** 20  # bytes for the stored outer products

    def __init__(self, Z):
        F, N, T = Z.shape
        self.Z = Z
        self.shape = (F, N, T)
        iu, ju = np.triu_indices(N)
        self.iu, self.ju = iu, ju
        self.off = iu != ju
        rdt = Z.real.dtype
        if F * N * N * T * rdt.itemsize <= self._BUDGET:
            prod = Z[:, iu, :] * np.conj(Z[:, ju, :])  # (F, N(N+1)/2, T)
            self.R = np.concatenate([prod.real, prod.imag[:, self.off]], axis=1)
            del prod
            self.Zh = None
        else:
            self.R = None
            self.Zh = np.conj(np.swapaxes(Z, 1, 2))  # (F, T, N)

    def cov(self, w):
        F, N, T = self.shape
        K = w.shape[0]
        rdt = self.Z.real.dtype
        w = np.asarray(w, dtype=rdt)
        if self.R is None:
            V = np.empty((K, F, N, N), dtype=np.complex128)
            for k in range(K):
                wk = w[k][None, None, :] if w.ndim == 2 else w[k][:, None, :]
                V[k] = np.matmul(self.Z * wk, self.Zh)
            V /= T
            return V
        n2 = self.R.shape[1]
        if w.ndim == 2:
            S = (self.R.reshape(F * n2, T) @ w.T).reshape(F, n2, K)
        else:
            S = np.matmul(self.R, np.transpose(w, (1, 2, 0)))  # (F, n2, K)
        S = np.transpose(S, (2, 0, 1)).astype(np.float64) / T  # (K, F, n2)
        npair = len(self.iu)
        vals = S[:, :, :npair].astype(np.complex128)
        vals[:, :, self.off] += 1j * S[:, :, npair:]
        V = np.empty((K, F, N, N), dtype=np.complex128)
        V[:, :, self.iu, self.ju] = vals
        V[:, :, self.ju, self.iu] = np.conj(vals)
        return V


def _regularise(V, rel=1e-6):
    """Add a small ridge, relative to the average power over all bins."""
    N = V.shape[-1]
    tr = np.einsum("fii->f", V).real
    ridge = rel * max(float(np.mean(tr)) / N, _TINY)
    V = V + ridge * np.eye(N)[None]
    return V


def _log_abs_det(W):
    sign, logdet = np.linalg.slogdet(W)
    return logdet


def _whiten(X, n_sources):
    """Per-bin PCA: keep the n_sources principal components, whitened.

    X: (F, M, T) complex.  Returns Z (F, N, T), Q (F, N, M) with Z = Q X,
    and the mixture covariance C (F, M, M).
    """
    F, M, T = X.shape
    C = np.matmul(X, _hermitian(X)).astype(np.complex128) / T
    C = 0.5 * (C + _hermitian(C))
    evals, evecs = np.linalg.eigh(C)  # ascending
    evals = evals[:, ::-1][:, :n_sources]
    evecs = evecs[:, :, ::-1][:, :, :n_sources]
    # floor relative to the loudest bins so silent bins do not blow up
    floor = 1e-10 * max(float(np.max(evals[:, 0])), _TINY)
    evals = np.maximum(evals, floor)
    Q = _hermitian(evecs) / np.sqrt(evals)[:, :, None]
    Z = np.matmul(Q.astype(X.dtype), X)
    return Z, Q, C


def _projection_back(D, C, ref=0):
    """Rescale the rows of D (F, N, M) so each output is its image at mic ``ref``.

    Least-squares mixing estimate A = C D^H (D C D^H)^-1 (equals D^-1 when
    square); row ``ref`` of A holds the scale of every output at that mic.
    """
    N = D.shape[1]
    DC = np.matmul(D, C)
    G = np.matmul(DC, _hermitian(D))
    G = _regularise(G, 1e-9)
    A_ref = np.linalg.solve(G, DC[:, :, ref][..., None])[..., 0].conj()  # (F, N)
    # A = C D^H G^{-1}; row ref: (C D^H)[ref, :] G^{-1} = (G^{-H} (D C)[:, ref])^H
    return D * A_ref[:, :, None]


# ----------------------------------------------------------------------------
# source models: return the per-(bin, frame) weights phi and the cost term


class _Model:
    def __init__(self, kind, F, N, T, rng=None, n_basis=2):
        self.kind = kind
        self.F, self.N, self.T = F, N, T
        if kind == "nmf":
            self.n_basis = n_basis
            self.B = rng.uniform(0.1, 1.0, size=(N, F, n_basis))  # bases
            self.A = rng.uniform(0.1, 1.0, size=(N, n_basis, T))  # activations


def _laplace_r(P):
    """P: (F, N, T) power. Returns r (N, T) = ||y_n(t)|| over bins, floored."""
    r = np.sqrt(np.sum(P, axis=0, dtype=np.float64))
    floor = 1e-6 * max(float(np.mean(r)), _TINY)
    return np.maximum(r, floor)


def _gauss_r(P):
    r = np.mean(P, axis=0, dtype=np.float64)
    floor = 1e-6 * max(float(np.mean(r)), _TINY)
    return np.maximum(r, floor)


# ----------------------------------------------------------------------------
# algorithms.  Each works on the whitened data Z (F, N, T) and returns W
# (F, N, N) with Y = W Z, plus n_iter, converged, history.


def _converged(history, tol):
    if len(history) < 2:
        return False
    a, b = history[-2], history[-1]
    return abs(a - b) <= tol * max(abs(b), 1.0)


def _auxiva_ip(Z, max_iter, tol, callback, prior="laplace", W=None, cov=None):
    F, N, T = Z.shape
    if cov is None:
        cov = _Covariances(Z)
    if W is None:
        W = np.tile(np.eye(N, dtype=np.complex128), (F, 1, 1))
    eye = np.eye(N)
    history = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        Y = np.matmul(W.astype(Z.dtype), Z)
        P = (Y.real ** 2 + Y.imag ** 2)
        if prior == "laplace":
            r = _laplace_r(P)  # (N, T)
            phi = 1.0 / r
        else:
            r = _gauss_r(P)
            phi = 1.0 / r
        Vall = cov.cov(phi)
        for k in range(N):
            V = _regularise(Vall[k])
            u = np.linalg.solve(np.matmul(W, V), np.broadcast_to(eye[:, k], (F, N))[..., None])[..., 0]
            nrm = np.einsum("fi,fij,fj->f", u.conj(), V, u).real
            u = u / np.sqrt(np.maximum(nrm, _TINY))[:, None]
            W[:, k, :] = u.conj()
        # cost
        Y = np.matmul(W.astype(Z.dtype), Z)
        P = (Y.real ** 2 + Y.imag ** 2)
        if prior == "laplace":
            g = float(np.sum(np.mean(_laplace_r(P), axis=1)))
        else:
            g = float(F * np.sum(np.mean(np.log(_gauss_r(P)), axis=1)))
        cost = (g - 2.0 * float(np.sum(_log_abs_det(W)))) / F
        history.append(cost)
        if callback is not None:
            callback(it, cost)
        if _converged(history, tol):
            converged = True
            break
    return W, it, converged, history


def _auxiva_iss(Z, max_iter, tol, callback, prior="laplace"):
    F, N, T = Z.shape
    W = np.tile(np.eye(N, dtype=np.complex128), (F, 1, 1))
    Y = Z.copy()
    history = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        P = (Y.real ** 2 + Y.imag ** 2)
        r = _laplace_r(P) if prior == "laplace" else _gauss_r(P)
        phi = (1.0 / r).astype(Z.real.dtype)  # (N, T)
        for k in range(N):
            yk = Y[:, k, :]  # (F, T)
            # v_n = sum_t phi_n y_n conj(y_k) / sum_t phi_n |y_k|^2
            num = np.einsum("nt,fnt,ft->fn", phi, Y, yk.conj()).astype(np.complex128)
            den = np.einsum("nt,ft->fn", phi, (yk.real ** 2 + yk.imag ** 2)).astype(np.float64)
            den = np.maximum(den, 1e-9 * max(float(np.mean(den)), _TINY))
            v = num / den
            v[:, k] = 1.0 - 1.0 / np.sqrt(den[:, k] / T)
            Y -= v[:, :, None].astype(Y.dtype) * yk[:, None, :]
            W -= v[:, :, None] * W[:, k, :][:, None, :]
        P = (Y.real ** 2 + Y.imag ** 2)
        if prior == "laplace":
            g = float(np.sum(np.mean(_laplace_r(P), axis=1)))
        else:
            g = float(F * np.sum(np.mean(np.log(_gauss_r(P)), axis=1)))
        cost = (g - 2.0 * float(np.sum(_log_abs_det(W)))) / F
        history.append(cost)
        if callback is not None:
            callback(it, cost)
        if _converged(history, tol):
            converged = True
            break
    return W, it, converged, history


def _ilrma(Z, max_iter, tol, callback, rng, n_basis=2, W=None, nmf_iters=1, cov=None):
    F, N, T = Z.shape
    if cov is None:
        cov = _Covariances(Z)
    if W is None:
        W = np.tile(np.eye(N, dtype=np.complex128), (F, 1, 1))
    eye = np.eye(N)
    B = rng.uniform(0.1, 1.0, size=(N, F, n_basis))
    A = rng.uniform(0.1, 1.0, size=(N, n_basis, T))
    history = []
    converged = False
    it = 0
    Y = np.matmul(W.astype(Z.dtype), Z)
    P = np.transpose(Y.real ** 2 + Y.imag ** 2, (1, 0, 2)).astype(np.float64)  # (N, F, T)
    floor = 1e-6 * max(float(np.mean(P)), _TINY)
    R = np.matmul(B, A) + floor
    for it in range(1, max_iter + 1):
        # NMF updates of the source model (Itakura-Saito, multiplicative)
        for _ in range(nmf_iters):
            iR = 1.0 / R
            PiR2 = P * iR * iR
            B *= np.sqrt(np.matmul(PiR2, np.swapaxes(A, 1, 2)) / np.maximum(np.matmul(iR, np.swapaxes(A, 1, 2)), _TINY))
            B = np.maximum(B, _TINY)
            R = np.matmul(B, A) + floor
            iR = 1.0 / R
            PiR2 = P * iR * iR
            A *= np.sqrt(np.matmul(np.swapaxes(B, 1, 2), PiR2) / np.maximum(np.matmul(np.swapaxes(B, 1, 2), iR), _TINY))
            A = np.maximum(A, _TINY)
            R = np.matmul(B, A) + floor
        iR = 1.0 / R  # (N, F, T)
        Vall = cov.cov(iR)
        for k in range(N):
            V = _regularise(Vall[k])
            u = np.linalg.solve(np.matmul(W, V), np.broadcast_to(eye[:, k], (F, N))[..., None])[..., 0]
            nrm = np.einsum("fi,fij,fj->f", u.conj(), V, u).real
            u = u / np.sqrt(np.maximum(nrm, _TINY))[:, None]
            W[:, k, :] = u.conj()
        Y = np.matmul(W.astype(Z.dtype), Z)
        P = np.transpose(Y.real ** 2 + Y.imag ** 2, (1, 0, 2)).astype(np.float64)
        # normalise scale: unit average power per source
        lam = np.sqrt(np.maximum(np.mean(P, axis=(1, 2)), _TINY))  # (N,)
        W /= lam[None, :, None]
        P /= (lam ** 2)[:, None, None]
        B /= (lam ** 2)[:, None, None]
        R = np.matmul(B, A) + floor
        cost = float(np.sum(np.mean(P / R + np.log(R), axis=2))) - 2.0 * float(np.sum(_log_abs_det(W)))
        cost /= F
        history.append(cost)
        if callback is not None:
            callback(it, cost)
        if _converged(history, tol):
            converged = True
            break
    return W, it, converged, history


def _natgrad(Z, max_iter, tol, callback, step=0.1):
    """Natural-gradient IVA (Kim, Eltoft & Lee) with backtracking step control."""
    F, N, T = Z.shape
    W = np.tile(np.eye(N, dtype=np.complex128), (F, 1, 1))
    eye = np.eye(N)

    def cost_of(W):
        Y = np.matmul(W.astype(Z.dtype), Z)
        P = Y.real ** 2 + Y.imag ** 2
        r = _laplace_r(P)
        c = (float(np.sum(np.mean(r, axis=1))) - 2.0 * float(np.sum(_log_abs_det(W)))) / F
        return c, Y, r

    cost, Y, r = cost_of(W)
    history = []
    converged = False
    it = 0
    mu = step
    for it in range(1, max_iter + 1):
        phi = Y / r[None].astype(Z.real.dtype)  # score of the spherical Laplace prior
        E = np.matmul(phi, _hermitian(Y)).astype(np.complex128) / T
        G = eye[None] - E
        while True:
            W_new = W + mu * np.matmul(G, W)
            new_cost, Y_new, r_new = cost_of(W_new)
            if new_cost <= cost or mu < 1e-6:
                break
            mu *= 0.5
        W, Y, r, cost = W_new, Y_new, r_new, new_cost
        mu = min(mu * 1.2, 1.0)
        history.append(cost)
        if callback is not None:
            callback(it, cost)
        if _converged(history, tol):
            converged = True
            break
    return W, it, converged, history


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


def _align_permutations(P, n_rounds=10):
    """Align bin-wise outputs to the same speaker by their activity.

    P: (F, N, T) power of each output as heard at the microphones.  Uses the
    power ratio of each output in each frame (Sawada et al.), whose time
    courses are alike across bins for one speaker; each bin is assigned the
    permutation that best matches per-speaker centroids, refined a few
    rounds.  Returns perm (F, N): new output n of bin f is old output perm[f, n].
    """
    F, N, T = P.shape
    tot = P.sum(axis=1, keepdims=True)
    tot = np.maximum(tot, 1e-12 * max(float(tot.mean()), _TINY))
    v = P / tot
    v = v - v.mean(axis=2, keepdims=True)
    nrm = np.sqrt(np.sum(v * v, axis=2, keepdims=True))
    v = v / np.maximum(nrm, 1e-12)
    # weight bins by energy so quiet bins do not drive the centroids
    e = tot[:, 0, :].mean(axis=1)
    wbin = np.sqrt(e / max(float(e.mean()), _TINY))
    perm = np.tile(np.arange(N), (F, 1))
    rows = np.arange(F)[:, None]
    for _ in range(n_rounds):
        va = v[rows, perm]  # (F, N, T) aligned
        c = np.einsum("f,fnt->nt", wbin, va)
        c = c - c.mean(axis=1, keepdims=True)
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), _TINY)
        score = np.einsum("nt,fkt->fnk", c, v)
        new = _best_permutations(score)
        if np.array_equal(new, perm):
            break
        perm = new
    return perm


def _align(W, Z, Q, C):
    """Permute the rows of W (F, N, N) so every bin's outputs follow the same speakers."""
    D = np.matmul(W, Q)
    DC = np.matmul(D, C)
    G = _regularise(np.matmul(DC, _hermitian(D)), 1e-9)
    # mixing estimate A = C D^H G^-1 (F, M, N): column norms give each output's
    # power at the microphones
    A = np.matmul(_hermitian(DC), np.linalg.inv(G))
    gain = np.sum(np.abs(A) ** 2, axis=1)  # (F, N)
    Y = np.matmul(W.astype(Z.dtype), Z)
    P = (Y.real ** 2 + Y.imag ** 2) * gain[:, :, None].astype(Z.real.dtype)
    perm = _align_permutations(P)
    return W[np.arange(W.shape[0])[:, None], perm]


# ----------------------------------------------------------------------------
# STFT


def _stft_plan(nfft, hop):
    return ShortTimeFFT(hann(nfft, sym=False), hop, fs=1.0, fft_mode="onesided")


def _stft(sft, X, dtype=np.complex64):
    """(M, L) real -> (F, M, T) complex, one channel at a time to cap memory."""
    M, L = X.shape
    first = sft.stft(X[0])
    out = np.empty((first.shape[0], M, first.shape[1]), dtype=dtype)
    out[:, 0, :] = first
    for m in range(1, M):
        out[:, m, :] = sft.stft(X[m])
    return out


def _istft(sft, Y, n_samples):
    """(F, N, T) complex -> (N, L) float64."""
    F, N, T = Y.shape
    out = np.empty((N, n_samples), dtype=np.float64)
    for n in range(N):
        out[n] = sft.istft(Y[:, n, :].astype(np.complex128), k1=n_samples)
    return out


# ----------------------------------------------------------------------------
# public entry point


def separate_convolutive(
    X,
    *,
    n_sources: Optional[int] = None,
    nfft: int = 2048,
    hop: Optional[int] = None,
    algorithm: str = DEFAULT_ALGORITHM,
    max_iter: Optional[int] = None,
    tol: float = 1e-6,
    random_state=None,
    callback: Optional[Callable[[int, float], None]] = None,
    **options,
) -> ConvolutiveResult:
    """Separate a room recording into its speakers, each as heard at mic 1.

    Parameters
    ----------
    X : ndarray, shape (n_mics, n_samples)
        The recording, channels by samples.
    n_sources : int, optional
        How many speakers to extract (at most n_mics; default n_mics).  With
        fewer speakers than microphones every bin is first reduced to its
        n_sources principal components.
    nfft, hop : int
        STFT frame length and hop in samples (hop defaults to nfft // 4).
    algorithm : str
        One of :data:`ALGORITHMS`.
    max_iter : int, optional
        Iteration limit (default depends on the algorithm).
    tol : float
        Stop when the relative change of the cost falls below this.
    random_state : int or numpy Generator, optional
        Seed for the algorithms that draw a random start (ILRMA's NMF).
    callback : callable(iteration, value), optional
        Called after every iteration with the current cost.

    Returns
    -------
    ConvolutiveResult
    """
    n_sources, nfft, hop, max_iter, tol = _check_args(
        X, n_sources, nfft, hop, algorithm, max_iter, tol
    )
    X = np.asarray(X, dtype=np.float64)
    n_mics, n_samples = X.shape
    rng = np.random.default_rng(random_state)

    # remove DC offset per channel; it carries no speech and biases bin 0
    X = X - X.mean(axis=1, keepdims=True)
    scale = float(np.sqrt(np.mean(X ** 2)))
    if scale == 0.0 or not np.isfinite(scale):
        # silent recording: nothing to separate
        sources = np.zeros((n_sources, n_samples))
        F = nfft // 2 + 1
        D = np.zeros((F, n_sources, n_mics), dtype=np.complex128)
        return ConvolutiveResult(sources, D, 0, True, [], algorithm, nfft, hop)
    X = X / scale

    sft = _stft_plan(nfft, hop)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        Xf = _stft(sft, X)
        Z, Q, C = _whiten(Xf, n_sources)
        del Xf
        cov = _Covariances(Z)

        def run(alg, W0, iters, tol_):
            if alg == "auxiva":
                return _auxiva_ip(Z, iters, tol_, callback, "laplace", W=W0, cov=cov)
            if alg == "auxiva-gauss":
                return _auxiva_ip(Z, iters, tol_, callback, "gauss", W=W0, cov=cov)
            if alg == "auxiva-iss":
                return _auxiva_iss(Z, iters, tol_, callback, options.get("prior", "laplace"))
            if alg == "ilrma":
                return _ilrma(Z, iters, tol_, callback, rng, n_basis=options.get("n_basis", 2), W=W0,
                              nmf_iters=options.get("nmf_iters", 1), cov=cov)
            return _natgrad(Z, iters, tol_, callback)

        stages = options.get("stages")
        if stages is None:
            stages = [(algorithm, max_iter)]
        W = None
        history = []
        n_iter = 0
        for st in stages:
            if st == "align":
                W = _align(W, Z, Q, C)
                continue
            alg, iters = st
            W, k, converged, h = run(alg, W, iters, tol)
            history += h
            n_iter += k
        D = np.matmul(W, Q)  # (F, N, M) on the raw STFT
        D = _projection_back(D, C)
        # Y = D X = diag(s) W Z: reuse the whitened data instead of X
        del Z
        Y = np.matmul(D.astype(np.complex64), _stft(sft, X))
        y = _istft(sft, Y, n_samples)
    y *= scale
    if not np.all(np.isfinite(y)):
        raise CocktailError("separation produced non-finite samples")
    return ConvolutiveResult(
        sources=y,
        unmixing=D,
        n_iter=int(n_iter),
        converged=bool(converged),
        history=[float(h) for h in history],
        algorithm=algorithm,
        nfft=nfft,
        hop=hop,
    )
