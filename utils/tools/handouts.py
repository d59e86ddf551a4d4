"""HTML handouts of executed notebooks that make no request outside the page: ``python -m utils.tools.handouts``.

nbconvert's HTML loads require.js and MathJax from a public CDN: offline a handout loses its scripts, and in a
classroom every open page tells a third party who is reading. Here the scripts are the decks' own pinned,
sha256-verified copies (``utils.tools.slides``), copied next to the handouts and named by relative paths, so a
folder of handouts works offline and anywhere it is copied. Figures are embedded in the page with their alt text.
``make run`` writes one handout per executed notebook into ``build/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from utils.offline.cache import AssetError, copy_listed, is_complete_copy
from utils.support.files import user_path, write_atomic
from utils.tools.slides import ASSET, reveal_assets

ASSETS = "slides-assets"  # the folder beside the handouts (the decks share it)


def read_executed(path: Path):
    """The notebook at ``path``, or one AssetError saying it is not a valid notebook."""
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # noqa: BLE001 (NotJSONError, ValidationError, UnicodeDecodeError, OSError...)
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:150]
        raise AssetError(f"{path} is not a valid notebook ({type(exc).__name__}: {detail}).") from None
    notebook.metadata.pop("widgets", None)  # saved widget state would load a widget manager from a CDN
    return notebook


def build_handout(notebook: Path, out_dir: Path) -> Path:
    """``out_dir/<notebook>.html``, its scripts read from ``out_dir/slides-assets``; written all at once."""
    from nbconvert import HTMLExporter

    content = read_executed(notebook)
    out_dir.mkdir(parents=True, exist_ok=True)
    local = out_dir / ASSETS
    if not is_complete_copy(local):  # missing, empty or stale: the files the cache lists, no link, all or nothing
        copy_listed(ASSET, reveal_assets(), local)
    exporter = HTMLExporter(template_name="lab", require_js_url=f"{ASSETS}/requirejs/require.js",
                            mathjax_url=f"{ASSETS}/mathjax.js", mermaid_js_url=f"{ASSETS}/mermaid.mjs")
    html, _ = exporter.from_notebook_node(content, resources={"metadata": {"name": notebook.stem,
                                                                         "path": str(notebook.parent)}})
    handout = out_dir / f"{notebook.stem}.html"
    try:
        write_atomic(handout, html)  # a new file beside it, renamed over it: never written through a link
    except OSError as exc:
        raise AssetError(f"Could not write {handout} ({exc.strerror or exc}); nothing was left half-written. "
                         "Free some space or choose another --output folder.") from None
    return handout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTML handouts of executed notebooks, with no outside request.")
    parser.add_argument("notebooks", nargs="+", type=user_path, help="executed notebooks, e.g. build/*.ipynb")
    parser.add_argument("--output", type=user_path, default=None,
                        help="folder for the handouts (default: beside each)")
    args = parser.parse_args(argv)
    missing = [str(n) for n in args.notebooks if not n.is_file()]
    if missing:
        parser.error(f"no notebook at {', '.join(missing)}")
    try:
        for notebook in args.notebooks:
            print(build_handout(notebook, args.output or notebook.parent))
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted: each handout is written whole or not at all; run it again.", file=sys.stderr)
        sys.exit(130)
