"""Pictures of a separation: waveforms, spectrograms and the solver's convergence.

One PNG shows, top to bottom on a shared time axis, every microphone of the
mixture, then each separated speaker followed by its reference (when the
references are known), each as a waveform (left) and a spectrogram (right);
under them the gradient norm of the solver per iteration, on a log scale.
Good separation shows at a glance: each speaker's spectrogram looks like its
reference and unlike the others.

Figure size: 12 in wide; 0.95 in per signal row plus about 1.3 in of title
and axis labels, plus 2.2 in for the convergence curve; rendered at 100 dpi,
so 1200 pixels wide (``figure_size()`` gives the exact size).

matplotlib is an optional extra (``pip install 'cocktail[plot]'``). It is
used through its Agg canvas only: no screen, no pyplot global state.
"""

import io
import textwrap
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .errors import CocktailError

WIDTH = 12.0  # inches
DPI = 100
ROW = 0.95  # inches per signal row
TOP = 0.85  # title and column headings
BOTTOM = 0.45  # time axis labels
GROUP_GAP = 0.25  # between the mixture and the speakers, and between speakers
HISTORY = 2.2  # the convergence curve, with its labels
DYNAMIC_RANGE = 80.0  # dB shown in the spectrograms, below the loudest bin
ENVELOPE_BINS = 1500  # waveform columns drawn (min/max per column)

MIXTURE_COLOR = "0.25"
#: One colour per output, in order (the same as the listening page's).
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
)
UNPAIRED_COLOR = "0.45"


def require_matplotlib(command="plotting"):
    """Import matplotlib, or say how to install it.

    Parameters
    ----------
    command : str
        What needs it, for the message.

    Raises
    ------
    CocktailError
        When matplotlib is not installed.
    """
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        raise CocktailError(f"{command} needs matplotlib: pip install 'cocktail[plot]'") from None


def _rows_of(signals, what):
    if signals is None:
        return None, None
    try:
        samples, rate = signals
    except (TypeError, ValueError):
        raise CocktailError(f"{what} must be given as (samples, sample_rate)") from None
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] == 0:
        raise CocktailError(f"{what} must be channels x samples, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise CocktailError(f"{what} contain NaN or infinite samples")
    return x, int(rate)


def figure_size(n_rows, n_groups=1, history=False):
    """(width, height) in pixels of a figure with ``n_rows`` signal rows.

    Parameters
    ----------
    n_rows : int
        Signal rows (microphones, estimates and references).
    n_groups : int
        Groups of rows, with a gap between each two.
    history : bool
        With the convergence curve under the rows.

    Returns
    -------
    (int, int)
    """
    return (int(round(WIDTH * DPI)), int(round(_height(n_rows, n_groups, history) * DPI)))


def _height(n_rows, n_groups, history):
    gaps = max(n_groups - 1, 0) * GROUP_GAP
    return TOP + BOTTOM + n_rows * ROW + gaps + (HISTORY if history else 0)


def match(estimates, references):
    """For each estimate, the index of the reference most like it (or None).

    Pairs are chosen to maximise the total absolute correlation at lag 0, one
    reference per estimate, over the common length.

    Parameters
    ----------
    estimates : ndarray, shape (n_estimates, n_samples)
    references : ndarray, shape (n_references, n_samples_r)

    Returns
    -------
    list of (int or None), one per estimate
        None where there are more estimates than references.
    """
    from scipy.optimize import linear_sum_assignment

    n = min(estimates.shape[1], references.shape[1])
    E, R = estimates[:, :n], references[:, :n]
    norms = np.linalg.norm(E, axis=1)[:, None] * np.linalg.norm(R, axis=1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        C = np.where(norms > 0, np.abs(E @ R.T) / norms, 0.0)
    rows, cols = linear_sum_assignment(-C)
    out = [None] * E.shape[0]
    for i, j in zip(rows, cols):
        out[int(i)] = int(j)
    return out


def _spectrogram(x, rate, n_columns):
    """(frequencies in Hz, power per frame): Hann windows of about 32 ms."""
    nfft = int(2 ** np.round(np.log2(max(0.032 * rate, 16))))
    nfft = min(nfft, max(16, 2 ** int(np.log2(max(len(x), 1)))))
    # About n_columns frames whatever the length: long recordings skip between windows.
    hop = max(nfft // 4, int(np.ceil(len(x) / n_columns)))
    if len(x) < nfft:
        x = np.pad(x, (0, nfft - len(x)))
    from .bss.stft import analysis_window, frames

    power = np.abs(np.fft.rfft(frames(x[None], nfft, hop)[0] * analysis_window(nfft), axis=1)) ** 2
    return np.fft.rfftfreq(nfft, 1.0 / rate), power.T


def _envelope(ax, x, rate, color):
    n = len(x)
    if n <= 2 * ENVELOPE_BINS:
        ax.plot(np.arange(n) / rate, x, color=color, linewidth=0.6)
        return
    chunk = int(np.ceil(n / ENVELOPE_BINS))
    pad = (-n) % chunk
    y = np.pad(x, (0, pad), mode="edge").reshape(-1, chunk)
    t = (np.arange(y.shape[0]) * chunk + chunk / 2) / rate
    ax.fill_between(t, y.min(axis=1), y.max(axis=1), color=color, linewidth=0.3)


def render_separation(
    *,
    mixture=None,
    estimates,
    references=None,
    history: Optional[Sequence[float]] = None,
    title: Optional[str] = None,
    estimate_names: Optional[List[str]] = None,
    reference_names: Optional[List[str]] = None,
    matching: Optional[List[Optional[int]]] = None,
    scores: Optional[List[Optional[str]]] = None,
    tolerance: Optional[float] = None,
    stages: Optional[List[dict]] = None,
    history_label: str = "gradient norm",
) -> bytes:
    """The picture of :func:`plot_separation` as PNG bytes.

    Each estimate is shown with the reference given by ``matching``; the
    references are scaled to the loudness of their estimate (same energy,
    same sign) so the two compare. References paired with no estimate come
    last.

    Parameters
    ----------
    mixture : (array_like, int), optional
        ``(samples, sample_rate)``, samples of shape (n_mics, n_samples).
    estimates : (array_like, int)
        ``(samples, sample_rate)``, samples of shape (n_estimates, n_samples).
    references : (array_like, int), optional
        ``(samples, sample_rate)``, samples of shape (n_references, n_samples).
    history : sequence of float, optional
        The solver's history per iteration (the gradient norm, unless
        ``history_label`` says otherwise), drawn on a log scale.
    title : str, optional
    estimate_names, reference_names : list of str, optional
        Default "output 1", "source 1"...
    matching : list of (int or None), optional
        The reference index per estimate, None for none; without it, the most
        correlated one (:func:`match`), or the reference of the same index when
        the sample rates differ.
    scores : list of (str or None), optional
        A line of text under each estimate's name (e.g. its SDR).
    tolerance : float, optional
        The solver's stopping threshold (drawn dashed).
    stages : list of dict, optional
        ``{"start", "name"}``: where a new stage of the solver begins
        (1-based iteration), marked on the curve.
    history_label : str
        What ``history`` is, for the axis.

    Returns
    -------
    bytes

    Raises
    ------
    CocktailError
        When matplotlib is missing, there are no estimates, or signals are
        not (samples, sample_rate), not channels x samples, or hold NaN or
        infinite samples.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    X, x_rate = _rows_of(mixture, "the mixture")
    Y, y_rate = _rows_of(estimates, "the estimates")
    if Y is None:
        raise CocktailError("nothing to plot: no estimates")
    R, r_rate = _rows_of(references, "the references")
    n_est = Y.shape[0]
    est_names = list(estimate_names or [f"output {i}" for i in range(1, n_est + 1)])
    if R is not None:
        ref_names = list(reference_names or [f"source {j}" for j in range(1, R.shape[0] + 1)])
        if matching is None:
            matching = (
                match(Y, R)
                if r_rate == y_rate
                else [j if j < R.shape[0] else None for j in range(n_est)]
            )
    else:
        matching = [None] * n_est
    scores = list(scores or [None] * n_est)
    history = [float(h) for h in history] if history else None

    rows = _picture_rows(
        X,
        x_rate,
        Y,
        y_rate,
        R,
        r_rate,
        est_names,
        ref_names if R is not None else None,
        matching,
        scores,
    )
    n_groups = len({g for g, *_ in rows})
    height = _height(len(rows), n_groups, history is not None)
    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(fig)
    _draw_rows(fig, rows, height, title)
    if history is not None:
        _draw_history(fig, height, history, history_label, stages, tolerance)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _picture_rows(X, x_rate, Y, y_rate, R, r_rate, est_names, ref_names, matching, scores):
    """The picture's rows, top to bottom: (group, label, samples, rate, colour).

    The mixture's microphones, then each estimate above its reference
    (scaled to the estimate's loudness and sign), then references no
    estimate was paired with.
    """
    n_est = Y.shape[0]
    rows = []
    if X is not None:
        for m in range(X.shape[0]):
            rows.append((0, f"mixture\nmic {m + 1}", X[m], x_rate, MIXTURE_COLOR))
    group = 1 if rows else 0
    for i in range(n_est):
        color = PALETTE[i % len(PALETTE)]
        text = f"estimate\n{est_names[i]}" + (f"\n{scores[i]}" if scores[i] else "")
        rows.append((group, text, Y[i], y_rate, color))
        j = matching[i]
        if j is not None:
            ref = R[j]
            n = min(len(ref), len(Y[i]))
            power = np.dot(ref[:n], ref[:n])
            if power > 0:  # as loud as the estimate, in phase with it
                sign = -1.0 if np.dot(Y[i][:n], ref[:n]) < 0 else 1.0
                ref = ref * sign * np.sqrt(np.dot(Y[i][:n], Y[i][:n]) / power)
            rows.append((group, f"reference\n{ref_names[j]}", ref, r_rate, color + "99"))
        group += 1
    if R is not None:
        for j in range(R.shape[0]):
            if j not in matching:
                rows.append(
                    (
                        group,
                        f"reference\n{ref_names[j]}\n(no estimate)",
                        R[j],
                        r_rate,
                        UNPAIRED_COLOR,
                    )
                )
                group += 1
    return rows


def _draw_rows(fig, rows, height, title):
    """Waveform and spectrogram of each row on one time axis, a colour bar and the title."""
    from matplotlib.ticker import MaxNLocator

    left, mid, right, cbar = 1.45 / WIDTH, 6.05 / WIDTH, 10.9 / WIDTH, 11.05 / WIDTH
    gap = 0.45 / WIDTH
    duration = max(len(x) / rate for _, _, x, rate, _ in rows)

    spectra = [_spectrogram(x, rate, 1500) for _, _, x, rate, _ in rows]
    peak = max((float(S.max()) for _, S in spectra), default=0.0)
    ref_power = peak if peak > 0 else 1.0
    vmax, vmin = 0.0, -DYNAMIC_RANGE

    y_top = height - TOP
    previous = None
    wave_axes, spec_axes = [], []
    image = None
    for (g, label, x, rate, color), (f, S) in zip(rows, spectra):
        if previous is not None and g != previous:
            y_top -= GROUP_GAP
        previous = g
        bottom = (y_top - ROW + 0.08) / height
        h = (ROW - 0.16) / height
        y_top -= ROW
        aw = fig.add_axes(
            [left, bottom, mid - gap / 2 - left, h], sharex=wave_axes[0] if wave_axes else None
        )
        as_ = fig.add_axes([mid + gap / 2, bottom, right - mid - gap / 2, h], sharex=aw)
        _envelope(aw, x, rate, color)
        top = float(np.abs(x).max()) or 1.0
        aw.set_ylim(-1.1 * top, 1.1 * top)
        aw.yaxis.set_major_locator(MaxNLocator(nbins=3, symmetric=True))
        aw.tick_params(labelsize=7)
        aw.grid(True, color="0.9", linewidth=0.5)
        fig.text(
            0.12 / WIDTH,
            bottom + h / 2,
            label,
            ha="left",
            va="center",
            fontsize=8.5,
            color="black" if color in (MIXTURE_COLOR, UNPAIRED_COLOR) else color[:7],
        )
        with np.errstate(divide="ignore"):
            db = 10 * np.log10(np.maximum(S, ref_power * 1e-12) / ref_power)
        image = as_.imshow(
            db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            extent=(0, len(x) / rate, 0, f[-1] / 1000 if len(f) else 1),
            interpolation="nearest",
        )
        as_.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        as_.tick_params(labelsize=7)
        wave_axes.append(aw)
        spec_axes.append(as_)
    for ax in wave_axes + spec_axes:
        ax.set_xlim(0, duration)
    for ax in wave_axes[:-1] + spec_axes[:-1]:
        ax.tick_params(labelbottom=False)
    for ax in (wave_axes[-1], spec_axes[-1]):
        ax.set_xlabel("time (s)", fontsize=9)
        ax.tick_params(labelbottom=True, labelsize=8)
    wave_axes[0].set_title("Waveform (amplitude, full scale = 1)", fontsize=10, loc="left")
    spec_axes[0].set_title("Spectrogram (frequency in kHz)", fontsize=10, loc="left")
    if image is not None:
        first, last = spec_axes[0].get_position(), spec_axes[-1].get_position()
        span = first.y1 - last.y0
        cax = fig.add_axes([cbar, last.y0 + 0.1 * span, 0.12 / WIDTH, 0.8 * span])
        cb = fig.colorbar(image, cax=cax)
        cb.set_label("power (dB below the loudest)", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    heading = "\n".join(textwrap.wrap(title or "cocktail separation", 110)[:2])
    fig.text(
        0.5,
        1 - 0.15 / height,
        heading,
        ha="center",
        va="top",
        fontsize=11.5,
        fontweight="bold",
        linespacing=1.3,
    )


def _draw_history(fig, height, history, history_label, stages, tolerance):
    """The convergence panel under the rows: the solver's history, log scale."""
    from matplotlib.ticker import MaxNLocator

    left, right = 1.45 / WIDTH, 10.9 / WIDTH
    hb = (BOTTOM + 0.05) / height
    ah = fig.add_axes([left, hb, right - left, (HISTORY - 0.85) / height])
    it = np.arange(1, len(history) + 1)
    positive = [v if v > 0 else np.nan for v in history]
    ah.semilogy(
        it, positive, marker="o", markersize=2.5, linewidth=1, color="#1f77b4", label=history_label
    )
    for st in stages or []:
        # A new stage changes the objective (density, samples): the curve jumps.
        x = float(st["start"]) - 0.5
        ah.axvline(x, color="0.6", linestyle=":", linewidth=0.8)
        ah.text(
            x + 0.2,
            0.97,
            st["name"],
            transform=ah.get_xaxis_transform(),
            fontsize=7,
            va="top",
            ha="left",
            color="0.35",
        )
    if tolerance:
        ah.axhline(
            tolerance,
            color="#d62728",
            linestyle="--",
            linewidth=0.8,
            label=f"tolerance {tolerance:.0e}",
        )
        ah.legend(
            fontsize=8,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=2,
            frameon=False,
            borderaxespad=0.2,
        )
    ah.set_xlabel("iteration", fontsize=9)
    ah.set_ylabel(history_label, fontsize=9)
    ah.set_title(
        f"Convergence of the solver ({len(history)} iteration"
        f"{'s' if len(history) != 1 else ''}, log scale)",
        fontsize=10,
        loc="left",
    )
    ah.tick_params(labelsize=8)
    ah.grid(True, which="major", color="0.9", linewidth=0.5)
    ah.set_xlim(0.5, max(len(history), 1) + 0.5)
    ah.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_separation(path, **picture) -> None:
    """Write a PNG picture of a separation to ``path``.

    The file is written whole or not at all.

    Parameters
    ----------
    path : str or Path
    **picture
        The keyword arguments of :func:`render_separation`.

    Raises
    ------
    CocktailError
        When matplotlib is missing, as :func:`render_separation`, or when
        ``path`` cannot be written.
    """
    from .io import files

    data = render_separation(**picture)
    files.check_writable_file(path)
    with files.AtomicWriter() as writer:
        writer.add(path, data)


# ------------------------------------------------------- from files on disk


def _title(report, input_name=None, average_sdr=None):
    parts = []
    if report is not None:
        n = report.get("n_sources")
        state = "converged" if report.get("converged") else "not converged"
        name = str(report.get("input", input_name or "the recording"))
        if len(name) > 2 and name[0] == name[-1] == "'":
            name = f"'{Path(name[1:-1]).name}'"  # a folder path would crowd the title
        parts.append(
            f"Separation of {name}: "
            f"{n} speaker{'s' if n != 1 else ''}, {report.get('model', '?')} model, "
            f"{state} after {report.get('iterations', '?')} iterations"
        )
    else:
        parts.append(f"Separation {input_name}" if input_name else "Separation")
    if average_sdr is not None:
        parts.append(f"SDR {average_sdr:.1f} dB on average")
    return "; ".join(parts)


def _history(report):
    """Keyword arguments for the convergence panel, from a separation report."""
    if report is None:
        return {}
    history = report.get("history")
    if not isinstance(history, list) or not history:
        return {}
    try:
        history = [float(h) for h in history]
    except (TypeError, ValueError):
        return {}
    tol = (report.get("parameters") or {}).get("tol")
    stages = [
        st
        for st in report.get("stages") or []
        if isinstance(st, dict) and isinstance(st.get("start"), int) and st.get("name")
    ]
    return {
        "history": history,
        "tolerance": float(tol) if isinstance(tol, (int, float)) and tol > 0 else None,
        "stages": stages,
        "history_label": str(report.get("history_label") or "gradient norm"),
    }


def picture_of_files(estimates_path, *, reference_path=None, mixture_path=None):
    """PNG bytes for ``cocktail plot``, and notes on what was assumed.

    The mixture is ``mixture_path``, else the input named in the report when
    it is still there.

    Parameters
    ----------
    estimates_path : str or Path
        A folder written by ``cocktail separate``, its ``separation.json``, a
        folder of mono WAVs or a multi-channel WAV.
    reference_path : str or Path, optional
        The references (see :func:`cocktail.inputs.load_references`).
    mixture_path : str or Path, optional

    Returns
    -------
    (bytes, list of str)

    Raises
    ------
    CocktailError
        When matplotlib is missing or the inputs cannot be read.
    """
    from .inputs import find_mixture, load_estimates, load_references
    from .io import audio

    require_matplotlib()
    est, notes = load_estimates(estimates_path)
    refs = None
    if reference_path is not None:
        refs, more = load_references(reference_path)
        notes += more
    if mixture_path is not None:
        mix = audio.read(mixture_path)
    else:
        mix, _ = find_mixture(est, refs)
        if mix is None:
            notes.append("the mixture is not known (give --mixture MIX.wav): drawn without it")
    return render_separation(
        mixture=None if mix is None else (mix.samples, mix.sample_rate),
        estimates=(est.samples, est.sample_rate),
        references=None if refs is None else (refs.samples, refs.sample_rate),
        **_history(est.report),
        title=_title(est.report, est.origin),
        estimate_names=est.names,
        reference_names=None if refs is None else refs.names,
    ), notes


def picture_of_evaluation(evaluation):
    """PNG bytes for ``cocktail evaluate --plot``: the scored signals, with their scores.

    Parameters
    ----------
    evaluation : cocktail.evaluate.Evaluation
        With its signals (as :func:`cocktail.evaluate.evaluate` returns it).

    Returns
    -------
    bytes
    """
    est, refs, mix = evaluation.estimates, evaluation.references, evaluation.mixture
    r = evaluation.report
    scores = [None] * len(est.names)
    for j, i in enumerate(evaluation.matching):
        if i is not None:
            sdr = r["sources"][i]["sdr"]
            scores[j] = "SDR " + ("-" if sdr is None else f"{sdr:.1f}") + " dB"
    return render_separation(
        mixture=None if mix is None else (mix.samples, mix.sample_rate),
        estimates=(est.samples, est.sample_rate),
        references=(refs.samples, refs.sample_rate),
        **_history(est.report),
        title=_title(est.report, est.origin, r["average"]["sdr"]),
        estimate_names=est.names,
        reference_names=refs.names,
        matching=evaluation.matching,
        scores=scores,
    )


# ------------------------------------------------ convergence of several runs

#: The overlay of convergence curves: 2 x 2 panels, 12 x 8 in at 100 dpi.
CONVERGENCE_HEIGHT = 8.0


class Run:
    """One solver run's convergence record, as read from a separation report.

    Parameters
    ----------
    label : str
        Names the run in the legend.
    gradient, cost, seconds : list of float, optional
        Per-iteration lists (or None where the report lacks them); ``cost``
        in nats per sample, ``seconds`` since the solver started.
    stages : sequence of dict
        ``{"start", "name"}`` dicts, ``start`` a 1-based iteration.
    group : str
        Names the recording, so that costs are compared only between runs on
        the same data.
    converged : bool, optional
    tolerance : float, optional
        The stopping threshold of the gradient norm.
    """

    def __init__(
        self,
        label,
        *,
        gradient=None,
        cost=None,
        seconds=None,
        stages=(),
        group="",
        converged=None,
        tolerance=None,
    ):
        self.label = label
        self.gradient = gradient
        self.cost = cost
        self.seconds = seconds
        self.stages = list(stages)
        self.group = group
        self.converged = converged
        self.tolerance = tolerance

    @property
    def n_iter(self):
        """Iterations recorded: the length of the longest history."""
        return max(len(s) for s in (self.gradient, self.cost, self.seconds) if s is not None)


def _numbers(values):
    if not isinstance(values, list) or not values:
        return None
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return out


def run_of_report(report, name):
    """A :class:`Run` from a separation report (dict); None without any history.

    Parameters
    ----------
    report : dict
    name : str
        The group when the report does not name its input.

    Returns
    -------
    Run or None
    """
    history = _numbers(report.get("history"))
    label_kind = str(report.get("history_label") or "gradient norm")
    gradient = history if label_kind != "cost" else None
    cost = _numbers(report.get("history_cost")) or (history if label_kind == "cost" else None)
    seconds = _numbers(report.get("history_seconds"))
    if gradient is None and cost is None:
        return None
    params = report.get("parameters") or {}
    algorithm = params.get("algorithm") or report.get("model") or "solver"
    tol = params.get("tol")
    return Run(
        str(algorithm),
        gradient=gradient,
        cost=cost,
        seconds=seconds,
        stages=[
            st
            for st in report.get("stages") or []
            if isinstance(st, dict) and isinstance(st.get("start"), int)
        ],
        group=str(report.get("input", name)),
        converged=report.get("converged"),
        tolerance=float(tol) if isinstance(tol, (int, float)) and tol > 0 else None,
    )


def _stage_of(run):
    """The stage name of each iteration (1-based starts), '' where unstaged."""
    names = [""] * run.n_iter
    for st in sorted(run.stages, key=lambda s: s["start"]):
        for i in range(max(st["start"] - 1, 0), run.n_iter):
            names[i] = str(st.get("name", ""))
    return names


def excess_costs(runs):
    """Per run, the cost above the lowest any run on the same data reached in that stage.

    Stages change the objective (density, samples), so each iteration's
    cost is compared with the best of its own stage.

    Parameters
    ----------
    runs : list of Run

    Returns
    -------
    list of (list of float or None)
        One per run, None for a run without costs.
    """
    best = {}
    for run in runs:
        if run.cost is None:
            continue
        for c, st in zip(run.cost, _stage_of(run)):
            key = (run.group, st)
            best[key] = min(best.get(key, np.inf), c)
    out = []
    for run in runs:
        if run.cost is None:
            out.append(None)
            continue
        out.append([c - best[(run.group, st)] for c, st in zip(run.cost, _stage_of(run))])
    return out


def render_convergence(runs: Sequence[Run], title: Optional[str] = None) -> bytes:
    """Overlay the convergence curves of several runs; PNG bytes.

    Four log-log panels: the cost above the best reached in each stage (top)
    and the relative-gradient norm (bottom), against iterations (left) and
    against seconds since the solver started (right). A run lacking a
    quantity (e.g. time stamps) is left out of the panels that need it.
    Open circles mark where a new stage (density, samples) begins.

    Parameters
    ----------
    runs : sequence of Run
    title : str, optional
        Default "Convergence of the solvers".

    Returns
    -------
    bytes

    Raises
    ------
    CocktailError
        When matplotlib is missing or there are no runs.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = list(runs)
    if not runs:
        raise CocktailError("nothing to plot: no runs")
    fig = Figure(figsize=(WIDTH, CONVERGENCE_HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.07, top=0.86, hspace=0.28, wspace=0.18)
    axes = [[fig.add_subplot(2, 2, 1 + 2 * r + c) for c in range(2)] for r in range(2)]
    excess = excess_costs(runs)
    drawn = [[False, False], [False, False]]
    from matplotlib.lines import Line2D

    handles, labels = [], []
    for k, (run, ex) in enumerate(zip(runs, excess)):
        color = PALETTE[k % len(PALETTE)]
        state = {True: ", converged", False: ", not converged"}.get(run.converged, "")
        label = (
            f"{run.label}: {run.n_iter} iterations"
            + (f", {run.seconds[-1]:.2f} s" if run.seconds else "")
            + state
        )
        handles.append(Line2D([], [], color=color, linewidth=1.1))
        labels.append(label)
        starts = [st["start"] - 1 for st in run.stages if 1 < st["start"] <= run.n_iter]
        for r, values in enumerate((ex, run.gradient)):
            if values is None:
                continue
            y = np.array([v if v > 0 else np.nan for v in values])
            for c, x in enumerate((np.arange(1, len(y) + 1), run.seconds)):
                if x is None or len(x) != len(y):
                    continue
                x = np.asarray(x, dtype=float)
                ax = axes[r][c]
                ax.loglog(x, y, color=color, linewidth=1.1)
                if starts:
                    ax.plot(
                        x[starts],
                        y[starts],
                        "o",
                        markersize=4,
                        markerfacecolor="none",
                        markeredgecolor=color,
                    )
                drawn[r][c] = True
    tolerances = {run.tolerance for run in runs if run.gradient is not None}
    if len(tolerances) == 1 and None not in tolerances:
        tol = tolerances.pop()
        for ax in axes[1]:
            ax.axhline(tol, color="0.4", linestyle="--", linewidth=0.8)
            ax.text(
                0.01,
                tol,
                f" tolerance {tol:.0e}",
                transform=ax.get_yaxis_transform(),
                fontsize=7,
                va="bottom",
                color="0.35",
            )
    ylabels = ("cost above the stage's best\n(nats per sample)", "relative-gradient norm")
    xlabels = ("iteration", "seconds since the solver started")
    for r in range(2):
        for c in range(2):
            ax = axes[r][c]
            ax.set_ylabel(ylabels[r] if c == 0 else "", fontsize=9)
            ax.set_xlabel(xlabels[c], fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, which="major", color="0.9", linewidth=0.5)
            if not drawn[r][c]:
                ax.text(
                    0.5,
                    0.5,
                    "not recorded by these reports",
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="0.4",
                )
                ax.set_xticks([])
                ax.set_yticks([])
    axes[0][0].set_title("Against iterations", fontsize=10, loc="left")
    axes[0][1].set_title("Against time", fontsize=10, loc="left")
    if any(run.stages for run in runs):
        handles.append(
            Line2D(
                [], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor="0.3"
            )
        )
        labels.append("a new stage begins (density or samples change)")
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.95),
        ncol=2,
        fontsize=8.5,
        frameon=False,
    )
    heading = "\n".join(textwrap.wrap(title or "Convergence of the solvers", 110)[:1])
    fig.text(
        0.5,
        1 - 0.12 / CONVERGENCE_HEIGHT,
        heading,
        ha="center",
        va="top",
        fontsize=11.5,
        fontweight="bold",
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def picture_of_convergence(paths):
    """PNG bytes for ``cocktail plot --convergence``, and notes.

    Runs are labelled by their algorithm, with the report's path added where
    two labels would be the same.

    Parameters
    ----------
    paths : list of str or Path
        Each a separation report or a folder holding one.

    Returns
    -------
    (bytes, list of str)

    Raises
    ------
    CocktailError
        When matplotlib is missing, a report cannot be read, or it has no
        convergence history.
    """
    from .report import read_report

    require_matplotlib()
    runs, notes, where = [], [], []
    for path in paths:
        report, p = read_report(path)
        run = run_of_report(report, str(p))
        if run is None:
            raise CocktailError(
                f"'{p}' has no convergence history to draw (a separation "
                "with --apply or --adaptive records none per iteration)"
            )
        if run.seconds is None:
            notes.append(f"'{p}' has no time stamps: drawn against iterations only")
        runs.append(run)
        where.append(str(p))
    counts = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
    for run, p in zip(runs, where):
        if counts[run.label] > 1:
            run.label = f"{run.label} ({p})"
    groups = {run.group for run in runs}
    title = "Convergence of the solvers"
    if len(groups) == 1:
        name = groups.pop()
        if len(name) > 2 and name[0] == name[-1] == "'":
            name = f"'{Path(name[1:-1]).name}'"
        title += f" on {name}"
    return render_convergence(runs, title=title), notes
