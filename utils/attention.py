"""One attention head of a causal LM, taken apart: its input, its weights, and what the model computed with them.

Notebook 2's exercise has the student recompute a head from these parts (q, k, v, scaled scores, the causal mask,
softmax, the weighted sum of values) and compares the result with ``weights`` and ``output``, which come from
the model's own forward pass. Works for GPT-2 (one ``c_attn`` for q, k and v; learned positions) and for
Llama-style models such as the SmolLM2 stand-in (``q_proj``/``k_proj``/``v_proj``, grouped-query heads, rotary
positions).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from utils.checks import whole_number


@dataclass
class AttentionHead:
    """One head of one layer, for one input. Shapes: n positions, hidden size h, head size d."""

    x: torch.Tensor  # (n, h): what the layer's attention reads (the normalised hidden states)
    W_q: torch.Tensor  # (h, d): x @ W_q + b_q gives the head's queries; likewise keys and values
    b_q: torch.Tensor  # (d,): zeros where the model has no bias
    W_k: torch.Tensor
    b_k: torch.Tensor
    W_v: torch.Tensor
    b_v: torch.Tensor
    rotate: Callable[[torch.Tensor], torch.Tensor]  # positions rotated into queries and keys (RoPE); GPT-2: none
    weights: torch.Tensor  # (n, n): the model's attention weights for this head (output_attentions)
    output: torch.Tensor  # (n, d): the head's weighted sum of values, as the model computed it
    layer: int
    head: int
    kv_head: int  # the key/value head this query head reads (grouped-query attention shares them)
    rotary: bool  # whether the model rotates queries and keys by position

    @property
    def size(self) -> int:
        return self.W_q.shape[1]


@contextmanager
def _eager(model: PreTrainedModel):
    """The model with its plain ("eager") attention, which can return its weights; restored afterwards."""
    before = model.config._attn_implementation
    if before != "eager":
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if before != "eager":
            model.set_attn_implementation(before)


def _parts(model: PreTrainedModel, layer: int):
    """(the attention module, its output projection, a function head -> (W_q, b_q, W_k, b_k, W_v, b_v), n heads,
    kv heads, head size) for GPT-2 or a Llama-style model; a ValueError for anything else."""
    config = model.config
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    if hasattr(model, "transformer") and hasattr(model.transformer, "h"):  # GPT-2
        attention = model.transformer.h[layer].attn
        hidden, size = config.hidden_size, config.hidden_size // heads
        weight, bias = attention.c_attn.weight, attention.c_attn.bias  # Conv1D: (h, 3h), x @ weight + bias

        def slices(head):
            parts = []
            for block in range(3):
                columns = slice(block * hidden + head * size, block * hidden + (head + 1) * size)
                parts += [weight[:, columns], bias[columns]]
            return parts

        return attention, attention.c_proj, slices, heads, kv_heads, size
    base = getattr(model, "model", None)
    if base is not None and hasattr(base, "layers") and hasattr(base.layers[layer], "self_attn"):
        attention = base.layers[layer].self_attn
        if not all(hasattr(attention, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
            raise ValueError(f"{type(attention).__name__} has no q_proj/k_proj/v_proj: not a head this helper "
                             "can take apart.")
        size = getattr(config, "head_dim", None) or config.hidden_size // heads

        def slices(head):
            kv = head // (heads // kv_heads)
            parts = []
            for projection, index in ((attention.q_proj, head), (attention.k_proj, kv), (attention.v_proj, kv)):
                rows = slice(index * size, (index + 1) * size)
                w = projection.weight[rows].T  # nn.Linear computes x @ weight.T
                b = projection.bias[rows] if projection.bias is not None else torch.zeros(size, dtype=w.dtype)
                parts += [w, b]
            return parts

        return attention, attention.o_proj, slices, heads, kv_heads, size
    raise ValueError(f"{type(model).__name__} is neither GPT-2 nor a Llama-style model: attention_head cannot take "
                     "its heads apart.")


@torch.no_grad()
def attention_head(model: PreTrainedModel, input_ids: torch.Tensor, layer: int = 0, head: int = 0) -> AttentionHead:
    """Head ``head`` of layer ``layer`` on one sequence of ``input_ids`` (shape (1, n) or (n,))."""
    input_ids = torch.as_tensor(input_ids)
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if input_ids.dim() != 2 or input_ids.shape[0] != 1 or input_ids.shape[1] == 0:
        raise ValueError(f"Give one sequence of token ids, shape (1, n); got shape {tuple(input_ids.shape)}.")
    layers = model.config.num_hidden_layers
    layer = whole_number(layer, "layer", 0, layers - 1)
    head = whole_number(head, "head", 0, model.config.num_attention_heads - 1)
    attention, projection, slices, heads, kv_heads, size = _parts(model, layer)
    seen = {}

    def read_input(module, args, kwargs):
        seen["x"] = (args[0] if args else kwargs["hidden_states"])[0]
        seen["rope"] = kwargs.get("position_embeddings")

    def read_heads(module, args):
        seen["heads"] = args[0][0]

    hooks = [attention.register_forward_pre_hook(read_input, with_kwargs=True),
             projection.register_forward_pre_hook(read_heads)]
    try:
        with _eager(model):
            out = model(input_ids=input_ids.to(model.device), output_attentions=True)
    finally:
        for hook in hooks:
            hook.remove()
    rotate, rotary = (lambda t: t), False
    if seen["rope"] is not None:
        cos, sin = seen["rope"]
        apply = sys.modules[type(attention).__module__].apply_rotary_pos_emb

        def rotate(t):
            rotated, _ = apply(t[None, None], t[None, None], cos, sin)
            return rotated[0, 0]

        rotary = True
    W_q, b_q, W_k, b_k, W_v, b_v = (t.detach() for t in slices(head))
    return AttentionHead(x=seen["x"].detach(), W_q=W_q, b_q=b_q, W_k=W_k, b_k=b_k, W_v=W_v, b_v=b_v,
                         rotate=rotate, weights=out.attentions[layer][0, head].detach(),
                         output=seen["heads"][:, head * size:(head + 1) * size].detach(), layer=layer, head=head,
                         kv_head=head // (heads // kv_heads), rotary=rotary)
