"""Build the offline masked-LM stand-in for bert-base-uncased (an asset, see utils.offline.assets).

No package here ships a pretrained MLM head, so we make one honestly: the all-MiniLM-L6-v2
encoder (a real pretrained 6-layer BERT-family encoder with bert-base-uncased's vocabulary) is
loaded into ``BertForMaskedLM``, whose prediction head starts random (its decoder stays tied to the
word embeddings). The whole model is then trained with the standard MLM objective (15 % of tokens,
80/10/10) on the Wikipedia sample's training articles for a fixed number of steps, and scored on
masked tokens of held-out articles. The score goes into the asset's manifest so notebook 1 can
print it next to bert-base-uncased's.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers import (
    AutoTokenizer,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
    get_linear_schedule_with_warmup,
)
from transformers.trainer_callback import PrinterCallback, TrainerCallback
from transformers.utils import logging as hf_logging

from utils.chunking import chunk_dataset
from utils.data.mediawiki import parsed_articles
from utils.device import pick_device, seed_everything, trainer_kwargs
from utils.fill_mask import fill_mask

# The recipe (fixed steps, not a time budget, so the result is reproducible).
STEPS = 300
BATCH_SIZE = 32
CONTEXT = 128  # [CLS] + 126 WordPieces + [SEP]
ENCODER_LR, HEAD_LR = 3e-4, 3e-3
WARMUP = 0.06
# BERT's masking: 15% of the tokens are picked; of those 80% become [MASK], 10% a random token, 10% stay
MASK_PROBABILITY, MASK_REPLACE, RANDOM_REPLACE, WHOLE_WORD = 0.15, 0.8, 0.1, False
HELD_OUT_ARTICLES = 11
EVAL_CHUNKS = 400
SEED = 0
PROBES = ["She poured a cup of [MASK].", "Abraham Lincoln was the sixteenth [MASK] of the United States."]


def masked_only_loss(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MLM loss with the 30,522-way projection computed only where tokens are masked (~2x faster)."""
    labels = batch["labels"]
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).last_hidden_state
    where = labels != -100
    logits = model.cls(hidden[where])
    return F.cross_entropy(logits.float(), labels[where]), logits, labels[where]


@contextlib.contextmanager
def _quiet_transformers():
    """No load report and no per-file bars from transformers: the MLM head is new (the encoder has none), so the
    report calls its weights MISSING, which is the point here. The build prints its own lines and one bar."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _chunks(tokenizer, dump: Path):
    """(the training articles, their chunks, the held-out chunks): the sample's articles shuffled with the seed,
    the first ``HELD_OUT_ARTICLES`` held out."""
    articles = parsed_articles(dump).shuffle(seed=SEED)
    held_out = articles.select(range(HELD_OUT_ARTICLES))
    train_articles = articles.select(range(HELD_OUT_ARTICLES, len(articles)))
    train, _ = chunk_dataset(train_articles, tokenizer, CONTEXT)  # [CLS] + 126 WordPieces + [SEP] windows
    valid, _ = chunk_dataset(held_out, tokenizer, CONTEXT)
    valid = valid.select(range(min(EVAL_CHUNKS, len(valid))))
    return train_articles, train, valid


def _trainer(model, tokenizer, train, out: Path) -> Trainer:
    """A Trainer whose loss is the masked positions' only, with the stand-in's optimizer, schedule and masking."""
    head = [p for n, p in model.named_parameters() if n.startswith("cls.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("cls.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": ENCODER_LR}, {"params": head, "lr": HEAD_LR}],
                                  weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP * STEPS), STEPS)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MASK_PROBABILITY, seed=SEED,
                                               mask_replace_prob=MASK_REPLACE, random_replace_prob=RANDOM_REPLACE,
                                               whole_word_mask=WHOLE_WORD)

    class MaskedOnlyTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # We bypass model.forward (which Accelerate wraps in autocast), so enter autocast here.
            with self.accelerator.autocast():
                return masked_only_loss(self.accelerator.unwrap_model(model), inputs)[0]

    device = pick_device(verbose=False)
    args = TrainingArguments(output_dir=str(out / ".trainer"), max_steps=STEPS, per_device_train_batch_size=BATCH_SIZE,
                             max_grad_norm=1.0, logging_steps=20, save_strategy="no", report_to=[], seed=SEED,
                             dataloader_drop_last=True, disable_tqdm=True, **trainer_kwargs(device))
    trainer = MaskedOnlyTrainer(model=model, args=args, train_dataset=train, data_collator=collator,
                                optimizers=(optimizer, scheduler), callbacks=[_Progress()])
    trainer.remove_callback(PrinterCallback)  # raw log dicts; _Progress shows the loss on its bar instead
    return trainer


def build(out: Path, encoder_dir: Path, tokenizer_dir: Path, dump: Path) -> dict:
    """Train the stand-in and save it (safetensors + tokenizer) into ``out``; returns its metadata."""
    started = time.perf_counter()
    seed_everything(SEED)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=False)
    train_articles, train, valid = _chunks(tokenizer, dump)

    # No dropout: on this CPU it costs ~40% of a step, and 300 steps (~2.3 epochs) barely overfit. Eager attention:
    # for 128 positions and 32-wide heads, torch's CPU flash-attention kernel (the default, SDPA) took a third of
    # the step in bf16, mostly its backward; plain matmuls and a softmax are ~25% faster per step.
    with _quiet_transformers():
        model = BertForMaskedLM.from_pretrained(encoder_dir, use_safetensors=True, trust_remote_code=False,
                                                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                                attn_implementation="eager")
    trainer = _trainer(model, tokenizer, train, out)
    trainer.train()
    train_seconds = time.perf_counter() - started

    top1, top5 = held_out_accuracy(model, tokenizer, valid)
    masked1, masked5 = held_out_accuracy(model, tokenizer, valid, all_masked=True)
    probes = {text: [w for w, _ in fill_mask(model, tokenizer, text)[0]] for text in PROBES}
    with _quiet_transformers():
        model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return {
        "stands_in_for": "bert-base-uncased (masked LM)",
        "recipe": f"all-MiniLM-L6-v2 encoder + MLM head, whole model trained {STEPS} steps x {BATCH_SIZE} chunks "
                  f"of {CONTEXT} on {len(train_articles)} Wikipedia-sample articles "
                  f"(lr {ENCODER_LR:g} encoder / {HEAD_LR:g} head, bf16 where supported)",
        "train_chunks": len(train), "held_out_articles": HELD_OUT_ARTICLES, "held_out_chunks": len(valid),
        "held_out_top1": round(top1, 4), "held_out_top5": round(top5, 4),
        "masked_top1": round(masked1, 4), "masked_top5": round(masked5, 4),  # every picked token shown as [MASK]
        "final_train_loss": round(trainer.state.log_history[-2].get("loss", math.nan), 3)
        if len(trainer.state.log_history) > 1 else None,
        "train_seconds": round(train_seconds, 1), "probes": probes,
    }


TIMED_STEPS = 5  # steps timed (after the first, which warms up) before the build says how long it will take here


def time_left(seconds_per_step: float, steps_left: int) -> float:
    """Seconds the rest of the build takes at ``seconds_per_step``: the steps left, then scoring the held-out chunks
    twice (forward passes only, about a third of a training step per batch of BATCH_SIZE chunks)."""
    return seconds_per_step * (steps_left + 2 * math.ceil(EVAL_CHUNKS / BATCH_SIZE) / 3)


def about(seconds: float) -> str:
    """``seconds`` in words for a person waiting: "about 7 minutes", "under a minute"."""
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} minute{'s' * (seconds >= 90)}"


class _Progress(TrainerCallback):
    """One progress bar for the stand-in's training, with the latest logged loss on it, and after its first steps
    one line saying how long the build will take on this machine (the bar's own estimate follows it from there)."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = tqdm(total=state.max_steps, desc="training the masked-LM stand-in", unit="step")
        self.started = None

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)
        if state.global_step == 1:
            self.started = time.perf_counter()
        elif self.started is not None and state.global_step == 1 + TIMED_STEPS:
            per_step = (time.perf_counter() - self.started) / TIMED_STEPS
            left = time_left(per_step, state.max_steps - state.global_step)
            self.bar.write(f"The masked-LM stand-in takes {about(left)} more here: its first steps took "
                           f"{per_step:.1f} s each on this machine (the bar below keeps the estimate up to date).")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


@torch.no_grad()
def held_out_accuracy(model, tokenizer, chunks, batch_size: int = 16, all_masked: bool = False) -> tuple[float, float]:
    """Top-1 and top-5 accuracy on the picked tokens (15%) of held-out chunks (fixed masking seed).

    By default the picked tokens are shown as in training (80% [MASK], 10% random, 10% unchanged), so a tenth of
    the scored positions show their answer. ``all_masked`` shows every picked token as [MASK]: the honest test of
    filling a blank.
    """
    corruption = dict(mask_replace_prob=1.0, random_replace_prob=0.0) if all_masked else {}
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=1234, **corruption)
    model.eval()
    hits1 = hits5 = total = 0
    for start in range(0, len(chunks), batch_size):
        batch = collator([{"input_ids": ids} for ids in chunks[start:start + batch_size]["input_ids"]])
        _, logits, labels = masked_only_loss(model, batch)
        best = logits.topk(5, dim=-1).indices
        hits1 += (best[:, 0] == labels).sum().item()
        hits5 += (best == labels[:, None]).any(-1).sum().item()
        total += labels.numel()
    return hits1 / total, hits5 / total
