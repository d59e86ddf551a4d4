"""Time to the lesson: notebook 3 end to end in the classroom profile, with its three lesson figures.

Target: at most 10 minutes on a 2-core laptop CPU. Run: .venv/bin/python benchmarks/time_to_lesson.py
"""

import json
import tempfile
from pathlib import Path

from notebook_times import ROOT, execute

TARGET_S = 600


def main() -> None:
    notebook = ROOT / "notebooks" / "03_pretraining_gpt2.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        seconds, executed = execute(notebook, "classroom", Path(tmp))
        cells = json.loads(executed.read_text())["cells"]
    lesson = next(c for c in cells if c["cell_type"] == "code" and "final train loss" in "".join(c["source"]))
    print("".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                  for o in lesson["outputs"]).rstrip())
    print(f"wall time {seconds:.0f} s ({seconds / 60:.1f} min) for the whole notebook")
    print(f"ratio: {seconds / TARGET_S:.2f} of the 10-minute budget; the original tutorial took 13.3 h "
          f"({47753 / seconds:.0f}x longer)")


if __name__ == "__main__":
    main()
