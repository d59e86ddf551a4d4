"""Wall time of every notebook in the smoke and classroom profiles (executed headless, offline).

Run: .venv/bin/python benchmarks/notebook_times.py [PROFILE ...]   (default: smoke classroom)
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from utils.tools.record import with_predictions

ROOT = Path(__file__).resolve().parent.parent


def execute(notebook: Path, profile: str, out_dir: Path, predictions: set[str] | None = None,
            **extra_env: str) -> tuple[float, Path]:
    """Execute ``notebook`` in ``profile`` (with ``extra_env`` set), its predictions (or those of ``predictions``, by
    cell id) written in as ``make record`` writes them; returns (seconds, executed notebook path)."""
    filled = out_dir / "in" / notebook.name
    filled.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(with_predictions(notebook, predictions), filled)
    env = dict(os.environ, LLM_TUTORIAL_PROFILE=profile, HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"),
               LLM_TUTORIAL_WIDGETS="off", **extra_env)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--ExecutePreprocessor.timeout=3600", "--KernelManager.transport=ipc",  # local sockets, not TCP
                    f"--KernelManager.ip={Path(tempfile.gettempdir()) / 'llm-tutorial-kernel'}",
                    "--output-dir", str(out_dir), "--log-level", "ERROR", str(filled)],
                   check=True, env=env, cwd=notebook.parent)
    return time.perf_counter() - started, out_dir / notebook.name


def main() -> None:
    profiles = sys.argv[1:] or ["smoke", "classroom"]
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = {nb.name: {p: execute(nb, p, Path(tmp))[0] for p in profiles} for nb in notebooks}
    print(f"{'notebook':<28}" + "".join(f"{p:>12}" for p in profiles))
    for name, times in rows.items():
        print(f"{name:<28}" + "".join(f"{times[p]:>10.0f} s" for p in profiles))
    totals = {p: sum(t[p] for t in rows.values()) for p in profiles}
    print(f"{'total':<28}" + "".join(f"{totals[p]:>10.0f} s" for p in profiles))
    if len(profiles) == 2:
        print(f"ratio: {profiles[1]} takes {totals[profiles[1]] / totals[profiles[0]]:.1f}x as long as {profiles[0]}")


if __name__ == "__main__":
    main()
