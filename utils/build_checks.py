"""What notebook 2's build-it-yourself check cells say about an answer: None when it is right, else the first thing
wrong, in words.

Each compares the student's answer (of any type) with the model's own numbers: ``head_mistake`` one attention head,
``cached_head_mistake`` the same head run one position at a time with a KV cache, ``layer_mistake`` a whole decoder
layer, ``filter_mistake`` the sampling filters. A check cell prints "Not quite" and the message inside
``utils.exercises.verdict``, which turns anything the student's code raises into one line. The wrong answers they
recognise (a layer without its second residual, a nucleus one token short, ...) are the ones students hand in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from utils.attention import AttentionHead
from utils.blocks import LayerParts, Norm
from utils.exercises import describe, mismatch


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


def cached_head_mistake(step: Callable, head: AttentionHead, recomputed: list[torch.Tensor]) -> str | None:
    """Runs a student's ``step(head, x_t, t, cache)`` over the head's positions, one cache for all of them, as a
    decoding loop would; right when step t returns ``recomputed[t]``, the head recomputed on the whole prefix, and
    the cache then holds t + 1 keys and values."""
    cache = {"k": [], "v": []}
    for t, expected in enumerate(recomputed):
        got = step(head, head.x[t], t, cache)
        if isinstance(got, torch.Tensor) and got.numel() == expected.numel():
            got = got.reshape(expected.shape)  # (1, d) or (d,): one position's output either way
        problem = mismatch(got, expected, atol=1e-5, rtol=1e-4)
        if problem is not None:
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


def _norm(x: torch.Tensor, norm: Norm) -> torch.Tensor:
    if norm.subtracts_mean:
        x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt() * norm.weight + norm.bias


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


def _wrong_layers(parts: LayerParts, expected: torch.Tensor) -> Iterator[tuple[torch.Tensor, str]]:
    """The layers students compute by mistake, with what to say about each."""
    attention = torch.cat([h.output for h in parts.heads], dim=-1) @ parts.W_o + parts.b_o
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


@torch.no_grad()
def layer_mistake(norm: Callable, layer: Callable, parts: LayerParts, expected: torch.Tensor) -> str | None:
    """A student's ``norm(x, norm)`` and ``layer(parts)`` against what the model computed: the heads' input, and
    ``expected``, the layer's output (``hidden_states[layer + 1]``)."""
    problem = mismatch(norm(parts.x, parts.norm_1), parts.heads[0].x, atol=1e-4, rtol=1e-4)
    if problem is not None:
        how = ("LayerNorm: subtract each row's mean, divide by sqrt(mean of squares + eps), times weight, plus bias"
               if parts.norm_1.subtracts_mean else
               "RMSNorm: divide each row by sqrt(mean of squares + eps), times weight; no mean subtracted")
        return f"my_norm(parts.x, parts.norm_1) is not what the heads read: {problem}. ({how}.)"
    got = layer(parts)
    problem = mismatch(got, expected, atol=1e-4, rtol=1e-4)
    if problem is None:
        return None
    mine = _as_tensor(got, expected.shape)
    for wrong, what in _wrong_layers(parts, expected) if mine is not None else ():
        if torch.allclose(mine, wrong.float().cpu(), atol=1e-4, rtol=1e-4):
            return f"my_layer: {what}"
    return (f"my_layer: {problem}. (The heads' outputs side by side, @ W_o + b_o, added to x; then norm_2, the MLP, "
            "and add again.)")


def filter_mistake(answer, expected: torch.Tensor, top_p: float) -> str | None:
    """A student's filtered probabilities against ``expected``; when they differ, how many tokens each keeps."""
    problem = mismatch(answer, expected, atol=1e-6, rtol=1e-4)
    if problem is None:
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
