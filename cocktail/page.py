"""A listening page for a separation: ``index.html`` to open in any browser.

``cocktail page DIR`` (and ``cocktail separate ... --html``) writes, into a
folder written by ``cocktail separate``::

    DIR/index.html          the page
    DIR/listen/             its pictures and audio copies
    DIR/speaker_1.wav ...   (already there) the separated speakers

The page has an audio player, a waveform and a spectrogram for each
microphone of the mixture and for each speaker, all on one time axis; what
``separation.json`` says (model, algorithm, iterations, convergence,
warnings); and, where the true sources are known, the scores per speaker.
It needs no network and no server: it opens from the file system, on a
desktop or a phone, and the folder can be moved or shared as a whole.

Audio. A recording of up to ``FULL_SECONDS`` is played whole: the players
link the speakers' WAV files themselves, and each microphone gets a 16-bit
mono WAV copy (a browser plays one channel of a multi-channel file only
mixed down). A longer recording gets, for every track, the same
``EXCERPT_SECONDS`` excerpt as 16-bit FLAC, taken where the speakers are
most active together, so the page stays small and quick to write whatever
the length; the full-length speakers stay linked. The page says which.

Pictures are drawn here with numpy (PNG, ``PICTURE_WIDTH`` pixels wide):
no plotting library is needed, and the labels are HTML so they stay
readable on a small screen. The recording is read once, block by block, so
time and memory grow with its length only through that one read.

Every name printed (file names, the recording's name, warnings) is
HTML-escaped, and every link is percent-encoded: file names are user input.
"""

import html
import json
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional
from urllib.parse import quote

import numpy as np
import soundfile as sf

from . import __version__
from .bss.stft import analysis_window
from .errors import CocktailError
from .io import audio, files
from .report import input_candidates, is_sidecar, read_json

PAGE_NAME = "index.html"
#: The folder beside the page holding its pictures and audio copies.
ASSETS = "listen"
#: A file in ASSETS that marks it as written here (so it may be replaced).
MARKER = ".cocktail-page"
#: Written into the page; an index.html without it is not replaced.
GENERATOR = "cocktail page"

#: Recordings up to this long (seconds) are played whole.
FULL_SECONDS = 300.0
#: Longer ones are played as one excerpt of this many seconds.
EXCERPT_SECONDS = 30.0
#: Sample format of the audio copies: what every browser plays.
COPY_SUBTYPE = "PCM_16"
#: Scores are computed unasked (from the mix sidecar) only for recordings up to
#: this long: BSS Eval holds every signal in memory.
AUTO_SCORE_SECONDS = FULL_SECONDS

#: Pictures: pixels.
PICTURE_WIDTH = 1000
WAVE_HEIGHT = 56
GAP_HEIGHT = 3
SPEC_HEIGHT = 120
#: The whole recording's waveform, above an excerpt's picture.
OVERVIEW_HEIGHT = 28
#: Spectrogram: window length, and the range of levels shown below the loudest.
WINDOW_SECONDS = 0.032
DYNAMIC_RANGE_DB = 80.0
#: Frames read at a time.
READ_BLOCK = 1 << 18
#: Time-axis ticks: step candidates in seconds, and about how many ticks.
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
TICKS_WANTED = 8
#: Floor of a speaker's share of activity in the excerpt search (avoids log 0).
ACTIVITY_FLOOR = 1e-6

#: Colours: mixture tracks, then one per speaker (RGB).
MIXTURE_RGB = (64, 64, 64)
PALETTE = (
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (23, 190, 207),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (127, 127, 127),
)
GRID_RGB = (228, 228, 228)
#: Spectrogram colour map: (position 0..1, RGB) anchors, dark = quiet.
COLOR_ANCHORS = (
    (0.0, (0, 0, 4)),
    (0.25, (59, 15, 112)),
    (0.5, (140, 41, 129)),
    (0.7, (222, 73, 104)),
    (0.85, (254, 159, 109)),
    (1.0, (252, 253, 191)),
)


@dataclass
class Track:
    """One row of the page: a microphone of the mixture or a speaker.

    Attributes
    ----------
    kind : {"mixture", "speaker"}
    label : str
        Shown as the heading of the row.
    path : Path
        The file the samples come from.
    channel : int
        Its channel in that file.
    frames : int
        Length of the file, in samples.
    rate : int
        Sample rate, in Hz.
    rgb : tuple of 3 int
        Colour of its pictures.
    href : str
        The audio the player plays, relative to the page.
    full_href : str or None
        The full-length file, when the player has an excerpt.
    picture : str
        Relative to the page.
    asset : str
        Base name of its files in ASSETS.
    peak : float
        Largest absolute sample read.
    envelope : ndarray, shape (2, PICTURE_WIDTH), or None
        Min and max per column.
    span_frames : int
        Frames the picture shows (all, or the excerpt's).
    overview : ndarray, shape (2, PICTURE_WIDTH), or None
        Min and max per column of the whole, with an excerpt.
    overview_picture : str
        Relative to the page.
    energy : ndarray, shape (PICTURE_WIDTH,), or None
        Sum of squares per column.
    power : ndarray, shape (PICTURE_WIDTH, SPEC_HEIGHT), or None
        Spectrogram.
    clipped : int
        Samples beyond full scale, clipped in the copy.
    score : dict or None
        This speaker's row of the scores.
    """

    kind: str
    label: str
    path: Path
    channel: int
    frames: int
    rate: int
    rgb: tuple
    href: str = ""
    full_href: Optional[str] = None
    picture: str = ""
    asset: str = ""
    peak: float = 0.0
    envelope: Optional[np.ndarray] = None
    span_frames: int = 0
    overview: Optional[np.ndarray] = None
    overview_picture: str = ""
    energy: Optional[np.ndarray] = None
    power: Optional[np.ndarray] = None
    clipped: int = 0
    score: Optional[dict] = None


@dataclass
class Page:
    """What :func:`write_page` wrote.

    Attributes
    ----------
    path : Path
        The index.html.
    mode : {"full", "excerpt"}
    excerpt : (float, float) or None
        (start, stop) in seconds, in excerpt mode.
    bytes_written : int
        The page and its folder.
    notes : list of str
        What was assumed, for stderr.
    """

    path: Path
    mode: str
    excerpt: Optional[tuple] = None
    bytes_written: int = 0
    notes: List[str] = field(default_factory=list)


# ------------------------------------------------------------------ finding


def _info(path):
    """soundfile's header information, or the usual one-line error."""
    audio.check_file(path)
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, PermissionError) as exc:
        raise audio.unreadable(audio.display_name(path), exc) from None


def _speakers(folder):
    """(report or None, report path or None, speaker files) of a separation folder."""
    from .inputs import wavs_in
    from .report import REPORT_NAME, is_report, listed_outputs

    report_path = folder / REPORT_NAME
    report = None
    if report_path.is_file():
        report = read_json(report_path, "a separation report")
        if not is_report(report):
            raise CocktailError(
                f"'{report_path}' is not a separation report written by cocktail separate"
            )
        speaker_files = listed_outputs(report, report_path, folder)
        if speaker_files is None:
            raise CocktailError(
                f"'{report_path}' lists no output files (that separation went "
                "to standard output): nothing to listen to"
            )
        return report, report_path, speaker_files
    speaker_files = wavs_in(folder)
    if not speaker_files:
        raise CocktailError(
            f"no separation.json and no WAV files in '{folder}': nothing to listen to"
        )
    return None, None, speaker_files


def _matches(info, report):
    return all(
        want is None or got == want
        for got, want in (
            (info.samplerate, report.get("sample_rate")),
            (info.channels, report.get("n_mics")),
            (info.frames, report.get("n_samples")),
        )
    )


def find_mixture(report, report_path):
    """The input named in ``separation.json``, where ``cocktail evaluate`` looks for it.

    Only a file whose rate, channels and length agree with the report is
    taken; it is checked from its header, without reading the samples.

    Parameters
    ----------
    report : dict or None
        The separation report.
    report_path : Path
        Where the report was read from.

    Returns
    -------
    Path or None
    """
    if report is None:
        return None
    for cand in input_candidates(report, report_path):
        if cand.is_file():
            try:
                info = sf.info(str(cand))
            except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError):
                continue
            if _matches(info, report):
                return cand
    return None


# ------------------------------------------------------------------ reading


def _nfft(rate):
    return int(2 ** np.round(np.log2(max(WINDOW_SECONDS * rate, 16))))


def _row_edges(n_bins):
    """First frequency bin of each picture row (bottom row first)."""
    return np.floor(np.arange(SPEC_HEIGHT) * n_bins / SPEC_HEIGHT).astype(int)


def _reduce_rows(power, n_bins):
    """(frames, bins) power to (frames, SPEC_HEIGHT): the mean over each row's bins."""
    edges = _row_edges(n_bins)
    if n_bins >= SPEC_HEIGHT:
        counts = np.diff(np.append(edges, n_bins))
        return np.add.reduceat(power, edges, axis=1) / counts
    return power[:, edges]


class _Analysis:
    """Envelope, energy and spectrogram of the channels of one file, fed block by block."""

    def __init__(self, n_channels, n_frames, rate):
        self.n = max(n_frames, 1)
        self.nfft = min(_nfft(rate), max(16, 2 ** int(np.log2(self.n))))
        self.window = analysis_window(self.nfft)
        W = PICTURE_WIDTH
        self.low = np.full((n_channels, W), np.inf)
        self.high = np.full((n_channels, W), -np.inf)
        self.energy = np.zeros((n_channels, W))
        self.power = np.zeros((n_channels, W, SPEC_HEIGHT))
        # One spectrogram frame centred on each picture column.
        centres = (np.arange(W) + 0.5) * n_frames / W
        self.starts = np.clip(
            np.round(centres - self.nfft / 2).astype(np.int64), 0, max(n_frames - self.nfft, 0)
        )
        self.next_frame = 0
        self.buffer = np.zeros((n_channels, 0), dtype=np.float32)
        self.buffer_start = 0
        self.offset = 0
        self.peak = np.zeros(n_channels)

    def feed(self, block):
        """``block``: (channels, frames) samples following the previous ones."""
        m = block.shape[1]
        if m == 0:
            return
        W = PICTURE_WIDTH
        cols = ((self.offset + np.arange(m, dtype=np.int64)) * W) // self.n
        first = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        used = cols[first]
        self.low[:, used] = np.minimum(self.low[:, used], np.minimum.reduceat(block, first, axis=1))
        self.high[:, used] = np.maximum(
            self.high[:, used], np.maximum.reduceat(block, first, axis=1)
        )
        squares = np.square(block, dtype=np.float64)
        self.energy[:, used] += np.add.reduceat(squares, first, axis=1)
        self.peak = np.maximum(self.peak, np.abs(block).max(axis=1))
        self.offset += m
        self.buffer = np.concatenate([self.buffer, block], axis=1)
        self._frames(final=False)

    def _frames(self, final):
        end = self.buffer_start + self.buffer.shape[1]
        k = self.next_frame
        stop = k
        while stop < PICTURE_WIDTH and (self.starts[stop] + self.nfft <= end or final):
            stop += 1
        if stop > k:
            idx = self.starts[k:stop] - self.buffer_start
            if final and self.buffer.shape[1] < self.nfft:
                self.buffer = np.pad(self.buffer, ((0, 0), (0, self.nfft - self.buffer.shape[1])))
            frames = np.stack([self.buffer[:, i : i + self.nfft] for i in idx], axis=1)
            spectrum = np.abs(np.fft.rfft(frames * self.window, axis=2)) ** 2
            bins = spectrum.shape[2]
            for c in range(spectrum.shape[0]):
                self.power[c, k:stop] = _reduce_rows(spectrum[c], bins)
            self.next_frame = stop
        # Keep only what later frames need.
        keep_from = self.starts[self.next_frame] if self.next_frame < PICTURE_WIDTH else end
        drop = int(min(max(keep_from - self.buffer_start, 0), self.buffer.shape[1]))
        if drop:
            self.buffer = self.buffer[:, drop:]
            self.buffer_start += drop

    def finish(self):
        self._frames(final=True)
        low, high = self.low, self.high
        # A recording shorter than the picture leaves columns without samples.
        for c in range(low.shape[0]):
            empty = ~np.isfinite(low[c])
            if empty.any():
                filled = np.flatnonzero(~empty)
                nearest = filled[
                    np.clip(np.searchsorted(filled, np.arange(PICTURE_WIDTH)), 0, len(filled) - 1)
                ]
                low[c], high[c] = low[c][nearest], high[c][nearest]
        return low, high


def _analyse(path, tracks, first=0, last=None, copies=None, overview=False):
    """Read frames [first, last) of ``path`` once and fill its tracks' pictures.

    ``tracks`` are the Tracks of that file (one per channel used); ``copies``
    maps a track's channel to an open SoundFile for its mono copy (16-bit:
    samples beyond full scale are clipped, and counted). With ``overview``,
    the waveform and energy go to the track's overview instead.
    """
    info = _info(path)
    last = info.frames if last is None else min(last, info.frames)
    first = min(first, last)
    channels = [t.channel for t in tracks]
    A = _Analysis(len(channels), last - first, info.samplerate)
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(first)
            left = last - first
            while left > 0:
                block = f.read(min(READ_BLOCK, left), dtype="float32", always_2d=True)
                if not len(block):
                    break
                left -= len(block)
                block = np.ascontiguousarray(block.T[channels])
                if not np.all(np.isfinite(block)):
                    raise CocktailError(
                        f"{audio.display_name(path)} contains NaN or infinite samples"
                    )
                A.feed(block)
                for i, t in enumerate(tracks):
                    if copies and t.channel in copies:
                        row = block[i]
                        over = np.abs(row) > 1
                        if over.any():
                            t.clipped += int(over.sum())
                            row = np.clip(row, -1, 1)
                        copies[t.channel].write(row)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise audio.unreadable(audio.display_name(path), exc) from None
    low, high = A.finish()
    for i, t in enumerate(tracks):
        if overview:
            t.overview = np.stack([low[i], high[i]])
            t.energy = A.energy[i]
        else:
            t.envelope = np.stack([low[i], high[i]])
            t.power = A.power[i]
            t.span_frames = last - first
        t.peak = max(t.peak, float(A.peak[i]))


def choose_excerpt(tracks, duration, seconds):
    """(start, stop) in seconds of the excerpt where the speakers are most active together.

    Each speaker's energy per picture column, as a share of its total, is
    summed over every window of ``seconds``; the window with the largest
    sum of the logarithms of those shares (all speakers heard, none
    drowned out) wins. Starts on a whole second.

    Parameters
    ----------
    tracks : list of Track
        With their ``energy``; the speakers' are used (all, when there are no
        speakers).
    duration : float
        Of the recording, in seconds.
    seconds : float
        Length of the excerpt; the whole recording when it is no longer.

    Returns
    -------
    (float, float)
    """
    speakers = [t for t in tracks if t.kind == "speaker"] or tracks
    if duration <= seconds:
        return 0.0, duration
    width = max(1, int(round(seconds / duration * PICTURE_WIDTH)))
    score = np.zeros(PICTURE_WIDTH - width + 1)
    for t in speakers:
        total = t.energy.sum()
        share = t.energy / total if total > 0 else np.full(PICTURE_WIDTH, 1.0 / PICTURE_WIDTH)
        window = np.convolve(share, np.ones(width), mode="valid")
        score += np.log(window + ACTIVITY_FLOOR)
    column = int(np.argmax(score))
    start = float(np.floor(min(column * duration / PICTURE_WIDTH, duration - seconds)))
    return start, start + seconds


# ----------------------------------------------------------------- pictures


def _png(rgb):
    """PNG bytes of an (height, width, 3) uint8 image."""
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _colormap():
    """(256, 3) uint8 lookup table from COLOR_ANCHORS."""
    pos = np.array([p for p, _ in COLOR_ANCHORS])
    rgb = np.array([c for _, c in COLOR_ANCHORS], dtype=float)
    x = np.linspace(0, 1, 256)
    return np.stack([np.interp(x, pos, rgb[:, k]) for k in range(3)], axis=1).astype(np.uint8)


def ticks(start, stop):
    """Time-axis ticks in [start, stop): (step, tick times in seconds), about TICKS_WANTED.

    Parameters
    ----------
    start, stop : float
        The span of the axis, in seconds.

    Returns
    -------
    step : float
        The smallest of TICK_STEPS giving at most TICKS_WANTED ticks (the
        largest when none does), in seconds.
    times : list of float
        The multiples of ``step`` in [start, stop).
    """
    length = stop - start
    step = next((s for s in TICK_STEPS if length / s <= TICKS_WANTED), TICK_STEPS[-1])
    first = int(np.ceil(start / step - 1e-9))
    return step, [
        k * step for k in range(first, int(stop / step) + 1) if start - 1e-9 <= k * step < stop
    ]


def _waveform(img, envelope, peak, cols, rgb):
    """Draw min/max columns ``cols`` of ``envelope``, scaled to ``peak``, into ``img``."""
    height = img.shape[0]
    img[height // 2, :] = GRID_RGB
    if peak <= 0:
        return
    low, high = envelope[0][cols], envelope[1][cols]
    half = (height - 1) / 2
    y_hi = np.floor(half * (1 - high / peak)).astype(int)
    y_lo = np.maximum(np.ceil(half * (1 - low / peak)).astype(int), y_hi)
    rows = np.arange(height)[:, None]
    img[:, : len(cols)][(rows >= y_hi[None, :]) & (rows <= y_lo[None, :])] = rgb


def _render(track, start, stop, level_max, lut):
    """The PNG of one track: waveform above spectrogram from ``start`` to ``stop`` seconds."""
    W, H = PICTURE_WIDTH, WAVE_HEIGHT + GAP_HEIGHT + SPEC_HEIGHT
    img = np.full((H, W, 3), 255, np.uint8)
    length = stop - start
    _, tick_times = ticks(start, stop)
    for t in tick_times:
        if t > start:
            img[:WAVE_HEIGHT, min(int(round((t - start) / length * W)), W - 1)] = GRID_RGB
    # A track shorter than the others ends early.
    scale = min(track.span_frames / track.rate / length, 1.0) if length > 0 else 1.0
    used = max(1, int(round(W * scale)))
    cols = np.minimum((np.arange(used) / max(scale, 1e-12)).astype(int), W - 1)
    span_peak = float(np.abs(track.envelope).max()) if track.envelope.size else 0.0
    _waveform(img[:WAVE_HEIGHT], track.envelope, span_peak, cols, track.rgb)
    # Spectrogram, one level scale for every track, low frequencies at the bottom.
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(np.maximum(track.power[cols], level_max * 1e-30) / level_max)
    level = np.clip((db + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB, 0, 1)
    spec = lut[np.round(level * 255).astype(int)]  # (used, rows, 3)
    img[WAVE_HEIGHT + GAP_HEIGHT :, :used] = spec.transpose(1, 0, 2)[::-1]
    if used < W:
        img[WAVE_HEIGHT + GAP_HEIGHT :, used:] = (245, 245, 245)
    return _png(img)


def _render_overview(track, duration):
    """The PNG of a track's whole waveform (excerpt mode), OVERVIEW_HEIGHT tall."""
    img = np.full((OVERVIEW_HEIGHT, PICTURE_WIDTH, 3), 255, np.uint8)
    scale = min(track.frames / track.rate / duration, 1.0)
    used = max(1, int(round(PICTURE_WIDTH * scale)))
    cols = np.minimum((np.arange(used) / max(scale, 1e-12)).astype(int), PICTURE_WIDTH - 1)
    _waveform(img, track.overview, track.peak, cols, track.rgb)
    return _png(img)


# ------------------------------------------------------------------- scores


def _is_evaluation(data):
    return isinstance(data.get("sources"), list) and "average" in data and "filter_length" in data


def _scores(folder, reference_path, mixture_path, duration, notes):
    """The report of ``cocktail evaluate --json`` for this folder, or None.

    ``reference_path``: what ``cocktail evaluate -r`` takes, or a JSON that
    ``cocktail evaluate --json`` wrote. Without it, the sidecar of ``cocktail
    mix`` next to the mixture is used when there is one (for recordings up
    to AUTO_SCORE_SECONDS and with fast-bss-eval installed).
    """
    from . import evaluate

    if reference_path is not None:
        p = Path(reference_path)
        if p.is_file() and p.suffix.lower() == ".json":
            data = read_json(p, "references or scores")
            if _is_evaluation(data):
                notes.append(f"scores as written by cocktail evaluate in '{p}'")
                return data, f"'{p}'"
        evaluate.require_fast_bss_eval("cocktail page -r")
        result = evaluate.evaluate(folder, reference_path, mixture_path=mixture_path)
        return result.report, result.report["references"]
    if mixture_path is None:
        return None, None
    sidecar = Path(mixture_path).with_suffix(".json")
    if not sidecar.is_file():
        return None, None
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict) or not is_sidecar(data):
        return None, None
    if duration > AUTO_SCORE_SECONDS:
        notes.append(
            f"not scored against '{sidecar}': the recording is longer than "
            f"{AUTO_SCORE_SECONDS / 60:.0f} min (score it with cocktail evaluate "
            "and give its --json output to -r)"
        )
        return None, None
    try:
        evaluate.require_fast_bss_eval()
        result = evaluate.evaluate(folder, sidecar, mixture_path=mixture_path)
    except CocktailError as exc:
        notes.append(f"not scored against '{sidecar}': {exc}")
        return None, None
    notes.extend(result.notes)
    return result.report, f"'{sidecar.name}' (found next to the mixture)"


# --------------------------------------------------------------------- HTML


def esc(text):
    """``text`` made safe to print in HTML, quotes included.

    Parameters
    ----------
    text : object
        Turned into a string first.

    Returns
    -------
    str
    """
    return html.escape(str(text), quote=True)


def _href(*parts):
    """A relative URL to a file of the page's folder, percent-encoded and escaped."""
    return esc("/".join(quote(str(p), safe="") for p in parts))


def clock(seconds, step=1.0):
    """``seconds`` as m:ss (or h:mm:ss), with tenths where the tick step needs them.

    Parameters
    ----------
    seconds : float
    step : float
        The tick step, in seconds: tenths are shown when it is under 1.

    Returns
    -------
    str
    """
    tenths = step < 1
    total = round(seconds * 10) / 10 if tenths else round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s:04.1f}" if tenths else f"{int(s):02d}"
    return f"{int(h)}:{int(m):02d}:{sec}" if h else f"{int(m)}:{sec}"


def _db(value):
    return "&ndash;" if value is None else f"{value:.1f}"


def _size(n_bytes):
    for unit in ("bytes", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000


CSS = """
:root { --ink: #1b1b1b; --mute: #5f6368; --line: #dadce0; --warn: #fff4e5; --warn-ink: #8a4b00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f6f7f9; }
main { max-width: 1080px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.4rem; margin: 0.2em 0 0.3em; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.4em 0 0.5em; }
h3 { font-size: 1rem; margin: 0 0 6px; overflow-wrap: anywhere; }
p { margin: 0.4em 0; }
.lead { color: var(--mute); }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px;
        margin: 10px 0; }
.warnings { background: var(--warn); border-color: #f3c98b; color: var(--warn-ink); }
.warnings ul { margin: 0.3em 0 0; padding-left: 1.2em; }
.ok { color: #137333; }
.bad { color: #b3261e; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
dt { color: var(--mute); }
dd { margin: 0; overflow-wrap: anywhere; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px;
          margin-right: 6px; vertical-align: baseline; }
.score { color: var(--mute); font-size: 0.9rem; margin-left: 4px; font-weight: normal; }
audio { width: 100%; height: 40px; display: block; margin: 4px 0 8px; }
.pic { position: relative; cursor: pointer; line-height: 0; }
.pic img { width: 100%; height: auto; display: block; border-radius: 3px; }
.head { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px;
        background: #00b4ff; left: 0; pointer-events: none; }
.span { position: absolute; top: 0; bottom: 0; background: rgba(0, 140, 255, 0.13);
        border-left: 1px solid #0a84ff; border-right: 1px solid #0a84ff; pointer-events: none; }
.overview { position: relative; line-height: 0; margin-bottom: 2px; }
.overview img { width: 100%; height: 28px; display: block; background: #fafafa; }
.ruler.small { height: 1.2em; font-size: 11px; margin-bottom: 4px; }
.khz { position: absolute; right: 4px; font-size: 11px; line-height: 1; color: #fff;
       text-shadow: 0 0 3px #000; transform: translateY(-50%); }
.ruler { position: relative; height: 1.3em; font-size: 12px; color: var(--mute); }
.ruler span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.ruler span:first-child { transform: none; }
.meta { font-size: 0.85rem; color: var(--mute); overflow-wrap: anywhere; }
.meta a { color: inherit; }
.table { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.92rem; min-width: 100%; background: #fff; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
tfoot td { font-weight: 600; }
svg.history { width: 100%; height: 90px; display: block; }
footer { margin: 24px 0 8px; font-size: 0.8rem; color: var(--mute); }
@media (max-width: 600px) {
  main { padding: 10px; }
  body { font-size: 15px; }
  dl { grid-template-columns: 1fr; gap: 0; }
  dd { margin-bottom: 6px; }
  .card { padding: 10px; }
  .pic img { height: 150px; }
}
"""

SCRIPT = """
(function () {
  var players = Array.prototype.slice.call(document.querySelectorAll('audio'));
  players.forEach(function (a) {
    a.addEventListener('play', function () {
      players.forEach(function (b) { if (b !== a) { b.pause(); } });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('.track'), function (t) {
    var a = t.querySelector('audio'), pic = t.querySelector('.pic'), head = t.querySelector('.head');
    var total = parseFloat(t.getAttribute('data-total'));
    function move() { head.style.left = (100 * a.currentTime / total) + '%'; }
    a.addEventListener('timeupdate', move);
    a.addEventListener('seeked', move);
    pic.addEventListener('click', function (e) {
      var r = pic.getBoundingClientRect();
      var at = (e.clientX - r.left) / r.width * total;
      if (at >= 0 && (!a.duration || at <= a.duration)) { a.currentTime = at; a.play(); }
    });
  });
})();
"""


def _history_svg(report):
    """An inline SVG of the solver's progress per iteration (log scale), or ''."""
    try:
        history = [float(v) for v in report.get("history") or []]
    except (TypeError, ValueError):
        return ""
    values = [v for v in history if v > 0 and np.isfinite(v)]
    if len(values) < 2 or len(values) != len(history):
        return ""
    y = np.log10(values)
    lo, hi = float(y.min()), float(y.max())
    span = hi - lo or 1.0
    w, h = 600, 90
    pts = " ".join(
        f"{i / (len(y) - 1) * (w - 8) + 4:.1f},{(hi - v) / span * (h - 10) + 5:.1f}"
        for i, v in enumerate(y)
    )
    label = esc(report.get("history_label") or "gradient norm")
    return (
        f'<p class="meta">{label} per iteration, log scale: from {values[0]:.2e} to '
        f"{values[-1]:.2e} in {len(values)} iterations</p>"
        f'<svg class="history" viewBox="0 0 {w} {h}" preserveAspectRatio="none" '
        f'role="img" aria-label="{label} per iteration">'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" '
        f'vector-effect="non-scaling-stroke" points="{pts}"/></svg>'
    )


def _report_html(report, report_path, duration, mixture_name):
    if report is None:
        return (
            '<div class="card"><p>No separation.json in this folder: the page has the '
            "audio only.</p></div>"
        )
    rows = []

    def row(name, value):
        rows.append(f"<dt>{esc(name)}</dt><dd>{value}</dd>")

    row(
        "recording",
        f"{esc(report.get('input', '?'))}, {esc(report.get('n_mics', '?'))} "
        f"microphones, {esc(report.get('sample_rate', '?'))} Hz, "
        f"{esc(clock(duration))}",
    )
    if mixture_name:
        row("mixture played", esc(mixture_name))
    speakers = esc(report.get("n_sources", "?"))
    if report.get("sources_reason"):
        speakers += f' <span class="meta">({esc(report["sources_reason"])})</span>'
    row("speakers", speakers)
    model = esc(report.get("model", "?"))
    if report.get("model_reason"):
        model += f' <span class="meta">({esc(report["model_reason"])})</span>'
    row("model", model)
    if report.get("algorithm"):
        row("algorithm", esc(report["algorithm"]))
    if report.get("nfft"):
        frames = f"{esc(report.get('separation_nfft', report['nfft']))} samples"
        if report.get("separation_nfft", report["nfft"]) != report["nfft"]:
            frames += f" (the outputs' Wiener filters on {esc(report['nfft'])})"
        if report.get("latency_seconds") is not None:
            frames += f", output {esc(report['latency_seconds'])} s behind its input"
        why = report.get("frame_reason") or ""
        why = why[len("auto: ") :] if why.startswith("auto: ") else why
        if why:
            frames += f' <span class="meta">({esc(why)})</span>'
        row("STFT frames", frames)
    if report.get("iterations") is not None:
        conv = report.get("converged", True)
        state = (
            '<span class="ok">converged</span>'
            if conv
            else '<span class="bad">not converged</span>'
        )
        row("iterations", f"{esc(report['iterations'])}, {state}")
    if report.get("gradient_norm") is not None:
        tol = (report.get("parameters") or {}).get("tol")
        row(
            "final gradient norm",
            esc(f"{report['gradient_norm']:.3g}")
            + (f" (tolerance {esc(tol)})" if tol is not None else ""),
        )
    post = report.get("postfilter")
    if isinstance(post, dict):
        if post.get("used"):
            leak = ", ".join(f"{v:g}" for v in post.get("crosstalk_db") or [])
            row(
                "post-filter",
                "Wiener gain against the crosstalk"
                + (
                    f' <span class="meta">(crosstalk per speaker {esc(leak)} dB)</span>'
                    if leak
                    else ""
                ),
            )
        elif post.get("reason"):
            row("post-filter", f'none <span class="meta">({esc(post["reason"])})</span>')
    if report.get("output_gain") not in (None, 1, 1.0):
        row("output gain", esc(f"{report['output_gain']:.3g}"))
    options = report.get("options") or {}
    if isinstance(options, dict) and options:
        row("options", esc(", ".join(f"{k}={v}" for k, v in options.items())))
    row(
        "report",
        f'<a href="{_href(report_path.name)}">{esc(report_path.name)}</a>'
        + (
            f", cocktail {esc(report['cocktail_version'])}"
            if report.get("cocktail_version")
            else ""
        ),
    )
    return f'<div class="card"><dl>{"".join(rows)}</dl>{_history_svg(report)}</div>'


def _warnings_html(report, extra):
    warnings = list((report or {}).get("warnings") or [])
    if (
        report is not None
        and report.get("converged") is False
        and not any("converge" in str(w) for w in warnings)
    ):
        warnings.append("the solver did not converge")
    if not warnings and not extra:
        return (
            ('<div class="card"><span class="ok">No warnings</span> from the separation.</div>')
            if report is not None
            else ""
        )
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings + extra)
    title = f"{len(warnings + extra)} warning{'s' if len(warnings + extra) != 1 else ''}"
    return f'<div class="card warnings" role="alert"><strong>{title}</strong><ul>{items}</ul></div>'


def _scores_html(scores, origin, order):
    """The scores table, one row per reference, in the order of the speakers ``order``."""
    if scores is None:
        return ""
    rank = {name: k for k, name in enumerate(order)}
    rows = sorted(scores.get("sources") or [], key=lambda s: rank.get(s.get("estimate"), len(rank)))
    improve = scores.get("mixture") is not None
    cols = [("SDR", "sdr"), ("SIR", "sir"), ("SAR", "sar"), ("SI-SDR", "si_sdr")]
    if improve:
        cols += [("SDRi", "sdr_improvement"), ("SI-SDRi", "si_sdr_improvement")]
    head = "".join(f"<th>{t}</th>" for t, _ in cols)
    body = "".join(
        f"<tr><td>{esc(s.get('estimate', '?'))}</td><td>{esc(s.get('reference', '?'))}</td>"
        + "".join(f"<td>{_db(s.get(k))}</td>" for _, k in cols)
        + "</tr>"
        for s in rows
    )
    avg = scores.get("average") or {}
    foot = (
        "<tr><td>average</td><td></td>"
        + "".join(f"<td>{_db(avg.get(k))}</td>" for _, k in cols)
        + "</tr>"
    )
    lines = [
        f"References: {esc(origin)}; BSS Eval with a "
        f"{esc(scores.get('filter_length', '?'))}-tap distortion filter"
        + (
            f" ({esc(scores['filter_length_reason'])})"
            if scores.get("filter_length_reason")
            else ""
        )
        + ". All figures in dB, higher is better"
        + ("; i = improvement over microphone 1." if improve else ".")
    ]
    if scores.get("amari_index") is not None:
        lines.append(
            f"Amari index {scores['amari_index']:.4f} (0 = each output one source, "
            "1 = no separation)."
        )
    lines += [esc(n) for n in scores.get("notes") or []]
    return (
        '<h2 id="scores">Scores</h2><div class="card"><div class="table"><table>'
        f"<thead><tr><th>speaker</th><th>reference</th>{head}</tr></thead>"
        f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table></div>"
        + "".join(f'<p class="meta">{line}</p>' for line in lines)
        + "</div>"
    )


def _ruler(start, stop):
    step, tick_times = ticks(start, stop)
    return "".join(
        f'<span style="left:{100 * (x - start) / (stop - start):.3f}%">{clock(x, step)}</span>'
        for x in tick_times
    )


def _track_html(t, start, stop, duration, nyquist):
    """One track: heading, player, pictures (overview of the whole with an excerpt)."""
    score = ""
    if t.score is not None and t.score.get("sdr") is not None:
        score = (
            f'<span class="score">SDR {t.score["sdr"]:.1f} dB against '
            f"{esc(t.score.get('reference', '?'))}</span>"
        )
    r, g, b = t.rgb
    spec_top = (WAVE_HEIGHT + GAP_HEIGHT) / (WAVE_HEIGHT + GAP_HEIGHT + SPEC_HEIGHT)
    khz_step = next(s for s in (0.5, 1, 2, 4, 5, 10, 20, 50) if nyquist / 1000 / s <= 4)
    labels = []
    k = khz_step
    while k < nyquist / 1000 * 0.97:
        y = spec_top + (1 - spec_top) * (1 - k * 1000 / nyquist)
        labels.append(f'<span class="khz" style="top:{100 * y:.2f}%">{k:g} kHz</span>')
        k += khz_step
    overview = ""
    if t.overview_picture:
        overview = (
            f'<div class="overview"><img src="{t.overview_picture}" '
            f'width="{PICTURE_WIDTH}" height="{OVERVIEW_HEIGHT}" '
            f'alt="waveform of the whole of {esc(t.label)}">'
            f'<div class="span" style="left:{100 * start / duration:.3f}%;'
            f'width:{100 * (stop - start) / duration:.3f}%"></div></div>'
            f'<div class="ruler small">{_ruler(0, duration)}</div>'
        )
    meta = [
        f"{t.rate} Hz, {clock(t.frames / t.rate)}, peak "
        + ("silent" if t.peak <= 0 else f"{20 * np.log10(t.peak):.1f} dBFS")
    ]
    if t.full_href:
        meta.append(f'full length: <a href="{t.full_href}">{esc(t.path.name)}</a>')
    if t.clipped:
        meta.append(f"{t.clipped} samples beyond full scale clipped in the copy")
    return (
        f'<section class="card track" data-total="{stop - start:.6f}">'
        f'<h3><span class="swatch" style="background:rgb({r},{g},{b})"></span>'
        f"{esc(t.label)}{score}</h3>"
        f'<audio controls preload="metadata" src="{t.href}"></audio>{overview}'
        f'<div class="pic"><img src="{t.picture}" width="{PICTURE_WIDTH}" '
        f'height="{WAVE_HEIGHT + GAP_HEIGHT + SPEC_HEIGHT}" '
        f'alt="waveform and spectrogram of {esc(t.label)}">'
        f'<div class="head"></div>{"".join(labels)}</div>'
        f'<div class="ruler">{_ruler(start, stop)}</div>'
        f'<p class="meta">{"; ".join(meta)}</p></section>'
    )


def _document(title, summary, audio_note, sections):
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{GENERATOR} {esc(__version__)}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{esc(title)}</h1><p class="lead">{summary}</p>'
        f'<p class="meta">{audio_note}</p>{"".join(sections)}'
        f"<footer>Written by cocktail {esc(__version__)}. Click a picture to play from "
        "there. Pictures: waveform (each scaled to its own peak) over spectrogram (linear "
        f"frequency, {DYNAMIC_RANGE_DB:.0f} dB below the loudest of all tracks, one scale "
        "for all), one time axis for every track.</footer>"
        f"</main><script>{SCRIPT}</script></body></html>\n"
    )


# -------------------------------------------------------------------- write


def _check_replaceable(folder):
    page, assets = folder / PAGE_NAME, folder / ASSETS
    if page.is_dir() or (
        page.exists() and GENERATOR not in page.read_text(errors="replace")[:2000]
    ):
        raise CocktailError(
            f"'{page}' exists and was not written by cocktail page: move it away first"
        )
    if assets.exists() and not (assets.is_dir() and (assets / MARKER).is_file()):
        raise CocktailError(
            f"'{assets}' exists and was not written by cocktail page: move it away first"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CocktailError(f"cannot write to '{folder}': permission denied")


def _folder_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _copy_and_analyse(path, group, stage, fmt, first=0, last=None):
    """Analyse frames [first, last) of ``path`` and copy the tracks that need it.

    Speakers played from their own WAV (``fmt`` "WAV") get no copy.
    """
    copies = {}
    try:
        for t in group:
            if fmt == "FLAC" or t.kind == "mixture":
                copies[t.channel] = audio.open_for_writing(
                    str(stage / f"{t.asset}.{fmt.lower()}"), t.rate, 1, COPY_SUBTYPE, fmt
                )
        _analyse(path, group, first, last, copies=copies)
    finally:
        for c in copies.values():
            c.close()


def write_page(
    folder,
    *,
    mixture_path=None,
    reference_path=None,
    full_seconds=FULL_SECONDS,
    excerpt_seconds=EXCERPT_SECONDS,
) -> Page:
    """Write ``folder/index.html`` and ``folder/listen/`` for a separation.

    The page and its folder appear whole or not at all; the separation's
    own files are never changed.

    Parameters
    ----------
    folder : path
        Written by ``cocktail separate``: speaker_1.wav ... and
        separation.json (a folder of mono WAVs alone also does), or the path
        of its separation.json.
    mixture_path : path, optional
        The recording that was separated, (microphones x samples) in one
        file. Default: the input named in separation.json, if still there.
    reference_path : path, optional
        The true sources, as ``cocktail evaluate -r`` takes them, or the
        JSON of ``cocktail evaluate --json``. Default: the sidecar of
        ``cocktail mix`` next to the mixture, if there.
    full_seconds : float
        Recordings up to this long are played whole, longer ones as an
        excerpt of ``excerpt_seconds``.
    excerpt_seconds : float
        Length of the excerpt, in seconds.

    Returns
    -------
    Page
        Where the page is, how its audio was made and notes for the user.

    Raises
    ------
    CocktailError
        For bad input.
    """
    folder, report, report_path, speaker_files, infos, rate = _separation_of(
        folder, full_seconds, excerpt_seconds
    )
    notes = []
    mixture_path, mix_info = _mixture_of(mixture_path, report, report_path, rate, notes)
    tracks = _tracks(mixture_path, mix_info, speaker_files, infos)
    duration = max(t.frames for t in tracks) / rate
    if duration <= 0:
        raise CocktailError(f"the speakers in '{folder}' hold no samples: nothing to listen to")
    excerpt = None
    mode = "full" if duration <= full_seconds else "excerpt"

    scores, score_origin = _scores(folder, reference_path, mixture_path, duration, notes)
    if scores is not None:
        by_name = {s.get("estimate"): s for s in scores.get("sources") or []}
        for t in tracks:
            if t.kind == "speaker":
                t.score = by_name.get(t.label)

    _check_replaceable(folder)
    stage = Path(tempfile.mkdtemp(prefix=f".{ASSETS}.", suffix=".part", dir=folder))
    page_tmp = None
    try:
        excerpt = _write_assets(stage, tracks, mixture_path, duration, mode, rate, excerpt_seconds)
        text = _page_text(
            report,
            report_path,
            tracks,
            duration,
            mode,
            excerpt,
            rate,
            scores,
            score_origin,
            mixture_path,
            notes,
        )
        page_tmp = files.temporary_beside(folder / PAGE_NAME)
        Path(page_tmp).write_text(text, encoding="utf-8")
        os.chmod(stage, 0o777 & ~files._umask())
        size = _folder_size(stage) + len(text.encode())
        # Swap in the new folder, then the page that refers to it.
        live = folder / ASSETS
        old = None
        if live.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{ASSETS}.old.", dir=folder))
            os.replace(live, old / ASSETS)
        try:
            os.replace(stage, live)
        except OSError:
            if old is not None:  # put the previous page's folder back
                os.replace(old / ASSETS, live)
                shutil.rmtree(old, ignore_errors=True)
            raise
        stage = None
        files.publish(page_tmp, folder / PAGE_NAME)
        page_tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if page_tmp is not None:
            try:
                os.unlink(page_tmp)
            except OSError:
                pass
    return Page(
        path=folder / PAGE_NAME, mode=mode, excerpt=excerpt, bytes_written=size, notes=notes
    )


def _separation_of(folder, full_seconds, excerpt_seconds):
    """The separation a page is for: (folder, report, report path, speaker
    files, their headers, sample rate), checked."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() == ".json":
        folder = folder.parent
    if not folder.exists():
        raise CocktailError(f"cannot read '{folder}': no such folder")
    if not folder.is_dir():
        raise CocktailError(
            f"'{folder}' is not a folder: give the folder written by cocktail separate"
        )
    if not full_seconds > 0 or not excerpt_seconds > 0:
        raise CocktailError("the full and excerpt lengths must be positive")
    report, report_path, speaker_files = _speakers(folder)

    infos = [_info(f) for f in speaker_files]
    rates = {i.samplerate for i in infos}
    if len(rates) > 1:
        raise CocktailError(
            f"the speakers in '{folder}' differ in sample rate: "
            f"{', '.join(str(r) for r in sorted(rates))} Hz"
        )
    rate = rates.pop()
    for f, i in zip(speaker_files, infos):
        if i.channels != 1:
            raise CocktailError(
                f"'{f}' has {i.channels} channels: a separation folder holds "
                "one mono WAV per speaker"
            )
    return folder, report, report_path, speaker_files, infos, rate


def _mixture_of(mixture_path, report, report_path, rate, notes):
    """The mixture's path and header (or None, None, with a note), checked
    to be at the speakers' rate."""
    if mixture_path is not None:
        mixture_path = Path(mixture_path)
        mix_info = _info(mixture_path)
        if mix_info.samplerate != rate:
            raise CocktailError(
                f"the mixture '{mixture_path}' is {mix_info.samplerate} Hz but "
                f"the speakers are {rate} Hz: give the recording they were "
                "separated from"
            )
    else:
        mixture_path = find_mixture(report, report_path)
        if mixture_path is None:
            notes.append(
                "the mixture is not known (give --mixture MIX.wav): the page has the speakers only"
            )
        mix_info = None if mixture_path is None else sf.info(str(mixture_path))
    return mixture_path, mix_info


def _tracks(mixture_path, mix_info, speaker_files, infos):
    """One track per microphone of the mixture, then one per speaker."""
    tracks = []
    if mix_info is not None:
        for m in range(mix_info.channels):
            tracks.append(
                Track(
                    "mixture",
                    f"microphone {m + 1}",
                    mixture_path,
                    m,
                    mix_info.frames,
                    mix_info.samplerate,
                    MIXTURE_RGB,
                )
            )
    for k, (f, i) in enumerate(zip(speaker_files, infos)):
        tracks.append(
            Track("speaker", f.name, f, 0, i.frames, i.samplerate, PALETTE[k % len(PALETTE)])
        )
    return tracks


def _write_assets(stage, tracks, mixture_path, duration, mode, rate, excerpt_seconds):
    """The audio copies and pictures of every track, into ``stage``.

    Each file is read once in "full" mode; in "excerpt" mode, once whole
    (overview, activity) and once for the excerpt. Returns the excerpt
    (start, stop) in seconds, or None.
    """
    excerpt = None
    mic_tracks = [t for t in tracks if t.kind == "mixture"]
    speakers = [t for t in tracks if t.kind == "speaker"]
    groups = ([(mixture_path, mic_tracks)] if mic_tracks else []) + [
        (t.path, [t]) for t in speakers
    ]
    assets = [f"mic_{t.channel + 1}" for t in mic_tracks] + [
        f"speaker_{k}" for k in range(1, len(speakers) + 1)
    ]
    for t, name in zip(tracks, assets):
        t.asset = name
        t.href = _href(ASSETS, name + (".wav" if mode == "full" else ".flac"))
    if mode == "full":
        # Each file read once: pictures, and a copy of each microphone.
        for t in speakers:
            t.href = _href(t.path.name)
        start, stop = 0.0, duration
        for path, group in groups:
            _copy_and_analyse(path, group, stage, "WAV")
    else:
        # The whole once (overview, activity), then the excerpt (copies, pictures).
        for path, group in groups:
            _analyse(path, group, overview=True)
        start, stop = excerpt = choose_excerpt(tracks, duration, excerpt_seconds)
        for t in speakers:
            t.full_href = _href(t.path.name)
        for path, group in groups:
            _copy_and_analyse(
                path, group, stage, "FLAC", int(round(start * rate)), int(round(stop * rate))
            )
    level_max = max((float(t.power.max()) for t in tracks), default=0.0) or 1.0
    lut = _colormap()
    for t, name in zip(tracks, assets):
        (stage / f"{name}.png").write_bytes(_render(t, start, stop, level_max, lut))
        t.picture = _href(ASSETS, f"{name}.png")
        if mode == "excerpt":
            (stage / f"{name}_whole.png").write_bytes(_render_overview(t, duration))
            t.overview_picture = _href(ASSETS, f"{name}_whole.png")
    (stage / MARKER).write_text("written by cocktail page; replaced on the next run\n")
    return excerpt


def _page_text(
    report,
    report_path,
    tracks,
    duration,
    mode,
    excerpt,
    rate,
    scores,
    score_origin,
    mixture_path,
    notes,
):
    speakers = [t for t in tracks if t.kind == "speaker"]
    mics = [t for t in tracks if t.kind == "mixture"]
    if report is not None:
        name = str(report.get("input", "the recording"))
        if len(name) > 2 and name[0] == name[-1] == "'":
            name = f"'{Path(name[1:-1]).name}'"  # a folder path would crowd the title
        title = f"Separation of {name}"
        state = "converged" if report.get("converged", True) else "not converged"
        its = (
            f" after {report['iterations']} iterations"
            if report.get("iterations") is not None
            else ""
        )
        summary = (
            f"{len(speakers)} speaker{'s' if len(speakers) != 1 else ''} from "
            f"{esc(report.get('n_mics', '?'))} microphones, {clock(duration)}; "
            f"{esc(report.get('model', '?'))} model, {state}{its}."
        )
    else:
        title = f"Speakers in {tracks[-1].path.parent.name}"
        summary = f"{len(speakers)} speakers, {clock(duration)}."
    if mode == "full":
        audio_note = (
            "Audio: the players play the speakers' own WAV files in this folder"
            + (
                f" and a {COPY_SUBTYPE[-2:]}-bit mono WAV copy of each microphone (in {ASSETS}/)"
                if mics
                else ""
            )
            + "; everything is full length."
        )
    else:
        a, z = excerpt
        audio_note = (
            f"Audio: the recording is {clock(duration)} long, so every player has the "
            f"same {z - a:g} s excerpt, {clock(a)} to {clock(z)}, where the speakers "
            f"are most active together (shaded on the strip of the whole recording), as {COPY_SUBTYPE[-2:]}"
            f"-bit FLAC in {ASSETS}/. The full-length speakers are the WAV files of "
            "this folder, linked under each player."
        )
    sections = [
        _warnings_html(report, []),
    ]
    if scores is not None:
        sections.append(_scores_html(scores, score_origin, [t.label for t in speakers]))
    nyquist = rate / 2
    start, stop = excerpt or (0.0, duration)
    if mics:
        sections.append(f'<h2 id="mixture">Mixture: {esc(mixture_path.name)}</h2>')
        sections += [_track_html(t, start, stop, duration, t.rate / 2) for t in mics]
    sections.append('<h2 id="speakers">Separated speakers</h2>')
    if notes:
        sections.append("".join(f'<p class="meta">Note: {esc(n)}</p>' for n in notes))
    sections += [_track_html(t, start, stop, duration, nyquist) for t in speakers]
    sections.append('<h2 id="report">Separation report</h2>')
    sections.append(
        _report_html(
            report, report_path, duration, None if mixture_path is None else mixture_path.name
        )
    )
    return _document(title, summary, audio_note, sections)
