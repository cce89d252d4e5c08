"""The listening page: cocktail page, separate --html, and the page in a real browser."""

import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

from cocktail import page
from helpers import ok, run

RATE = 8000


def sources(seconds=1.0, seed=7):
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    S = rng.laplace(size=(2, n)) * np.array(
        [np.sin(2 * np.pi * 2 * t) > 0, np.sin(2 * np.pi * 3 * t + 1) > -0.3]
    )
    return 0.3 * S / np.abs(S).max(axis=1, keepdims=True)


@pytest.fixture
def separated(tmp_path, monkeypatch):
    """A 2-microphone mixture of two 1 s sources (mix.json beside it), separated into out/."""
    monkeypatch.chdir(tmp_path)
    for i, s in enumerate(sources()):
        sf.write(f"s{i}.wav", s, RATE)
    ok(run("mix", "s0.wav", "s1.wav", "-o", "mix.wav", "-q"))
    ok(run("separate", "mix.wav", "-o", "out", "-q"))
    return tmp_path


def links(text):
    """Every src and href of a page, unescaped, in order."""
    return [html.unescape(v) for v in re.findall(r'(?:src|href)="([^"]*)"', text)]


def audio_sources(text):
    return [html.unescape(v) for v in re.findall(r'<audio[^>]* src="([^"]*)"', text)]


def local(folder, link):
    return Path(folder) / unquote(link)


def test_page_of_a_separation(separated):
    result = ok(run("page", "out"))
    assert result.stderr == "page -> out/index.html\n"
    text = Path("out/index.html").read_text()
    assert "<title>Separation of &#x27;mix.wav&#x27;</title>" in text
    report = json.loads(Path("out/separation.json").read_text())
    assert f'{report["iterations"]}, <span class="ok">converged</span>' in text
    assert "instantaneous" in text and "No warnings" in text
    # Two microphones, then two speakers, each with a player and a picture.
    assert audio_sources(text) == [
        "listen/mic_1.wav",
        "listen/mic_2.wav",
        "speaker_1.wav",
        "speaker_2.wav",
    ]
    mix = sf.read("mix.wav", always_2d=True)[0]
    for m in range(2):
        copy, rate = sf.read(f"out/listen/mic_{m + 1}.wav")
        assert rate == RATE and sf.info(f"out/listen/mic_{m + 1}.wav").subtype == "PCM_16"
        assert np.max(np.abs(copy - mix[:, m])) < 1e-4  # the microphone itself, in 16 bits
    pictures = re.findall(r'<img src="([^"]*)"', text)
    assert len(pictures) == 4
    for p in pictures:
        data = local("out", p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (
            page.PICTURE_WIDTH,
            page.WAVE_HEIGHT + page.GAP_HEIGHT + page.SPEC_HEIGHT,
        )
    # Offline and movable: every link is relative and inside the folder.
    for link in links(text):
        assert "://" not in link and not link.startswith(("/", "..")), link
        assert local("out", link).is_file(), link
    assert "<link" not in text and "@import" not in text


def test_scores_from_the_mix_sidecar_match_cocktail_evaluate(separated):
    ok(run("page", "out"))
    text = Path("out/index.html").read_text()
    scores = json.loads(ok(run("evaluate", "out", "-r", "mix.json", "--json")).stdout)
    assert "&#x27;mix.json&#x27; (found next to the mixture)" in text
    for s in scores["sources"]:
        assert s["sdr"] > 20
        row = (
            f"<tr><td>{s['estimate']}</td><td>{s['reference']}</td><td>{s['sdr']:.1f}</td>"
            f"<td>{s['sir']:.1f}</td><td>{s['sar']:.1f}</td><td>{s['si_sdr']:.1f}</td>"
            f"<td>{s['sdr_improvement']:.1f}</td>"
        )
        assert row in text
        assert f"SDR {s['sdr']:.1f} dB against {s['reference']}" in text


def test_scores_from_cocktail_evaluate_json(separated):
    Path("scores.json").write_text(ok(run("evaluate", "out", "-r", "mix.json", "--json")).stdout)
    Path("mix.json").rename("aside.json")  # not found by itself any more
    ok(run("page", "out"))
    assert "Scores" not in Path("out/index.html").read_text()
    result = ok(run("page", "out", "-r", "scores.json"))
    assert result.stderr == (
        "Note: scores as written by cocktail evaluate in 'scores.json'\npage -> out/index.html\n"
    )
    text = Path("out/index.html").read_text()
    for s in json.loads(Path("scores.json").read_text())["sources"]:
        assert f"<td>{s['estimate']}</td><td>{s['reference']}</td><td>{s['sdr']:.1f}</td>" in text


def test_hostile_file_names_are_escaped_and_linked(tmp_path):
    folder = tmp_path / "wavs"
    folder.mkdir()
    names = ["<script>.wav", "a&b \"q\" 'x' #1 %20.wav"]
    for name, s in zip(names, sources()):
        sf.write(folder / name, s, RATE)
    result = ok(run("page", folder))
    assert result.stderr.endswith("page -> " + str(folder / "index.html") + "\n")
    text = (folder / "index.html").read_text()
    assert text.count("<script") == 1  # the page's own
    assert "&lt;script&gt;.wav" in text
    assert "a&amp;b &quot;q&quot; &#x27;x&#x27; #1 %20.wav" in text
    srcs = audio_sources(text)
    assert srcs == ["%3Cscript%3E.wav", "a%26b%20%22q%22%20%27x%27%20%231%20%2520.wav"]
    assert [local(folder, s).name for s in srcs] == names
    assert "No separation.json in this folder" in text


def test_warnings_and_hostile_report_text_are_shown_escaped(separated):
    ok(run("separate", "mix.wav", "-o", "poor", "--max-iter", "2", "-q"))
    report = json.loads(Path("poor/separation.json").read_text())
    assert report["warnings"]  # the solver stopped early
    report["input"] = "'<b>bold</b>.wav'"
    report["warnings"].append("<img src=x onerror=alert(1)>")
    Path("poor/separation.json").write_text(json.dumps(report))
    ok(run("page", "poor", "--mixture", "mix.wav"))
    text = Path("poor/index.html").read_text()
    assert "2 warnings" in text and '<span class="bad">not converged</span>' in text
    assert f"<li>{html.escape(report['warnings'][0])}</li>" in text
    assert "<li>&lt;img src=x onerror=alert(1)&gt;</li>" in text
    assert "<b>" not in text and "&lt;b&gt;bold&lt;/b&gt;.wav" in text
    assert "<img src=x" not in text


def test_separate_html_writes_the_page(separated):
    result = ok(run("separate", "mix.wav", "-o", "again", "--html"))
    assert result.stderr.endswith("-> again/\npage -> again/index.html\n")
    assert audio_sources(Path("again/index.html").read_text())[-1] == "speaker_2.wav"
    assert sorted(p.name for p in Path("again").iterdir()) == [
        "index.html",
        "listen",
        "separation.json",
        "speaker_1.wav",
        "speaker_2.wav",
    ]


def test_separate_html_with_several_inputs(separated):
    shutil.copy("mix.wav", "mix2.wav")
    ok(run("separate", "mix.wav", "mix2.wav", "-o", "many", "--html", "-q"))
    for name in ("mix", "mix2"):
        text = Path(f"many/{name}/index.html").read_text()
        assert f"Separation of &#x27;{name}.wav&#x27;" in text
        assert "listen/mic_2.wav" in text


def test_separate_html_needs_a_folder(separated):
    result = run("separate", "mix.wav", "-o", "-", "--html")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --html writes the page into the output folder: it takes neither -o - nor --report\n"
    )
    assert result.stdout == ""


def test_long_recordings_get_an_excerpt(separated):
    # A 1 s recording treated as long: 0.5 s excerpts, as 16-bit FLAC.
    written = page.write_page("out", full_seconds=0.5, excerpt_seconds=0.5)
    assert written.mode == "excerpt"
    start, stop = written.excerpt
    assert stop - start == 0.5 and start in (0.0, 0.5)
    text = Path("out/index.html").read_text()
    assert "every player has the same 0.5 s excerpt" in text
    srcs = audio_sources(text)
    assert srcs == [
        "listen/mic_1.flac",
        "listen/mic_2.flac",
        "listen/speaker_1.flac",
        "listen/speaker_2.flac",
    ]
    first = int(start * RATE)
    mix = sf.read("mix.wav", always_2d=True)[0]
    for k, src in enumerate(srcs):
        info = sf.info(f"out/{src}")
        assert (info.format, info.subtype, info.frames) == ("FLAC", "PCM_16", RATE // 2)
        if k < 2:
            got = sf.read(f"out/{src}")[0]
            assert np.max(np.abs(got - mix[first : first + RATE // 2, k])) < 1e-4
    # The full-length speakers stay linked, and each track has a strip of the whole.
    assert 'full length: <a href="speaker_1.wav">speaker_1.wav</a>' in text
    assert text.count("_whole.png") == 4
    assert written.bytes_written == page._folder_size("out/listen") + len(text.encode())


def test_excerpt_is_where_every_speaker_talks():
    # Speaker 1 talks all along, speaker 2 only from 40 s to 50 s: the excerpt is there.
    n = page.PICTURE_WIDTH
    t = np.arange(n) * 100.0 / n
    a = page.Track("speaker", "a", Path("a"), 0, 1, 1, (0, 0, 0), energy=np.ones(n))
    b = page.Track(
        "speaker", "b", Path("b"), 0, 1, 1, (0, 0, 0), energy=((t >= 40) & (t < 50)).astype(float)
    )
    start, stop = page.choose_excerpt([a, b], 100.0, 10.0)
    assert (start, stop) == (40.0, 50.0)
    assert page.choose_excerpt([a, b], 8.0, 10.0) == (0.0, 8.0)


def test_the_page_needs_no_plotting_library(separated, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    ok(run("page", "out"))
    assert len(re.findall(r"<img ", Path("out/index.html").read_text())) == 4


def test_rewriting_replaces_the_page_whole(separated):
    ok(run("page", "out"))
    ok(run("page", "out"))
    assert sorted(p.name for p in Path("out").iterdir()) == [
        "index.html",
        "listen",
        "separation.json",
        "speaker_1.wav",
        "speaker_2.wav",
    ]


def test_a_failing_page_leaves_the_previous_one(separated):
    ok(run("page", "out"))
    before = {p: p.read_bytes() for p in Path("out").rglob("*") if p.is_file()}
    bad = sf.read("mix.wav", always_2d=True)[0]
    bad[-10, 1] = np.nan
    sf.write("bad.wav", bad, RATE, subtype="FLOAT")
    result = run("page", "out", "--mixture", "bad.wav")
    assert result.exit_code == 1
    assert result.stderr == "Error: 'bad.wav' contains NaN or infinite samples\n"
    after = {p: p.read_bytes() for p in Path("out").rglob("*") if p.is_file()}
    assert after == before


def test_an_index_html_of_someone_else_is_not_replaced(separated):
    Path("out/index.html").write_text("<p>my notes</p>")
    result = run("page", "out")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 'out/index.html' exists and was not written by cocktail page: move it away first\n"
    )
    assert Path("out/index.html").read_text() == "<p>my notes</p>"
    assert sorted(p.name for p in Path("out").iterdir()) == [
        "index.html",
        "separation.json",
        "speaker_1.wav",
        "speaker_2.wav",
    ]


def test_without_the_mixture_the_page_has_the_speakers(separated):
    Path("mix.wav").rename("elsewhere.wav")
    result = ok(run("page", "out"))
    assert result.stderr == (
        "Note: the mixture is not known (give --mixture MIX.wav): the "
        "page has the speakers only\npage -> out/index.html\n"
    )
    assert audio_sources(Path("out/index.html").read_text()) == ["speaker_1.wav", "speaker_2.wav"]
    ok(run("page", "out", "--mixture", "elsewhere.wav", "-q"))
    assert len(audio_sources(Path("out/index.html").read_text())) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "cannot read 'nope': no such folder"),
        (["mix.wav"], "'mix.wav' is not a folder: give the folder written by cocktail separate"),
        (["empty"], "no separation.json and no WAV files in 'empty': nothing to listen to"),
        (["out", "--mixture", "nope.wav"], "cannot read 'nope.wav': no such file"),
        (
            ["out", "--mixture", "slow.wav"],
            "the mixture 'slow.wav' is 4000 Hz but the speakers "
            "are 8000 Hz: give the recording they were separated "
            "from",
        ),
        (
            ["out", "-r", "out/separation.json"],
            "'out/separation.json' is not a sidecar written by "
            "cocktail mix (it is a separation report: give the "
            "sidecar written by cocktail mix, e.g. mix.json)",
        ),
    ],
)
def test_page_errors(separated, args, message):
    Path("empty").mkdir()
    sf.write("slow.wav", np.zeros((100, 2)), RATE // 2)
    result = run("page", *args)
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"
    assert not Path("out/index.html").exists() and not Path("out/listen").exists()


# ------------------------------------------------------------------ browser

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
DESKTOP, PHONE = (1280, 900), (390, 844)


def _browser_missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for exe in ("chromium", "chromedriver"):
        if shutil.which(exe) is None:
            return f"{exe} is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _browser_missing()
    if missing:
        pytest.skip(f"no headless browser: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _screenshots():
    """Where screenshots go: $COCKTAIL_SCREENSHOTS if set, else a temporary folder."""
    where = os.environ.get("COCKTAIL_SCREENSHOTS")
    return Path(where) if where else Path(tempfile.mkdtemp(prefix="cocktail-page-"))


def _load(browser, index, size):
    browser.set_window_size(*size)
    browser.get(index.resolve().as_uri())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = browser.execute_script(
            "return Array.from(document.querySelectorAll('audio')).every("
            "a => a.readyState >= 1 || a.error) && "
            "Array.from(document.images).every(i => i.complete)"
        )
        if state:
            return
        time.sleep(0.1)
    raise AssertionError("the page did not finish loading its audio and pictures")


def _check_in_browser(browser, folder, name):
    index = Path(folder) / "index.html"
    _load(browser, index, DESKTOP)
    players = browser.execute_script(
        "return Array.from(document.querySelectorAll('audio')).map("
        "a => [a.getAttribute('src'), a.duration, a.error ? a.error.code : null])"
    )
    assert players
    for src, duration, error in players:
        assert error is None, f"{src}: media error {error}"
        info = sf.info(str(local(folder, html.unescape(src))))
        assert duration == pytest.approx(info.frames / info.samplerate, abs=2e-3), src
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])"
    )
    assert images and all(width == page.PICTURE_WIDTH for _, width in images), images
    out = _screenshots()
    out.mkdir(parents=True, exist_ok=True)
    for label, (w, h) in (("desktop", DESKTOP), ("phone", PHONE)):
        _load(browser, index, (w, h))
        page_width, inner = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert page_width <= inner, f"{label}: the page is wider than the screen"
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(w, min(height + 140, 8000))
        shot = out / f"{name}-{label}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10000


def test_page_in_a_browser(separated, browser):
    ok(run("page", "out"))
    _check_in_browser(browser, "out", "separation")
    # Clicking the middle of a picture moves that player to the middle.
    at = browser.execute_script(
        "var t = document.querySelectorAll('.track')[2], p = t.querySelector('.pic');"
        "var r = p.getBoundingClientRect();"
        "p.dispatchEvent(new MouseEvent('click', {clientX: r.left + r.width / 2,"
        " clientY: r.top + r.height / 2, bubbles: true}));"
        "return [t.querySelector('audio').currentTime, t.querySelector('audio').duration];"
    )
    assert at[0] == pytest.approx(at[1] / 2, rel=0.02)


def test_excerpt_page_in_a_browser(separated, browser):
    page.write_page("out", full_seconds=0.5, excerpt_seconds=0.5)
    _check_in_browser(browser, "out", "excerpt")


def test_hostile_names_in_a_browser(tmp_path, browser):
    folder = tmp_path / "wavs"
    folder.mkdir()
    for name, s in zip(["<script>.wav", "a&b \"q\" 'x' #1 %20.wav"], sources()):
        sf.write(folder / name, s, RATE)
    ok(run("page", folder, "-q"))
    _check_in_browser(browser, folder, "hostile")
    assert browser.execute_script("return document.querySelectorAll('script').length") == 1
