"""Why the natural gradient: the instantaneous solvers against the conditioning.

The same speech sources are mixed with matrices of condition number 1, 10,
100 and 1000 (A = U diag(s) V^T with the same random rotations U, V every
time and singular values s spaced evenly in log from 1 to 1/condition), and
each mixture is separated by the three instantaneous solvers of
``cocktail.ica.ica``:

* lbfgs: the default, quasi-Newton steps on the relative gradient;
* natgrad: Amari's batch natural-gradient rule with a backtracking step;
* gradient: the ordinary (Euclidean) gradient with the same step control.

All three fit the same model from the same start through the same stages,
so they end at the same cost (negative log-likelihood per sample). For each
run the script finds the first iteration of the last stage whose cost is
within --margin of the lowest final cost of the three, and reports that
iteration and the seconds it took (from the call, whitening included), then
in brackets the iterations and seconds until the solver stopped (converged,
or the cap). A run that never gets there within --max-iter iterations is
reported as such.
The Amari index (0 = perfect separation) of the final unmixing is given too.

    python benchmarks/bench_natgrad.py SPEECH_DIR [--pattern '*.wav'] [--sources 2]
        [--seconds 10] [--conditions 1 10 100 1000] [--max-iter 100000]
        [--plot benchmarks/natgrad.png] [--markdown FILE]

SPEECH_DIR holds mono WAV files of speech at one sample rate; the files that
match --pattern are dealt round-robin to the sources, in name order, and each
source is the concatenation of its files, cut to --seconds. The Markdown
table goes to stdout (and to FILE with --markdown), details to stderr; the
picture (needs matplotlib) shows each run's cost against iterations, and the
iterations and seconds to the common cost against the condition number.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from speech import load_sources  # noqa: E402

from cocktail.ica import ALGORITHMS, ica  # noqa: E402
from cocktail.metrics import amari_index  # noqa: E402

#: A run has reached the common cost when it is this close (nats per sample).
MARGIN = 1e-6
COLORS = {"lbfgs": "#1f77b4", "natgrad": "#d62728", "gradient": "#2ca02c"}


def mixing_matrix(n, condition, seed):
    """An n x n matrix with the given 2-norm condition number, rotations fixed by the seed."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0, -np.log10(condition), n) if n > 1 else np.ones(1)
    return U @ np.diag(s) @ V.T


def reached(result, target, margin, n_stages):
    """(iteration, seconds) at which the run's cost first came within margin of target.

    Only iterations of the last of ``n_stages`` stages count: earlier stages
    minimise other costs (another density, fewer samples).
    """
    if len(result.stages) < n_stages:
        return None
    last = result.stages[n_stages - 1]["start"]
    for i in range(last - 1, len(result.cost_history)):
        if result.cost_history[i] <= target + margin:
            return i + 1, result.time_history[i]
    return None


def picture(path, conditions, runs, targets, margin):
    """Cost above the common final cost per condition, and iterations/seconds to it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cocktail.plot import Run, excess_costs

    fig = Figure(figsize=(12, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        2,
        len(conditions),
        height_ratios=[1, 1.1],
        hspace=0.42,
        wspace=0.3,
        left=0.07,
        right=0.98,
        top=0.88,
        bottom=0.08,
    )
    for k, cond in enumerate(conditions):
        ax = fig.add_subplot(grid[0, k])
        results = runs[cond]
        excess = excess_costs(
            [Run(a, cost=r.cost_history, stages=r.stages) for a, r in results.items()]
        )
        for alg, ex in zip(results, excess):
            y = np.array([v if v > 0 else np.nan for v in ex])
            ax.loglog(np.arange(1, len(y) + 1), y, color=COLORS.get(alg), linewidth=1, label=alg)
        ax.axhline(margin, color="0.4", linestyle="--", linewidth=0.8)
        ax.set_title(f"condition number {cond:g}", fontsize=10, loc="left")
        ax.set_xlabel("iteration", fontsize=9)
        if k == 0:
            ax.set_ylabel("cost above the stage's best\n(nats per sample)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="0.9", linewidth=0.5)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=3,
        fontsize=9,
        frameon=False,
        bbox_to_anchor=(0.5, 0.955),
    )
    fig.text(
        0.5,
        0.985,
        "Instantaneous solvers on speech mixed with matrices of growing condition number",
        ha="center",
        va="top",
        fontsize=11.5,
        fontweight="bold",
    )
    for col, (what, index) in enumerate((("iterations", 0), ("seconds", 1))):
        ax = fig.add_subplot(grid[1, :2] if col == 0 else grid[1, 2:])
        for alg in ALGORITHMS:
            xs, ys, caps = [], [], []
            for cond in conditions:
                hit = reached(
                    runs[cond][alg], targets[cond], margin, len(runs[cond]["lbfgs"].stages)
                )
                if hit is None:
                    res = runs[cond][alg]
                    caps.append(
                        (cond, len(res.cost_history) if index == 0 else res.time_history[-1])
                    )
                else:
                    xs.append(cond)
                    ys.append(hit[index])
            ax.loglog(xs, ys, "o-", color=COLORS[alg], label=alg, linewidth=1.2)
            for cond, value in caps:
                ax.loglog(
                    [cond],
                    [value],
                    marker="^",
                    markersize=9,
                    markerfacecolor="none",
                    color=COLORS[alg],
                    linestyle="none",
                )
                ax.annotate(
                    "not reached\n(iteration cap)",
                    (cond, value),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(-60, -4),
                    color=COLORS[alg],
                )
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 4)  # room for the cap markers and their notes
        ax.set_xlabel("condition number of the mixing matrix", fontsize=9)
        ax.set_ylabel(f"{what} to the common cost", fontsize=9)
        ax.set_xticks(conditions)
        ax.set_xticklabels([f"{c:g}" for c in conditions])
        ax.set_xlim(min(conditions) / 1.6, max(conditions) * 1.6)
        ax.tick_params(labelsize=8)
        ax.grid(True, which="major", color="0.9", linewidth=0.5)
        ax.legend(fontsize=8, frameon=False)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("speech", help="folder of mono speech WAV files")
    p.add_argument("--pattern", default="*.wav", help="which files to use (default: %(default)s)")
    p.add_argument("--sources", type=int, default=2, help="number of sources (default: 2)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the mixture (s)")
    p.add_argument("--conditions", type=float, nargs="+", default=[1, 10, 100, 1000])
    p.add_argument("--seed", type=int, default=0, help="seed of the rotations and the start")
    p.add_argument(
        "--max-iter",
        type=int,
        default=100_000,
        help="iteration cap of every solver (default: %(default)s)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=MARGIN,
        help="how close to the common cost counts as reached (default: %(default)g)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="also draw the picture")
    p.add_argument("--markdown", metavar="FILE", help="also write the table here")
    args = p.parse_args(argv)

    S, rate, names = load_sources(
        args.speech, args.pattern, args.sources, args.seconds, centre=True
    )
    print(
        f"{args.sources} sources, {args.seconds:g} s at {rate} Hz, from {', '.join(names)}",
        file=sys.stderr,
    )
    runs, targets = {}, {}
    for cond in args.conditions:
        A = mixing_matrix(args.sources, cond, args.seed)
        X = A @ S
        runs[cond] = {}
        for alg in ALGORITHMS:
            res = ica(X, algorithm=alg, max_iter=args.max_iter, random_state=args.seed)
            runs[cond][alg] = res
            print(
                f"condition {cond:g} {alg}: {res.n_iter} iterations, converged "
                f"{res.converged}, {res.time_history[-1]:.2f} s, final cost "
                f"{res.cost_history[-1]:.9f}, Amari index {amari_index(res.unmixing @ A):.1e}, "
                f"densities {res.densities}",
                file=sys.stderr,
                flush=True,
            )
        finished = [
            r
            for r in runs[cond].values()
            if len(r.stages) == len(runs[cond]["lbfgs"].stages)
            and r.stages[-1]["start"] <= r.n_iter
        ]
        targets[cond] = min(r.cost_history[-1] for r in finished)

    md = [
        "| condition number | "
        + " | ".join(ALGORITHMS)
        + " | Amari index ("
        + " / ".join(ALGORITHMS)
        + ") |",
        "|---:|" + "---:|" * len(ALGORITHMS) + "---|",
    ]
    for cond in args.conditions:
        cells = []
        for alg in ALGORITHMS:
            res = runs[cond][alg]
            hit = reached(res, targets[cond], args.margin, len(runs[cond]["lbfgs"].stages))
            stop = f"{res.n_iter} it, {res.time_history[-1]:.2f} s"
            cells.append(
                f"{hit[0]} it, {hit[1]:.2f} s ({stop})"
                if hit
                else f"not reached ({stop}: the cap)"
                if res.n_iter >= args.max_iter
                else f"not reached (stuck after {stop})"
            )
        A = mixing_matrix(args.sources, cond, args.seed)
        quality = " / ".join(f"{amari_index(runs[cond][a].unmixing @ A):.0e}" for a in ALGORITHMS)
        md.append(f"| {cond:g} | " + " | ".join(cells) + f" | {quality} |")
    print("\n".join(md))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")
    if args.plot:
        picture(args.plot, args.conditions, runs, targets, args.margin)
        print(f"picture -> {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
