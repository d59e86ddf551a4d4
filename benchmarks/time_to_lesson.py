"""Time to the lesson: notebook 3 end to end in the classroom profile, and where the time goes.

Target: at most 90 s on a 2-core laptop CPU, with the lesson's thresholds (final train loss below 0.5, 16/16
tokens recited, validation loss past its minimum and rising at the end), with bf16 where the CPU has it and on a
CPU without it (oneDNN and MKL limited to AVX2: ``ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``).

Side by side in one run, each in a fresh process, alternated twice: the classroom model's training step
(forward, backward, AdamW; the median of 12) with
- the plain Trainer (the model's own loss, all logits at once) and glibc's default malloc;
- the plain Trainer with malloc keeping every freed block (the setting before the chunked loss);
- ``pretraining.ChunkedLossTrainer`` with glibc's default malloc;
- ``pretraining.ChunkedLossTrainer`` with only ``utils.support.allocator.keep_freed_memory()``'s bound (no mmap, at most
  128 MB of freed memory kept, also while training);
- ``pretraining.ChunkedLossTrainer`` as it runs now: ``keep_freed_memory()`` (what training switches on), and
  while training ``reuse_freed_memory()`` keeps everything freed for the next step and gives it back at the end;
and each process's peak resident memory.
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

from utils.chunked_loss import DEFAULT_CHUNK

TARGET_S = 90
NOW = f"chunked loss ({DEFAULT_CHUNK} positions), malloc reuses all while training (now)"
STEPS = 12
NO_BF16 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}

STEP_LOOP = f"""
import ctypes, resource, sys, tempfile, torch
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForLanguageModeling, Trainer
from utils import pretraining
from utils.support import allocator as alloc
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING
trainer_kind, allocator, chunk = sys.argv[1:4]
if allocator == "keep-all":  # the earlier setting: no mmap, never trim
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(-4, 0) and libc.mallopt(-1, -1)
elif allocator in ("bounded", "bounded-only"):
    assert alloc.keep_freed_memory()
    pretraining.keep_freed_memory = lambda: True  # already tuned
if allocator == "bounded-only":  # the bound holds during training too
    pretraining.reuse_freed_memory = lambda: __import__("contextlib").nullcontext()
torch.manual_seed(0)
P = PRETRAINING["classroom"]
tokenizer = load_tokenizer("gpt2")
tokenizer.pad_token = tokenizer.eos_token
model = pretraining.new_gpt2(pretraining.gpt2_config(tokenizer, P))
ids = torch.randint(0, model.config.vocab_size, (P["batch_size"], P["context_length"])).tolist()
chunks = DatasetDict(train=Dataset.from_dict({{"input_ids": ids}}), valid=Dataset.from_dict({{"input_ids": ids}}))
args = pretraining.training_arguments(P, tempfile.mkdtemp(), "cpu")
if trainer_kind == "chunked":
    trainer = pretraining.make_trainer(model, args, chunks, tokenizer)
    trainer.loss_chunk = int(chunk)
else:
    trainer = Trainer(model=model, args=args, train_dataset=chunks["train"], eval_dataset=chunks["valid"],
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
# the median step, as notebook 3 estimates
seconds = pretraining.estimate_seconds(trainer, steps=1, probe_steps={STEPS})
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, args.bf16)
"""

CONFIGS = {  # name: (trainer, allocator, positions per chunk)
    "plain loss, glibc defaults": ("plain", "default", 0),
    "plain loss, malloc keeps all (before)": ("plain", "keep-all", 0),
    "chunked loss, glibc defaults": ("chunked", "default", DEFAULT_CHUNK),
    "chunked loss, malloc keeps at most 128 MB": ("chunked", "bounded-only", DEFAULT_CHUNK),
    "chunked loss, 128 positions a chunk": ("chunked", "bounded", 128),
    NOW: ("chunked", "bounded", DEFAULT_CHUNK),
}


def step(trainer_kind: str, allocator: str, chunk: int) -> tuple[float, int, bool]:
    """(median step seconds, peak resident bytes, bf16?) of the classroom model in a fresh process."""
    out = subprocess.run([sys.executable, "-c", STEP_LOOP, trainer_kind, allocator, str(chunk)], capture_output=True,
                         text=True,
                         check=True, cwd=ROOT,
                         env={k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | {"HF_HUB_OFFLINE": "1"})
    seconds, peak, bf16 = out.stdout.split()[-3:]
    return float(seconds), int(peak), bf16 == "True"


def cell_seconds(cell: dict) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) -
            datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def text_of(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


def lesson(label: str, **extra_env: str) -> None:
    """Run notebook 3 (classroom) and print where its time went and the lesson's three numbers."""
    notebook = ROOT / "notebooks" / "03_pretraining_gpt2.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        seconds, executed = execute(notebook, "classroom", Path(tmp), LLM_TUTORIAL_OUTPUT=tmp, **extra_env)
        cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    training = next(i for i, c in enumerate(cells) if "trainer.train()" in "".join(c["source"]))
    device_line = next(line for c in cells for line in text_of(c).splitlines() if line.startswith("Device:"))
    parts = {"kernel start, imports, data, tokenizing, model": sum(cell_seconds(c) for c in cells[:training]),
             "training (trainer.train, with evaluations and samples)": cell_seconds(cells[training]),
             "after training (tables, recitation, step tables, save, resume)":
                 sum(cell_seconds(c) for c in cells[training + 1:])}
    parts["kernel start, imports, data, tokenizing, model"] += seconds - sum(parts.values())  # start-up, I/O
    print(f"== notebook 3, {label}: {device_line}")
    for name, value in parts.items():
        print(f"  {value:5.1f} s  {name}")
    print(text_of(next(c for c in cells if "final train loss" in "".join(c["source"]))).rstrip())
    print(f"wall time {seconds:.0f} s for the whole notebook; {seconds / TARGET_S:.2f} of the {TARGET_S} s budget; "
          f"the original tutorial took 13.3 h ({47753 / seconds:,.0f}x longer)")


def main() -> None:
    results: dict[str, list[tuple[float, int, bool]]] = {name: [] for name in CONFIGS}
    for _ in range(2):  # alternated, so a slow minute of this shared machine hits every configuration
        for name, config in CONFIGS.items():
            results[name].append(step(*config))
    bf16 = next(iter(results.values()))[0][2]
    print(f"classroom training step ({'bf16 autocast' if bf16 else 'fp32: this CPU has no bf16'}; the faster of "
          f"2 runs of the median of {STEPS} steps), and the process's peak resident memory:")
    best = {name: min(runs) for name, runs in results.items()}
    for name, (seconds, peak, _) in best.items():
        print(f"  {name:<68} {seconds:.3f} s   {peak / 1e9:.2f} GB")
    before, now = best["plain loss, malloc keeps all (before)"], best[NOW]
    print(f"ratio: now's step takes {now[0] / before[0]:.2f}x the time of before's ({before[0] / now[0]:.2f}x as fast),"
          f" with {now[1] / before[1]:.2f}x the peak memory")
    lesson("this CPU as it is")
    lesson("oneDNN and MKL limited to AVX2 (no bf16)", **NO_BF16)


if __name__ == "__main__":
    main()
