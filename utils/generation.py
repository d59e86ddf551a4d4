"""Greedy decoding written out step by step, with or without the KV cache, and timed.

``generate(do_sample=False)`` does the same thing; notebook 2 shows they agree token for token,
and ``benchmarks/generation.py`` times the two loops against each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class Step:
    """One decoding step: the top candidates, the one chosen, and what it cost."""

    candidates: list[tuple[int, float]]  # (token id, probability), most likely first
    chosen: int
    tokens_fed: int  # tokens the model processed this step
    seconds: float


@dataclass
class Decoded:
    """The prompt's ids, the generated ids and every step's record."""

    prompt_ids: list[int]
    new_ids: list[int] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.new_ids


def context_window(model: PreTrainedModel) -> int:
    """The longest sequence the model accepts (n_positions or max_position_embeddings)."""
    config = model.config
    return getattr(config, "n_positions", None) or config.max_position_embeddings


def encode_prompt(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, prompt: str,
                  max_new_tokens: int) -> torch.Tensor:
    """The prompt's input ids (1 x n), after checking the prompt and the length fit the model."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("The prompt is empty: give the model some text to continue.")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a whole number of at least 1, got {max_new_tokens!r}.")
    ids = tokenizer(prompt, return_tensors="pt", verbose=False)["input_ids"]
    window = context_window(model)
    if ids.shape[1] + max_new_tokens > window:
        raise ValueError(f"The prompt is {ids.shape[1]} tokens; with {max_new_tokens} new tokens that exceeds the "
                         f"model's context window of {window}. Shorten the prompt or ask for fewer tokens.")
    return ids.to(model.device)


@torch.inference_mode()
def greedy_decode(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str, max_new_tokens: int,
                  use_cache: bool = True, top_k: int = 5) -> Decoded:
    """Greedy decoding one forward pass per token; ``use_cache=False`` re-feeds the whole sequence each step."""
    ids = encode_prompt(tokenizer, model, prompt, max_new_tokens)
    result = Decoded(prompt_ids=ids[0].tolist())
    past, feed = None, ids
    for _ in range(max_new_tokens):
        started = time.perf_counter()
        out = model(input_ids=feed, past_key_values=past, use_cache=use_cache)
        probs = out.logits[0, -1].float().softmax(-1)
        chosen = int(probs.argmax())
        seconds = time.perf_counter() - started
        top = probs.topk(top_k)
        result.steps.append(Step(list(zip(top.indices.tolist(), top.values.tolist())), chosen, feed.shape[1], seconds))
        result.new_ids.append(chosen)
        token = torch.tensor([[chosen]], device=ids.device)
        if use_cache:
            past, feed = out.past_key_values, token
        else:
            feed = torch.cat([feed, token], dim=1)
    return result


def step_table(decoded: Decoded, tokenizer: PreTrainedTokenizerBase) -> str:
    """A text table: one row per step, its top candidates with probabilities, the chosen token marked."""
    rows = []
    for n, step in enumerate(decoded.steps, 1):
        cells = [f"{tokenizer.decode([i])!r:>12} {p:.3f}" for i, p in step.candidates]
        rows.append(f"{n:>4}  {tokenizer.decode([step.chosen])!r:>12}  | " + "  ".join(cells))
    header = f"{'step':>4}  {'chosen':>12}  | top candidates with probability"
    return "\n".join([header, "-" * len(header), *rows])
