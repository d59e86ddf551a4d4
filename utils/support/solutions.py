"""The reference solutions in ``notebooks/solutions/``, as modules: ``make record`` writes their predictions into
recordings, and ``utils.exercises.reference`` lends a stuck student one working function."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SOLUTIONS = Path(__file__).resolve().parents[2] / "notebooks" / "solutions"
PACKAGE = "notebook_solutions"  # the name the solutions folder is imported under (it is not in utils/)


def solutions_module(stem: str) -> ModuleType:
    """``notebooks/solutions/<stem>.py``, imported once (``stem``: a notebook's name without ``.ipynb``)."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, SOLUTIONS / "__init__.py",
                                                      submodule_search_locations=[str(SOLUTIONS)])
        sys.modules[PACKAGE] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACKAGE}.{stem}")
