"""Time to the lesson: notebook 3 end to end in the classroom profile, and where the time goes.

Target: at most 90 s on a 2-core laptop CPU, with the lesson's thresholds (final train loss below 0.5, 16/16
tokens recited, validation loss past its minimum and rising at the end).

Side by side in one run: the classroom model's training step with glibc's default malloc and with
``utils.device.keep_freed_memory()`` (what ``pick_device`` switches on), each in a fresh process.
Run: .venv/bin/python benchmarks/time_to_lesson.py
"""

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from notebook_times import ROOT, execute

TARGET_S = 90
STEPS = 12

STEP_LOOP = f"""
import sys, tempfile, torch
from datasets import Dataset, DatasetDict
from utils import device, pretrain
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING
if sys.argv[1] == "tuned":
    assert device.keep_freed_memory()
torch.manual_seed(0)
P = PRETRAINING["classroom"]
tokenizer = load_tokenizer("gpt2")
tokenizer.pad_token = tokenizer.eos_token
model = pretrain.new_gpt2(pretrain.gpt2_config(tokenizer, P))
ids = torch.randint(0, model.config.vocab_size, (P["batch_size"], P["context_length"])).tolist()
chunks = DatasetDict(train=Dataset.from_dict({{"input_ids": ids}}), valid=Dataset.from_dict({{"input_ids": ids}}))
trainer = pretrain.make_trainer(model, pretrain.training_arguments(P, tempfile.mkdtemp(), "cpu"), chunks, tokenizer)
print(pretrain.estimate_seconds(trainer, steps=1, probe_steps={STEPS}))  # the median step, as notebook 3 estimates
"""


def step_seconds(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", STEP_LOOP, mode], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | {"HF_HUB_OFFLINE": "1"},
                         cwd=ROOT)
    return float(out.stdout.split()[-1])


def cell_seconds(cell: dict) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) -
            datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def text_of(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


def main() -> None:
    default, tuned = step_seconds("default"), step_seconds("tuned")
    print(f"classroom training step (median of {STEPS}): glibc defaults {default:.3f} s, "
          f"keep_freed_memory {tuned:.3f} s")
    print(f"ratio: the tuned allocator's step takes {tuned / default:.2f}x the time ({default / tuned:.2f}x faster)")

    notebook = ROOT / "notebooks" / "03_pretraining_gpt2.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        seconds, executed = execute(notebook, "classroom", Path(tmp))
        cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    training = next(i for i, c in enumerate(cells) if "trainer.train()" in "".join(c["source"]))
    parts = {"kernel start, imports, data, tokenizing, model": sum(cell_seconds(c) for c in cells[:training]),
             "training (trainer.train, with evaluations and samples)": cell_seconds(cells[training]),
             "after training (tables, recitation, step tables, save, resume)":
                 sum(cell_seconds(c) for c in cells[training + 1:])}
    parts["kernel start, imports, data, tokenizing, model"] += seconds - sum(parts.values())  # start-up, I/O
    for name, value in parts.items():
        print(f"  {value:5.1f} s  {name}")
    lesson = next(c for c in cells if "final train loss" in "".join(c["source"]))
    print(text_of(lesson).rstrip())
    print(f"wall time {seconds:.0f} s for the whole notebook")
    print(f"ratio: {seconds / TARGET_S:.2f} of the {TARGET_S} s budget; the original tutorial took 13.3 h "
          f"({47753 / seconds:,.0f}x longer)")


if __name__ == "__main__":
    main()
