"""Speech sources for the benchmarks that mix their own: clips dealt to sources."""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def load_sources(folder, pattern, n, seconds, centre=False):
    """(n, samples) unit-variance sources from the speech files, the rate and the file names.

    The files matching ``pattern`` are dealt round-robin to the ``n``
    sources, in name order; each source is the concatenation of its files,
    cut to ``seconds`` (and its mean removed with ``centre``). Exits with a
    message when there are too few files or seconds.
    """
    files = sorted(Path(folder).glob(pattern))
    if len(files) < n:
        sys.exit(f"need at least {n} files matching '{pattern}' in {folder}, found {len(files)}")
    clips = [sf.read(f, dtype="float64", always_2d=True) for f in files]
    rate = clips[0][1]
    if any(r != rate for _, r in clips):
        sys.exit("the speech files must share one sample rate")
    length = int(seconds * rate)
    S = np.zeros((n, length))
    for i in range(n):
        x = np.concatenate([c.mean(axis=1) for c, _ in clips[i::n]])
        if len(x) < length:
            sys.exit(f"source {i + 1} has only {len(x) / rate:.1f} s of speech; lower --seconds")
        x = x[:length] - x[:length].mean() if centre else x[:length]
        S[i] = x / np.std(x)
    return S, rate, [f.name for f in files]
