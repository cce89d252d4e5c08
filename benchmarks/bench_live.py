"""Live room separation (``--adaptive``) against the batch room model, through pipes.

Five tables (one more with ``--passes``, one more with ``--minute``), in Markdown,
for the README:

1. Room cases: every case folder (``mix.wav``, ``refs.wav``, ``meta.json``
   with ``kind`` "convolutive" and ``n_src``) under the folders given is
   streamed through a real OS pipe into ``cocktail separate - --adaptive -o -``
   (unpaced: as fast as the process reads), and separated as a file by the
   batch room model (``cocktail separate mix.wav -o DIR``); both with
   ``--sources N`` when there are more microphones than speakers.  SDR (BSS
   Eval, 512-tap distortion filter, mean over speakers after the best
   permutation) from 3 s on, beside microphone 1 unprocessed; speed of the
   whole live process as multiples of real time.
2. A room that changes halfway: two speakers from SPEECH_DIR in a simulated
   room (``cocktail.room``); after HALF seconds both stand elsewhere (other
   responses).  Live SDR on the second half from 3 s after the change, beside
   the batch model run on the second half alone; and whether each output
   kept its speaker.
3. A gradual move: the first speaker walks along an arc (responses
   cross-faded every 0.25 s); live SDR of each speaker per 2 s window (left
   out where that speaker is silent) and the output each was found on.
4. Sounds that are no talker (a door slam, a knock, a cough) 8 s into two
   speakers in three simulated rooms: live SDR in windows after each,
   against the same stream without it.
5. Two people taking turns (half a second of overlap at each change, both
   at once for the last 6 s) in three simulated rooms, streamed with the
   defaults and separated as a file: while one talks alone, how far below
   the talker's output the other output stays; SDR where both talk.
6. With ``--passes K``: every case streamed K times in a row, live SDR on
   each pass beside the batch model with its own frames and with the live
   model's, and the oracle per-bin filter with the live model's frames and
   windows, to show where the gap to the batch model comes from.
7. With ``--minute``: the speed of the cases at 16 kHz with a speed target
   (2 and 8 microphones), each streamed as it is and repeated to a minute,
   alternately, ``--speed-runs`` times: the whole process and the
   separation's own pace (the report's ``real_time_factor``: the start's
   count and learning, reading and writing left out), to show how much of a
   short recording's time the start takes.

    python benchmarks/bench_live.py CASES_DIR [CASES_DIR ...] --speech SPEECH_DIR
                                    [--passes K] [--minute] [--markdown FILE]

``--match REGEX`` keeps the cases whose names match (default: room|office|compact).
Everything printed is Markdown; ``--markdown FILE`` also writes it there, for
the README, with a summary under the first table: how many cases are within
4 dB of the batch model, how many two-speaker cases gain 6 dB over
microphone 1, and the live speed by number of microphones.
"""

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

try:
    import fast_bss_eval
except ImportError:  # pragma: no cover
    sys.exit("this benchmark needs fast-bss-eval (pip install fast-bss-eval)")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_arrays import oracle  # noqa: E402  (the oracle per-bin filter of the arrays table)

from cocktail.bss.stft import BinFilter, frames, low_delay_windows  # noqa: E402
from cocktail.room import impulse_response, layout, room_responses  # noqa: E402

SETTLE = 3.0  # seconds left out at the start (and after a change)
TAPS = 512
COCKTAIL = [sys.executable, "-m", "cocktail"]
LINES = []  # everything printed, for --markdown


def out(text=""):
    LINES.extend(str(text).split("\n"))
    print(text, flush=True)


def _scores(refs, est, rate, start, stop):
    """Per-source SDR (best permutation) over ``start``..``stop`` seconds (None:
    to the end), the permutation, and the samples scored."""
    lo = int(start * rate)
    hi = min(refs.shape[1], est.shape[1]) if stop is None else int(stop * rate)
    s, _, _, perm = fast_bss_eval.bss_eval_sources(
        refs[:, lo:hi], est[:, lo:hi], filter_length=TAPS, compute_permutation=True
    )
    return s, [int(p) for p in perm], slice(lo, hi)


def sdr(refs, est, rate, start=SETTLE, stop=None):
    """Mean SDR over sources (best permutation) and that permutation."""
    s, perm, _ = _scores(refs, est, rate, start, stop)
    return float(np.mean(s)), perm


#: A speaker whose image in a window is this many dB below its level over the
#: whole recording is silent there: its SDR then measures only what leaks into
#: its output, and is left out of the moving table.
SILENT_DB = -10.0


def sdr_each(refs, est, rate, start, stop):
    """Per-speaker SDR (best permutation) over ``start``..``stop`` seconds, NaN
    for a speaker silent there (SILENT_DB), and the permutation."""
    s, perm, part = _scores(refs, est, rate, start, stop)
    level = np.mean(refs[:, part] ** 2, axis=1) / np.mean(refs**2, axis=1)
    return np.where(10 * np.log10(np.maximum(level, 1e-30)) < SILENT_DB, np.nan, s), perm


def live(mix_bytes, extra):
    """Stream WAV bytes through a pipe into --adaptive; (outputs, wall seconds, stderr)."""
    return live_reported(mix_bytes, extra)[:3]


def live_reported(mix_bytes, extra):
    """As :func:`live`, and the run's report as a fourth item."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "live.json"
        t = time.perf_counter()
        p = subprocess.run(
            COCKTAIL
            + ["separate", "-", "--adaptive", "-o", "-", "-q", "--report", str(report)]
            + extra,
            input=mix_bytes,
            capture_output=True,
        )
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise RuntimeError(p.stderr.decode().strip())
        y, _ = sf.read(io.BytesIO(p.stdout), dtype="float64", always_2d=True)
        return y.T, wall, p.stderr.decode(), json.loads(report.read_text())


def batch(mix_path, extra):
    """The batch room model on a file, as a whole process; (outputs, wall seconds)."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        p = subprocess.run(
            COCKTAIL
            + ["separate", str(mix_path), "-o", out, "-q", "--model", "convolutive"]
            + extra,
            capture_output=True,
        )
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise RuntimeError(p.stderr.decode().strip())
        files = sorted(Path(out).glob("speaker_*.wav"), key=lambda f: int(f.stem.split("_")[1]))
        return np.array([sf.read(f, dtype="float64")[0] for f in files]), wall


def wav_bytes(X, rate):
    buf = io.BytesIO()
    sf.write(buf, X.T, rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


#: The live speed the target asks for (whole process, unpaced input, 16 kHz),
#: by number of microphones.
SPEED_TARGETS = {2: 10.0, 8: 4.0}


def live_oracle(X, refs, nfft, report):
    """The oracle per-bin filter with the live model's output frames and
    windows (its report says which): with low-delay windows, the per-bin
    Wiener filters computed on those frames and applied through them."""
    if not str(report.get("windows", "")).startswith("low-delay"):
        return oracle(X, refs, nfft)
    hop = int(report.get("hop", nfft // 4))
    window, _ = low_delay_windows(nfft, hop)

    def spectra(Z):  # (channels, frames, bins), the frames BinFilter takes
        Zp = np.pad(Z, ((0, 0), (nfft - hop, nfft)))
        return np.fft.rfft(frames(Zp, nfft, hop) * window, axis=-1)

    Xf, Rf = spectra(X), spectra(refs)
    T = Xf.shape[1]
    W = np.zeros((Xf.shape[2], refs.shape[0], X.shape[0]), dtype=complex)
    for f in range(Xf.shape[2]):
        x = Xf[:, :, f]
        cxx = x @ x.conj().T / T
        cxx += 1e-9 * np.real(np.trace(cxx)) / len(cxx) * np.eye(len(cxx))
        W[f] = np.linalg.solve(cxx, x @ Rf[:, :, f].conj().T / T).conj().T
    filt = BinFilter(W, nfft, hop, low_delay=True)
    return np.concatenate([filt.process(X), filt.flush()], axis=1)


def room_cases(folders, match):
    """The room cases under ``folders`` whose names match, in name order: per case
    (folder, refs (n, samples), mix (samples, mics), rate, n, m, --sources args)."""
    cases = sorted(
        c
        for f in folders
        for c in Path(f).iterdir()
        if (c / "meta.json").exists() and re.search(match, c.name)
    )
    for c in cases:
        meta = json.loads((c / "meta.json").read_text())
        if meta.get("kind") != "convolutive":
            continue
        refs, rate = sf.read(c / "refs.wav", dtype="float64", always_2d=True)
        mix, _ = sf.read(c / "mix.wav", dtype="float64", always_2d=True)
        n, m = int(meta["n_src"]), mix.shape[1]
        yield c, refs.T, mix, rate, n, m, (["--sources", str(n)] if n < m else [])


def _span(values, digits=1):
    """'lo to hi' of ``values`` (one figure when they round alike)."""
    lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return lo if lo == hi else f"{lo} to {hi}"


def cases_table(folders, match):
    out(
        "| case | mics | speakers | mic 1 | batch | live | live - batch | live - mic 1 "
        "| live speed | unsure s |"
    )
    out("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for c, refs, mix, rate, n, m, extra in room_cases(folders, match):
        y_live, wall, _ = live((c / "mix.wav").read_bytes(), extra)
        y_batch, _ = batch(c / "mix.wav", extra)
        base, _ = sdr(refs, np.repeat(mix.T[:1], n, axis=0), rate)
        s_live, _ = sdr(refs, y_live, rate)
        s_batch, _ = sdr(refs, y_batch, rate)
        unsure = _unsure_seconds(c / "mix.wav", extra)
        seconds = mix.shape[0] / rate
        out(
            f"| {c.name} | {m} | {n} | {base:.1f} | {s_batch:.1f} | {s_live:.1f} | "
            f"{s_live - s_batch:+.1f} | {s_live - base:+.1f} | {seconds / wall:.1f}x | {unsure} |"
        )
        rows.append(
            dict(
                case=c.name,
                mics=m,
                n=n,
                gap=s_live - s_batch,
                gain=s_live - base,
                speed=seconds / wall,
                rate=int(rate),
            )
        )
    if rows:
        near = [r["case"] for r in rows if r["gap"] >= -4]
        far = [r["gap"] for r in rows if r["gap"] < -4]
        two = [r for r in rows if r["n"] == 2]
        six = [r["case"] for r in two if r["gain"] >= 6]
        out("")
        out(
            f"- within 4 dB of the batch model on {len(near)} of {len(rows)} cases"
            + (f" ({', '.join(near)})" if near else "")
            + (f"; {-max(far):.1f} to {-min(far):.1f} dB below on the others" if far else "")
        )
        below = [f"{r['case']} ({r['gain']:+.1f})" for r in two if r["gain"] < 6]
        out(
            f"- at least 6 dB above microphone 1 on {len(six)} of {len(two)} two-speaker cases"
            + (f"; not on {', '.join(below)}" if below else "")
        )
        for mics, rate in sorted({(r["mics"], r["rate"]) for r in rows}):
            group = [r for r in rows if r["mics"] == mics and r["rate"] == rate]
            sp = [r["speed"] for r in group]
            speeds = f"{_span(sp)}x"
            runs = f"{len(sp)} {'run' if len(sp) == 1 else 'runs'}"
            target = SPEED_TARGETS.get(mics) if rate == 16000 else None
            if target is not None:
                slow = [r["case"] for r in group if r["speed"] < target]
                runs += f"; the target {target:g}x: " + (
                    f"{len(slow)} below ({', '.join(slow)})" if slow else "none below"
                )
            where = f"{mics} microphones at {rate / 1000:g} kHz"
            out(f"- live speed, {where}: {speeds} real time ({runs})")


def passes_table(folders, match, passes):
    """Where the gap to the batch model comes from: start-up, frame, or the online model.

    Each case's mixture is streamed ``passes`` times in a row (the same room,
    the same speech again), so that the later passes show the live model
    once it has converged; beside them, the batch model with its own frames
    and with the live separation's (2048 samples at 16 kHz, twice that for
    two microphones in a room that rings long: the report says), and the
    best any one filter per bin can do with the live model's output frames
    (twice the separation's: an oracle, the per-bin Wiener filter over all
    microphones computed from the true speakers' images).
    """
    head = " | ".join(f"live, pass {k + 1}" for k in range(passes))
    out(
        f"\nThe same cases streamed {passes} times in a row; live SDR on each pass from 3 s on, "
        "beside the batch model with its own frames and with the live separation's, and the "
        "best one filter per bin can do with the live model's output frames (an oracle given "
        "the true speakers):\n"
    )
    out(
        f"| case | batch | live frames (separation / output) | batch, separation's frames "
        f"| best per-bin filter, output frames "
        f"| {head} |"
    )
    out("|---|---|---|---|---|" + "---|" * passes)
    for c, refs, mix, rate, _, _, extra in room_cases(folders, match):
        L = mix.shape[0]
        y, _, _, report = live_reported(wav_bytes(np.tile(mix.T, passes), rate), extra)
        frame, out_frame = report.get("separation_nfft", report["nfft"]), report["nfft"]
        b, _ = sdr(refs, batch(c / "mix.wav", extra)[0], rate)
        b2, _ = sdr(refs, batch(c / "mix.wav", extra + ["--nfft", str(frame)])[0], rate)
        best, _ = sdr(refs, live_oracle(mix.T, refs, out_frame, report), rate)
        cells = [sdr(refs, y[:, k * L : (k + 1) * L], rate)[0] for k in range(passes)]
        out(
            f"| {c.name} | {b:.1f} | {frame} / {out_frame} | {b2:.1f} | {best:.1f} | "
            + " | ".join(f"{v:.1f}" for v in cells)
            + " |"
        )


def minute_table(folders, match, runs, seconds=60.0):
    """How much of a short recording's live time the start takes.

    Each 16 kHz case with a speed target (SPEED_TARGETS) is streamed as it is
    and repeated to ``seconds``, alternately, ``runs`` times; per length, the
    whole process's speed and the separation's own pace (the report's
    ``real_time_factor``), as multiples of real time, lowest to highest.
    """
    out(
        f"\nLive speed on the recording as it is and repeated to {seconds:g} s, streamed "
        f"alternately {'once' if runs == 1 else f'{runs} times'} (the machine's speed varies "
        "from run to run): the whole "
        "process, and the separation's own pace (the report's real_time_factor: the start's "
        "count and learning, reading and writing left out), in multiples of real time:\n"
    )
    out("| case | mics | length | whole process | separating | target |")
    out("|---|---|---|---|---|---|")
    for c, _, mix, rate, _, m, extra in room_cases(folders, match):
        if rate != 16000 or m not in SPEED_TARGETS:
            continue
        reps = max(1, int(round(seconds * rate / mix.shape[0])))
        streams = [mix.T, np.tile(mix.T, reps)]
        speed, pace = [[], []], [[], []]
        for _ in range(runs):
            for k, X in enumerate(streams):
                _, wall, _, report = live_reported(wav_bytes(X, rate), extra)
                speed[k].append(X.shape[1] / rate / wall)
                pace[k].append(report.get("real_time_factor") or float("nan"))
        for k, X in enumerate(streams):
            out(
                f"| {c.name} | {m} | {X.shape[1] / rate:.0f} s | {_span(speed[k])}x "
                f"| {_span(pace[k])}x | {SPEED_TARGETS[m]:g}x |"
            )


def _unsure_seconds(mix_path, extra):
    """Seconds the live run reported as unsure (from its report on a file)."""
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run(
            COCKTAIL + ["separate", str(mix_path), "--adaptive", "-o", out, "-q"] + extra,
            capture_output=True,
        )
        if p.returncode != 0:
            return "?"
        report = json.loads((Path(out) / "separation.json").read_text())
    return sum(b - a for a, b in report.get("unsure_seconds", []))


def load_speech(folder, n, seconds):
    files = sorted(Path(folder).glob("*.wav"))
    clips = [sf.read(f, dtype="float64", always_2d=True) for f in files]
    rate = clips[0][1]
    clips = [c[0].mean(axis=1) for c in clips if c[1] == rate]
    # each clip at the same level: the recordings differ by up to 20 dB, and a
    # speaker 20 dB quieter from one clip on is not what the tables measure
    clips = [c / max(float(np.std(c)), 1e-12) for c in clips]
    length = int(seconds * rate)
    S = np.zeros((n, length))
    for i in range(n):
        x = np.concatenate(clips[i::n])
        if len(x) < length:
            sys.exit(f"not enough speech in {folder} for {seconds} s per speaker")
        S[i] = x[:length] / np.std(x[:length])
    return S, rate


def images(S, H):
    n = S.shape[1]
    return np.array(
        [[fftconvolve(S[s], H[m, s])[:n] for s in range(len(S))] for m in range(len(H))]
    )


def changing_table(speech, half, rt60):
    S, rate = load_speech(speech, 2, 2 * half)
    L = int(half * rate)
    before = images(S, room_responses(2, 2, rt60, rate, seed=1)[0])
    after = images(S, room_responses(2, 2, rt60, rate, seed=2, distance=1.0)[0])
    img = np.concatenate([before[:, :, :L], after[:, :, L:]], axis=2)
    X, refs = img.sum(axis=1), img[0]
    X = 0.5 * X / np.abs(X).max()
    refs = refs * 0.5 / np.abs(img.sum(axis=1)).max()
    y_live, wall, _, report = live_reported(wav_bytes(X, rate), [])
    s1, p1 = sdr(refs, y_live, rate, SETTLE, half)
    s2, p2 = sdr(refs, y_live, rate, half + SETTLE, 2 * half)
    with tempfile.TemporaryDirectory() as tmp:
        f1, f2 = Path(tmp) / "h1.wav", Path(tmp) / "h2.wav"
        sf.write(f1, X[:, :L].T, rate, subtype="FLOAT")
        sf.write(f2, X[:, L:].T, rate, subtype="FLOAT")
        b1, _ = batch(f1, [])
        b2, _ = batch(f2, [])
        frame = ["--nfft", str(report.get("separation_nfft", report["nfft"]))]
        c1, _ = batch(f1, frame)
        c2, _ = batch(f2, frame)
    sb1, _ = sdr(refs[:, :L], b1, rate, SETTLE)
    sb2, _ = sdr(refs[:, L:], b2, rate, SETTLE)
    # what the live model's frames allow: the batch model with the separation's,
    # and the oracle per-bin filter with the outputs', on each half alone
    short = [sdr(refs[:, :L], c1, rate, SETTLE)[0], sdr(refs[:, L:], c2, rate, SETTLE)[0]]
    best = [
        sdr(part, live_oracle(mix, part, report["nfft"], report), rate, SETTLE)[0]
        for mix, part in ((X[:, :L], refs[:, :L]), (X[:, L:], refs[:, L:]))
    ]
    base2, _ = sdr(refs, np.repeat(X[:1], 2, axis=0), rate, half + SETTLE, 2 * half)
    out(
        f"\nRoom responses change after {half:g} s (RT60 {rt60:g} s, 2 mics, 2 speakers); "
        f"SDR from {SETTLE:g} s after the start / the change:\n"
    )
    out(
        f"| half | mic 1 | batch on that half alone | batch, {frame[1]}-sample frames "
        f"| best per-bin filter, {report['nfft']} | live | live - batch | speaker order |"
    )
    out("|---|---|---|---|---|---|---|---|")
    base1, _ = sdr(refs, np.repeat(X[:1], 2, axis=0), rate, SETTLE, half)
    for name, base, sb, k, s, p in (
        ("first", base1, sb1, 0, s1, p1),
        ("second", base2, sb2, 1, s2, p2),
    ):
        out(
            f"| {name} | {base:.1f} | {sb:.1f} | {short[k]:.1f} | {best[k]:.1f} | {s:.1f} "
            f"| {s - sb:+.1f} | {p} |"
        )
    out(
        f"\nlive speed {2 * half / wall:.1f}x real time; the same speaker order in both halves: "
        f"{'yes' if p1 == p2 else 'no'}"
    )


#: Everyday sounds that are no talker, at EVENT_AT seconds: (name, level
#: relative to the mixture's, seconds, envelope).
EVENTS = (
    ("a door slam, 30 times the speech's level", 30.0, 0.3, "decay"),
    ("a knock, 10 times", 10.0, 0.3, "decay"),
    ("a cough, 5 times", 5.0, 0.4, "hann"),
)
EVENT_AT = 8.0
EVENT_WINDOWS = ((1.0, 3.0), (3.0, 7.0), (7.0, 12.0))  # seconds after the event


def _with_event(X, rate, level, seconds, envelope, seed):
    """X with a burst of noise heard through short random responses at EVENT_AT."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    env = np.exp(-np.arange(n) / (0.05 * rate)) if envelope == "decay" else np.hanning(n)
    burst = level * float(np.std(X)) * rng.standard_normal(n) * env
    Y = X.copy()
    at = int(EVENT_AT * rate)
    for m in range(len(X)):
        Y[m, at : at + n] += np.convolve(burst, 0.3 * rng.standard_normal(50))[:n]
    return Y


def events_table(speech, rt60, rooms=3):
    """Two speakers in simulated rooms; one burst that is no talker at
    EVENT_AT s. Live SDR in windows after it, beside the same stream without
    it."""
    seconds = EVENT_AT + EVENT_WINDOWS[-1][1]
    S, rate = load_speech(speech, 2, seconds)
    rows = {name: [] for name, *_ in EVENTS}
    plain, tamed = [], {name: [] for name, *_ in EVENTS}

    def windows(refs, y):
        return [sdr(refs, y, rate, EVENT_AT + a, EVENT_AT + b)[0] for a, b in EVENT_WINDOWS]

    for seed in range(1, rooms + 1):
        img = images(S, room_responses(2, 2, rt60, rate, seed=seed)[0])
        X, refs = img.sum(axis=1), img[0]
        peak = 0.3 / np.abs(X).max()
        y, _, _, _ = live_reported(wav_bytes(X * peak, rate), [])
        base = windows(refs * peak, y)
        plain.append(base)
        for k, (name, level, length, envelope) in enumerate(EVENTS):
            Xe = _with_event(X, rate, level, length, envelope, seed * 10 + k) * peak
            y, _, _, report = live_reported(wav_bytes(Xe, rate), [])
            rows[name].append(np.subtract(windows(refs * peak, y), base))
            tamed[name].append(report.get("loud_frames_tamed", 0))
    heads = " | ".join(f"{a:g}-{b:g} s after" for a, b in EVENT_WINDOWS)
    out(
        f"\nA sound that is no talker, {EVENT_AT:g} s into two speakers in {rooms} simulated "
        f"rooms (RT60 {rt60:g} s, 2 mics): live SDR in windows after it, as the difference "
        "from the same stream without it (mean over the rooms, worst in brackets); "
        "frames tamed: loud_frames_tamed in the report:\n"
    )
    out(f"| sound | {heads} | frames tamed |")
    out("|---|" + "---|" * (len(EVENT_WINDOWS) + 1))
    mean = np.mean(plain, axis=0)
    out("| none (live SDR) | " + " | ".join(f"{v:.1f}" for v in mean) + " | 0 |")
    for name, diffs in rows.items():
        d = np.array(diffs)
        cells = " | ".join(f"{m:+.1f} ({w:+.1f})" for m, w in zip(d.mean(axis=0), d.min(axis=0)))
        out(f"| {name} | {cells} | {min(tamed[name])} to {max(tamed[name])} |")


#: Two people taking turns: (start, stop) seconds that each one talks. They
#: overlap for half a second at each change of turn, as people do, and talk
#: at once over the last 6 s.
TURNS = (
    ((0.0, 6.0), (11.5, 18.0), (24.0, 30.0)),
    ((5.0, 12.0), (17.0, 24.0), (24.0, 30.0)),
)
#: The stretches where one of them talks alone (speaker index, start, stop).
ALONE = ((0, 0.0, 5.0), (1, 6.0, 11.5), (0, 12.0, 17.0), (1, 18.0, 24.0))
BOTH_FROM = 24.0


def turns_table(speech, rt60, rooms=3):
    """Two speakers taking turns in simulated rooms, streamed with the command
    line's defaults (the count included) and separated as a file: while one
    talks alone, how far below the talker's output the other output stays
    (what is heard of the talker in the silent person's file), and SDR where
    both talk."""
    seconds = TURNS[0][-1][1]
    S, rate = load_speech(speech, 2, seconds)
    fade = int(0.02 * rate)
    for k, spans in enumerate(TURNS):
        mask = np.zeros(S.shape[1])
        for a, b in spans:
            lo, hi = int(a * rate), int(b * rate)
            mask[lo:hi] = 1.0
            mask[lo : lo + fade] = np.linspace(0.0, 1.0, fade)
            mask[hi - fade : hi] = np.linspace(1.0, 0.0, fade)
        S[k] *= mask
    quiet = {"live": [], "batch": []}
    both = {"live": [], "batch": []}
    counts = []
    for seed in range(1, rooms + 1):
        img = images(S, room_responses(2, 2, rt60, rate, seed=seed)[0])
        X, refs = img.sum(axis=1), img[0]
        peak = 0.3 / np.abs(X).max()
        X, refs = X * peak, refs * peak
        y_live, _, _, report = live_reported(wav_bytes(X, rate), [])
        counts.append(report.get("n_sources"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "turns.wav"
            sf.write(path, X.T, rate, subtype="FLOAT")
            y_batch, _ = batch(path, [])
        for name, y in (("live", y_live), ("batch", y_batch)):
            if len(y) < 2:
                quiet[name].append([np.nan] * len(ALONE))
                both[name].append(np.nan)
                continue
            s, perm, _ = _scores(refs, y, rate, BOTH_FROM, None)
            both[name].append(float(np.mean(s)))
            row = []
            for who, a, b in ALONE:
                part = slice(int(a * rate), int(b * rate))
                talker = np.mean(y[perm[who], part] ** 2)
                other = np.mean(y[perm[1 - who], part] ** 2)
                row.append(10 * np.log10(max(talker, 1e-30) / max(other, 1e-30)))
            quiet[name].append(row)
    out(
        f"\nTwo people taking turns in {rooms} simulated rooms (RT60 {rt60:g} s, 2 mics; "
        "half a second of overlap at each change of turn, both at once from "
        f"{BOTH_FROM:g} s), streamed with the defaults (speakers counted: "
        f"{', '.join(str(c) for c in counts)}) and separated as a file: while one talks "
        "alone, how many dB the other output stays below the talker's (mean over the "
        "rooms, worst in brackets); last row: SDR where both talk:\n"
    )
    out("| stretch | live | batch |")
    out("|---|---|---|")

    def cell(values):
        v = np.asarray(values, dtype=float)
        return f"{np.mean(v):.1f} ({np.min(v):.1f})"

    for i, (who, a, b) in enumerate(ALONE):
        cells = " | ".join(cell([r[i] for r in quiet[n]]) for n in ("live", "batch"))
        out(f"| speaker {who + 1} alone, {a:g}-{b:g} s | {cells} |")
    both_cells = f"{cell(both['live'])} | {cell(both['batch'])}"
    out(f"| both, {BOTH_FROM:g}-{seconds:g} s (SDR) | {both_cells} |")


def moving_table(speech, seconds, rt60, step=0.25, window=2.0):
    """Speaker 1 walks along an arc from -50 to +10 degrees; speaker 2 stays at +50."""
    S, rate = load_speech(speech, 2, seconds)
    size = (6.0, 5.0, 3.0)
    _, mics = layout(2, 2, size)
    centre = np.asarray(size) / 2
    n = S.shape[1]
    taps = int(np.ceil(rt60 * rate)) + 32

    def at(deg):
        a = np.deg2rad(deg)
        return centre + 1.5 * np.array([np.sin(a), np.cos(a), 0])

    def response(pos):
        return np.array([impulse_response(pos, m, size, rt60, rate, taps) for m in mics])

    still = np.array([fftconvolve(S[1], h)[:n] for h in response(at(50.0))])
    # The same speech with speaker 1 standing at the walk's end: what the
    # windows give without any movement (the speech, not the move).
    parked = np.array([fftconvolve(S[0], h)[:n] for h in response(at(10.0))])
    n_steps = int(seconds / step)
    angles = np.linspace(-50.0, 10.0, n_steps + 1)
    seg = int(step * rate)
    moving = np.zeros((2, n))
    ramp = np.linspace(0.0, 1.0, seg)
    prev = None
    for k in range(n_steps + 1):
        cur = np.array([fftconvolve(S[0], h)[:n] for h in response(at(angles[k]))])
        lo, hi = k * seg, min((k + 1) * seg, n)
        if lo >= n:
            break
        if prev is None:
            moving[:, lo:hi] = cur[:, lo:hi]
        else:  # cross-fade from the last position over this step
            r = ramp[: hi - lo]
            moving[:, lo:hi] = (1 - r) * prev[:, lo:hi] + r * cur[:, lo:hi]
        prev = cur
    X = moving + still
    peak = np.abs(X).max()
    X, refs = 0.5 * X / peak, 0.5 * np.array([moving[0], still[0]]) / peak
    y, wall, _ = live(wav_bytes(X, rate), [])
    Xp = parked + still
    peak_p = np.abs(Xp).max()
    Xp, refs_p = 0.5 * Xp / peak_p, 0.5 * np.array([parked[0], still[0]]) / peak_p
    y_p, _, _ = live(wav_bytes(Xp, rate), [])
    out(
        f"\nSpeaker 1 walks 60 degrees round the array (1.5 m away) over {seconds:g} s, "
        f"speaker 2 stands still (RT60 {rt60:g} s); live SDR of each speaker per {window:g} s "
        "window and the output each was found on; last columns: the same speech with speaker "
        "1 standing at the walk's end (+10 degrees) throughout. '-': the speaker is silent "
        f"in that window (more than {-SILENT_DB:g} dB below its level over the recording), "
        "where SDR measures only what leaks into its output:\n"
    )

    def cell(v):
        return "-" if np.isnan(v) else f"{v:.1f}"

    out(
        "| window | mic 1 (speakers talking) | live, speaker 1 (walking) | live, speaker 2 "
        "| outputs of speakers 1, 2 | nobody moving, speaker 1 | nobody moving, speaker 2 |"
    )
    out("|---|---|---|---|---|---|---|")
    for lo in np.arange(SETTLE, seconds - window + 1e-9, window):
        s, perm = sdr_each(refs, y, rate, lo, lo + window)
        b = np.nanmean(sdr_each(refs, np.repeat(X[:1], 2, axis=0), rate, lo, lo + window)[0])
        sp, _ = sdr_each(refs_p, y_p, rate, lo, lo + window)
        out(
            f"| {lo:.0f}-{lo + window:.0f} s | {b:.1f} | {cell(s[0])} | {cell(s[1])} "
            f"| {perm[0] + 1}, {perm[1] + 1} | {cell(sp[0])} | {cell(sp[1])} |"
        )
    out(f"\nlive speed {seconds / wall:.1f}x real time")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help="folders of benchmark cases")
    ap.add_argument("--speech", help="folder of mono speech WAVs for the changing rooms")
    ap.add_argument("--match", default="room|office|compact")
    ap.add_argument("--half", type=float, default=10.0, help="seconds before the room changes")
    ap.add_argument("--rt60", type=float, default=0.3)
    ap.add_argument("--walk", type=float, default=16.0, help="seconds of the gradual move")
    ap.add_argument(
        "--passes",
        type=int,
        default=0,
        help="also stream every case this many times in a row (a table of where the gap lies)",
    )
    ap.add_argument(
        "--minute",
        action="store_true",
        help="also time the cases with a speed target as they are and repeated to a minute",
    )
    ap.add_argument("--speed-runs", type=int, default=3, help="runs of each length, with --minute")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables here")
    args = ap.parse_args()
    if args.cases:
        cases_table(args.cases, args.match)
        if args.passes > 1:
            passes_table(args.cases, args.match, args.passes)
        if args.minute:
            minute_table(args.cases, args.match, args.speed_runs)
    if args.speech:
        changing_table(args.speech, args.half, args.rt60)
        moving_table(args.speech, args.walk, args.rt60)
        events_table(args.speech, args.rt60)
        turns_table(args.speech, args.rt60)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(LINES).strip() + "\n")


if __name__ == "__main__":
    main()
