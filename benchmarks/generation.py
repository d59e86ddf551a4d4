"""Greedy decoding of 128 new tokens: KV cache vs re-feeding the whole sequence, same model, alternated.

Target: the cache is at least 5x faster. Run: .venv/bin/python benchmarks/generation.py
"""

import os
import time

import torch

from utils.generation import greedy_decode
from utils.models import load_causal_lm

NEW_TOKENS = int(os.environ.get("BENCH_NEW_TOKENS", 128))
ROUNDS = 2
PROMPT = "Swimming at the beach is"


def main() -> None:
    loaded = load_causal_lm(os.environ.get("TUTORIAL_CAUSAL_LM", "gpt2"))
    model, tokenizer = loaded.model, loaded.tokenizer
    print(f"{torch.get_num_threads()} CPU threads, {NEW_TOKENS} new tokens, {ROUNDS} alternating rounds")
    greedy_decode(model, tokenizer, PROMPT, 4)  # warm-up
    times = {"re-feed": [], "kv-cache": []}
    reference = None
    for _ in range(ROUNDS):
        for name, use_cache in (("re-feed", False), ("kv-cache", True)):
            started = time.perf_counter()
            out = greedy_decode(model, tokenizer, PROMPT, NEW_TOKENS, use_cache=use_cache)
            times[name].append(time.perf_counter() - started)
            reference = reference or out.ids
            assert out.ids == reference, "the two loops produced different tokens"
    for name, t in times.items():
        print(f"{name:<9} best {min(t):6.2f} s  ({NEW_TOKENS / min(t):6.1f} tokens/s)")
    print(f"ratio: kv-cache is {min(times['re-feed']) / min(times['kv-cache']):.1f}x faster (target >= 5x)")


if __name__ == "__main__":
    main()
