"""Pretrain GPT-2 from scratch on a Wikipedia subset: the pieces notebook 3 builds its runs from: chunks, a fresh
GPT-2, the Trainer's settings and CPU callbacks, and the time a run will take (the count baselines it is read
against are ``utils.baselines``). The script for a GPU cluster, ``python -m utils.tools.pretrain``, runs them with
``make_trainer`` (the Trainer with the chunked output-layer loss); the profiles are ``utils.profiles.PRETRAINING``."""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import math
import multiprocessing
import time
from pathlib import Path

import torch
from accelerate.state import AcceleratorState
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

from utils.chunked_loss import DEFAULT_CHUNK, causal_lm_loss
from utils.chunking import chunk_splits
from utils.device import trainer_kwargs
from utils.generation import continuation_log_probability
from utils.models import load_causal_lm
from utils.profiles import step_passes
from utils.support.allocator import keep_freed_memory, reuse_freed_memory
from utils.support.callbacks import (
    EvaluateAlsoAt,
    PlainForwardAfterTraining,
    ReuseFreedMemory,
    StopOnNonFiniteLoss,
)
from utils.support.validation import whole_number

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
    profiles (benchmarks/README.md has what the masks cost). Set ``dropout`` to 0.1 for GPT-2's configuration.
    """
    p = profile["dropout"]
    return GPT2Config(vocab_size=len(tokenizer), n_positions=profile["context_length"], n_layer=profile["n_layer"],
                      n_embd=profile["n_embd"], n_head=profile["n_head"], resid_pdrop=p, embd_pdrop=p, attn_pdrop=p,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.eos_token_id)


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


# what a notebook's run leaves to its live figure: no tracker, no progress table, a NaN loss logged as NaN (not averaged
# away); on several GPUs, no search for unused weights (GPT-2 uses every parameter in every step)
RUN_OPTIONS = dict(report_to=[], disable_tqdm=True, logging_nan_inf_filter=False, ddp_find_unused_parameters=False)


def training_arguments(profile: dict, output_dir: str | Path, device: torch.device, **overrides) -> TrainingArguments:
    """TrainingArguments for the profile: step-wise evaluation and logging, precision for this device, and no
    progress table (``utils.training_view`` shows the run instead).

    Each optimizer step sees ``batch_size`` chunks; with ``gradient_accumulation_steps`` (when it divides the batch)
    they go through the model that many at a time, and their gradients add up before the step: the same step, with a
    fraction of the memory for the logits (chunks x context x vocabulary, the largest tensor a small model makes).
    Evaluation runs as many chunks at a time as a training pass: larger evaluation batches would leave larger logits
    in the memory malloc keeps for reuse while training, and raise the run's peak. The training loss and the learning
    rate are logged every ``log_every`` steps (default ``eval_every``), and the model is evaluated before its first
    step too. Gradient clipping is the Trainer's default, ``max_grad_norm=1.0``.
    """
    accumulate, per_pass = step_passes(profile)
    args = dict(output_dir=str(output_dir), num_train_epochs=profile["epochs"],
                per_device_train_batch_size=per_pass, gradient_accumulation_steps=accumulate,
                per_device_eval_batch_size=per_pass,
                learning_rate=profile["learning_rate"], warmup_steps=profile["warmup_steps"], weight_decay=0.1,
                lr_scheduler_type="cosine", eval_strategy="steps", eval_steps=profile["eval_every"],
                logging_steps=profile.get("log_every", profile["eval_every"]), save_strategy="no", seed=SEED,
                **RUN_OPTIONS, **trainer_kwargs(device))
    args.update(overrides)  # the untrained model's loss first, where a run evaluates: every curve starts where it did
    args.setdefault("eval_on_start", args["eval_strategy"] != "no")
    return TrainingArguments(**args)


def support_callbacks(profile: dict | None = None) -> list[TrainerCallback]:
    """The callbacks every training run of notebook 3 adds to the stock Trainer: freed memory reused between steps
    (``ReuseFreedMemory``), one clear error when the loss becomes NaN (``StopOnNonFiniteLoss``), evaluations after
    the profile's ``early_evals`` steps (``EvaluateAlsoAt``), and the trained model's own forward back at the end
    (``PlainForwardAfterTraining``) (``utils.support.callbacks``)."""
    return [ReuseFreedMemory(), StopOnNonFiniteLoss(), EvaluateAlsoAt((profile or {}).get("early_evals", ())),
            PlainForwardAfterTraining()]


class ChunkedLossTrainer(Trainer):
    """A Trainer whose GPT-2 loss never holds the whole batch's logits, in training and in evaluation.

    The model runs with its output layer on no position at all (``logits_to_keep``: an empty list), a hook keeps
    what the output layer would have read (the final LayerNorm's output), and ``utils.chunked_loss`` projects it
    onto the vocabulary ``loss_chunk`` positions at a time. Same loss and gradients as the model's own loss; the
    Trainer's own bookkeeping (gradient accumulation, averaging across GPUs) is unchanged, since the loss comes
    in through its ``compute_loss_func``. Before and after training, freed memory goes back to the OS
    (``utils.support.allocator``), so a kernel left open holds the model, not the training's peak.
    """

    def __init__(self, *args, loss_chunk: int = DEFAULT_CHUNK, **kwargs):
        super().__init__(*args, compute_loss_func=self._loss_from_hidden, **kwargs)
        self.add_callback(StopOnNonFiniteLoss())
        self.loss_chunk = loss_chunk
        self._hidden: list[torch.Tensor] = []

    def train(self, *args, **kwargs):
        keep_freed_memory()  # glibc's malloc: no mmap per tensor, so each step reuses the last one's pages
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
    gradients) over the same batches must give the same losses and the same weights. ``trainer_log`` adds the
    schedule, clipping and evaluation.
    """
    return trainer_log(model, examples, data_collator, batch_size, torch.optim.AdamW(
        model.parameters(), lr=learning_rate, weight_decay=0.0))[0]


def trainer_log(model, examples: list[dict], data_collator, batch_size: int, optimizer: torch.optim.Optimizer,
                warmup_steps: int = 0, lr_scheduler_type: str = "constant", max_grad_norm: float = 0.0,
                eval_examples: list[dict] = (), eval_every: int = 0) -> tuple[list[float], list[tuple[int, float]]]:
    """(the Trainer's training loss at each step, [(step, its evaluation loss), ...]) on ``examples`` taken in
    order, ``batch_size`` at a time, one optimizer step per batch, fp32 on the CPU, nothing saved.

    The Trainer steps ``optimizer`` (its learning rate is the peak), with ``lr_scheduler_type`` over the run after
    ``warmup_steps`` of linear warm-up, clips the gradient's norm to ``max_grad_norm`` (0: no clipping), and every
    ``eval_every`` steps evaluates on ``eval_examples``, ``batch_size`` at a time (the mean of the batches' losses).
    A loop written out as in the Hugging Face course (chapter 7.6) over the same batches must give the same losses,
    evaluations and weights: notebook 3's exercise 2b checks a student's loop against this.
    """
    import tempfile

    batch_size = whole_number(batch_size, "batch_size")
    if not examples or len(examples) % batch_size or len(eval_examples) % batch_size:
        raise ValueError(f"Give a whole number of batches: {len(examples)} examples, {len(eval_examples)} to "
                         f"evaluate, batch size {batch_size}.")
    losses: list[float] = []
    evaluations: list[tuple[int, float]] = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(logs["loss"])
            if logs and "eval_loss" in logs:
                evaluations.append((state.global_step, logs["eval_loss"]))

    evaluate = bool(eval_every and eval_examples)
    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(output_dir=folder, max_steps=len(examples) // batch_size,
                                 per_device_train_batch_size=batch_size, per_device_eval_batch_size=batch_size,
                                 learning_rate=optimizer.defaults["lr"], lr_scheduler_type=lr_scheduler_type,
                                 warmup_steps=warmup_steps, max_grad_norm=max_grad_norm,
                                 eval_strategy="steps" if evaluate else "no", eval_steps=eval_every or None,
                                 train_sampling_strategy="sequential", logging_steps=1, report_to=[],
                                 save_strategy="no", use_cpu=True, disable_tqdm=True, logging_nan_inf_filter=False)
        trainer = Trainer(model=model, args=args, train_dataset=list(examples), data_collator=data_collator,
                          eval_dataset=list(eval_examples) if evaluate else None, callbacks=[Record()],
                          optimizers=(optimizer, None))
        trainer.remove_callback(PrinterCallback)
        try:
            trainer.train()
        finally:  # accelerate keeps one state per process: let the next Trainer set up its own precision (bf16)
            AcceleratorState._reset_state(reset_partial_state=True)
    return losses, evaluations


def estimate_seconds(trainer: Trainer, steps: int, probe_steps: int = 3) -> float:
    """Estimated training time: a few real optimizer steps with the trainer's own loss (on one batch of
    ``per_device_train_batch_size``, as many times as a step accumulates), timed, times ``steps``.

    The probe's AdamW has a learning rate of 0, so the weights do not move; its state and the gradients are
    dropped afterwards. Freed memory goes back to the OS before and after, so the probe adds no peak of its own.
    """
    keep_freed_memory()  # as training runs (ReuseFreedMemory, ChunkedLossTrainer)
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
    per_pass = sorted(timings[1:])[len(timings[1:]) // 2]  # median, skipping the warm-up step
    return per_pass * passes_per_step(trainer) * steps


def evaluation_steps(profile: dict, steps: int) -> list[int]:
    """The steps after which a run of ``steps`` optimizer steps is evaluated (0: before its first): every
    ``eval_every``, the profile's ``early_evals``, and the last step, where the Trainer evaluates too."""
    every, early = profile["eval_every"], profile.get("early_evals", ())
    return sorted({0, *range(every, steps + 1, every), *(s for s in early if s <= steps), steps})


def evaluation_seconds(trainer: Trainer) -> float:
    """One evaluation of the trainer's ``eval_dataset``, timed: what each point of a validation curve costs. The
    metrics are not printed (the Trainer's ``PrinterCallback`` sits out)."""
    printer = trainer.pop_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.evaluate()
    seconds = time.perf_counter() - started
    if printer is not None:
        trainer.add_callback(printer)
    return seconds


def passes_per_step(trainer: Trainer) -> float:
    """Forward and backward passes an optimizer step makes, on average over an epoch: fewer than
    ``gradient_accumulation_steps`` where an epoch's last step has fewer batches left (19 chunks, 2 a pass: 4+4+2)."""
    accumulation, batches = trainer.args.gradient_accumulation_steps, len(trainer.get_train_dataloader())
    return batches / math.ceil(batches / accumulation)


def total_steps(chunks: DatasetDict, profile: dict, world_size: int = 1) -> int:
    """Optimizer steps the Trainer will take for this profile."""
    per_epoch = math.ceil(len(chunks["train"]) / (profile["batch_size"] * world_size))
    return max(1, math.ceil(per_epoch * profile["epochs"]))  # as the Trainer counts a fractional number of epochs


def steps_that_fit(seconds_per_step: float, profile: dict, planned: int) -> int:
    """``planned`` steps, or fewer where they would take more than the profile's ``budget_s`` seconds (None: no
    budget) at ``seconds_per_step``: a whole number of ``eval_every`` intervals, at least two (a curve)."""
    budget, every = profile.get("budget_s"), profile["eval_every"]
    if budget is None or seconds_per_step * planned <= budget:
        return planned
    return min(planned, max(2 * every, int(budget / seconds_per_step) // every * every))


@torch.no_grad()
def pretrained_per_byte(model, tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> dict:
    """A pretrained causal LM on ``texts`` in nats per byte: each text in the model's own tokens (``tokenizer``), every
    token but the first scored (``continuation_log_probability`` after a one-token prompt, as the token models' losses
    leave out each chunk's first), over the UTF-8 bytes those tokens hold. Returns {"bytes", "tokens", "nats per
    byte"}."""
    model.eval()
    nats, scored_bytes, tokens = 0.0, 0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        nats -= continuation_log_probability(model, ids, 1)
        scored_bytes += len(text.encode()) - len(tokenizer.decode(ids[:1]).encode())
        tokens += len(ids) - 1
    return {"bytes": scored_bytes, "tokens": tokens, "nats per byte": nats / scored_bytes}


def _pretrained_per_byte(name: str, texts: list[str]) -> dict:
    """``pretrained_apart``'s other process: load ``name`` (saying which model ran) and score ``texts``."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        loaded = load_causal_lm(name)
    return pretrained_per_byte(loaded.model, loaded.tokenizer, texts) | {"model": said.getvalue().strip()}


def pretrained_apart(name: str, tokenizer: PreTrainedTokenizerBase, token_chunks) -> dict:
    """A pretrained causal LM, ``load_causal_lm(name)`` (the Hub's, or its stand-in), on the text of ``token_chunks``
    (``tokenizer``'s ids) in nats per byte (``pretrained_per_byte``). It loads and scores in a process of its own, so
    the kernel never holds its weights (about 0.5 GB for gpt2 or the SmolLM2 stand-in). Returns that dict and
    "model": the line that says which model ran."""
    texts = [tokenizer.decode(ids) for ids in token_chunks["input_ids"]]
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_pretrained_per_byte, name, texts).result()
