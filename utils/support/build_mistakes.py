"""What notebook 2's build-it-yourself check cells say about an answer (of any type): None when it is right, else
the first thing wrong, in words, against the model's own numbers: ``head_mistake`` one attention head,
``all_heads_mistake`` every head at once, ``rotation_mistake`` RoPE, ``cached_head_mistake`` a head one position at
a time with a KV cache, ``norm_mistake`` a layer's first norm, ``layer_mistake`` a decoder layer, ``forward_mistake``
the whole model, ``filter_mistake`` the sampling filters. Check cells print the message inside
``utils.exercises.verdict``; the usual slips are named (a layer without its second residual, a nucleus one token
short, a variance divided by n - 1, ...)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch
from transformers import PreTrainedModel

from utils.attention import (
    ATTENTION_ITSELF,
    AttentionHead,
    attention_head,
    attention_heads,
    layer_projections,
    rotary_frequencies,
)
from utils.blocks import LayerParts, Norm, layer_parts, model_parts
from utils.exercises import NOT_ANSWERED, describe, mismatch, without

NOT_THERE = ("Here parts.x, and each head's x, weights and output, are None: compute from the x your layer is given "
             "(a = my_norm(x, parts.norm_1), then each head on a: head.on(a)).")
NO_HEAD_X = ("Here head.x, weights and output are None: a decoding step has only x_t, this position's row, and the "
             "cache of the steps before.")


def unanswered(answer) -> bool:
    """The answer cell as handed out: None, or a tuple or list of Nones."""
    return answer is None or (isinstance(answer, (tuple, list)) and len(answer) > 0
                              and all(a is None for a in answer))


def _as_tensor(answer, shape) -> torch.Tensor | None:
    """``answer`` as a float tensor when it is one of this shape (a tensor, an array, nested lists), else None."""
    try:
        tensor = torch.as_tensor(answer.detach() if isinstance(answer, torch.Tensor) else answer).float().cpu()
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    return tensor if tuple(tensor.shape) == tuple(shape) else None


def head_mistake(answer, head: AttentionHead) -> str | None:
    """``answer``, a student's ``(weights, output)`` for ``head``, against the model's own weights and output."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return f"return two things, (weights, output); got {describe(answer)}."
    weights, output = answer
    problem = mismatch(weights, head.weights, atol=1e-5, rtol=1e-4)
    if problem is None:
        problem = mismatch(output, head.output, atol=1e-5, rtol=1e-4)
        return None if problem is None else f"the weights are right; the output is not: {problem}. (weights @ v)"
    w = _as_tensor(weights, head.weights.shape)
    if "shape" in problem:
        return f"the weights: {problem} (one row and one column per position)."
    if w is None:
        return f"the weights: {problem}."
    if not torch.isfinite(w).all():
        return "the weights hold -inf or nan. Apply the softmax after masking the scores."
    if w.triu(1).abs().max() > 1e-6:
        return ("your weights let positions see later tokens. Mask the scores above the diagonal with -inf before the "
                "softmax.")
    if not torch.allclose(w.sum(-1), torch.ones(len(w)), atol=1e-4):
        return "each row of weights must add up to 1 (softmax over the last dimension)."
    return f"the weights: {problem}. (Biases added? Scaled by 1/sqrt(d)? Queries and keys rotated?)"


# what exercise 10 rebuilds: LayerNorm and RMSNorm, as functions and as modules
NORM_ITSELF = (*((owner, name) for owner in (torch, torch.nn.functional) for name in ("layer_norm", "rms_norm")),
               (torch.nn.LayerNorm, "forward"), (torch.nn.RMSNorm, "forward"))


@torch.no_grad()
def all_heads_mistake(all_heads: Callable, model: PreTrainedModel, input_ids: torch.Tensor) -> str | None:
    """A student's ``all_heads(x, p)`` on layer 0 of ``model`` (``p``: ``utils.attention.layer_projections``)
    against what the layer's output projection read: every head's output side by side, (n, heads x d). Calling
    PyTorch's own attention is refused; ``NOT_ANSWERED`` for the answer cell as handed out (None)."""
    heads = attention_heads(model, input_ids, 0)
    expected = torch.cat([h.output for h in heads], dim=-1)
    p = layer_projections(model, 0)
    try:
        with without(*ATTENTION_ITSELF):
            got = all_heads(heads[0].x, p)
    except RuntimeError as error:  # (heads, ...) against (kv_heads, ...): the usual grouped-query slip
        if p.kv_heads == p.heads:
            raise
        return (f"your code raised RuntimeError: {error}. Here {p.heads} query heads share {p.kv_heads} key/value "
                f"heads: did you repeat each key/value head for its {p.heads // p.kv_heads} query heads before the "
                "scores?")
    if got is None:
        return NOT_ANSWERED
    if (problem := mismatch(got, expected, atol=1e-5, rtol=1e-4)) is None:
        return None
    n, d = expected.shape[0], p.size
    if _as_tensor(got, (p.heads, n, d)) is not None:
        return ("you return (heads, n, d): put the heads side by side again, (n, heads x d), with transpose(0, 1) "
                "then reshape.")
    flat = _as_tensor(got, expected.shape)
    if flat is None:
        return f"{problem} (one row per position, heads x d columns)."
    right = [h.head for h in heads if torch.allclose(flat[:, h.head * d:(h.head + 1) * d], h.output, atol=1e-4)]
    if right and p.kv_heads < p.heads:
        return (f"{problem}. Heads {right} are right, the others not: here {p.heads} query heads share {p.kv_heads} "
                f"key/value heads, each serving {p.heads // p.kv_heads} query heads in a row (repeat_interleave).")
    return (f"{problem}. (q, k and v viewed as (n, heads, d), then transposed to (heads, n, d)? Scores scaled by "
            "1/sqrt(d), the future masked, q and k rotated?)")


@torch.no_grad()
def rotation_mistake(rotate: Callable, model: PreTrainedModel, input_ids: torch.Tensor) -> str | None:
    """A student's ``rotate(t, inv_freq, start)`` (RoPE written out) against ``model``'s own rotation of layer 0's
    queries (head 0): the rows at positions 0, 1, ..., then the rows from position 3 on. The library's rotation is
    refused while the answer runs; ``NOT_ANSWERED`` for the answer cell as handed out (None)."""
    head, freqs = attention_head(model, input_ids, 0, 0), rotary_frequencies(model)
    scale = float(getattr(model.model.rotary_emb, "attention_scaling", 1.0))  # 1 unless the model rescales
    library = sys.modules[type(model).__module__]  # where the model's class finds apply_rotary_pos_emb
    q = head.x @ head.W_q + head.b_q
    for start in (0, 3):
        rows = q[start:]
        with without((library, "apply_rotary_pos_emb"), (library, "rotate_half")):
            got = rotate(rows.clone(), freqs.clone(), start)
        if got is None:
            return NOT_ANSWERED
        if (problem := mismatch(got, head.rotate(rows, start=start) / scale, atol=1e-4, rtol=1e-4)) is not None:
            return _rotation_slip(problem, _as_tensor(got, rows.shape), rows, freqs, start)
    return None


def _turned(rows: torch.Tensor, freqs: torch.Tensor, start: int, pairs: str = "halves", sign: int = 1):
    """``rows`` turned by position (the first at ``start``): dimension j paired with j + d/2 ("halves") or with its
    neighbour ("neighbours"), by the angle's ``sign``."""
    angles = torch.arange(start, start + len(rows)).float()[:, None] * freqs
    cos, sin = angles.cos(), sign * angles.sin()
    x1, x2 = rows.chunk(2, -1) if pairs == "halves" else (rows[:, 0::2], rows[:, 1::2])
    turned = (x1 * cos - x2 * sin, x1 * sin + x2 * cos)
    return torch.cat(turned, -1) if pairs == "halves" else torch.stack(turned, -1).flatten(1)


def _rotation_slip(problem: str, got: torch.Tensor | None, rows: torch.Tensor, freqs: torch.Tensor, start: int):
    """What a wrong rotation most likely did, in words."""
    slips = [(rows, "your rows come back unturned: turn each pair by its angle, position x inv_freq."),
             (_turned(rows, freqs, start, "neighbours"), "you paired neighbouring dimensions (2j, 2j + 1), as the "
              "RoPE paper writes it; this model pairs dimension j with j + d/2, the first half with the second."),
             (_turned(rows, freqs, start, sign=-1), "you turned each pair the wrong way: (x1, x2) becomes "
              "(x1 cos - x2 sin, x1 sin + x2 cos)."),
             (_turned(rows, freqs, 0), f"you turned the rows as if the first were at position 0; here it is at "
              f"position {start}: row i is position start + i.")]
    for wrong, slip in slips[:3] + slips[3:] * bool(start):
        if got is not None and torch.allclose(got, wrong, atol=1e-4, rtol=1e-4):
            return slip
    return f"{problem}. (One angle per row and pair, position x inv_freq; dimension j pairs with j + d/2.)"


def cached_head_mistake(step: Callable, head: AttentionHead, recomputed: list[torch.Tensor]) -> str | None:
    """Runs a student's ``step(head, x_t, t, cache)`` over the head's positions, one cache for all of them, as a
    decoding loop would; right when step t returns ``recomputed[t]``, the head recomputed on the whole prefix, and
    the cache then holds t + 1 keys and values. ``step`` gets the head without the model's weights and output, and
    without the layer's input: only x_t and the cache can give the past."""
    cache, blank = {"k": [], "v": []}, head.on(None)
    for t, expected in enumerate(recomputed):
        got, problem = _reads_what_is_not_there(step, blank, head.x[t], t, cache, missing=NO_HEAD_X)
        if problem is not None:
            return problem
        if isinstance(got, torch.Tensor) and got.numel() == expected.numel():
            got = got.reshape(expected.shape)  # (1, d) or (d,): one position's output either way
        if (problem := mismatch(got, expected, atol=1e-5, rtol=1e-4)) is not None:
            return f"at step {t}, your output: {problem}. " + _cache_hint(cache, head, t)
        held = len(cache["k"]), len(cache["v"])
        if held != (t + 1, t + 1):
            return (f"after step {t} your cache holds {held[0]} keys and {held[1]} values, not {t + 1} of each: "
                    "append this step's k and v, once each.")
    return None


def _cache_hint(cache: dict, head: AttentionHead, t: int) -> str:
    """Where a wrong cached step most likely went wrong."""
    if t == 0:
        return ("(At the first step the only key is the token's own, so the output is its own value, "
                "x_t @ head.W_v + head.b_v.)")
    full = head.rotate(head.x @ head.W_k + head.b_k)  # every key, as the full pass computes it
    try:
        keys = torch.stack([torch.as_tensor(k).detach().reshape(-1) for k in cache["k"]])
    except (TypeError, ValueError, RuntimeError):
        keys = None
    if keys is not None and keys.shape == full[:len(keys)].shape and not torch.allclose(keys, full[:len(keys)],
                                                                                       atol=1e-5, rtol=1e-4):
        return "(The keys in your cache differ from the full pass's: rotate each at its own position, start=t.)"
    return ("(Rotate q and k at position t, head.rotate(..., start=t); score q against every key in the cache, this "
            "step's included; scale by sqrt(d); no mask is needed.)")


def _norm(x: torch.Tensor, norm: Norm, unbiased: bool = False) -> torch.Tensor:  # unbiased: / (n - 1), as x.var()
    if norm.subtracts_mean:
        x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).sum(-1, keepdim=True) / (x.shape[-1] - unbiased) + norm.eps).sqrt() * norm.weight + norm.bias


def _mlp(parts: LayerParts, m: torch.Tensor, gate: str = "gate") -> torch.Tensor:
    """The MLP on ``m``; ``gate`` "up" swaps the gate and up weights, "none" leaves the gate out."""
    up = m @ parts.W_up + parts.b_up
    if parts.W_gate is None or gate == "none":
        hidden = parts.act(up)
    elif gate == "up":
        hidden = parts.act(up) * (m @ parts.W_gate + parts.b_gate)
    else:
        hidden = parts.act(m @ parts.W_gate + parts.b_gate) * up
    return hidden @ parts.W_down + parts.b_down


def _wrong_layers(parts: LayerParts, attention: torch.Tensor,
                  expected: torch.Tensor) -> Iterator[tuple[torch.Tensor, str]]:
    """The layers students compute by mistake, with what to say about each (``attention``: the heads' outputs
    through the output projection)."""
    r = parts.x + attention
    yield r, "that is r = x + attention, the residual stream after the attention: now add MLP(norm_2(r)) to it."
    yield expected - r, "that is the MLP's output alone: add it to r = x + attention (the second residual)."
    yield attention + _mlp(parts, _norm(attention, parts.norm_2)), ("add the layer's input x to the attention's "
                                                                     "output before the MLP (the first residual).")
    yield r + _mlp(parts, r), "the MLP reads norm_2(r), not r itself."
    if parts.W_gate is not None:
        yield r + _mlp(parts, _norm(r, parts.norm_2), "up"), ("the activation goes on the gate, act(m @ W_gate + "
                                                              "b_gate), which then multiplies m @ W_up + b_up.")
        yield r + _mlp(parts, _norm(r, parts.norm_2), "none"), ("this MLP is gated: act(m @ W_gate + b_gate) * "
                                                                "(m @ W_up + b_up), then @ W_down + b_down.")


def _reads_what_is_not_there(call: Callable, *args, missing: str = NOT_THERE):
    """``call(*args)``; when it fails on a None (parts.x, head.x, ... in weights-only parts), the text to say, ending
    with ``missing``: what is None there, and what to compute from instead."""
    try:
        return call(*args), None
    except (TypeError, AttributeError) as error:
        if "NoneType" not in str(error):
            raise
        return None, f"your code raised {type(error).__name__}: {error}. {missing}"


@torch.no_grad()
def norm_mistake(norm: Callable, model: PreTrainedModel, input_ids: torch.Tensor, layer=None) -> str | None:
    """A student's ``norm(x, norm)`` on layer 0's input and first norm, against what the model's heads read;
    ``layer``: layer 0's (``layer_parts``, ``attention_heads``), where the caller has them already."""
    parts, heads = layer or (layer_parts(model, input_ids, 0), attention_heads(model, input_ids, 0))
    with without(*NORM_ITSELF):
        normed = norm(parts.x, parts.norm_1)
    if (problem := mismatch(normed, heads[0].x, atol=1e-4, rtol=1e-4)) is None:
        return None
    got = _as_tensor(normed, heads[0].x.shape)
    if got is not None and torch.allclose(got, _norm(parts.x.float(), parts.norm_1, unbiased=True), atol=1e-4):
        return ("my_norm divides the sum of squares by n - 1, as x.var() does unless told otherwise; the norm "
                "divides by n: x.var(-1, correction=0), or the mean of the squares.")
    how = ("LayerNorm: subtract each row's mean, divide by sqrt(mean of squares + eps), times weight, plus bias"
           if parts.norm_1.subtracts_mean else "RMSNorm: divide each row by sqrt(mean of squares + eps), times weight; "
           "no mean subtracted")
    return f"my_norm(parts.x, parts.norm_1) is not what the heads read: {problem}. ({how}.)"


@torch.no_grad()
def layer_mistake(norm: Callable, layer: Callable, model: PreTrainedModel, input_ids: torch.Tensor) -> str | None:
    """A student's ``norm(x, norm)`` and ``layer(x, parts)`` on layer 0 of ``model``, against what its heads read
    (``norm_mistake``) and its output (``hidden_states[1]``); ``NOT_ANSWERED`` for a layer returning None. The layer
    gets the weights only (``parts.x`` None), so it must compute from its own x, with its own norm."""
    parts, heads = layer_parts(model, input_ids, 0), attention_heads(model, input_ids, 0)
    if (problem := norm_mistake(norm, model, input_ids, (parts, heads))) is not None:
        return problem
    expected = model(input_ids=input_ids.to(model.device), output_hidden_states=True).hidden_states[1][0]
    with without(*NORM_ITSELF, *ATTENTION_ITSELF):
        got, problem = _reads_what_is_not_there(layer, parts.x, replace(parts, x=None))
    if problem is not None or got is None:  # None: the answer cell as handed out
        return f"my_layer: {problem}" if problem is not None else NOT_ANSWERED
    if (problem := mismatch(got, expected, atol=1e-4, rtol=1e-4)) is None:
        return None
    mine = _as_tensor(got, expected.shape)
    attention = torch.cat([h.output for h in heads], dim=-1) @ parts.W_o + parts.b_o
    for wrong, what in _wrong_layers(parts, attention, expected) if mine is not None else ():
        if torch.allclose(mine, wrong.float().cpu(), atol=1e-4, rtol=1e-4):
            return f"my_layer: {what}"
    return (f"my_layer: {problem}. (Your norm_1 of x to every head, their outputs side by side, @ W_o + b_o, added "
            "to x; then norm_2, the MLP, and add again.)")


def final_norm_read(model: PreTrainedModel, input_ids: torch.Tensor, **kwargs):
    """(``model``'s outputs on ``input_ids``, its final norm, what that norm read for the first sequence: (n, h), the
    last layer's output before the norm). ``kwargs`` go to the model (``output_hidden_states=True``, say)."""
    base = model.base_model
    final_norm = base.ln_f if hasattr(base, "ln_f") else base.norm
    seen = {}
    hook = final_norm.register_forward_pre_hook(lambda module, args: seen.update(x=args[0][0].clone()))
    try:
        outputs = model(input_ids=input_ids, **kwargs)
    finally:
        hook.remove()
    return outputs, final_norm, seen["x"]


@torch.no_grad()
def _wrong_logits(model: PreTrainedModel, input_ids: torch.Tensor, expected: torch.Tensor):
    """The logits students compute by mistake, with what to say about each."""
    base = model.base_model
    _, _, last = final_norm_read(model, input_ids)
    yield model.get_output_embeddings()(last), ("that is the LM head on the last layer's output itself: apply "
                                                     "the final norm, parts.norm, first.")
    if hasattr(base, "wpe"):  # GPT-2: the same model, its position vectors taken back out of the input
        n = input_ids.shape[1]
        unplaced = model(inputs_embeds=base.wte(input_ids) - base.wpe.weight[:n]).logits[0]
        yield unplaced, ("GPT-2 adds each position's learned vector to the token's: x = parts.W_embed[ids] + "
                         "parts.W_pos[:n].")
    yield expected.softmax(-1), "those are probabilities: return the logits, before any softmax."


@torch.no_grad()
def forward_mistake(forward: Callable, model: PreTrainedModel, input_ids: torch.Tensor) -> str | None:
    """A student's ``forward(input_ids, parts)`` (``parts``: ``model_parts(model)``) against ``model(input_ids)``'s
    logits, to 0.001 plus 1e-4 of each logit; (n, V) or (1, n, V) both count. NOT_ANSWERED when it returns None."""
    input_ids = input_ids.reshape(1, -1).to(model.device)
    expected = model(input_ids=input_ids).logits[0]  # (n, V)
    with without(*NORM_ITSELF, *ATTENTION_ITSELF):
        got, problem = _reads_what_is_not_there(forward, input_ids, model_parts(model))
    if problem is not None or got is None:  # None: the answer cell as handed out
        return problem or NOT_ANSWERED
    try:  # a tensor, an array or nested lists; (1, n, V) is (n, V) too
        tensor = got.detach() if isinstance(got, torch.Tensor) else torch.as_tensor(got)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        tensor = None
    if tensor is not None and tensor.numel() == expected.numel():
        got = tensor.reshape(expected.shape)
    if (problem := mismatch(got, expected, atol=1e-3, rtol=1e-4)) is None:
        return None
    shape = tuple(got.shape) if isinstance(got, torch.Tensor) else None
    if shape is not None and shape[-1:] == expected.shape[-1:] and got.numel() == expected.shape[-1]:
        return f"{problem}: return every position's logits, shape {tuple(expected.shape)}, not the last one's only."
    if shape is not None and shape[-1:] == (model.config.hidden_size,):
        return f"{problem}: that looks like a hidden state; apply the final norm, then the LM head (@ parts.W_lm)."
    mine = _as_tensor(got, expected.shape)
    for wrong, what in _wrong_logits(model, input_ids, expected) if mine is not None else ():
        wrong = wrong.float().cpu()  # slips lie far apart: a tolerance in the scale of their own values tells them
        if torch.allclose(mine, wrong, atol=1e-3 + 1e-4 * float(wrong.abs().max()), rtol=1e-3):  # apart on any CPU
            return what
    return (f"{problem}. (Embeddings, plus GPT-2's position vectors; every layer in turn, each reading the one "
            "below; then the final norm and the LM head.)")


def filter_mistake(answer, expected: torch.Tensor, top_p: float) -> str | None:
    """A student's filtered probabilities against ``expected``; when they differ, how many tokens each keeps."""
    if (problem := mismatch(answer, expected, atol=1e-6, rtol=1e-4)) is None:
        return None
    mine = _as_tensor(answer, expected.shape)
    if mine is None:
        return f"{problem}."
    kept, wanted = int((mine > 0).sum()), int((expected > 0).sum())
    if kept == wanted:
        return f"{problem}; you kept the right {kept:,} tokens, but with other probabilities (scaled? renormalised?)."
    why = ""
    if top_p < 1 and kept == wanted - 1:
        why = (" One short: top-p keeps the token that carries the total past top_p; drop a token only when the "
               "tokens ranked above it already hold top_p.")
    elif top_p < 1 and kept == wanted + 1:
        why = " One too many: stop at the first token that brings the total to top_p."
    return f"{problem}. You kept {kept:,} tokens, expected {wanted:,}.{why}"
