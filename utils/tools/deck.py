"""What a deck shows of a recorded notebook, cell by cell (``utils.tools.slides`` builds the deck from it): long
outputs cut to fit a slide, instructor notes unfolded into speaker notes, a title-slide line naming the models that
ran, and no answer before its question (``for_the_class``)."""

from __future__ import annotations

import re
from pathlib import Path

from utils.tools.record import PREDICTION

MAX_OUTPUT_LINES = 20  # a longer printed output is cut on the slide (the notebook keeps it whole)
CHECK = "exercise-check"  # an exercise's check cell: on slides its verdict, not its code (the notebook has both)


def shorten_long_outputs(notebook, most: int = MAX_OUTPUT_LINES, tail: int = 4) -> int:
    """Cut every text output longer than ``most`` lines to ``most`` lines: its start, a line saying how many the
    notebook shows in between, and its last ``tail`` lines (a printed model ends with its output layer, a table with
    its total). A slide holds about 22 lines of 24 px text. Returns how many outputs were cut."""
    cut = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            key = "text" if output.get("output_type") == "stream" else None
            if key is None and "text/plain" in output.get("data", {}) and len(output["data"]) == 1:
                holder, key = output["data"], "text/plain"
            else:
                holder = output
            if key is None:
                continue
            lines = "".join(holder[key]).splitlines()
            if len(lines) > most:
                head = most - 1 - tail
                marker = f"... {len(lines) - head - tail} more lines in the notebook"
                holder[key] = "\n".join(lines[:head] + [marker] + lines[len(lines) - tail:]) + "\n"
                cut += 1
    return cut


def models_that_ran(notebook, starts=("Model: ", "Tokenizer: ")) -> list[str]:
    """The load lines the recorded run printed ("Model: gpt2 (downloaded from the Hub)", ...), in order."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) if output.get("output_type") == "stream" else ""
            lines += [line for line in text.splitlines() if line.startswith(starts)]
    return list(dict.fromkeys(lines))


def recorded_with(notebook) -> str:
    """One line for the title slide: which models the recorded outputs come from (the Hub's, or the offline
    stand-ins, named), and the offline articles where the run read them, so a deck never shows a stand-in's numbers
    under the real model's name unsaid. A recording made offline starts "*Recorded offline"."""
    loaded = models_that_ran(notebook)
    articles = [found.group(1) for line in models_that_ran(notebook, ("Wikipedia: ",))
                if (found := re.match(r"Wikipedia: (.*?) articles from the offline sample", line))]
    if not loaded:
        return "*Recorded outputs: no model was loaded.*"
    stand_ins = [line for line in loaded if "stand-in" in line]
    if any("identical ids" not in line for line in stand_ins):
        # "X (offline stand-in for gpt2: why)" -> "X (offline stand-in for gpt2)": the why is the notebook's to say
        names = "; ".join(re.sub(r"(\(offline stand-in for [^:)]*):.*$", r"\1)", line.split(": ", 1)[1])
                          for line in loaded)
        said = f"Recorded offline, with the stand-ins: {names}. The real models' outputs differ."
    else:  # the real ids, rebuilt offline: nothing about the model differs
        names = "; ".join(re.sub(r" \(offline stand-in for .*$", "", line.split(": ", 1)[1]) for line in loaded)
        said = f"Recorded offline, with {names}." if stand_ins else f"Recorded with {names}."
    if articles:  # the same tokenizer, other text: the numbers differ because of the articles
        said += f" Articles: {articles[0]} of the offline 2014 sample (the Hub's give other numbers)."
    return f"*{said}*"


def add_recording_line(notebook) -> None:
    """Put ``recorded_with`` on the title slide, right after the notebook's first cell."""
    import nbformat

    line = nbformat.v4.new_markdown_cell(recorded_with(notebook))
    line.metadata["slideshow"] = {"slide_type": "-"}
    notebook.cells.insert(1, line)


# a notes cell, as the recorded copies fold it (docs/instructor-notes/ holds its text): an instructor unfolds it
FOLDED_NOTES = re.compile(r"\A<details><summary><em>(Instructor notes[^<]*)</em></summary>\s*(.*?)\s*</details>\s*\Z",
                          re.S)


def unfold_notes(notebook) -> int:
    """Every folded notes cell made plain ("*Instructor notes (about 2 min):* ..."): in a deck they are the speaker
    notes, read whole beside the slide; returns how many were unfolded."""
    unfolded = 0
    for cell in notebook.cells:
        folded = FOLDED_NOTES.match(cell.source) if cell.cell_type == "markdown" else None
        if folded and cell.metadata.get("slideshow", {}).get("slide_type") == "notes":
            cell.source = f"*{folded.group(1)}:* {folded.group(2)}"
            unfolded += 1
    return unfolded


def _drop(notebook, index: int) -> None:
    """Take out cell ``index``; a slide it started starts at the next cell instead, if that cell continues it, and a
    new column (``slide``) it started stays one."""
    cell, rest = notebook.cells.pop(index), notebook.cells[index:]
    kind = cell.metadata.get("slideshow", {}).get("slide_type")
    following = rest[0].metadata.get("slideshow", {}).get("slide_type") if rest else None
    if rest and (kind in ("slide", "subslide") and following in (None, "-", "fragment")
                 or kind == "slide" and following == "subslide"):
        rest[0].metadata["slideshow"] = {"slide_type": kind}


# On a result slide the recording's "you" is the reference prediction, not the class's
AS_THE_REFERENCE = ((re.compile(r"\bYou predicted\b"), "The reference predicted"),
                    (re.compile(r"\byou predicted\b"), "the reference predicted"),
                    (re.compile(r"\byou said\b"), "the reference said"),
                    (re.compile(r"\bYour guess\b"), "The reference guess"))
UNANSWERED = re.compile(r"Not answered yet|Exercise \S+ first\b")  # a verdict on a blank answer cell
WAITING = re.compile(r"Write exercise")  # a cell that runs a student's exercise, waiting for it


def _waits(cell) -> bool:
    """Whether ``cell`` only waits for an exercise: its whole (sub)slide is left out."""
    printed = _printed(cell)
    return bool(WAITING.match(printed) or CHECK not in cell.metadata.get("tags", []) and UNANSWERED.match(printed))


def _printed(cell) -> str:
    return "".join("".join(out.get("text", "")) for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream")


def _starts(cell) -> bool:
    return cell.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide")


def for_the_class(notebook, student_copy: Path | None) -> None:
    """A deck asks before it answers: each ``prediction`` cell shows what the student sees (its blank, from the
    student's copy in ``notebooks/``, or nothing), not the reference the recording ran with, and the result slide
    after it calls that prediction the reference's, not "you". A check left unanswered in the recording ("Not
    answered yet") is left out, and so is a (sub)slide that only waits for an exercise ("Write exercise 2b's loop
    first")."""
    import nbformat

    blanks = {}
    if student_copy is not None and student_copy.is_file():
        blanks = {cell.id: cell.source for cell in nbformat.read(student_copy, as_version=4).cells}
    cells = notebook.cells
    for index in reversed(range(len(cells))):
        if index < len(cells) and _waits(cells[index]):
            start = next(i for i in range(index, -1, -1) if _starts(cells[i]) or i == 0)
            end = next((i for i in range(index + 1, len(cells)) if _starts(cells[i])), len(cells))
            for _ in range(end - 1, start, -1):
                _drop(notebook, start + 1)
            _drop(notebook, start)
    for index in reversed(range(len(cells))):
        cell = cells[index]
        tags = cell.metadata.get("tags", [])
        if PREDICTION in tags and cell.get("id") in blanks:
            cell.source = blanks[cell.id]
        elif PREDICTION in tags:
            _drop(notebook, index)
        elif CHECK in tags and cell.get("outputs") and UNANSWERED.match(_printed(cell)):
            _drop(notebook, index)
        else:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    for pattern, words in AS_THE_REFERENCE:
                        out["text"] = pattern.sub(words, "".join(out["text"]))
