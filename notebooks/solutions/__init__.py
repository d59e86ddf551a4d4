"""Reference solutions to the notebooks' exercises (for instructors; ``make solutions`` checks them).

``NN_name.py`` answers ``NN_name.ipynb``. Its ``SOLUTIONS`` maps each answer cell, by its nbformat cell id, to
(the code that goes into that cell, text its check cell then prints). The code is real Python here, which ruff lints
and an editor highlights:

- an answer that defines functions is those functions, at module level: ``cell(my_filter)`` is their source;
- an answer that sets the notebook's variables is the body of a function, ``body(loss_at_the_blank)``. Its first
  statement declares those variables ``global``, as the cell runs at the notebook's top level; that line stays here.

The names a notebook defines before its answer cells (``model``, ``tokenizer``, ...) are declared under
``if TYPE_CHECKING:``, for linters and editors only: the answers run in the notebook, where those names exist.
"""

import ast
import inspect
import textwrap
from collections.abc import Callable


def cell(*functions: Callable) -> str:
    """The answer cell that defines ``functions``: their source, two blank lines apart."""
    return "\n\n\n".join(textwrap.dedent(inspect.getsource(f)).strip() for f in functions)


def body(function: Callable) -> str:
    """The answer cell that ``function``'s body is: the lines after its ``global`` statement, dedented."""
    lines = textwrap.dedent(inspect.getsource(function)).splitlines()
    first = ast.parse("\n".join(lines)).body[0].body[0]
    if not isinstance(first, ast.Global):
        raise ValueError(f"{function.__name__}: an answer body starts with `global` and the variables it sets")
    return textwrap.dedent("\n".join(lines[first.end_lineno:])).strip()
