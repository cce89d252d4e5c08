"""Separating files: one recording into a folder, or many, in parallel.

:func:`separate_file` is the unit of work: a plain function of picklable
arguments, so it runs the same in this process, in a pool of worker
processes (``cocktail separate --jobs N``) or on a Dask cluster::

    from dask.distributed import Client
    from cocktail.batch import separate_file
    client = Client("scheduler:8786")
    futures = client.map(separate_file, inputs, [f"out/{Path(p).stem}" for p in inputs])
    summaries = client.gather(futures)
"""

import os
import signal
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf

from .bss.scaling import headroom_gain
from .errors import CocktailError
from .io import audio, files, stream
from .report import REPORT_NAME, dumps
from .separation import Options, run


class FolderSink:
    """speaker_1.wav ... in a folder, written under temporary names until commit.

    ``deferred``: the headroom gain is not known yet. Samples are kept as
    32-bit float while the peak is tracked; :meth:`settle` then chooses the
    gain and, when the gain or the final format asks for it, rewrites the
    files once (cheaper than separating a room recording twice).

    Parameters
    ----------
    folder : str or Path
        Where the files go; it exists.
    n_sources : int
        Number of files, one per speaker.
    n_frames : int or None
        Length of the recording in samples, when known.
    sample_rate : int
        In Hz.
    subtype : str
        libsndfile sample format of the final files.
    deferred : bool
        Choose the headroom gain from the peak written (see above).

    Raises
    ------
    CocktailError
        When the files cannot be created; none is left behind.
    """

    def __init__(self, folder, n_sources, n_frames, sample_rate, subtype, deferred=False):
        self.folder = Path(folder)
        self.names = [f"speaker_{i}.wav" for i in range(1, n_sources + 1)]
        self.subtype, self.rate, self.frames = subtype, sample_rate, n_frames
        self.deferred = deferred
        self.peak = 0.0
        self.writers = []
        try:
            for n in self.names:
                self.writers.append(
                    stream.Writer(
                        self.folder / n,
                        channels=1,
                        sample_rate=sample_rate,
                        subtype="FLOAT" if deferred else subtype,
                        frames=n_frames,
                    )
                )
        except OSError as exc:
            self.discard()
            raise CocktailError(f"cannot write to '{self.folder}': {exc.strerror or exc}") from None

    def write(self, block):
        """Append a block to each speaker's file; with ``deferred``, track its peak."""
        if block.shape[1]:
            if self.deferred:
                self.peak = max(self.peak, float(np.abs(block).max()))
            for w, row in zip(self.writers, block):
                w.write(row[None, :])

    def settle(self):
        """Finish the temporary files; return the headroom gain applied (1 if none).

        Returns
        -------
        float
            1.0 unless the sink was ``deferred``.
        """
        if not self.deferred:
            return 1.0
        gain = headroom_gain(self.peak)
        for w in self.writers:
            w.close_temporary()
        if gain != 1.0 or self.subtype != "FLOAT":
            rewritten = []
            try:
                for w, n in zip(self.writers, self.names):
                    out = stream.Writer(
                        self.folder / n,
                        channels=1,
                        sample_rate=self.rate,
                        subtype=self.subtype,
                        frames=self.frames,
                    )
                    rewritten.append(out)
                    with sf.SoundFile(w.temporary) as f:
                        for b in f.blocks(1 << 18, dtype="float64", always_2d=True):
                            out.write(b.T * gain)
            except BaseException:
                for out in rewritten:
                    out.discard()
                raise
            for w in self.writers:
                w.discard()
            self.writers = rewritten
        return gain

    def commit(self):
        """Rename every file into place."""
        for w in self.writers:
            w.commit()

    def discard(self):
        """Remove every temporary file."""
        for w in self.writers:
            w.discard()


def _options(options):
    if options is None:
        return Options()
    return options if isinstance(options, Options) else Options(**options)


def separate_file(
    input_path, output_dir, options=None, *, raw=None, report_path=None, callback=None
):
    """Separate one recording into ``output_dir``; return a summary dict.

    The folder receives speaker_1.wav ... and separation.json (or the report
    goes to ``report_path``). Nothing is left in the folder on failure (nor
    the folder, if this run made it). speaker_N.wav files of an earlier run
    with more speakers are removed, so the folder holds one separation.

    Parameters
    ----------
    input_path : str or Path
        The recording, or ``-`` for standard input.
    output_dir : str or Path
        The folder for the speakers' files; made when missing.
    options : Options or dict, optional
        An :class:`~cocktail.separation.Options` or a dict of its fields.
    raw : tuple, optional
        ``(rate, channels, encoding)``: reads headerless PCM.
    report_path : str or Path, optional
        Where the report goes instead, ``-`` for stdout.
    callback : callable, optional
        ``callback(iteration, value, what)`` as the solver progresses.

    Returns
    -------
    dict
        ``input``, ``output``, ``n_sources``, ``model``, ``model_reason``,
        ``sources_reason``, ``converged``, ``iterations``, ``seconds`` (time
        taken), ``duration`` (of the recording, in seconds) and ``warnings``.

    Raises
    ------
    CocktailError
        For bad input, or outputs that cannot be written.
    """
    opts = _options(options)
    started = time.monotonic()
    made = files.missing_folders(output_dir)
    try:
        summary = _separate_into(input_path, output_dir, opts, raw, report_path, callback, started)
        files.keep_folder(output_dir)
        return summary
    except BaseException:
        files.remove_folders(made)  # a failed or interrupted run leaves no folder it made
        raise


def _stale_outputs(folder, n_sources):
    """speaker_N.wav files of an earlier run with more speakers."""
    stale = []
    for p in folder.glob("speaker_*.wav"):
        number = p.stem[len("speaker_") :]
        if number.isdigit() and int(number) > n_sources and not p.name.startswith("."):
            stale.append(p)
    return stale


def _summary(report, warnings, started, **where):
    """What the command line says of a finished run."""
    return {
        **where,
        "n_sources": report["n_sources"],
        "model": report["model"],
        "model_reason": report.get("model_reason"),
        "sources_reason": report.get("sources_reason"),
        "frame_reason": report.get("frame_reason"),
        "converged": report.get("converged", True),
        "iterations": report.get("iterations"),
        "seconds": time.monotonic() - started,
        "duration": report["n_samples"] / report["sample_rate"],
        "pace": report.get("real_time_factor"),
        "warnings": warnings,
    }


def _separate_into(input_path, output_dir, opts, raw, report_path, callback, started):
    folder = files.prepare_folder(output_dir)
    report_to_stdout = str(report_path) == audio.STDIO
    report_path = Path(report_path) if report_path else folder / REPORT_NAME
    if not report_to_stdout:
        files.check_writable_file(report_path)
    with stream.open_input(input_path, raw=raw) as reader:
        subtype = audio.output_subtype(reader.subtype)
        targets = [folder / f"speaker_{i}.wav" for i in range(1, reader.channels + 1)]
        files.check_outputs_apart(input_path, targets + ([] if report_to_stdout else [report_path]))
        if opts.apply and opts.apply != audio.STDIO:
            files.check_outputs_apart(
                opts.apply, targets + ([] if report_to_stdout else [report_path])
            )

        def open_sink(n, frames, deferred=False):
            return FolderSink(folder, n, frames, reader.sample_rate, subtype, deferred)

        done = run(reader, open_sink, opts, callback=callback, defer_gain=True)
    report, sink = done.report, done.sink
    try:
        if report["output_gain"] is None:
            done.set_gain(sink.settle())
        report.update(outputs=sink.names, output_subtype=subtype, warnings=done.warnings)
        if report_to_stdout:
            sink.commit()
            audio.write_stdout(dumps(report))
        else:
            with files.AtomicWriter() as w:
                w.add(report_path, dumps(report))
                sink.commit()
    except BaseException:
        sink.discard()
        raise
    for p in _stale_outputs(folder, report["n_sources"]):
        p.unlink()
    return _summary(report, done.warnings, started, input=str(input_path), output=str(folder))


class StdoutSink:
    """One multi-channel WAV (or raw PCM) stream on standard output.

    Parameters
    ----------
    n_sources : int
        Channels of the stream, one per speaker.
    n_frames : int or None
        Length of the recording in samples, when known.
    sample_rate : int
        In Hz.
    subtype : str
        libsndfile sample format of the stream.
    raw : bool
        Write headerless PCM instead of WAV.
    """

    def __init__(self, n_sources, n_frames, sample_rate, subtype, raw):
        self.out = audio.stdout_stream()
        self.writer = stream.Writer(
            None,
            channels=n_sources,
            sample_rate=sample_rate,
            subtype=subtype,
            frames=n_frames,
            raw=raw,
            stream=self.out,
        )

    def write(self, block):
        """Write a block and flush it: a live listener hears each block as it is done."""
        if block.shape[1]:
            self.writer.write(block)
            self.out.flush()  # a live listener hears each block as it is done

    def commit(self):
        """Finish the stream (the header, when nothing was sent yet) and flush it."""
        self.writer.commit()

    def discard(self):
        """Nothing to do: what was sent cannot be taken back."""
        pass


def separate_to_stdout(input_path, options=None, *, raw=None, report_path=None, callback=None):
    """Separate one recording into one multi-channel stream on standard output.

    As :func:`separate_file`, but the speakers go to stdout as the channels
    of one WAV (raw PCM for raw input), block by block as they are done; the
    report goes to ``report_path`` when given.

    Parameters
    ----------
    input_path : str or Path
        The recording, or ``-`` for standard input.
    options : Options or dict, optional
        As :func:`separate_file`.
    raw : tuple, optional
        ``(rate, channels, encoding)``: reads headerless PCM.
    report_path : str or Path, optional
        Where to write the report; none is written without it.
    callback : callable, optional
        ``callback(iteration, value, what)`` as the solver progresses.

    Returns
    -------
    dict
        The summary :func:`separate_file` returns, with ``output`` "-".

    Raises
    ------
    CocktailError
        For bad input, or when standard output is the input file (or the saved
    unmixing).
    """
    opts = _options(options)
    started = time.monotonic()
    audio.stdout_stream()
    files.check_stdout_apart([input_path, opts.apply])
    if report_path is not None:
        files.check_writable_file(report_path)
        files.check_outputs_apart(input_path, [report_path])
        if opts.apply is not None:
            files.check_outputs_apart(opts.apply, [report_path])
    with stream.open_input(input_path, raw=raw) as reader:
        subtype = audio.output_subtype(reader.subtype)
        done = run(
            reader,
            lambda n, frames: StdoutSink(n, frames, reader.sample_rate, subtype, raw is not None),
            opts,
            callback=callback,
        )
        done.sink.commit()
    report = done.report
    if report_path is not None:
        report.update(outputs=[], output_subtype=subtype, warnings=done.warnings)
        with files.AtomicWriter() as writer:
            writer.add(report_path, dumps(report))
    return _summary(report, done.warnings, started, input=str(input_path), output=audio.STDIO)


def expand_inputs(paths):
    """Files as given; folders replaced by the audio files directly inside them.

    Audio files are .wav, .flac, .aiff, .aif and .ogg, sorted by name;
    hidden ones (names starting with a dot) are left out.

    Parameters
    ----------
    paths : list of str or Path
        Files, folders, or ``-`` for standard input.

    Returns
    -------
    list of str

    Raises
    ------
    CocktailError
        When a folder holds no audio files.
    """
    out = []
    for p in paths:
        if str(p) != audio.STDIO and Path(p).is_dir():
            found = sorted(
                q
                for q in Path(p).iterdir()
                if q.suffix.lower() in (".wav", ".flac", ".aiff", ".aif", ".ogg")
                and not q.name.startswith(".")
            )
            if not found:
                raise CocktailError(f"folder '{p}' holds no audio files")
            out.extend(str(q) for q in found)
        else:
            out.append(str(p))
    return out


def output_folders(inputs, root):
    """One folder per input below ``root``, named after the input; no two alike.

    A name seen before gets ``-2``, ``-3``... appended.

    Parameters
    ----------
    inputs : list of str
    root : str or Path

    Returns
    -------
    list of str
        In the order of ``inputs``.
    """
    seen = {}
    folders = []
    for p in inputs:
        stem = Path(p).stem
        k = seen.get(stem, 0)
        seen[stem] = k + 1
        folders.append(str(Path(root) / (stem if k == 0 else f"{stem}-{k + 1}")))
    return folders


def _job(args):
    input_path, folder, options = args
    try:
        return input_path, separate_file(input_path, folder, options), None
    except CocktailError as exc:
        return input_path, None, str(exc)


#: Exit status of a worker stopped by Ctrl-C or SIGTERM (as the command's).
INTERRUPTED_STATUS = 130
#: Seconds to wait for stopped workers to remove their temporary files.
STOP_WAIT = 10.0

_job_running = False


def _worker_signal(signum, frame):
    """In a worker: a job in progress cleans up (as on Ctrl-C), an idle worker leaves."""
    if _job_running:
        raise KeyboardInterrupt
    os._exit(INTERRUPTED_STATUS)


def _worker_init():
    signal.signal(signal.SIGINT, _worker_signal)
    signal.signal(signal.SIGTERM, _worker_signal)


def _worker_job(args):
    global _job_running
    _job_running = True
    try:
        return _job(args)
    except KeyboardInterrupt:
        # The pool must not hand this worker another file.
        files.clean_up_after_interruption()
        os._exit(INTERRUPTED_STATUS)
    finally:
        _job_running = False


#: Whether a pool of workers was stopped mid-work in this process (see
#: :func:`cocktail.cli.main`, which then leaves without joining its threads).
stopped_a_pool = False


def _stop_pool(pool):
    """Stop every worker now: queued files are dropped, running ones clean up."""
    global stopped_a_pool
    stopped_a_pool = True
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(STOP_WAIT)
    for p in processes:
        if p.is_alive():
            # Deaf to SIGTERM for STOP_WAIT seconds: it cannot clean up, but it
            # must not outlive the command (seen once: a worker left running
            # its solver, holding the command's stderr open).
            p.kill()
            p.join(STOP_WAIT)


def separate_many(inputs, folders, options=None, *, jobs=1, on_done=None):
    """Separate each input into its folder, ``jobs`` files at a time.

    A failing file does not stop the others.

    Parameters
    ----------
    inputs : list of str
        The recordings.
    folders : list of str
        One output folder per input.
    options : Options or dict, optional
        As :func:`separate_file`, for every input.
    jobs : int
        Files separated at once, each in a worker process (1: in this one).
    on_done : callable, optional
        ``on_done(input, summary, error)`` is called as each file finishes.

    Returns
    -------
    list of (str, dict or None, str or None)
        (input, summary, error) in input order: the summary of
        :func:`separate_file`, or the message of its CocktailError.

    Raises
    ------
    CocktailError
        When a worker process stopped unexpectedly (out of memory?).
    KeyboardInterrupt
        When the workers were interrupted (Ctrl-C or SIGTERM).
    """
    opts = asdict(_options(options))
    tasks = list(zip(inputs, folders, [opts] * len(inputs)))
    results = [None] * len(tasks)  # by position: the same file may be given twice
    if jobs <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            results[i] = _job(t)
            if on_done:
                on_done(*results[i])
    else:
        # Imported here: a single recording (and every live run) needs no pool.
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init)
        try:
            futures = {pool.submit(_worker_job, t): i for i, t in enumerate(tasks)}
            for f in as_completed(futures):
                results[futures[f]] = f.result()
                if on_done:
                    on_done(*results[futures[f]])
        except BrokenProcessPool:
            # A worker left: interrupted with the others (Ctrl-C reaches the
            # whole process group), or killed from outside.
            stopped = [p.exitcode for p in (getattr(pool, "_processes", None) or {}).values()]
            _stop_pool(pool)
            if INTERRUPTED_STATUS in stopped or not stopped:
                raise KeyboardInterrupt from None
            raise CocktailError("a worker process stopped unexpectedly (out of memory?)") from None
        except BaseException:
            _stop_pool(pool)
            raise
        pool.shutdown()
    return results


def summary_line(results):
    """One line saying how many files were separated, failed, and their audio length.

    Parameters
    ----------
    results : list of (str, dict or None, str or None)
        As :func:`separate_many` returns.

    Returns
    -------
    str
    """
    ok = sum(1 for _, s, e in results if e is None)
    failed = len(results) - ok
    audio_s = sum(s["duration"] for _, s, e in results if e is None)
    return (
        f"{len(results)} file{'s' if len(results) != 1 else ''}: {ok} separated"
        + (f", {failed} failed" if failed else "")
        + f" ({audio_s:.1f} s of audio)"
    )
