"""Greedy decoding of 128 new tokens: KV cache vs re-feeding the whole sequence, same model, alternated.

Headline: notebook 2's prompt (a few tokens), 128 new tokens, best of 2 alternating rounds. Then the same 128
tokens after longer prompts (the start of a Wikipedia article), one round each: re-feeding pays for every token
of the sequence at every step, the cache for one, so the ratio grows with the length of the text.

Target: the cache is at least 5x faster. Run: .venv/bin/python benchmarks/generation.py
"""

import os
import time

import torch

from utils.generation import greedy_decode
from utils.models import load_causal_lm
from utils.settings import setting
from utils.wikipedia import sample_articles

NEW_TOKENS = int(os.environ.get("BENCH_NEW_TOKENS", 128))
ROUNDS = 2
PROMPT = "Swimming at the beach is"
LONG_PROMPTS = [int(n) for n in os.environ.get("BENCH_PROMPT_TOKENS", "64,192").split(",") if n]


def timed_pair(model, tokenizer, prompt: str, rounds: int) -> dict[str, float]:
    """Best seconds of each loop over ``rounds`` alternating rounds; asserts both loops chose the same tokens."""
    times = {"re-feed": [], "kv-cache": []}
    reference = None
    for _ in range(rounds):
        for name, use_cache in (("re-feed", False), ("kv-cache", True)):
            started = time.perf_counter()
            out = greedy_decode(model, tokenizer, prompt, NEW_TOKENS, use_cache=use_cache)
            times[name].append(time.perf_counter() - started)
            reference = reference or out.ids
            assert out.ids == reference, "the two loops produced different tokens"
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    loaded = load_causal_lm(setting("CAUSAL_LM", "gpt2"))
    model, tokenizer = loaded.model, loaded.tokenizer
    print(f"{torch.get_num_threads()} CPU threads, {model.dtype}, {NEW_TOKENS} new tokens")
    greedy_decode(model, tokenizer, PROMPT, 4)  # warm-up
    best = timed_pair(model, tokenizer, PROMPT, ROUNDS)
    n_prompt = len(tokenizer(PROMPT)["input_ids"])
    print(f"prompt {PROMPT!r} ({n_prompt} tokens), best of {ROUNDS} alternating rounds:")
    for name, seconds in best.items():
        print(f"  {name:<9} {seconds:6.2f} s  ({NEW_TOKENS / seconds:6.1f} tokens/s)")
    headline = best["re-feed"] / best["kv-cache"]

    article = tokenizer(sample_articles()[0]["text"])["input_ids"]
    print("longer prompts (the start of a Wikipedia article), one round each:")
    for n in LONG_PROMPTS:
        pair = timed_pair(model, tokenizer, tokenizer.decode(article[:n]), 1)
        print(f"  prompt {n:>4} tokens: re-feed {pair['re-feed']:6.2f} s, kv-cache {pair['kv-cache']:5.2f} s, "
              f"ratio {pair['re-feed'] / pair['kv-cache']:4.1f}x")
    print(f"ratio: kv-cache is {headline:.1f}x faster for {NEW_TOKENS} tokens after a {n_prompt}-token prompt "
          f"(target >= 5x)")


if __name__ == "__main__":
    main()
