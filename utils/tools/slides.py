"""reveal.js decks from the notebooks, working with no network: ``python -m utils.tools.slides`` (``make slides``).

nbconvert's slides load reveal.js, require.js and jQuery from CDNs by default, so a deck opened offline never
starts. Here they come from pinned npm packages (``npm pack``, sha256-verified, cached like every other asset)
and are copied next to the decks, which refer to them by relative paths: ``build/`` can be copied to an
instructor's laptop as it is. The slide structure is the notebooks' own ``slideshow`` cell metadata; ``notes``
cells, folded in the notebooks, become reveal.js speaker notes, unfolded (press ``s`` in a deck). The decks show
the recorded classroom outputs (``docs/recorded/``, written by ``make record``), so building them runs nothing; each
title slide says which models those outputs come from. A deck asks before it answers: a prediction's slide shows
the student's blank, and the reference prediction the recording ran with shows only in the result after it; a check
the recording left unanswered is left out. Where Chromium is installed, each deck is also printed to PDF (reveal.js's
print view): one page per slide, speaker notes on the page after their slide.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from utils.offline.cache import REBUILT_BY, AssetError, build_folder, cached_folder, copy_listed, is_complete_copy
from utils.support.files import user_path, write_atomic
from utils.tools.deck import (  # noqa: F401 (FOLDED_NOTES, PREDICTION, recorded_with: the tests read them here)
    CHECK,
    FOLDED_NOTES,
    MAX_OUTPUT_LINES,
    PREDICTION,
    add_recording_line,
    for_the_class,
    recorded_with,
    shorten_long_outputs,
    unfold_notes,
)

ROOT = Path(__file__).resolve().parents[2]
ASSET = "reveal-js"
RECORDED = "docs/recorded"  # the notebooks executed in the classroom profile (make record): the decks show them
REBUILT_BY[ASSET] = "`make slides` (or python -m utils.tools.slides)"
# npm package -> sha256 of the tarball `npm pack` downloads (checked before anything is unpacked)
PACKAGES = {
    "reveal.js@5.2.1": "359b575dd51bbda32f89b2fd4c7dc46ad7389a805572158916c29252f7a27333",
    "requirejs@2.3.7": "31f3330c978fb28684622fe71165dc946432cf0210b2ea8a1ca0233e70f2737d",
    "jquery@3.7.1": "68a9f787516da47c680e09c187bcbac4536b6f85d90eb882844e12919e583f53",
}
# The notebooks hold no LaTeX and no mermaid diagrams; these stand in for the two CDN scripts nbconvert adds.
STUBS = {
    "mathjax.js": "window.MathJax = {Hub: {getAllJax: function () { return null; }, Rerender: function () {},\n"
                  "  Config: function () {}, Queue: function () {}}};\n",
    "mermaid.mjs": "export default {initialize: function () {}};\n",
}
WIDTH, HEIGHT = 1280, 720
TEXT_PX = 24  # prose, code and printed output on a 1280x720 slide: readable from the back of a room
OUTPUT_ONLY = "slide-output-only"  # a cell tag: on slides show the cell's output, not its code
# Figures scale down to leave room for a heading; code and tables keep the notebook's font; a line of code or
# output wider than the slide wraps (a projector cannot scroll sideways).
CSS = f"""<style>
.reveal .jp-OutputArea-output img {{ max-height: {HEIGHT - 200}px; width: auto; }}
.reveal .celltag_slide-output-only .jp-OutputArea-output img {{ max-height: {HEIGHT - 80}px; }}  /* no code above it */
.reveal pre, .reveal .jp-RenderedText pre {{ white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; }}
.reveal .jp-RenderedHTMLCommon p, .reveal .jp-RenderedHTMLCommon li, .reveal .jp-RenderedHTMLCommon td,
.reveal .jp-RenderedHTMLCommon th, .reveal .jp-RenderedHTMLCommon code, .reveal .jp-RenderedHTMLCommon summary,
.reveal pre, .reveal pre span,
.reveal .jp-RenderedText pre {{ font-size: {TEXT_PX}px !important; line-height: 1.25 !important; }}
/* printed: the last page's speaker notes end the PDF (reveal.js would break after them onto a blank page) */
html.reveal-print .reveal .slides > .speaker-notes-pdf:last-child {{ page-break-after: avoid; }}
</style>
"""


def _npm_pack(spec: str, sha256: str, folder: Path) -> Path:
    """The tarball of an npm package version, fetched with ``npm pack`` and checked against ``sha256``."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("The slides need npm to fetch reveal.js once (Debian: apt-get install npm); "
                         "after that they work with no network.")
    print(f"Fetching {spec} with npm (once; cached afterwards) ...", flush=True)
    done = subprocess.run([npm, "pack", spec, "--pack-destination", str(folder), "--loglevel=error",
                           "--fetch-retries=1", "--fetch-timeout=30000"], capture_output=True, text=True)
    if done.returncode != 0:
        reason = next((line.removeprefix("npm error").strip() for line in done.stderr.splitlines()
                       if line.strip() and "A complete log" not in line), "no message")
        raise AssetError(f"`npm pack {spec}` failed ({reason}). Is the npm registry reachable? Build the slides "
                         "once online.")
    tarball = folder / done.stdout.strip().splitlines()[-1]
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != sha256:
        raise AssetError(f"{tarball.name} has sha256 {digest}, not the pinned {sha256}: refusing to use it.")
    return tarball


def _build_assets(out: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        for spec, sha256 in PACKAGES.items():
            name = spec.rsplit("@", 1)[0]
            with tarfile.open(_npm_pack(spec, sha256, Path(tmp))) as archive:
                archive.extractall(Path(tmp) / name, filter="data")
            shutil.copytree(Path(tmp) / name / "package", out / name)
    for name, text in STUBS.items():
        (out / name).write_text(text)
    return {"packages": PACKAGES}


def reveal_assets() -> Path:
    """The cached, verified folder with reveal.js, require.js, jQuery and the two stubs (built on first use)."""
    return cached_folder(ASSET) or build_folder(ASSET, _build_assets, sources=tuple(PACKAGES))


def read_notebook(path: Path):
    """The notebook at ``path``, checked: a valid .ipynb with slide structure, or one AssetError saying what is
    wrong (before anything is written)."""
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # noqa: BLE001 (NotJSONError, ValidationError, UnicodeDecodeError, KeyError...)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:150]
        raise AssetError(f"{path} is not a valid notebook ({type(exc).__name__}: {detail}); open it in Jupyter "
                         "to repair it, or restore it with git.") from None
    if not any(cell.get("metadata", {}).get("slideshow", {}).get("slide_type") for cell in notebook.cells):
        raise AssetError(f"{path} has no slide structure (no cell has slideshow metadata), so its deck would be "
                         "one endless slide. Mark slides in JupyterLab's property inspector (Slide Type).")
    return notebook


def deck_content(notebook: Path):
    """The notebook as its deck shows it: outputs shortened, notes unfolded, the recording line on the title
    slide, no answer before its question (``for_the_class``)."""
    content = read_notebook(notebook)
    shorten_long_outputs(content)
    unfold_notes(content)
    add_recording_line(content)
    for_the_class(content, ROOT / "notebooks" / notebook.name)
    return content


def build_deck(notebook: Path, out_dir: Path, assets_name: str = "slides-assets") -> Path:
    """``out_dir/<notebook>.slides.html`` from the notebook's saved outputs, using the assets copied next to it;
    its title slide says which models the outputs come from."""
    from nbconvert import SlidesExporter

    content = deck_content(notebook)
    local = out_dir / assets_name
    if not is_complete_copy(local):  # missing, empty or stale: the files the cache lists, no link, all or nothing
        copy_listed(ASSET, reveal_assets(), local)
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = SlidesExporter(reveal_url_prefix=f"{assets_name}/reveal.js",
                              require_js_url=f"{assets_name}/requirejs/require.js",
                              jquery_url=f"{assets_name}/jquery/dist/jquery.min.js",
                              mathjax_url=f"{assets_name}/mathjax.js", mermaid_js_url=f"{assets_name}/mermaid.mjs",
                              reveal_width=str(WIDTH), reveal_height=str(HEIGHT), reveal_theme="white",
                              reveal_number="c/t", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={OUTPUT_ONLY, CHECK}), enabled=True)
    html, _ = exporter.from_notebook_node(content, resources={"metadata": {"name": notebook.stem,
                                                                         "path": str(notebook.parent)}})
    html = html.replace("</head>", CSS + "</head>", 1)
    deck = out_dir / f"{notebook.stem}.slides.html"
    try:
        write_atomic(deck, html)  # a new file beside it, renamed over it: never written through a link
    except OSError as exc:
        raise AssetError(f"Could not write {deck} ({exc.strerror or exc}); nothing was left half-written. Free some "
                         "space or choose another --output folder.") from None
    return deck


def chromium() -> str | None:
    """The headless browser that prints the PDF decks (Debian's chromium), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def print_pdf(deck: Path, browser) -> Path:
    """``deck``'s PDF beside it (``.slides.pdf``), printed by reveal.js's print view in headless Chromium: one page
    per slide, and each slide's speaker notes on the page after it. Written under a temporary name and renamed.

    ``browser`` is Chromium's path, or a playwright Browser already running (the tests share one)."""
    from playwright.sync_api import Error, sync_playwright

    pdf = deck.with_suffix(".pdf")
    handle, name = tempfile.mkstemp(dir=pdf.parent, prefix=f".{pdf.name}.", suffix=".part")  # new: never a link
    os.close(handle)
    part = Path(name)

    def print_with(chrome) -> None:
        page = chrome.new_page()
        try:
            page.goto(deck.resolve().as_uri() + "?print-pdf&showNotes=separate-page")
            page.wait_for_selector(".reveal.ready .pdf-page", timeout=60_000)
            page.wait_for_function("() => [...document.images].every(img => img.complete)", timeout=60_000)
            page.pdf(path=str(part), prefer_css_page_size=True, print_background=True)
        finally:
            page.close()

    try:
        if isinstance(browser, str):
            with sync_playwright() as playwright:
                chrome = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox"])
                try:
                    print_with(chrome)
                finally:
                    chrome.close()
        else:
            print_with(browser)
        os.chmod(part, 0o644)
        part.replace(pdf)
    except (Error, OSError) as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0][:150]
        raise AssetError(f"Could not print {pdf} ({reason}); nothing was left half-written.") from None
    return pdf


def hub_models_reachable() -> bool:
    """Whether this machine can download the real models (not offline, and the Hub answers for both)."""
    from utils.offline import hub

    return not hub.offline() and all(hub.reachable(name) for name in ("bert-base-uncased", "gpt2"))


def record(notebook: Path, out_dir: Path) -> Path:
    """Execute ``notebook`` (classroom profile, widgets drawn once) into ``out_dir``, with whichever models load:
    online, the Hub's. Written all at once."""
    import nbformat
    from nbclient import NotebookClient

    executed = nbformat.read(notebook, as_version=4)
    env = {**os.environ, "LLM_TUTORIAL_WIDGETS": "off"}
    NotebookClient(executed, timeout=3600, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute(env=env)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_atomic(out_dir / notebook.name, nbformat.writes(executed))


def stand_in_recordings(recorded: list[Path]) -> list[Path]:
    """The recordings whose outputs come from an offline stand-in."""
    import nbformat

    return [path for path in recorded
            if recorded_with(nbformat.read(path, as_version=4)).startswith("*Recorded offline")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build offline reveal.js decks of the notebooks.")
    parser.add_argument("notebooks", nargs="*", type=user_path, help="default: docs/recorded/*.ipynb (make record)")
    parser.add_argument("--output", type=user_path, default=ROOT / "build",
                        help="folder for the decks (default build/; ~ works, also in --output=~/decks)")
    parser.add_argument("--no-pdf", action="store_true", help="only the HTML decks, no PDF copies")
    parser.add_argument("--record-online", action="store_true",
                        help="where the Hub's models can be downloaded, first record again (make record) every "
                             "recording that shows an offline stand-in, so the decks show the real models")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / RECORDED).glob("*.ipynb"))
    if args.record_online and hub_models_reachable():
        for stale in stand_in_recordings([n for n in notebooks if n.is_file()]):
            print(f"Recording {stale.name} again with the Hub's models (a few minutes) ...", flush=True)
            record(ROOT / "notebooks" / stale.name, stale.parent)
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        parser.error(f"no notebook at {', '.join(missing)}")
    try:
        for notebook in notebooks:  # every one readable before anything is written
            read_notebook(notebook)
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot create the output folder {args.output} ({exc.strerror or exc}); choose another "
              "--output folder.", file=sys.stderr)
        return 1
    browser = None if args.no_pdf else chromium()
    try:
        decks = [build_deck(notebook, args.output) for notebook in notebooks]  # every deck, before any PDF
        print("\n".join(map(str, decks)), flush=True)
        for deck in decks if browser else []:
            print(print_pdf(deck, browser))
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.no_pdf and browser is None:
        print("No PDF copies: they are printed by Chromium, which is not installed (Debian: apt-get install "
              "chromium). The HTML decks above work without it.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted: each deck and PDF is written whole or not at all; run it again.", file=sys.stderr)
        sys.exit(130)
