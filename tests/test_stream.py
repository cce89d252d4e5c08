"""Long recordings, live streams, raw PCM and batches of files."""

import json
import resource
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from cocktail.batch import separate_file
from cocktail.metrics import amari_index
from cocktail.separation import fit_plan
from helpers import SAMPLES, cocktail_cmd, run, sir_db, speechlike


def pipe(args, data, chunk=None, pause=0.0):
    """Run cocktail with ``data`` written into a real pipe, optionally in slow chunks."""
    p = subprocess.Popen(
        cocktail_cmd() + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    err = []

    def feed():
        step = chunk or len(data)
        try:
            for i in range(0, len(data), step):
                p.stdin.write(data[i : i + step])
                p.stdin.flush()
                time.sleep(pause)
        except BrokenPipeError:
            pass  # the reader gave up early; its exit status says why
        finally:
            p.stdin.close()

    threads = [
        threading.Thread(target=feed),
        threading.Thread(target=lambda: err.append(p.stderr.read())),
    ]
    for t in threads:
        t.start()
    out = p.stdout.read()
    for t in threads:
        t.join(timeout=120)
    return p.wait(timeout=120), out, err[0].decode()


def unknown_length(wav_bytes, size=0xFFFFFFFF):
    """The same WAV with the sizes a live recorder writes: it cannot know them."""
    b = bytearray(wav_bytes)
    b[4:8] = size.to_bytes(4, "little")
    pos = b.index(b"data") + 4
    b[pos : pos + 4] = size.to_bytes(4, "little")
    return bytes(b)


def test_stdin_stream_equals_file():
    mix = SAMPLES / "mixture.wav"
    from_file = subprocess.run(
        cocktail_cmd() + ["separate", str(mix), "-o", "-", "-q"], capture_output=True, timeout=120
    )
    rc, from_pipe, err = pipe(["separate", "-", "-o", "-", "-q"], mix.read_bytes(), chunk=10000)
    assert from_file.returncode == 0 and rc == 0, err
    assert from_pipe == from_file.stdout


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0])
def test_unknown_length_wav_stream_through_a_pipe(size):
    mix = SAMPLES / "mixture.wav"
    rc, out, err = pipe(
        ["separate", "-", "-o", "-", "-q"],
        unknown_length(mix.read_bytes(), size),
        chunk=32000,
        pause=0.01,
    )
    assert rc == 0, err
    # The output is a stream too: the reader learns its length from EOF.
    assert int.from_bytes(out[40:44], "little") == 0xFFFFFFFF
    y = np.frombuffer(out[44:], dtype="<i2").reshape(-1, 2)
    x, rate = sf.read(mix, dtype="int16")
    assert y.shape == x.shape
    ref = np.frombuffer(
        subprocess.run(
            cocktail_cmd() + ["separate", str(mix), "-o", "-", "-q"], capture_output=True
        ).stdout[44:],
        dtype="<i2",
    ).reshape(-1, 2)
    assert np.abs(y.astype(int) - ref).max() <= 1


def test_raw_pcm_in_and_out():
    mix = SAMPLES / "mixture.wav"
    x, rate = sf.read(mix, dtype="int16")
    rc, out, err = pipe(
        [
            "separate",
            "-",
            "--raw",
            "--rate",
            str(rate),
            "--channels",
            "2",
            "--encoding",
            "s16",
            "-o",
            "-",
            "-q",
        ],
        x.tobytes(),
        chunk=50000,
    )
    assert rc == 0, err
    wav = subprocess.run(
        cocktail_cmd() + ["separate", str(mix), "-o", "-", "-q"], capture_output=True
    ).stdout
    assert out == wav[44:]  # the same samples, without the header


def test_raw_needs_rate_and_channels():
    r = run("separate", "-", "--raw", "--rate", 8000, input=b"\0" * 100)
    assert r.exit_code == 2
    assert r.stderr == "Error: --raw input needs --channels (see 'cocktail separate --help')\n"


def test_long_recording_is_estimated_from_spread_pieces(write_wav, rng, tmp_path):
    """Past --fit-seconds the unmixing comes from pieces spread over the file."""
    S = speechlike(2, 8000 * 60, rng)
    A = np.array([[1.0, 0.7], [0.4, 1.0]])
    mix = write_wav("long.wav", 0.3 * A @ S, rate=8000)
    summary = separate_file(mix, tmp_path / "o", {"fit_seconds": 20.0, "block_seconds": 0.5})
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    assert summary["duration"] == 60.0
    assert amari_index(np.array(report["unmixing"]) @ A) < 0.02
    y = sf.read(tmp_path / "o" / "speaker_1.wav")[0]
    assert len(y) == S.shape[1]
    plan = fit_plan(8000 * 60, 2, 8000, 20.0)
    assert len(plan) == 4 and plan[0][0] == 0 and plan[-1][0] + plan[-1][1] == 8000 * 60
    assert all(length == 8000 * 5 for _, length in plan)


def test_block_size_does_not_change_the_result(tmp_path):
    mix = SAMPLES / "mixture.wav"
    separate_file(mix, tmp_path / "a", {"block_seconds": 1.0})
    separate_file(mix, tmp_path / "b", {"block_seconds": 0.01})
    for i in (1, 2):
        a = sf.read(tmp_path / "a" / f"speaker_{i}.wav", dtype="int16")[0].astype(int)
        b = sf.read(tmp_path / "b" / f"speaker_{i}.wav", dtype="int16")[0].astype(int)
        assert np.abs(a - b).max() <= 1


def test_file_larger_than_the_memory_limit_still_separates(tmp_path):
    """A 500 MB recording separates in a process limited to 450 MB of address space."""
    rate, channels = 48000, 8
    seconds = 330
    rng = np.random.default_rng(0)
    A = rng.standard_normal((channels, channels))
    path = tmp_path / "big.wav"
    with sf.SoundFile(path, "w", rate, channels, subtype="FLOAT") as f:
        block = rate * 10
        S0 = speechlike(channels, block, rng, rate=rate)
        for k in range(seconds // 10):
            S = np.roll(S0, k * 977, axis=1)  # the same sources, shifted: cheap to make
            f.write((0.05 * A @ S).T.astype(np.float32))
    limit = 450 << 20
    assert path.stat().st_size > limit

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    p = subprocess.run(
        cocktail_cmd() + ["separate", str(path), "-o", str(tmp_path / "out"), "-q"],
        preexec_fn=cap,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    report = json.loads((tmp_path / "out" / "separation.json").read_text())
    assert report["n_samples"] == rate * seconds
    assert amari_index(np.array(report["unmixing"]) @ A) < 0.05
    assert sf.info(tmp_path / "out" / "speaker_8.wav").frames == rate * seconds


def test_adaptive_follows_a_mixture_that_changes(write_wav, tmp_path):
    rng = np.random.default_rng(21)
    rate, half = 8000, 8000 * 8
    S = speechlike(2, 2 * half, rng)
    A1 = np.array([[1.0, 0.6], [0.5, 1.0]])
    A2 = np.array([[0.3, 1.0], [1.0, -0.4]])
    X = np.hstack([A1 @ S[:, :half], A2 @ S[:, half:]])
    mix = write_wav("moving.wav", 0.2 * X, rate=rate)
    r = run("separate", mix, "--adaptive", "-o", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    Y = np.stack([sf.read(tmp_path / "o" / f"speaker_{i}.wav")[0] for i in (1, 2)])
    settle = 2 * rate
    for lo, hi in ((settle, half), (half + settle, 2 * half)):
        for y in Y:
            assert sir_db(y[lo:hi], S[:, lo:hi]) > 20
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    assert report["model"] == "adaptive"
    # One matrix for the whole recording fails on one of the halves.
    r = run("separate", mix, "--model", "instantaneous", "-o", tmp_path / "batch", "-q")
    Yb = np.stack([sf.read(tmp_path / "batch" / f"speaker_{i}.wav")[0] for i in (1, 2)])
    worst = min(
        min(sir_db(y[lo:hi], S[:, lo:hi]) for y in Yb)
        for lo, hi in ((settle, half), (half + settle, 2 * half))
    )
    assert worst < 15


def test_batch_with_one_corrupt_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.wav", "b.wav"):
        (folder / name).write_bytes((SAMPLES / "mixture.wav").read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    r = run("separate", folder, "-o", tmp_path / "out", "--jobs", 2)
    assert r.exit_code == 1
    for name in ("a", "b"):
        assert (tmp_path / "out" / name / "speaker_2.wav").exists()
    assert not (tmp_path / "out" / "broken" / "speaker_1.wav").exists()
    assert f"broken.wav: Error: cannot read '{folder / 'broken.wav'}'" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1] == (
        f"Error: 3 files: 2 separated, 1 failed (12.5 s of audio); failed: {folder / 'broken.wav'}"
    )


def test_batch_names_each_output_after_its_input(tmp_path):
    a, b = tmp_path / "x" / "take.wav", tmp_path / "y" / "take.wav"
    for p in (a, b):
        p.parent.mkdir()
        p.write_bytes((SAMPLES / "mixture.wav").read_bytes())
    r = run("separate", a, b, "-o", tmp_path / "out", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "take" / "speaker_1.wav").exists()
    assert (tmp_path / "out" / "take-2" / "speaker_1.wav").exists()


def test_batch_given_one_file_twice_reports_each_folder(tmp_path):
    from cocktail.batch import output_folders, separate_many

    mix = str(SAMPLES / "mixture.wav")
    folders = output_folders([mix, mix], tmp_path / "out")
    results = separate_many([mix, mix], folders)
    assert [s["output"] for _, s, _ in results] == folders
    assert folders[0] != folders[1]
    r = run("separate", mix, mix, "-o", tmp_path / "cli", "--html", "-q")
    assert r.exit_code == 0, r.output
    for name in ("mixture", "mixture-2"):
        assert (tmp_path / "cli" / name / "index.html").is_file()


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    inputs = []
    for k in range(3):
        p = tmp_path / f"m{k}.wav"
        p.write_bytes((SAMPLES / "mixture.wav").read_bytes())
        inputs.append(str(p))
    outs = [str(tmp_path / "out" / f"m{k}") for k in range(3)]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        summaries = client.gather(client.map(separate_file, inputs, outs))
    assert [s["n_sources"] for s in summaries] == [2, 2, 2]
    for o in outs:
        assert json.loads((tmp_path / "out" / o.split("/")[-1] / "separation.json").read_text())[
            "converged"
        ]


def test_long_room_recording_in_one_pass(tmp_path):
    """Room model past --fit-seconds: every sample written, integer format kept,
    the headroom set after the single pass and recorded."""
    voices = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]
    assert (
        run(
            "mix", *voices, "--room", 0.2, "--subtype", "PCM_16", "-o", tmp_path / "m.wav", "-q"
        ).exit_code
        == 0
    )
    r = run("separate", tmp_path / "m.wav", "--fit-seconds", 5, "-o", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "o" / "separation.json").read_text())
    frames = sf.info(tmp_path / "m.wav").frames
    assert report["model"] == "convolutive" and report["n_samples"] == frames
    for i in (1, 2):
        info = sf.info(tmp_path / "o" / f"speaker_{i}.wav")
        assert info.frames == frames and info.subtype == "PCM_16"
        y = sf.read(tmp_path / "o" / f"speaker_{i}.wav", dtype="int16")[0]
        assert np.abs(y.astype(int)).max() < 32767
    assert 0 < report["output_gain"] <= 1
    scores = json.loads(run("evaluate", tmp_path / "o", "-r", tmp_path / "m.json", "--json").stdout)
    assert scores["average"]["sdr_improvement"] > 8


def test_raw_pcm_file_to_folder(tmp_path):
    x, rate = sf.read(SAMPLES / "mixture.wav", dtype="int16")
    raw = tmp_path / "mix.raw"
    raw.write_bytes(x.tobytes())
    r = run("separate", raw, "--raw", "--rate", rate, "--channels", 2, "-o", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    wav = run("separate", SAMPLES / "mixture.wav", "-o", tmp_path / "w", "-q")
    assert wav.exit_code == 0
    for i in (1, 2):
        assert (tmp_path / "o" / f"speaker_{i}.wav").read_bytes() == (
            tmp_path / "w" / f"speaker_{i}.wav"
        ).read_bytes()


def test_live_stream_output_starts_before_the_input_ends():
    """--adaptive on a live pipe: separated audio comes out while audio still goes in."""
    x, rate = sf.read(SAMPLES / "mixture.wav", dtype="int16")
    x = x[: 5 * rate]
    header = unknown_length(
        subprocess.run(
            cocktail_cmd()
            + [
                "mix",
                str(SAMPLES / "alice.wav"),
                str(SAMPLES / "bob.wav"),
                "-o",
                "-",
                "--subtype",
                "PCM_16",
            ],
            capture_output=True,
        ).stdout[:44]
    )
    p = subprocess.Popen(
        cocktail_cmd() + ["separate", "-", "--adaptive", "-o", "-", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    fed = threading.Event()

    def feed():
        p.stdin.write(header)
        for i in range(0, len(x), rate // 10):
            p.stdin.write(x[i : i + rate // 10].tobytes())
            p.stdin.flush()
            time.sleep(0.1)  # a live source: a tenth of a second every tenth
        fed.set()
        p.stdin.close()

    t = threading.Thread(target=feed)
    t.start()
    first = p.stdout.read(44 + 4 * rate // 10)  # the header and a tenth of a second
    assert len(first) == 44 + 4 * rate // 10
    assert not fed.is_set()  # the input was still arriving
    rest = p.stdout.read()
    t.join()
    assert p.wait(timeout=60) == 0
    assert len(first) + len(rest) == 44 + 4 * len(x)


def test_apply_a_saved_unmixing_to_another_recording(tmp_path):
    """The same microphones hear other speakers: reuse the unmixing, no estimation."""
    voices = [SAMPLES / "alice.wav", SAMPLES / "bob.wav", SAMPLES / "carol.wav"]
    assert (
        run("mix", voices[0], voices[1], "-o", tmp_path / "a.wav", "--seed", 3, "-q").exit_code == 0
    )
    assert run("separate", tmp_path / "a.wav", "-o", tmp_path / "sa", "-q").exit_code == 0
    # Same room, same matrix, other talkers.
    assert (
        run(
            "mix",
            voices[2],
            voices[0],
            "-o",
            tmp_path / "b.wav",
            "--matrix",
            tmp_path / "a.json",
            "--truth",
            tmp_path / "tb",
            "-q",
        ).exit_code
        == 0
    )
    r = run(
        "separate",
        tmp_path / "b.wav",
        "--apply",
        tmp_path / "sa" / "separation.json",
        "-o",
        tmp_path / "sb",
        "-q",
    )
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "sb" / "separation.json").read_text())
    assert report["iterations"] == 0 and "applied from" in report["model_reason"]
    truth = np.stack([sf.read(tmp_path / "tb" / f"source_{i}.wav")[0] for i in (1, 2)])
    for i in (1, 2):
        y = sf.read(tmp_path / "sb" / f"speaker_{i}.wav")[0]
        assert sir_db(y, truth) > 30


def test_apply_needs_the_same_microphones(tmp_path):
    voices = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]
    run("mix", *voices, "-o", tmp_path / "a.wav", "--mics", 3, "-q")
    run("separate", tmp_path / "a.wav", "--sources", 2, "-o", tmp_path / "sa", "-q")
    r = run(
        "separate",
        SAMPLES / "mixture.wav",
        "--apply",
        tmp_path / "sa" / "separation.json",
        "-o",
        tmp_path / "o",
    )
    assert r.exit_code == 1
    assert r.stderr == (
        f"Error: the unmixing in '{tmp_path / 'sa' / 'separation.json'}' is for 3 "
        f"microphones; '{SAMPLES / 'mixture.wav'}' has 2\n"
    )
