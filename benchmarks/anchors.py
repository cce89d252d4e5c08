"""The tools a user would otherwise pick, as whole-process commands timed like ours.

usage: python benchmarks/anchors.py METHOD MIX.wav OUTDIR [N_SOURCES]
METHOD: picard, fastica (instantaneous ICA), auxiva, ilrma (pyroomacoustics,
STFT 2048/512, 30 iterations, projection back). Install them with
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
    if method == "picard":
        from picard import picard

        Y = picard(X, n_components=n, random_state=0)[2]
    elif method == "fastica":
        from sklearn.decomposition import FastICA

        Y = FastICA(n_components=n, whiten="unit-variance", random_state=0).fit_transform(X.T).T
    elif method in ("auxiva", "ilrma"):
        import pyroomacoustics as pra

        nfft, hop = 2048, 512
        window = pra.hann(nfft)
        spec = pra.transform.stft.analysis(X.T, nfft, hop, win=window)
        run = pra.bss.auxiva if method == "auxiva" else pra.bss.ilrma
        Ys = run(spec, n_iter=30, proj_back=True)
        synth = pra.transform.stft.compute_synthesis_window(window, hop)
        Y = pra.transform.stft.synthesis(Ys, nfft, hop, win=synth).T[:, nfft - hop:][:, : X.shape[1]]
    else:
        raise SystemExit(f"unknown method {method}")
    out.mkdir(parents=True, exist_ok=True)
    Y = 0.9 * Y / (np.abs(Y).max(axis=1, keepdims=True) + 1e-12)
    for i, y in enumerate(Y, 1):
        sf.write(out / f"speaker_{i}.wav", y.astype(np.float32), rate, subtype="FLOAT")


if __name__ == "__main__":
    main()
