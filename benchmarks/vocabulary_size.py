"""Notebook 3's two runs with a smaller vocabulary: the seconds they take and the lesson's numbers, side by side.

Most of a classroom training step is the output layer, vocabulary x ``n_embd`` (``time_to_lesson.py`` profiles it).
This script retrains GPT-2's tokenizer on the training articles to each vocabulary size asked (``train_new_from_
iterator``, as notebook 3 builds its byte tokenizer; 50257 keeps GPT-2's own), then runs the first run and the
every-article run exactly as notebook 3 configures them (classroom profile, the same steps, seed and settings), and
prints for each: its training seconds, the first run's last training loss and its validation minimum and end, the
every-article run's last validation loss against the uniform guess (ln V) and its own unigram count. It measures
the lever issue 36 names, a cheaper output layer, against issue 35's bar (at least 3 nats under the uniform guess),
which moves with V. One process, rows in the order given; the asset cache must hold the Wikipedia sample.

Run: .venv/bin/python benchmarks/vocabulary_size.py [V ...]   (default: 50257 8192)
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from transformers import DataCollatorForLanguageModeling, Trainer
from transformers.trainer_callback import PrinterCallback

from utils import baselines, pretraining
from utils.chunking import chunk_dataset, chunk_splits
from utils.device import seed_everything
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING
from utils.wikipedia import load_wikipedia_subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[50257, 8192], help="vocabulary sizes to compare")
    vocabularies = parser.parse_args().sizes
    sizes = PRETRAINING["classroom"]
    length = sizes["context_length"]
    subset = load_wikipedia_subset(sizes["n_train"], sizes["n_valid"], seed=pretraining.SEED)
    gpt2 = load_tokenizer("gpt2")
    first_text = pretraining.training_text(subset, sizes)
    every_text = pretraining.training_text(subset, sizes | sizes["byte_run"])
    for vocabulary in vocabularies:
        tokenizer = gpt2 if vocabulary == len(gpt2) else gpt2.train_new_from_iterator(
            every_text["train"]["text"], vocab_size=vocabulary, show_progress=False)
        tokenizer.pad_token = tokenizer.eos_token
        chunks = pretraining.evaluation_subset(chunk_splits(first_text, tokenizer, length)[0], sizes)
        every = chunk_dataset(every_text["train"], tokenizer, length)[0]
        config = pretraining.gpt2_config(tokenizer, sizes)
        steps = pretraining.total_steps(chunks, sizes)
        uniform = math.log(len(tokenizer))
        seconds = {}
        for run, train in (("first run", chunks["train"]), ("every article", every)):
            seed_everything(pretraining.SEED)
            with tempfile.TemporaryDirectory() as out:
                trainer = Trainer(model=pretraining.new_gpt2(config),
                                  args=pretraining.training_arguments(sizes, out, "cpu", max_steps=steps),
                                  data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                                  train_dataset=train, eval_dataset=chunks["valid"],
                                  callbacks=pretraining.support_callbacks(sizes))
                trainer.remove_callback(PrinterCallback)
                start = time.perf_counter()
                trainer.train()
                seconds[run] = time.perf_counter() - start
            valid = [log["eval_loss"] for log in trainer.state.log_history if "eval_loss" in log]
            train_loss = [log["loss"] for log in trainer.state.log_history if "loss" in log][-1]
            count = baselines.unigram_loss(train, chunks["valid"], len(tokenizer))
            print(f"V = {len(tokenizer):,}, {run}: {seconds[run]:.1f} s ({steps} steps, {len(train):,} chunks); "
                  f"training loss {train_loss:.3f}; validation lowest {min(valid):.2f}, last {valid[-1]:.2f} "
                  f"(before it {valid[-2]:.2f}); {uniform - valid[-1]:.2f} under the uniform guess ({uniform:.2f}); "
                  f"its unigram count {count:.2f}", flush=True)
        print(f"V = {len(tokenizer):,}: both runs {sum(seconds.values()):.1f} s of training", flush=True)


if __name__ == "__main__":
    main()
