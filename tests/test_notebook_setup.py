"""Each notebook's first code cell makes `utils` importable in a kernel where the project is not installed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

# A kernel of an environment that has the requirements but not this project: no editable install, no repo on the path.
FORGET_PROJECT = f"""
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                 and "editable" not in getattr(f, "__name__", "").lower()]
sys.path = [p for p in sys.path if p not in ("", {str(ROOT)!r}) and "__editable__" not in p]
try:
    import utils
    raise SystemExit("utils is still importable: the test does not simulate a foreign kernel")
except ModuleNotFoundError:
    pass
"""


def first_code_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_finds_the_repository(path, tmp_path):
    code = FORGET_PROJECT + first_code_cell(path) + "\nimport utils.profiles\nprint(utils.profiles.__file__)\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=path.parent, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == str(ROOT / "utils" / "profiles.py")


def test_outside_the_repository_the_setup_cell_says_what_to_do(tmp_path):
    code = FORGET_PROJECT + first_code_cell(NOTEBOOKS[0])
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("ModuleNotFoundError: No tutorial `utils` above")
