"""From a MediaWiki XML dump to clean plain-text articles, parsed once and cached.

The records have the schema of the Hub's ``wikimedia/wikipedia`` (``id, url, title, text``), so the
notebooks run the same code on either source. :func:`iter_pages` and :func:`clean_wikitext` also run
inside the Apache Beam pipeline (``utils.data.wikipedia_beam``) that processes the full English dump.
"""

from __future__ import annotations

import bz2
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

import mwparserfromhell
from mwparserfromhell.nodes import Comment, Tag, Template, Wikilink

from utils.offline.cache import cache_root, sha256_of

if TYPE_CHECKING:  # datasets is imported where it is used: the Beam workers need only the parser
    from datasets import Dataset

DEFAULT_BASE = "https://en.wikipedia.org/wiki/"
# Links to these namespaces are media, categories or other-language copies, not article text.
_DROP_LINK_PREFIXES = ("file", "image", "media", "category")
_INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]+)?:")
_DROP_TAGS = {"ref", "references", "table", "gallery", "math", "chem", "timeline", "imagemap", "score",
              "syntaxhighlight", "source", "noinclude", "templatedata"}


class WikipediaError(ValueError):
    """A dump could not be read; the message says what is wrong and what to do."""


# --------------------------------------------------------------------------------------------
# Streaming pages out of the XML
# --------------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _require_dump(path: Path) -> None:
    if not path.is_file():
        raise WikipediaError(f"No dump at {path}. Pass the path of a pages-articles .xml or .xml.bz2 file.")


def _open_dump(path: Path) -> BinaryIO:
    _require_dump(path)
    return bz2.open(path, "rb") if path.suffix == ".bz2" else open(path, "rb")


def iter_pages(stream: BinaryIO, source: str = "dump") -> Iterator[dict]:
    """Yield ``{id, url, title, wikitext}`` for each main-namespace, non-redirect page, in constant memory."""
    base = DEFAULT_BASE
    page: dict = {}
    depth = 0
    try:
        for event, elem in ET.iterparse(stream, events=("start", "end")):
            tag = _local(elem.tag)
            if event == "start":
                if tag == "page":
                    page, depth = {}, 0
                elif tag == "revision":
                    depth += 1
                continue
            if tag == "base" and elem.text:  # siteinfo: https://<lang>.wikipedia.org/wiki/Main_Page
                base = elem.text.rsplit("/", 1)[0] + "/"
            elif tag == "title":
                page["title"] = elem.text or ""
            elif tag == "ns":
                page["ns"] = elem.text
            elif tag == "id" and depth == 0 and "id" not in page:
                page["id"] = elem.text
            elif tag == "redirect":
                page["redirect"] = True
            elif tag == "text":
                page["wikitext"] = elem.text or ""
            elif tag == "revision":
                depth -= 1
            elif tag == "page":
                if page.get("ns") == "0" and not page.get("redirect") and "wikitext" in page:
                    if not page.get("id"):
                        raise WikipediaError(f"{source}: the page {page.get('title', '')[:80]!r} has no <id> (every "
                                             "page of a MediaWiki dump has one); is this a complete pages-articles "
                                             "dump?")
                    yield {"id": page["id"], "url": base + quote(page["title"].replace(" ", "_")),
                           "title": page["title"], "wikitext": page["wikitext"]}
                elem.clear()
    except ET.ParseError as exc:
        if exc.code == 3 and str(source).endswith(".bz2"):  # "no element found": the stream stopped at once
            raise WikipediaError(f"{source} ends early: the .bz2 is truncated or empty ({exc}). Download it "
                                 "again.") from exc
        raise WikipediaError(f"{source} is not a valid MediaWiki XML dump ({exc}).") from exc
    except EOFError as exc:
        raise WikipediaError(f"{source} ends early: the .bz2 is truncated ({exc}). Download it again.") from exc
    except OSError as exc:
        raise WikipediaError(f"{source} could not be decompressed ({exc}); is it really a .bz2 dump?") from exc


# --------------------------------------------------------------------------------------------
# Wikitext -> plain text
# --------------------------------------------------------------------------------------------


def _drop_link(link) -> bool:
    title = str(link.title).strip().lstrip(":")
    prefix = title.split(":", 1)[0].strip().lower() if ":" in title else ""
    return prefix in _DROP_LINK_PREFIXES or bool(len(prefix) <= 3 and _INTERLANGUAGE.match(title))


def _drop_tag(tag) -> bool:
    return str(tag.tag).lower() in _DROP_TAGS or tag.wiki_markup == "{|"


# Markup the parser leaves as plain text when it is malformed (an unclosed table, a stray tag). Real dumps hold
# unclosed footnotes and templates; they end at the end of their line, never at the end of the article.
_RESIDUE = [
    (re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", re.IGNORECASE | re.DOTALL), ""),
    (re.compile(r"<ref[^>]*>[^\n]*", re.IGNORECASE), ""),  # an unclosed footnote: the rest of its line
    (re.compile(r"\{\{[^{}]*\}\}"), ""),  # innermost templates; applied until none are left
    (re.compile(r"\{\{[^\n]*"), ""),  # an unclosed template ({{Infobox ... never closed): the rest of its line
    (re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]"), r"\1"),
    (re.compile(r"</?[a-zA-Z][^>]*>"), ""),
]
# brackets whose content was all markup ("the arithmetic mean (), or ..." once its pronunciation template is gone)
_EMPTY_BRACKETS = re.compile(r"\s*\(\s*[,;:]*\s*\)")
_TABLE_LINE = re.compile(r"^\s*(\{\||\|\}|\|-|\||!)")
_MEDIA_LINE = re.compile(r"^\s*\[*\s*(File|Image|Category|Media)\s*:", re.IGNORECASE)


# The parser backtracks over the rest of the page for every opening it cannot close ({{, <ref>, [http...), so a
# page of thousands of unclosed ones takes minutes (20,000 unclosed <ref> tags: 70 s). Past this many, the page is
# cleaned in pieces of PIECE_CHARS, which bounds the cost; real articles leave a handful open at most.
UNCLOSED_LIMIT = 100
PIECE_CHARS = 2000
_OPEN_TAG = re.compile(r"<(?!(?:br|hr|wbr|img)\b)[a-zA-Z]", re.IGNORECASE)  # a tag that needs closing


def unclosed(wikitext: str) -> int:
    """Roughly how many templates, tags, links or comments ``wikitext`` opens and never closes (in linear time)."""
    return max(wikitext.count("{{") - wikitext.count("}}"), wikitext.count("[") - wikitext.count("]"),
               wikitext.count("<!--") - wikitext.count("-->"),
               len(_OPEN_TAG.findall(wikitext)) - wikitext.count("</") - wikitext.count("/>"))


def _pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """``text`` cut into pieces of at most ``size`` characters, at a line break or space where there is one."""
    pieces = []
    while len(text) > size:
        cut = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
        cut = cut if cut > 0 else size
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def clean_wikitext(wikitext: str) -> str:
    """Plain article text: no templates, footnotes, files, categories or tables; links become their text. A page
    of broken markup (more than UNCLOSED_LIMIT openings left unclosed) is cleaned piece by piece, in bounded time."""
    pieces = _pieces(wikitext) if unclosed(wikitext) > UNCLOSED_LIMIT else [wikitext]
    return "\n".join(line for piece in pieces for line in _clean_piece(piece))


def _clean_piece(wikitext: str) -> list[str]:
    code = mwparserfromhell.parse(wikitext)
    _prune(code)
    return _clean_lines(code.strip_code(normalize=True, collapse=True))


def _prune(code) -> None:
    """Drop templates, comments, footnotes, tables and media/category links, at any depth, in one pass."""
    kept = []
    for node in code.nodes:
        if isinstance(node, (Template, Comment)) or (isinstance(node, Tag) and _drop_tag(node)) \
                or (isinstance(node, Wikilink) and _drop_link(node)):
            continue
        for child in node.__children__():  # the node's own wikicode: link text, tag contents, ...
            _prune(child)
        kept.append(node)
    code.nodes = kept


def _clean_lines(text: str) -> list[str]:
    """Non-empty prose lines, with any markup the parser could not understand removed."""
    for pattern, repl in _RESIDUE:
        previous = None
        while previous != text:
            previous, text = text, pattern.sub(repl, text)
    lines = []
    for line in text.splitlines():
        line = _EMPTY_BRACKETS.sub("", re.sub(r"\s+", " ", line)).strip()
        if line and not _TABLE_LINE.match(line) and not _MEDIA_LINE.match(line) and line not in "*#:;":
            lines.append(line.replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", ""))
    return lines


def to_record(page: dict) -> dict:
    """A ``wikimedia/wikipedia``-style record from one parsed page."""
    return {"id": page["id"], "url": page["url"], "title": page["title"], "text": clean_wikitext(page["wikitext"])}


def parse_dump(path: str | Path) -> list[dict]:
    """All clean articles of a (small) dump, in file order."""
    path = Path(path)
    with _open_dump(path) as stream:
        return [to_record(page) for page in iter_pages(stream, source=str(path))]


# --------------------------------------------------------------------------------------------
# Cached parse and the train/valid subset
# --------------------------------------------------------------------------------------------


PARSER_VERSION = 3  # part of the cache key: a change to the cleaning re-parses every cached dump


def parse_cache_file(path: Path, cache: Path | None = None) -> Path:
    """Where the parse of the dump ``path`` is cached: named by its sha256 and the parser version."""
    folder = cache or cache_root() / "wikipedia-parsed"
    return folder / f"{path.name}.{sha256_of(path)[:16]}.v{PARSER_VERSION}.parquet"


def parsed_articles(path: str | Path, cache: Path | None = None) -> Dataset:
    """Clean articles of a dump as a Dataset, parsed once and cached under the file's sha256.

    A damaged cached parse (a truncated or overwritten Parquet file) is parsed again, with one line saying so.
    """
    from datasets import Dataset

    path = Path(path)
    _require_dump(path)  # before hashing it
    target = parse_cache_file(path, cache)
    folder = target.parent
    if target.is_file():
        try:
            return Dataset.from_parquet(str(target), keep_in_memory=True)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
            print(f"The cached parse {target} is damaged ({type(exc).__name__}); parsing {path.name} again.")
            target.unlink()
    records = parse_dump(path)
    if not records:
        raise WikipediaError(f"{path} holds no main-namespace articles.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            part = Path(tmp) / target.name
            Dataset.from_list(records).to_parquet(str(part))
            os.replace(part, target)
    except OSError as exc:  # a full or read-only disk: the parse is still good, only not kept for next time
        print(f"Could not cache the parse in {folder} ({exc.strerror or exc}); using it without caching it "
              f"(the next run parses {path.name} again).")
        return Dataset.from_list(records)
    for stale in folder.glob(f"{path.name}.*.parquet"):  # parses of an older dump or by an older parser
        if stale != target:
            stale.unlink()
    return Dataset.from_parquet(str(target), keep_in_memory=True)
