"""utils.exercises, which every check cell uses: any answer gets a verdict, nothing raises. (Each notebook's own
exercises are tested in tests/test_exercises_<notebook>.py.)"""

import fractions

import numpy as np
import pytest
import torch

from utils import exercises


@pytest.mark.parametrize("answer,expected", [
    (3, 3.0), (0.5, 0.5), (np.float32(0.25), 0.25), (np.int64(7), 7.0), (torch.tensor(2.5), 2.5),
    (torch.tensor([4.0], requires_grad=True), 4.0), (fractions.Fraction(1, 4), 0.25), (np.array([1.5]), 1.5),
    (True, None), (None, None), ("0.5", None), (b"1", None), ([1.0], None), (torch.tensor([1.0, 2.0]), None),
    (torch.tensor(True), None), ({"a": 1}, None), (float("1e400"), float("inf")),
])
def test_number_takes_any_real_scalar_and_nothing_else(answer, expected):
    assert exercises.number(answer) == expected


@pytest.mark.parametrize("answer,problem", [
    (torch.tensor([0.1, 0.2, 0.7]), None),
    ([0.1, 0.2, 0.7], None),  # a list of floats
    (np.array([0.1, 0.2, 0.7], dtype=np.float32), None),
    (torch.tensor([0.1, 0.2, 0.7], dtype=torch.bfloat16), "differ"),  # bf16 rounds beyond the tolerance
    (torch.tensor([0.1, 0.2, 0.7], requires_grad=True) * 1, None),
    (torch.tensor([0.1, 0.7, 0.2]), "2 of its 3 values differ, e.g. at (1,): 0.7 where 0.2 was expected"),
    (torch.tensor([0.1, 0.2]), "its shape is (2,), not (3,)"),
    (torch.tensor([0.1, float("nan"), 0.7]), "nan"),
    (None, "it is None"),
    ("probabilities", "it is a str"),
    ({"p": 1}, "it is a dict"),
    ([0.1, "x", 0.7], "not a tensor of numbers"),
    (torch.tensor([True, False, True]), "torch.bool"),
    (object(), "not a tensor of numbers"),
])
def test_mismatch_says_what_differs(answer, problem):
    said = exercises.mismatch(answer, torch.tensor([0.1, 0.2, 0.7]), atol=1e-6, rtol=1e-5)
    assert (said is None) if problem is None else (problem in said), said


def test_mismatch_accepts_matching_infinities():
    expected = torch.tensor([float("-inf"), 1.0])
    assert exercises.mismatch(torch.tensor([float("-inf"), 1.0]), expected) is None
    assert "differ" in exercises.mismatch(torch.tensor([float("inf"), 1.0]), expected)


def test_close_and_describe():
    assert exercises.close(torch.tensor(2.0), 2.0000001)
    assert not exercises.close("2.0", 2.0) and not exercises.close(None, 0.0)
    assert exercises.describe(np.float64(0.5)) == "0.5" and exercises.describe("x" * 100).endswith("...")
    assert exercises.describe(torch.zeros(2, 3)) == "a tensor of shape (2, 3)"


def test_verdict_turns_any_exception_into_one_line(capsys):
    with exercises.verdict():
        raise ZeroDivisionError("division by zero")
    with exercises.verdict():
        undefined_name  # noqa: B018, F821
    with exercises.verdict():
        print("fine")
    said = capsys.readouterr().out.splitlines()
    assert said == ["Not quite: your code raised ZeroDivisionError: division by zero (fix it, run its cell, then "
                    "this one again)", "Not quite: name 'undefined_name' is not defined. Run the cells above this "
                    "one first (Run > Run All Above Selected Cell).", "fine"]
    with pytest.raises(KeyboardInterrupt), exercises.verdict():  # a student's Ctrl-C still stops the cell
        raise KeyboardInterrupt


def test_a_right_answer_in_16_bit_floats_is_told_to_compute_in_float32():
    expected = torch.linspace(0, 10, 1000) + 1 / 3  # 16-bit floats round these in the third digit
    for dtype in (torch.float16, torch.bfloat16):
        problem = exercises.mismatch(expected.to(dtype), expected)
        assert problem.startswith(f"it is in {str(dtype)[6:]}, which keeps only 2 to 3 significant digits")
        assert problem.endswith("compute in float32 (e.g. `.float()`)")
    assert exercises.low_precision(np.float16(1.5)) == "float16"
    assert exercises.low_precision(torch.tensor(1.5)) is None and exercises.low_precision(1.5) is None
    assert "float32" not in exercises.mismatch(expected * 2, expected)  # a wrong float32 answer gets no such hint


@pytest.mark.parametrize("answer, expected", [
    (True, True), (False, False), (np.bool_(False), False), (torch.tensor(True), True),
    (np.array([False]), False), (" Yes.", True), ("no", False), ("FALSE", False),
    (1, None), (0.0, None), ("maybe", None), (None, None), (torch.tensor([True, False]), None),
    (torch.tensor(1), None)])
def test_truth_reads_every_way_of_saying_true_or_false_and_nothing_else(answer, expected):
    assert exercises.truth(answer) is expected


def test_words_and_describe_keep_any_answer_short_and_never_raise():
    assert exercises.words("Falls, then RISES.") == "falls then rises" and exercises.words(3) is None

    class Loud:
        def __repr__(self):
            return "y" * 1_000_000

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert len(exercises.describe(Loud())) == 60
    assert len(exercises.describe("falls " * 200_000)) == 60
    assert exercises.describe(Broken()) == "a Broken"
    assert exercises.describe(float("nan")) == "nan"


def test_every_check_cell_imports_the_names_it_uses_from_utils_exercises():
    """A check cell run on its own (after a kernel restart, or out of order) says "run your answer's cell first"
    instead of dying on a NameError before ``verdict()`` can catch anything."""
    import ast
    from pathlib import Path

    import nbformat

    public = {name for name, value in vars(exercises).items() if not name.startswith("_")
              and getattr(value, "__module__", None) == exercises.__name__} | {"NOT_ANSWERED", "NOT_ANSWERED_HINT"}
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if "exercise-check" not in cell.metadata.get("tags", []):
                continue
            tree = ast.parse(cell.source)
            used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} & public
            imported = {alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                        and node.module == "utils.exercises" for alias in node.names}
            assert used <= imported, f"{path.name} cell {cell.id} uses {sorted(used - imported)} without importing"


def test_without_refuses_the_rebuilt_function_by_any_name_and_puts_everything_back(capsys):
    namespace = {"helper": lambda: "the library's answer"}

    class Model:
        def generate(self):
            return "generated"

    model, z = Model(), torch.tensor([1.0, 2.0])
    places = ((torch, "softmax"), (torch.Tensor, "softmax"), (namespace, "helper"), (model, "generate"),
              (namespace, "absent"))
    calls = [(lambda: torch.softmax(z, 0), "softmax"), (lambda: z.softmax(0), "softmax"),
             (lambda: namespace["helper"](), "helper"), (lambda: model.generate(), "generate")]
    for call, name in calls:
        with exercises.verdict(), exercises.without(*places):
            call()
        assert capsys.readouterr().out == (f"Not quite: your answer calls {name}, the very thing this exercise "
                                           "rebuilds: write it without it.\n")
    assert torch.allclose(z.softmax(0), torch.softmax(z, 0)) and namespace == {"helper": namespace["helper"]}
    assert namespace["helper"]() == "the library's answer" and model.generate() == "generated"
    assert "generate" not in vars(model) and "softmax" not in vars(torch.Tensor)


def test_without_refuses_a_property_and_an_object_on_any_use_and_puts_them_back(capsys):
    class Backend:
        def encode(self, text):
            return text.split()

    class Tokenizer:
        def __init__(self):
            self._backend = Backend()

        @property
        def backend(self):
            return self._backend

    tokenizer = Tokenizer()
    places = ((Tokenizer, "backend"), (tokenizer, "_backend"))
    for call, name in [(lambda: tokenizer.backend.encode("a b"), "backend"),
                       (lambda: tokenizer._backend.encode("a b"), "_backend"),
                       (lambda: tokenizer._backend(), "_backend")]:
        with exercises.verdict(), exercises.without(*places):
            call()
        assert capsys.readouterr().out == (f"Not quite: your answer calls {name}, the very thing this exercise "
                                           "rebuilds: write it without it.\n")
    assert tokenizer.backend.encode("a b") == ["a", "b"] and isinstance(vars(Tokenizer)["backend"], property)


def points_to_a_hint(source: str) -> bool:
    """Whether a check cell can print ``NOT_ANSWERED_HINT`` ("Stuck? Unfold a hint"): itself, or through a verdict
    function it imports from ``utils``."""
    import importlib
    import inspect
    import re

    if "NOT_ANSWERED_HINT" in source:
        return True
    for module, names in re.findall(r"^from (utils\.\w+) import (.+)$", source, re.M):
        for name in (n.strip() for n in names.split(",")):
            function = getattr(importlib.import_module(module), name, None)
            if name.endswith("_verdict") and callable(function) and "NOT_ANSWERED_HINT" in inspect.getsource(function):
                return True
    return False


def test_hints_stay_folded_until_a_student_opens_one():
    """A check run on the blank answer cell points to a hint folded under its exercise (<details>) and prints no
    solution itself; every check that points to a hint has one in a markdown cell since the check before it, and
    the core exercises' hints come in two folds, the idea before the code."""
    from pathlib import Path

    import nbformat

    pointing, two_fold = 0, 0
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        since_last_check = []
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                since_last_check.append(cell.source)
                continue
            assert "(Hint:" not in cell.source, f"{path.name} cell {cell.id} prints a hint"
            if "exercise-check" in cell.metadata.get("tags", []):
                if points_to_a_hint(cell.source):
                    pointing += 1
                    hints = "\n".join(since_last_check)
                    one = "<details><summary>Hint</summary>" in hints
                    idea = hints.find("<details><summary>Hint 1: the idea</summary>")
                    code = hints.find("<details><summary>Hint 2: a skeleton</summary>")
                    assert one or 0 <= idea < code, f"{path.name} cell {cell.id}: no hint, or the code first"
                    assert hints.count("<details>") == hints.count("</details>")
                    two_fold += not one
                since_last_check = []
    assert pointing >= 15 and two_fold >= 11


def test_a_pasted_skeleton_fails_loudly_until_its_blanks_are_filled(capsys):
    """The hints' skeletons mark their blanks ``___``, a name error at the blank's line, never ``...``, which runs
    as Ellipsis and fails later somewhere else (or not at all)."""
    import re
    from pathlib import Path

    import nbformat

    blanks = 0
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for block in re.findall(r"```python\n(.*?)```", cell.source if cell.cell_type == "markdown" else "", re.S):
                for line in block.splitlines():
                    code = line.split("  #")[0]
                    assert "..." not in code, f"{path.name} cell {cell.id}: a blank written ...: {line.strip()}"
                    blanks += code.count("___")
    assert blanks >= 80

    exec("def my_softmax(z):\n    e = ___\n    return e\n", namespace := {})
    with exercises.verdict():
        namespace["my_softmax"](torch.zeros(3))
    assert capsys.readouterr().out == ("Not quite: name '___' is not defined. Fill in the hint skeleton's ___ blanks, "
                                       "run its cell, then this one again.\n")


def test_a_cell_that_needs_predictions_stops_in_one_line_without_a_traceback():
    exercises.require_predictions(1.5, "falls")  # written: nothing happens
    for missing in (None, "  "):
        with pytest.raises(exercises.PredictFirst) as stopped:
            exercises.require_predictions(1.5, missing, where="predicted_final_train_loss, above")
        assert stopped.value._render_traceback_() == [
            "Write your predictions first (in predicted_final_train_loss, above), then run this cell again."]


@pytest.mark.parametrize("said, shape", [
    ("Falls, then rises.", "falls then rises"), ("it goes down then back up", "falls then rises"),
    ("decreasing first, then increasing", "falls then rises"), ("drops", "falls"), ("keeps falling", "falls"),
    ("stays flat", "flat"), ("rises then falls", "rises then falls"), ("it upsets me", None), ("a banana", None),
    ("falls and never rises", "falls"), ("it drops, it doesn't go back up", "falls"),
    ("it does not fall, it rises", "rises"), ("No, it falls then rises", "falls then rises"),
    ("U-shaped", "falls then rises"), ("improves then gets worse", "falls then rises"),
    ("it overfits", "falls then rises"), ("falls, and the gap to training grows", "falls"),
    ("bottoms out then climbs", "falls then rises"), ("falls, then levels off", "falls then flat"),
    ("falls; it never overfits", "falls"), ("decreases without overfitting", "falls"),
    ("decreases, no U shape", "falls"), ("improves, then degrades", "falls then rises"),
    ("declines then bounces back", "falls then rises"), ("falls then rebounds", "falls then rises"),
    ("decreases then stays flat then increases", "falls then rises"), ("dips early then recovers upward",
                                                                      "falls then rises"),
    ("decreases, then increases as it overfits", "falls then rises"), ("flat, then rises", "flat then rises"),
    ("lowers until step 20 then rises", "falls then rises"), ("it lowered, then went higher", "falls then rises"),
    ("it will not keep falling: it rises after a while", "falls then rises"), ("it won't stay flat", "flat"),
    ("it doesn't keep rising", "rises"), ("reaches a minimum, then climbs", "falls then rises"),
    ("minimum then up", "falls then rises"), ("hits a low point and rises after", "falls then rises"),
    ("increase after initial decrease", "falls then rises"), ("V-shaped", "falls then rises"),
    ("rises after a dip", "falls then rises"),
    (3, None), (None, None)])
def test_a_curve_shape_is_read_from_the_students_own_words(said, shape):
    from utils.run_checks import curve_shape

    assert curve_shape(said) == shape
