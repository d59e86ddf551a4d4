"""The documentation holds together: links resolve, the README stays short, and no doc names a module that is gone.

Reads README.md, docs/*.md, benchmarks/README.md and tests/README.md as text (standard library only, no network):

- every relative markdown link ``[text](path)`` or ``[text](path#anchor)`` names a file inside the repository, and
  its anchor a heading of that file (GitHub's slugs);
- README.md has at most 1,500 words, and its Layout section names every module file under utils/;
- every module a doc names (``utils.x.y``, ``utils.x.y.attribute``, ``utils/x/y.py``) exists, and so does every
  file of tests/ or benchmarks/ it names, so a renamed module fails here until the docs follow;
- tests/README.md names every file of tests/, benchmarks/README.md every script of benchmarks/;
- every link inside a notebook to ``#anchor`` names one of its headings (JupyterLab's anchors);
- each notebook's lesson time, the sum of its instructor notes' minutes, is what its first note and docs/teaching.md
  say.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from utils.tools.record import for_recording, instructor_notes

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md", ROOT / "tests" / "README.md"]
MAX_README_WORDS = 1_500

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
DOTTED = re.compile(r"(?<![\w.])utils(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w./-])(?:utils|tests|benchmarks)/[\w./-]*\w(?![\w*/]|\.\w)")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _ids(paths: list[Path]) -> list[str]:
    return [_rel(p) for p in paths]


def without_code_blocks(text: str) -> str:
    """The text with fenced code blocks blanked (their lines kept, so nothing joins up)."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def prose(text: str) -> str:
    """Text outside code blocks and code spans: where a markdown link is a link."""
    return CODE_SPAN.sub(" ", without_code_blocks(text))


def rendered(heading: str) -> str:
    """A heading's text as it renders: a link shows its text; no html tags, code marks or emphasis markers."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    return re.sub(r"(\*+|(?<!\w)_+|_+(?!\w))", "", text).strip()  # not the underscores inside a word


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower-cased, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", rendered(heading).lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a markdown file; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(without_code_blocks(path.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return frozenset(result)


def broken_links(doc: Path) -> list[str]:
    """What is wrong with each relative link of ``doc``: a missing file, a path outside the repo, a missing anchor."""
    problems = []
    for match in LINK.finditer(prose(doc.read_text(encoding="utf-8"))):
        target = match.group(1)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, mailto: ...: not a file of this repository
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.is_relative_to(ROOT):
            problems.append(f"{target}: points outside the repository")
        elif not path.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
            problems.append(f"{target}: no heading #{anchor} in {_rel(path)}")
    return problems


@cache
def top_level_names(module: Path) -> frozenset[str]:
    """The names a module defines or imports at its top level (inside top-level if/try blocks too)."""
    names: set[str] = set()
    pending = list(ast.parse(module.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            pending.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            pending.extend(stmt for handler in getattr(node, "handlers", []) for stmt in handler.body)
    return frozenset(names)


def dotted_problem(name: str) -> str | None:
    """None when ``name`` (utils.a.b[.attribute...]) is a module of utils/, or a name defined at its top level."""
    folder, parts = ROOT / "utils", name.split(".")[1:]
    for i, part in enumerate(parts):
        if (folder / part / "__init__.py").is_file():
            folder = folder / part
            continue
        module = folder / f"{part}.py"
        if module.is_file():
            rest = parts[i + 1:]
            if rest and rest[0] not in top_level_names(module):
                return f"{name}: {_rel(module)} defines no {rest[0]!r}"
            return None
        if part in top_level_names(folder / "__init__.py"):
            return None
        return f"{name}: no module {_rel(folder)}/{part}.py or package {_rel(folder)}/{part}/"
    return None


def stale_names(doc: Path) -> list[str]:
    """Modules and files of utils/, tests/ and benchmarks/ that ``doc`` names but that do not exist."""
    text = doc.read_text(encoding="utf-8")
    problems = [p for name in sorted(set(DOTTED.findall(text))) if (p := dotted_problem(name))]
    problems += [f"{path}: no such file or folder" for path in sorted(set(PATH.findall(text)))
                 if not (ROOT / path).exists()]
    return problems


def section(text: str, title: str) -> str:
    """The body of the level-2 section ``title``, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", without_code_blocks(text), re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_relative_link_resolves_to_a_file_and_heading(doc):
    assert doc.is_file(), f"{_rel(doc)} is missing"
    assert broken_links(doc) == [], f"{_rel(doc)} has broken links"


def jupyter_anchor(heading: str) -> str:
    """JupyterLab's anchor for a notebook heading: the rendered text, spaces to hyphens, case and punctuation kept."""
    return rendered(heading).replace(" ", "-")


def test_every_link_inside_a_notebook_names_one_of_its_headings():
    import nbformat

    broken, links = [], 0
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        texts = [cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "markdown"]
        headings = {jupyter_anchor(m.group(2)) for text in texts for m in HEADING.finditer(without_code_blocks(text))}
        inside = [m.group(1) for text in texts for m in LINK.finditer(prose(text)) if m.group(1).startswith("#")]
        broken += [f"{notebook.name}: {link}" for link in inside if link[1:] not in headings]
        links += len(inside)
    assert links >= 5 and broken == []


def test_the_readme_reads_in_five_minutes():
    words = len(README.read_text(encoding="utf-8").split())
    assert words <= MAX_README_WORDS, f"README.md has {words} words; at most {MAX_README_WORDS}: move detail to docs/"


def test_the_layout_names_every_module():
    layout = section(README.read_text(encoding="utf-8"), "Layout")
    modules = sorted(_rel(p) for p in (ROOT / "utils").rglob("*.py") if p.name != "__init__.py")
    assert modules, "no module found under utils/"
    missing = [m for m in modules if not re.search(rf"(?<![\w/]){re.escape(m)}(?!\w)", layout)]
    assert missing == [], f"README.md's Layout section does not name {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_no_doc_names_a_module_or_file_that_does_not_exist(doc):
    assert stale_names(doc) == [], f"{_rel(doc)} names what does not exist"


@pytest.mark.parametrize("folder", ["tests", "benchmarks"])
def test_each_folder_readme_names_every_file_of_its_folder(folder):
    text = (ROOT / folder / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in sorted((ROOT / folder).glob("*.py")) if not re.search(rf"\b{re.escape(p.name)}\b", text)]
    assert missing == [], f"{folder}/README.md does not name {missing}"


def test_the_checks_themselves():
    """The helpers above catch what they are for: a slug, a stale module, an attribute, a link in code."""
    assert slug("`make run` and `make test`") == "make-run-and-make-test"
    assert slug("Checkpoints and resuming") == "checkpoints-and-resuming"
    assert slug("What *each* file_name covers?") == "what-each-file_name-covers"
    assert dotted_problem("utils.offline.assets") is None
    assert dotted_problem("utils.pretraining.trainer_steps") is None
    assert dotted_problem("utils.LAYERS") is None
    assert dotted_problem("utils.wikitext") is not None
    assert dotted_problem("utils.device.keep_freed_memory") is not None
    assert LINK.findall(prose("see `[a](b.md)` and\n```\n[c](d.md)\n```\n[e](f.md#g)")) == ["f.md#g"]
    assert PATH.findall("`utils/data/mediawiki.py`. and notebooks/solutions/NN_*.py, tests/NN_*.py") == [
        "utils/data/mediawiki.py"]


NOTE = re.compile(r"Instructor notes \(about (\d+) min([^)]*)\)")


def lesson_minutes(notebook: Path) -> tuple[int, int, str]:
    """(core, optional) minutes of a notebook's instructor notes, and its first note's text. A note's own minutes are
    core unless it says optional; a "+N min" inside a core note is an optional exercise's."""
    core, optional, notes = 0, 0, []
    for _, _, text in instructor_notes(notebook):
        if (note := NOTE.search(text)) is None:
            continue
        notes.append(text)
        if "optional" in note.group(2):
            optional += int(note.group(1))
        else:
            core += int(note.group(1))
            optional += sum(int(n) for n in re.findall(r"\+(\d+) min", text))
    return core, optional, notes[0]


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.stem)
def test_the_lesson_time_is_the_sum_of_the_instructor_notes(notebook):
    core, optional, first = lesson_minutes(notebook)
    row = next(line for line in (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8").splitlines()
               if line.startswith(f"| {int(notebook.name[:2])} ") and "min core" in line)
    assert f"~{core} min core" in row and f"+{optional} optional" in row, (core, optional, row)
    assert f"about {core} min" in " ".join(first.split()), (core, first)
    assert re.search(rf"\b({optional}|{core + optional})\b", first), (optional, first)


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.stem)
def test_each_exercise_s_minutes_are_the_same_in_the_notebook_and_the_teaching_table_and_add_up(notebook):
    """An exercise's heading says core or optional and its minutes; docs/teaching.md's table says the same, and a
    notebook that states its exercises' totals states their sums."""
    text = "\n".join(cell.source for cell in for_recording(notebook).cells if cell.cell_type == "markdown")
    headings = {number: (kind, int(minutes)) for number, kind, minutes in
                re.findall(r"\*\*Exercise (\w+) \((core|optional), about (\d+) min", text)}
    rows = {number: (kind, int(minutes)) for number, kind, minutes in re.findall(
        rf"^\| {int(notebook.name[:2])} \| (\w+) [^|]*\| (core|optional), (\d+) \|",
        (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8"), re.M)}
    assert headings and headings == rows, (headings, rows)
    for kind, stated in re.findall(r"\*(core|optional)\*[^(]*\(about (\d+) min", " ".join(text.split()), re.I):
        assert int(stated) == sum(m for k, m in headings.values() if k == kind.lower()), (kind, stated, headings)
