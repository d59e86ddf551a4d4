"""Time to the lesson: notebook 3 end to end in the classroom profile, its two core runs, and where the time goes.

Targets: the lesson (every cell before the optional sections at the end: the first run and the same model on every
article) in at most 120 s on a 2-core laptop CPU with bf16, and at most 180 s on a CPU without it (oneDNN and MKL
limited to AVX2: ``ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``; torch's own kernels still use whatever the
CPU has, so this only approximates an AVX2 laptop; a third row also sets ``ATEN_CPU_CAPABILITY=avx2``, which limits
torch's own kernels too, nearer a real AVX2 laptop, though its memory and clock stay this machine's). The optional
sections run too, the byte run among them, and are timed apart. With the lessons' thresholds: the first run's final
train loss below 0.5, 16/16 tokens recited and validation loss past its minimum at the end; the every-article run
under its count line; the byte run's last validation loss under the bigram model, and still falling.

Side by side in one run, each in a fresh process, alternated twice: the classroom models' training step (forward,
backward, AdamW; the median of 12, as notebook 3's probe measures it) with
- the stock Trainer (the model's own loss, all logits at once) and glibc's default malloc;
- the stock Trainer with ``utils.support.callbacks.ReuseFreedMemory``'s setting: freed memory kept for the next step
  while training (what the notebook runs), or kept only up to 128 MB;
- ``pretraining.ChunkedLossTrainer`` (the script's Trainer, the output-layer loss in chunks) the same two ways;
- the byte run's model (``byte_run``: 4 layers, 128 wide, 257 byte tokens, 8 chunks a step; exercise 7's ``MyGPT``,
  the reference solution's, holding a fresh GPT-2's weights) with the stock Trainer, as the notebook runs it;
and each process's peak resident memory. ``--before REV`` also runs notebook 3 of an earlier commit (checked out into
a temporary git worktree), alternated with this one's, so the two lesson times are measured under the same load.

Run: .venv/bin/python benchmarks/time_to_lesson.py [--lesson-only] [--no-avx2] [--before REV]
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbformat
from notebook_times import ROOT, execute

from utils.chunked_loss import DEFAULT_CHUNK
from utils.tools.record import PREDICTION

TARGET_S, TARGET_AVX2_S = 120, 180
NOW = "stock Trainer, freed memory reused while training (now)"
STEPS = 12
NO_BF16 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ALL_AVX2 = NO_BF16 | {"ATEN_CPU_CAPABILITY": "avx2"}  # torch's own kernels too: nearer a real AVX2 laptop
FIRST_RUN, MORE_RUN, BYTE_RUN = "c25", "b41d7a6e", "2e7f9c31"  # notebook 3's training cells, by cell id
OPTIONAL = "f4186335"  # the first code cell of the optional sections after "What this shows"
LESSON_LINES = ("c35", "c49", "5a3d8e72")  # the cells that print each run's lesson in numbers
UNRUN_PREDICTIONS = {"c51"}  # optional exercise 5's (dropout): it stays unrun; every other prediction is written in

STEP_LOOP = f"""
import resource, sys, tempfile, torch
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForLanguageModeling, Trainer
from utils import pretraining
from utils.support import allocator as alloc
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING
trainer_kind, allocator, chunk, run = sys.argv[1:5]
if allocator == "default":  # glibc as it starts: the probe must not tune it
    pretraining.keep_freed_memory = lambda: False
elif allocator in ("bounded", "bounded-only"):
    assert alloc.keep_freed_memory()
if allocator == "bounded-only":  # the 128 MB bound holds during training too
    pretraining.reuse_freed_memory = lambda: __import__("contextlib").nullcontext()
torch.manual_seed(0)
P = PRETRAINING["classroom"]
P = P | P["byte_run"] if run == "second" else P
tokenizer = load_tokenizer("gpt2")
if run == "second":  # the byte run reads bytes: GPT-2's tokenizer retrained with no merges, as notebook 3 does
    tokenizer = tokenizer.train_new_from_iterator(["bytes"], vocab_size=257)
tokenizer.pad_token = tokenizer.eos_token
model = pretraining.new_gpt2(pretraining.gpt2_config(tokenizer, P))
ids = torch.randint(0, model.config.vocab_size, (P["batch_size"], P["context_length"])).tolist()
if run == "second":  # the byte run trains a MyGPT holding those weights (the reference's until a student's is right)
    from utils.exercises import reference
    from utils.gpt_checks import yours_to_train
    model, _ = yours_to_train(reference("MyGPT", "03_pretraining_gpt2"), model, torch.tensor(ids[:2]))
chunks = DatasetDict(train=Dataset.from_dict({{"input_ids": ids}}), valid=Dataset.from_dict({{"input_ids": ids}}))
args = pretraining.training_arguments(P, tempfile.mkdtemp(), "cpu")
if trainer_kind == "chunked":
    trainer = pretraining.make_trainer(model, args, chunks, tokenizer)
    trainer.loss_chunk = int(chunk)
else:
    trainer = Trainer(model=model, args=args, train_dataset=chunks["train"], eval_dataset=chunks["valid"],
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
seconds = pretraining.estimate_seconds(trainer, steps=1, probe_steps={STEPS})  # the median step, as notebook 3 does
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, args.bf16)
"""

CONFIGS = {  # name: (trainer, allocator, positions per chunk, run)
    "stock Trainer, glibc defaults": ("plain", "default", 0, "first"),
    "stock Trainer, malloc keeps at most 128 MB": ("plain", "bounded-only", 0, "first"),
    NOW: ("plain", "bounded", 0, "first"),
    "chunked loss (the script's), glibc defaults": ("chunked", "default", DEFAULT_CHUNK, "first"),
    "chunked loss (the script's), reused while training": ("chunked", "bounded", DEFAULT_CHUNK, "first"),
    "byte run's model, stock Trainer, reused (now)": ("plain", "bounded", 0, "second"),
}


def step(trainer_kind: str, allocator: str, chunk: int, run: str) -> tuple[float, int, bool]:
    """(median step seconds, peak resident bytes, bf16?) of a classroom model in a fresh process."""
    out = subprocess.run([sys.executable, "-c", STEP_LOOP, trainer_kind, allocator, str(chunk), run],
                         capture_output=True, text=True, check=True, cwd=ROOT,
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


def lesson(label: str, root: Path = ROOT, **extra_env: str) -> tuple[float, float]:
    """Run notebook 3 (classroom) of ``root``; print where its time went and each run's lesson. (the lesson's
    seconds: the notebook's wall time less its optional sections; the whole notebook's)."""
    notebook = root / "notebooks" / "03_pretraining_gpt2.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        predictions = {cell.id for cell in nbformat.read(notebook, as_version=4).cells
                       if PREDICTION in cell.metadata.get("tags", [])} - UNRUN_PREDICTIONS
        seconds, executed = execute(notebook, "classroom", Path(tmp), predictions, LLM_TUTORIAL_OUTPUT=tmp,
                                    **extra_env)
        cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    ids = [c.get("id") for c in cells]
    device_line = next(line for c in cells for line in text_of(c).splitlines() if line.startswith("Device:"))
    print(f"== notebook 3, {label}: {device_line}")
    runs = [ids.index(cell) if cell in ids else -1 for cell in (FIRST_RUN, MORE_RUN, OPTIONAL, BYTE_RUN)]
    if 0 <= runs[0] < runs[1] < runs[2] < runs[3]:  # the byte run among the optional sections
        first, more, optional, byte_run = runs
        parts = {"kernel start, imports, data, tokenizing, model, exercises 1-2, probe": cells[:first],
                 "first run's training (120 steps, evaluations, live figure)": [cells[first]],
                 "between: curves, recitation, step tables, exercises 3-4": cells[first + 1:more],
                 "the first run's model on every article (tokenizing it, 120 steps)": [cells[more]],
                 "after: its check, figure, the byte data, exercise 7, save, resume, summary": cells[more + 1:optional],
                 "optional: the output layer's memory, the byte run's data, lines and probe": cells[optional:byte_run],
                 "optional: the byte run's training": [cells[byte_run]],
                 "optional: its numbers, the per-byte table, step table, context gains": cells[byte_run + 1:]}
    else:  # an earlier notebook: its every cell is the lesson
        first = next(i for i, c in enumerate(cells) if "trainer.train()" in "".join(c["source"]))
        parts = {"kernel start, imports, data, tokenizing, model": cells[:first], "training": [cells[first]],
                 "after training": cells[first + 1:]}
    times = {name: sum(cell_seconds(c) for c in group) for name, group in parts.items()}
    times[next(iter(times))] += seconds - sum(times.values())  # kernel start-up and I/O
    for name, value in times.items():
        print(f"  {value:5.1f} s  {name}")
    for cell in cells:
        if cell.get("id") in LESSON_LINES or (FIRST_RUN not in ids and "final train loss" in "".join(cell["source"])):
            print(text_of(cell).rstrip())
    return seconds - sum(value for name, value in times.items() if name.startswith("optional")), seconds


@contextlib.contextmanager
def worktree(rev: str):
    folder = Path(tempfile.mkdtemp(prefix="llm-tutorial-before-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(folder), rev], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=True)


def steps_side_by_side() -> None:
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
    before, now = best["stock Trainer, glibc defaults"], best[NOW]
    print(f"ratio: reusing freed memory, the stock Trainer's step takes {now[0] / before[0]:.2f}x the time of glibc's "
          f"defaults ({before[0] / now[0]:.2f}x as fast), with {now[1] / before[1]:.2f}x the peak memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson-only", action="store_true", help="skip the training-step comparison")
    parser.add_argument("--no-avx2", action="store_true", help="skip the lesson with oneDNN and MKL limited to AVX2")
    parser.add_argument("--before", help="also run this commit's notebook 3, alternated with this one's")
    args = parser.parse_args()
    if not args.lesson_only:
        steps_side_by_side()
    rows = [("this CPU as it is", {}, TARGET_S)] + ([] if args.no_avx2 else [
        ("oneDNN and MKL limited to AVX2 (no bf16)", NO_BF16, TARGET_AVX2_S),
        ("oneDNN, MKL and torch's own kernels limited to AVX2", ALL_AVX2, TARGET_AVX2_S)])
    with worktree(args.before) if args.before else contextlib.nullcontext() as tree:
        for label, env, target in rows:
            if tree is not None:
                was, whole = lesson(f"{args.before}, {label}", tree, **env)
                print(f"lesson {was:.0f} s ({whole:.0f} s for the whole of {args.before}'s notebook 3)")
            seconds, whole = lesson(label, **env)
            print(f"lesson {seconds:.0f} s ({whole:.0f} s for the whole notebook, its optional sections too); "
                  f"{seconds / target:.2f} of the {target} s budget"
                  + (f"; {seconds / was:.2f}x the time of {args.before}'s notebook, run just before" if tree else "")
                  + f"; the original tutorial took 13.3 h ({47753 / seconds:,.0f}x longer)")


if __name__ == "__main__":
    main()
