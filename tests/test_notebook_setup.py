"""Each notebook's first code cell makes `utils` importable in a kernel where the project is not installed."""

import json
import os
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


def test_building_the_stand_in_inside_a_kernel_prints_our_lines_and_a_bar_and_nothing_on_stderr(tmp_path):
    """A student who skipped `make setup`: notebook 1's load cell builds the masked-LM stand-in on the spot,
    with our lines and a progress bar and no red stderr box (transformers' load report would call the new head
    MISSING). Same code path, with the training cut to 4 steps so the test takes seconds."""
    import shutil

    from jupyter_client.manager import KernelManager

    from utils.offline.cache import cache_root

    for dependency in ("minilm-encoder", "bert-tokenizer", "wikipedia-sample", "wikipedia-parsed"):  # parsed: faster
        shutil.copytree(cache_root() / dependency, tmp_path / "cache" / dependency)
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    km.start_kernel(cwd=str(ROOT / "notebooks"), env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                       "LLM_TUTORIAL_CACHE": str(tmp_path / "cache")})
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        outputs = []
        reply = client.execute_interactive(
            "import utils.offline.masked_lm_stand_in as recipe\n"
            "recipe.STEPS, recipe.EVAL_CHUNKS = 4, 8\n"
            "from utils.models import load_masked_lm\n"
            "loaded = load_masked_lm('bert-base-uncased')\n", timeout=300,
            output_hook=lambda msg: outputs.append(msg))
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    streams = [(m["content"]["name"], m["content"]["text"]) for m in outputs if m["msg_type"] == "stream"]
    assert [text for name, text in streams if name == "stderr"] == []
    said = "".join(text for name, text in streams if name == "stdout")
    assert "Building the offline asset 'masked-lm-stand-in' on first use (4-20 minutes" in said
    assert "Built 'masked-lm-stand-in' in " in said and "Model: " in said
    bars = [m for m in outputs if m["msg_type"] == "display_data"
            and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    assert bars, "the build shows a progress bar"
