"""The pretraining script: notebook 3's run at any scale, with checkpoints that survive a crash or a lost node.

    python -m utils.tools.pretrain --profile full                       # one GPU (or CPU)
    accelerate launch -m utils.tools.pretrain --profile full            # every GPU of the machine (DDP)
    torchrun --nproc_per_node 8 -m utils.tools.pretrain --profile full  # the same with torchrun

It runs the functions of ``utils.pretraining`` that notebook 3 runs, in four steps (``main``): read the command
line, resume or start, train, save the final model. Everything else here keeps a long run safe: a lock per output
folder, checkpoints that ``--resume`` can check (``utils.tools.checkpoints``), and one line, never a traceback, when
the run is interrupted, a peer is lost or the disk fills.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import re
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
import transformers
from transformers import Trainer

from utils.device import pick_device, seed_everything
from utils.models import load_tokenizer
from utils.pretraining import (
    SEED,
    estimate_seconds,
    gpt2_config,
    make_trainer,
    new_gpt2,
    tokenize_corpus,
    total_steps,
    training_arguments,
    training_text,
)
from utils.profiles import PRETRAINING, choose_profile
from utils.settings import write_problem
from utils.support.files import FileProblem, take_lock, user_path
from utils.tools.checkpoints import COMPLETE as COMPLETE  # the marker's name, for the tests and the docs
from utils.tools.checkpoints import (
    MarkComplete,
    checkpoint_problem,
    checkpoints_in,
    finished_steps,
    last_complete_checkpoint,
    save_failure,
    step_of,
    write_failure,
)
from utils.training_view import SummaryLine
from utils.wikipedia import load_wikipedia_subset

# under torchrun, a process that hears nothing from another for this long stops (a dead process is noticed at once,
# its connection closes); long enough for the main process to write a full-size checkpoint to a slow disk
PEER_TIMEOUT_SECONDS = 600
# the largest values the flags take: past these a run would never end, or would not fit any machine's memory
MOST = {"epochs": 10_000, "batch_size": 2**20, "save_every": 10**9}
# what the project writes in the output folder: none of these may be a symbolic link
OURS = (".lock", "final", "final.part", "checkpoint-*")


def checkpoint_to_resume(folder: Path, settings: dict) -> Path:
    """The newest complete checkpoint whose files are intact, saying in one line for each damaged one that it is
    skipped; SystemExit with one line when none is left, or when the run's settings differ from the saved ones."""
    for checkpoint in sorted(checkpoints_in(folder, complete=True), key=step_of, reverse=True):
        problem = checkpoint_problem(checkpoint, settings)
        if problem is None:
            return checkpoint
        if problem.startswith("was saved with other settings"):
            _stop(f"--resume: {checkpoint} {problem}. Resume with the settings it was saved with, or start afresh "
                  "in another --output-dir.")
        print(f"--resume: skipping {checkpoint}: it {problem}.", file=sys.stderr, flush=True)
    _stop(f"--resume: {folder} holds no complete, intact checkpoint; run without --resume to start afresh.")


def _stop(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a scheduler's preemption) ends the run like Ctrl-C, with the same hint


def _lost_peer(exc: BaseException) -> str | None:
    """The gist of ``exc`` if it says another process of a distributed run went away or stopped answering."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    lost = isinstance(exc, torch.distributed.DistError) or any(
        sign in text.lower() for sign in ("closed by peer", "connection reset", "broken pipe", "timed out"))
    return (text.split(". ")[0].rstrip(".") or type(exc).__name__)[:100] if lost else None


def _positive(kind, most: int):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(
                f"must be a number above 0 (e.g. 2 or 0.5), got {text!r}" if kind is float else
                f"must be a whole number above 0 (e.g. 50), got {text!r}")
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:,} (a run that long would never end), got "
                                             f"{text!r}")
        return value
    return parse


_LOCKS: list = []  # open lock files: held until main() returns (or the process ends)


def _lock(folder: Path) -> None:
    """SystemExit with one line if another run is writing into ``folder``; else hold its lock until exit. The lock
    file is opened without following a link, and must be a plain file."""
    try:
        handle, holder = take_lock(folder / ".lock")
    except FileProblem as exc:
        _stop(f"the lock file {exc}")
    if handle is None:
        _stop(f"another run ({holder}) is writing into {folder}; wait for it to end or choose another --output-dir.")
    _LOCKS.append(handle)


def _release_locks() -> None:
    while _LOCKS:
        _LOCKS.pop().close()  # closing the file releases its flock


def session_rate(steps_taken: int, batch_size: int, world_size: int, seconds: float) -> float:
    """Samples a second over the steps this session took (the Trainer's own figure also counts, after a resume,
    the steps the checkpoint had already taken)."""
    return steps_taken * batch_size * world_size / max(seconds, 1e-9)


@dataclass
class Run:
    """One run of the script, as the command line set it."""

    name: str  # the profile's name
    profile: dict  # its sizes, with the command line's overrides
    out: Path  # <output-dir>/<profile>: checkpoints, the lock, the final model
    save_every: int
    settings: dict  # what a checkpoint must have been saved with to be resumed
    checkpoint: Path | None = None  # where --resume continues from


def parse_args(argv: list[str] | None) -> tuple[Run, bool]:
    """The run the command line asks for, and whether it asks to resume; argparse's one-line error otherwise."""
    parser = argparse.ArgumentParser(description="Pretrain GPT-2 from scratch on a Wikipedia subset.")
    parser.add_argument("--profile", default=None, help=f"one of {', '.join(PRETRAINING)} (default: "
                        "$LLM_TUTORIAL_PROFILE or classroom)")
    parser.add_argument("--output-dir", default="build/pretrain", help="checkpoints, final model and tokenizer")
    parser.add_argument("--epochs", type=_positive(float, MOST["epochs"]), default=None,
                        help="override the profile's epochs")
    parser.add_argument("--batch-size", type=_positive(int, MOST["batch_size"]), default=None,
                        help="chunks per optimizer step on each process (default: the profile's batch_size)")
    parser.add_argument("--save-every", type=_positive(int, MOST["save_every"]), default=None,
                        help="steps between checkpoints (default: the profile's save_every)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the last complete checkpoint in the output folder")
    args = parser.parse_args(argv)
    if args.profile is not None and not args.profile.strip():
        parser.error(f"--profile is empty; use one of {', '.join(PRETRAINING)}.")
    if not args.output_dir.strip():
        parser.error("--output-dir is empty; name a folder, e.g. --output-dir build/pretrain.")
    try:
        name, profile = choose_profile(PRETRAINING, args.profile)
    except ValueError as exc:
        parser.error(str(exc))
    for key in ("epochs", "batch_size"):
        if getattr(args, key) is not None:
            profile[key] = getattr(args, key)
    for variable in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):  # set by torchrun and accelerate
        if not os.environ.get(variable, "0").strip().isdigit():
            parser.error(f"${variable}={os.environ[variable]!r} is not a whole number; torchrun and accelerate set "
                         "it for each process. Unset it to run one process.")
    out = user_path(args.output_dir) / name  # ~ expanded (also in --output-dir=~/x) and made absolute, once
    settings = {"profile": name, **profile, "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    return Run(name, profile, out, args.save_every or profile["save_every"], settings), args.resume


def resume_or_start(run: Run) -> int | None:
    """Find the checkpoint to resume from (``run.checkpoint``); an exit code when there is nothing to do."""
    if last_complete_checkpoint(run.out) is None:
        _stop(f"--resume: {run.out} holds no complete checkpoint; run without --resume to start afresh.")
    run.checkpoint = checkpoint_to_resume(run.out, run.settings)
    done = finished_steps(run.checkpoint)
    if done and (run.out / "final").is_dir():
        print(f"This run is already finished: {done} steps, the model is in {run.out / 'final'}. Nothing to resume; "
              "run without --resume (or with more --epochs in another --output-dir) to train again.")
        return 0
    return None


def _main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def build_trainer(run: Run) -> Trainer:
    """The device, the output folder (checked and locked), the data and a fresh GPT-2, in one Trainer; says what
    the run will cost. Under torchrun or accelerate every process does this; only the first one prints."""
    said_once = contextlib.redirect_stdout(sys.stdout if _main_process() else io.StringIO())
    try:
        with said_once:
            device = pick_device()
    except ValueError as exc:  # e.g. $LLM_TUTORIAL_DEVICE=cuda on a machine without a GPU; nothing written yet
        _stop(str(exc))
    problem = write_problem(run.out)
    if problem:
        _stop(f"cannot write to {run.out} ({problem}); choose another --output-dir.")
    linked = sorted(str(p) for pattern in OURS for p in run.out.glob(pattern) if p.is_symlink())
    if linked:
        _stop(f"{linked[0]} is a symbolic link; this run writes there itself and never through a link. Remove it, "
              "or choose another --output-dir.")
    if _main_process():
        _lock(run.out)
    datasets.disable_progress_bars()  # tokenizing and chunking take seconds; one line per evaluation follows
    transformers.utils.logging.disable_progress_bar()  # and so does saving the model
    seed_everything(SEED)
    with contextlib.redirect_stdout(sys.stdout if _main_process() else io.StringIO()):
        tokenizer = load_tokenizer("gpt2")
        tokenizer.pad_token = tokenizer.eos_token
        subset = load_wikipedia_subset(run.profile["n_train"], run.profile["n_valid"], seed=SEED)
        chunks = tokenize_corpus(training_text(subset, run.profile), tokenizer, run.profile)
    model = new_gpt2(gpt2_config(tokenizer, run.profile))
    training = training_arguments(run.profile, run.out, device, save_strategy="steps", save_steps=run.save_every,
                                  ddp_timeout=PEER_TIMEOUT_SECONDS)
    trainer = make_trainer(model, training, chunks, tokenizer, [SummaryLine(), MarkComplete(settings=run.settings)])
    steps = total_steps(chunks, run.profile, trainer.args.world_size)
    estimate = estimate_seconds(trainer, steps)
    if trainer.is_world_process_zero():
        print(f"Profile {run.name}: {model.num_parameters() / 1e6:.1f} M parameters, {len(chunks['train'])} train "
              f"chunks, {steps} steps; estimated {estimate / 60:.1f} min on {device}; world size "
              f"{trainer.args.world_size}; a checkpoint every {run.save_every} steps"
              + (f"; resuming from {run.checkpoint}" if run.checkpoint else ""))
    return trainer


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM (a scheduler's preemption) ends the run like Ctrl-C, at any stage; the handler is given back
    afterwards, since main() may run again in this process (a test, a notebook)."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main_thread else None
    try:
        yield
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _quiet_resume(resuming: bool):
    """On resuming, transformers' warning that --save-every differs from the checkpoint's is silenced (MarkComplete
    applies this run's); the level is given back afterwards."""
    quiet = logging.getLogger("transformers.trainer_utils")
    level = quiet.level
    if resuming:
        quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)


def train(run: Run, trainer: Trainer):
    """The Trainer's own training, with one line (and an exit code) for each way it can stop early; else its
    result."""
    try:
        with _quiet_resume(resuming=run.checkpoint is not None):
            return trainer.train(resume_from_checkpoint=str(run.checkpoint) if run.checkpoint else None)
    except FloatingPointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        last = last_complete_checkpoint(run.out)
        where = (f"the last complete checkpoint is {last}; add --resume to continue from it" if last else
                 "no checkpoint was completed yet")
        print(f"\nInterrupted at step {trainer.state.global_step}: {where}.", file=sys.stderr)
        return 130
    except FileProblem as exc:  # a checkpoint folder that is a link
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:  # torch.distributed.DistError is a RuntimeError
        return _training_failure(run, trainer, exc)


def _training_failure(run: Run, trainer: Trainer, exc: BaseException) -> int:
    """Exit code and one line for a lost peer or a failed checkpoint write; any other error is raised again."""
    if trainer.args.world_size > 1 and _lost_peer(exc):
        last = last_complete_checkpoint(run.out)
        where = (f"the last complete checkpoint is {last}; start every node again with --resume" if last else
                 "no checkpoint was completed yet; start every node again")
        print(f"Lost another process of this run at step {trainer.state.global_step} ({_lost_peer(exc)}): "
              f"{where}.", file=sys.stderr, flush=True)
        os._exit(3)  # at once: the process group cannot shut down cleanly without the lost process
    failure = save_failure(run.out, trainer.state.global_step, exc) if trainer.is_world_process_zero() else None
    if failure is None:
        raise exc
    print(f"error: {failure}", file=sys.stderr, flush=True)
    return 1


def save_final(run: Run, trainer: Trainer, result) -> int:
    """Evaluate (unless the last step just did), write the model to ``final/`` all at once (``final.part``, then a
    rename), and print the run's summary line."""
    evaluated = [h for h in trainer.state.log_history if "eval_loss" in h]
    fresh = evaluated and evaluated[-1]["step"] == trainer.state.global_step
    metrics = evaluated[-1] if fresh else trainer.evaluate()
    final, part = run.out / "final", run.out / "final.part"
    if trainer.is_world_process_zero():
        shutil.rmtree(part, ignore_errors=True)
    try:
        trainer.save_model(str(part))  # every process takes part; the main one writes
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(part, ignore_errors=True)
        print(f"error: could not write the final model to {final} ({write_failure(run.out, exc)}). The last "
              f"checkpoint is {last_complete_checkpoint(run.out)}; free some space, then run again with --resume.",
              file=sys.stderr, flush=True)
        return 1
    if trainer.is_world_process_zero():
        old = run.out / f".final.old-{os.getpid()}"
        if os.path.lexists(final):  # an earlier run's model (or a link): moved aside, never followed, then removed
            os.rename(final, old)
        os.replace(part, final)
        if old.is_symlink():
            old.unlink()
        shutil.rmtree(old, ignore_errors=True)
        print(_summary(run, trainer, result, metrics))
    return 0


def _summary(run: Run, trainer: Trainer, result, metrics: dict) -> str:
    """The last line of a run; the Trainer's own samples/s counts the steps a resumed run skipped, this does not."""
    resumed = run.checkpoint is not None
    taken = trainer.state.global_step - (step_of(run.checkpoint) if resumed else 0)
    if taken == 0:  # the checkpoint was the run's last step: only the final model was left to save
        return (f"Done: {run.checkpoint} already held all {trainer.state.global_step} steps, so none was left to "
                f"train; valid loss {metrics['eval_loss']:.3f}; model saved to {run.out / 'final'}")
    seconds = result.metrics["train_runtime"]
    rate = session_rate(taken, run.profile["batch_size"], trainer.args.world_size, seconds)
    return (f"Done in {seconds:.0f} s, {trainer.state.global_step} steps"
            + (f" ({taken} in this session)" if resumed else "") + f": train loss {result.training_loss:.3f}"
            + (" (mean of this session's steps)" if resumed else "")
            + f", valid loss {metrics['eval_loss']:.3f}, {rate:.1f} samples/s; model saved to {run.out / 'final'}")


def main(argv: list[str] | None = None) -> int:
    """The pretraining script (``python -m utils.tools.pretrain --help``); returns its exit code."""
    stage = "before training began (no checkpoint was written); run the same command again"
    try:
        with _sigterm_as_ctrl_c():
            run, resume = parse_args(argv)
            if resume and (code := resume_or_start(run)) is not None:
                return code
            trainer = build_trainer(run)
            result = train(run, trainer)  # says itself where an interrupted training can resume
            if isinstance(result, int):
                return result
            stage = (f"while saving the final model (nothing of it was kept): the last complete checkpoint is "
                     f"{last_complete_checkpoint(run.out)}; run again with --resume to save it")
            return save_final(run, trainer, result)
    except KeyboardInterrupt:
        if stage.startswith("while saving"):
            shutil.rmtree(run.out / "final.part", ignore_errors=True)
        print(f"\nInterrupted {stage}.", file=sys.stderr)
        return 130
    finally:
        _release_locks()  # a second main() in the same process (a test, a notebook) may write there again


if __name__ == "__main__":
    sys.exit(main())
