"""Notebook 1's check cells for the causal mask, kept out of the cells' sight: exercise 9(a), ``my_causal_mask``,
against ``utils.fill_mask.causal_mask`` and then through the model; and the mask 9(c)'s experiment runs, the
student's once 9(a)'s check passes it. Each verdict returns a line to print, whatever the answer. Also what the ten
training steps use once their exercises' checks pass them: the student's corruption of exercise 12 for the batch
(``corruption_in_use``) and the loss of exercise 13 (``loss_in_use``)."""

from __future__ import annotations

import sys
import warnings

import torch
from transformers import PreTrainedTokenizerBase

from utils.exercises import NOT_ANSWERED_HINT, describe, mismatch, without
from utils.fill_mask import causal_mask, encode_masked
from utils.masking import COLLATOR_ITSELF, corruption_verdict, loss_verdict, seeded


def _mask_problem(answer, n: int, dtype: torch.dtype) -> str | None:
    """What is wrong with ``answer`` as ``causal_mask(n, dtype)``, or None."""
    if not isinstance(answer, torch.Tensor):
        return f"return a tensor; for n = {n} got {describe(answer)}"
    if tuple(answer.shape) == (n, n):
        return (f"its shape is ({n}, {n}); attention_mask takes (batch, heads, query, key): add two leading "
                "dimensions of 1, e.g. mask[None, None]")
    if tuple(answer.shape) != (1, 1, n, n):
        return f"for n = {n} its shape is {tuple(answer.shape)}, not (1, 1, {n}, {n})"
    if not answer.is_floating_point():
        return (f"its dtype is {answer.dtype}; the mask is added to the scores, so it holds numbers: 0 where a token "
                "may look, torch.finfo(model.dtype).min where it may not")
    if answer.dtype != dtype:
        return f"its dtype is {answer.dtype}; the model's scores are {dtype}: build it with dtype=model.dtype"
    later = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)
    values = answer[0, 0].detach()
    hidden, shown = values <= -1e4, values == 0  # weight 0 after a softmax: finfo's min, -1e9 or -inf
    if torch.equal(hidden, later.T) and n > 1:
        return "it hides the tokens before each token and shows those after it: the mask the wrong way round"
    if bool(hidden.diagonal().any()):
        return "it hides each token from itself (the diagonal); a token may look at itself: triu(diagonal=1)"
    if not bool(hidden[later].all()):
        return (f"a token after the query gets {float(values[later][~hidden[later]][0]):g}, which leaves it weight "
                "after the softmax: add the most negative float there, torch.finfo(model.dtype).min")
    if not bool(shown[~later].all()):
        return (f"where a token may look the mask must add 0; it adds {float(values[~later][~shown[~later]][0]):g}, "
                "which shifts those scores")
    return None


def causal_mask_verdict(my_causal_mask, model, tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """Exercise 9(a): ``my_causal_mask`` against ``causal_mask`` (4, 1 and ``text``'s tokens), then in the model."""
    encoded, blanks = encode_masked(tokenizer, text)
    length = encoded["input_ids"].shape[1]
    for n in (4, 1, length):
        with without((sys.modules["utils.fill_mask"], "causal_mask")):  # what this exercise rebuilds
            answer = my_causal_mask(n)
        if answer is None:
            return NOT_ANSWERED_HINT
        if (problem := _mask_problem(answer, n, model.dtype)) is not None:
            return f"Not quite: {problem}."
    with torch.no_grad():
        mine, reference = (model(input_ids=encoded["input_ids"], attention_mask=m).logits[0, blanks[0]].softmax(-1)
                           for m in (my_causal_mask(length), causal_mask(length, model.dtype)))
    if (problem := mismatch(mine, reference)) is not None:
        return f"Not quite: through the model, the probabilities at the blank differ: {problem}."
    return (f"Correct: your mask equals utils.fill_mask.causal_mask, for 4, 1 and {length} tokens (0 on and below the "
            "diagonal, the most negative float above it), and through the model it gives the same probabilities at "
            "the blank.")


def mask_in_use(my_causal_mask, model, tokenizer: PreTrainedTokenizerBase, text: str):
    """The causal mask exercise 9(c)'s experiment runs, as a function of n: the student's ``my_causal_mask`` once
    exercise 9(a)'s check passes it, else ``utils.fill_mask.causal_mask``. One printed line says which."""
    try:
        yours = callable(my_causal_mask) and causal_mask_verdict(my_causal_mask, model, tokenizer, text).startswith(
            "Correct")
    except Exception:  # an answer that raises is not yet right; its own check cell shows the error
        yours = False
    if yours:
        print("The causal mask here is yours: my_causal_mask passed exercise 9 (a)'s check.")
        return my_causal_mask
    print("The causal mask here is utils.fill_mask.causal_mask: yours has not passed exercise 9 (a)'s check yet.")
    return lambda n: causal_mask(n, model.dtype)


def loss_in_use(my_mlm_loss, model, batch) -> tuple[object | None, str]:
    """The masked-LM loss the ten training steps use: the student's ``my_mlm_loss(logits, labels)`` once exercise
    11's check passes it on ``batch`` and it keeps its gradient (a tensor, not a float), else None (the model's own
    ``loss``); and one line that says which, for the cell to print after its prediction's gate."""
    with torch.no_grad():
        out = model(**batch)
    try:
        right = callable(my_mlm_loss) and loss_verdict(my_mlm_loss, out.logits, batch["labels"],
                                                       out.loss.item()).startswith("Correct")
        logits = out.logits.detach().clone().requires_grad_()
        with warnings.catch_warnings():  # an answer that calls float() on the loss: told below, without a warning
            warnings.filterwarnings("ignore", "Converting a tensor with requires_grad=True to a scalar")
            probe = my_mlm_loss(logits, batch["labels"].clone()) if right else None
        keeps_gradient = getattr(probe, "grad_fn", None) is not None
    except Exception:  # an answer that raises is not yet right; its own check cell shows the error
        right = keeps_gradient = False
    if keeps_gradient:
        return my_mlm_loss, "The ten steps train with your my_mlm_loss: exercise 13's check passed it."
    return None, "The ten steps train with the model's own loss: " + (
        "your my_mlm_loss gives the right number but no gradient (keep it a tensor: no .item() or float())." if right
        else "yours has not passed exercise 13's check yet.")


def corruption_in_use(my_mask_tokens, tokenizer: PreTrainedTokenizerBase, batch: dict, seed: int) -> tuple[dict, str]:
    """The batch exercise 13 and the ten training steps use: the collator's ``batch`` as it is, or, once exercise 12's
    check passes ``my_mask_tokens`` on the batch's own ids, the same sentences corrupted by it (under ``seed``, so a
    rerun draws the same); and one line that says which."""
    labels = batch["labels"]
    original = torch.where(labels != -100, labels, batch["input_ids"])  # the ids before the collator corrupted them
    try:
        verdict = corruption_verdict(my_mask_tokens, tokenizer, original) if callable(my_mask_tokens) else ""
        right = verdict.startswith("Correct")
        if right:
            with seeded(seed), without(*COLLATOR_ITSELF):
                inputs, labels = (torch.as_tensor(part).to(original.dtype)
                                  for part in my_mask_tokens(original.clone()))
            right = bool((labels != -100).any())  # a draw that picked nothing leaves no loss to learn from
    except Exception:  # an answer that raises is not yet right; its own check cell shows the error
        right = False
    if right:
        return batch | {"input_ids": inputs, "labels": labels}, (
            "Your my_mask_tokens corrupted this batch: exercise 12's check passed it.")
    return batch, "The collator corrupted this batch: your my_mask_tokens has not passed exercise 12's check yet."
