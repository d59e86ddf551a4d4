"""Notebook 3's learning rates, chosen without the validation articles: each run's rate tried on held-out training
articles.

The classroom profile's runs score their validation loss on the validation articles, so a learning rate picked by
that loss would flatter it. This script sets the last ``--dev`` training articles apart (the dev articles), builds
each run as notebook 3 does from the other training articles (the classroom profile, the same seed and settings),
trains it once for each rate asked, and scores its last loss on the dev articles' chunks only. It prints one line a
run and rate, then each run's best rate beside the profile's. The validation articles are never read.

- ``every``: the every-article run: GPT-2's tokens, the first run's model (2 x 256) and its 120 steps, on chunks
  drawn from every article, each read once.
- ``bytes``: the byte run: the byte tokenizer (257 entries), 4 x 128, one pass over every article's chunks.

One process, rows in order; the asset cache must hold the Wikipedia sample.

Run: .venv/bin/python benchmarks/learning_rate.py [--runs every bytes] [--rates 1e-3 2e-3 3e-3 5e-3] [--dev 5]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import datasets
from datasets import DatasetDict
from transformers import DataCollatorForLanguageModeling, Trainer
from transformers.trainer_callback import PrinterCallback

from utils import pretraining
from utils.chunking import chunk_dataset
from utils.device import pick_device, seed_everything
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING
from utils.wikipedia import load_wikipedia_subset

DEV_CHUNKS = 128  # dev chunks scored at the end of each run, drawn with the seed


def run_setup(name: str, subset, dev_articles: int) -> tuple[dict, object, DatasetDict]:
    """(the run's sizes, its tokenizer, its chunks: ``train`` from the kept training articles, ``valid`` from the dev
    articles), as notebook 3 builds the run."""
    classroom = PRETRAINING["classroom"]
    kept = subset["train"].select(range(len(subset["train"]) - dev_articles))
    dev = subset["train"].select(range(len(subset["train"]) - dev_articles, len(subset["train"])))
    every = pretraining.training_text(DatasetDict(train=kept, valid=dev), classroom | classroom["byte_run"])
    gpt2 = load_tokenizer("gpt2")
    if name == "bytes":
        sizes = classroom | classroom["byte_run"]
        tokenizer = gpt2.train_new_from_iterator(every["train"]["text"], vocab_size=257, show_progress=False)
    else:
        sizes, tokenizer = classroom, gpt2
    tokenizer.pad_token = tokenizer.eos_token
    length = sizes["context_length"]
    train = chunk_dataset(every["train"], tokenizer, length)[0]
    valid = chunk_dataset(every["valid"], tokenizer, length)[0].shuffle(seed=pretraining.SEED)
    if name == "every":  # the every-article run reads the first run's steps' worth of chunks, each once
        first = pretraining.training_text(subset, classroom)
        first_chunks = chunk_dataset(first["train"], tokenizer, length)[0]
        steps = pretraining.total_steps(DatasetDict(train=first_chunks), classroom)
        read = steps * sizes["batch_size"]
        train = train.shuffle(seed=pretraining.SEED).select(range(min(read, len(train))))
        sizes = sizes | {"max_steps": steps}
    return sizes, tokenizer, DatasetDict(train=train, valid=valid.select(range(min(DEV_CHUNKS, len(valid)))))


def dev_loss(sizes: dict, tokenizer, chunks: DatasetDict, rate: float, device) -> tuple[float, float, int]:
    """(the last dev loss, training seconds, steps) of one run at learning rate ``rate``."""
    seed_everything(pretraining.SEED)
    steps = sizes.get("max_steps") or pretraining.total_steps(chunks, sizes)
    with tempfile.TemporaryDirectory() as out:
        args = pretraining.training_arguments(sizes | {"learning_rate": rate}, out, device, max_steps=steps,
                                              eval_strategy="no")
        trainer = Trainer(model=pretraining.new_gpt2(pretraining.gpt2_config(tokenizer, sizes)), args=args,
                          data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                          train_dataset=chunks["train"], eval_dataset=chunks["valid"],
                          callbacks=pretraining.support_callbacks(sizes))
        trainer.remove_callback(PrinterCallback)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        return trainer.evaluate()["eval_loss"], seconds, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=("every", "bytes"), default=["every", "bytes"])
    parser.add_argument("--rates", nargs="+", type=float, default=[1e-3, 2e-3, 3e-3, 5e-3])
    parser.add_argument("--dev", type=int, default=5, help="training articles set apart to score on")
    options = parser.parse_args()
    datasets.disable_progress_bars()  # each chunking takes a second or two
    classroom = PRETRAINING["classroom"]
    if not 0 < options.dev < classroom["n_train"]:
        raise SystemExit(f"--dev must be between 1 and {classroom['n_train'] - 1}: the training articles to hold out")
    subset = load_wikipedia_subset(classroom["n_train"], classroom["n_valid"], seed=pretraining.SEED)
    device = pick_device()
    for name in options.runs:
        sizes, tokenizer, chunks = run_setup(name, subset, options.dev)
        uniform = math.log(len(tokenizer))
        print(f"{name}: {len(chunks['train']):,} training chunks from {classroom['n_train'] - options.dev} articles, "
              f"{len(chunks['valid'])} dev chunks from the other {options.dev}; uniform guess {uniform:.2f}",
              flush=True)
        results = {}
        for rate in options.rates:
            results[rate], seconds, steps = dev_loss(sizes, tokenizer, chunks, rate, device)
            print(f"  learning rate {rate:g}: dev loss {results[rate]:.3f} after {steps:,} steps ({seconds:.0f} s)",
                  flush=True)
        best = min(results, key=results.get)
        profile = sizes["learning_rate"]
        print(f"{name}: best on the dev articles {best:g} ({results[best]:.3f}); the profile's {profile:g}"
              + (f" ({results[profile]:.3f})" if profile in results else " (not tried)"), flush=True)


if __name__ == "__main__":
    main()
