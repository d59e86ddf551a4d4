"""The pretraining script's checkpoints: marked complete only once every file is written, with each file's size and
sha256 and the run's settings, so that ``--resume`` trusts only a checkpoint it can check."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from transformers import TrainerCallback

from utils.offline.cache import sha256_of

COMPLETE = "checkpoint-complete"  # written last, atomically: a checkpoint without it was interrupted


class MarkComplete(TrainerCallback):
    """After the Trainer has written every file of a checkpoint, mark it complete (temp file, then rename), and
    keep only the ``keep`` newest complete checkpoints (interrupted ones older than those go too).

    The marker lists every file of the checkpoint with its size and sha256, and the run's ``settings`` (profile
    sizes, world size): ``--resume`` checks both before it trusts the checkpoint (``checkpoint_problem``).
    """

    def __init__(self, keep: int = 2, settings: dict | None = None):
        self.keep, self.settings = keep, settings or {}

    def on_train_begin(self, args, state, control, **kwargs):
        state.save_steps = args.save_steps  # a resumed run checkpoints as often as this run's --save-every says

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(f".{COMPLETE}")}
        part = folder / f".{COMPLETE}.part"
        part.write_text(json.dumps({"step": state.global_step, "settings": self.settings, "files": files}, indent=1))
        os.replace(part, folder / COMPLETE)
        complete = sorted(checkpoints_in(args.output_dir, complete=True), key=step_of)
        oldest_kept = step_of(complete[-self.keep]) if len(complete) >= self.keep else 0
        for old in checkpoints_in(args.output_dir):
            if step_of(old) < oldest_kept:
                shutil.rmtree(old, ignore_errors=True)


def checkpoint_problem(checkpoint: Path, settings: dict) -> str | None:
    """Why ``checkpoint`` cannot be resumed with ``settings``, or None: every file its marker lists must be there
    with its size and sha256, and the run's settings must be the ones it was saved with."""
    try:
        marker = json.loads((checkpoint / COMPLETE).read_text())
        files, saved = marker["files"], marker["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return "has a completion marker from an older version or a damaged one (no file list)"
    for rel, info in files.items():
        path = checkpoint / rel
        if not path.is_file():
            return f"lacks {rel}"
        if path.stat().st_size != info["size"] or sha256_of(path) != info["sha256"]:
            return f"has a changed or truncated {rel}"
    changed = [f"{key} {saved.get(key)!r} -> {value!r}" for key, value in settings.items() if saved.get(key) != value]
    if changed:
        return f"was saved with other settings ({', '.join(changed)})"
    return None


def step_of(checkpoint: Path) -> int:
    """The N of checkpoint-N."""
    return int(checkpoint.name.split("-", 1)[1])


def checkpoints_in(folder: str | Path, complete: bool = False) -> list[Path]:
    """Every checkpoint-N folder under ``folder`` (only those marked complete, with ``complete``)."""
    return [p for p in Path(folder).glob("checkpoint-*") if p.name.split("-", 1)[1].isdigit()
            and (not complete or (p / COMPLETE).is_file())]


def last_complete_checkpoint(folder: str | Path) -> Path | None:
    """The newest checkpoint-N under ``folder`` that was completely written, or None."""
    return max(checkpoints_in(folder, complete=True), key=step_of, default=None)


def finished_steps(checkpoint: Path) -> int | None:
    """The step count when ``checkpoint`` is the last step of its run, else None."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        return state["global_step"] if state["global_step"] >= state["max_steps"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
