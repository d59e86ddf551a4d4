"""``utils.exercises.verdict``: whatever a check cell's body raises becomes one printed line that says what it means,
and nothing escapes the cell (the rest of the exercise helpers: test_exercises.py)."""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.exercises import verdict

ROOT = Path(__file__).resolve().parent.parent


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
    (raises(NameError("name 'speedup' is not defined", name="speedup")), "Not quite: name 'speedup' is not "
                                                                         "defined. Run the cells above this one first"),
], ids=["an unprintable error", "sys.exit", "a tensor on meta", "item on meta", "an ambiguous array",
        "an id outside the vocabulary", "a very long message", "an answer not defined yet",
        "a cell above not run yet"])
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


LOOPS = {
    "a loop that never ends": "while True:\n        pass",
    "one that swallows every Exception": "while True:\n        try:\n            time.sleep(0.01)\n"
                                         "        except Exception:\n            pass",
}


@pytest.mark.parametrize("loop", LOOPS.values(), ids=LOOPS.keys())
def test_an_answer_that_never_ends_is_stopped_with_one_line_and_the_timer_is_lifted(loop):
    """In a fresh process's main thread, as a kernel runs a cell: the limit stops it, nothing escapes, and no alarm
    is left to fire later."""
    code = (f"import signal, time\nfrom utils.exercises import verdict\nwith verdict(limit=0.3):\n    {loop}\n"
            "time.sleep(0.5)\nprint('after', signal.getitimer(signal.ITIMER_REAL))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Not quite: your code was still running after 0.3 s, so the check stopped it: does a loop never end (a while "
        "whose condition stays true, a counter never moved on)? Fix it, run its cell, then this one again.",
        "after (0.0, 0.0)"]


def test_a_check_within_its_limit_runs_to_the_end():
    assert said(lambda: print("done")) == "done\n"


def test_an_error_in_a_function_of_the_student_s_cell_names_its_line():
    """A function defined in a notebook cell (ipykernel names its file so) that raises inside a check: the verdict's
    line, then the line of the student's code it came from; the check's own frames and the cell's top level are
    never named."""
    import linecache

    cell = "/tmp/ipykernel_4242/1234567890.py"
    source = "def my_softmax(z):\n    e = z.exp()\n    return e / e.sum(dim=2)\n"
    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)
    space = {}
    exec(compile(source, cell, "exec"), space)  # noqa: S102 (a student's answer cell, as the kernel runs it)
    out = said(lambda: space["my_softmax"](torch.zeros(3)))
    first, second = out.splitlines()
    assert first.startswith("Not quite: your code raised IndexError: Dimension out of range"), first
    assert second == "  at line 3 of my_softmax: return e / e.sum(dim=2)"
    top_level = compile("raise ValueError('no')\n", cell, "exec")
    assert said(lambda: exec(top_level, {})).count("\n") == 1  # noqa: S102 (the error of the cell itself: one line)
