"""One attention head of a causal LM, taken apart: its input, its weights, and what the model computed with them.

Notebook 2's exercises have the student recompute a head from these parts (q, k, v, scaled scores, the causal mask,
softmax, the weighted sum of values), then again one position at a time with a KV cache, and compare the results
with ``weights`` and ``output``, which come from the model's own forward pass. ``layer_heads`` gives a layer's heads
as weights only, for a layer (and a whole model) the student runs on inputs of their own: ``head.on(x)``.
``layer_projections`` gives a layer's weights for every head at once, for attention computed on all heads together,
and ``rotary_frequencies`` the angles a Llama-style model turns queries and keys by, for RoPE written out. Works for
GPT-2 (one ``c_attn`` for q, k and v; learned positions) and for Llama-style models such as the SmolLM2 stand-in
(``q_proj``/``k_proj``/``v_proj``, grouped-query heads, rotary positions). ``encoder_head`` gives one head of a
BERT-family encoder (notebook 1), whose attention has no causal mask, ``encoder_layer`` a whole layer of it and
``encoder_embeddings`` the embeddings it starts from; ``head_reading_past`` picks the encoder head notebook 1 maps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedModel

from utils.support.basic_checks import check_model, whole_number
from utils.support.validation import check_head_request, check_rotation, context_window

# PyTorch's own attention, which the exercises that rebuild attention refuse while a check runs the student's code
ATTENTION_ITSELF = ((torch.nn.functional, "scaled_dot_product_attention"), (torch.nn.MultiheadAttention, "forward"))


@dataclass
class AttentionHead:
    """One head of one layer, for one input. Shapes: n positions, hidden size h, head size d. A head of
    ``layer_heads`` has weights only (x, weights and output are None); ``head.on(x)`` is that head reading x."""

    x: torch.Tensor | None  # (n, h): what the layer's attention reads: the layer's input after its first norm
    W_q: torch.Tensor  # (h, d): x @ W_q + b_q gives the head's queries; likewise keys and values
    b_q: torch.Tensor  # (d,): zeros where the model has no bias
    W_k: torch.Tensor
    b_k: torch.Tensor
    W_v: torch.Tensor
    b_v: torch.Tensor
    rotate: Callable[..., torch.Tensor]  # rotate(t, start=0): rows of t turned by positions start, start+1, ...
    # (RoPE), as queries and keys are; GPT-2 adds positions to the embeddings instead, so there it returns t
    weights: torch.Tensor | None  # (n, n): the model's attention weights for this head (output_attentions)
    output: torch.Tensor | None  # (n, d): the head's weighted sum of values, as the model computed it
    layer: int
    head: int
    kv_head: int  # the key/value head this query head reads (grouped-query attention shares them)
    rotary: bool  # whether the model rotates queries and keys by position

    @property
    def size(self) -> int:
        return self.W_q.shape[1]

    def on(self, x: torch.Tensor) -> AttentionHead:
        """This head reading ``x`` (n, h), e.g. what your own norm computed: the same weights and rotation; the
        model's weights and output, which were for another input, are None."""
        return replace(self, x=x, weights=None, output=None)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, weights) of causal attention from queries and keys, (n, d) each: the scores q kᵀ / √d, (n, n), and
    each row's softmax over the keys at or before it (the future masked)."""
    scores = q @ k.T / q.shape[-1] ** 0.5
    future = torch.ones(len(q), len(k), dtype=torch.bool, device=q.device).triu(diagonal=1)
    return scores, scores.masked_fill(future, float("-inf")).softmax(-1)


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


@dataclass
class HeadWeights:
    """Where one head's weights live in a model: its projections, and the modules the forward pass goes through."""

    W_q: torch.Tensor  # (h, d)
    b_q: torch.Tensor  # (d,)
    W_k: torch.Tensor
    b_k: torch.Tensor
    W_v: torch.Tensor
    b_v: torch.Tensor
    attention: torch.nn.Module  # the layer's attention: its input is x
    projection: torch.nn.Module  # its output projection: its input is every head's output, side by side
    size: int  # d
    kv_head: int


def gpt2_head_weights(model: PreTrainedModel, layer: int, head: int) -> HeadWeights:
    """GPT-2 computes q, k and v of every head in one ``c_attn`` (a Conv1D: x @ weight + bias, shape (h, 3h));
    head ``head`` owns columns ``head*d:(head+1)*d`` of each third."""
    attention = model.transformer.h[layer].attn
    hidden = model.config.hidden_size
    size = hidden // model.config.num_attention_heads
    weight, bias = attention.c_attn.weight, attention.c_attn.bias
    parts = []
    for block in range(3):  # q, k, v
        columns = slice(block * hidden + head * size, block * hidden + (head + 1) * size)
        parts += [weight[:, columns], bias[columns]]
    return HeadWeights(*parts, attention=attention, projection=attention.c_proj, size=size, kv_head=head)


def llama_head_weights(model: PreTrainedModel, layer: int, head: int) -> HeadWeights:
    """Llama-style models have ``q_proj``, ``k_proj``, ``v_proj`` (nn.Linear: x @ weight.T, often no bias), and
    groups of query heads share one key/value head (grouped-query attention)."""
    attention = model.model.layers[layer].self_attn
    config = model.config
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    size = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv = head // (heads // kv_heads)
    parts = []
    for projection, index in ((attention.q_proj, head), (attention.k_proj, kv), (attention.v_proj, kv)):
        rows = slice(index * size, (index + 1) * size)
        w = projection.weight[rows].T
        parts += [w, projection.bias[rows] if projection.bias is not None else torch.zeros(size, dtype=w.dtype)]
    return HeadWeights(*parts, attention=attention, projection=attention.o_proj, size=size, kv_head=kv)


def encoder_head(model: PreTrainedModel, layer: int = 0, head: int = 0) -> HeadWeights:
    """One head of a BERT-family encoder (BERT, RoBERTa, the MiniLM stand-in). Its ``query``, ``key`` and ``value``
    are nn.Linear (x @ weight.T + bias) holding every head side by side; head ``head`` owns rows ``head*d:(head+1)*d``.
    The layer reads x = ``output_hidden_states[layer]``: these models normalise after each sublayer, not before."""
    check_model(model)
    encoder = getattr(getattr(model, "base_model", None), "encoder", None)
    if not hasattr(encoder, "layer") or not hasattr(encoder.layer[0], "attention"):
        raise ValueError(f"{type(model).__name__} is not a BERT-family encoder: encoder_head cannot take its heads "
                         "apart (for GPT-2 or a Llama-style model, use attention_head).")
    layer = whole_number(layer, "layer", 0, model.config.num_hidden_layers - 1)
    head = whole_number(head, "head", 0, model.config.num_attention_heads - 1)
    attention = encoder.layer[layer].attention
    size = model.config.hidden_size // model.config.num_attention_heads
    rows = slice(head * size, (head + 1) * size)
    parts = []
    for projection in (attention.self.query, attention.self.key, attention.self.value):
        parts += [projection.weight[rows].T.detach(), projection.bias[rows].detach()]
    return HeadWeights(*parts, attention=attention.self, projection=attention.output.dense, size=size, kv_head=head)


def head_reading_past(attentions, position: int, after: list[int], spread: float = 0.5) -> tuple[int, int]:
    """(layer, head) of the head whose row ``position`` puts the most weight on the positions ``after``, among the
    heads that spread that row (no position over ``spread``), so that the row is a weighted mix to rebuild, not one
    token; the most weight past it among all heads where none spreads. ``attentions``: ``output_attentions``, one
    (1, heads, n, n) tensor a layer."""
    rows = torch.stack(attentions)[:, 0, :, position]  # (layers, heads, n): every head's row at ``position``
    past = rows[..., after].sum(-1)
    spread_out = rows.max(-1).values <= spread
    candidates = past.where(spread_out, -1) if spread_out.any() else past  # -1: below any head's weight past it
    layer, head = divmod(int(candidates.argmax()), past.shape[1])
    return layer, head


def parking_by_thirds(heads: torch.Tensor, tokens: list[str], specials: list[int]) -> str:
    """Where every row of every head parks its weight, by thirds of the layers (Clark et al.'s view): two lines, the
    average weight on each of the ``specials`` positions in each third, then the one each third leans on most.
    ``heads``: (layers, heads, n, n) attention weights; ``tokens``: the n tokens, as strings."""
    by_layer = heads.mean((1, 2))  # (layers, key): every row of every head of a layer, averaged
    thirds = [t for t in torch.arange(len(heads)).tensor_split(3) if len(t)]  # early, middle and late layers
    spans = [f"layers {int(t[0])}-{int(t[-1])}" for t in thirds]
    shares = "; ".join(f"{span}: " + ", ".join(f"{float(by_layer[t, i].mean()):.0%} on {tokens[i]}" for i in specials)
                       for span, t in zip(spans, thirds))
    leaned = [tokens[specials[int(by_layer[t][:, specials].mean(0).argmax())]] for t in thirds]
    return (f"Every row, by thirds of the layers: {shares}.\nHere each third leans most on "
            + ", ".join(f"{name} ({span})" for name, span in zip(leaned, spans))
            + "; Clark et al. found [SEP] in bert-base-uncased's middle layers.")


@dataclass
class EncoderEmbeddings:
    """A BERT-family encoder's embeddings as weights: what turns token ids into ``output_hidden_states[0]``. Token i,
    with id t at position i of segment A, starts as LayerNorm(token[t] + position[first_position + i] + segment[0])."""

    token: torch.Tensor  # (vocabulary, h): one row per vocabulary entry
    position: torch.Tensor  # (positions, h): one row per position the model can read
    segment: torch.Tensor  # (segments, h): sentence A, sentence B
    norm_weight: torch.Tensor  # (h,)
    norm_bias: torch.Tensor  # (h,)
    norm_eps: float
    first_position: int  # the position row of a sequence's first token: 0 in BERT; RoBERTa counts from its pad id + 1


def encoder_embeddings(model: PreTrainedModel) -> EncoderEmbeddings:
    """The embeddings of a BERT-family encoder (BERT, RoBERTa, the MiniLM stand-in), as weights."""
    check_model(model)
    module = getattr(getattr(model, "base_model", None), "embeddings", None)
    if not all(hasattr(module, name) for name in ("word_embeddings", "position_embeddings", "token_type_embeddings")):
        raise ValueError(f"{type(model).__name__} is not a BERT-family encoder: encoder_embeddings cannot take its "
                         "embeddings apart.")
    padding = getattr(module, "padding_idx", None)  # RoBERTa's positions start after it
    return EncoderEmbeddings(token=module.word_embeddings.weight.detach(),
                             position=module.position_embeddings.weight.detach(),
                             segment=module.token_type_embeddings.weight.detach(),
                             norm_weight=module.LayerNorm.weight.detach(), norm_bias=module.LayerNorm.bias.detach(),
                             norm_eps=module.LayerNorm.eps, first_position=0 if padding is None else padding + 1)


@dataclass
class EncoderLayer:
    """One layer of a BERT-family encoder as weights, each as ``x @ W + b``: its heads, the projection of their
    outputs side by side back to the hidden size, and the feed-forward network; after each half the residual is
    added and LayerNorm applied (``norm1`` after attention, ``norm2`` after the feed-forward)."""

    heads: list[HeadWeights]  # each as ``encoder_head`` gives it
    W_o: torch.Tensor  # (h, h): every head's output, side by side, @ W_o + b_o
    b_o: torch.Tensor  # (h,)
    norm1_weight: torch.Tensor  # (h,)
    norm1_bias: torch.Tensor  # (h,)
    W_in: torch.Tensor  # (h, intermediate)
    b_in: torch.Tensor  # (intermediate,)
    activation: Callable[[torch.Tensor], torch.Tensor]  # GELU in BERT
    W_out: torch.Tensor  # (intermediate, h)
    b_out: torch.Tensor  # (h,)
    norm2_weight: torch.Tensor  # (h,)
    norm2_bias: torch.Tensor  # (h,)
    norm_eps: float  # added to the variance in both norms


def encoder_layer(model: PreTrainedModel, layer: int = 0) -> EncoderLayer:
    """Layer ``layer`` of a BERT-family encoder as weights: what turns ``output_hidden_states[layer]`` into
    ``output_hidden_states[layer + 1]``."""
    heads = [encoder_head(model, layer, head) for head in range(model.config.num_attention_heads)]  # checks both
    block = model.base_model.encoder.layer[whole_number(layer, "layer", 0, model.config.num_hidden_layers - 1)]
    after_attention, ffn_in, ffn_out = block.attention.output, block.intermediate, block.output
    return EncoderLayer(heads=heads, W_o=after_attention.dense.weight.T.detach(),
                        b_o=after_attention.dense.bias.detach(),
                        norm1_weight=after_attention.LayerNorm.weight.detach(),
                        norm1_bias=after_attention.LayerNorm.bias.detach(),
                        W_in=ffn_in.dense.weight.T.detach(), b_in=ffn_in.dense.bias.detach(),
                        activation=ffn_in.intermediate_act_fn, W_out=ffn_out.dense.weight.T.detach(),
                        b_out=ffn_out.dense.bias.detach(), norm2_weight=ffn_out.LayerNorm.weight.detach(),
                        norm2_bias=ffn_out.LayerNorm.bias.detach(), norm_eps=ffn_out.LayerNorm.eps)


def head_weights(model: PreTrainedModel, layer: int, head: int) -> HeadWeights:
    """``gpt2_head_weights`` or ``llama_head_weights``, whichever this model is (``check_head_request`` said)."""
    return (gpt2_head_weights if hasattr(model, "transformer") else llama_head_weights)(model, layer, head)


class _LayerSeen(Exception):
    """Stops a forward pass once the layer asked for has run."""


@torch.no_grad()
def attention_heads(model: PreTrainedModel, input_ids: torch.Tensor, layer: int = 0) -> list[AttentionHead]:
    """Every head of layer ``layer`` on one sequence of ``input_ids`` (shape (1, n) or (n,)), from one forward pass
    that stops after that layer."""
    input_ids, layer, _ = check_head_request(model, input_ids, layer, 0)
    parts = [head_weights(model, layer, h) for h in range(model.config.num_attention_heads)]
    seen = {}

    def read_input(module, args, kwargs):
        seen["x"] = (args[0] if args else kwargs["hidden_states"])[0]
        seen["rope"] = kwargs.get("position_embeddings")

    def read_heads(module, args):
        seen["heads"] = args[0][0]

    def read_weights(module, args, output):
        seen["weights"] = output[1][0]  # (heads, n, n): what output_attentions returns for this layer
        raise _LayerSeen  # the layers above are not needed

    hooks = [parts[0].attention.register_forward_pre_hook(read_input, with_kwargs=True),
             parts[0].projection.register_forward_pre_hook(read_heads),
             parts[0].attention.register_forward_hook(read_weights)]
    try:
        with _eager(model):
            model(input_ids=input_ids.to(model.device), output_attentions=True)
    except _LayerSeen:
        pass
    finally:
        for hook in hooks:
            hook.remove()
    rotate = _rotation(seen["rope"], sys.modules[type(parts[0].attention).__module__])
    return [AttentionHead(x=seen["x"].detach(), W_q=p.W_q.detach(), b_q=p.b_q.detach(), W_k=p.W_k.detach(),
                          b_k=p.b_k.detach(), W_v=p.W_v.detach(), b_v=p.b_v.detach(), rotate=rotate,
                          weights=seen["weights"][h].detach(),
                          output=seen["heads"][:, h * p.size:(h + 1) * p.size].detach(), layer=layer, head=h,
                          kv_head=p.kv_head, rotary=seen["rope"] is not None)
            for h, p in enumerate(parts)]


def attention_head(model: PreTrainedModel, input_ids: torch.Tensor, layer: int = 0, head: int = 0) -> AttentionHead:
    """Head ``head`` of layer ``layer`` on one sequence of ``input_ids`` (shape (1, n) or (n,))."""
    input_ids, layer, head = check_head_request(model, input_ids, layer, head)
    return attention_heads(model, input_ids, layer)[head]


def layer_heads(model: PreTrainedModel, layer: int = 0) -> list[AttentionHead]:
    """Every head of layer ``layer`` as weights only, without running the model: x, weights and output are None
    (``head.on(x)`` gives it an input), and ``rotate`` turns rows at any position of the context window."""
    _, layer, _ = check_head_request(model, torch.zeros(1, 1, dtype=torch.long), layer, 0)
    return heads_of_every_layer(model, [layer])[0]


def heads_of_every_layer(model: PreTrainedModel, layers: list[int] | None = None) -> list[list[AttentionHead]]:
    """``layer_heads`` of each of ``layers`` (every layer by default), with one rotation table for all."""
    check_head_request(model, torch.zeros(1, 1, dtype=torch.long), 0, 0)
    layers = range(model.config.num_hidden_layers) if layers is None else layers
    parts = [[head_weights(model, layer, h) for h in range(model.config.num_attention_heads)] for layer in layers]
    rotary = _rotary_embedding(model)
    rope = None
    if rotary is not None:
        with torch.no_grad():  # cos and sin of every position, as the model's forward pass computes them
            positions = torch.arange(context_window(model), device=model.device)[None]
            rope = rotary(torch.zeros(1, dtype=parts[0][0].W_q.dtype, device=model.device), positions)
    rotate = _rotation(rope, sys.modules[type(parts[0][0].attention).__module__])
    return [[AttentionHead(x=None, W_q=p.W_q.detach(), b_q=p.b_q.detach(), W_k=p.W_k.detach(), b_k=p.b_k.detach(),
                           W_v=p.W_v.detach(), b_v=p.b_v.detach(), rotate=rotate, weights=None, output=None,
                           layer=layer, head=h, kv_head=p.kv_head, rotary=rope is not None)
             for h, p in enumerate(weights)] for layer, weights in zip(layers, parts)]


@dataclass(frozen=True)
class Projections:
    """A layer's attention weights for all its heads at once, each as ``x @ W + b``. Queries have ``heads`` x ``size``
    columns; keys and values ``kv_heads`` x ``size``, fewer where groups of query heads share one key/value head
    (grouped-query attention). Head i owns columns ``i * size:(i + 1) * size``."""

    W_q: torch.Tensor  # (h, heads x d)
    b_q: torch.Tensor  # (heads x d,): zeros where the model has no bias
    W_k: torch.Tensor  # (h, kv_heads x d)
    b_k: torch.Tensor
    W_v: torch.Tensor  # (h, kv_heads x d)
    b_v: torch.Tensor
    heads: int
    kv_heads: int
    size: int  # d, each head's size
    rotate: Callable[..., torch.Tensor]  # rotate(t, start=0): RoPE on (heads, n, d), (n, d) or (d,); GPT-2: t


def layer_projections(model: PreTrainedModel, layer: int = 0) -> Projections:
    """Layer ``layer``'s attention weights for every head at once, without running the model (``projections_of``
    its ``layer_heads``)."""
    return projections_of(layer_heads(model, layer))


def projections_of(heads: list[AttentionHead]) -> Projections:
    """One layer's ``heads`` as Projections: their weights side by side, query heads in order, then one key/value
    head per group of query heads."""
    shared = list({h.kv_head: h for h in heads}.values())  # the first query head of each key/value head, in order

    def side_by_side(group, name):
        return torch.cat([getattr(h, name) for h in group], dim=-1)

    return Projections(*(side_by_side(heads if name.endswith("q") else shared, name)
                         for name in ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v")),
                       heads=len(heads), kv_heads=len(shared), size=heads[0].size, rotate=heads[0].rotate)


def _rotary_embedding(model: PreTrainedModel) -> torch.nn.Module | None:
    """The module that computes a Llama-style model's cos and sin tables; None for GPT-2, which has none."""
    return getattr(getattr(model, "model", None), "rotary_emb", None)


def rotary_frequencies(model: PreTrainedModel) -> torch.Tensor | None:
    """How far each pair of a head's dimensions turns per position, in radians (head size / 2 of them, fastest
    first), as the model's rotary embedding computes its angles; None for a model without rotary positions
    (GPT-2)."""
    rotary = _rotary_embedding(model)
    return None if rotary is None else rotary.inv_freq.detach().float().cpu().clone()


def _rotation(rope, module) -> Callable[..., torch.Tensor]:
    """``rotate(t, start=0)`` for these positions: RoPE with the model's own cos and sin (rows of t at positions
    start, start+1, ...), or nothing where the model has no rotary positions (``rope`` is None)."""
    if rope is None:
        return lambda t, start=0: t
    cos, sin = rope  # (1, n, d) each: one row per position of the sequence the head was taken on

    def rotate(t: torch.Tensor, start: int = 0) -> torch.Tensor:
        start = check_rotation(t, start, cos.shape[1])
        rows = t if t.dim() == 3 else (t if t.dim() == 2 else t[None])[None]  # (heads, n, d); one row is one position
        at = slice(start, start + rows.shape[1])
        rotated, _ = module.apply_rotary_pos_emb(rows[None], rows[None], cos[:, at], sin[:, at])
        return rotated[0].reshape(t.shape)

    return rotate
