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

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from . import __version__
from .errors import CocktailError
from .inputs import (
    Estimates,
    References,
    check_finite,
    find_mixture,
    load_estimates,
    load_references,
)
from .io import audio
from .metrics import amari_index

#: The usual BSS Eval distortion filter, for mixtures with echoes.
ROOM_FILTER_LENGTH = 512
#: No distortion filter: instantaneous mixtures differ by a gain only.
INSTANTANEOUS_FILTER_LENGTH = 1
METRICS = ("sdr", "sir", "sar", "si_sdr")
IMPROVEMENTS = ("sdr_improvement", "sir_improvement", "si_sdr_improvement")
#: Figures are limited to +-CLAMP_DB: beyond about 150 dB BSS Eval measures
#: float64 rounding (an exact estimate scores +inf, an orthogonal one -inf).
CLAMP_DB = 150.0


@dataclass
class Evaluation:
    """What :func:`evaluate` returns: the figures and what was scored.

    Attributes
    ----------
    report : dict
        The figures, as printed by --json (schema: see :func:`evaluate`).
    notes : list of str
        Adjustments made, for stderr.
    estimates : Estimates or None
        As scored (truncated), every estimate.
    references : References or None
        As scored, in reference order.
    mixture : cocktail.io.audio.Audio or None
        As scored, when known.
    matching : list of (int or None)
        The reference of each estimate (None for an estimate paired with none).
    """

    report: dict
    notes: List[str] = field(default_factory=list)
    estimates: Optional[Estimates] = None
    references: Optional[References] = None
    mixture: Optional[audio.Audio] = None
    matching: List[Optional[int]] = field(default_factory=list)


def require_fast_bss_eval(command="cocktail evaluate"):
    """Import fast_bss_eval, or say how to install it.

    Parameters
    ----------
    command : str
        The command that needs it, for the message.

    Returns
    -------
    module
        ``fast_bss_eval``.

    Raises
    ------
    CocktailError
        When fast-bss-eval is not installed.
    """
    try:
        import fast_bss_eval
    except ImportError:
        raise CocktailError(
            f"{command} needs fast-bss-eval: pip install 'cocktail[evaluate]'"
        ) from None
    return fast_bss_eval


# ----------------------------------------------------------------- formulas


def score(references, estimates, *, filter_length=INSTANTANEOUS_FILTER_LENGTH, mixture=None):
    """BSS Eval and SI-SDR of ``estimates`` against ``references``.

    Each reference gets the estimate maximising the total SIR. Figures are
    limited to +-``CLAMP_DB`` (an exact estimate scores 150 dB); a silent
    estimate has none (``-inf`` SDR and SI-SDR, ``nan`` SIR and SAR).

    Parameters
    ----------
    references : array_like, shape (n_references, n_samples)
    estimates : array_like, shape (n_estimates, n_samples)
        At least as many as the references.
    filter_length : int
        Taps of the BSS Eval distortion filter, at most n_samples.
    mixture : array_like, shape (n_samples,), optional
        One channel: the baseline for the improvements.

    Returns
    -------
    dict of ndarray, shape (n_references,)
        One entry per reference: ``sdr``, ``sir``, ``sar``, ``si_sdr``,
        ``estimate`` (index of the paired estimate) and, with a mixture,
        ``sdr_improvement``, ``sir_improvement``, ``si_sdr_improvement``.

    Raises
    ------
    CocktailError
        When fast-bss-eval is missing, there are fewer estimates than
        references, the lengths differ, the filter is longer than the signals,
        or the references are linearly dependent.
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
                sdr, sir, sar, perm = fbe.bss_eval_sources(
                    R, Er, filter_length=filter_length, clamp_db=CLAMP_DB
                )
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
                    R, X, filter_length=filter_length, clamp_db=CLAMP_DB
                )
                base["si_sdr"] = -fbe.numpy.si_sdr_loss(X, R, clamp_db=CLAMP_DB)
            for k in ("sdr", "sir", "si_sdr"):
                out[f"{k}_improvement"] = out[k] - base[k]
    return out


# ------------------------------------------------------------------ scoring


def default_filter_length(references, estimates):
    """(filter length, why): 1 for instantaneous mixing, else 512.

    The mix sidecar's ``kind`` decides, else the report's ``model``; when
    neither is known, 512 (the BSS Eval default).

    Parameters
    ----------
    references : References
    estimates : Estimates

    Returns
    -------
    (int, str)
    """
    for data, path, key, what in (
        (references.sidecar, references.sidecar_path, "kind", "mixing"),
        (estimates.report, estimates.report_path, "model", "model"),
    ):
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
        notes.append(
            f"no Amari index: '{estimates.report_path.name}' unmixes {W.shape[1]} "
            f"microphones but '{references.sidecar_path.name}' mixes into "
            f"{A.shape[0]}: are they from the same mixture?"
        )
        return None
    if W.shape[0] != A.shape[1]:
        notes.append(
            f"no Amari index: {W.shape[0]} outputs for {A.shape[1]} sources "
            "(it needs as many of each)"
        )
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

    Every figure is limited to +-150 dB, the precision of BSS Eval in float64
    (an exact estimate scores 150). A figure that is undefined (the estimate
    is silent) is null, and so is any average or improvement it enters.

    Parameters
    ----------
    estimates_path : str or Path
        A folder of mono WAVs, a separation report, a multi-channel WAV, or
        ``-`` for standard input (see :func:`cocktail.inputs.load_estimates`).
    reference_path : str or Path
        A mix sidecar, a truth folder, a multi-channel WAV, or ``-`` (see
        :func:`cocktail.inputs.load_references`).
    mixture_path : str or Path, optional
        The mixture, baseline of the improvements (default: the one the
        report or sidecar leads to, if found).
    filter_length : int, optional
        Taps of the BSS Eval distortion filter (default:
        :func:`default_filter_length`).

    Returns
    -------
    Evaluation
        Its ``report`` is the ``--json`` output::

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

    Raises
    ------
    CocktailError
        When fast-bss-eval is missing, the filter length is under 1, more than
        one input comes from standard input, the inputs cannot be read or do
        not go together (sample rates, too few estimates, a silent reference),
        or there is nothing to score.
    """
    require_fast_bss_eval()
    if filter_length is not None and filter_length < 1:
        raise CocktailError(f"the filter length must be at least 1, got {filter_length}")
    if [str(p) for p in (estimates_path, reference_path, mixture_path)].count(audio.STDIO) > 1:
        raise CocktailError(
            "only one of the estimates, the references and the mixture can come from standard input"
        )
    est, refs, mix, notes = _load(estimates_path, reference_path, mixture_path)
    est, refs, mix, n = _common_length(est, refs, mix, notes)
    if filter_length is None:
        filter_length, why = default_filter_length(refs, est)
    else:
        why = "set with --filter-length"
    for j, e in enumerate(est.samples):
        if not np.any(e):
            notes.append(f"estimate '{est.names[j]}' is silent: its scores are undefined")
    if mix is not None and not np.any(mix.samples[0]):
        notes.append(f"microphone 1 of the mixture {mix.name} is silent: no improvements")

    s = score(
        refs.samples,
        est.samples,
        filter_length=filter_length,
        mixture=None if mix is None else mix.samples[0],
    )
    matching, unmatched, sources, average = _figures(s, est, refs, mix, notes)
    n_ref, n_est = len(refs.names), len(est.names)
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
    return Evaluation(
        report=report, notes=notes, estimates=est, references=refs, mixture=mix, matching=matching
    )


def _load(estimates_path, reference_path, mixture_path):
    """Estimates, references and mixture (or None), checked to be scorable together."""
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
            raise CocktailError(f"reference '{refs.names[i]}' is silent: nothing to score against")

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
        check_finite(
            mix.samples,
            [f"channel {k}" for k in range(1, mix.channels + 1)],
            f"the mixture {mix.name}",
        )
    return est, refs, mix, notes


def _common_length(est, refs, mix, notes):
    """Cut what differs in length to the shortest (with a note); return it and the length."""
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
            mix = audio.Audio(
                samples=mix.samples[:, :n],
                sample_rate=mix.sample_rate,
                subtype=mix.subtype,
                name=mix.name,
            )
    if n == 0:
        raise CocktailError("nothing to score: the signals contain no samples")
    return est, refs, mix, n


def _figures(s, est, refs, mix, notes):
    """The pairing and the figures per source and on average, from :func:`score`'s arrays."""
    n_ref, n_est = len(refs.names), len(est.names)
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
    average = {k: (_finite(np.mean(s[k])) if k in keys else None) for k in METRICS + IMPROVEMENTS}
    return matching, unmatched, sources, average


# ------------------------------------------------------------------- table


def _cell(v, width):
    return f"{v:{width}.2f}" if v is not None else f"{'-':>{width}}"


def format_table(report):
    """The report as a plain-text table for people (the default stdout).

    Parameters
    ----------
    report : dict
        The ``report`` of an :class:`Evaluation`.

    Returns
    -------
    str
        Lines joined by newlines, without a final one.
    """
    r = report
    improve = r["mixture"] is not None
    cols = [("SDR", "sdr"), ("SIR", "sir"), ("SAR", "sar"), ("SI-SDR", "si_sdr")]
    if improve:
        cols += [
            ("SDRi", "sdr_improvement"),
            ("SIRi", "sir_improvement"),
            ("SI-SDRi", "si_sdr_improvement"),
        ]
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
        lines.append(
            f"{s['reference']:<{w_ref}}  {s['estimate']:<{w_est}}"
            + "".join(_cell(s[k], w) for (_, k), w in zip(cols, widths))
        )
    lines.append(
        f"{'average':<{w_ref}}  {'':<{w_est}}"
        + "".join(_cell(r["average"][k], w) for (_, k), w in zip(cols, widths))
    )
    lines.append("")
    lines.append(
        "All figures in dB, higher is better"
        + (
            f"; improvements (i) over microphone 1 of the mixture {r['mixture']}"
            if improve
            else "; give --mixture MIX.wav for the improvements"
        )
        + "."
    )
    if r["amari_index"] is not None:
        lines.append(
            f"Amari index {r['amari_index']:.4f} (0 = each output one source, 1 = no separation)."
        )
    return "\n".join(lines)
