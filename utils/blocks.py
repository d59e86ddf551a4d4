"""One decoder layer of a causal LM taken apart, the whole model as weights, and the architecture that did not run.

Notebook 2's "finish layer 0" exercise has the student run a layer from its parts: their own norm, the heads
(``utils.attention``), the output projection, the residual, the second norm, the MLP and its residual; the check
compares the result with the model's own ``hidden_states[1]``. "The whole model" then runs every layer that way,
between the embeddings and the final norm and LM head of ``model_parts``, and the check compares the logits with the
model's. GPT-2 (LayerNorm, GELU MLP, learned positions) and Llama-style models such as the SmolLM2 stand-in (RMSNorm,
gated SiLU MLP, rotary positions, grouped-query heads) come apart into the same fields, so one function can run both.
Whichever of the two ran, ``tiny_other_architecture`` builds the other from its config, small and with random
weights, so the student's code is checked on both everywhere; ``other_architecture`` builds it full size on the meta
device (no weights: a printout and its sizes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from utils.attention import AttentionHead, Projections, heads_of_every_layer, layer_heads, projections_of
from utils.generation import context_window, kv_cache_bytes_per_token
from utils.support.validation import check_architecture, check_head_request

# The shape of SmolLM2-135M (its config.json), the Llama-style model that stands in for GPT-2 offline.
SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                    hidden_act="silu", tie_word_embeddings=True)


@dataclass
class Norm:
    """A norm over each position's vector: LayerNorm (GPT-2), (x - mean) / sqrt(variance + eps) * weight + bias, or
    RMSNorm (Llama), x / sqrt(mean(x²) + eps) * weight: no mean subtracted, no bias."""

    weight: torch.Tensor  # (h,)
    bias: torch.Tensor  # (h,): zeros for RMSNorm
    eps: float
    subtracts_mean: bool  # True: LayerNorm; False: RMSNorm


@dataclass
class LayerParts:
    """One decoder layer, in utils.attention's ``x @ W + b`` form. n positions, hidden size h, MLP width m. The
    layer computes r = x + attention(norm_1(x)), then r + MLP(norm_2(r))."""

    x: torch.Tensor | None  # (n, h): the layer's input on the notebook's prompt (hidden_states[layer]); None in
    # model_parts, where each layer's input is what the layer below computed
    norm_1: Norm  # before the attention: every head reads norm_1(x)
    heads: list[AttentionHead]  # weights only (utils.attention.layer_heads): head.on(a) is the head reading a
    projections: Projections  # the same heads' weights side by side, for every head at once (my_all_heads(a, ...))
    W_o: torch.Tensor  # (heads x d, h): the output projection reads every head's output, side by side
    b_o: torch.Tensor  # (h,)
    norm_2: Norm  # before the MLP
    W_up: torch.Tensor  # (h, m): GPT-2's mlp.c_fc, Llama's up_proj
    b_up: torch.Tensor  # (m,)
    W_gate: torch.Tensor | None  # (h, m): Llama's gate_proj; None where the MLP has no gate (GPT-2)
    b_gate: torch.Tensor | None
    act: Callable[[torch.Tensor], torch.Tensor]  # GELU (GPT-2: act(x @ W_up)) or SiLU (Llama: act(x @ W_gate))
    W_down: torch.Tensor  # (m, h): GPT-2's mlp.c_proj, Llama's down_proj
    b_down: torch.Tensor  # (h,)
    architecture: str  # "GPT-2" or "Llama-style"
    layer: int


def _norm(module: torch.nn.Module) -> Norm:
    if isinstance(module, torch.nn.LayerNorm):
        return Norm(module.weight.detach(), module.bias.detach(), module.eps, True)
    return Norm(module.weight.detach(), torch.zeros_like(module.weight).detach(), module.variance_epsilon, False)


def _linear(module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) with the module computing x @ W + b: nn.Linear stores W transposed; GPT-2's Conv1D stores W itself."""
    if isinstance(module, torch.nn.Linear):
        weight = module.weight.T
        bias = module.bias if module.bias is not None else torch.zeros(weight.shape[1], device=weight.device)
        return weight.detach(), bias.detach()
    return module.weight.detach(), module.bias.detach()


def _layer_weights(model: PreTrainedModel, kind: str, layer: int,
                   heads: list[AttentionHead] | None = None) -> LayerParts:
    """Layer ``layer``'s weights as LayerParts, without an input (x is None); ``heads``: its heads, if at hand."""
    if kind == "gpt2":
        block = model.transformer.h[layer]
        norms, projection = (block.ln_1, block.ln_2), block.attn.c_proj
        up, gate, down, act = block.mlp.c_fc, None, block.mlp.c_proj, block.mlp.act
    else:
        block = model.model.layers[layer]
        norms, projection = (block.input_layernorm, block.post_attention_layernorm), block.self_attn.o_proj
        up, gate, down, act = block.mlp.up_proj, block.mlp.gate_proj, block.mlp.down_proj, block.mlp.act_fn
    W_gate, b_gate = _linear(gate) if gate is not None else (None, None)
    heads = layer_heads(model, layer) if heads is None else heads
    return LayerParts(None, _norm(norms[0]), heads, projections_of(heads), *_linear(projection), _norm(norms[1]),
                      *_linear(up), W_gate, b_gate, act, *_linear(down), "GPT-2" if kind == "gpt2" else "Llama-style",
                      layer)


@torch.no_grad()
def layer_parts(model: PreTrainedModel, input_ids: torch.Tensor, layer: int = 0) -> LayerParts:
    """Layer ``layer`` of a GPT-2 or Llama-style model, and its input on one sequence of ``input_ids`` (shape (1, n)
    or (n,)): ``x``, the model's ``hidden_states[layer]``."""
    kind = check_architecture(model)
    input_ids, layer, _ = check_head_request(model, input_ids, layer, 0)
    parts = _layer_weights(model, kind, layer)
    parts.x = model(input_ids=input_ids.to(model.device), output_hidden_states=True).hidden_states[layer][0].detach()
    return parts


@dataclass
class ModelParts:
    """A whole GPT-2 or Llama-style model as weights, to run by hand: vocabulary V, hidden size h. The logits of
    token ids are: embeddings (plus GPT-2's position vectors), every layer in turn, the final norm, the LM head."""

    W_embed: torch.Tensor  # (V, h): row i is token i's vector (GPT-2's wte, Llama's embed_tokens)
    W_pos: torch.Tensor | None  # (positions, h): GPT-2's learned vector per position (wpe), added to the tokens';
    # None in Llama-style models, whose heads rotate q and k by position instead (RoPE)
    layers: list[LayerParts]  # every decoder layer, bottom first, weights only (x is None)
    norm: Norm  # the final norm, after the last layer
    W_lm: torch.Tensor  # (h, V): the LM head, logits = norm(x) @ W_lm + b_lm (here W_embed transposed: tied)
    b_lm: torch.Tensor  # (V,): zeros, as neither model has a bias there
    architecture: str  # "GPT-2" or "Llama-style"


def model_parts(model: PreTrainedModel) -> ModelParts:
    """Every weight of a GPT-2 or Llama-style model as ModelParts (no copies: views of the model's own)."""
    kind = check_architecture(model)
    base = model.base_model
    layers = [_layer_weights(model, kind, i, heads) for i, heads in enumerate(heads_of_every_layer(model))]
    W_lm, b_lm = _linear(model.get_output_embeddings())
    if kind == "gpt2":
        embed, positions, norm = base.wte.weight.detach(), base.wpe.weight.detach(), _norm(base.ln_f)
    else:
        embed, positions, norm = base.embed_tokens.weight.detach(), None, _norm(base.norm)
    return ModelParts(embed, positions, layers, norm, W_lm, b_lm, "GPT-2" if kind == "gpt2" else "Llama-style")


def tiny_other_architecture(model: PreTrainedModel, seed: int = 0) -> PreTrainedModel:
    """The architecture that did not run, small (2 layers, hidden size 64) and with random weights, reading the
    same token ids: a Llama-style model (RoPE, RMSNorm, gated SiLU MLP, 4 query heads sharing 2 key/value heads)
    beside GPT-2, GPT-2 (learned positions, LayerNorm, GELU MLP) beside a Llama-style model. Two layers, so that
    ``hidden_states[1]`` is layer 0's output as it is (the last entry has the final norm applied)."""
    kind = check_architecture(model)
    config = model.config.get_text_config()
    tokens = dict(vocab_size=config.vocab_size, bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                  pad_token_id=config.pad_token_id)  # the same token ids mean the same to both
    with torch.random.fork_rng(devices=[]):  # its own seed, leaving the notebook's random numbers as they were
        torch.manual_seed(seed)
        if kind == "gpt2":
            other = LlamaForCausalLM(LlamaConfig(**tokens, hidden_size=64, intermediate_size=128,
                                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                 max_position_embeddings=1024, tie_word_embeddings=True))
        else:
            other = GPT2LMHeadModel(GPT2Config(**tokens, n_positions=1024, n_embd=64, n_layer=2, n_head=4))
        with torch.no_grad():  # no zero bias, no unit norm weight: code that leaves one out must not pass
            for name, weight in other.named_parameters():
                if name.endswith("bias"):
                    weight.normal_(0.0, 0.1)
                elif "ln_" in name or "norm" in name:
                    weight.normal_(1.0, 0.1)
    label = f"the tiny random {'Llama-style model' if kind == 'gpt2' else 'GPT-2'}"
    other.name_or_path = other.config.name_or_path = label  # what the notebook's checks call it
    return other.to(model.device).eval()


def other_architecture(model: PreTrainedModel) -> PreTrainedModel:
    """The architecture that did not run, full size, built from its config on the meta device: no weights, so it
    cannot run, but it prints and counts its parameters. SmolLM2-135M's shape beside GPT-2, GPT-2's beside a
    Llama-style model."""
    kind = check_architecture(model)
    with torch.device("meta"):
        return LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M)) if kind == "gpt2" else GPT2LMHeadModel(GPT2Config())


def _facts(model: PreTrainedModel) -> dict[str, str]:
    """The rows of ``architecture_table`` for one model."""
    c = model.config
    heads, kv_heads = c.num_attention_heads, getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    size = getattr(c, "head_dim", None) or c.hidden_size // heads
    gpt2 = check_architecture(model) == "gpt2"
    width = (c.n_inner or 4 * c.hidden_size) if gpt2 else c.intermediate_size
    return {
        "class": type(model).__name__,
        "parameters": f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M",
        "decoder layers": f"{c.num_hidden_layers}",
        "hidden size": f"{c.hidden_size}",
        "heads x head size": f"{heads} x {size}",
        "key/value heads": f"{kv_heads}" + (f" (each shared by {heads // kv_heads} query heads)"
                                            if kv_heads < heads else ""),
        "q, k, v weights": "c_attn (all three)" if gpt2 else "q_proj, k_proj, v_proj",
        "positions": f"{'learned (wpe)' if gpt2 else 'RoPE'}, up to {context_window(model):,}",
        "norm": "LayerNorm" if gpt2 else "RMSNorm",
        "MLP": f"GELU, {c.hidden_size}->{width}" if gpt2 else f"SiLU gate, {c.hidden_size}->{width}",
        "MLP weights": "c_fc, c_proj" if gpt2 else "gate_, up_, down_proj",
        "LM head": "tied to the embeddings" if c.tie_word_embeddings else "its own weights",
        "KV cache per token": f"{kv_cache_bytes_per_token(model) / 1024:.0f} KiB "
                              f"({kv_cache_bytes_per_token(model) / c.num_hidden_layers / 1024:.1f} KiB a layer)",
    }


def architecture_table(model: PreTrainedModel) -> str:
    """The model that ran beside the other architecture (``other_architecture``): one row per fact, as text."""
    check_architecture(model)
    ran, other = _facts(model), _facts(other_architecture(model))
    rows = [("", "the model that ran", "the other (no weights)")] + [(k, ran[k], other[k]) for k in ran]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows)


def where_parts_come_from(model: PreTrainedModel, layer: int = 0) -> str:
    """Where each of ``layer_parts``' weights sits in the model's own modules, as text, one row a field; every row is
    checked equal to the field first. nn.Linear (Llama-style) stores its weight as (out, in), so W is that
    transposed; GPT-2's Conv1D stores (in, out), W itself, with q, k and v side by side in one ``c_attn``."""
    kind = check_architecture(model)
    parts, d = _layer_weights(model, kind, layer), model.config.hidden_size // model.config.num_attention_heads
    head = parts.heads[1 if len(parts.heads) > 1 else 0]  # a head past the first, so its offset is tested
    i, j = head.head, head.kv_head
    if kind == "gpt2":
        block, path, h = model.transformer.h[layer], f"transformer.h[{layer}]", model.config.hidden_size
        qkv = block.attn.c_attn.weight
        rows = [("norm_1", f"{path}.ln_1.weight, .bias", block.ln_1.weight, parts.norm_1.weight),
                ("heads[i].W_q, W_k, W_v", f"{path}.attn.c_attn.weight: q, k, v side by side; head i's {d} "
                 "columns of each", qkv[:, [t * h + c for t in range(3) for c in range(i * d, (i + 1) * d)]],
                 torch.cat([head.W_q, head.W_k, head.W_v], dim=1)),
                ("W_o, b_o", f"{path}.attn.c_proj.weight, .bias", block.attn.c_proj.weight, parts.W_o),
                ("norm_2", f"{path}.ln_2.weight, .bias", block.ln_2.weight, parts.norm_2.weight),
                ("W_up, b_up", f"{path}.mlp.c_fc.weight, .bias", block.mlp.c_fc.weight, parts.W_up),
                ("W_down, b_down", f"{path}.mlp.c_proj.weight, .bias", block.mlp.c_proj.weight, parts.W_down)]
        layout = "GPT-2's Conv1D stores (in, out): each W is the weight itself"
    else:
        block, path = model.model.layers[layer], f"model.layers[{layer}]"
        attention, mlp, group = block.self_attn, block.mlp, len(parts.heads) // model.config.num_key_value_heads
        rows = [("norm_1", f"{path}.input_layernorm.weight (RMSNorm: no bias)", block.input_layernorm.weight,
                 parts.norm_1.weight),
                ("heads[i].W_q", f"{path}.self_attn.q_proj.weight[i·{d}:(i+1)·{d}].T",
                 attention.q_proj.weight[i * d:(i + 1) * d].T, head.W_q),
                ("heads[i].W_k, W_v", f"{path}.self_attn.k_proj, v_proj .weight[j·{d}:(j+1)·{d}].T, j = i // {group}",
                 torch.cat([attention.k_proj.weight[j * d:(j + 1) * d], attention.v_proj.weight[j * d:(j + 1) * d]]).T,
                 torch.cat([head.W_k, head.W_v], dim=1)),
                ("W_o", f"{path}.self_attn.o_proj.weight.T", attention.o_proj.weight.T, parts.W_o),
                ("norm_2", f"{path}.post_attention_layernorm.weight", block.post_attention_layernorm.weight,
                 parts.norm_2.weight),
                ("W_gate, W_up, W_down", f"{path}.mlp.gate_proj, up_proj, down_proj .weight.T",
                 torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight.T]).T,
                 torch.cat([parts.W_gate, parts.W_up, parts.W_down.T], dim=1))]
        layout = "nn.Linear stores (out, in): each W is the weight transposed"
    for field, _, theirs, ours in rows:
        assert torch.equal(theirs.detach(), ours), f"{field} is not where this table says"
    width = max(len(field) for field, *_ in rows)
    title = f"layer {layer}'s parts in {type(model).__name__}'s own modules, each row checked equal"
    return "\n".join([title, f"({layout}):"] + [f"  {field:<{width}}  {where}" for field, where, *_ in rows])
