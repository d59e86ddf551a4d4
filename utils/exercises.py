"""What the notebooks' check cells share: a verdict for any answer, of any type, and never an exception.

A check cell compares a student's answer with the library's own number on the running model. Students hand in ``None``
(not answered yet), strings, lists, numpy values, tensors with a gradient, tensors of the wrong shape, and functions
that raise. ``verdict()`` turns anything a check cell raises into one printed line (and one naming the student's line
that raised, where one did); ``mismatch`` says in words how an answer differs from the expected tensor; ``number``
accepts any real scalar."""

from __future__ import annotations

import math
import re
import signal
import sys
import threading
import traceback
import warnings
from contextlib import contextmanager

import numpy as np
import torch

from utils.support.solutions import solutions_module
from utils.support.validation import plain_number

NOT_ANSWERED = "Not answered yet."
# for an exercise whose markdown ends with a folded hint (<details>), seen only by a student who opens it
NOT_ANSWERED_HINT = "Not answered yet. (Stuck? Unfold a hint under the exercise.)"
PREDICT_FIRST = "Write your prediction first (in {where}), then run this cell again."


def unwritten(answer) -> bool:
    """Whether a prediction is still to be written: None, or a blank text."""
    return answer is None or (isinstance(answer, str) and not answer.strip())


def predicted(*predictions, where: str = "the prediction cell above") -> bool:
    """Whether every prediction is written (not None, not blank); if not, says so in one line, and the reveal
    cell that asked shows nothing: students see no answer before they have committed to one.

    >>> if predicted(my_guess):
    ...     print(the answer)
    Write your prediction first (in the prediction cell above), then run this cell again.
    """
    missing = [p for p in predictions if unwritten(p)]
    if missing:
        print(PREDICT_FIRST.format(where=where))
    return not missing


def decided(prediction, where: str = "the prediction cell above") -> bool:
    """``predicted`` for a True-or-False prediction: written, and as True or False (``truth`` reads "yes", "no", ...);
    if not, says what to write in one line, and the reveal cell that asked shows nothing."""
    if truth(prediction) is not None:
        return True
    if not predicted(prediction, where=where):
        return False
    print(f"Write True or False in {where} (got {describe(prediction)}), then run this cell again.")
    return False


class PredictFirst(Exception):
    """Stops a cell (and Run All) before a result that answers a prediction, with one line and no traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [str(self)]


def require_predictions(*predictions, where: str = "the prediction cell above") -> None:
    """Raise ``PredictFirst`` unless every prediction is written: for a cell whose result answers them and which
    the rest of the notebook needs (a training run), so Run All stops there, in one line, instead of going on.

    >>> require_predictions(None)
    Write your predictions first (in the prediction cell above), then run this cell again.
    """
    if any(map(unwritten, predictions)):
        raise PredictFirst(f"Write your predictions first (in {where}), then run this cell again.")


NOT_A_WORD = ("{guess} is not a word: write your prediction as one word in quotes (in {where}), then run this cell "
              "again.")


def require_word(guess, where: str) -> None:
    """Stop the cell, and Run All, with one line (``PredictFirst``) unless ``guess`` is a written prediction of one
    word: for the cells that show the model's next word, which the rest of the notebook needs."""
    if unwritten(guess):
        raise PredictFirst(PREDICT_FIRST.format(where=where))
    if not isinstance(guess, str):
        raise PredictFirst(NOT_A_WORD.format(guess=describe(guess), where=where))


class Rebuilt(Exception):
    """Raised, inside ``without``, by a library function the exercise has the student rebuild."""


class _Refused:
    """What ``without`` puts in place of an object that is not a function: any use of it, a call or an attribute,
    raises ``Rebuilt``."""

    def __init__(self, refuse):
        object.__setattr__(self, "_refuse", refuse)

    def __call__(self, *args, **kwargs):
        self._refuse()

    def __getattr__(self, attribute):
        self._refuse()


LENDABLE = {"01_masked_lm": ("my_embeddings", "my_mlm_head", "my_layer_output"),  # what a later exercise builds on
            "02_causal_lm": ("my_attention_weights", "my_attention_head", "my_all_heads", "my_norm",
                             "my_layer", "my_lens"),
            "03_pretraining_gpt2": ("evaluate", "my_training_loop", "MyGPT")}


def reference(name: str, notebook: str = "02_causal_lm"):
    """The reference solution's ``name``, from ``notebooks/solutions/<notebook>.py``: for a student stuck on an
    exercise that a later one builds on (``LENDABLE``), e.g. ``my_attention_head = reference("my_attention_head")``
    before exercise 10. It is the answer, so the stuck exercise's own check passes with it too."""
    if name not in (LENDABLE.get(notebook, ()) if isinstance(notebook, str) else ()):
        offered = "; ".join(f"{', '.join(names)} (notebook {nb})" for nb, names in LENDABLE.items())
        raise ValueError(f"No reference function {name!r} for notebook {notebook!r}. One of: {offered}.")
    return getattr(solutions_module(notebook), name)


@contextmanager
def without(*places):
    """Inside the block each place, ``(owner, name)``, raises ``Rebuilt`` when called: a check runs the student's
    function in it, so an answer that hands in the very library function the exercise rebuilds is told so instead of
    passing. ``owner`` is a module, a class, an object (``model`` for ``model.generate``) or the notebook's
    ``globals()``; a name the owner lacks is skipped. Everything is put back afterwards.

    >>> with without((torch, "softmax"), (torch.Tensor, "softmax")):
    ...     my_softmax(z)          # calls torch.softmax
    Rebuilt: your answer calls softmax, the very thing this exercise rebuilds: write it without it
    """
    undo, refused = [], {}  # refused: id of each refused function -> what stands in for it
    try:
        for owner, name in places:
            namespace = owner if isinstance(owner, dict) else vars(owner) if hasattr(owner, "__dict__") else {}
            if (name not in namespace) if isinstance(owner, dict) else not hasattr(owner, name):
                continue

            def refuse(*args, _name=name, **kwargs):
                raise Rebuilt(f"your answer calls {_name}, the very thing this exercise rebuilds: write it without it")

            original = namespace.get(name)
            resolved = original if isinstance(owner, dict) else getattr(owner, name)  # found on a class above, too
            undo.append((owner, name, name in namespace, original))
            # a property refuses when read; an object that is not a function (a tokenizer's Rust backend) when used
            stand_in = (property(refuse) if isinstance(original, property) else
                        _Refused(refuse) if original is not None and not callable(original) else refuse)
            if isinstance(owner, dict):
                owner[name] = stand_in
            else:
                setattr(owner, name, stand_in)
            for found in (resolved, getattr(resolved, "__func__", None)):
                if callable(found):
                    refused.setdefault(id(found), refuse)
        # the same functions under the notebook's own names ("from torch import softmax", a bound method kept in a
        # variable): refused too, whatever name the answer reaches them by
        notebook = vars(sys.modules["__main__"]) if "__main__" in sys.modules else {}
        for name, value in list(notebook.items()):
            stand_in = refused.get(id(value)) or refused.get(id(getattr(value, "__func__", None)))
            if stand_in is not None and not name.startswith("__"):
                undo.append((notebook, name, True, value))
                notebook[name] = stand_in
        yield
    finally:
        for owner, name, own, original in reversed(undo):
            if isinstance(owner, dict):
                owner[name] = original
            elif own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # the name came from a class above: reading it finds that again


def on_its_classes(obj, name: str) -> tuple:
    """Places for ``without``: ``name`` on every class of ``obj`` that defines it, so that neither
    ``obj.name(...)`` nor ``type(obj).name(obj, ...)`` nor a base class's ``name`` gets past the refusal."""
    return tuple((cls, name) for cls in type(obj).__mro__ if name in vars(cls))


# what the softmax exercises rebuild, under every name torch gives it (a log-softmax, exponentiated, is one too)
SOFTMAX_ITSELF = (*((owner, name) for owner in (torch, torch.nn.functional, torch.Tensor, torch.special)
                     for name in ("softmax", "log_softmax", "logsumexp")),  # logsumexp shifts by the max for you
                  (torch, "_softmax"), (torch, "_log_softmax"))  # the kernels under them
# what the loss exercises rebuild: cross-entropy, and the negative log-likelihood it is made of
CROSS_ENTROPY_ITSELF = ((torch.nn.functional, "cross_entropy"), (torch.nn.functional, "nll_loss"),
                        (torch.nn.CrossEntropyLoss, "forward"), (torch.nn.NLLLoss, "forward"),
                        (torch._C._nn, "cross_entropy_loss"), (torch._C._nn, "nll_loss"), (torch._C._nn, "nll_loss_nd"))


CHECK_SECONDS = 600  # a check still running after this long is stopped: an answer's loop that never ends


class TookTooLong(BaseException):
    """A check past its time limit (a BaseException: an answer's ``except Exception`` cannot swallow it)."""


def _stop(signum, frame):
    raise TookTooLong


@contextmanager
def _time_limit(seconds: float):
    """Raise ``TookTooLong`` in the block after ``seconds``, where the OS has SIGALRM and this is the main thread
    (a Jupyter kernel's cells run there) and no other timer is set; elsewhere, no limit."""
    if not (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def verdict(limit: float = CHECK_SECONDS):
    """Run a check cell's body; anything it raises (usually from the student's code) becomes one printed line, and a
    second naming the line of the student's function it came from, where it came from one.

    >>> with verdict():
    ...     my_softmax(z)          # a student's function that raises
    Not quite: your code raised TypeError: ... (fix it, run its cell, then this one again)
      at line 2 of my_softmax: return z.exp() / z.exp().sum(dim=2)

    Also ``sys.exit()`` in an answer, an error whose own message fails to print, and the library errors a check
    meets for odd answers (a tensor on the meta device, an array where one value belongs, a token id outside the
    vocabulary) get a line that says what that means. torch's warning on reading a tensor with a gradient as a
    number is not shown: the checks read answers as numbers on purpose. A body still running after ``limit``
    seconds (an answer's loop that never ends) is stopped with a line too, where the OS allows (not on Windows).
    """
    hints = (("meta", "your answer is on the meta device, which holds no values: compute it from real tensors"),
             ("truth value of an array", "an array of several values stands where one value belongs"),
             ("to fit in target type", "a token id is below 0 or past the end of the vocabulary"))

    def said(error: BaseException) -> str:
        try:
            text = str(error)
        except Exception:  # noqa: BLE001 (an exception whose __str__ raises)
            return f"{type(error).__name__} (its message could not be shown)"
        hint = next((f"; {meaning}" for needle, meaning in hints if needle in text), "")
        return f"{type(error).__name__}: {text if len(text) <= 300 else text[:297] + '...'}{hint}"

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*requires_grad=True to a scalar")
        try:
            with _time_limit(limit):
                yield
        except TookTooLong:
            print(f"Not quite: your code was still running after {limit:g} s, so the check stopped it: does a loop "
                  "never end (a while whose condition stays true, a counter never moved on)? Fix it, run its cell, "
                  "then this one again.")
        except Rebuilt as error:
            print(f"Not quite: {error}.")
        except NameError as error:  # a name the check reads: an answer, or what a cell above makes
            line, name = _your_line(error), getattr(error, "name", None) or str(error)  # a line: a slip in their code
            where = ("Fill in the hint skeleton's ___ blanks, run its cell, then this one again." if "___" in name else
                     "Run your answer's cell first (and the cells above it)." if re.match(r"(name ')?my_", name) else
                     "Run the cells above this one first (Run > Run All Above Selected Cell).")
            fix = "Fix it, run its cell, then this one again." if line and "___" not in name else where
            print(f"Not quite: {said(error).split(': ', 1)[-1]}. {fix}{line}")
        except (Exception, SystemExit) as error:  # noqa: BLE001 (a student's code raises anything; the check must not)
            print(f"Not quite: your code raised {said(error)} (fix it, run its cell, then this one again)"
                  + _your_line(error))


def _your_line(error: BaseException) -> str:
    """Where in the student's own code ``error`` came from: the last line of a function defined in a notebook cell
    that it passed through (``line 3 of my_softmax: return ...``) on a line of its own, or "" when none did."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.name != "<module>" and re.search(r"ipykernel_\d+|<ipython-input-", frame.filename)]
    if not frames or not (frames[-1].line or "").strip():
        return ""
    return f"\n  at line {frames[-1].lineno} of {frames[-1].name}: {frames[-1].line.strip()[:200]}"


def number(answer) -> float | None:
    """``answer`` as a float when it is one real number (int, float, numpy or one-element tensor), else None.

    Booleans are not numbers here, nor are strings: "0.5" is a text, which the check should say."""
    value = plain_number(answer)  # numpy and torch scalars become plain ints and floats
    if isinstance(value, (bool, np.bool_, str, bytes, torch.Tensor, np.ndarray)) or value is None:
        return None
    try:
        return float(value)  # also fractions and decimals
    except (TypeError, ValueError, OverflowError):
        return None


def mismatch(answer, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """None when ``answer`` equals ``expected`` to the tolerance; otherwise what is wrong with it, in words.

    ``answer`` may be a tensor (with a gradient, on any dtype), a numpy array or a nested list of numbers.
    """
    if answer is None:
        return "it is None (does your function end with `return`?)"
    if isinstance(answer, (str, bytes, dict, set)):
        return f"it is a {type(answer).__name__}, not a tensor of numbers"
    try:
        got = answer.detach() if isinstance(answer, torch.Tensor) else torch.as_tensor(answer)
    except (TypeError, ValueError, RuntimeError):
        return f"a {type(answer).__name__} is not a tensor of numbers"
    if got.dtype == torch.bool or got.is_complex():
        return f"it holds {got.dtype} values, not real numbers"
    if tuple(got.shape) != tuple(expected.shape):
        return f"its shape is {tuple(got.shape)}, not {tuple(expected.shape)}"
    got, want = got.to(torch.float64).cpu(), expected.detach().to(torch.float64).cpu()
    bad = ~torch.isclose(got, want, atol=atol, rtol=rtol)
    both_inf = torch.isinf(got) & torch.isinf(want) & (torch.sign(got) == torch.sign(want))
    bad &= ~both_inf
    if not bad.any():
        return None
    if torch.isnan(got).any():
        return "it holds nan (an inf minus an inf, or 0/0, somewhere)"
    if low_precision(answer):
        return (f"it is in {low_precision(answer)}, which keeps only 2 to 3 significant digits, so "
                f"{int(bad.sum()):,} of its {got.numel():,} values differ from the float32 answer: compute in float32 "
                "(e.g. `.float()`)")
    where = tuple(int(i) for i in bad.nonzero()[0])
    at = f" at {where}" if where else ""
    return (f"{int(bad.sum()):,} of its {got.numel():,} values differ, e.g.{at}: {got[where].item():.6g} where "
            f"{want[where].item():.6g} was expected")


def close(answer, expected: float, rel: float = 1e-4, abs_tol: float = 1e-6) -> bool:
    """``answer`` (any real scalar, see ``number``) equals ``expected`` to the tolerance."""
    value = number(answer)
    return value is not None and math.isclose(value, expected, rel_tol=rel, abs_tol=abs_tol)


def low_precision(answer) -> str | None:
    """The dtype's name when ``answer`` is a tensor or array of 16-bit floats (float16, bfloat16), else None."""
    dtype = getattr(answer, "dtype", None)
    if dtype in (torch.float16, torch.bfloat16):
        return str(dtype).replace("torch.", "")
    return "float16" if isinstance(answer, (np.ndarray, np.generic)) and answer.dtype == np.float16 else None


def truth(answer) -> bool | None:
    """``answer`` as True or False when it says one (a bool, numpy's or torch's one-value bool, or the words
    true/false/yes/no in any case), else None."""
    if isinstance(answer, torch.Tensor) and answer.numel() == 1 and answer.dtype == torch.bool:
        return bool(answer.item())
    if isinstance(answer, np.ndarray) and answer.size == 1 and answer.dtype == np.bool_:
        return bool(answer.reshape(()))
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    if isinstance(answer, str):
        return {"true": True, "yes": True, "false": False, "no": False}.get(answer.strip().strip(".").lower())
    return None


def words(answer) -> str | None:
    """A text answer as lower-case words without punctuation ("Falls, then rises." -> "falls then rises"); None
    when ``answer`` is not a str."""
    if not isinstance(answer, str):
        return None
    return " ".join("".join(c if c.isalnum() else " " for c in answer.lower()).split())


def token_ids(answer) -> list[int] | None:
    """A decoding exercise's answer as a list of token ids: a tensor of ids, or a list or tuple of ints, NumPy
    integers or one-element integer tensors (``ids.append(logits.argmax())`` makes those); None for anything else."""
    if isinstance(answer, torch.Tensor):
        answer = answer.reshape(-1).tolist()
    if not isinstance(answer, (list, tuple)):
        return None
    ids = []
    for item in answer:
        if isinstance(item, torch.Tensor) and item.numel() == 1 and not item.is_floating_point() \
                and not item.is_complex():
            item = int(item.item())
        elif isinstance(item, np.integer):
            item = int(item)
        if not isinstance(item, int) or isinstance(item, bool):
            return None
        ids.append(item)
    return ids


def describe(answer) -> str:
    """A short, safe rendering of any answer for a verdict line: never long, never an exception."""
    value = number(answer)
    if value is not None:
        return f"{value:.6g}"
    if isinstance(answer, torch.Tensor):
        return f"a tensor of shape {tuple(answer.shape)}"
    try:
        text = repr(answer)
    except Exception:  # noqa: BLE001 (an object whose __repr__ raises)
        return f"a {type(answer).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."
