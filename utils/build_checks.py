"""Notebook 2's build-it-yourself check cells, one verdict each: attention at toy size (the weights by hand), then the
answer run on the model that ran and, as an optional extra line, on the other architecture
(``utils.blocks.tiny_other_architecture``), and the logit lens, on the model that ran (with the layers its table
and grid show, and the table). Each verdict is one message:
not answered, the first thing wrong (``utils.support.build_mistakes`` names it, on which model), or what the answer
got right. The check cells print it inside ``utils.exercises.verdict``, so a crash in the student's code is reported
too."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import torch
from transformers import PreTrainedModel

from utils.attention import AttentionHead, attention_head, attention_weights, layer_projections
from utils.blocks import LayerParts, ModelParts
from utils.exercises import NOT_ANSWERED, NOT_ANSWERED_HINT, describe, mismatch, reference, without
from utils.prediction_checks import lens_settles
from utils.sampling import filtered_probabilities, filters_itself
from utils.support.build_mistakes import (
    all_heads_mistake,
    cached_head_mistake,
    filter_mistake,
    final_norm_read,
    forward_mistake,
    head_mistake,
    layer_mistake,
    norm_mistake,
    rotation_mistake,
    unanswered,
)
from utils.support.layout_mistakes import head_weights_mistake

RAN = "the model that ran"


def _said(problem: str | None) -> str | None:
    """A grader's problem as the verdict's line: the hint when unanswered, "Not quite" when wrong, None when right."""
    if problem == NOT_ANSWERED:
        return NOT_ANSWERED_HINT
    return None if problem is None else f"Not quite: {problem}"


def _first(problems) -> str | None:
    """The first problem of ``(where, problem thunk)`` pairs, as the verdict's "Not quite" line; None when none."""
    for where, problem in problems:
        if (found := problem()) == NOT_ANSWERED:
            return NOT_ANSWERED_HINT
        if found is not None:
            return f"Not quite, on {where}: {found}"
    return None


def _other_line(where: str, problem) -> str:
    """The other architecture's part of a verdict, optional: "" when ``problem()`` finds nothing wrong there, else a
    line saying what differs (a crash there leaves the core verdict standing)."""
    try:
        found = _first([(where, problem)])
    except Exception as error:  # noqa: BLE001 (a student's code raises anything)
        found = f"Not quite, on {where}: your code raised {type(error).__name__}: {str(error)[:200]}"
    return "" if found is None else f"\nOptional, the other architecture: {found[0].lower()}{found[1:]}"


def _ran_then_other(problems) -> tuple[str | None, str]:
    """The core verdict's problem on the model that ran (the first of two ``(where, problem thunk)`` pairs), as its
    "Not quite" line, None when right; and, once that is right, the other architecture's ``_other_line``."""
    ran, other = problems
    if (said := _first([ran])) is not None:
        return said, ""
    return None, _other_line(*other)


def filter_verdict(my_filter: Callable, last: torch.Tensor, notebook_globals: dict) -> str:
    """Exercise 5: ``my_filter(logits, temperature, top_k, top_p)`` at five settings, against
    ``utils.sampling.filtered_probabilities``, which (with ``generate``'s logits warpers) is refused meanwhile."""
    settings = [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.0, 10, 1.0), (1.0, 0, 0.9), (1.5, 50, 0.8)]  # temperature, k, p
    with without(*filters_itself(notebook_globals)):
        answers = [my_filter(last.clone(), *setting) for setting in settings]
    if all(a is None for a in answers):
        return NOT_ANSWERED_HINT
    for (temperature, top_k, top_p), answer in zip(settings, answers):
        problem = filter_mistake(answer, filtered_probabilities(last, temperature, top_k, top_p), top_p)
        if problem is not None:
            return f"Not quite at temperature {temperature}, top_k {top_k}, top_p {top_p}: {problem}"
    kept = (filtered_probabilities(last, *settings[-1]) > 0).sum()
    return f"Correct: all {len(settings)} settings match; the last keeps {kept} of {len(last):,} tokens."


def head_verdict(my_attention_head: Callable, head: AttentionHead, other_head: AttentionHead, other_name: str,
                 tokens: list[str]) -> str:
    """Exercise 8: one attention head (its weights and output) against head 0 of layer 0, each reading its own x."""
    blank, other_blank = head.on(head.x), other_head.on(other_head.x)  # the heads without the model's own answers
    if unanswered(answer := my_attention_head(blank)):
        return NOT_ANSWERED_HINT
    if (problem := head_mistake(answer, head)) is not None:
        return f"Not quite: {problem}"
    extra = _other_line(other_name, lambda: head_mistake(my_attention_head(other_blank), other_head))
    last_row = head.weights[-1]
    strongest = int(last_row.argmax())
    return (f"Correct: your head equals head 0 of layer 0 in {RAN}{'' if extra else f' and in {other_name}'}: "
            f"weights and output. The last position, {tokens[-1]!r}, gives {last_row[strongest]:.0%} of its "
            f"attention to {tokens[strongest]!r}.{extra}")


def all_heads_verdict(my_all_heads: Callable, model: PreTrainedModel, other: PreTrainedModel,
                      input_ids: torch.Tensor) -> str:
    """Exercise 8b: every head of layer 0 at once, on both architectures."""
    if said := _said(all_heads_mistake(my_all_heads, model, input_ids)):
        return said
    extra = _other_line(other.name_or_path, lambda: all_heads_mistake(my_all_heads, other, input_ids))
    mine, theirs = layer_projections(model, 0), layer_projections(other, 0)
    return (f"Correct: all {mine.heads} heads of layer 0 at once, equal to the model's own"
            + (extra or f", and all {theirs.heads} of {other.name_or_path}'s ({theirs.kv_heads} key/value heads)."))


def rotation_verdict(my_rotate: Callable, rotary_model: PreTrainedModel, rotary_name: str,
                     input_ids: torch.Tensor) -> str:
    """Exercise 8c: RoPE, on the Llama-style model of the two."""
    return _said(rotation_mistake(my_rotate, rotary_model, input_ids)) or (
        f"Correct: your rotation equals that of {rotary_name}, for layer 0's queries from position 0 and from "
        "position 3. A turn keeps each pair's length, so each query keeps its length too.")


def head_weights_verdict(my_head_weights: Callable, model: PreTrainedModel, other: PreTrainedModel,
                         places=()) -> str:
    """Exercise 8d: one head's six tensors cut out of the checkpoint of the model that ran, then (optional) of the
    other architecture's (``places``: the notebook's own cutters)."""
    found, extra = _ran_then_other([(f"{where} ({m.config.model_type})",
                                     lambda m=m: head_weights_mistake(my_head_weights, m, places=places))
                                    for where, m in ((RAN, model), ("other", other))])
    return found or (f"Correct: your six tensors are the ones every exercise above used, for three heads of "
                     f"{'the model that ran' if extra else 'each model'}. GPT-2 keeps q, k and v in one matrix, read "
                     f"by columns; a Llama-style model keeps three, read by rows.{extra}")


def _named(ran: tuple, other: tuple) -> list[tuple]:
    """(name, model, its part) for the model that ran and for the other architecture, each given as (model, part)."""
    return [(RAN, *ran), (other[0].name_or_path, *other)]


def cached_head_verdict(my_cached_step: Callable, ran: tuple[PreTrainedModel, AttentionHead],
                        other: tuple[PreTrainedModel, AttentionHead], text_ids: torch.Tensor) -> str:
    """Exercise 9: a head one position at a time from a KV cache, against the head recomputed on the whole prefix at
    every step; ``ran`` and ``other``: each architecture's model and its head on ``text_ids``."""
    runs, first = _named(ran, other), ran[1]
    if my_cached_step(first.on(first.x), first.x[0], 0, {"k": [], "v": []}) is None:
        return NOT_ANSWERED_HINT

    def problem(m, h):  # the full recompute: the head on each prefix; its last position is the new one
        recomputed = [attention_head(m, text_ids[:, :t + 1]).output[-1] for t in range(text_ids.shape[1])]
        return lambda: cached_head_mistake(my_cached_step, h, recomputed)

    found, extra = _ran_then_other([(name, problem(m, h)) for name, m, h in runs])
    return found or (f"Correct: at each of the {text_ids.shape[1]} steps your cached head equals the head recomputed "
                     f"on the whole prefix, {'in the model that ran' if extra else 'on both models'}, from one new "
                     "query, key and value per step. No mask is needed: the cache holds only the past and the "
                     f"present.{extra}")


def norm_verdict(my_norm: Callable, ran: tuple[PreTrainedModel, LayerParts], other: tuple[PreTrainedModel, LayerParts],
                 input_ids: torch.Tensor) -> str:
    """Exercise 10a: layer 0's first norm; ``ran`` and ``other``: each architecture's model and its layer 0's
    parts."""
    runs, first = _named(ran, other), ran[1]
    if my_norm(first.x, first.norm_1) is None:
        return NOT_ANSWERED_HINT
    found, extra = _ran_then_other([(f"{name} ({p.architecture})", lambda m=m: norm_mistake(my_norm, m, input_ids))
                                    for name, m, p in runs])
    kinds = [f"{'LayerNorm' if p.norm_1.subtracts_mean else 'RMSNorm'} in {p.architecture}" for _, _, p in runs]
    read = kinds[0] if extra else " and ".join(kinds)  # the other architecture's only where it passed too
    return found or f"Correct: your norm is what layer 0's heads read, {read}.{extra}"


def layer_verdict(my_norm: Callable, my_layer: Callable, ran: tuple[PreTrainedModel, LayerParts],
                  other: tuple[PreTrainedModel, LayerParts], input_ids: torch.Tensor,
                  my_all_heads: Callable | None = None) -> str:
    """Exercise 10b: the whole of decoder layer 0 (with the student's norm), against ``hidden_states[1]``; where the
    layer fails on a None and ``my_all_heads`` (exercise 8b) still returns None, it says to finish 8b first."""
    runs, first = _named(ran, other), ran[1]
    if my_norm(first.x, first.norm_1) is None:
        return ("Exercise 10a first: my_norm still returns None, and your layer calls it. (Or borrow its reference: "
                "from utils.exercises import reference; my_norm = reference('my_norm').)")
    try:
        found, extra = _ran_then_other([(f"{name} ({p.architecture})",
                                         lambda m=m: layer_mistake(my_norm, my_layer, m, input_ids))
                                        for name, m, p in runs])
    except AttributeError as error:
        if not re.search(r"'LayerParts' object has no attribute '(W_[qkv]|b_[qkv]|kv_heads|size|rotate)'", str(error)):
            raise
        return (f"Not quite: your code raised AttributeError: {error}. The heads' weights, all at once, are "
                "parts.projections: my_all_heads(a, parts.projections).")
    if found is not None and "None" in found and callable(my_all_heads):
        try:
            unanswered = my_all_heads(first.x.clone(), first.projections) is None
        except Exception:  # noqa: BLE001 - any failure here leaves the layer's own verdict standing
            unanswered = False
        if unanswered:
            return ("Exercise 8b first: my_all_heads still returns None, and your layer calls it. (Or borrow its "
                    "reference: from utils.exercises import reference; my_all_heads = reference('my_all_heads').)")
    return found or (f"Correct: your layer 0 equals hidden_states[1] in the model that ran"
                     f"{'' if extra else ' and in the other architecture'}: your norms, heads, output projection, MLP "
                     f"and both residual connections.{extra}")


def forward_verdict(my_forward: Callable, model: PreTrainedModel, other: PreTrainedModel, input_ids: torch.Tensor,
                    whole: ModelParts) -> str:
    """Exercise 11: token ids to logits with the student's own layers, against the model's logits (``whole``: the
    model that ran's parts, as the student's code reads them)."""
    found, extra = _ran_then_other([(name, lambda m=m: forward_mistake(my_forward, m, input_ids))
                                    for name, m in ((RAN, model), (other.name_or_path, other))])
    if found is not None:
        return found
    with torch.no_grad():
        mine = torch.as_tensor(my_forward(input_ids, whole))
        gap = (mine.reshape(-1) - model(input_ids=input_ids).logits.reshape(-1)).abs().max()
    return (f"Correct: from token ids to logits, your code is the model: embeddings, {len(whole.layers)} layers of "
            f"your own, the final norm and the LM head{'' if extra else ', on both architectures'}. Largest "
            f"difference from the model's logits here: {gap:.1e}.{extra}")


def lens_in_use(my_lens: Callable, model: PreTrainedModel, input_ids: torch.Tensor) -> tuple[Callable, str]:
    """The lens the table and the grid read every layer with: the student's ``my_lens`` where exercise 12's check
    passes it, else the reference solution's; and whose it is, in words."""
    try:
        said = logit_lens_verdict(my_lens, model, input_ids)
    except Exception:  # noqa: BLE001 - a student's function: whatever it raises, the reference reads the layers
        said = ""
    if said.startswith("Correct"):
        return my_lens, "your my_lens"
    why = "is not written yet" if said == NOT_ANSWERED_HINT else "does not pass exercise 12's check yet"
    return reference("my_lens"), f"the reference my_lens (yours {why})"


def lens_layers(lens: list[torch.Tensor], final_choice: int) -> set[int]:
    """The layers the lens table and grid show: at most eight, evenly spaced from 0, the output (the last entry of
    ``lens``, one probability vector per layer), the first from which ``final_choice`` stays the lens's top token, the
    one before it (where something else was on top), and the one where ``final_choice``'s probability is highest: at
    most 12 rows, so that the table fits a slide."""
    layers, settles = len(lens) - 1, lens_settles(lens, final_choice)
    return {*range(0, layers, -(-layers // 8)), layers, settles, max(settles - 1, 0), lens_peak(lens, final_choice)}


def lens_peak(lens: list[torch.Tensor], final_choice: int) -> int:
    """The layer (0: the embeddings) where the lens gives ``final_choice`` its highest probability."""
    return max(range(len(lens)), key=lambda layer: lens[layer][final_choice])


def lens_table(lens: list[torch.Tensor], shown: set[int], final_choice: int, tokenizer) -> None:
    """The logit lens as a table: for each row of ``shown`` (the vector after that many layers; 0: the embeddings), its
    top token, that token's probability and the final choice's; the row from which the final choice stays on top is
    marked. Then where the final choice's probability is highest, and what it is at the output."""
    layers, choice, settles = len(lens) - 1, repr(tokenizer.decode([final_choice])), lens_settles(lens, final_choice)
    width = max(12, *(len(repr(tokenizer.decode([int(lens[n].argmax())]))) for n in shown))
    print(f"layers {'top token':<{width}}    p   p({choice})")
    for layer in sorted(shown):
        best = int(lens[layer].argmax())
        mark = ("   <- the output" if layer == layers else "") + ("   <- on top from here" if layer == settles else "")
        print(f"{layer:>5}  {tokenizer.decode([best])!r:<{width}} {lens[layer][best]:.2f}   "
              f"{lens[layer][final_choice]:.3f}{mark}")
    peak = lens_peak(lens, final_choice)
    print(f"p({choice}) is highest after {peak} of the {layers} layers, {lens[peak][final_choice]:.2f}, and "
          f"{lens[layers][final_choice]:.2f} at the output")


@torch.no_grad()
def logit_lens_verdict(my_lens: Callable, model: PreTrainedModel, input_ids: torch.Tensor) -> str:
    """Exercise 12: ``my_lens(h, final_norm, lm_head)``, the probabilities the final norm and the LM head give one
    hidden vector, against the model's own output on the last layer's vector before its final norm (read by a hook),
    then on a middle layer's vector at the same position."""
    outputs, final_norm, last = final_norm_read(model, input_ids, output_hidden_states=True)
    lm_head = model.get_output_embeddings()
    middle = (len(outputs.hidden_states) - 1) // 2
    cases = (("the last layer's vector (before the final norm)", last[-1], outputs.logits[0, -1]),
             (f"the vector after {middle} layers", outputs.hidden_states[middle][0, -1],
              lm_head(final_norm(outputs.hidden_states[middle][0, -1]))))
    for name, h, scores in cases:
        answer = my_lens(h.clone(), final_norm, lm_head)
        if answer is None:
            return NOT_ANSWERED_HINT
        expected = scores.float().softmax(-1)
        if (problem := mismatch(answer, expected)) is None:
            continue
        slips = {"those are the LM head's scores; a softmax turns them into probabilities": scores.float(),
                 "those are ln p (a log_softmax); the lens reads probabilities": scores.float().log_softmax(-1),
                 "the final norm was left out: the LM head reads a normed vector": lm_head(h).float().softmax(-1)}
        slip = next((slip for slip, wrong in slips.items() if mismatch(answer, wrong, atol=1e-4) is None), problem)
        return f"Not quite: on {name}, {slip}."
    return (f"Correct: on the last layer your lens gives the model's own output. It also reads the vector after "
            f"{middle} layers, which the final norm and the LM head were never trained to read. The table below reads "
            "every layer this way.")


def _weights_slip(mine: torch.Tensor, q: torch.Tensor, k: torch.Tensor) -> str:
    """What a wrong ``my_attention_weights(q, k)`` most likely did, from the weights it returned."""
    n, d = q.shape
    future = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)
    if bool(mine[future].abs().gt(1e-6).any()):
        return "a token after the query got weight: set the future's scores to -inf before the softmax"
    if bool(mine.isnan().any()):
        return "a row came out NaN: every score in it was hidden; a token may look at itself (triu(diagonal=1))"
    if not torch.allclose(mine.sum(-1), torch.ones(n), atol=1e-4):
        return "the rows do not add up to 1: take the softmax over each row (the last dimension), after the mask"
    slips = {"the scores were not divided by √d": attention_weights(q * d ** 0.5, k)[1],  # q kᵀ, as the slip has it
             "the scores were divided by d, not by √d": attention_weights(q / d ** 0.5, k)[1],
             "entry (i, j) must be query i against key j, q @ k.T": attention_weights(k, q)[1]}
    return next((slip for slip, wrong in slips.items() if torch.allclose(mine, wrong, atol=1e-5)),
                "the weights differ from the scores' masked row softmax")


def attention_weights_verdict(my_attention_weights, toy_q: torch.Tensor, toy_k: torch.Tensor) -> str:
    """Exercise 8, part 1: ``my_attention_weights(q, k)`` against ``utils.attention.attention_weights`` on the toy's
    three tokens, then on seven random ones with d = 4, spread wide enough that the scaling shows."""
    gen = torch.Generator().manual_seed(0)
    cases = {"the toy": (toy_q, toy_k), "seven random tokens": (3 * torch.randn(7, 4, generator=gen),
                                                                3 * torch.randn(7, 4, generator=gen))}
    for name, (q, k) in cases.items():
        with without((sys.modules["utils.attention"], "attention_weights")):  # what this exercise rebuilds
            mine = my_attention_weights(q.clone(), k.clone())  # copies: an in-place step cannot change the toy
        if mine is None:
            return NOT_ANSWERED_HINT
        if not isinstance(mine, torch.Tensor) or tuple(mine.shape) != (len(q), len(k)):
            return f"Not quite: on {name} return the ({len(q)}, {len(k)}) weights as a tensor; got {describe(mine)}."
        if not torch.allclose(mine.detach().float(), attention_weights(q, k)[1], atol=1e-5):
            return f"Not quite: on {name}, {_weights_slip(mine.detach().float(), q, k)}."
    return ("Correct: your weights equal utils.attention.attention_weights on the toy and on seven random tokens: "
            "scaled scores, the future hidden, a softmax over each row.")
