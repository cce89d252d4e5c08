"""Scoring a separation against the true sources: BSS Eval, SI-SDR, Amari index.

This is the core behind ``cocktail evaluate``. Estimates and references are
read from the forms cocktail writes (a folder of mono WAVs with its
``separation.json``, one multi-channel WAV, the sidecar JSON or truth folder
of ``cocktail mix``), made comparable (a different length is truncated, with
a note), then scored with fast_bss_eval. It never prints: adjustments are
returned as notes for the command line to show.

The figures, all in dB except the Amari index, limited to +-150 dB (beyond
that BSS Eval measures float64 rounding; an exact estimate would score +inf):

* SDR, SIR, SAR: BSS Eval v3 (``fast_bss_eval.bss_eval_sources``); each
  reference is paired with the estimate that maximises the total SIR. The
  estimate may differ from the reference by a distortion filter of
  ``filter_length`` taps: 1 for instantaneous mixtures (a gain only), 512
  (the usual BSS Eval value) for room recordings.
* SI-SDR: scale-invariant SDR of the same pairs (a gain only, always).
* improvements (SDRi, SIRi, SI-SDRi): the figure minus that of the unprocessed
  mixture, taking microphone 1 as the estimate of every source.
* Amari index of ``P = W A`` (true mixing ``A`` from the mix sidecar,
  estimated unmixing ``W`` from the separation report), in [0, 1]: 0 when
  every output holds exactly one source, 1 when every output holds all
  of them equally.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from . import __version__
from .io import audio
from .errors import CocktailError
from .metrics import amari_index

#: The usual BSS Eval distortion filter, for mixtures with echoes.
ROOM_FILTER_LENGTH = 512
#: No distortion filter: instantaneous mixtures differ by a gain only.
INSTANTANEOUS_FILTER_LENGTH = 1
REPORT_NAME = "separation.json"
METRICS = ("sdr", "sir", "sar", "si_sdr")
IMPROVEMENTS = ("sdr_improvement", "sir_improvement", "si_sdr_improvement")
#: Figures are limited to +-CLAMP_DB: beyond about 150 dB BSS Eval measures
#: float64 rounding (an exact estimate scores +inf, an orthogonal one -inf).
CLAMP_DB = 150.0


@dataclass
class Signals:
    """Signals to score: rows of ``samples`` named by ``names``."""

    samples: np.ndarray  # (n_signals, n_samples), float64
    sample_rate: int
    names: List[str]  # one short label per row, for tables and figures
    origin: str  # how to name where they came from in messages


@dataclass
class Estimates(Signals):
    report: Optional[dict] = None  # separation.json, when there is one
    report_path: Optional[Path] = None


@dataclass
class References(Signals):
    sidecar: Optional[dict] = None  # the JSON sidecar of cocktail mix, when given
    sidecar_path: Optional[Path] = None


@dataclass
class Evaluation:
    report: dict  # the figures, as printed by --json (schema: see evaluate())
    notes: List[str] = field(default_factory=list)  # adjustments made, for stderr
    estimates: Optional[Estimates] = None  # as scored (truncated), every estimate
    references: Optional[References] = None  # as scored, in reference order
    mixture: Optional[audio.Audio] = None  # as scored, when known
    matching: List[Optional[int]] = field(default_factory=list)  # reference of each estimate


def require_fast_bss_eval(command="cocktail evaluate"):
    """Import fast_bss_eval, or say how to install it."""
    try:
        import fast_bss_eval
    except ImportError:
        raise CocktailError(
            f"{command} needs fast-bss-eval: pip install 'cocktail[evaluate]'"
        ) from None
    return fast_bss_eval


# ----------------------------------------------------------------- formulas


def score(references, estimates, *, filter_length=INSTANTANEOUS_FILTER_LENGTH, mixture=None):
    """BSS Eval and SI-SDR of ``estimates`` against ``references`` (both signals x samples).

    There must be at least as many estimates as references; each reference
    gets the estimate maximising the total SIR. ``mixture`` (one channel) is
    the baseline for the improvements. Returns a dict of arrays, one entry
    per reference: ``sdr``, ``sir``, ``sar``, ``si_sdr``, ``estimate`` (index
    of the paired estimate) and, with a mixture, ``sdr_improvement``,
    ``sir_improvement``, ``si_sdr_improvement``. Figures are limited to
    +-``CLAMP_DB`` (an exact estimate scores 150 dB); a silent estimate has
    none (``-inf`` SDR and SI-SDR, ``nan`` SIR and SAR).
    """
    fbe = require_fast_bss_eval()
    R = np.asarray(references, dtype=np.float64)
    E = np.asarray(estimates, dtype=np.float64)
    n_ref, n_est = R.shape[0], E.shape[0]
    if n_est < n_ref:
        raise CocktailError(
            f"{n_est} estimate{'s' if n_est != 1 else ''} for {n_ref} references: "
            "every reference needs an estimate"
        )
    if R.shape[1] != E.shape[1]:
        raise CocktailError("references and estimates must have the same length")
    if filter_length > R.shape[1]:
        raise CocktailError(
            f"the filter length ({filter_length}) is longer than the signals "
            f"({R.shape[1]} samples): use a shorter filter"
        )
    # A silent estimate has no direction: BSS Eval is undefined for it (0 / 0).
    # Score the others; a reference only a silent estimate is left for gets -inf.
    live = [j for j in range(n_est) if np.any(E[j])]
    out = {k: np.full(n_ref, np.nan) for k in METRICS}
    out["estimate"] = np.full(n_ref, -1, dtype=int)
    with np.errstate(divide="ignore", invalid="ignore"):
        if live:
            Er = E[live]
            k = min(n_ref, len(live))
            try:
                sdr, sir, sar, perm = fbe.bss_eval_sources(R, Er, filter_length=filter_length,
                                                           clamp_db=CLAMP_DB)
            except np.linalg.LinAlgError:
                raise CocktailError(
                    "the references are linearly dependent (is one of them a copy or a "
                    "blend of the others?): BSS Eval cannot tell them apart"
                ) from None
            if len(live) >= n_ref:  # perm[i] = estimate of reference i
                refs, ests = np.arange(n_ref), np.asarray(perm)
            else:  # fast_bss_eval pairs the other way round: perm[j] = reference of estimate j
                refs, ests = np.asarray(perm), np.arange(k)
            out["sdr"][refs], out["sir"][refs], out["sar"][refs] = sdr, sir, sar
            out["estimate"][refs] = np.asarray(live)[ests]
            out["si_sdr"][refs] = -fbe.numpy.si_sdr_loss(Er[ests], R[refs], clamp_db=CLAMP_DB)
        left = [i for i in range(n_ref) if out["estimate"][i] < 0]
        free = [j for j in range(n_est) if j not in set(out["estimate"])]
        for i, j in zip(left, free):
            out["estimate"][i] = j
            out["sdr"][i] = out["si_sdr"][i] = -np.inf
        if mixture is not None:
            x = np.asarray(mixture, dtype=np.float64).reshape(-1)
            base = {k: np.full(n_ref, np.nan) for k in METRICS}
            if np.any(x):
                X = np.repeat(x[None, :], n_ref, axis=0)
                # Every estimate is the same signal, so whichever pairing is found,
                # entry i is the baseline of reference i. (fast_bss_eval 0.1.4 fails
                # with compute_permutation=False and more than one tap on numpy 2.)
                base["sdr"], base["sir"], base["sar"], _ = fbe.bss_eval_sources(
                    R, X, filter_length=filter_length, clamp_db=CLAMP_DB)
                base["si_sdr"] = -fbe.numpy.si_sdr_loss(X, R, clamp_db=CLAMP_DB)
            for k in ("sdr", "sir", "si_sdr"):
                out[f"{k}_improvement"] = out[k] - base[k]
    return out


# ------------------------------------------------------------------ reading


def _natural_key(path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _wavs_in(folder):
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() == ".wav" and not p.name.startswith(".")),
                  key=_natural_key)


def _read_json(path, what):
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CocktailError(f"cannot read '{path}': no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CocktailError(f"cannot read '{path}': {reason}") from None
    except json.JSONDecodeError as exc:
        raise CocktailError(f"cannot read '{path}': not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CocktailError(f"cannot read '{path}': expected {what}, a JSON object")
    return data


def _is_report(data):
    return "unmixing" in data or ("outputs" in data and "iterations" in data)


def _is_sidecar(data):
    return "sources" in data and ("mixing" in data or data.get("kind") == "convolutive")


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
        notes.append(f"the {what} in {origin} differ in length: each cut to the "
                     f"shortest, {n / clips[0].sample_rate:.2f} s")
    return np.stack([c.samples[0, :n] for c in clips]), clips[0].sample_rate, notes


def _check_finite(samples, names, what):
    bad = ~np.isfinite(samples)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise CocktailError(f"{what} {names[i]} contains NaN or infinite samples")


def load_estimates(path):
    """Estimates from a folder, a separation report, a multi-channel WAV or ``-``.

    Returns ``(Estimates, notes)``. A folder's ``separation.json`` names the
    files and their order; without one, every ``*.wav`` in natural order.
    """
    notes = []
    report = report_path = None
    if str(path) != audio.STDIO:
        p = Path(path)
        if not p.exists():
            raise CocktailError(f"cannot read '{p}': no such file or folder")
        if p.is_file() and p.suffix.lower() == ".json":
            report_path = p
            report = _read_json(p, "a separation report")
            if not _is_report(report):
                raise CocktailError(
                    f"'{p}' is not a separation report written by cocktail separate"
                    + (" (it is the sidecar of cocktail mix: it holds the references)"
                       if _is_sidecar(report) else "")
                )
            folder = p.parent
        elif p.is_dir():
            folder = p
            if (p / REPORT_NAME).is_file():
                report_path = p / REPORT_NAME
                report = _read_json(report_path, "a separation report")
        else:
            folder = None
        if folder is not None:
            if report is not None and report.get("outputs"):
                files = [folder / str(name) for name in report["outputs"]]
                for f in files:
                    if not f.is_file():
                        raise CocktailError(
                            f"cannot read '{f}': no such file (listed in '{report_path}')")
            elif report is not None and report_path == p:
                raise CocktailError(
                    f"'{p}' lists no output files (that separation went to standard "
                    "output): give the estimates WAV instead"
                )
            else:
                files = _wavs_in(folder)
                if not files:
                    raise CocktailError(f"no WAV files in '{folder}': nothing to score")
            clips = [audio.read(f) for f in files]
            samples, rate, notes = _stack(clips, f"'{folder}'", "estimates")
            est = Estimates(samples=samples, sample_rate=rate, names=[f.name for f in files],
                            origin=f"'{folder}'", report=report, report_path=report_path)
            _check_finite(est.samples, [f"'{n}'" for n in est.names], "estimate")
            return est, notes
    rec = audio.read(path)
    names = [f"channel {i}" for i in range(1, rec.channels + 1)]
    est = Estimates(samples=rec.samples, sample_rate=rec.sample_rate, names=names,
                    origin=rec.name)
    _check_finite(est.samples, names, f"{rec.name}")
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
        notes.append(f"truth file '{missing[0]}' named in '{path}' is missing: "
                     "references rebuilt from the sources")
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
        notes.append(f"the sources named in '{path}' are {loaded.signals.shape[1]} samples "
                     f"long, the mixture was {n}: have they changed since?")
    signals = loaded.signals
    if data.get("kind") == "convolutive":
        # A room mixture is scored against each source as heard at microphone 1.
        H = mixing.responses_from_sidecar(data, base, loaded.sample_rate)
        signals = mixing.images(signals, H[:1])[0]
        notes.append("references rebuilt: each source as heard at microphone 1")
    return signals, loaded.sample_rate, names, notes


def load_references(path):
    """References from a mix sidecar, a truth folder, a multi-channel WAV or ``-``.

    Returns ``(References, notes)``.
    """
    if str(path) != audio.STDIO:
        p = Path(path)
        if not p.exists():
            raise CocktailError(f"cannot read '{p}': no such file or folder")
        if p.is_file() and p.suffix.lower() == ".json":
            data = _read_json(p, "the sidecar of cocktail mix")
            if not _is_sidecar(data):
                hint = (" (it is a separation report: give the sidecar written by cocktail "
                        "mix, e.g. mix.json)" if _is_report(data) else "")
                raise CocktailError(f"'{p}' is not a sidecar written by cocktail mix{hint}")
            samples, rate, names, notes = _from_sidecar(p, data)
            refs = References(samples=samples, sample_rate=int(rate), names=names,
                              origin=f"'{p}'", sidecar=data, sidecar_path=p)
            _check_finite(refs.samples, [f"'{n}'" for n in names], "reference")
            return refs, notes
        if p.is_dir():
            files = _wavs_in(p)
            if not files:
                raise CocktailError(f"no WAV files in '{p}': no references to score against")
            samples, rate, notes = _stack([audio.read(f) for f in files], f"'{p}'", "references")
            refs = References(samples=samples, sample_rate=rate, names=[f.name for f in files],
                              origin=f"'{p}'")
            _check_finite(refs.samples, [f"'{n}'" for n in refs.names], "reference")
            return refs, notes
    rec = audio.read(path)
    names = [f"channel {i}" for i in range(1, rec.channels + 1)]
    _check_finite(rec.samples, names, rec.name)
    return References(samples=rec.samples, sample_rate=rec.sample_rate, names=names,
                      origin=rec.name), []


def _matches(rec, *, rate=None, channels=None, frames=None):
    return ((rate is None or rec.sample_rate == rate)
            and (channels is None or rec.channels == channels)
            and (frames is None or rec.frames == frames))


def find_mixture(estimates, references):
    """The mixture named by the separation report, or next to the mix sidecar.

    ``references`` may be None.

    Only a file whose rate, channels and length agree with what the report
    or sidecar says is taken; returns ``(Audio, how it was found)`` or
    ``(None, None)``.
    """
    report = estimates.report
    sidecar = None if references is None else references.sidecar
    if report is not None and estimates.report_path is not None:
        name = str(report.get("input_path") or report.get("input", ""))
        if report.get("input_path") or (len(name) > 2 and name[0] == name[-1] == "'"):
            rel = Path(name if report.get("input_path") else name[1:-1])
            here = estimates.report_path.parent
            for cand in [rel] + ([] if rel.is_absolute() else
                                 [here / rel, here.parent / rel, here.parent.parent / rel]):
                if cand.is_file():
                    try:
                        rec = audio.read(cand)
                    except CocktailError:
                        continue
                    if _matches(rec, rate=report.get("sample_rate"), channels=report.get("n_mics"),
                                frames=report.get("n_samples")):
                        return rec, f"the input named in '{estimates.report_path}'"
    if sidecar is not None and references.sidecar_path is not None:
        cand = references.sidecar_path.with_suffix(".wav")
        if cand.is_file():
            try:
                rec = audio.read(cand)
            except CocktailError:
                return None, None
            if _matches(rec, rate=sidecar.get("sample_rate"), channels=sidecar.get("n_mics"),
                        frames=sidecar.get("n_samples")):
                return rec, f"next to '{references.sidecar_path}'"
    return None, None


# ------------------------------------------------------------------ scoring


def default_filter_length(references, estimates):
    """(filter length, why): 1 for instantaneous mixing, else 512."""
    for data, path, key, what in (
            (references.sidecar, references.sidecar_path, "kind", "mixing"),
            (estimates.report, estimates.report_path, "model", "model")):
        if data is not None and data.get(key):
            kind = str(data[key])
            taps = INSTANTANEOUS_FILTER_LENGTH if kind == "instantaneous" else ROOM_FILTER_LENGTH
            return taps, f"{kind} {what}, from '{path.name}'"
    return ROOM_FILTER_LENGTH, "the BSS Eval default; the mixing model is not known"


def _amari(estimates, references, notes):
    report, sidecar = estimates.report, references.sidecar
    if report is None or sidecar is None:
        return None
    try:
        A = np.array(sidecar["mixing"], dtype=float)
        W = np.array(report.get("unmixing"), dtype=float)
    except (KeyError, TypeError, ValueError):
        W = A = np.zeros(0)
    if sidecar.get("kind", "instantaneous") != "instantaneous" or W.ndim != 2 or A.ndim != 2:
        return None  # no single unmixing matrix (e.g. one per frequency), or no true A
    if W.shape[1] != A.shape[0]:
        notes.append(f"no Amari index: '{estimates.report_path.name}' unmixes {W.shape[1]} "
                     f"microphones but '{references.sidecar_path.name}' mixes into "
                     f"{A.shape[0]}: are they from the same mixture?")
        return None
    if W.shape[0] != A.shape[1]:
        notes.append(f"no Amari index: {W.shape[0]} outputs for {A.shape[1]} sources "
                     "(it needs as many of each)")
        return None
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(A))):
        return None
    return amari_index(W @ A)


def _plain(name):
    """A path as data (for JSON): no quotes, '-' for standard input."""
    if name == audio.display_name(audio.STDIO):
        return audio.STDIO
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == "'" else name


def _finite(v):
    v = float(v)
    return v if np.isfinite(v) else None


def evaluate(estimates_path, reference_path, *, mixture_path=None, filter_length=None):
    """Score the estimates at ``estimates_path`` against ``reference_path``.

    Returns an :class:`Evaluation` whose ``report`` is the ``--json`` output::

        {
          "cocktail_version": "...",      # the version that scored
          "estimates": "out",              # where the estimates came from ("-": stdin)
          "references": "mix.json",        # where the references came from
          "mixture": "mix.wav" | null,     # baseline of the improvements
          "sample_rate": 16000,            # Hz
          "n_samples": 100082,             # samples scored (after any truncation)
          "duration": 6.255,               # seconds scored
          "n_references": 2,
          "n_estimates": 2,
          "filter_length": 1,              # BSS Eval distortion filter taps
          "filter_length_reason": "instantaneous mixing, from 'mix.json'",
          "sources": [                     # one per reference, in reference order
            {"reference": "alice.wav",     # name of the reference
             "estimate": "speaker_2.wav",  # name of the estimate paired with it
             "sdr": 48.1, "sir": 67.0, "sar": 48.2, "si_sdr": 48.1,         # dB
             "sdr_improvement": 41.2, "sir_improvement": 60.1,            # dB, or null
             "si_sdr_improvement": 41.2}                                  #   without mixture
          ],
          "average": {"sdr": ..., "sir": ..., "sar": ..., "si_sdr": ...,
                      "sdr_improvement": ..., "sir_improvement": ...,
                      "si_sdr_improvement": ...},  # means over the sources, dB or null
          "amari_index": 0.0004 | null,    # [0, 1], 0 = perfect; null unless both the
                                           # mix sidecar and separation.json are known
          "unmatched_estimates": [],       # estimates paired with no reference
          "notes": []                      # adjustments made (also shown on stderr)
        }

    Every figure is limited to +-150 dB, the precision of BSS Eval in float64
    (an exact estimate scores 150). A figure that is undefined (the estimate
    is silent) is null, and so is any average or improvement it enters.
    """
    require_fast_bss_eval()
    if filter_length is not None and filter_length < 1:
        raise CocktailError(f"the filter length must be at least 1, got {filter_length}")
    if [str(p) for p in (estimates_path, reference_path, mixture_path)].count(audio.STDIO) > 1:
        raise CocktailError("only one of the estimates, the references and the mixture can "
                            "come from standard input")
    est, notes = load_estimates(estimates_path)
    refs, more = load_references(reference_path)
    notes += more
    if est.sample_rate != refs.sample_rate:
        raise CocktailError(
            f"the estimates are {est.sample_rate} Hz but the references are "
            f"{refs.sample_rate} Hz: resample one of them to match"
        )
    n_ref, n_est = len(refs.names), len(est.names)
    if n_est < n_ref:
        raise CocktailError(
            f"{est.origin} holds {n_est} estimate{'s' if n_est != 1 else ''} but {refs.origin} "
            f"has {n_ref} references: every reference needs an estimate"
        )
    for i, r in enumerate(refs.samples):
        if not np.any(r):
            raise CocktailError(f"reference '{refs.names[i]}' is silent: nothing to score "
                                "against")

    if mixture_path is not None:
        mix = audio.read(mixture_path)
    else:
        mix, _ = find_mixture(est, refs)
    if mix is not None:
        if mix.sample_rate != refs.sample_rate:
            raise CocktailError(
                f"the mixture {mix.name} is {mix.sample_rate} Hz but the references are "
                f"{refs.sample_rate} Hz: give the mixture they were mixed into"
            )
        _check_finite(mix.samples, [f"channel {k}" for k in range(1, mix.channels + 1)],
                      f"the mixture {mix.name}")

    lengths = {"estimates": est.samples.shape[1], "references": refs.samples.shape[1]}
    if mix is not None:
        lengths["mixture"] = mix.frames
    n = min(lengths.values())
    if len(set(lengths.values())) > 1:
        rate = refs.sample_rate
        said = ", ".join(f"{k} {v / rate:.3f} s" for k, v in lengths.items())
        notes.append(f"lengths differ ({said}): scored the first {n / rate:.3f} s")
        est.samples = est.samples[:, :n]
        refs.samples = refs.samples[:, :n]
        if mix is not None:
            mix = audio.Audio(samples=mix.samples[:, :n], sample_rate=mix.sample_rate,
                              subtype=mix.subtype, name=mix.name)
    if n == 0:
        raise CocktailError("nothing to score: the signals contain no samples")

    if filter_length is None:
        filter_length, why = default_filter_length(refs, est)
    else:
        why = "set with --filter-length"
    for j, e in enumerate(est.samples):
        if not np.any(e):
            notes.append(f"estimate '{est.names[j]}' is silent: its scores are undefined")
    if mix is not None and not np.any(mix.samples[0]):
        notes.append(f"microphone 1 of the mixture {mix.name} is silent: no improvements")

    s = score(refs.samples, est.samples, filter_length=filter_length,
              mixture=None if mix is None else mix.samples[0])
    matching = [None] * n_est
    for i, j in enumerate(s["estimate"]):
        matching[int(j)] = i
    unmatched = [est.names[j] for j in range(n_est) if matching[j] is None]
    if unmatched:
        notes.append(
            f"{n_est} estimates for {n_ref} references: scored the best-matching {n_ref}, "
            f"left out {', '.join(repr(u) for u in unmatched)}"
        )
    keys = METRICS + (IMPROVEMENTS if mix is not None else ())
    sources = []
    for i in range(n_ref):
        row = {"reference": refs.names[i], "estimate": est.names[int(s["estimate"][i])]}
        for k in METRICS + IMPROVEMENTS:
            row[k] = _finite(s[k][i]) if k in keys else None
        sources.append(row)
    average = {k: (_finite(np.mean(s[k])) if k in keys else None)
               for k in METRICS + IMPROVEMENTS}
    report = {
        "cocktail_version": __version__,
        "estimates": _plain(est.origin),
        "references": _plain(refs.origin),
        "mixture": None if mix is None else _plain(mix.name),
        "sample_rate": int(refs.sample_rate),
        "n_samples": int(n),
        "duration": round(n / refs.sample_rate, 6),
        "n_references": n_ref,
        "n_estimates": n_est,
        "filter_length": int(filter_length),
        "filter_length_reason": why,
        "sources": sources,
        "average": average,
        "amari_index": _amari(est, refs, notes),
        "unmatched_estimates": unmatched,
        "notes": notes,
    }
    return Evaluation(report=report, notes=notes, estimates=est, references=refs,
                      mixture=mix, matching=matching)


# ------------------------------------------------------------------- table


def _cell(v, width):
    return f"{v:{width}.2f}" if v is not None else f"{'-':>{width}}"


def format_table(report):
    """The report as a plain-text table for people (the default stdout)."""
    r = report
    improve = r["mixture"] is not None
    cols = [("SDR", "sdr"), ("SIR", "sir"), ("SAR", "sar"), ("SI-SDR", "si_sdr")]
    if improve:
        cols += [("SDRi", "sdr_improvement"), ("SIRi", "sir_improvement"),
                 ("SI-SDRi", "si_sdr_improvement")]
    w_ref = max([len("reference"), len("average")] + [len(s["reference"]) for s in r["sources"]])
    w_est = max([len("estimate")] + [len(s["estimate"]) for s in r["sources"]])
    widths = [max(7, len(title) + 2) for title, _ in cols]
    lines = [
        f"{r['n_estimates']} estimates from {audio.display_name(r['estimates'])} against "
        f"{r['n_references']} references from {audio.display_name(r['references'])}",
        f"{r['sample_rate']} Hz, {r['duration']:.2f} s scored; BSS Eval distortion filter "
        f"{r['filter_length']} tap{'s' if r['filter_length'] != 1 else ''} "
        f"({r['filter_length_reason']})",
        "",
        f"{'reference':<{w_ref}}  {'estimate':<{w_est}}"
        + "".join(f"{title:>{w}}" for (title, _), w in zip(cols, widths)),
    ]
    for s in r["sources"]:
        lines.append(f"{s['reference']:<{w_ref}}  {s['estimate']:<{w_est}}"
                     + "".join(_cell(s[k], w) for (_, k), w in zip(cols, widths)))
    lines.append(f"{'average':<{w_ref}}  {'':<{w_est}}"
                 + "".join(_cell(r["average"][k], w) for (_, k), w in zip(cols, widths)))
    lines.append("")
    lines.append("All figures in dB, higher is better"
                 + (f"; improvements (i) over microphone 1 of the mixture {r['mixture']}"
                    if improve else "; give --mixture MIX.wav for the improvements") + ".")
    if r["amari_index"] is not None:
        lines.append(f"Amari index {r['amari_index']:.4f} "
                     "(0 = each output one source, 1 = no separation).")
    return "\n".join(lines)
