"""The check cells for the encoder and attention, kept out of the cells' sight. Notebook 1: exercise 1c, the
embeddings, against ``hidden_states[0]``; exercise 7's look inside attention: (c) the causal mask the experiment
used, against ``utils.fill_mask.causal_mask``; (d) one row of the attention map, from the head's weights, against the
model's own ``output_attentions``; (e) the head's output at the blank, against what the layer computed; exercise 7b,
the whole layer at the blank, against its ``hidden_states``. Notebook 2, attention at toy size: which token wins a
row, and the weights by hand (exercise 8, part 1). Each verdict returns a line to print, whatever the answer."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from utils.attention import attention_weights, encoder_embeddings, encoder_head, encoder_layer
from utils.exercises import NOT_ANSWERED, NOT_ANSWERED_HINT, describe, mismatch, number, without
from utils.fill_mask import causal_mask, encode_masked

SECOND_SENTENCE = "The cat sat on the {mask} by the door."  # a row the map never showed, of another length


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
    """Exercise 7(c): ``my_causal_mask`` against ``causal_mask`` (4, 1 and ``text``'s tokens), then in the model."""
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
    return (f"Correct: your mask equals the one at_the_blank uses, for 4, 1 and {length} tokens (0 on and below the "
            "diagonal, the most negative float above it), and through the model it gives the same probabilities at "
            "the blank.")


def _row_slip(mine: torch.Tensor, x: torch.Tensor, head, position: int, rows: torch.Tensor) -> str:
    """What a wrong ``my_attention_row`` most likely did, from the row it returned (``rows``: every row of the map)."""
    if bool(mine.isnan().any()):
        return "your row holds NaN: an exp that overflowed, or 0/0"
    if abs(float(mine.sum()) - 1) > 1e-3:
        return "your row does not add up to 1: the weights are the softmax of the scores over the positions"
    d = head.size
    q, k, v = (x @ w + b for w, b in ((head.W_q, head.b_q), (head.W_k, head.b_k), (head.W_v, head.b_v)))
    slips = {"the scores were not divided by √d": k @ q[position],
             "the scores were divided by d, not by √d": k @ q[position] / d,
             "the biases were left out (x @ W + b)": (x @ head.W_k) @ (x[position] @ head.W_q) / d ** 0.5,
             "queries and keys were swapped: the query is the blank's, x[position] @ W_q + b_q":
                 q @ k[position] / d ** 0.5,
             "the values stood in for the keys: k = x @ W_k + b_k": v @ q[position] / d ** 0.5}
    for slip, scores in slips.items():
        if torch.allclose(mine, scores.softmax(-1), atol=1e-5):
            return slip
    other = [j for j in range(len(rows)) if j != position and torch.allclose(mine, rows[j], atol=1e-5)]
    if other:
        return f"that is position {other[0]}'s row: take the query at `position`, {position}"
    return "it differs from the softmax of q·k/√d, with q the query at `position` and k every position's key"


@dataclass
class _Run:
    """One sentence through the model, and the student's answer on it: ``x`` what layer ``layer`` reads, ``weights``
    its heads' attention weights (heads, n, n), ``heads`` what they computed, side by side (n, h: the input of the
    layer's output projection), ``after`` what the layer passed on (``hidden_states[layer + 1]``)."""

    name: str
    ids: torch.Tensor
    blank: int
    x: torch.Tensor
    weights: torch.Tensor
    heads: torch.Tensor
    after: torch.Tensor
    answer: object


@torch.no_grad()
def _runs(function, model, tokenizer: PreTrainedTokenizerBase, parts, layer: int, text: str, refused=()):
    """``function(x, parts, blank)`` on ``text`` and on a second sentence of another length, each beside what the
    model computed there. Meanwhile the layer's own attention is refused (what exercise 7 rebuilds), and the
    modules of ``refused``."""
    attention = encoder_head(model, layer, 0).attention
    for name, sentence in (("the map's sentence", text),
                           ("a second sentence", SECOND_SENTENCE.format(mask=tokenizer.mask_token))):
        encoded, blanks = encode_masked(tokenizer, sentence)
        seen = {}
        hook = attention.register_forward_hook(lambda module, args, output, seen=seen:
                                               seen.update(output=output[0][0]))
        try:
            outputs = model(**encoded, output_attentions=True, output_hidden_states=True)
        finally:
            hook.remove()
        x = outputs.hidden_states[layer][0]
        with without((type(attention), "forward"), (sys.modules[type(attention).__module__], "eager_attention_forward"),
                     *((type(module), "forward") for module in refused)):
            answer = function(x.clone(), parts, blanks[0])  # a copy: an in-place step cannot change the check's x
        yield _Run(name, encoded["input_ids"][0], blanks[0], x, outputs.attentions[layer][0], seen["output"],
                   outputs.hidden_states[layer + 1][0], answer)


def _shape_problem(run: _Run, shape: tuple, what: str) -> str | None:
    """Why the answer is not a tensor of ``shape`` (``what`` it should hold), or None."""
    if isinstance(run.answer, torch.Tensor) and tuple(run.answer.shape) == shape:
        return None
    also = " (compute it from x, not from the map's outputs)" if run.name != "the map's sentence" else ""
    return (f"Not quite: on {run.name}, of {len(run.x)} tokens, return {what}, a tensor of shape {shape}{also}; got "
            f"{describe(run.answer)}.")


def attention_row_verdict(my_attention_row, model, tokenizer: PreTrainedTokenizerBase, layer: int, head: int,
                          text: str) -> str:
    """Exercise 7(d): ``my_attention_row(x, parts, position)`` against row ``position`` (the blank's) of head ``head``
    in layer ``layer``, as ``output_attentions`` returns it, on ``text`` and on a second sentence of another length."""
    parts = encoder_head(model, layer, head)
    largest = None
    for run in _runs(my_attention_row, model, tokenizer, parts, layer, text):
        if run.answer is None:
            return NOT_ANSWERED_HINT
        row = run.weights[head, run.blank]
        if mismatch(run.answer, row) is None:
            top = int(row.argmax())
            largest = largest or (tokenizer.convert_ids_to_tokens(int(run.ids[top])), float(row[top]))
            continue
        if (problem := _shape_problem(run, (len(run.x),), "one weight per position of x")) is not None:
            return problem
        slip = _row_slip(run.answer.detach().float(), run.x.float(), parts, run.blank, run.weights[head].float())
        return f"Not quite: on {run.name}, {slip}."
    return (f"Correct: your row equals the model's, on the map's sentence and on a second one: the blank's query "
            f"against every key, scaled by √{parts.size}, then a softmax. On the map's sentence its largest weight is "
            f"on {largest[0]!r} ({largest[1]:.0%}).")


def head_output_verdict(my_head_output, model, tokenizer: PreTrainedTokenizerBase, layer: int, head: int,
                        text: str) -> str:
    """Exercise 7(e): ``my_head_output(x, parts, position)`` against what head ``head`` of layer ``layer`` computed at
    ``position`` (the blank), read from the layer's self-attention by a hook, on ``text`` and on a second sentence."""
    parts = encoder_head(model, layer, head)
    columns = slice(head * parts.size, (head + 1) * parts.size)  # this head's share of the heads' outputs
    for run in _runs(my_head_output, model, tokenizer, parts, layer, text):
        if run.answer is None:
            return NOT_ANSWERED_HINT
        if mismatch(run.answer, run.heads[run.blank, columns]) is None:
            continue
        if (problem := _shape_problem(run, (parts.size,), f"the head's {parts.size} numbers at the blank")):
            return problem
        weights, x, mine = run.weights[head, run.blank].float(), run.x.float(), run.answer.detach().float()
        v = x @ parts.W_v + parts.b_v
        slips = {"the keys stood in for the values: v = x @ W_v + b_v": weights @ (x @ parts.W_k + parts.b_k),
                 "the values' bias was left out (x @ W_v + b_v)": weights @ (x @ parts.W_v),
                 "every value counted alike: weight each by your row, then add them up": v.mean(0),
                 "the values were added up without the row's weights": v.sum(0)}
        slip = next((slip for slip, wrong in slips.items() if torch.allclose(mine, wrong, atol=1e-5)),
                    "it differs from your row's weights times every token's value, added up")
        return f"Not quite: on {run.name}, {slip}."
    return (f"Correct: your output equals what the head computed at the blank, on the map's sentence and on a second "
            f"one: your row's weights times every token's value, {parts.size} numbers. The layer sets its heads' "
            "outputs side by side and projects them back to the hidden size; the residual adds that to the blank's "
            "vector.")


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, unbiased: bool = False):
    return (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=unbiased) + eps).sqrt() * weight + bias


def _embedding_slip(mine: torch.Tensor, ids: torch.Tensor, emb) -> str:
    """What a wrong ``my_embeddings`` most likely did, from what it returned."""
    n = len(ids)
    rows = torch.arange(emb.first_position, emb.first_position + n)

    def norm(x, unbiased=False):
        return _layer_norm(x, emb.norm_weight, emb.norm_bias, emb.norm_eps, unbiased)

    token, position, segment = emb.token[ids], emb.position[rows], emb.segment[0]
    slips = {"the position vectors are missing: add position[first_position + i] to token i":
                 norm(token + segment),
             "the segment vector is missing: add segment[0] (sentence A) to every token": norm(token + position),
             "the sum was not normalised: LayerNorm, with norm_weight, norm_bias and norm_eps, comes last":
                 token + position + segment,
             "the positions are one off: token i takes position row first_position + i, the first token's row first":
                 norm(token + emb.position[rows + 1] + segment),
             "LayerNorm divides the sum of squares by n; x.var() divides by n - 1: x.var(-1, unbiased=False)":
                 norm(token + position + segment, unbiased=True)}
    if emb.first_position:
        slips["the positions start at 0; this model's start at first_position"] = norm(
            token + emb.position[torch.arange(n)] + segment)
    return next((slip for slip, wrong in slips.items() if torch.allclose(mine, wrong, atol=1e-4)),
                "it differs from LayerNorm(token + position + segment), row by row")


def embeddings_verdict(my_embeddings, model, tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """Exercise 1c: ``my_embeddings(input_ids, emb)`` against ``hidden_states[0]`` on ``text`` and on a second
    sentence of another length; the model's embedding modules are refused while it runs."""
    emb = encoder_embeddings(model)
    module = model.base_model.embeddings
    for name, sentence in (("the chocolates sentence", text),
                           ("a second sentence", SECOND_SENTENCE.format(mask=tokenizer.mask_token))):
        encoded = tokenizer(sentence, return_tensors="pt")
        with torch.no_grad():
            expected = model(**encoded, output_hidden_states=True).hidden_states[0][0]
        ids = encoded["input_ids"][0]
        with without((type(module), "forward"), (torch.nn.Embedding, "forward"),
                     (torch.nn.functional, "embedding")):  # the lookups this exercise writes out
            answer = my_embeddings(ids.clone(), emb)
        if answer is None:
            return NOT_ANSWERED_HINT
        if mismatch(answer, expected, atol=1e-4) is None:
            continue
        shape = (len(ids), expected.shape[-1])
        if not isinstance(answer, torch.Tensor) or tuple(answer.shape) != shape:
            return (f"Not quite: on {name}, of {len(ids)} tokens, return one vector per token, a tensor of shape "
                    f"{shape}; got {describe(answer)}.")
        return f"Not quite: on {name}, {_embedding_slip(answer.detach().float(), ids, emb)}."
    return (f"Correct: your vectors equal hidden_states[0], on the chocolates sentence and on a second one: each "
            f"token's row, its position's and segment A's, added and normalised, {expected.shape[-1]} numbers each. "
            "Every layer after this one starts from them.")


def _layer_slip(mine: torch.Tensor, x: torch.Tensor, heads: torch.Tensor, p) -> str:
    """What a wrong ``my_layer_output`` most likely did, from what it returned: ``x`` is the blank's vector before
    the layer, ``heads`` every head's output there, side by side."""
    f = {name: getattr(p, name).float() for name in ("W_o", "b_o", "W_in", "b_in", "W_out", "b_out", "norm1_weight",
                                                       "norm1_bias", "norm2_weight", "norm2_bias")}

    def layer(attention_residual=True, projected=True, ffn_residual=True, activated=True, unbiased=False,
              second_half=True):
        mixed = heads @ f["W_o"] + f["b_o"] if projected else heads
        a = _layer_norm(mixed + (x if attention_residual else 0), f["norm1_weight"], f["norm1_bias"], p.norm_eps,
                        unbiased)
        if not second_half:
            return a
        inner = a @ f["W_in"] + f["b_in"]
        ffn = (p.activation(inner) if activated else inner) @ f["W_out"] + f["b_out"]
        return _layer_norm(ffn + (a if ffn_residual else 0), f["norm2_weight"], f["norm2_bias"], p.norm_eps, unbiased)

    slips = {"that is the attention half's output, a: now the feed-forward half, its residual and LayerNorm₂":
                 layer(second_half=False),
             "the attention half's residual is missing: add the blank's own vector x before LayerNorm₁":
                 layer(attention_residual=False),
             "the heads' outputs were not projected: side by side, they go through W_o and b_o first":
                 layer(projected=False),
             "the feed-forward half's residual is missing: add a, its input, before LayerNorm₂":
                 layer(ffn_residual=False),
             "the activation is missing between the feed-forward's two layers": layer(activated=False),
             "LayerNorm divides the sum of squares by n; x.var() divides by n - 1: x.var(-1, unbiased=False)":
                 layer(unbiased=True)}
    return next((slip for slip, wrong in slips.items() if torch.allclose(mine, wrong, atol=1e-4)),
                "it differs from the two halves, each added to its input and then normalised")


def layer_output_verdict(my_layer_output, model, tokenizer: PreTrainedTokenizerBase, layer: int, text: str) -> str:
    """Exercise 7b: ``my_layer_output(x, layer_parts, position)`` against ``hidden_states[layer + 1]`` at
    ``position`` (the blank), on ``text`` and on a second sentence; the layer's modules are refused meanwhile."""
    parts = encoder_layer(model, layer)
    block = model.base_model.encoder.layer[layer]
    refused = (block, block.attention, block.attention.output, block.intermediate, block.output)
    hidden = model.config.hidden_size
    for run in _runs(my_layer_output, model, tokenizer, parts, layer, text, refused):
        if run.answer is None:
            return NOT_ANSWERED_HINT
        expected = run.after[run.blank]
        if mismatch(run.answer, expected, atol=1e-4) is None:  # after two norms: float32's rounding, a little wider
            continue
        if (problem := _shape_problem(run, (hidden,), f"the layer's {hidden} numbers at the blank")) is not None:
            return problem
        slip = _layer_slip(run.answer.detach().float(), run.x[run.blank].float(), run.heads[run.blank].float(), parts)
        return f"Not quite: on {run.name}, {slip}."
    return (f"Correct: your vector equals hidden_states[{layer + 1}] at the blank, on the map's sentence and on a "
            f"second one: {len(parts.heads)} heads side by side, projected, added to the blank's vector and "
            "normalised; then the feed-forward network, added and normalised again. Only attention looked at the "
            "other positions; every other step read the blank's vector alone.")


def largest_weight_verdict(guess, q: torch.Tensor, k: torch.Tensor, weights: torch.Tensor) -> str:
    """The toy attention's prediction: which token (1, 2, ...) gets the last row's largest weight (``weights``: the
    rows' softmax, the future masked), with the dot products of the last query ``q[-1]`` with each key ``k[j]``."""
    if guess is None or (isinstance(guess, str) and not guess.strip()):
        return NOT_ANSWERED
    row, n = weights[-1], len(weights)
    pick, top = number(guess), int(row.argmax()) + 1
    if pick is None or pick not in range(1, n + 1):
        return f"Answer a token's number, 1 to {n} (got {describe(guess)})."
    dots = "; ".join(f"token {j + 1}: q·k = {float(q[-1] @ k[j]):g}, weight {float(w):.2f}" for j, w in enumerate(row))
    why = ("" if top == n else f" A score is a dot product, not a likeness: a long key along the query can score "
           f"more than the token's own key, {float(q[-1] @ k[-1]):g} here.")
    return f"{'Right' if pick == top else 'Not this time'}: token {top} gets row {n}'s largest weight ({dots}).{why}"


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
