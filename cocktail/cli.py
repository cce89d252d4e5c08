"""The ``cocktail`` command line: a thin layer over the library.

The only module that imports click or prints. stdout carries audio only;
notes, warnings, progress and errors go to stderr.

Exit status: 0 success, 1 an error in the input or the environment,
2 a wrong command line, 130 interrupted.
"""

import contextlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

# The solver's matrix products are small; a second BLAS thread only spins and,
# on a busy machine, makes a run several times slower. Set before numpy loads
# its BLAS; a value the user exported wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import click  # noqa: E402

from . import __version__  # noqa: E402
from .bss.stft import MIN_NFFT  # noqa: E402
from .errors import CocktailError  # noqa: E402
from .io import audio, files  # noqa: E402

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM
#: Signals that end a run as Ctrl-C does (cleaned up), with their word for it.
STOP_SIGNALS = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
#: A reader that left our stdout pipe: quiet, like a process killed by SIGPIPE.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE

_terminated = []  # set when SIGTERM arrived


def _on_stop_signal(signum, frame):
    """SIGTERM (timeout, systemd, job schedulers) and SIGHUP (a closed terminal)
    clean up as Ctrl-C does."""
    _terminated.append(signum)
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)  # a second one must not cut the cleanup
    raise KeyboardInterrupt


class _Interrupted(Exception):
    """Ctrl-C, carried past click's own handler (which prints a blank line)."""


class _BrokenPipe(Exception):
    """The reader of stdout left, carried past click (which would exit 1)."""


class CocktailGroup(click.Group):
    """A group whose every error is one line, ``Error: ...``, on stderr."""

    def invoke(self, ctx):
        """Run the command; Ctrl-C and a closed stdout pipe are carried past click."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted() from None
        except BrokenPipeError:
            raise _BrokenPipe() from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command line; every error becomes one line and an exit status."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(
                args, prog_name or "cocktail", complete_var, standalone_mode=False, **extra
            )
        except click.exceptions.NoArgsIsHelpError as exc:  # bare "cocktail"
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            _fail(f"{exc.format_message()}{hint}", EXIT_USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except CocktailError as exc:
            _fail(str(exc), EXIT_ERROR)
        except (click.Abort, KeyboardInterrupt, _Interrupted):
            files.clean_up_after_interruption()
            if _terminated:
                _fail(STOP_SIGNALS[_terminated[0]], 128 + _terminated[0])
            _fail("interrupted", EXIT_INTERRUPTED)
        except MemoryError:
            _fail("out of memory: try a smaller --fit-seconds", EXIT_ERROR)
        except (BrokenPipeError, _BrokenPipe):
            # The reader of our stdout went away (e.g. "| head"): not our error.
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except OSError as exc:  # a full disk, a vanished folder...
            where = f" ('{exc.filename}')" if exc.filename else ""
            _fail(f"{exc.strerror or exc}{where}", EXIT_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message, code):
    message = " ".join(str(message).split())  # one line, always
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _silence_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _say(quiet, message, kind=None):
    if not quiet or kind == "Warning":
        click.echo(f"{kind}: {message}" if kind else message, err=True)


class Progress:
    """Iteration progress on stderr, only once a run takes longer than a moment."""

    DELAY = 1.0  # seconds before the first line
    EVERY = 1.0  # seconds between lines

    def __init__(self, quiet, label="iteration"):
        self.quiet = quiet
        self.label = label
        self.start = time.monotonic()
        self.last = None

    def __call__(self, iteration, value, what="gradient norm"):
        if self.quiet:
            return
        now = time.monotonic()
        if now - self.start < self.DELAY or (
            self.last is not None and now - self.last < self.EVERY
        ):
            return
        self.last = now
        click.echo(f"  {self.label} {iteration}: {what} {value:.3e}", err=True)


class _Positive(click.ParamType):
    """A finite number above zero (click's FloatRange lets NaN through)."""

    name = "number"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            v = value
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(v) and v > 0):
            self.fail(f"must be a positive number, got {value}", param, ctx)
        return v


class _PowerOfTwo(click.ParamType):
    """An STFT frame length: a power of two, not too short to hold a filter."""

    name = "integer"
    SMALLEST = MIN_NFFT

    def convert(self, value, param, ctx):
        v = click.INT.convert(value, param, ctx)
        if v < self.SMALLEST or v & (v - 1):
            self.fail(f"must be a power of two of at least {self.SMALLEST}, got {v}", param, ctx)
        return v


class _RoomSize(click.ParamType):
    """Three positive lengths in metres, like 6x5x3."""

    name = "LxWxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            size = tuple(float(v) for v in str(value).lower().split("x"))
        except ValueError:
            size = ()
        if len(size) != 3 or not all(math.isfinite(v) and v > 0 for v in size):
            self.fail(
                f"must be three positive lengths in metres like 6x5x3, got '{value}'", param, ctx
            )
        return size


class _ChannelList(click.ParamType):
    """Channel numbers counted from 1, like 1,9; each once."""

    name = "LIST"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            chans = [int(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            chans = []
        if not chans or min(chans) < 1:
            self.fail(f"must be channel numbers from 1 like 1,9, got '{value}'", param, ctx)
        if len(set(chans)) != len(chans):
            self.fail(
                f"names a channel twice ('{value}'): two microphones in one place "
                "hear the same signal",
                param,
                ctx,
            )
        return chans


#: Names that look like audio files (an output folder named so is noted).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3", ".w64", ".rf64")
#: Picture formats other than PNG (which is all the pictures are written as).
OTHER_PICTURE_SUFFIXES = (
    ".pdf",
    ".svg",
    ".svgz",
    ".jpg",
    ".jpeg",
    ".eps",
    ".ps",
    ".tif",
    ".tiff",
    ".gif",
    ".webp",
    ".bmp",
)

POSITIVE = _Positive()
COUNT = click.IntRange(min=1)
SEED = click.IntRange(min=0)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group("cocktail", cls=CocktailGroup, context_settings=CONTEXT, no_args_is_help=True)
@click.version_option(__version__, "-V", "--version", prog_name="cocktail")
def cli():
    """Separate the speakers of a multi-microphone recording.

    Each microphone hears a different blend of the people talking; cocktail
    gives back one recording per speaker. Audio goes in and out as WAV files,
    or through pipes with '-'.

    \b
    Example:
      cocktail mix alice.wav bob.wav -o mix.wav
      cocktail separate mix.wav -o out/
      cocktail mix alice.wav bob.wav -o - | cocktail separate - -o out/
    """


# ---------------------------------------------------------------- separate


def _raw_format(raw, rate, channels, encoding):
    if not raw:
        if rate or channels or encoding:
            raise click.UsageError(
                "--rate, --channels and --encoding describe --raw input; add --raw"
            )
        return None
    missing = [n for n, v in (("--rate", rate), ("--channels", channels)) if not v]
    if missing:
        raise click.UsageError(f"--raw input needs {' and '.join(missing)}")
    return rate, channels, encoding or "s16"


class SourceCount(click.ParamType):
    """--sources: a positive whole number, 'auto' or 'all'."""

    name = "N|auto|all"

    def convert(self, value, param, ctx):
        """The number, 'auto' or 'all'; anything else is a usage error."""
        if isinstance(value, int) or value in ("auto", "all"):
            return value
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            self.fail(f"{value!r} is not a positive whole number, 'auto' or 'all'", param, ctx)
        return n


@cli.command(context_settings=CONTEXT)
@click.argument("mixtures", nargs=-1, required=True, metavar="MIX.wav...")
@click.option(
    "-o",
    "--output",
    "output",
    metavar="DIR|-",
    help="Folder for speaker_1.wav ... and separation.json, or '-' for one "
    "multi-channel WAV on stdout. With several inputs, each goes to "
    "DIR/<input name>/.  [default: separated/<input name>/]",
)
@click.option(
    "-n",
    "--sources",
    type=SourceCount(),
    default="auto",
    show_default=True,
    metavar="N|auto|all",
    help="Number of speakers to separate: a number, 'auto' to count them (from the "
    "microphones' covariance for instantaneous mixtures, from how the outputs "
    "of a trial separation sound for rooms; the choice and its evidence go to "
    "stderr and the report; --adaptive counts from its first 2 s, 6 or 10 s for a "
    "room with 4 or more microphones, 10 s for a room where one talker was heard, "
    "except with --model convolutive, which starts at once: one per microphone), "
    "or 'all' for one per microphone.",
)
@click.option(
    "--model",
    type=click.Choice(["auto", "instantaneous", "convolutive"]),
    default="auto",
    show_default=True,
    help="Mixing model: 'instantaneous' for x = A s (no echoes), 'convolutive' "
    "for room recordings, 'auto' to decide from the recording (with "
    "--adaptive: from its first 2 s).",
)
@click.option(
    "--adaptive",
    is_flag=True,
    help="Separate as the audio arrives and follow a changing mixture (moving "
    "speakers), updating the unmixing block by block instead of estimating one "
    "for the whole recording: online IVA per frequency for rooms, online "
    "natural-gradient ICA for instantaneous mixtures (the online form of the "
    "natural gradient; --algorithm natgrad is its batch form).  Rooms: output "
    "follows input by at most one block plus one STFT frame: 0.19 s at 16 kHz (a "
    "0.125 s block, a 128 ms frame whose low-delay windows finish its output 32 ms "
    "after it ends; the outputs' Wiener filters work on frames twice as long, at "
    "the same latency), 0.25 s when two microphones' first 2 s show a "
    "room that rings long (decay time 0.5 s or more: frames twice as long; --nfft "
    "sets the frame, --block-seconds trades latency against cost), starting at once "
    "with --model convolutive, after 2 s with --model auto (a room heard by 4 or "
    "more microphones is counted from 6 s, or 10 s when that count is in doubt; "
    "--count-seconds). On stdin the first Ctrl-C ends the stream and what arrived "
    "is written; a second stops at once.",
)
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the solver's starting point; same input and seed, same output.",
)
@click.option(
    "--max-iter",
    type=COUNT,
    default=None,
    metavar="N",
    help="Iteration limit of the solver.  [default: 500 instantaneous (5000 for "
    "natgrad and gradient), 100 convolutive]",
)
@click.option(
    "--tol",
    type=POSITIVE,
    default=None,
    metavar="TOL",
    help="Stopping tolerance: largest entry of the relative gradient "
    "(instantaneous, default 1e-07) or the cost's fall in a step, per output, once "
    "it levels off (convolutive, default 0.002).",
)
@click.option(
    "--nfft",
    type=_PowerOfTwo(),
    default=None,
    metavar="N",
    help="STFT frame length of the convolutive model; given, it is kept (by default the "
    "final Wiener filters take twice the frame in a room that rings long).  With "
    "--adaptive, the live frame: output trails input by a block plus three quarters of "
    "it.  [default: 4096 at 16 kHz, scaled with the sample rate, shorter for recordings "
    "under 4 s; with --adaptive 2048, twice that for two microphones in a room that "
    "rings long]",
)
@click.option(
    "--algorithm",
    default=None,
    metavar="NAME",
    help="Solver. Instantaneous model: lbfgs (quasi-Newton), natgrad (Amari's "
    "rule), gradient (Euclidean, for comparison); convolutive: ilrma, "
    "auxiva-gauss, auxiva, natgrad. A name the model chosen by --model auto "
    "lacks gives a warning and that model's default.  [default: the fastest "
    "measured, lbfgs or ilrma]",
)
@click.option(
    "--postfilter/--no-postfilter",
    default=True,
    show_default=True,
    help="Room model: scale each time-frequency cell of every speaker down by the "
    "crosstalk it still holds from the others, measured per frequency (a Wiener "
    "gain, +0.5 dB SDR on average on the benchmark rooms). --no-postfilter keeps "
    "every speaker a linear filter of the recording, for further array processing.",
)
@click.option(
    "--apply",
    "apply_path",
    metavar="REPORT.json",
    help="Separate with the unmixing saved in a previous separation.json (same "
    "microphones, same places) instead of estimating one.",
)
@click.option(
    "--fit-seconds",
    type=POSITIVE,
    default=60.0,
    show_default=True,
    metavar="S",
    help="Estimate the unmixing from at most this many seconds, spread over the "
    "recording (and at most 8 million samples in all); longer recordings are "
    "then separated block by block in bounded memory.",
)
@click.option(
    "--block-seconds",
    type=POSITIVE,
    default=None,
    metavar="S",
    help="Block length for applying the unmixing; also the latency on pipes. With "
    "--adaptive, how often the unmixing is updated: longer blocks cost less and add "
    "latency (rooms: output trails input by a block plus three quarters of the STFT "
    "frame, 96 ms at 16 kHz, 192 ms where the frame is doubled).  [default: "
    "1.0; with --adaptive 0.25, rooms 0.125]",
)
@click.option(
    "--count-seconds",
    type=POSITIVE,
    default=None,
    metavar="S",
    help="With --adaptive: seconds of the stream's start from which the model is chosen "
    "and the speakers counted, before output starts (and, for playback, how far it "
    "stays behind). Arrays of 4 or more microphones need longer to tell reverberation "
    "from talkers: on the benchmark's arrays 6 s counted right on 9 of 12, 2 s on 1; "
    "by default a count from 6 s that is in doubt (unsure, or keeping outputs that "
    "behave like the others' reverberation) is made again from 10 s. "
    "A start of 6 s or more is also learnt from before it is separated, so its first "
    "seconds come out as clean as the later ones.  "
    "[default: 2; a room heard by 4 or more microphones, 6, or 10 when in doubt; "
    "with --model convolutive, none: one output per microphone]",
)
@click.option(
    "--raw",
    is_flag=True,
    help="Input is headerless PCM (give --rate and --channels); with -o - the output is raw too.",
)
@click.option("--rate", type=COUNT, default=None, metavar="HZ", help="Sample rate of --raw input.")
@click.option(
    "--channels",
    type=COUNT,
    default=None,
    metavar="C",
    help="Channels (microphones) of --raw input.",
)
@click.option(
    "--encoding",
    type=click.Choice(["s16", "s24", "s32", "f32", "f64"]),
    default=None,
    help="Sample encoding of --raw input, little-endian.  [default: s16]",
)
@click.option(
    "-j",
    "--jobs",
    type=COUNT,
    default=1,
    show_default=True,
    metavar="N",
    help="Files separated at once, in worker processes.",
)
@click.option(
    "--report",
    "report_path",
    metavar="FILE",
    help="Where to write the JSON report.  [default: DIR/separation.json; none with -o -]",
)
@click.option(
    "--plot",
    "plot_path",
    metavar="FILE.png",
    help="Also draw the mixture, the speakers and the convergence curve (needs cocktail[plot]).",
)
@click.option(
    "--html",
    "html_page",
    is_flag=True,
    help="Also write a listening page, index.html, into the output folder (see 'cocktail page').",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and warnings.")
def separate(
    mixtures,
    output,
    sources,
    model,
    adaptive,
    seed,
    max_iter,
    tol,
    nfft,
    algorithm,
    postfilter,
    apply_path,
    fit_seconds,
    block_seconds,
    count_seconds,
    raw,
    rate,
    channels,
    encoding,
    jobs,
    report_path,
    plot_path,
    quiet,
    html_page=False,
):
    """Separate recordings (one channel per microphone) into one WAV per speaker.

    Outputs are scaled to how each speaker sounds at microphone 1, ordered
    loudest first, and never clip. MIX.wav may be '-' to read a WAV stream
    from stdin, of known or unknown length. Several files or folders of
    files are each separated into their own folder.

    \b
    Example:
      cocktail separate meeting.wav -o speakers/
      cocktail separate meeting.wav --sources 2 -o - > speakers.wav
      arecord -c 2 -r 16000 -f S16_LE | cocktail separate - --adaptive -o - | aplay
      cocktail separate recordings/ -o separated/ --jobs 2
    """
    from .separation import BLOCK_SECONDS, Options, count_seconds_too_short

    if algorithm is not None:
        from .separation import check_algorithm

        try:
            check_algorithm(algorithm, model)
        except CocktailError as exc:
            raise click.UsageError(str(exc)) from None
    raw_format = _raw_format(raw, rate, channels, encoding)
    if count_seconds is not None and not adaptive:
        raise click.UsageError(
            "--count-seconds is for --adaptive (a file is counted from up to 20 s of it)"
        )
    too_short = count_seconds_too_short(count_seconds, "--count-seconds")
    if too_short:
        raise click.UsageError(too_short)
    if apply_path is not None and (adaptive or sources != "auto"):
        raise click.UsageError(
            "--apply reuses a saved unmixing: it takes neither --adaptive nor --sources"
        )
    options = Options(
        n_sources=sources,
        model=model,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        fit_seconds=fit_seconds,
        block_seconds=BLOCK_SECONDS if adaptive or block_seconds is None else block_seconds,
        live_block_seconds=block_seconds if adaptive else None,
        count_seconds=count_seconds,
        adaptive=adaptive,
        nfft=nfft,
        algorithm=algorithm,
        apply=apply_path,
        postfilter=postfilter,
    )

    _one_stdout([("-o", output), ("--report", report_path), ("--plot", plot_path)])
    if audio.STDIO in (output, report_path, plot_path):
        files.check_stdout_apart(list(mixtures) + [apply_path])
    if apply_path == audio.STDIO and audio.STDIO in mixtures:
        raise click.UsageError("--apply - and the input '-' cannot both come from standard input")
    several = len(mixtures) > 1 or (mixtures[0] != audio.STDIO and Path(mixtures[0]).is_dir())
    if html_page and (output == audio.STDIO or report_path is not None):
        raise CocktailError(
            "--html writes the page into the output folder: it takes neither -o - nor --report"
        )
    if plot_path is not None:
        if several or output == audio.STDIO:
            raise click.UsageError("--plot takes one input and an output folder (not -o -)")
        if report_path == audio.STDIO or (report_path and files.is_special(report_path)):
            raise click.UsageError(
                f"--plot draws from the report: give --report a file, not '{report_path}'"
            )
        from . import plot

        plot.require_matplotlib("cocktail separate --plot")
        if plot_path == audio.STDIO:
            audio.stdout_stream()
        else:
            _check_picture_path(plot_path, mixtures)
    if several:
        return _separate_many(
            mixtures, output, options, jobs, raw_format, report_path, quiet, html_page
        )
    mixture = mixtures[0]
    live = adaptive and mixture == audio.STDIO  # a stream with no end of its own
    with _ended_by_ctrl_c(quiet) if live else contextlib.nullcontext():
        return _separate_one(
            mixture, output, options, raw_format, report_path, quiet, plot_path, html_page
        )


@contextlib.contextmanager
def _ended_by_ctrl_c(quiet):
    """A live stream on stdin (--adaptive) has no end of its own: the first
    Ctrl-C ends it as if its writer had closed it (what has arrived is
    separated and written, exit status 0); a second stops at once, writing
    nothing (130). In a shell pipeline the recorder gets the same Ctrl-C and
    closes the pipe."""
    from .io import stream

    def end(signum, frame):
        stream.end_input()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one stops
        _say(
            quiet,
            "Ctrl-C: the stream ends here; separating what has arrived (Ctrl-C again "
            "stops at once, writing nothing)",
            "Note",
        )

    before = signal.signal(signal.SIGINT, end)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        stream.reset_input()


def _separate_one(mixture, output, options, raw_format, report_path, quiet, plot_path, html_page):
    """One input into a folder, or onto stdout."""
    if output == audio.STDIO:
        return _separate_to_stdout(mixture, options, raw_format, report_path, quiet)
    from .batch import separate_file

    if output is None:
        output = str(
            Path("separated") / ("stdin" if mixture == audio.STDIO else Path(mixture).stem)
        )
    elif Path(output).suffix.lower() in AUDIO_SUFFIXES and not Path(output).is_dir():
        _say(
            quiet,
            f"'{output}' will be a folder holding speaker_1.wav ... (for one "
            f"multi-channel file: -o - > {output})",
            "Note",
        )
    summary = separate_file(
        mixture, output, options, raw=raw_format, report_path=report_path, callback=Progress(quiet)
    )
    _say_model(quiet, summary)
    for w in summary["warnings"]:
        _say(quiet, w, "Warning")
    _say(quiet, _done(summary, f"{Path(output)}/"))
    if plot_path is not None:
        from . import plot

        data, _ = plot.picture_of_files(
            report_path or output,
            mixture_path=None if mixture == audio.STDIO or raw_format else mixture,
        )
        if plot_path == audio.STDIO:
            audio.write_stdout(data)
        else:
            _write_picture(plot_path, data)
            _say(quiet, f"picture -> {plot_path}")
    if html_page:
        _write_page(output, None if mixture == audio.STDIO or raw_format else mixture, None, quiet)


def _one_stdout(uses):
    """At most one output may be '-': stdout carries one thing."""
    named = [flag for flag, value in uses if value == audio.STDIO]
    if len(named) > 1:
        raise click.UsageError(
            f"{' and '.join(named)} cannot "
            f"{'both' if len(named) == 2 else 'all'} be '-': standard output "
            "carries one of them; give the others file names"
        )


def _say_model(quiet, summary):
    """Say which model --model auto chose, and why."""
    reason = summary.get("model_reason") or ""
    if reason.startswith("auto: "):
        _say(quiet, f"{summary['model']} model: {reason[len('auto: ') :]}", "Note")
    for key in ("sources_reason", "frame_reason"):
        reason = summary.get(key) or ""
        if reason.startswith("auto: "):
            _say(quiet, reason[len("auto: ") :], "Note")


def _speakers(n):
    return f"{n} speaker{'s' if n != 1 else ''}"


def _done(summary, where):
    state = "converged" if summary["converged"] else "not converged"
    its = f"{summary['iterations']} iterations, " if summary.get("iterations") is not None else ""
    # an adaptive run's own pace: what a live input needs it to keep above 1x
    pace = summary.get("pace")
    pace = f", separating at {pace:.{0 if pace >= 10 else 1}f}x real time" if pace else ""
    return (
        f"{_speakers(summary['n_sources'])} separated ({summary['model']} model, {its}{state}, "
        f"{summary['seconds']:.1f} s{pace}) -> {where}"
    )


def _separate_to_stdout(mixture, options, raw_format, report_path, quiet):
    from .batch import separate_to_stdout

    summary = separate_to_stdout(
        mixture, options, raw=raw_format, report_path=report_path, callback=Progress(quiet)
    )
    for w in summary["warnings"]:
        _say(quiet, w, "Warning")
    _say_model(quiet, summary)
    _say(quiet, _done(summary, "stdout"))


def _separate_many(
    mixtures, output, options, jobs, raw_format, report_path, quiet, html_page=False
):
    from .batch import expand_inputs, output_folders, separate_many, summary_line

    if output == audio.STDIO:
        raise click.UsageError("-o - takes one input; give a folder for several")
    if raw_format is not None or report_path is not None:
        raise click.UsageError("--raw and --report take one input")
    if audio.STDIO in mixtures:
        raise click.UsageError("'-' (stdin) cannot be one of several inputs")
    inputs = expand_inputs(mixtures)
    folders = output_folders(inputs, output or "separated")
    total = len(inputs)
    done = []

    def on_done(path, summary, error):
        done.append(error is None)
        tag = f"[{len(done)}/{total}]"
        if error is None:
            for w in summary["warnings"]:
                _say(quiet, f"{path}: {w}", "Warning")
            _say(
                quiet,
                f"{tag} {path}: {_speakers(summary['n_sources'])} "
                f"({summary['model']}, {summary['seconds']:.1f} s) -> {summary['output']}/",
            )
        else:
            click.echo(f"{tag} {path}: Error: {error}", err=True)

    results = separate_many(inputs, folders, options, jobs=jobs, on_done=on_done)
    if html_page:
        for path, summary, error in results:
            if error is None:
                _write_page(summary["output"], path, None, quiet)
    failed = [p for p, _, e in results if e is not None]
    line = summary_line(results)
    if failed:
        raise CocktailError(f"{line}; failed: {', '.join(failed)}")
    _say(quiet, line)


# --------------------------------------------------------------------- mix


@cli.command(context_settings=CONTEXT)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="OUT.wav|-",
    help="The mixture, one channel per microphone, or '-' for stdout.",
)
@click.option(
    "-m",
    "--mics",
    type=COUNT,
    default=None,
    metavar="M",
    help="Number of microphones.  [default: one per source; with --rir, every "
    "channel of the responses]",
)
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the random mixing matrix (or of the source positions with --room).",
)
@click.option(
    "--matrix",
    "matrix_path",
    metavar="FILE",
    help="Mixing matrix to use instead of a random one: JSON rows (or a sidecar "
    'with "mixing") or CSV, one row per microphone, one column per source.',
)
@click.option(
    "--rir",
    "rir_paths",
    multiple=True,
    metavar="FILE.wav",
    help="A measured room impulse response per source (repeat the option, in "
    "source order): a multi-channel WAV, channel m = microphone m.",
)
@click.option(
    "--rir-mics",
    type=_ChannelList(),
    metavar="LIST",
    help="Which channels of the --rir files are the microphones, e.g. 1,9.  "
    "[default: the first --mics, or all]",
)
@click.option(
    "--room",
    "rt60",
    type=POSITIVE,
    default=None,
    metavar="RT60",
    help="Simulate a shoebox room with this reverberation time in seconds "
    "(image-source method): a linear array at the room's centre, sources "
    "on an arc in front of it.",
)
@click.option(
    "--room-size",
    type=_RoomSize(),
    default="6x5x3",
    show_default=True,
    metavar="LxWxH",
    help="Room dimensions in metres, with --room.",
)
@click.option(
    "--mic-spacing",
    type=POSITIVE,
    default=0.05,
    show_default=True,
    metavar="M",
    help="Distance between neighbouring microphones in metres, with --room.",
)
@click.option(
    "--source-distance",
    type=POSITIVE,
    default=1.5,
    show_default=True,
    metavar="M",
    help="Distance from the array to the sources in metres, with --room.",
)
@click.option(
    "--truth",
    "truth_dir",
    metavar="DIR",
    help="Also write the sources exactly as mixed (as heard at microphone 1 for "
    "rooms) into DIR as source_1.wav ...",
)
@click.option(
    "--sidecar",
    "sidecar_path",
    metavar="FILE",
    help="Where to keep the ground truth as JSON.  [default: OUT.json; none with -o -]",
)
@click.option(
    "--rate",
    type=COUNT,
    default=None,
    metavar="HZ",
    help="Sample rate of the mixture.  [default: the highest among the sources]",
)
@click.option(
    "--subtype",
    type=click.Choice(["FLOAT", "PCM_16", "PCM_24"]),
    default="FLOAT",
    show_default=True,
    help="Sample format of the mixture.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and warnings.")
def mix(
    sources,
    output,
    mics,
    seed,
    matrix_path,
    rir_paths,
    rir_mics,
    rt60,
    room_size,
    mic_spacing,
    source_distance,
    truth_dir,
    sidecar_path,
    rate,
    subtype,
    quiet,
):
    """Mix mono sources into a test recording, keeping the ground truth.

    By default x = A s with a random, well-conditioned A (an instantaneous
    mixture); with --rir or --room, each source reaches each microphone
    through a room's echoes (a convolutive mixture). Sources of different
    lengths are padded with silence, different sample rates are resampled,
    multi-channel sources are downmixed. The mixture is scaled to peak at 0.9
    so it never clips; the scale, the mixing and the sources are kept in a
    JSON sidecar for scoring a separation later.

    \b
    Example:
      cocktail mix alice.wav bob.wav -o mix.wav --truth truth/
      cocktail mix a.wav b.wav c.wav --mics 4 --seed 7 -o mix4.wav
      cocktail mix a.wav b.wav --room 0.3 -o room.wav
      cocktail mix a.wav b.wav --rir office1.wav --rir office2.wav --rir-mics 1,9 -o office.wav
      cocktail mix a.wav b.wav -o - | cocktail separate - -o out/
    """
    from . import mixing
    from .report import dumps

    if len(sources) < 2:
        raise click.UsageError("mix needs at least two sources")
    if sum(x is not None and x != () for x in (matrix_path, rir_paths or None, rt60)) > 1:
        raise click.UsageError("choose one of --matrix, --rir and --room")
    if rt60 is not None and mics is not None and mics < 2:
        raise click.BadParameter(
            "a room mixture needs at least two microphones", param_hint="'--mics'"
        )
    to_stdout = output == audio.STDIO
    _one_stdout([("-o", output), ("--sidecar", sidecar_path)])
    if truth_dir == audio.STDIO:
        raise click.UsageError("--truth needs a folder (it receives one file per source), not '-'")
    if sidecar_path is None and not to_stdout:
        sidecar_path = str(Path(output).with_suffix(".json"))
    sidecar_to_stdout = sidecar_path == audio.STDIO
    written = ([] if to_stdout else [output]) + (
        [sidecar_path] if sidecar_path and not sidecar_to_stdout else []
    )
    for src in list(sources) + list(rir_paths) + ([matrix_path] if matrix_path else []):
        if src == audio.STDIO and src == matrix_path:
            continue
        if src == audio.STDIO:
            raise CocktailError("mix reads its sources from files, not from standard input")
        if not Path(src).exists():
            raise CocktailError(f"cannot read '{src}': no such file")
        for w in written:
            if files.same_file(w, src):
                raise CocktailError(f"output '{w}' is also an input; choose another name")
    for w in written:
        files.check_writable_file(w)
    if to_stdout or sidecar_to_stdout:
        audio.stdout_stream()
        files.check_stdout_apart(list(sources) + list(rir_paths) + [matrix_path])
    if truth_dir is not None:
        files.prepare_folder(truth_dir)

    n = len(sources)
    if rir_paths and len(rir_paths) != n:
        raise click.UsageError(
            f"--rir needs one impulse response per source: {n} sources, {len(rir_paths)} responses"
        )
    A = mixing.matrix_for(
        n, mics=mics, seed=seed, matrix_path=matrix_path, room=bool(rir_paths) or rt60 is not None
    )
    loaded = mixing.load_sources(sources, sample_rate=rate)
    for note in loaded.notes:
        _say(quiet, note, "Note")
    warned = mixing.mixing_warnings(loaded.signals, [audio.display_name(s) for s in sources], A)
    if rt60 is None:
        ctx = click.get_current_context()
        unused = [
            f"--{k.replace('_', '-')}"
            for k in ("room_size", "mic_spacing", "source_distance")
            if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
        ]
        if unused:
            warned.append(
                f"{', '.join(unused)} {'describe' if len(unused) > 1 else 'describes'} "
                "the simulated room: ignored without --room"
            )
    for w in warned:
        _say(quiet, w, "Warning")
    truth_names = [f"source_{i}.wav" for i in range(1, n + 1)]
    made = mixing.make_mixture(
        loaded,
        sources,
        A,
        seed=seed,
        matrix_path=matrix_path,
        mics=mics,
        rir_paths=rir_paths,
        rir_mics=rir_mics,
        rt60=rt60,
        room_size=room_size,
        mic_spacing=mic_spacing,
        source_distance=source_distance,
        subtype=subtype,
        warnings=warned,
        truth=[str(Path(truth_dir) / t) for t in truth_names] if truth_dir else None,
    )
    X, truth, side, n_mics = made.signals, made.truth, made.sidecar, made.n_mics
    if truth_dir is not None:
        for t in truth_names:
            for src in sources:
                if files.same_file(Path(truth_dir) / t, src):
                    raise CocktailError(
                        f"truth file '{Path(truth_dir) / t}' would overwrite an input"
                    )
    mixture_bytes = audio.encode(X, loaded.sample_rate, subtype)
    with files.AtomicWriter() as writer:
        if not to_stdout:
            writer.add(output, mixture_bytes)
        if truth_dir is not None:
            for t, s in zip(truth_names, truth):
                writer.add(
                    Path(truth_dir) / t, audio.encode(s[None, :], loaded.sample_rate, "FLOAT")
                )
        if sidecar_path and not sidecar_to_stdout:
            writer.add(sidecar_path, dumps(side))
    if sidecar_to_stdout:
        audio.write_stdout(dumps(side))
    if to_stdout:
        audio.write_stdout(mixture_bytes)
    else:
        _say(
            quiet,
            f"mixed {n} sources into {n_mics} microphone{'s' if n_mics != 1 else ''} "
            f"({side['kind']}) -> {output}"
            + (
                f" (ground truth in {'standard output' if sidecar_to_stdout else sidecar_path})"
                if sidecar_path
                else ""
            ),
        )


# ---------------------------------------------------------- evaluate and plot


def _files_below(paths):
    """The paths, with the files directly inside those that are folders."""
    out = []
    for p in paths:
        if p is not None and p != audio.STDIO and Path(p).is_dir():
            out.extend(q for q in Path(p).iterdir() if q.is_file())
        else:
            out.append(p)
    return out


def _check_picture_path(path, inputs):
    suffix = Path(path).suffix.lower()
    if suffix in OTHER_PICTURE_SUFFIXES:
        raise click.UsageError(
            f"pictures are written as PNG: name the file '{Path(path).stem}.png', not '{path}'"
        )
    files.check_writable_file(path)
    for i in _files_below(inputs):
        if i is not None and i != audio.STDIO and files.same_file(path, i):
            raise CocktailError(f"output '{path}' would overwrite an input")


def _write_picture(path, data):
    with files.AtomicWriter() as writer:
        writer.add(path, data)


@cli.command("evaluate", context_settings=CONTEXT)
@click.argument("estimates", metavar="ESTIMATES")
@click.option(
    "-r",
    "--reference",
    "reference",
    required=True,
    metavar="REFERENCES",
    help="The true sources: the sidecar JSON of 'cocktail mix' (e.g. mix.json), its "
    "--truth folder, a folder of mono WAVs or one multi-channel WAV.",
)
@click.option(
    "--mixture",
    "mixture",
    metavar="MIX.wav",
    help="The unprocessed mixture, for the improvement figures (microphone 1 is "
    "the baseline).  [default: the input named in separation.json, or OUT.wav "
    "next to the sidecar OUT.json, if there]",
)
@click.option(
    "--filter-length",
    type=COUNT,
    default=None,
    metavar="N",
    help="Taps of the BSS Eval distortion filter.  [default: 1 for instantaneous "
    "mixtures, 512 for room recordings or when unknown]",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the figures as JSON (for scripts) instead of a table.",
)
@click.option(
    "--plot",
    "plot_path",
    metavar="FILE.png",
    help="Also draw the mixture, the estimates and the references as a PNG.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but the figures and errors.")
def evaluate_command(estimates, reference, mixture, filter_length, as_json, plot_path, quiet):
    """Score separated speakers against the true sources.

    ESTIMATES is a folder written by 'cocktail separate' (its separation.json
    is read), a folder of mono WAVs or one multi-channel WAV ('-' for stdin).
    Prints SDR, SIR, SAR (BSS Eval, best pairing found automatically) and
    SI-SDR per source and on average, in dB; with the mixture, the
    improvement over microphone 1; with both the mix sidecar and
    separation.json, the Amari index (0 = perfect). Poor scores are not
    errors: the exit status is 0 whenever the scoring ran.

    \b
    Example:
      cocktail mix alice.wav bob.wav -o mix.wav
      cocktail separate mix.wav -o out/
      cocktail evaluate out/ --reference mix.json
      cocktail evaluate out/ -r truth/ --mixture mix.wav --json > scores.json
      cocktail evaluate speakers.wav -r refs.wav --filter-length 512 --plot scores.png
    """
    from . import evaluate as scoring

    scoring.require_fast_bss_eval("cocktail evaluate")
    if plot_path is not None:
        from . import plot

        plot.require_matplotlib("cocktail evaluate --plot")
        if plot_path == audio.STDIO:
            raise click.UsageError("--plot needs a file name: standard output carries the scores")
        _check_picture_path(plot_path, [estimates, reference, mixture])
    if mixture is not None and mixture != audio.STDIO and not Path(mixture).exists():
        raise CocktailError(f"cannot read '{mixture}': no such file")
    files.check_stdout_apart(_files_below([estimates, reference, mixture]))

    result = scoring.evaluate(
        estimates, reference, mixture_path=mixture, filter_length=filter_length
    )
    for note in result.notes:
        _say(quiet, note, "Note")
    if plot_path is not None:
        _write_picture(plot_path, plot.picture_of_evaluation(result))
        _say(quiet, f"picture -> {plot_path}")
    if as_json:
        click.echo(json.dumps(result.report, indent=1))
    else:
        click.echo(scoring.format_table(result.report))


@cli.command("plot", context_settings=CONTEXT)
@click.argument("estimates", nargs=-1, required=True, metavar="OUTDIR|REPORT...")
@click.option(
    "--convergence",
    is_flag=True,
    help="Overlay the convergence curves of one or more separations (reports or "
    "output folders), labelled by algorithm: cost and gradient norm against "
    "iterations and seconds.",
)
@click.option(
    "--mixture",
    "mixture",
    metavar="MIX.wav",
    help="The mixture the speakers were separated from.  [default: the input "
    "named in separation.json, if still there]",
)
@click.option(
    "-r",
    "--reference",
    "reference",
    metavar="REFERENCES",
    help="The true sources, drawn under their estimates: the sidecar JSON of "
    "'cocktail mix', its --truth folder or a multi-channel WAV.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE.png|-",
    help="The picture (PNG, 1200 pixels wide), or '-' for stdout.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and warnings.")
def plot_command(estimates, convergence, mixture, reference, output, quiet):
    """Draw a separation: waveforms, spectrograms and the solver's convergence.

    OUTDIR|REPORT is a folder written by 'cocktail separate' or its
    separation.json (a folder of mono WAVs or a multi-channel WAV also do).
    The picture shows the mixture's microphones, then each speaker above its
    reference (when given), as waveforms and spectrograms on one time axis,
    and the gradient norm of each solver iteration on a log scale. It is
    12 in x (1.3 + 0.95 per row + 2.2 for convergence) in at 100 dpi.

    With --convergence, several reports' solver histories are overlaid
    instead, 12 x 8 in: the cost above the best reached in each stage and
    the gradient norm, against iterations and against seconds, log-log.

    \b
    Example:
      cocktail separate mix.wav -o out/
      cocktail plot out/ -o separation.png
      cocktail plot out/separation.json --mixture mix.wav -r mix.json -o separation.png
      cocktail separate mix.wav -o ng/ --algorithm natgrad
      cocktail plot --convergence out/ ng/ -o convergence.png
    """
    from . import plot

    if convergence and (mixture is not None or reference is not None):
        raise click.UsageError(
            "--convergence draws only the solvers' curves: it takes "
            "neither --mixture nor --reference"
        )
    if not convergence and len(estimates) > 1:
        raise click.UsageError(
            "plot draws one separation: add --convergence to overlay "
            "several reports' convergence curves"
        )
    plot.require_matplotlib("cocktail plot")
    if output != audio.STDIO:
        _check_picture_path(output, [*estimates, reference, mixture])
    else:
        audio.stdout_stream()
        files.check_stdout_apart([*estimates, reference, mixture])
    if convergence:
        data, notes = plot.picture_of_convergence(estimates)
        for note in notes:
            _say(quiet, note, "Note")
        if output == audio.STDIO:
            audio.write_stdout(data)
        else:
            _write_picture(output, data)
            _say(quiet, f"picture -> {output}")
        return
    estimates = estimates[0]
    if mixture is not None and mixture != audio.STDIO and not Path(mixture).exists():
        raise CocktailError(f"cannot read '{mixture}': no such file")
    data, notes = plot.picture_of_files(estimates, reference_path=reference, mixture_path=mixture)
    for note in notes:
        _say(quiet, note, "Note")
    if output == audio.STDIO:
        audio.write_stdout(data)
    else:
        _write_picture(output, data)
        _say(quiet, f"picture -> {output}")


# -------------------------------------------------------------------- page


def _write_page(folder, mixture, reference, quiet):
    from . import page

    result = page.write_page(folder, mixture_path=mixture, reference_path=reference)
    for note in result.notes:
        _say(quiet, note, "Note")
    _say(quiet, f"page -> {result.path}")


@cli.command("page", context_settings=CONTEXT)
@click.argument("folder", metavar="DIR")
@click.option(
    "--mixture",
    "mixture",
    metavar="MIX.wav",
    help="The recording that was separated.  [default: the input named in "
    "separation.json, if still there]",
)
@click.option(
    "-r",
    "--reference",
    "reference",
    metavar="REFERENCES",
    help="The true sources, for scores per speaker: what 'cocktail evaluate -r' "
    "takes, or the JSON 'cocktail evaluate --json' printed.  [default: the "
    "sidecar of 'cocktail mix' next to the mixture, if there]",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors and warnings.")
def page_command(folder, mixture, reference, quiet):
    """Write a listening page for a separation: DIR/index.html.

    DIR is a folder written by 'cocktail separate'. The page has a player,
    a waveform and a spectrogram for each microphone of the mixture and each
    speaker, on one time axis; the report (model, algorithm, iterations,
    convergence, warnings); and the scores per speaker when the true sources
    are known. It opens offline, from the file system, on a phone too.
    Recordings up to 5 minutes are played whole; longer ones as one 30 s
    excerpt per track (FLAC), where the speakers are most active, which the
    page says. Pictures and audio copies go to DIR/listen/.

    \b
    Example:
      cocktail separate meeting.wav -o out/
      cocktail page out/
      cocktail page out/ --mixture meeting.wav -r mix.json
      cocktail separate meeting.wav -o out/ --html
    """
    for path in (mixture, reference):
        if path is not None and (path == audio.STDIO or not Path(path).exists()):
            raise CocktailError(
                f"cannot read '{path}': no such file"
                if path != audio.STDIO
                else "the page reads files: '-' (standard input) is not one"
            )
    _write_page(folder, mixture, reference, quiet)


def _keep_freed_memory():
    """Let glibc reuse freed blocks instead of returning them to the system.

    The solver makes many short-lived arrays of a few megabytes; by default
    each comes from a fresh mmap and costs page faults on first touch, which
    makes the whole run several times slower. Process-wide, so only the
    command line does it, never the library.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def main():
    """The ``cocktail`` entry point: tune memory reuse, catch stop signals, run."""
    _keep_freed_memory()
    for s in STOP_SIGNALS:
        signal.signal(s, _on_stop_signal)
    try:
        cli.main(prog_name="cocktail")
    except SystemExit as exc:
        batch = sys.modules.get("cocktail.batch")
        if batch is None or not batch.stopped_a_pool:
            raise
        # A pool stopped mid-work (Ctrl-C, a signal) leaves the executor's
        # helper threads behind; joining them at interpreter exit can print a
        # stray traceback after the last line. Its workers are gone and the
        # temporary files removed: leave now.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(exc.code if isinstance(exc.code, int) else 1)
