"""Notebook 2's exercise 8d: one head's weights, cut out of the checkpoint by the student, against the ones
``utils.attention.head_weights`` cuts out for every other exercise of the notebook.

GPT-2 keeps q, k and v of every head in one ``c_attn`` (a Conv1D, ``x @ weight + bias``, weight (h, 3h)); a
Llama-style model has ``q_proj``, ``k_proj`` and ``v_proj`` (nn.Linear, ``x @ weight.T + bias``, often no bias),
with groups of query heads sharing a key/value head. ``head_weights_mistake`` names the usual slips: the Linear's
weight not transposed, rows taken where columns belong, the wrong third of ``c_attn``, a query head's own index used
for its key/value head.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from utils import attention
from utils.exercises import NOT_ANSWERED, describe, mismatch, without

PIECES = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v")
# what cuts a head out for the student elsewhere in the notebook: refused while the answer runs
CUTTERS = ("head_weights", "gpt2_head_weights", "llama_head_weights", "attention_head", "attention_heads",
           "layer_heads", "layer_projections")


def _slip(name: str, got, want: torch.Tensor, model: PreTrainedModel, head: int, kv_head: int) -> str:
    """What the usual slip behind a wrong ``name`` of query head ``head`` (reading key/value head ``kv_head``) would
    be, in one sentence."""
    try:
        got = torch.as_tensor(got.detach() if isinstance(got, torch.Tensor) else got)
    except (TypeError, ValueError, RuntimeError):
        return ""
    if got.dim() == 2 and tuple(got.shape) == tuple(want.T.shape):
        return "A Linear's weight is (outputs, inputs): transpose it, so that x @ W gives the head's outputs."
    if hasattr(model, "transformer"):
        return ("In c_attn every head's queries come first, then every head's keys, then every head's values: head "
                f"{head} owns {want.shape[-1]} columns in each third.")
    if name[-1] in "kv" and kv_head != head:
        return f"Query heads share key/value heads here: query head {head} reads key/value head {kv_head}."
    return f"Head {head} owns {want.shape[-1]} consecutive outputs of each projection: rows of a Linear's weight."


def head_weights_mistake(my_head_weights, model: PreTrainedModel, places=()) -> str | None:
    """None when ``my_head_weights(model, layer, head)`` gives ``(W_q, b_q, W_k, b_k, W_v, b_v)`` equal to
    ``attention.head_weights`` for the first, a middle and the last head of ``model``'s layer 0; otherwise one
    sentence (``NOT_ANSWERED`` for None). ``places`` adds names to refuse (the notebook's own imports of the
    cutters)."""
    refused = [(attention, name) for name in CUTTERS] + list(places)
    heads = model.config.num_attention_heads
    for head in sorted({0, heads // 2, heads - 1}):
        with without(*refused), torch.no_grad():
            mine = my_head_weights(model, 0, head)
        if mine is None:
            return NOT_ANSWERED
        if not isinstance(mine, (tuple, list)) or len(mine) != len(PIECES):
            return f"return the six tensors ({', '.join(PIECES)}) as a tuple; got {describe(mine)}."
        theirs = attention.head_weights(model, 0, head)
        for name, got in zip(PIECES, mine):
            want = getattr(theirs, name)
            if (problem := mismatch(got, want)) is not None:
                slip = _slip(name, got, want, model, head, theirs.kv_head) if "tensor" not in problem else ""
                return f"{name} of head {head}: {problem}. {slip}".strip()
    return None
