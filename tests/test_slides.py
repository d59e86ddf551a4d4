"""The offline decks in a real browser: reveal.js starts, nothing is fetched from the network, every slide fits
1280x720, and the slides with plots are not blank. Screenshots go to build/slides-screenshots/.

Needs Debian's ``chromium`` (``.ci/run`` installs it); playwright drives it.
"""

import base64
import html
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from PIL import Image, ImageStat

from utils.tools import deck, slides

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "docs" / "recorded").glob("*.ipynb"))  # what the decks show (make record)
SHOTS = ROOT / "build" / "slides-screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REVEAL = "slides-assets/reveal.js/dist/reveal.js"  # the module id the deck loads reveal.js by
DEFAULT_ALT = "No description has been provided for this image"  # what nbconvert gives an image without alt text
FIGURE_TEXT_PX = 18  # the smallest text in a figure, as rendered on a 1280x720 slide

MEASURE = """async () => {
  const Reveal = await new Promise(done => require([REVEAL_ID], done));
  const report = [];
  for (const slide of Reveal.getSlides()) {
    const at = Reveal.getIndices(slide);
    Reveal.slide(at.h, at.v);
    await new Promise(done => requestAnimationFrame(done));
    const wide = [...slide.querySelectorAll("pre, p, li, table")].filter(e => e.scrollWidth > e.clientWidth + 1);
    // the rendered size of every piece of text on the slide (an element whose own text nodes are not blank)
    const sizes = [...slide.querySelectorAll("*")].filter(e => e.offsetParent !== null && [...e.childNodes].some(
        n => n.nodeType === Node.TEXT_NODE && n.textContent.trim())).map(
        e => [parseFloat(getComputedStyle(e).fontSize), e.innerText.trim().slice(0, 30)]);
    const images = [...slide.querySelectorAll("img")].map(
        img => ({alt: img.alt, src: img.src, shown: img.getBoundingClientRect().width, natural: img.naturalWidth}));
    report.push({h: at.h, v: at.v || 0, height: slide.scrollHeight, images: images.length, figures: images,
                 text: slide.innerText.slice(0, 60), wide: wide.map(e => e.innerText.slice(0, 40)), sizes});
  }
  return {total: Reveal.getTotalSlides(), width: Reveal.getConfig().width, height: Reveal.getConfig().height,
          slides: report};
}""".replace("REVEAL_ID", json.dumps(REVEAL))


def expected_slides(notebook: Path) -> int:
    """Slides and sub-slides the metadata of the notebook, as its deck shows it, asks for."""
    cells = slides.deck_content(notebook).cells
    starts = [c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in cells
              if c.metadata.get("slideshow", {}).get("slide_type") not in ("skip", "notes")]
    return sum(starts) + (0 if starts and starts[0] else 1)


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("Chromium is needed to test the slides: apt-get install chromium (.ci/run does).")
    out = tmp_path_factory.mktemp("decks")
    return {nb.stem: slides.build_deck(nb, out) for nb in NOTEBOOKS}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def call_reveal(page, call: str, settle: bool = False) -> None:
    """``Reveal.<call>`` on the deck's reveal.js (a require.js module); with ``settle``, return two frames later,
    once the slide is drawn."""
    then = "requestAnimationFrame(() => requestAnimationFrame(done))" if settle else "done()"
    page.evaluate(f"() => new Promise(done => require([{json.dumps(REVEAL)}], R => {{ R.{call}; {then}; }}))")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_deck_works_offline_and_every_slide_fits(notebook, decks, browser):
    page = browser.new_page(viewport={"width": slides.WIDTH, "height": slides.HEIGHT})
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(decks[notebook.stem].as_uri())
    page.wait_for_selector(".reveal.ready", timeout=20_000)  # reveal.js has initialised
    report = page.evaluate(MEASURE)
    assert (report["width"], report["height"]) == (slides.WIDTH, slides.HEIGHT)
    assert report["total"] == expected_slides(notebook) > 10
    too_tall = [f"slide {s['h']}.{s['v']} ({s['text']!r}...): {s['height']} px" for s in report["slides"]
                if s["height"] > slides.HEIGHT]
    assert not too_tall, "taller than the 1280x720 slide:\n" + "\n".join(too_tall)
    clipped = [f"slide {s['h']}.{s['v']}: {s['wide']}" for s in report["slides"] if s["wide"]]
    assert not clipped, "wider than the slide (cut off on a projector):\n" + "\n".join(clipped)
    small = [f"slide {s['h']}.{s['v']}: {size:g} px {text!r}" for s in report["slides"] for size, text in s["sizes"]
             if size < slides.TEXT_PX]
    assert not small, f"text below {slides.TEXT_PX} px (unreadable from the back of a room):\n" + "\n".join(small)
    for s in report["slides"]:
        for figure in s["figures"]:
            where = f"slide {s['h']}.{s['v']}"
            assert figure["alt"].strip() and figure["alt"] != DEFAULT_ALT, f"{where}: a figure without alt text"
            png = Image.open(io.BytesIO(base64.b64decode(figure["src"].split(",", 1)[1])))
            smallest = float(png.info["MinFontPt"]) * float(png.info["Dpi"]) / 72 * figure["shown"] / figure["natural"]
            assert smallest >= FIGURE_TEXT_PX, f"{where}: the figure's smallest text is {smallest:.1f} px on the slide"
    SHOTS.mkdir(parents=True, exist_ok=True)
    plots = [s for s in report["slides"] if s["images"]]
    assert plots, "a deck with figures shows them"
    call_reveal(page, "configure({transition: 'none', backgroundTransition: 'none'})")  # each slide in place at once
    for s in plots:
        call_reveal(page, f"slide({s['h']}, {s['v']})", settle=True)
        shot = SHOTS / f"{notebook.stem}-{s['h']}.{s['v']}.png"
        page.screenshot(path=str(shot))
        figure = SHOTS / f"{notebook.stem}-{s['h']}.{s['v']}-figure.png"
        page.locator("section.present:not(.stack) img").first.screenshot(path=str(figure))  # the plot, as shown
        spread = ImageStat.Stat(Image.open(figure).convert("L")).stddev[0]
        assert spread > 15, f"{figure.name} looks blank (pixel standard deviation {spread:.1f})"
    leaving = [url for url in requests if not url.startswith(("file://", "data:", "blob:", "about:"))]
    assert not leaving, f"requests that leave file://: {leaving}"
    shown = page.evaluate("() => document.querySelector('.reveal .slides').innerText")
    assert "NBVAL" not in shown and "checked offline only" not in shown  # test markers live in cell tags
    page.close()


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert slides.main([str(NOTEBOOKS[0]), "--output", str(blocker / "decks")]) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith(f"error: cannot create the output folder {blocker / 'decks'}"), said


def test_a_full_disk_while_writing_a_deck_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    import errno

    from utils.support import files

    def full_disk(source, destination):  # the deck's temporary file is written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    slides.reveal_assets()  # the cached assets exist before the disk fills
    monkeypatch.setattr(files.os, "replace", full_disk)
    assert slides.main([str(NOTEBOOKS[0]), "--output", str(tmp_path)]) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "No space left on device" in said[0] and "nothing was left half-written" in said[0], said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slides-assets"]  # no deck, no .part


PRINTED = """() => [...document.querySelectorAll(".pdf-page")].map(page => {
  const box = page.getBoundingClientRect();
  const img = page.querySelector("img");
  const at = img && img.getBoundingClientRect();
  const next = page.nextElementSibling;  // a slide's speaker notes print as the page after it
  return {notes: !!(next && next.classList.contains("speaker-notes-pdf")), width: box.width, height: box.height,
          figure: at && [at.left - box.left, at.top - box.top, at.right - box.left, at.bottom - box.top]};
})"""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_pdf_deck_has_a_page_per_slide_and_per_speaker_note_with_figures_drawn(notebook, decks, browser):
    import pypdfium2

    pdf = slides.print_pdf(decks[notebook.stem], browser)
    assert pdf.name == f"{notebook.stem}.slides.pdf" and not list(pdf.parent.glob("*.part"))
    page = browser.new_page()
    page.goto(decks[notebook.stem].as_uri() + "?print-pdf&showNotes=separate-page")
    page.wait_for_selector(".reveal.ready .pdf-page", timeout=20_000)
    printed = page.evaluate(PRINTED)
    page.close()
    notes = [c for c in nbformat.read(notebook, as_version=4).cells
             if c.metadata.get("slideshow", {}).get("slide_type") == "notes"]
    document = pypdfium2.PdfDocument(pdf)
    assert len(printed) == expected_slides(notebook)  # one page per slide...
    assert len(document) == len(printed) + sum(1 for p in printed if p["notes"])  # ...and one per slide's notes
    assert sum(1 for p in printed if p["notes"]) >= len(notes) * 0.5 > 0
    with_figure = [(i, p) for i, p in enumerate(printed) if p["figure"]]
    assert with_figure, "a deck with figures prints them"
    index, first = with_figure[0]
    pdf_index = index + sum(1 for p in printed[:index] if p["notes"])  # notes pages come after their slide
    pdf_page = document[pdf_index]
    scale = first["width"] / pdf_page.get_width()  # CSS pixels per PDF point
    image = pdf_page.render(scale=scale).to_pil().convert("L")
    figure = image.crop(tuple(round(v) for v in first["figure"]))
    spread = ImageStat.Stat(figure).stddev[0]
    assert spread > 15, f"page {pdf_index + 1} of {pdf.name}: its figure looks blank (standard deviation {spread:.1f})"


# ------------------------------------------------------------------------------------------------------------------
# Live presenting: JupyterLab from the project's environment, RISE started with Alt+R, in headless Chromium
# ------------------------------------------------------------------------------------------------------------------

WAITED_FOR_TOASTS: set[str] = set()  # the JupyterLab servers whose first page waited for toasts to appear
LAB_SETTINGS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
TOKEN = "rise-test"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free port, with fresh user settings (as on a student's first run)."""
    if not LAB_SETTINGS.is_file():
        pytest.fail(f"{LAB_SETTINGS} is missing: `make setup` installs the project's JupyterLab settings.")
    home = tmp_path_factory.mktemp("lab-home")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR":
           str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--notebook-dir={ROOT / 'docs' / 'recorded'}", "--allow-root",
         "--ServerApp.disable_check_xsrf=True"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("JupyterLab did not answer within 90 s")
    yield url
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_rise_presents_each_notebook_live_in_jupyterlab(notebook, lab, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{lab}/lab/workspaces/{notebook.stem}/tree/{notebook.name}?reset&token={TOKEN}")  # its own layout
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    if lab not in WAITED_FOR_TOASTS:  # a setting of the server, so once per server: the news toast came a moment later
        page.wait_for_timeout(3000)
        WAITED_FOR_TOASTS.add(lab)
    toasts = page.locator(".Toastify__toast").all_inner_texts()
    assert not [t for t in toasts if "news" in t.lower()], f"JupyterLab's news toast is shown: {toasts}"
    figures = sum("image/png" in o.get("data", {}) for c in nbformat.read(notebook, as_version=4).cells
                  for o in c.get("outputs", []))
    images = ".jp-OutputArea-output img"
    page.wait_for_function(f"() => document.querySelectorAll({images!r}).length >= {figures}", timeout=30_000)
    alts = page.evaluate(f"() => [...document.querySelectorAll({images!r})].map(img => img.alt)")
    assert len(alts) == figures > 0 and all(alt.strip() and alt != DEFAULT_ALT for alt in alts), alts  # screen readers
    page.locator(".jp-Notebook").first.focus()
    page.keyboard.press("Alt+r")  # RISE: render as slideshow
    deck = f'iframe[src*="{notebook.name}"]'  # RISE's preview panel shows the deck in a frame
    page.wait_for_selector(deck, timeout=30_000)
    frame = page.frame_locator(deck).first
    present = frame.locator(".reveal .slides section.present").first
    present.wait_for(timeout=60_000)
    first = present.inner_text()
    assert first.strip(), "the first slide is empty"
    heading = nbformat.read(notebook, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
    assert heading[:30] in first, (heading, first[:200])
    frame.locator(".reveal").first.click()
    page.keyboard.press("ArrowRight")
    deadline = time.monotonic() + 10
    while (second := frame.locator(".reveal .slides section.present").last.inner_text()) == first and \
            time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert second.strip() and second != first, "the next slide did not come"
    page.wait_for_timeout(800)  # reveal.js's slide transition ends, for a settled screenshot
    shot = SHOTS / f"rise-{notebook.stem}.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    page.close()


def test_without_chromium_the_html_decks_are_written_and_the_missing_pdf_explained(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(slides, "chromium", lambda: None)
    assert slides.main([str(NOTEBOOKS[0]), "--output", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{NOTEBOOKS[0].stem}.slides.html", "slides-assets"]
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        "No PDF copies: they are printed by Chromium, which is not installed")


# ---- the output folder: as typed, never written through a link, its assets whole -------------------------------------

def test_an_empty_or_stale_assets_folder_is_filled_before_the_decks_use_it(tmp_path):
    (tmp_path / "slides-assets").mkdir()  # left by an interrupted or older run
    assert slides.main([str(NOTEBOOKS[0]), "--output", str(tmp_path), "--no-pdf"]) == 0
    assert (tmp_path / REVEAL).is_file()


def test_a_home_folder_output_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert slides.main([str(NOTEBOOKS[0]), "--output=~/decks", "--no-pdf"]) == 0  # bash leaves this ~ alone
    assert (tmp_path / "decks" / f"{NOTEBOOKS[0].stem}.slides.html").is_file() and not (tmp_path / "~").exists()


def test_a_deck_is_never_written_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / f"{NOTEBOOKS[0].stem}.slides.html").symlink_to(victim)
    assert slides.main([str(NOTEBOOKS[0]), "--output", str(tmp_path / "out"), "--no-pdf"]) == 0
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out" / f"{NOTEBOOKS[0].stem}.slides.html").is_symlink()


def test_every_deck_is_written_before_any_pdf_is_printed(tmp_path, capsys, monkeypatch):
    """A Chromium that fails to start still leaves every deck written, and the run says why it failed."""
    def fails(deck, browser):
        raise slides.AssetError(f"Could not print {deck.with_suffix('.pdf')} (the browser closed at start)")

    monkeypatch.setattr(slides, "chromium", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(slides, "print_pdf", fails)
    assert slides.main([*map(str, NOTEBOOKS), "--output", str(tmp_path)]) == 1
    assert sorted(p.name for p in tmp_path.glob("*.slides.html")) == sorted(f"{n.stem}.slides.html" for n in NOTEBOOKS)
    assert capsys.readouterr().err.strip().startswith("error: Could not print")


def shown_text(deck: Path) -> str:
    """The deck's text as a reader sees it: tags (and the highlighter's spans) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", deck.read_text(encoding="utf-8")))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_a_deck_asks_each_prediction_without_showing_the_reference_answer(notebook, decks):
    recorded = nbformat.read(notebook, as_version=4).cells
    blanks = {c.id: c.source for c in nbformat.read(ROOT / "notebooks" / notebook.name, as_version=4).cells}
    shown = shown_text(decks[notebook.stem])
    predictions = [c for c in recorded if slides.PREDICTION in c.metadata.get("tags", [])]
    assert predictions, "the recording has prediction cells"
    for cell in predictions:
        blank = blanks[cell.id].splitlines()
        answer_lines = [line for line in cell.source.splitlines() if line.strip() and line not in blank]
        assert answer_lines, f"cell {cell.id}: the recording holds the reference prediction"
        assert not [line for line in answer_lines if line.strip() in shown], f"cell {cell.id}'s answer is shown"
        assert blank[0].strip() in shown, f"cell {cell.id}: the student's blank is not on its slide"
    printed = "".join(o.get("text", "") for c in slides.deck_content(notebook).cells for o in c.get("outputs", []))
    assert not re.search(r"\b([Yy]ou predicted|you said|Your guess)\b", printed), "a result slide calls the " \
        "reference prediction the class's own"
    assert re.search(r"[Tt]he reference (predicted|guess)", printed)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_a_deck_leaves_out_the_checks_the_recording_did_not_answer(notebook, decks):
    unanswered = [c for c in nbformat.read(notebook, as_version=4).cells
                  if "".join("".join(o.get("text", "")) for o in c.get("outputs", [])).startswith("Not answered")]
    assert unanswered, "the recording has unanswered checks (its exercises' answer cells are blank)"
    shown = shown_text(decks[notebook.stem])
    assert "Not answered yet" not in shown and "Write exercise" not in shown


def test_a_slide_started_by_a_left_out_cell_starts_at_the_next_one(tmp_path):
    def cell(text, slide_type, tags=(), outputs=()):
        made = nbformat.v4.new_code_cell(text, metadata={"slideshow": {"slide_type": slide_type}, "tags": list(tags)})
        made.outputs = [nbformat.v4.new_output("stream", text=t) for t in outputs]
        return made

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title", metadata={"slideshow": {"slide_type": "slide"}}),
        cell("check_a()", "subslide", [slides.CHECK], ["Not answered yet.\n"]),
        cell("print(1)", "-"),
        cell("check_b()", "subslide", [slides.CHECK], ["Right: 3\n"]),
        cell("guess = 3  # because", "-", [slides.PREDICTION]),
        cell("check_c()", "subslide", [slides.CHECK], ["Not answered yet.\n"]),
        cell("print(2)", "slide"),
    ])
    student = tmp_path / "student.ipynb"
    blank = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("guess = None  # a number")])
    blank.cells[0].id = notebook.cells[4].id
    nbformat.write(blank, student)
    kept = nbformat.from_dict(nbformat.v4.new_notebook(cells=list(notebook.cells)))
    slides.for_the_class(kept, student)
    assert [(c.source, c.metadata["slideshow"]["slide_type"]) for c in kept.cells] == [
        ("# Title", "slide"), ("print(1)", "subslide"), ("check_b()", "subslide"), ("guess = None  # a number", "-"),
        ("print(2)", "slide")]
    slides.for_the_class(notebook, None)  # no student copy: the prediction is left out, not shown
    assert "guess = 3  # because" not in [c.source for c in notebook.cells]


def test_a_slide_that_only_waits_for_an_exercise_is_left_out_and_the_verdicts_name_the_reference():
    def cell(text, slide_type, outputs=(), tags=()):
        made = nbformat.v4.new_code_cell(text, metadata={"slideshow": {"slide_type": slide_type}, "tags": list(tags)})
        made.outputs = [nbformat.v4.new_output("stream", text=t) for t in outputs]
        return made

    notebook = nbformat.v4.new_notebook(cells=[
        cell("intro()", "slide", ["You predicted 3: right; you said True. Your guess 'box'.\n"]),
        cell("own_loop()", "slide", ["Write exercise 2b's loop first (it returned no losses).\n"]),
        nbformat.v4.new_markdown_cell("The two curves ...", metadata={"slideshow": {"slide_type": "-"}}),
        cell("check()", "subslide", ["Not answered yet. (Stuck? Unfold a hint.)", "\n"], [slides.CHECK]),
        cell("after()", "subslide", ["3\n"]),
        cell("layer_check()", "-", ["Exercise 10a first: my_norm still returns None.\n"], [slides.CHECK]),
        nbformat.v4.new_markdown_cell("Your class, the weights.", metadata={"slideshow": {"slide_type": "subslide"}}),
        cell("yours()", "-", ["Exercise 7 first. Not answered yet.\n"]),
    ])
    slides.for_the_class(notebook, None)
    assert [(c.source, c.metadata["slideshow"]["slide_type"]) for c in notebook.cells] == [
        ("intro()", "slide"), ("after()", "slide")]  # the next slide starts a new column, as the dropped one did
    assert notebook.cells[0].outputs[0]["text"] == ("The reference predicted 3: right; the reference said True. "
                                                    "The reference guess 'box'.\n")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notes_are_left_out_for_students_folded_in_the_recording_and_whole_in_the_speaker_view(notebook, decks):
    """The notebook students open has no instructor notes; the recorded copy has them folded, and the deck's speaker
    notes show them unfolded."""
    student_copy = nbformat.read(ROOT / "notebooks" / notebook.name, as_version=4).cells
    assert not [c.id for c in student_copy if "Instructor notes" in c.source]
    notes = [c.source for c in nbformat.read(notebook, as_version=4).cells
             if c.metadata.get("slideshow", {}).get("slide_type") == "notes"]
    assert notes and all(slides.FOLDED_NOTES.match(text) for text in notes), "a notes cell that is not folded"
    html = decks[notebook.stem].read_text(encoding="utf-8")
    speaker = html.split('<aside class="notes">')[1:]
    assert len(speaker) == len(notes)
    assert all("Instructor notes (about" in aside and "<details" not in aside.split("</aside>")[0]
               for aside in speaker)


def test_a_long_printout_keeps_its_start_and_its_end_on_the_slide():
    printed = [f"line {i}" for i in range(1, 28)]  # 27 lines: a printed GPT-2, whose last lines are ln_f and lm_head
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(printed) + "\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "short"})])])
    assert deck.shorten_long_outputs(notebook, most=20, tail=4) == 1
    shown = notebook.cells[0].outputs[0]["text"].splitlines()
    assert len(shown) == 20
    assert shown[:15] == printed[:15] and shown[-4:] == printed[-4:]
    assert shown[15] == "... 8 more lines in the notebook"
    assert notebook.cells[0].outputs[1]["data"]["text/plain"] == "short"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.stem)
def test_each_prediction_is_asked_on_a_slide_before_the_cell_that_answers_it(notebook):
    """In the deck a prediction's cell and the next code cell (its reveal: a check, a run, a table) never share a
    slide: a slide or sub-slide starts between them, so the class sees the question before the answer."""
    cells = nbformat.read(notebook, as_version=4).cells
    starts = [c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in cells]
    shared = []
    for i, cell in enumerate(cells):
        if "prediction" not in cell.metadata.get("tags", []):
            continue
        answer = next((k for k in range(i + 1, len(cells)) if cells[k].cell_type == "code"
                       and "prediction" not in cells[k].metadata.get("tags", [])), None)
        if answer is not None and not any(starts[i + 1:answer + 1]):
            shared.append((cell.id, cells[answer].id))
    assert shared == [], f"each of these (prediction, reveal) pairs shares a slide: {shared}"
