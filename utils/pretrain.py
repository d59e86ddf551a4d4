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
import math
import sys
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
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback

from utils.device import pick_device, seed_everything, trainer_kwargs
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING, choose_profile
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
                **trainer_kwargs(device))
    args.update(overrides)
    return TrainingArguments(**args)


def make_trainer(model, args: TrainingArguments, chunks: DatasetDict, tokenizer, callbacks=()) -> Trainer:
    """A Trainer for causal-LM pretraining (labels are the inputs; the model shifts them) that reports through
    ``callbacks`` rather than printing raw log dicts."""
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    trainer = Trainer(model=model, args=args, data_collator=collator, train_dataset=chunks["train"],
                      eval_dataset=chunks["valid"], processing_class=tokenizer, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)
    return trainer


def estimate_seconds(trainer: Trainer, steps: int, probe_steps: int = 3) -> float:
    """Estimated training time: a few real optimizer steps, timed, times ``steps`` (the weights are restored)."""
    model = trainer.model
    batch = next(iter(trainer.get_train_dataloader()))
    batch = {k: v.to(model.device) for k, v in batch.items()}
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)
    dtype = torch.bfloat16 if trainer.args.bf16 else torch.float16 if trainer.args.fp16 else None
    model.train()
    timings = []
    for _ in range(probe_steps + 1):
        started = time.perf_counter()
        with torch.autocast(model.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
    model.load_state_dict(state)
    per_step = sorted(timings[1:])[len(timings[1:]) // 2]  # median, skipping the warm-up step
    return per_step * steps


def total_steps(chunks: DatasetDict, profile: dict, world_size: int = 1) -> int:
    """Optimizer steps the Trainer will take for this profile."""
    per_epoch = math.ceil(len(chunks["train"]) / (profile["batch_size"] * world_size))
    return per_epoch * profile["epochs"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pretrain GPT-2 from scratch on a Wikipedia subset.")
    parser.add_argument("--profile", default=None, help=f"one of {', '.join(PRETRAINING)} (default: "
                        "$LLM_TUTORIAL_PROFILE or classroom)")
    parser.add_argument("--output-dir", default="build/pretrain", help="checkpoints, final model and tokenizer")
    parser.add_argument("--epochs", type=float, default=None, help="override the profile's epochs")
    args = parser.parse_args(argv)
    try:
        name, profile = choose_profile(PRETRAINING, args.profile)
    except ValueError as exc:
        parser.error(str(exc))
    if args.epochs is not None:
        profile["epochs"] = args.epochs
    datasets.disable_progress_bars()  # tokenizing and chunking take seconds; one line per evaluation follows
    transformers.utils.logging.disable_progress_bar()  # and so does saving the model
    seed_everything(SEED)
    device = pick_device()
    tokenizer = load_tokenizer("gpt2")
    tokenizer.pad_token = tokenizer.eos_token
    subset = load_wikipedia_subset(profile["n_train"], profile["n_valid"], seed=SEED)
    chunks = tokenize_corpus(training_text(subset, profile), tokenizer, profile)
    model = new_gpt2(gpt2_config(tokenizer, profile))
    out = Path(args.output_dir) / name
    trainer = make_trainer(model, training_arguments(profile, out, device), chunks, tokenizer, [SummaryLine()])
    steps = total_steps(chunks, profile, trainer.args.world_size)
    estimate = estimate_seconds(trainer, steps)
    print(f"Profile {name}: {model.num_parameters() / 1e6:.1f} M parameters, {len(chunks['train'])} train chunks, "
          f"{steps} steps; estimated {estimate / 60:.1f} min on {device} ({trainer.args.world_size} process(es))")
    result = trainer.train()
    evaluated = [h for h in trainer.state.log_history if "eval_loss" in h]
    if evaluated and evaluated[-1]["step"] == trainer.state.global_step:
        metrics = evaluated[-1]
    else:
        metrics = trainer.evaluate()
    trainer.save_model(out / "final")
    if trainer.is_world_process_zero():
        print(f"Done in {result.metrics['train_runtime']:.0f} s: train loss {result.training_loss:.3f}, "
              f"valid loss {metrics['eval_loss']:.3f}, {result.metrics['train_samples_per_second']:.1f} samples/s; "
              f"model saved to {out / 'final'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
