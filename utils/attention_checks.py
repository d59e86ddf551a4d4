"""Notebook 1's check cells for the encoder and attention, kept out of the cells' sight: exercise 1c, the embeddings,
against ``hidden_states[0]``; 8(a), one row of the attention map, from the head's weights, against the model's own
``output_attentions``; 8(b), the head's output at the blank, against what the layer computed; 9(b), the whole map
at once under the causal mask, against the model's under the same mask; 10, the whole layer at the blank,
against its ``hidden_states``; 11, the student's pieces chained into the whole model, against its logits.
(9(a), the mask itself: ``utils.mask_checks``.) Each verdict returns a line to print, whatever the answer."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from utils.attention import ATTENTION_ITSELF, encoder_embeddings, encoder_head, encoder_layer
from utils.exercises import NOT_ANSWERED_HINT, describe, mismatch, without
from utils.fill_mask import causal_mask, encode_masked

SECOND_SENTENCE = "The cat sat on the {mask} by the door."  # a row the map never showed, of another length


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
def _runs(function, model, tokenizer: PreTrainedTokenizerBase, parts, layer: int, text: str, refused=(),
          causal: bool = False, position: bool = True):
    """``function(x, parts, blank)`` on ``text`` and on a second sentence of another length, each beside what the
    model computed there. Meanwhile the layer's own attention and PyTorch's are refused (what exercise 8 rebuilds),
    and the modules of ``refused``. ``causal``: the model runs under ``causal_mask``, and ``function`` gets it too.
    ``position`` False: ``function(x, parts[, mask])``, every position at once."""
    attention = encoder_head(model, layer, 0).attention
    for name, sentence in (("the map's sentence", text),
                           ("a second sentence", SECOND_SENTENCE.format(mask=tokenizer.mask_token))):
        encoded, blanks = encode_masked(tokenizer, sentence)
        mask = causal_mask(encoded["input_ids"].shape[1], model.dtype)
        seen = {}
        hook = attention.register_forward_hook(lambda module, args, output, seen=seen:
                                               seen.update(output=output[0][0]))
        try:
            outputs = model(**(encoded | {"attention_mask": mask} if causal else encoded), output_attentions=True,
                            output_hidden_states=True)
        finally:
            hook.remove()
        x = outputs.hidden_states[layer][0]
        own = ((type(attention), "forward"), (sys.modules[type(attention).__module__], "eager_attention_forward"))
        with without(*own, *ATTENTION_ITSELF, *((type(module), "forward") for module in refused)):
            # copies: in-place steps change nothing
            answer = function(x.clone(), parts, *((blanks[0],) if position else ()),
                              *((mask.clone(),) if causal else ()))
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
    """Exercise 8(a): ``my_attention_row(x, parts, position)`` against row ``position`` (the blank's) of head ``head``
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
    """Exercise 8(b): ``my_head_output(x, parts, position)`` against what head ``head`` of layer ``layer`` computed at
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


def masked_map_verdict(my_masked_map, model, tokenizer: PreTrainedTokenizerBase, layer: int, head: int,
                       text: str) -> str:
    """Exercise 9(b): ``my_masked_map(x, parts, mask)``, every row of head ``head``'s map in layer ``layer`` at once,
    against the model's own (``output_attentions``) with the model run under ``causal_mask``, on ``text`` and on a
    second sentence of another length."""
    parts = encoder_head(model, layer, head)
    blank_row = None
    for run in _runs(my_masked_map, model, tokenizer, parts, layer, text, causal=True, position=False):
        if run.answer is None:
            return NOT_ANSWERED_HINT
        expected = run.weights[head]
        if mismatch(run.answer, expected) is None:
            blank_row = blank_row or (run.blank, int((expected[run.blank] > 0).sum()), len(run.x))
            continue
        n = len(run.x)
        if (problem := _shape_problem(run, (n, n), "one row of weights per position of x")) is not None:
            return problem
        mine, x = run.answer.detach().float(), run.x.float()
        q, k = x @ parts.W_q + parts.b_q, x @ parts.W_k + parts.b_k
        scores = q @ k.T / parts.size ** 0.5
        mask = causal_mask(n, torch.float32)[0, 0]
        slips = {"it is the map without the mask: add mask[0, 0] to the scores, before the softmax, so each token's "
                 "later tokens get weight 0": scores,
                 "the mask is transposed: row i must hide the columns after i (mask[0, 0], not its .T)":
                     scores + mask.T,
                 "queries and keys were swapped: row i holds query i against every key, Q Kᵀ, not K Qᵀ":
                     scores.T + mask,
                 "the scores were not divided by √d": q @ k.T + mask,
                 "the biases were left out (x @ W + b)": (x @ parts.W_q) @ (x @ parts.W_k).T / parts.size ** 0.5 + mask}
        slip = next((slip for slip, wrong in slips.items() if torch.allclose(mine, wrong.softmax(-1), atol=1e-5)),
                    None)
        if slip is None and bool((mine < -1).any()):
            slip = ("it holds large negative numbers: the mask was added after the softmax; add it to the scores "
                    "before, and the softmax turns those places into weight 0")
        if slip is None:
            rows = [i for i in range(n) if mismatch(run.answer[i], expected[i]) is not None]
            which = (f"row {rows[0]} differs" if len(rows) == 1 else
                     f"{len(rows)} of its {n} rows differ (the first: row {rows[0]})" if len(rows) < n else
                     "every row differs")
            slip = f"{which} from the softmax of Q Kᵀ/√d plus the mask"
        return f"Not quite: on {run.name}, {slip}."
    blank, seen, n = blank_row
    return (f"Correct: your map equals the model's under the causal mask, every row, on the map's sentence and on a "
            f"second one: one product Q Kᵀ scores every query against every key, and the mask's matrix zeroes each "
            f"row's later tokens. Row {blank}, the blank's, is (a)'s row under the mask: {seen} of its {n} weights "
            f"are above 0, on the blank and the tokens before it.")


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
             "LayerNorm divides the sum of squares by n; x.var() divides by n - 1: x.var(-1, correction=0)":
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
              second_half=True, transposed=False):
        mixed = heads @ (f["W_o"].T if transposed else f["W_o"]) + f["b_o"] if projected else heads
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
             "o @ W_o.T: these weights are (in, out) already, so o @ W_o (exercise 2a's nn.Linear ones were (out, in))":
                 layer(transposed=True),
             "LayerNorm divides the sum of squares by n; x.var() divides by n - 1: x.var(-1, correction=0)":
                 layer(unbiased=True)}
    return next((slip for slip, wrong in slips.items() if torch.allclose(mine, wrong, atol=1e-4)),
                "it differs from the two halves, each added to its input and then normalised")


def layer_output_verdict(my_layer_output, model, tokenizer: PreTrainedTokenizerBase, layer: int, text: str) -> str:
    """Exercise 10: ``my_layer_output(x, layer_parts, position)`` against ``hidden_states[layer + 1]`` at
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


def _piece_problem(pieces: dict, model, encoded, blank: int, mlm_head) -> str:
    """Which of the student's pieces (``my_embeddings``, ``my_layer_output``, ``my_mlm_head``) differs from the model
    on this sentence, or how the chain joins them; each piece reads the model's own vectors here."""
    with torch.no_grad():
        outputs = model(**encoded, output_hidden_states=True)
    states, ids = outputs.hidden_states, encoded["input_ids"][0]
    if mismatch(pieces["my_embeddings"](ids.clone(), encoder_embeddings(model)), states[0][0], atol=1e-4):
        return "my_embeddings differs from hidden_states[0] (exercise 1c's check says how)"
    for layer in range(model.config.num_hidden_layers):
        parts = encoder_layer(model, layer)
        for position in range(len(ids)):
            mine = pieces["my_layer_output"](states[layer][0].clone(), parts, position)
            if mismatch(mine, states[layer + 1][0, position], atol=1e-3):
                return (f"my_layer_output differs from hidden_states[{layer + 1}] at position {position} (exercise "
                        "9's check tests one layer at the blank)")
    if mismatch(pieces["my_mlm_head"](states[-1][0, blank].clone(), mlm_head), outputs.logits[0, blank],
                atol=1e-3, rtol=1e-4):
        return "my_mlm_head differs from the model's logits (exercise 2a's check says how)"
    return ("each piece is right, so the chain joins them wrong: every layer reads the whole of the layer before (all "
            "n positions, stacked into one (n, hidden) tensor), and the head reads the last layer's vector at the "
            "position asked for")


def bert_verdict(my_bert, pieces: dict, model, tokenizer: PreTrainedTokenizerBase, text: str, mlm_head) -> str:
    """Exercise 11: ``my_bert(input_ids, position)``, the student's embeddings, every layer at every position and
    MLM head chained, against the model's logits at the blank of ``text`` and of a second sentence; every module of
    the model but its activations is refused while it runs. ``pieces`` holds the three functions it chains (to say
    which one to finish or mend); ``mlm_head``: ``utils.masking.mlm_head_weights(model)``."""
    if mlm_head is None:
        return "This model's MLM head is laid out otherwise than BERT's: this exercise does not apply to it."
    encoded, blanks = encode_masked(tokenizer, text)
    with torch.no_grad():
        states = model(**encoded, output_hidden_states=True).hidden_states
    ids = encoded["input_ids"][0]
    for name, exercise, args in (
            ("my_embeddings", "1c", (ids.clone(), encoder_embeddings(model))),
            ("my_layer_output", "10", (states[0][0].clone(), encoder_layer(model, 0), blanks[0])),
            ("my_mlm_head", "2a", (states[-1][0, blanks[0]].clone(), mlm_head))):
        if pieces[name](*args) is None:
            return (f"Exercise {exercise} first: {name} still returns None, and my_bert calls it. (Or borrow its "
                    f"reference: from utils.exercises import reference; {name} = reference({name!r}, '01_masked_lm').)")
    activations = {id(encoder_layer(model, layer).activation) for layer in range(model.config.num_hidden_layers)}
    refused = [(m, "forward") for m in model.modules() if id(m) not in activations | {id(mlm_head.activation)}]
    top = None  # your top 5 at the chocolates blank
    for name, sentence in (("the chocolates sentence", text),
                           ("a second sentence", SECOND_SENTENCE.format(mask=tokenizer.mask_token))):
        encoded, blanks = encode_masked(tokenizer, sentence)
        with torch.no_grad():
            expected = model(**encoded).logits[0, blanks[0]]
        with without(*refused), torch.no_grad():
            answer = my_bert(encoded["input_ids"][0].clone(), blanks[0])
        if answer is None:
            return NOT_ANSWERED_HINT
        if mismatch(answer, expected, atol=2e-3, rtol=1e-3) is None:
            top = top or [tokenizer.decode([i]).strip() for i in torch.as_tensor(answer).topk(5).indices.tolist()]
            continue
        if not isinstance(answer, torch.Tensor) or tuple(answer.shape) != tuple(expected.shape):
            return (f"Not quite: on {name}, return the {len(expected):,} scores at the position asked for, a tensor "
                    f"of shape {tuple(expected.shape)}; got {describe(answer)}.")
        return f"Not quite: on {name}, {_piece_problem(pieces, model, encoded, blanks[0], mlm_head)}."
    return (f"Correct: your BERT's {len(expected):,} scores are the model's logits at the blank, on the chocolates "
            f"sentence and on a second one: your embeddings, {model.config.num_hidden_layers} layers of "
            f"{model.config.num_attention_heads} heads each at every position, then your MLM head, with none of the "
            f"model's modules. Its top 5 at the chocolates blank: {', '.join(top)}.")
