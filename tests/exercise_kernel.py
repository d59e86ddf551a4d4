"""The kernel every notebook's exercise tests share: the notebook executed once, with the reference solutions of
notebooks/solutions/ in its answer cells (``make solutions``); then each case puts the reference answers back, runs
its own answer code and the exercise's check cell, and looks for the text the check must print, so a case means the
same alone (``-k``) as in the whole run. Answer and check cells are found by their nbformat cell id.

``exercise_tests`` gives a notebook's test file its tests: tests/test_exercises_<notebook>.py lists the exercises
(answer cell, check cell) and the cases, and nothing else.
"""

import importlib
import importlib.util
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
RIGHT, WRONG = "right", "wrong"
CHECK_TAG = "exercise-check"  # the cell tag of every check cell


def solutions(notebook: str) -> dict[str, tuple[str, str]]:
    """notebooks/solutions/<notebook>.py's SOLUTIONS: answer cell id -> (its reference solution, what the check
    cell then prints). The folder is a package (its modules import its helpers), loaded here under its own name."""
    package = "notebook_solutions"
    if package not in sys.modules:
        folder = NOTEBOOKS / "solutions"
        spec = importlib.util.spec_from_file_location(package, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules[package] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{package}.{Path(notebook).stem}").SOLUTIONS


def solution(notebook: str, answer: str) -> str:
    """The reference solution for one answer cell."""
    return solutions(notebook)[answer][0]


def is_check(cell) -> bool:
    return cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])


def stdout_of(cell) -> str:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


@dataclass
class Executed:
    """A notebook executed with the reference solutions in its answer cells, and its live kernel."""

    nb: nbformat.NotebookNode
    client: NotebookClient
    references: str  # every reference solution, in notebook order: one cell that puts the reference answers back
    index: dict[str, int]  # cell id -> the cell's index

    def cell(self, cell_id: str):
        return self.nb.cells[self.index[cell_id]]

    def run(self, source: str) -> str:
        """What ``source`` prints, run as one more cell at the end of the notebook, in its kernel."""
        cell = self.nb.cells[-1] = nbformat.v4.new_code_cell(source)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return stdout_of(cell)


def execute(notebook: str, stack: ExitStack, kernel_dir: Path) -> Executed:
    """The notebook executed with the reference answers."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    index = {cell.id: i for i, cell in enumerate(nb.cells)}
    references = solutions(notebook)
    for answer, (source, _) in references.items():
        nb.cells[index[answer]].source = source
    # local IPC sockets rather than unencrypted TCP, as the Makefile's kernels use
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(kernel_dir / "k"))
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}})
    stack.enter_context(client.setup_kernel())
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            client.execute_cell(cell, i)
    nb.cells.append(nbformat.v4.new_code_cell())  # the scratch cell the cases run in
    return Executed(nb, client, "\n\n\n".join(source for source, _ in references.values()), index)


def exercise_tests(notebook: str, exercises: dict[str, tuple[str, str]], cases: list):
    """The tests of one notebook's exercises: (the cell-layout test, the reference-solution test, the case test, the
    module fixture that executes the notebook once). ``exercises``: name -> (answer cell id, check cell id), in
    notebook order; ``cases``: pytest.param(check cell id, answer code, RIGHT or WRONG, text the check prints)."""

    def test_the_exercise_cells_are_where_the_ids_say():
        """Every answer cell has a reference solution and is followed by its check cell (the next tagged one); the
        notebook's check cells are exactly the exercises'; a cell that can say "Not answered yet" is one of them;
        every check has two right cases and a wrong one."""
        nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
        index = {cell.id: i for i, cell in enumerate(nb.cells)}
        for name, (answer, check) in exercises.items():
            assert answer in index and check in index, f"{notebook} {name}: no cell with id {answer} or {check}"
            assert nb.cells[index[answer]].cell_type == "code" and is_check(nb.cells[index[check]]), name
            assert check == next(c.id for c in nb.cells[index[answer] + 1:] if is_check(c)), \
                f"{notebook} {name}: the first check cell after answer {answer} is not {check}"
            verdicts = [case.values[2] for case in cases if case.values[0] == check]
            assert verdicts.count(RIGHT) >= 2 and verdicts.count(WRONG) >= 1, (name, verdicts)
        assert {c.id for c in nb.cells if is_check(c)} == {check for _, check in exercises.values()}
        assert list(solutions(notebook)) == [answer for answer, _ in exercises.values()], \
            f"{notebook}: notebooks/solutions/ must answer every answer cell, in notebook order"
        untagged = [c.id for c in nb.cells if c.cell_type == "code" and not is_check(c)
                    and ("NOT_ANSWERED" in c.source or "Not answered yet" in c.source)]
        assert untagged == [], f"{notebook}: untagged check cells"

    @pytest.fixture(scope="module")
    def executed(tmp_path_factory):
        """The notebook, executed once with the reference solutions, and its live kernel."""
        with ExitStack() as stack:
            yield execute(notebook, stack, tmp_path_factory.mktemp("kernel"))

    @pytest.mark.parametrize("answer, check", [pytest.param(answer, check, id=f"reference: {name}")
                                               for name, (answer, check) in exercises.items()])
    def test_the_reference_solution_passes_its_check(executed, answer, check):
        """In the run with the reference solutions in the answer cells, the check cell accepts its solution."""
        expected = solutions(notebook)[answer][1]
        said = stdout_of(executed.cell(check))
        assert expected in said, f"the reference solution in cell {answer} got {said!r}, not {expected!r}"

    @pytest.mark.parametrize("check, answer, verdict, expected", cases)
    def test_the_check_gives_its_verdict(executed, check, answer, verdict, expected):
        """After the reference answers, this case's answer code, then the check cell: it prints what it must."""
        executed.run(executed.references)
        executed.run(answer)
        said = executed.run(executed.cell(check).source)
        assert expected in said, f"{verdict} answer {answer!r}: expected {expected!r}, the check said {said!r}"

    return (test_the_exercise_cells_are_where_the_ids_say, test_the_reference_solution_passes_its_check,
            test_the_check_gives_its_verdict, executed)
