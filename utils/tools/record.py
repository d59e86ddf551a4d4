"""The notebook ``make record`` executes: ``python -m utils.tools.record NOTEBOOK OUT_DIR``.

The instructor notes live in ``docs/instructor-notes/<notebook's stem>.md``, not in the notebook students open; a
recording has each one after the cell its marker names (``<!-- cell ID after ID -->``), so the recorded copy and
its deck's speaker view show them.

A notebook's reveals wait for the student's predictions (``utils.exercises.predicted``), so a recording of the
notebook as students open it would show "Write your prediction first" where the deck needs the answer. The cells
tagged ``prediction`` are written in here with the reference predictions of ``notebooks/solutions/`` (the same code
``make solutions`` checks); every other cell, the exercises' answer cells included, stays as it is, so a deck shows
no exercise's solution. ``tests/test_printed_facts.py`` checks that a recording differs from its notebook in these
cells and the notes only.

``--solved`` (``make solved``, into ``docs/solved/``) writes every answer cell in too, with its reference solution:
the instructors' copy in which every check says what it says to a right answer, and every later cell runs on the
students' own functions, as in a class that solved everything.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from utils.support.files import user_path, write_atomic
from utils.support.solutions import solutions_module

PREDICTION = "prediction"  # the tag of a cell where the student writes a prediction before its reveal
# what a recording's prediction cell says first: the reference predictions are a student's guesses, not answers
RECORDED_GUESS = "# A student's prediction, written before the run; the cells after it show what happened.\n"
SOLVED = "# The reference solution (notebooks/solutions/), written in for this solved copy.\n"
NOTES = Path(__file__).resolve().parents[2] / "docs" / "instructor-notes"
NOTE_MARKER = re.compile(r"^<!-- cell (\S+) after (\S+) -->\n", re.M)


def reference_answers(notebook: Path) -> dict[str, str]:
    """answer cell id -> the reference code for it, from ``notebooks/solutions/<notebook's stem>.py``."""
    return {cell_id: code for cell_id, (code, _) in solutions_module(notebook.stem).SOLUTIONS.items()}


def with_predictions(notebook: Path, only: set[str] | None = None, solved: bool = False):
    """The notebook at ``notebook`` with every ``prediction`` cell's source (or those of ``only``, by cell id)
    replaced by its reference prediction, under the line ``RECORDED_GUESS``; ``solved``: every other answer cell's
    too, by its reference solution, under the line ``SOLVED``."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    answers = reference_answers(notebook)
    for cell in nb.cells:
        if PREDICTION in cell.metadata.get("tags", []) and (only is None or cell.id in only):
            if cell.id not in answers:
                raise SystemExit(f"error: {notebook.name} cell {cell.id} is tagged '{PREDICTION}' but "
                                 f"notebooks/solutions/{notebook.stem}.py has no answer for it.")
            cell.source = RECORDED_GUESS + answers[cell.id]
        elif solved and cell.id in answers:
            cell.source = SOLVED + answers[cell.id]
    return nb


def instructor_notes(notebook: Path, notes_dir: Path = NOTES) -> list[tuple[str, str, str]]:
    """(the note's cell id, the id of the cell it follows, its text) of each note for ``notebook``, in file order.
    A note runs from its marker to the next marker or ``## `` heading."""
    path = notes_dir / f"{notebook.stem}.md"
    if not path.is_file():
        return []
    parts = NOTE_MARKER.split(path.read_text(encoding="utf-8"))
    return [(cell_id, after, re.split(r"^## ", body, flags=re.M)[0].strip())
            for cell_id, after, body in zip(parts[1::3], parts[2::3], parts[3::3])]


def for_recording(notebook: Path, notes_dir: Path = NOTES, solved: bool = False):
    """``with_predictions(notebook, solved=solved)`` with the instructor notes in place: each a markdown cell of the
    deck's speaker notes (slide type ``notes``), after the cell its marker names."""
    import nbformat

    nb = with_predictions(notebook, solved=solved)
    for cell_id, after, text in instructor_notes(notebook, notes_dir):
        where = next((i for i, cell in enumerate(nb.cells) if cell.id == after), None)
        if where is None:
            raise SystemExit(f"error: {notes_dir.name}/{notebook.stem}.md puts note {cell_id} after cell {after}, "
                             f"which {notebook.name} does not have: write the id of the cell it follows now.")
        nb.cells.insert(where + 1, nbformat.v4.new_markdown_cell(text, id=cell_id,
                                                                 metadata={"slideshow": {"slide_type": "notes"}}))
    return nb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="a notebook of notebooks/")
    parser.add_argument("out_dir", help="the folder to write it to, under the same name")
    parser.add_argument("--solved", action="store_true", help="write every answer cell's reference solution in too")
    args = parser.parse_args(argv)
    import nbformat

    notebook, out_dir = user_path(args.notebook), user_path(args.out_dir)
    if not notebook.is_file():
        raise SystemExit(f"error: {args.notebook} is not a notebook file.")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / notebook.name, nbformat.writes(for_recording(notebook, solved=args.solved)))


if __name__ == "__main__":
    main()
