"""Reading what is scored (estimates, references, the mixture) from the forms cocktail writes.

Estimates come from a folder of mono WAVs with its ``separation.json``, a
report, or one multi-channel WAV; references from the sidecar JSON or truth
folder of ``cocktail mix``, a folder of mono WAVs or one multi-channel WAV.
Clips of different lengths are cut to the shortest, with a note.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from .errors import CocktailError
from .io import audio
from .report import REPORT_NAME, input_candidates, is_report, is_sidecar, listed_outputs, read_json


@dataclass
class Signals:
    """Signals to score: rows of ``samples`` named by ``names``.

    Attributes
    ----------
    samples : ndarray, shape (n_signals, n_samples), float64
    sample_rate : int
        In Hz.
    names : list of str
        One short label per row, for tables and figures.
    origin : str
        How to name where they came from in messages.
    """

    samples: np.ndarray
    sample_rate: int
    names: List[str]
    origin: str


@dataclass
class Estimates(Signals):
    """Separated signals to score, with the report of their separation.

    Besides the attributes of :class:`Signals`:

    Attributes
    ----------
    report : dict or None
        separation.json, when there is one.
    report_path : Path or None
        Where the report was read from.
    """

    report: Optional[dict] = None
    report_path: Optional[Path] = None


@dataclass
class References(Signals):
    """Signals to score against, with the sidecar of cocktail mix they came from.

    Besides the attributes of :class:`Signals`:

    Attributes
    ----------
    sidecar : dict or None
        The JSON sidecar of cocktail mix, when given.
    sidecar_path : Path or None
        Where the sidecar was read from.
    """

    sidecar: Optional[dict] = None
    sidecar_path: Optional[Path] = None


def _natural_key(path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def wavs_in(folder):
    """The WAV files of a folder, in natural order (speaker_2 before speaker_10).

    Hidden files (names starting with a dot) are left out.

    Parameters
    ----------
    folder : Path

    Returns
    -------
    list of Path
    """
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() == ".wav" and not p.name.startswith(".")
        ),
        key=_natural_key,
    )


def _stack(clips, origin, what):
    """One array from mono clips of a folder; same rate, shortest length."""
    for c in clips:
        if c.channels != 1:
            raise CocktailError(
                f"{c.name} has {c.channels} channels: a folder of {what} holds one mono "
                "WAV per source"
            )
    rates = {c.sample_rate for c in clips}
    if len(rates) > 1:
        a, b = clips[0], next(c for c in clips if c.sample_rate != clips[0].sample_rate)
        raise CocktailError(
            f"{a.name} is {a.sample_rate} Hz but {b.name} is {b.sample_rate} Hz: "
            f"the {what} must share one sample rate"
        )
    n = min(c.frames for c in clips)
    notes = []
    if any(c.frames != n for c in clips):
        notes.append(
            f"the {what} in {origin} differ in length: each cut to the "
            f"shortest, {n / clips[0].sample_rate:.2f} s"
        )
    return np.stack([c.samples[0, :n] for c in clips]), clips[0].sample_rate, notes


def check_finite(samples, names, what):
    """Refuse signals with NaN or infinite samples.

    Parameters
    ----------
    samples : ndarray, shape (n_signals, n_samples)
    names : list of str
        One name per row, for the message.
    what : str
        What the signals are, for the message (e.g. "estimate").

    Raises
    ------
    CocktailError
        Naming the first row with a NaN or infinite sample.
    """
    bad = ~np.isfinite(samples)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise CocktailError(f"{what} {names[i]} contains NaN or infinite samples")


def load_estimates(path):
    """Estimates from a folder, a separation report, a multi-channel WAV or ``-``.

    A folder's ``separation.json`` names the files and their order; without
    one, every ``*.wav`` in natural order.

    Parameters
    ----------
    path : str or Path
        The folder, the report, the WAV file, or ``-`` for standard input.

    Returns
    -------
    (Estimates, list of str)
        The estimates and notes for the user (clips cut to one length).

    Raises
    ------
    CocktailError
        When the path does not exist, a JSON file is not a separation report,
        a report lists no output files, a folder holds no WAV files, the clips
        are not mono at one sample rate, or a sample is NaN or infinite.
    """
    notes = []
    report = report_path = None
    if str(path) != audio.STDIO:
        p = Path(path)
        if not p.exists():
            raise CocktailError(f"cannot read '{p}': no such file or folder")
        if p.is_file() and p.suffix.lower() == ".json":
            report_path = p
            report = read_json(p, "a separation report")
            if not is_report(report):
                raise CocktailError(
                    f"'{p}' is not a separation report written by cocktail separate"
                    + (
                        " (it is the sidecar of cocktail mix: it holds the references)"
                        if is_sidecar(report)
                        else ""
                    )
                )
            folder = p.parent
        elif p.is_dir():
            folder = p
            if (p / REPORT_NAME).is_file():
                report_path = p / REPORT_NAME
                report = read_json(report_path, "a separation report")
        else:
            folder = None
        if folder is not None:
            listed = None if report is None else listed_outputs(report, report_path, folder)
            if listed is not None:
                files = listed
            elif report is not None and report_path == p:
                raise CocktailError(
                    f"'{p}' lists no output files (that separation went to standard "
                    "output): give the estimates WAV instead"
                )
            else:
                files = wavs_in(folder)
                if not files:
                    raise CocktailError(f"no WAV files in '{folder}': nothing to score")
            clips = [audio.read(f) for f in files]
            samples, rate, notes = _stack(clips, f"'{folder}'", "estimates")
            est = Estimates(
                samples=samples,
                sample_rate=rate,
                names=[f.name for f in files],
                origin=f"'{folder}'",
                report=report,
                report_path=report_path,
            )
            check_finite(est.samples, [f"'{n}'" for n in est.names], "estimate")
            return est, notes
    rec = audio.read(path)
    names = [f"channel {i}" for i in range(1, rec.channels + 1)]
    est = Estimates(samples=rec.samples, sample_rate=rec.sample_rate, names=names, origin=rec.name)
    check_finite(est.samples, names, f"{rec.name}")
    return est, notes


def _resolve(name, base):
    """A path as written in a sidecar: relative to the working folder, else to ``base``."""
    p = Path(name)
    if p.is_absolute() or p.exists():
        return p
    q = Path(base) / p
    return q if q.exists() else p


def _short_names(paths):
    names = [Path(p).name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _from_sidecar(path, data):
    from . import mixing

    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        raise CocktailError(f"'{path}' names no sources: is it the sidecar of cocktail mix?")
    names = _short_names(sources)
    rate = data.get("sample_rate")
    base = Path(path).parent
    truth = data.get("truth")
    notes = []
    if truth:
        files = [_resolve(t, base) for t in truth]
        missing = [f for f in files if not f.is_file()]
        if not missing:
            clips = [audio.read(f) for f in files]
            samples, rate, more = _stack(clips, f"'{path}'", "references")
            return samples, rate, names, notes + more
        notes.append(
            f"truth file '{missing[0]}' named in '{path}' is missing: "
            "references rebuilt from the sources"
        )
    files = [_resolve(s, base) for s in sources]
    for s, f in zip(sources, files):
        if not f.is_file():
            raise CocktailError(
                f"cannot read source '{s}' named in '{path}': no such file (looked in the "
                f"working folder and in '{base}')"
            )
    loaded = mixing.load_sources([str(f) for f in files], sample_rate=rate)
    n = data.get("n_samples")
    if isinstance(n, int) and n != loaded.signals.shape[1]:
        notes.append(
            f"the sources named in '{path}' are {loaded.signals.shape[1]} samples "
            f"long, the mixture was {n}: have they changed since?"
        )
    signals = loaded.signals
    if data.get("kind") == "convolutive":
        # A room mixture is scored against each source as heard at microphone 1.
        H = mixing.responses_from_sidecar(data, base, loaded.sample_rate)
        signals = mixing.images(signals, H[:1])[0]
        notes.append("references rebuilt: each source as heard at microphone 1")
    return signals, loaded.sample_rate, names, notes


def load_references(path):
    """References from a mix sidecar, a truth folder, a multi-channel WAV or ``-``.

    From a sidecar: its truth files when they are all there, else the
    sources rebuilt from the files it names (for a room mixture, each source
    as heard at microphone 1).

    Parameters
    ----------
    path : str or Path
        The sidecar, the folder, the WAV file, or ``-`` for standard input.

    Returns
    -------
    (References, list of str)
        The references and notes for the user.

    Raises
    ------
    CocktailError
        When the path does not exist, a JSON file is not a sidecar of
        cocktail mix, a source it names is missing, a folder holds no WAV
        files, the clips are not mono at one sample rate, or a sample is NaN
        or infinite.
    """
    if str(path) != audio.STDIO:
        p = Path(path)
        if not p.exists():
            raise CocktailError(f"cannot read '{p}': no such file or folder")
        if p.is_file() and p.suffix.lower() == ".json":
            data = read_json(p, "the sidecar of cocktail mix")
            if not is_sidecar(data):
                hint = (
                    " (it is a separation report: give the sidecar written by cocktail "
                    "mix, e.g. mix.json)"
                    if is_report(data)
                    else ""
                )
                raise CocktailError(f"'{p}' is not a sidecar written by cocktail mix{hint}")
            samples, rate, names, notes = _from_sidecar(p, data)
            refs = References(
                samples=samples,
                sample_rate=int(rate),
                names=names,
                origin=f"'{p}'",
                sidecar=data,
                sidecar_path=p,
            )
            check_finite(refs.samples, [f"'{n}'" for n in names], "reference")
            return refs, notes
        if p.is_dir():
            files = wavs_in(p)
            if not files:
                raise CocktailError(f"no WAV files in '{p}': no references to score against")
            samples, rate, notes = _stack([audio.read(f) for f in files], f"'{p}'", "references")
            refs = References(
                samples=samples, sample_rate=rate, names=[f.name for f in files], origin=f"'{p}'"
            )
            check_finite(refs.samples, [f"'{n}'" for n in refs.names], "reference")
            return refs, notes
    rec = audio.read(path)
    names = [f"channel {i}" for i in range(1, rec.channels + 1)]
    check_finite(rec.samples, names, rec.name)
    return References(
        samples=rec.samples, sample_rate=rec.sample_rate, names=names, origin=rec.name
    ), []


def _matches(rec, *, rate=None, channels=None, frames=None):
    return (
        (rate is None or rec.sample_rate == rate)
        and (channels is None or rec.channels == channels)
        and (frames is None or rec.frames == frames)
    )


def find_mixture(estimates, references):
    """The mixture named by the separation report, or next to the mix sidecar.

    Only a file whose rate, channels and length agree with what the report
    or sidecar says is taken.

    Parameters
    ----------
    estimates : Estimates
    references : References or None

    Returns
    -------
    (cocktail.io.audio.Audio, str) or (None, None)
        The mixture and how it was found.
    """
    report = estimates.report
    sidecar = None if references is None else references.sidecar
    if report is not None and estimates.report_path is not None:
        for cand in input_candidates(report, estimates.report_path):
            if cand.is_file():
                try:
                    rec = audio.read(cand)
                except CocktailError:
                    continue
                if _matches(
                    rec,
                    rate=report.get("sample_rate"),
                    channels=report.get("n_mics"),
                    frames=report.get("n_samples"),
                ):
                    return rec, f"the input named in '{estimates.report_path}'"
    if sidecar is not None and references.sidecar_path is not None:
        cand = references.sidecar_path.with_suffix(".wav")
        if cand.is_file():
            try:
                rec = audio.read(cand)
            except CocktailError:
                return None, None
            if _matches(
                rec,
                rate=sidecar.get("sample_rate"),
                channels=sidecar.get("n_mics"),
                frames=sidecar.get("n_samples"),
            ):
                return rec, f"next to '{references.sidecar_path}'"
    return None, None
