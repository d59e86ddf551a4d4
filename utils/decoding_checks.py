"""Notebook 2's check cells for decoding, kept out of the cells' sight: the probability of a continuation
(exercise 1) and the sampling loop (exercise 5). Each returns the line the check cell prints, whatever the answer."""

from __future__ import annotations

import math

import torch

from utils.exercises import NOT_ANSWERED_HINT, describe, number, on_its_classes, token_ids, without
from utils.generation import continuation_log_probability


def continuation_verdict(answer, model, decoded) -> str:
    """Exercise 1: the product of the chosen tokens' probabilities along ``decoded`` (a ``greedy_decode`` result),
    against one forward pass over prompt and continuation. Products of the step table's printed probabilities (each
    off by at most 0.0005) count as right."""
    expected = math.exp(continuation_log_probability(model, decoded.ids, len(decoded.prompt_ids)))
    if answer is None:
        return NOT_ANSWERED_HINT
    if number(answer) is None:
        return f"Not quite: {describe(answer)} is not one number."
    tolerance = expected * sum(0.0005 / step.candidates[0][1] for step in decoded.steps) * 1.01 + 1e-9
    if abs(number(answer) - expected) <= tolerance:
        return (f"Correct: {expected:.3g}, ln P = {math.log(expected):.2f}. A whole sentence is far less likely than "
                "any single token.")
    return f"Not quite: {describe(answer)}. Multiply, do not add, the chosen tokens' probabilities."


SAMPLING_SETTINGS = [(0.8, 0, 1.0), (1.0, 20, 0.9)]  # (temperature, top_k, top_p): no top-k, then all three


def sampling_verdict(my_sample, model, start, n: int, pad_token_id: int, seed: int) -> str:
    """Exercise 5: ``my_sample(prompt_ids, n, temperature, top_k, top_p)`` against ``generate(do_sample=True)`` from
    the same seed, token for token, at each of ``SAMPLING_SETTINGS``: the prompt's ids and n new ones (generate may
    stop early at the end-of-text token; the student's loop need not)."""
    prompt_length = start["input_ids"].shape[-1]
    for temperature, top_k, top_p in SAMPLING_SETTINGS:
        torch.manual_seed(seed)
        with without((model, "generate"), *on_its_classes(model, "generate")):  # the loop the student rebuilds
            mine = my_sample(start["input_ids"], n, temperature, top_k, top_p)
        if mine is None:
            return NOT_ANSWERED_HINT
        torch.manual_seed(seed)
        theirs = model.generate(**start, max_new_tokens=n, do_sample=True, temperature=temperature, top_k=top_k,
                                top_p=top_p, pad_token_id=pad_token_id)[0].tolist()
        if token_ids(mine) is None:
            return f"Not quite: return the token ids as a list of ints, not {describe(mine)}."
        mine = token_ids(mine)  # a tensor, a tuple or a list of one-element tensors: the same ids
        if mine[:len(theirs)] != theirs:
            at = next(i for i, (a, b) in enumerate(zip([*mine, *[None] * len(theirs)], theirs)) if a != b)
            return (f"Not quite at temperature {temperature}, top_k {top_k}, top_p {top_p}: your ids first differ "
                    f"from generate's at position {at} (the prompt has {prompt_length}): "
                    f"{mine[at] if at < len(mine) else 'none'} against {theirs[at]}. (Draw with torch.multinomial "
                    "from the filtered probabilities, once per token, and start from the prompt's ids.)")
        if len(mine) != prompt_length + n and mine != theirs:
            return (f"Not quite: generate's tokens, then {len(mine) - len(theirs)} more: return the prompt's ids and "
                    f"n = {n} new ones, {prompt_length + n} ids in all (you returned {len(mine)}).")
    return ("Correct: your loop draws exactly generate's tokens at both settings: sampling is the greedy loop with "
            "argmax replaced by a draw from the filtered distribution.")
