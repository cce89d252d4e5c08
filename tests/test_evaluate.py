"""cocktail evaluate: known answers, the JSON schema, every adjustment and error."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cocktail import evaluate as ev
from helpers import ok, only_error, run

SAMPLES = Path(__file__).parent.parent / "sample_audio"
RATE = 8000


def scores(result):
    return json.loads(ok(result).stdout)


def speechlike(n, length, rng):
    """Laplace noise under slow, different envelopes: independent, speech-like."""
    t = np.arange(length) / RATE
    S = rng.laplace(size=(n, length))
    for i in range(n):
        S[i] *= np.maximum(np.sin(2 * np.pi * (1.5 + i) * t + i), 0.05)
    return 0.3 * S / np.abs(S).max()


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


@pytest.fixture
def wav(tmp_path):
    def write(name, samples, rate=RATE):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.atleast_2d(samples).T, rate, subtype="DOUBLE")
        return path

    return write


@pytest.fixture
def refs(rng):
    return speechlike(3, 2 * RATE, rng)


# ------------------------------------------------------------ known answers


def test_amari_index_known_values():
    assert ev.amari_index(np.eye(3)) == 0.0
    # Order and scale do not matter: a scaled permutation is perfect.
    assert ev.amari_index(np.array([[0, -3.0, 0], [0.1, 0, 0], [0, 0, 7]])) == pytest.approx(
        0, abs=1e-15
    )
    assert ev.amari_index(np.ones((4, 4))) == pytest.approx(1.0)
    # Rows and columns each sum to 1.5 x their largest entry: 2 * 2 * 0.5 / (2 * 2 * 1).
    assert ev.amari_index(np.array([[1.0, 0.5], [0.5, 1.0]])) == pytest.approx(0.5)
    assert ev.amari_index([[2.0]]) == 0.0


def test_perfect_estimates_score_very_high_and_amari_zero(tmp_path, wav, refs, monkeypatch):
    """Estimates equal to the sources, unmixing equal to inv(A): nothing to improve."""
    monkeypatch.chdir(tmp_path)
    srcs = [wav(f"s{i}.wav", refs[i]) for i in range(3)]
    ok(run("mix", *[s.name for s in srcs], "-o", "mix.wav", "-q"))
    side = json.loads(Path("mix.json").read_text())
    A = np.array(side["mixing"])
    out = tmp_path / "out"
    names = [f"speaker_{i}.wav" for i in (1, 2, 3)]
    for k, i in enumerate((2, 0, 1)):  # any order
        wav(f"out/{names[k]}", refs[i])
    report = {
        "model": "instantaneous",
        "iterations": 3,
        "outputs": names,
        "unmixing": (2.0 * np.linalg.inv(A)[[2, 0, 1]]).tolist(),
        "history": [1, 0.1, 1e-8],
        "input": "'mix.wav'",
        "sample_rate": RATE,
        "n_mics": 3,
        "n_samples": refs.shape[1],
    }
    (out / "separation.json").write_text(json.dumps(report))
    r = scores(run("evaluate", "out", "-r", "mix.json", "--json"))
    assert r["amari_index"] == pytest.approx(0.0, abs=1e-12)
    assert [s["estimate"] for s in r["sources"]] == [
        "speaker_2.wav",
        "speaker_3.wav",
        "speaker_1.wav",
    ]
    for s in r["sources"]:
        assert s["sdr"] > 140 and s["sir"] > 140 and s["si_sdr"] > 140
    assert r["average"]["sdr"] <= ev.CLAMP_DB
    # mix.wav sits next to mix.json, and separation.json names it: both find it.
    assert r["mixture"].endswith("mix.wav") and "'" not in r["mixture"]
    assert r["average"]["sdr_improvement"] > 100
    assert r["filter_length"] == 1
    assert r["filter_length_reason"] == "instantaneous mixing, from 'mix.json'"


def test_swapped_and_rescaled_estimates_score_the_same(wav, refs, rng):
    E = refs + 0.01 * rng.standard_normal(refs.shape)
    wav("refs.wav", refs)
    wav("est.wav", E)
    wav("swapped.wav", E[[2, 0, 1]] * np.array([[-3.0], [0.2], [1.7]]))
    a = scores(run("evaluate", wav("est.wav", E), "-r", wav("refs.wav", refs), "--json"))
    b = scores(
        run(
            "evaluate",
            wav("swapped.wav", E[[2, 0, 1]] * np.array([[-3.0], [0.2], [1.7]])),
            "-r",
            wav("refs.wav", refs),
            "--json",
        )
    )
    assert [s["estimate"] for s in a["sources"]] == ["channel 1", "channel 2", "channel 3"]
    assert [s["estimate"] for s in b["sources"]] == ["channel 2", "channel 3", "channel 1"]
    for sa, sb in zip(a["sources"], b["sources"]):
        for k in ("sdr", "sir", "sar", "si_sdr"):
            assert sa[k] == pytest.approx(sb[k], abs=1e-6)
    # The reference is not known to be instantaneous: the usual 512 taps.
    assert a["filter_length"] == 512
    assert "not known" in a["filter_length_reason"]


@pytest.mark.parametrize("level_db", [20.0, 5.0])
def test_known_noise_level_gives_that_sdr(wav, refs, rng, level_db):
    noise = rng.standard_normal(refs.shape)
    power = (refs**2).sum(axis=1, keepdims=True) / (noise**2).sum(axis=1, keepdims=True)
    E = refs + noise * np.sqrt(power * 10 ** (-level_db / 10))
    r = scores(
        run(
            "evaluate",
            wav("est.wav", E),
            "-r",
            wav("refs.wav", refs),
            "--filter-length",
            "1",
            "--json",
        )
    )
    assert r["filter_length_reason"] == "set with --filter-length"
    for s in r["sources"]:
        assert s["sdr"] == pytest.approx(level_db, abs=0.1)
        assert s["si_sdr"] == pytest.approx(level_db, abs=0.1)
        assert s["sar"] == pytest.approx(level_db, abs=0.1)  # noise is artefact, not interference
        assert s["sir"] > level_db + 10


def test_agrees_with_fast_bss_eval(wav, refs, rng):
    import fast_bss_eval

    A = np.array([[1.0, 0.2, -0.1], [0.1, 1.0, 0.3], [-0.2, 0.1, 1.0]])
    E = (A @ refs)[[1, 2, 0]] + 0.003 * rng.standard_normal(refs.shape)
    for taps in (1, 64):
        r = scores(
            run(
                "evaluate",
                wav("est.wav", E),
                "-r",
                wav("refs.wav", refs),
                "--filter-length",
                taps,
                "--json",
            )
        )
        sdr, sir, sar, perm = fast_bss_eval.bss_eval_sources(refs, E, filter_length=taps)
        for i, s in enumerate(r["sources"]):
            assert s["estimate"] == f"channel {perm[i] + 1}"
            assert (s["sdr"], s["sir"], s["sar"]) == pytest.approx(
                (sdr[i], sir[i], sar[i]), abs=1e-9
            )


def test_improvement_is_over_microphone_one(wav, refs):
    A = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]])
    X = A @ refs
    r = scores(
        run(
            "evaluate",
            wav("est.wav", X),
            "-r",
            wav("refs.wav", refs),
            "--mixture",
            wav("mix.wav", X),
            "--filter-length",
            "1",
            "--json",
        )
    )
    # The mixture as its own estimate: channel 1 is the baseline of source 1, so 0 there.
    assert r["sources"][0]["sdr_improvement"] == pytest.approx(0.0, abs=1e-9)
    assert r["sources"][1]["sdr_improvement"] > 3
    assert r["mixture"] == str(wav("mix.wav", X))


# --------------------------------------------------------------- the output


def test_json_schema(wav, refs):
    r = scores(
        run("evaluate", wav("est.wav", refs[::-1] + 0.01), "-r", wav("refs.wav", refs), "--json")
    )
    assert list(r) == [
        "cocktail_version",
        "estimates",
        "references",
        "mixture",
        "sample_rate",
        "n_samples",
        "duration",
        "n_references",
        "n_estimates",
        "filter_length",
        "filter_length_reason",
        "sources",
        "average",
        "amari_index",
        "unmatched_estimates",
        "notes",
    ]
    assert r["estimates"].endswith("est.wav") and r["references"].endswith("refs.wav")
    assert r["mixture"] is None and r["amari_index"] is None
    assert (r["sample_rate"], r["n_samples"], r["duration"]) == (RATE, 2 * RATE, 2.0)
    assert (r["n_references"], r["n_estimates"]) == (3, 3)
    assert isinstance(r["filter_length"], int) and isinstance(r["filter_length_reason"], str)
    metrics = [
        "sdr",
        "sir",
        "sar",
        "si_sdr",
        "sdr_improvement",
        "sir_improvement",
        "si_sdr_improvement",
    ]
    assert len(r["sources"]) == 3
    for s in r["sources"]:
        assert list(s) == ["reference", "estimate"] + metrics
        assert all(isinstance(s[k], float) for k in metrics[:4])
        assert all(s[k] is None for k in metrics[4:])  # no mixture, no improvement
    assert list(r["average"]) == metrics
    assert r["average"]["sdr"] == pytest.approx(np.mean([s["sdr"] for s in r["sources"]]))
    assert r["unmatched_estimates"] == [] and r["notes"] == []


def test_table_is_the_default(wav, refs):
    result = ok(run("evaluate", wav("est.wav", refs * 2), "-r", wav("refs.wav", refs)))
    lines = result.stdout.splitlines()
    assert lines[3].split() == ["reference", "estimate", "SDR", "SIR", "SAR", "SI-SDR"]
    assert lines[4].split()[:2] == ["channel", "1"]
    assert lines[7].startswith("average")
    assert "All figures in dB" in result.stdout
    assert "512 taps (the BSS Eval default" in result.stdout
    assert result.stderr == ""


# -------------------------------------------------------------- adjustments


def test_different_lengths_are_cut_to_the_shorter_with_a_note(wav, refs):
    result = ok(
        run(
            "evaluate",
            wav("est.wav", refs[:, :15200]),
            "-r",
            wav("refs.wav", refs),
            "--filter-length",
            "1",
        )
    )
    assert result.stderr == (
        "Note: lengths differ (estimates 1.900 s, references 2.000 s): scored the first 1.900 s\n"
    )
    r = scores(
        run(
            "evaluate", wav("est.wav", refs[:, :15200]), "-r", wav("refs.wav", refs), "--json", "-q"
        )
    )
    assert r["n_samples"] == 15200 and len(r["notes"]) == 1


def test_more_estimates_than_references_picks_the_best(tmp_path, wav, refs, rng):
    for i, k in enumerate((1, 0)):  # two references...
        wav(f"truth/source_{i + 1}.wav", refs[k])
    # ...and three estimates, one of them noise.
    wav("est/a.wav", refs[0] + 0.01 * rng.standard_normal(refs.shape[1]))
    wav("est/b.wav", 0.1 * rng.standard_normal(refs.shape[1]))
    wav("est/c.wav", refs[1])
    result = run("evaluate", tmp_path / "est", "-r", tmp_path / "truth", "--json")
    r = scores(result)
    assert [(s["reference"], s["estimate"]) for s in r["sources"]] == [
        ("source_1.wav", "c.wav"),
        ("source_2.wav", "a.wav"),
    ]
    assert r["unmatched_estimates"] == ["b.wav"]
    assert result.stderr == (
        "Note: 3 estimates for 2 references: scored the best-matching 2, left out 'b.wav'\n"
    )


def test_silent_estimate_scores_nothing_but_is_not_an_error(wav, refs):
    E = refs.copy()
    E[1] = 0
    result = run("evaluate", wav("est.wav", E), "-r", wav("refs.wav", refs), "--json")
    r = scores(result)
    silent = [s for s in r["sources"] if s["estimate"] == "channel 2"][0]
    assert silent["sdr"] is None and silent["si_sdr"] is None
    assert r["average"]["sdr"] is None
    assert "Note: estimate 'channel 2' is silent: its scores are undefined\n" == result.stderr


def test_sidecar_truth_and_relative_sources(tmp_path, wav, refs, monkeypatch):
    """Paths in a sidecar are relative to where mix ran; evaluate finds them from elsewhere."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for i in range(3):
        wav(f"work/s{i}.wav", refs[i])
    ok(run("mix", "s0.wav", "s1.wav", "s2.wav", "-o", "mix.wav", "--truth", "truth", "-q"))
    wav("est.wav", refs[[1, 2, 0]])
    monkeypatch.chdir(tmp_path)
    r = scores(run("evaluate", "est.wav", "-r", "work/mix.json", "--json"))
    assert [s["reference"] for s in r["sources"]] == ["s0.wav", "s1.wav", "s2.wav"]
    assert r["mixture"] == "work/mix.wav"  # found next to the sidecar
    assert min(s["sdr"] for s in r["sources"]) > 100
    # Without the truth files, the references are rebuilt from the sources.
    for f in (work / "truth").iterdir():
        f.unlink()
    result = run("evaluate", "est.wav", "-r", "work/mix.json", "--json")
    assert min(s["sdr"] for s in scores(result)["sources"]) > 100
    assert "references rebuilt from the sources" in result.stderr


def test_estimates_from_standard_input(tmp_path, wav, refs):
    data = (wav("est.wav", refs[::-1])).read_bytes()
    r = scores(run("evaluate", "-", "-r", wav("refs.wav", refs), "--json", input=data))
    assert r["estimates"] == "-"
    assert [s["estimate"] for s in r["sources"]] == ["channel 3", "channel 2", "channel 1"]


# ------------------------------------------------------------------- errors


def test_fewer_estimates_than_references(wav, refs):
    only_error(
        run("evaluate", wav("est.wav", refs[:2]), "-r", wav("refs.wav", refs)),
        f"'{wav('est.wav', refs[:2])}' holds 2 estimates but "
        f"'{wav('refs.wav', refs)}' has 3 references: every reference needs an estimate",
    )


def test_sample_rates_differ(wav, refs):
    est = wav("est.wav", refs, rate=16000)
    only_error(
        run("evaluate", est, "-r", wav("refs.wav", refs)),
        "the estimates are 16000 Hz but the references are 8000 Hz: resample one of them to match",
    )


def test_mixture_rate_differs(wav, refs):
    mix = wav("mix.wav", refs, rate=16000)
    only_error(
        run("evaluate", wav("est.wav", refs), "-r", wav("refs.wav", refs), "--mixture", mix),
        f"the mixture '{mix}' is 16000 Hz but the references are 8000 Hz: give the "
        "mixture they were mixed into",
    )


def test_fast_bss_eval_missing(wav, refs, monkeypatch):
    monkeypatch.setitem(sys.modules, "fast_bss_eval", None)  # import fails
    only_error(
        run("evaluate", wav("est.wav", refs), "-r", wav("refs.wav", refs)),
        "cocktail evaluate needs fast-bss-eval: pip install 'cocktail[evaluate]'",
    )


def test_matplotlib_missing_for_plot(wav, refs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    only_error(
        run(
            "evaluate",
            wav("est.wav", refs),
            "-r",
            wav("refs.wav", refs),
            "--plot",
            tmp_path / "p.png",
        ),
        "cocktail evaluate --plot needs matplotlib: pip install 'cocktail[plot]'",
    )
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "-r", "refs.wav"], "cannot read 'nope': no such file or folder"),
        (["est.wav", "-r", "nope.json"], "cannot read 'nope.json': no such file or folder"),
        (
            ["est.wav", "-r", "refs.wav", "--filter-length", "20000"],
            "the filter length (20000) is longer than the signals (16000 samples): "
            "use a shorter filter",
        ),
        (
            ["est.wav", "-r", "refs.wav", "--mixture", "nope.wav"],
            "cannot read 'nope.wav': no such file",
        ),
        (
            ["est.wav", "-r", "refs.wav", "--plot", "no/such/dir/p.png"],
            "cannot write to 'no/such/dir/p.png': folder 'no/such/dir' does not exist",
        ),
        (
            ["-", "-r", "-"],
            "only one of the estimates, the references and the mixture can come from "
            "standard input",
        ),
        (["empty", "-r", "refs.wav"], "no WAV files in 'empty': nothing to score"),
        (["est.wav", "-r", "empty"], "no WAV files in 'empty': no references to score against"),
        (
            ["stereo", "-r", "refs.wav"],
            "'stereo/a.wav' has 2 channels: a folder of estimates holds one mono WAV per source",
        ),
        (
            ["est.wav", "-r", "report.json"],
            "'report.json' is not a sidecar written by cocktail mix (it "
            "is a separation report: give the sidecar written by "
            "cocktail mix, e.g. mix.json)",
        ),
        (
            ["sidecar.json", "-r", "refs.wav"],
            "'sidecar.json' is not a separation report written by "
            "cocktail separate (it is the sidecar of cocktail mix: "
            "it holds the references)",
        ),
        (
            ["est.wav", "-r", "sidecar.json"],
            "cannot read source 'gone.wav' named in 'sidecar.json': no "
            "such file (looked in the working folder and in '.')",
        ),
        (
            ["est.wav", "-r", "bad.json"],
            "cannot read 'bad.json': not valid JSON (Expecting value: line 1 column 1 (char 0))",
        ),
        (
            ["est.wav", "-r", "silent.wav"],
            "reference 'channel 2' is silent: nothing to score against",
        ),
        (["nan.wav", "-r", "refs.wav"], "'nan.wav' channel 1 contains NaN or infinite samples"),
    ],
)
def test_errors(tmp_path, wav, refs, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    wav("est.wav", refs)
    wav("refs.wav", refs)
    (tmp_path / "empty").mkdir()
    wav("stereo/a.wav", refs[:2])
    (tmp_path / "report.json").write_text(json.dumps({"unmixing": [[1]], "outputs": ["a.wav"]}))
    (tmp_path / "sidecar.json").write_text(json.dumps({"sources": ["gone.wav"], "mixing": [[1]]}))
    (tmp_path / "bad.json").write_text("not json")
    silent = refs.copy()
    silent[1] = 0
    wav("silent.wav", silent)
    nan = refs.copy()
    nan[0, 5] = np.nan
    wav("nan.wav", nan)
    only_error(run("evaluate", *args), message)


def test_missing_reference_option_is_a_usage_error(wav, refs):
    result = run("evaluate", wav("est.wav", refs))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Missing option '-r' / '--reference'")


def test_help_has_an_example():
    result = ok(run("evaluate", "--help"))
    assert "Example:\n    cocktail mix alice.wav bob.wav -o mix.wav" in result.stdout


# --------------------------------------------------------------- end to end


def test_mix_separate_evaluate_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok(run("mix", SAMPLES / "alice.wav", SAMPLES / "bob.wav", "-o", "mix.wav", "-q"))
    ok(run("separate", "mix.wav", "-o", "out", "-q"))
    result = ok(run("evaluate", "out", "--reference", "mix.json", "--json"))
    r = json.loads(result.stdout)
    assert result.stderr == ""
    assert sorted(s["reference"] for s in r["sources"]) == ["alice.wav", "bob.wav"]
    assert all(s["sdr"] > 30 for s in r["sources"])
    assert r["average"]["sdr"] > 30
    assert r["filter_length"] == 1
    assert r["mixture"].endswith("mix.wav") and "'" not in r["mixture"]
    assert r["average"]["sdr_improvement"] > 20
    assert 0 <= r["amari_index"] < 0.02
    # The table says the same.
    table = ok(run("evaluate", "out", "-r", "mix.json")).stdout
    assert "Amari index" in table and "SDRi" in table


def test_a_room_sidecar_missing_its_room_is_one_error_line(tmp_path):
    """A hand-edited sidecar that no longer says how the room was made."""
    voices = [SAMPLES / "alice.wav", SAMPLES / "bob.wav"]
    ok(run("mix", *voices, "--room", 0.2, "-o", tmp_path / "m.wav", "-q"))
    side = json.loads((tmp_path / "m.json").read_text())
    del side["room"]["rt60"]
    (tmp_path / "m.json").write_text(json.dumps(side))
    only_error(
        run("evaluate", tmp_path / "m.wav", "-r", tmp_path / "m.json"),
        "the sidecar does not say how its room was made (no 'rt60')",
    )
