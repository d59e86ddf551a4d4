"""``utils.exercises.verdict``: whatever a check cell's body raises becomes one printed line that says what it means,
and nothing escapes the cell (the rest of the exercise helpers: test_exercises.py)."""

import sys
import warnings

import numpy as np
import pytest
import torch

from utils.exercises import verdict


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("str!")


def said(body) -> str:
    """What ``with verdict(): body()`` printed; fails if anything escaped it."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), verdict():
        body()
    return out.getvalue()


def raises(error):
    def body():
        raise error
    return body


@pytest.mark.parametrize("body,line", [
    (raises(Unprintable()), "Not quite: your code raised Unprintable (its message could not be shown) (fix it, "),
    (lambda: sys.exit("done"), "Not quite: your code raised SystemExit: done (fix it, run its cell"),
    (lambda: torch.zeros(3, device="meta").cpu(), "; your answer is on the meta device, which holds no values"),
    (lambda: torch.zeros(1, device="meta").item(), "; your answer is on the meta device"),
    (lambda: None in [np.array([0, 0])], "; an array of several values stands where one value belongs"),
    (raises(OverflowError("number too small to fit in target type")), "; a token id is below 0 or past the end"),
    (raises(ValueError("x" * 10_000)), "x" * 200),
    (raises(NameError("name 'my_softmax' is not defined")), "Not quite: name 'my_softmax' is not defined. Run your "
                                                            "answer's cell first"),
], ids=["an unprintable error", "sys.exit", "a tensor on meta", "item on meta", "an ambiguous array",
        "an id outside the vocabulary", "a very long message", "a name not defined yet"])
def test_any_error_is_one_line_that_says_what_it_means(body, line):
    out = said(body)
    assert line in out and out.count("\n") == 1 and len(out) < 500, out


def test_reading_a_tensor_with_a_gradient_as_a_number_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        said(lambda: float(torch.ones(1, requires_grad=True)))


def test_ctrl_c_still_stops_the_cell():
    with pytest.raises(KeyboardInterrupt):
        said(raises(KeyboardInterrupt()))
