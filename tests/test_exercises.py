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
                    "this one again)", "Not quite: name 'undefined_name' is not defined. Run your answer's cell "
                    "first (and the cells above it).", "fine"]
    with pytest.raises(KeyboardInterrupt), exercises.verdict():  # a student's Ctrl-C still stops the cell
        raise KeyboardInterrupt
