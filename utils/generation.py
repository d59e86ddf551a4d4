"""Greedy decoding written out step by step, with or without the KV cache, and timed; a student's own loop, recorded
pass by pass (``traced_decode``); and every decoding strategy after the same prompt, side by side
(``compare_strategies``).

``generate(do_sample=False)`` does the same thing; notebook 2 shows they agree token for token,
and ``benchmarks/generation.py`` times the two loops against each other.
"""

from __future__ import annotations

import copy
import inspect
import logging
import statistics
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from utils.support.validation import (
    check_causal_lm,
    check_continuation,
    check_decode,
    check_prompt,
    check_step_table,
)
from utils.support.validation import context_window as context_window  # notebook 2 imports it from here


@contextmanager
def caught_warnings(logger: str = "transformers.generation.utils"):
    """The warnings ``logger`` logs while the block runs, as a list of their messages, held back from stderr: a cell
    that makes ``generate`` warn on purpose prints the warning as part of its lesson."""
    caught = []

    def keep(record: logging.LogRecord) -> bool:
        caught.append(record.getMessage())
        return False  # not passed on to the library's handler

    logging.getLogger(logger).addFilter(keep)
    try:
        yield caught
    finally:
        logging.getLogger(logger).removeFilter(keep)


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
    tokenizer_size: int | None = None  # len() of the tokenizer that encoded the prompt, to decode with the same

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.new_ids

    @property
    def seconds(self) -> float:
        """The time of every step together."""
        return sum(step.seconds for step in self.steps)

    def typical_step(self) -> float | None:
        """The median time of the steps after the first (which reads the whole prompt); None with one step or none."""
        later = sorted(step.seconds for step in self.steps[1:])
        return later[len(later) // 2] if later else None


def encode_prompt(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, prompt: str,
                  max_new_tokens: int) -> torch.Tensor:
    """The prompt's input ids (1 x n), after checking the prompt and the length fit the model."""
    check_prompt(model, tokenizer, prompt, max_new_tokens)
    return tokenizer(prompt, return_tensors="pt", verbose=False)["input_ids"].to(model.device)


@torch.inference_mode()
def greedy_decode(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str | list[int],
                  max_new_tokens: int, use_cache: bool = True, candidates: int = 5, repeats: int = 1) -> Decoded:
    """Greedy decoding one forward pass per token; ``use_cache=False`` re-feeds the whole sequence each step.

    ``prompt`` is text, or token ids (continued exactly: text decoded from ids need not encode back to them).
    With ``repeats`` > 1 the whole decode runs that many times and each step keeps its fastest time, so a
    busy machine's hiccups do not show up as steps that look slow.
    """
    given, max_new_tokens, candidates, repeats = check_decode(model, tokenizer, prompt, max_new_tokens, candidates,
                                                              repeats)
    ids = (torch.tensor([given]) if given is not None else
           tokenizer(prompt, return_tensors="pt", verbose=False)["input_ids"]).to(model.device)
    result = _decode_once(model, ids, max_new_tokens, use_cache, candidates)
    result.tokenizer_size = len(tokenizer)
    for _ in range(repeats - 1):
        again = _decode_once(model, ids, max_new_tokens, use_cache, candidates)
        for step, other in zip(result.steps, again.steps):
            step.seconds = min(step.seconds, other.seconds)
    return result


def _step(logits: torch.Tensor, candidates: int, tokens_fed: int, seconds: float) -> Step:
    """One step's record from a forward pass's logits: the last position's top candidates (the step table's rows;
    greedy takes the first) and the tokens fed and time it cost."""
    probs = logits[0, -1].detach().float().softmax(-1)
    top = probs.topk(min(candidates, probs.shape[-1]))
    return Step(list(zip(top.indices.tolist(), top.values.tolist())), int(probs.argmax()), tokens_fed, seconds)


def _last_position_only(model) -> dict:
    """The keyword that has ``model`` compute the last position's scores alone, where it takes one: the decoding loops
    read no others, so (as in ``generate``) the cache's speed-up is the cache's, not the output layer's on positions
    nobody reads."""
    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def _decode_once(model, ids: torch.Tensor, max_new_tokens: int, use_cache: bool, candidates: int) -> Decoded:
    result = Decoded(prompt_ids=ids[0].tolist())
    past, feed = None, ids
    last_only = _last_position_only(model)
    for _ in range(max_new_tokens):
        started = time.perf_counter()
        out = model(input_ids=feed, past_key_values=past, use_cache=use_cache, **last_only)
        seconds = time.perf_counter() - started
        result.steps.append(_step(out.logits, candidates, feed.shape[1], seconds))
        chosen = result.steps[-1].chosen
        result.new_ids.append(chosen)
        token = torch.tensor([[chosen]], device=ids.device)
        if use_cache:
            past, feed = out.past_key_values, token
        else:
            feed = torch.cat([feed, token], dim=1)
    return result


def traced_decode(loop, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt_ids: torch.Tensor,
                  max_new_tokens: int, candidates: int = 5, repeats: int = 1) -> Decoded:
    """Decoding by someone else's loop, ``loop(prompt_ids, max_new_tokens)`` (a student's greedy loop, notebook 2),
    recorded from outside: a hook on ``model`` makes each forward pass a ``Step`` (the tokens it fed, its time, its
    last position's top candidates; the hook asks for that position's scores alone, as ``generate`` does), and the
    ids are the loop's own. ``repeats`` as in ``greedy_decode``. The loop must make one pass per new token, read
    the last position's scores, and return the prompt's ids and the new ones; else one ValueError."""
    given, max_new_tokens, candidates, repeats = check_decode(model, tokenizer, prompt_ids, max_new_tokens,
                                                              candidates, repeats)
    if given is None:
        raise ValueError("traced_decode takes the prompt as token ids of shape (1, n), as the loop does, not text.")
    result = None
    for _ in range(repeats):
        ids, steps = _traced_once(loop, model, prompt_ids, max_new_tokens, candidates)
        ids = ids.reshape(-1).tolist() if isinstance(ids, torch.Tensor) else list(ids or [])
        if ids[:len(given)] != given or len(ids) != len(given) + max_new_tokens or len(steps) != max_new_tokens:
            raise ValueError(f"traced_decode needs a loop that makes one forward pass per new token and returns the "
                             f"prompt's ids and the new ones: {len(steps)} passes, {len(ids)} ids for a prompt of "
                             f"{len(given)} and {max_new_tokens} new tokens.")
        if result is None:
            result = Decoded(prompt_ids=given, new_ids=ids[len(given):], steps=steps, tokenizer_size=len(tokenizer))
        for step, other in zip(result.steps, steps):
            step.seconds = min(step.seconds, other.seconds)
    return result


@contextmanager
def prompt_remembered(model: PreTrainedModel, prompt_ids: torch.Tensor):
    """Inside, a forward pass of ``model`` on exactly ``prompt_ids`` (no cache passed in; the same other arguments)
    runs once, without a gradient, and each later one gets a copy of its output: a check that draws hundreds of first
    tokens from a student's sampler pays for one pass. Any other call runs the model as usual."""
    real, outputs = model.forward, {}

    def plain(value):  # a hashable stand-in for an argument, or None where it cannot be remembered
        if torch.is_tensor(value):
            return ("tensor", tuple(value.shape), tuple(value.flatten().tolist())) if value.numel() <= 4096 else None
        return ("value", value) if isinstance(value, (bool, int, float, str, type(None))) else None

    def forward(*args, **kwargs):
        given = dict(zip(("input_ids", "attention_mask"), args), **kwargs)
        ids, key = given.get("input_ids"), tuple(sorted((name, plain(v)) for name, v in given.items()))
        the_prompt = torch.is_tensor(ids) and ids.shape == prompt_ids.shape and torch.equal(ids, prompt_ids)
        if (len(args) > 2 or not the_prompt or any(v is None for _, v in key)
                or any(given.get(name) is not None for name in ("past_key_values", "inputs_embeds", "labels"))):
            return real(*args, **kwargs)
        if key not in outputs:
            with torch.no_grad():
                outputs[key] = real(*args, **kwargs)
        return copy.deepcopy(outputs[key])

    with mock.patch.object(model, "forward", forward):  # the model's own forward again afterwards
        yield


def _traced_once(loop, model, prompt_ids, max_new_tokens: int, candidates: int) -> tuple[object, list[Step]]:
    """``loop(prompt_ids, max_new_tokens)``'s answer, and a ``Step`` for each forward pass it made through ``model``."""
    steps, started = [], []
    last_only = _last_position_only(model)

    def before(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        started.append((time.perf_counter(), ids.shape[-1] if isinstance(ids, torch.Tensor) else 0))
        return (args, last_only | kwargs) if last_only.keys() - kwargs.keys() else None

    def after(module, args, kwargs, out):
        seconds = time.perf_counter() - started[-1][0]
        steps.append(_step(out.logits, candidates, started[-1][1], seconds))

    hooks = (model.register_forward_pre_hook(before, with_kwargs=True),
             model.register_forward_hook(after, with_kwargs=True))
    try:
        return loop(prompt_ids, max_new_tokens), steps
    finally:
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def continuation_log_probability(model: PreTrainedModel, ids: list[int], prompt_length: int) -> float:
    """ln P(ids[prompt_length:] | ids[:prompt_length]): the sum of each new token's log-probability given
    everything before it, from one forward pass over the whole sequence (the model's own, unfiltered
    distribution, whatever strategy chose the tokens)."""
    ids, prompt_length = check_continuation(model, ids, prompt_length)
    sequence = torch.tensor([ids], device=model.device)
    logprobs = model(sequence).logits[0, prompt_length - 1:-1].float().log_softmax(-1)
    return float(logprobs.gather(1, sequence[0, prompt_length:, None]).sum())


def kv_cache_bytes_per_token(model: PreTrainedModel) -> int:
    """Memory the KV cache holds per token: 2 (keys and values) x layers x key-value heads x head size x bytes."""
    check_causal_lm(model)
    config = model.config.get_text_config()
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * model.dtype.itemsize


def cache_report(refeed: Decoded, cached: Decoded) -> str:
    """Notebook 2's two decodes of the same tokens (``use_cache`` False, then True) in three lines: the time each
    took, the tokens each fed the model, and what one forward pass cost over the prompt and over one token."""
    fed = [sum(s.tokens_fed for s in d.steps) for d in (refeed, cached)]
    one, prompt = cached.typical_step() or cached.steps[0].seconds, cached.steps[0]
    return "\n".join([
        f"time:        re-feed {refeed.seconds:.2f} s, cache {cached.seconds:.2f} s: "
        f"{refeed.seconds / cached.seconds:.1f}x faster",
        f"tokens fed:  re-feed {fed[0]:,}, cache {fed[1]:,}: {fed[0] / fed[1]:.1f}x fewer",
        f"one pass:    over the prompt's {prompt.tokens_fed} tokens {prompt.seconds * 1000:.0f} ms, over 1 token "
        f"{one * 1000:.0f} ms (the median cached step)"])


def step_table(decoded: Decoded, tokenizer: PreTrainedTokenizerBase) -> str:
    """A text table: one row per step, its top candidates with probabilities, most likely (the one greedy decoding
    chose) first."""
    check_step_table(decoded, tokenizer, Decoded)
    rows = []
    for n, step in enumerate(decoded.steps, 1):
        cells = [f"{tokenizer.decode([i])!r:>12} {p:.3f}" for i, p in step.candidates]
        rows.append(f"{n:>4} | " + "  ".join(cells))
    header = "step | top candidates with probability (greedy takes the first)"
    return "\n".join([header, "-" * len(header), *rows])


def step_notes(decoded: Decoded, tokenizer: PreTrainedTokenizerBase) -> str:
    """What to read in ``step_table``: the step where the model was surest and the one where it was least sure (its
    first two candidates), and the first word the steps built from two tokens, if any."""
    check_step_table(decoded, tokenizer, Decoded)
    pieces = [tokenizer.decode([step.chosen]) for step in decoded.steps]
    top = [step.candidates[0][1] for step in decoded.steps]
    surest, least = max(range(len(top)), key=top.__getitem__), min(range(len(top)), key=top.__getitem__)
    runner_up = decoded.steps[least].candidates[1:2]
    lines = [f"surest at step {surest + 1}: {pieces[surest]!r} {top[surest]:.3f}",
             f"least sure at step {least + 1}: {pieces[least]!r} {top[least]:.3f}"
             + (f", against {tokenizer.decode([runner_up[0][0]])!r} {runner_up[0][1]:.3f}" if runner_up else "")]
    split = next((n for n in range(1, len(pieces)) if pieces[n][:1].isalpha() and pieces[n - 1][-1:].isalpha()), None)
    lines.append(f"a word over two steps: {pieces[split - 1]!r} + {pieces[split]!r} (steps {split} and {split + 1})"
                 if split else f"no word of these {len(pieces)} new tokens was split over two steps")
    return "\n".join(lines)


def talk(lm: PreTrainedModel, ids: list[int], label: str, tokenizer: PreTrainedTokenizerBase, prompt: int = 16,
         new: int = 8) -> None:
    """Prints the step table of ``new`` greedy tokens after the first ``prompt`` of ``ids`` (these very ids, not their
    text), the chosen tokens' mean probability, and the loss on the text's own next ``new`` tokens."""
    decoded, chosen, loss_here = _talked(lm, ids, tokenizer, prompt, new)
    print(f"{label}: {tokenizer.decode(decoded.prompt_ids)!r}")
    print(step_table(decoded, tokenizer))
    print(f"mean probability of the chosen token {chosen:.2f}; loss on the text's own next {new} tokens "
          f"{loss_here:.2f} nats")


def talk_numbers(lm: PreTrainedModel, ids: list[int], tokenizer: PreTrainedTokenizerBase, prompt: int = 16,
                 new: int = 8) -> tuple[float, float]:
    """``talk``'s last line as numbers: (the chosen tokens' mean probability, the loss on the text's own next ``new``
    tokens)."""
    return _talked(lm, ids, tokenizer, prompt, new)[1:]


def _talked(lm, ids, tokenizer, prompt: int, new: int):
    decoded = greedy_decode(lm, tokenizer, list(ids[:prompt]), new, candidates=3)
    top = [step.candidates[0][1] for step in decoded.steps]  # the chosen (most likely) token's probability
    loss_here = -continuation_log_probability(lm, list(ids[:prompt + new]), prompt) / new  # mean -ln p(true token)
    return decoded, sum(top) / len(top), loss_here


@dataclass
class Strategy:
    """One decoding strategy's draws after the same prompt (``compare_strategies``)."""

    per_token: list[float]  # each draw's ln P per token, under the model's own unfiltered probabilities
    repeated: list[float]  # each draw's share of neighbouring token pairs that already came earlier in it
    text: str  # the first draw's continuation
    tokens: int  # its length in tokens
    log_probability: float  # its ln P


def repeated_pairs(ids: list[int]) -> float:
    """The share of a text's neighbouring token pairs that already came earlier in it: 0 when no pair repeats, near
    1 for a text stuck in a loop."""
    pairs = list(zip(ids, ids[1:]))
    return sum(pair in pairs[:n] for n, pair in enumerate(pairs)) / len(pairs) if pairs else 0.0


@torch.no_grad()
def compare_strategies(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, inputs, strategies: dict[str, dict],
                       draws: int, seed: int, new_tokens: int, pad_token_id: int) -> dict[str, Strategy]:
    """Each strategy (name -> ``generate``'s settings) after the same ``inputs``: ``draws`` seeded draws for a
    sampler, starting at ``seed`` (first draws share it), one text for a strategy that does not sample."""
    n, found = inputs["input_ids"].shape[1], {}
    for name, settings in strategies.items():
        rows = []
        for draw in range(seed, seed + (draws if settings.get("do_sample") else 1)):
            torch.manual_seed(draw)
            out = model.generate(**inputs, max_new_tokens=new_tokens, pad_token_id=pad_token_id, **settings)[0].tolist()
            rows.append((out[n:], continuation_log_probability(model, out, n)))
        found[name] = Strategy([lp / max(len(new), 1) for new, lp in rows], [repeated_pairs(new) for new, _ in rows],
                               tokenizer.decode(rows[0][0]), len(rows[0][0]), rows[0][1])
    return found


def strategy_table(found: dict[str, Strategy], width: int = 100) -> str:
    """``compare_strategies``'s result as a text table: ln P per token (the draws' mean, and their range), the share of
    repeated token pairs (mean), then the first draw's length and ln P, and under each row its text, cut at a word to
    ``width`` characters so the table fits a slide."""
    lines = [f"{'':<16} {'ln P per token':<22} {'repeated':>8}   the first draw",
             f"{'strategy':<16} {'mean (lowest, highest)':<22} {'pairs':>8}   {'tokens':>6} {'ln P':>7}"]
    for name, s in found.items():  # a few draws: their range says more than a standard deviation of them would
        spread = f"({min(s.per_token):.2f}, {max(s.per_token):.2f})" if len(s.per_token) > 1 else ""
        lines.append(f"{name:<16} {statistics.mean(s.per_token):5.2f} {spread:<16} {statistics.mean(s.repeated):8.0%}"
                     f"   {s.tokens:>6} {s.log_probability:7.1f}")
        lines.append(textwrap.shorten(repr(s.text), width, initial_indent="    ", placeholder=" …"))
    return "\n".join(lines)
