"""Students open notebooks/ and see no answer before they predict it: make test fails, in one line naming the
notebook, when a committed notebook carries outputs; the pre-commit hooks strip them and lint, locally."""

import shutil
import subprocess
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def check_notebooks(*paths: Path) -> subprocess.CompletedProcess:
    """make's check-notebooks rule on ``paths`` (the venv taken as built, so make installs nothing)."""
    return subprocess.run(["make", "-s", "-o", ".venv/.installed", "check-notebooks",
                           f"NOTEBOOKS={' '.join(map(str, paths))}"], cwd=ROOT, capture_output=True, text=True)


def test_the_committed_notebooks_carry_no_outputs():
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert [c.id for c in cells if c.cell_type == "code" and (c.outputs or c.execution_count)] == [], path.name


def test_a_notebook_with_outputs_fails_the_check_in_one_line(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=1, outputs=[
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)])])
    dirty = tmp_path / "dirty.ipynb"
    nbformat.write(notebook, dirty)
    done = check_notebooks(dirty)
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (f"error: {dirty} carries outputs; strip them with "
                                           f".venv/bin/nbstripout --keep-id {dirty}")


def test_a_stripped_notebook_passes_and_keeps_its_cell_ids(tmp_path):
    stripped = tmp_path / NOTEBOOKS[0].name
    shutil.copy(NOTEBOOKS[0], stripped)
    subprocess.run([str(ROOT / ".venv/bin/nbstripout"), "--keep-id", str(stripped)], check=True)
    assert check_notebooks(stripped).returncode == 0
    ids = [c.id for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells]
    assert [c.id for c in nbformat.read(stripped, as_version=4).cells] == ids


def test_the_pre_commit_hooks_are_local_and_use_the_projects_environment():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}
    assert {hook["id"] for hook in hooks} == {"ruff", "strip-notebook-outputs"}
    for hook in hooks:
        assert (ROOT / hook["entry"].split()[0]).is_file(), hook["entry"]
    strip = next(hook for hook in hooks if hook["id"] == "strip-notebook-outputs")
    assert "--keep-id" in strip["entry"] and strip["files"] == r"^notebooks/[^/]*\.ipynb$"
