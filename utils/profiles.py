"""Run profiles: one name picks every size of a notebook, in the manner of nanoGPT's ``config/*.py``.

``smoke`` is what CI runs (a plumbing check in seconds), ``classroom`` the default (the lesson on a laptop
CPU), ``full`` the original tutorial's scale (a GPU). A notebook's parameters cell calls
``choose_profile(PRETRAINING)``; ``$LLM_TUTORIAL_PROFILE`` or the name passed in picks one. A notebook with no
profile of that name uses its classroom sizes (notebook 1 costs seconds at any size). Measured times:
benchmarks/README.md, which also gives the runs' outcomes (read it after notebook 3, not before).
"""

from __future__ import annotations

from utils.settings import check_environment, setting, source

NAMES = ("smoke", "classroom", "full")
DEFAULT = "classroom"

# Notebook 1, inside a masked LM. Seconds at any size, so one profile serves all.
MASKED_LM: dict[str, dict] = {
    "classroom": dict(
        top_k=5,  # words ranked per mask; free, the bar chart grows taller
    ),
}

# Notebook 2, decoding one token at a time. Each new token is one forward pass of the whole model.
CAUSAL_LM: dict[str, dict] = {
    "smoke": dict(
        new_tokens=6,  # tokens decoded by hand, one table row each
        kv_tokens=8,  # tokens timed with and without the KV cache; re-feeding grows with the square of this
        strategy_tokens=6,  # tokens per decoding strategy (greedy, beam search, sampling)
        draws=2,  # texts per sampling strategy, each from its own seed (two give a spread)
        long_tokens=12,  # greedy against top-p over a longer text
    ),
    "classroom": dict(
        new_tokens=10,  # about a sentence; a word may take two of them (the table shows whether one did)
        kv_tokens=128,  # long enough for the cache's gain to show (most of the notebook's time)
        strategy_tokens=25,  # a sentence or two per strategy
        draws=3,  # texts per sampling strategy, each from its own seed: one draw is chance, a mean of three less so
        long_tokens=120,  # greedy against top-p over a longer text: long enough for a loop to show, if there is one
    ),
}

# Notebook 3 and `python -m utils.tools.pretrain`: GPT-2 from scratch on a Wikipedia subset. The first run (the
# top-level sizes, and the script's) trains on a few article openings many times over; the same model then trains on
# every article (`byte_run`'s text, the first run's steps). The byte model (`byte_run`, notebook 3 only: its
# settings replace the first run's) trains with the student's loop and, optionally, the Trainer, each chunk once.
PRETRAINING: dict[str, dict] = {
    "smoke": dict(  # a plumbing check: it learns nothing
        n_train=2, n_valid=2,  # articles drawn for training and validation
        train_docs=2, max_train_chars=5_000,  # of the training articles, how many, cut to how many characters
        # (15 chunks: 2 steps an epoch on one process, 1 on two, so a 2-process run takes half the steps)
        context_length=128,  # tokens per training chunk
        n_layer=2, n_embd=64, n_head=2,  # a toy GPT-2
        epochs=4, batch_size=8,  # epochs (reads of every chunk); chunks per optimizer step
        learning_rate=2e-3, warmup_steps=0, dropout=0.0,
        eval_every=4, eval_chunks=16,  # steps between evaluations; validation chunks each evaluation scores
        save_every=4,  # steps between checkpoints of `python -m utils.tools.pretrain` (resumable with --resume)
        byte_run=dict(train_docs=2, max_train_chars=None, epochs=1, eval_every=4, budget_s=60, own_loop_steps=4),
    ),
    "classroom": dict(  # the lesson on a 2-core laptop CPU: 4 article openings, 40 epochs; then all, once at most
        n_train=50, n_valid=50,  # the original's 50/50 articles (validation draws from all 50)
        train_docs=4,  # training text: the first 4 training articles ...
        max_train_chars=4_000,  # ... cut to 4,000 characters each (about 20 chunks of 128 tokens)
        context_length=128,  # the original's chunk length
        n_layer=2,  # GPT-2 has 12
        n_embd=256,  # GPT-2 has 768; the 50,257-token embedding is still 89% of the parameters
        n_head=4,  # attention heads (n_embd / n_head = 64 per head, as in GPT-2)
        epochs=40,  # 40 epochs, 120 optimizer steps
        batch_size=8,  # the original's batch ...
        gradient_accumulation_steps=4,  # ... as four passes of 2 chunks: the same step, a quarter of the logits at once
        learning_rate=2e-3,  # high for a tiny model (the original used the Trainer's default 5e-5)
        warmup_steps=30,  # linear warm-up over the first quarter, then cosine decay to 0
        dropout=0.0,  # GPT-2 used 0.1; none here (a CPU spends ~18% of a step on the masks)
        eval_every=20,  # each evaluation draws a point of the validation curve (~0.7 s each)
        early_evals=(5, 10, 15),  # evaluations besides every 20th step, where the validation loss moves fastest
        log_every=5,  # steps between logged training losses (and learning rates)
        eval_chunks=32,  # validation chunks scored per evaluation: more is smoother but slower
        save_every=40,  # steps between the script's checkpoints (the notebook saves once, at the end)
        train_loss_target=0.5,  # the lesson's bar for the first run's last training loss (the lesson checks it)
        byte_run=dict(  # the byte run: every article, each chunk once, one byte a token (256 + <|endoftext|>)
            train_docs=50, max_train_chars=None,  # every training article, whole (offline sample: 11,460 chunks)
            # nanoGPT's character-level recipe for a laptop CPU (shakespeare_char: 4 layers, 4 heads, 128 wide); the
            # learning rate chosen on held-out training articles, never on the validation articles the notebook
            # scores (benchmarks/learning_rate.py; benchmarks/README.md#profiles has each rate's result)
            n_layer=4, n_embd=128, n_head=4,
            epochs=1, batch_size=8, gradient_accumulation_steps=1,  # one epoch: many small updates
            learning_rate=3e-3, warmup_steps=30,  # 4e-3 scored a little better there, but 5e-3 broke down
            eval_every=200, log_every=20, eval_chunks=64,  # 64 validation chunks of 128 bytes; "still falling" is
            # judged over the last 200 steps, where the cosine schedule has brought the learning rate down
            early_evals=(25, 50, 100),  # evaluations besides every 200th step, where the loss falls fastest
            own_loop_steps=100,  # steps exercise 2b's loop trains a byte model, on every article's first chunks
            # no time budget: every CPU trains the same steps, so every class sees the same lesson (the probe says
            # how long). A number here caps the seconds of training, and the run learns less in fewer steps
            budget_s=None,
        ),
    ),
    "full": dict(  # the original tutorial's scale (13.3 h on an Apple GPU); a GPU profile
        n_train=50, n_valid=50, train_docs=50, max_train_chars=None,  # every training article, whole
        context_length=128,
        n_layer=12, n_embd=768, n_head=12,  # GPT-2 124M
        epochs=100, batch_size=8,  # ~27,500 steps
        learning_rate=5e-4, warmup_steps=1_000, dropout=0.0,
        eval_every=137, eval_chunks=512,
        save_every=1_000,  # a checkpoint every ~1 min on one H100; --resume continues after a crash
        byte_run=dict(epochs=1, warmup_steps=30, eval_every=200, budget_s=None, own_loop_steps=100),  # one epoch
    ),
}


def choose_profile(profiles: dict[str, dict], name: str | None = None) -> tuple[str, dict]:
    """(name, a copy of its settings) for ``name``, else $LLM_TUTORIAL_PROFILE, else classroom.

    A known name the notebook has no profile for (e.g. ``smoke`` in notebook 1) gives its classroom sizes. It also
    checks the other ``LLM_TUTORIAL_*`` variables (``settings.check_environment``), so a bad value stops the
    parameters cell, not a cell minutes later.
    """
    check_environment()
    from_env = not name and setting("PROFILE") is not None
    name = (name or setting("PROFILE") or DEFAULT).strip()
    if name in profiles:
        return name, dict(profiles[name])
    if name in NAMES and DEFAULT in profiles:
        return DEFAULT, dict(profiles[DEFAULT])
    where = f" (from {source('PROFILE')})" if from_env else ""
    raise ValueError(f"Unknown profile {name!r}{where}. Choose one of: {', '.join(profiles)}.")


def step_passes(profile: dict) -> tuple[int, int]:
    """(passes, chunks a pass) of one optimizer step: ``batch_size`` chunks as ``gradient_accumulation_steps``
    passes where that divides the batch, else one pass of all of them."""
    accumulate = profile.get("gradient_accumulation_steps", 1)
    accumulate = accumulate if profile["batch_size"] % accumulate == 0 else 1
    return accumulate, profile["batch_size"] // accumulate


def _evaluations(run: dict) -> str:
    also = run.get("early_evals", ())
    return f"{run['eval_every']}, {run['eval_chunks']}" + (f" (also at {', '.join(map(str, also))})" if also else "")


# Notebook 3's parameters, as rows of the setting names the code reads: (label, value of one run)
RUN_ROWS = (
    ("n_train / n_valid articles", lambda run: f"{run['n_train']} / {run['n_valid']}"),
    ("train_docs", lambda run: str(run["train_docs"])),
    ("max_train_chars", lambda run: f"{run['max_train_chars']:,}" if run.get("max_train_chars") else "whole"),
    ("context_length", lambda run: str(run["context_length"])),
    ("n_layer x n_embd, n_head", lambda run: f"{run['n_layer']} x {run['n_embd']}, {run['n_head']}"),
    ("epochs", lambda run: str(run["epochs"])),
    ("batch_size (passes x chunks)", lambda run: "{} ({} x {})".format(run["batch_size"], *step_passes(run))),
    ("learning_rate, warmup_steps", lambda run: f"{run['learning_rate']:g}, {run['warmup_steps']}"),
    ("dropout", lambda run: f"{run.get('dropout', 0.0):g}"),
    ("eval_every, eval_chunks", _evaluations),
)


def describe_runs(sizes: dict) -> str:
    """Notebook 3's first run and byte run side by side, one row a setting (named as in ``PRETRAINING``): the byte
    run's column is the first run's settings with ``byte_run`` laid over them."""
    runs = {"first run": sizes, "byte run": sizes | sizes.get("byte_run", {})}
    rows = [("setting", *runs)] + [(label, *(value(run) for run in runs.values())) for label, value in RUN_ROWS]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def first_run_reads_every_article(sizes: dict) -> bool:
    """Whether the first run's text is already every training article, whole (the ``full`` profile): then notebook
    3's every-article run would repeat it step for step, and the first run stands for it."""
    every = sizes | sizes.get("byte_run", {})
    return sizes["max_train_chars"] is None and sizes["train_docs"] >= every["train_docs"]
