"""Pretrain GPT-2 from scratch on a Wikipedia subset: the pieces notebook 3 uses, and a script for scale.

The notebook builds its run from these functions, so a GPU cluster runs the same code::

    python -m utils.pretrain --profile full                       # one GPU (or CPU)
    accelerate launch -m utils.pretrain --profile full            # every GPU of the machine (DDP)
    torchrun --nproc_per_node 8 -m utils.pretrain --profile full  # the same with torchrun

The profiles (``smoke``, ``classroom``, ``full``) are ``utils.profiles.PRETRAINING``; what each costs and
what it shows is measured in README *Profiles* and *Performance*.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import datasets
import torch
import transformers
from datasets import DatasetDict
from transformers import (
    DataCollatorForLanguageModeling,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback

from utils.cache import sha256_of
from utils.checks import whole_number
from utils.chunked_loss import DEFAULT_CHUNK, causal_lm_loss
from utils.device import pick_device, reuse_freed_memory, seed_everything, trainer_kwargs
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING, choose_profile
from utils.settings import write_problem
from utils.tokenization import chunk_splits
from utils.training_view import SummaryLine
from utils.wikipedia import load_wikipedia_subset

SEED = 42


def training_text(subset: DatasetDict, profile: dict) -> DatasetDict:
    """The profile's share of the articles: the first ``train_docs`` training articles, each cut to
    ``max_train_chars`` characters (None: whole articles), and every validation article."""
    train = subset["train"].select(range(min(profile["train_docs"], len(subset["train"]))))
    limit = profile["max_train_chars"]
    if limit:
        train = train.map(lambda a: {"text": a["text"][:limit]})
    return DatasetDict(train=train, valid=subset["valid"])


def tokenize_corpus(text: DatasetDict, tokenizer: PreTrainedTokenizerBase, profile: dict) -> DatasetDict:
    """Full ``context_length`` chunks of every split (the original tutorial's overflow chunking), with a bounded
    validation set (``eval_chunks`` chunks) so evaluation stays cheap."""
    chunks, reports = chunk_splits(text, tokenizer, profile["context_length"], strategy="overflow")
    for split, report in reports.items():
        print(f"{split:<5} {report}")
    return evaluation_subset(chunks, profile)


def evaluation_subset(chunks: DatasetDict, profile: dict) -> DatasetDict:
    """A new DatasetDict: every training chunk, and ``eval_chunks`` validation chunks drawn with the seed."""
    valid = chunks["valid"].shuffle(seed=SEED)
    return DatasetDict(train=chunks["train"], valid=valid.select(range(min(profile["eval_chunks"], len(valid)))))


def gpt2_config(tokenizer: PreTrainedTokenizerBase, profile: dict) -> GPT2Config:
    """GPT-2's configuration (GPT2Config's defaults are gpt2's), resized to the profile, with this tokenizer's
    vocabulary and special tokens, and the profile's ``dropout`` on embeddings, attention and residuals.

    GPT-2 used dropout 0.1; today's pretraining recipes use none (each token is seen about once), and so do our
    profiles (README *Performance* has what the masks cost). Set ``dropout`` to 0.1 for GPT-2's configuration.
    """
    p = profile["dropout"]
    return GPT2Config(vocab_size=len(tokenizer), n_ctx=profile["context_length"],
                      n_positions=profile["context_length"], n_layer=profile["n_layer"], n_embd=profile["n_embd"],
                      n_head=profile["n_head"], resid_pdrop=p, embd_pdrop=p, attn_pdrop=p,
                      bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)


def new_gpt2(config: GPT2Config) -> GPT2LMHeadModel:
    """A randomly initialised GPT2LMHeadModel for ``config``, told to use the causal-LM loss.

    (transformers picks the loss from the class name, and "GPT2LMHeadModel" predates the
    "...ForCausalLM" naming, so without this it warns on the first training step.)

    The output layer ``lm_head`` shares its weight with the token embedding ``wte``, so checkpoints store it
    once and it comes back "missing" when a Trainer resumes. Naming it as a key left out on save tells the
    Trainer to re-tie it instead of warning.
    """
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"
    if config.tie_word_embeddings:
        model._keys_to_ignore_on_save = {"lm_head.weight"}
    return model


def training_arguments(profile: dict, output_dir: str | Path, device: torch.device, **overrides) -> TrainingArguments:
    """TrainingArguments for the profile: step-wise evaluation and logging, precision for this device, and no
    progress table (``utils.training_view`` shows the run instead)."""
    args = dict(output_dir=str(output_dir), num_train_epochs=profile["epochs"],
                per_device_train_batch_size=profile["batch_size"], per_device_eval_batch_size=32,
                learning_rate=profile["learning_rate"], warmup_steps=profile["warmup_steps"], weight_decay=0.1,
                lr_scheduler_type="cosine", eval_strategy="steps", eval_steps=profile["eval_every"],
                logging_steps=profile["eval_every"], save_strategy="no", report_to=[], seed=SEED, disable_tqdm=True,
                logging_nan_inf_filter=False,  # a NaN loss is logged as NaN (and stops the run), not averaged away
                ddp_find_unused_parameters=False,  # GPT-2 uses every parameter in every step
                **trainer_kwargs(device))
    args.update(overrides)
    return TrainingArguments(**args)


class StopOnNonFiniteLoss(TrainerCallback):
    """Stops training with one clear error when the logged training loss is NaN or infinite: from there on the
    weights are garbage, and a figure would show nothing, or an average that hides it."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise FloatingPointError(f"The training loss became {loss} by step {state.global_step}: training stopped, "
                                     "the weights are no longer usable. Lower the learning rate (or turn bf16 off) "
                                     "and train again from the start or from an earlier checkpoint.")


class ChunkedLossTrainer(Trainer):
    """A Trainer whose GPT-2 loss never holds the whole batch's logits, in training and in evaluation.

    The model runs with its output layer on no position at all (``logits_to_keep``: an empty list), a hook keeps
    what the output layer would have read (the final LayerNorm's output), and ``utils.chunked_loss`` projects it
    onto the vocabulary ``loss_chunk`` positions at a time. Same loss and gradients as the model's own loss; the
    Trainer's own bookkeeping (gradient accumulation, averaging across GPUs) is unchanged, since the loss comes
    in through its ``compute_loss_func``. Before and after training, freed memory goes back to the OS
    (``utils.device.reuse_freed_memory``), so a kernel left open holds the model, not the training's peak.
    """

    def __init__(self, *args, loss_chunk: int = DEFAULT_CHUNK, **kwargs):
        super().__init__(*args, compute_loss_func=self._loss_from_hidden, **kwargs)
        self.add_callback(StopOnNonFiniteLoss())
        self.loss_chunk = loss_chunk
        self._hidden: list[torch.Tensor] = []

    def train(self, *args, **kwargs):
        with reuse_freed_memory():  # every step reuses the last one's memory; all of it goes back at the end
            return super().train(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        unwrapped = self.accelerator.unwrap_model(model)
        final_norm = unwrapped.transformer.ln_f  # its output is what the output layer reads
        keep = final_norm.register_forward_hook(lambda module, args, output: self._hidden.append(output))
        no_position = torch.zeros(0, dtype=torch.long, device=unwrapped.device)
        try:
            return super().compute_loss(model, {**inputs, "logits_to_keep": no_position}, return_outputs,
                                        num_items_in_batch)
        finally:
            keep.remove()
            self._hidden.clear()

    def _loss_from_hidden(self, outputs, labels, num_items_in_batch=None):
        weight = self.accelerator.unwrap_model(self.model).lm_head.weight
        # the Trainer runs only the model's forward under mixed precision (accelerate wraps it); the output layer
        # is now here, so it gets the same autocast (bf16 projection, fp32 softmax), as the model's own loss would
        with self.accelerator.autocast():
            return causal_lm_loss(self._hidden[-1], weight, labels, num_items_in_batch, chunk=self.loss_chunk)


def make_trainer(model, args: TrainingArguments, chunks: DatasetDict, tokenizer, callbacks=()) -> Trainer:
    """A Trainer for causal-LM pretraining (labels are the inputs, shifted in the loss) with the chunked loss,
    that reports through ``callbacks`` rather than printing raw log dicts."""
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    trainer = ChunkedLossTrainer(model=model, args=args, data_collator=collator, train_dataset=chunks["train"],
                                 eval_dataset=chunks["valid"], processing_class=tokenizer, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)
    return trainer


def trainer_steps(model, examples: list[dict], data_collator, batch_size: int, learning_rate: float) -> list[float]:
    """The Trainer's own training loss at each step, on ``examples`` taken in order, ``batch_size`` at a time.

    The plainest Trainer run: AdamW at a constant ``learning_rate``, no weight decay, no gradient clipping, no
    warm-up, fp32 on the CPU, nothing saved. A hand-written loop (forward, loss, backward, step, zero the
    gradients) over the same batches must give the same losses and the same weights: notebook 3's exercise checks
    a student's loop against this.
    """
    import tempfile

    batch_size = whole_number(batch_size, "batch_size")
    if not examples or len(examples) % batch_size:
        raise ValueError(f"Give a whole number of batches: {len(examples)} examples, batch size {batch_size}.")
    losses: list[float] = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(logs["loss"])

    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(output_dir=folder, max_steps=len(examples) // batch_size,
                                 per_device_train_batch_size=batch_size, learning_rate=learning_rate,
                                 lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=0.0,
                                 train_sampling_strategy="sequential", logging_steps=1, report_to=[],
                                 save_strategy="no", use_cpu=True, disable_tqdm=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
        trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=data_collator,
                          callbacks=[Record()], optimizers=(optimizer, None))
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return losses


def estimate_seconds(trainer: Trainer, steps: int, probe_steps: int = 3) -> float:
    """Estimated training time: a few real optimizer steps with the trainer's own loss, timed, times ``steps``.

    The probe's AdamW has a learning rate of 0, so the weights do not move; its state and the gradients are
    dropped afterwards. Freed memory goes back to the OS before and after, so the probe adds no peak of its own.
    """
    model = trainer.model
    batch = next(iter(trainer.get_train_dataloader()))
    batch = {k: v.to(model.device) for k, v in batch.items()}
    dtype = torch.bfloat16 if trainer.args.bf16 else torch.float16 if trainer.args.fp16 else None
    model.train()
    timings = []
    with reuse_freed_memory():  # as in training; the probe's memory goes back afterwards
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.0, weight_decay=0.0)
        for _ in range(probe_steps + 1):
            started = time.perf_counter()
            with torch.autocast(model.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = trainer.compute_loss(model, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - started)
        del optimizer, loss
    per_step = sorted(timings[1:])[len(timings[1:]) // 2]  # median, skipping the warm-up step
    return per_step * steps


def total_steps(chunks: DatasetDict, profile: dict, world_size: int = 1) -> int:
    """Optimizer steps the Trainer will take for this profile."""
    per_epoch = math.ceil(len(chunks["train"]) / (profile["batch_size"] * world_size))
    return max(1, math.ceil(per_epoch * profile["epochs"]))  # as the Trainer counts a fractional number of epochs


# under torchrun, a process that hears nothing from another for this long stops (a dead process is noticed at once,
# its connection closes); long enough for the main process to write a full-size checkpoint to a slow disk
PEER_TIMEOUT_SECONDS = 600
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
        complete = sorted(_checkpoints(args.output_dir, complete=True), key=_step)
        oldest_kept = _step(complete[-self.keep]) if len(complete) >= self.keep else 0
        for old in _checkpoints(args.output_dir):
            if _step(old) < oldest_kept:
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


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-", 1)[1])


def _checkpoints(folder: str | Path, complete: bool = False) -> list[Path]:
    return [p for p in Path(folder).glob("checkpoint-*") if p.name.split("-", 1)[1].isdigit()
            and (not complete or (p / COMPLETE).is_file())]


def last_complete_checkpoint(folder: str | Path) -> Path | None:
    """The newest checkpoint-N under ``folder`` that was completely written, or None."""
    return max(_checkpoints(folder, complete=True), key=_step, default=None)


def checkpoint_to_resume(folder: Path, settings: dict) -> Path:
    """The newest complete checkpoint whose files are intact, saying in one line for each damaged one that it is
    skipped; SystemExit with one line when none is left, or when the run's settings differ from the saved ones."""
    for checkpoint in sorted(_checkpoints(folder, complete=True), key=_step, reverse=True):
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


def _finished(checkpoint: Path) -> int | None:
    """The step count when ``checkpoint`` is the last step of its run, else None."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        return state["global_step"] if state["global_step"] >= state["max_steps"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_failure(out: Path, step: int, exc: BaseException) -> str | None:
    """One line when ``exc`` broke the writing of checkpoint-``step`` (it is there without its marker; it is
    removed), else None."""
    unmarked = [c for c in _checkpoints(out) if _step(c) == step and not (c / COMPLETE).is_file()]
    if not unmarked and not isinstance(exc, OSError):
        return None
    for folder in unmarked:
        shutil.rmtree(folder, ignore_errors=True)
    where = f"{unmarked[0].name} in {out}" if unmarked else str(out)
    return (f"could not write {where} ({_write_failure(out, exc)}). The unfinished checkpoint was removed; "
            "free some space (or choose another --output-dir), then run again with --resume.")


def _write_failure(out: Path, exc: BaseException) -> str:
    """Why a write under ``out`` failed, and the space left there, for a one-line error."""
    cause = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0][:120]
    return f"{cause}; {shutil.disk_usage(out).free / 1e6:,.0f} MB free there"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a scheduler's preemption) ends the run like Ctrl-C, with the same hint


def _lost_peer(exc: BaseException) -> str | None:
    """The gist of ``exc`` if it says another process of a distributed run went away or stopped answering."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    lost = isinstance(exc, torch.distributed.DistError) or any(
        sign in text.lower() for sign in ("closed by peer", "connection reset", "broken pipe", "timed out"))
    return (text.split(". ")[0].rstrip(".") or type(exc).__name__)[:100] if lost else None


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(
                f"must be a number above 0 (e.g. 2 or 0.5), got {text!r}" if kind is float else
                f"must be a whole number above 0 (e.g. 50), got {text!r}")
        return value
    return parse


_LOCKS: list = []  # open lock files: held until main() returns (or the process ends)


def _lock(folder: Path) -> None:
    """SystemExit with one line if another run is writing into ``folder``; else hold its lock until exit."""
    handle = open(folder / ".lock", "a+")  # noqa: SIM115 (held open on purpose)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        other = handle.read().strip() or "another process"
        handle.close()
        print(f"error: another run ({other}) is writing into {folder}; wait for it to end or choose another "
              "--output-dir.", file=sys.stderr)
        raise SystemExit(2) from None
    handle.seek(0), handle.truncate(), handle.write(f"pid {os.getpid()}"), handle.flush()
    _LOCKS.append(handle)


def _release_locks() -> None:
    while _LOCKS:
        _LOCKS.pop().close()  # closing the file releases its flock


def _writable(folder: Path) -> None:
    """SystemExit with one line if ``folder`` cannot be created or written."""
    problem = write_problem(folder)
    if problem:
        print(f"error: cannot write to {folder} ({problem}); choose another --output-dir.", file=sys.stderr)
        raise SystemExit(2)


def session_rate(steps_taken: int, batch_size: int, world_size: int, seconds: float) -> float:
    """Samples a second over the steps this session took (the Trainer's own figure also counts, after a resume,
    the steps the checkpoint had already taken)."""
    return steps_taken * batch_size * world_size / max(seconds, 1e-9)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pretrain GPT-2 from scratch on a Wikipedia subset.")
    parser.add_argument("--profile", default=None, help=f"one of {', '.join(PRETRAINING)} (default: "
                        "$LLM_TUTORIAL_PROFILE or classroom)")
    parser.add_argument("--output-dir", default="build/pretrain", help="checkpoints, final model and tokenizer")
    parser.add_argument("--epochs", type=_positive(float), default=None, help="override the profile's epochs")
    parser.add_argument("--batch-size", type=_positive(int), default=None,
                        help="chunks per optimizer step on each process (default: the profile's batch_size)")
    parser.add_argument("--save-every", type=_positive(int), default=None,
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
    if args.epochs is not None:
        profile["epochs"] = args.epochs
    if args.batch_size is not None:
        profile["batch_size"] = args.batch_size
    out = Path(args.output_dir) / name
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    settings = {"profile": name, **profile, "world_size": world_size}
    checkpoint = None
    if args.resume:
        if last_complete_checkpoint(out) is None:
            parser.error(f"--resume: {out} holds no complete checkpoint; run without --resume to start afresh.")
        checkpoint = checkpoint_to_resume(out, settings)
        done = _finished(checkpoint)
        if done and (out / "final").is_dir():
            print(f"This run is already finished: {done} steps, the model is in {out / 'final'}. Nothing to resume; "
                  "run without --resume (or with more --epochs in another --output-dir) to train again.")
            return 0
    main_process = int(os.environ.get("RANK", "0")) == 0
    try:
        with contextlib.redirect_stdout(sys.stdout if main_process else io.StringIO()):  # said once, by the first
            device = pick_device()
    except ValueError as exc:  # e.g. $LLM_TUTORIAL_DEVICE=cuda on a machine without a GPU; nothing written yet
        parser.error(str(exc))
    _writable(out)
    if main_process:
        _lock(out)
    datasets.disable_progress_bars()  # tokenizing and chunking take seconds; one line per evaluation follows
    transformers.utils.logging.disable_progress_bar()  # and so does saving the model
    seed_everything(SEED)
    # under torchrun or accelerate every process prepares the same data; only the first one says so
    with contextlib.redirect_stdout(sys.stdout if main_process else io.StringIO()):
        tokenizer = load_tokenizer("gpt2")
        tokenizer.pad_token = tokenizer.eos_token
        subset = load_wikipedia_subset(profile["n_train"], profile["n_valid"], seed=SEED)
        chunks = tokenize_corpus(training_text(subset, profile), tokenizer, profile)
    model = new_gpt2(gpt2_config(tokenizer, profile))
    save_every = args.save_every or profile["save_every"]
    training = training_arguments(profile, out, device, save_strategy="steps", save_steps=save_every,
                                  ddp_timeout=PEER_TIMEOUT_SECONDS)
    trainer = make_trainer(model, training, chunks, tokenizer, [SummaryLine(), MarkComplete(settings=settings)])
    steps = total_steps(chunks, profile, trainer.args.world_size)
    estimate = estimate_seconds(trainer, steps)
    if trainer.is_world_process_zero():
        print(f"Profile {name}: {model.num_parameters() / 1e6:.1f} M parameters, {len(chunks['train'])} train "
              f"chunks, {steps} steps; estimated {estimate / 60:.1f} min on {device}; world size "
              f"{trainer.args.world_size}; a checkpoint every {save_every} steps"
              + (f"; resuming from {checkpoint}" if checkpoint else ""))
    # on resuming, transformers warns that --save-every differs from the checkpoint's; MarkComplete applies ours
    quiet = logging.getLogger("transformers.trainer_utils")
    quiet_level = quiet.level
    if checkpoint:
        quiet.setLevel(logging.ERROR)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt) if in_main_thread else None
    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except FloatingPointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        last = last_complete_checkpoint(out)
        where = (f"the last complete checkpoint is {last}; add --resume to continue from it" if last else
                 "no checkpoint was completed yet")
        print(f"\nInterrupted at step {trainer.state.global_step}: {where}.", file=sys.stderr)
        return 130
    except (OSError, RuntimeError) as exc:  # torch.distributed.DistError is a RuntimeError
        if trainer.args.world_size > 1 and _lost_peer(exc):
            last = last_complete_checkpoint(out)
            where = (f"the last complete checkpoint is {last}; start every node again with --resume" if last else
                     "no checkpoint was completed yet; start every node again")
            print(f"Lost another process of this run at step {trainer.state.global_step} ({_lost_peer(exc)}): "
                  f"{where}.", file=sys.stderr, flush=True)
            os._exit(3)  # at once: the process group cannot shut down cleanly without the lost process
        failure = _save_failure(out, trainer.state.global_step, exc) if trainer.is_world_process_zero() else None
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr, flush=True)
        return 1
    finally:
        quiet.setLevel(quiet_level)  # main() may run again in this process (a test, a notebook)
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    evaluated = [h for h in trainer.state.log_history if "eval_loss" in h]
    if evaluated and evaluated[-1]["step"] == trainer.state.global_step:
        metrics = evaluated[-1]
    else:
        metrics = trainer.evaluate()
    final = out / "final"
    if trainer.is_world_process_zero():
        shutil.rmtree(out / "final.part", ignore_errors=True)
    try:
        trainer.save_model(str(out / "final.part"))  # every process takes part; the main one writes
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(out / "final.part", ignore_errors=True)
        print(f"error: could not write the final model to {final} ({_write_failure(out, exc)}). The last checkpoint "
              f"is {last_complete_checkpoint(out)}; free some space, then run again with --resume.", file=sys.stderr,
              flush=True)
        return 1
    if trainer.is_world_process_zero():
        shutil.rmtree(final, ignore_errors=True)
        os.replace(out / "final.part", final)
        # the Trainer's own samples/s counts the steps a resumed run skipped; count the ones this run took
        taken = trainer.state.global_step - (_step(checkpoint) if checkpoint else 0)
        rate = session_rate(taken, profile["batch_size"], trainer.args.world_size, result.metrics["train_runtime"])
        print(f"Done in {result.metrics['train_runtime']:.0f} s, {trainer.state.global_step} steps"
              + (f" ({taken} in this session)" if checkpoint else "") + ": train loss "
              f"{result.training_loss:.3f}" + (" (mean of this session's steps)" if checkpoint else "")
              + f", valid loss {metrics['eval_loss']:.3f}, "
              f"{rate:.1f} samples/s; model saved to {final}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The pretraining script (``python -m utils.pretrain --help``); returns its exit code."""
    try:
        return _main(argv)
    finally:
        _release_locks()  # a second main() in the same process (a test, a notebook) may write there again


if __name__ == "__main__":
    sys.exit(main())
