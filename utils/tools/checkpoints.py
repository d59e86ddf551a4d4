"""The pretraining script's checkpoints: marked complete only once every file is written, with each file's size and
sha256 and the run's settings, so that ``--resume`` trusts only a checkpoint it can check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath

from transformers import TrainerCallback

from utils.offline.cache import sha256_of
from utils.support.files import FileProblem, read_json, refuse_link, write_atomic

COMPLETE = "checkpoint-complete"  # written last, atomically: a checkpoint without it was interrupted
# what a marker must list for --resume to have weights and a step to resume from (the weights in either form)
REQUIRED = ("trainer_state.json",)
WEIGHTS = ("model.safetensors", "model.safetensors.index.json")


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
        refuse_link(folder)  # the checkpoint is ours to mark: never one that points elsewhere
        files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()
                 and not p.name.startswith(f".{COMPLETE}")}
        write_atomic(folder / COMPLETE, json.dumps({"step": state.global_step, "settings": self.settings,
                                                    "files": files}, indent=1))
        complete = sorted(checkpoints_in(args.output_dir, complete=True), key=step_of)
        oldest_kept = step_of(complete[-self.keep]) if len(complete) >= self.keep else 0
        for old in checkpoints_in(args.output_dir):
            if step_of(old) < oldest_kept:
                shutil.rmtree(old, ignore_errors=True)


def checkpoint_problem(checkpoint: Path, settings: dict) -> str | None:
    """Why ``checkpoint`` cannot be resumed with ``settings``, or None: every file its marker lists must be there
    with its size and sha256, and the run's settings must be the ones it was saved with."""
    try:
        marker = read_json(checkpoint / COMPLETE, "its completion marker")
    except FileProblem:
        marker = {}
    files, saved = marker.get("files"), marker.get("settings")
    if not _valid_listing(files) or not isinstance(saved, dict):
        return "has a completion marker from an older version or a damaged one (no file list)"
    lacking = [name for name in REQUIRED if name not in files] + ([] if set(WEIGHTS) & set(files) else [WEIGHTS[0]])
    if lacking:
        return f"has a completion marker that does not list {', '.join(lacking)}"
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


def _valid_listing(files) -> bool:
    """Whether a marker's ``files`` is {relative path inside the checkpoint: {"size": int, "sha256": str}}."""
    return isinstance(files, dict) and all(
        isinstance(rel, str) and not PurePosixPath(rel).is_absolute() and ".." not in PurePosixPath(rel).parts
        and isinstance(info, dict) and type(info.get("size")) is int and isinstance(info.get("sha256"), str)
        for rel, info in files.items())


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
        state = read_json(checkpoint / "trainer_state.json")
        return state["global_step"] if state["global_step"] >= state["max_steps"] else None
    except (ValueError, KeyError, TypeError):  # FileProblem is a ValueError
        return None


def save_failure(out: Path, step: int, exc: BaseException) -> str | None:
    """One line when ``exc`` broke the writing of checkpoint-``step`` (it is there without its marker; it is
    removed), else None."""
    unmarked = [c for c in checkpoints_in(out) if step_of(c) == step and not (c / COMPLETE).is_file()]
    if not unmarked and not isinstance(exc, OSError):
        return None
    for folder in unmarked:
        shutil.rmtree(folder, ignore_errors=True)
    where = f"{unmarked[0].name} in {out}" if unmarked else str(out)
    return (f"could not write {where} ({write_failure(out, exc)}). The unfinished checkpoint was removed; "
            "free some space (or choose another --output-dir), then run again with --resume.")


def write_failure(out: Path, exc: BaseException) -> str:
    """Why a write under ``out`` failed, and the space left there, for a one-line error."""
    cause = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0][:120]
    return f"{cause}; {shutil.disk_usage(out).free / 1e6:,.0f} MB free there"
