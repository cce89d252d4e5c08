"""The tools a user would otherwise pick, as whole-process commands timed like ours.

usage: python benchmarks/anchors.py METHOD MIX.wav OUTDIR [N_SOURCES]
METHOD: picard, fastica (instantaneous ICA), auxiva, ilrma (pyroomacoustics,
STFT 2048/512, 30 iterations, projection back), and the same library tuned
for reverberant rooms: auxiva-best, ilrma-best (STFT 4096/1024 at 16 kHz,
scaled with the rate, 100 iterations, ILRMA with 8 bases) and fastmnmf2
(FastMNMF2, 8 bases, 100 iterations, output at microphone 1). ILRMA and
FastMNMF2 start from a random point drawn from numpy's global generator,
seeded here with 0, so that a benchmark run can be repeated. With more
microphones than N_SOURCES, AuxIVA runs its overdetermined form and ILRMA is
given the N strongest principal components. Install them with
pip install -r benchmarks/requirements.txt; cocktail never needs them.
"""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def main():
    method, mix, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    X, rate = sf.read(mix, dtype="float64", always_2d=True)
    X = X.T
    n = int(sys.argv[4]) if len(sys.argv) > 4 else X.shape[0]
    np.random.seed(0)  # ILRMA's and FastMNMF2's starting point
    if method == "picard":
        from picard import picard

        Y = picard(X, n_components=n, random_state=0)[2]
    elif method == "fastica":
        from sklearn.decomposition import FastICA

        Y = FastICA(n_components=n, whiten="unit-variance", random_state=0).fit_transform(X.T).T
    elif method in ("auxiva", "ilrma", "auxiva-best", "ilrma-best", "fastmnmf2"):
        import pyroomacoustics as pra

        tuned = method not in ("auxiva", "ilrma")
        nfft = int(2 ** round(np.log2(4096 * rate / 16000))) if tuned else 2048
        hop = nfft // 4
        window = pra.hann(nfft)
        if method.startswith("ilrma") and n < X.shape[0]:
            Xc = X - X.mean(axis=1, keepdims=True)
            X_in = np.linalg.svd(Xc, full_matrices=False)[0][:, :n].T @ Xc
        else:
            X_in = X
        spec = pra.transform.stft.analysis(X_in.T, nfft, hop, win=window)
        if method == "fastmnmf2":
            Ys = pra.bss.fastmnmf2(spec, n_src=n, n_iter=100, n_components=8, mic_index=0)
        elif method.startswith("auxiva"):
            Ys = pra.bss.auxiva(spec, n_src=n, n_iter=100 if tuned else 30, proj_back=True)
        else:
            Ys = pra.bss.ilrma(
                spec,
                n_iter=100 if tuned else 30,
                proj_back=True,
                **({"n_components": 8} if tuned else {}),
            )
        synth = pra.transform.stft.compute_synthesis_window(window, hop)
        Y = pra.transform.stft.synthesis(Ys, nfft, hop, win=synth).T[:, nfft - hop :][
            :, : X.shape[1]
        ]
    else:
        raise SystemExit(f"unknown method {method}")
    out.mkdir(parents=True, exist_ok=True)
    Y = 0.9 * Y / (np.abs(Y).max(axis=1, keepdims=True) + 1e-12)
    for i, y in enumerate(Y, 1):
        sf.write(out / f"speaker_{i}.wav", y.astype(np.float32), rate, subtype="FLOAT")


if __name__ == "__main__":
    main()
