"""make run's HTML handouts in a real browser: no request leaves the page, and it shows its text and its figures,
each with its own alt text. Every request that is not to a local file is blocked and recorded.

The handouts are built from the recorded notebooks (docs/recorded/, the classroom outputs `make record` writes),
as `make run` builds them from its own executions. Needs Debian's ``chromium`` (``.ci/run`` installs it).
"""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from utils.tools import handouts

ROOT = Path(__file__).resolve().parent.parent
RECORDED = sorted((ROOT / "docs" / "recorded").glob("*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DEFAULT_ALT = "No description has been provided for this image"  # what nbconvert gives an image without alt text


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is needed to test the handouts: apt-get install chromium (.ci/run does).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chrome
        chrome.close()


def open_offline(browser, page_path: Path) -> tuple[list[str], dict]:
    """(every request the page made that was not to a local file, what the page shows)."""
    page = browser.new_page()
    outside: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    try:
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        shown = page.evaluate("""() => ({
            text: document.body.innerText,
            images: [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0}))})""")
    finally:
        page.close()
    return outside, shown


def first_heading(notebook: Path) -> str:
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")
    return next(line.lstrip("# ").strip() for line in cell.source.splitlines() if line.startswith("#"))


def figures_in(notebook: Path) -> int:
    return sum("image/png" in o.get("data", {}) for c in nbformat.read(notebook, as_version=4).cells
               if c.cell_type == "code" for o in c.outputs)


def test_there_are_recorded_notebooks_to_hand_out():
    assert [p.stem for p in RECORDED] == [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]


@pytest.mark.parametrize("notebook", RECORDED, ids=[p.stem for p in RECORDED])
def test_a_handout_makes_no_outside_request_and_shows_its_text_and_figures(notebook, browser, tmp_path):
    page = handouts.build_handout(notebook, tmp_path)
    outside, shown = open_offline(browser, page)
    assert outside == []
    assert first_heading(notebook) in shown["text"]
    assert len(shown["images"]) == figures_in(notebook) > 0
    for image in shown["images"]:
        assert image["loaded"] and image["alt"].strip() and image["alt"] != DEFAULT_ALT, image


def test_the_check_sees_an_outside_request(browser, tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<html><body><p>hi</p><script src="https://example.invalid/x.js"></script></body></html>')
    outside, shown = open_offline(browser, page)
    assert outside == ["https://example.invalid/x.js"] and "hi" in shown["text"]


def test_saved_widget_state_loads_no_widget_manager(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A title")])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "widgets.ipynb"
    nbformat.write(notebook, path)
    html = handouts.build_handout(path, tmp_path).read_text()
    assert "html-manager" not in html and "https://" not in json.dumps(
        [line for line in html.splitlines() if "<script" in line and "src=" in line])


def test_a_broken_notebook_gives_one_line_and_writes_nothing(tmp_path, capsys):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    assert handouts.main([str(broken), "--output", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith(f"error: {broken} is not a valid notebook")
    assert not (tmp_path / "out").exists()


def test_a_handout_is_never_written_through_a_link_and_its_assets_are_whole(tmp_path):
    from utils.offline.cache import is_complete_copy

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out" / "slides-assets").mkdir(parents=True)  # empty: left by an interrupted run
    (tmp_path / "out" / f"{RECORDED[0].stem}.html").symlink_to(victim)
    assert handouts.main([str(RECORDED[0]), "--output", str(tmp_path / "out")]) == 0
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out" / f"{RECORDED[0].stem}.html").is_symlink()
    assert is_complete_copy(tmp_path / "out" / "slides-assets")
