"""One attention head taken apart: recomputed from its parts, it equals what the model computed.

The reference recomputation is written out here independently of utils.attention (the notebook's exercise asks the
student for the same steps), on a tiny GPT-2 (one c_attn, learned positions) and a tiny Llama-style model
(separate projections, grouped-query heads, rotary positions, as the SmolLM2 stand-in).
"""

import math

import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    RobertaConfig,
    RobertaForMaskedLM,
)

from utils.attention import (
    attention_head,
    attention_heads,
    attention_weights,
    encoder_embeddings,
    encoder_head,
    encoder_layer,
    head_reading_past,
    layer_heads,
    layer_projections,
    rotary_frequencies,
)


def recompute(head):
    q = head.rotate(head.x @ head.W_q + head.b_q)
    k = head.rotate(head.x @ head.W_k + head.b_k)
    v = head.x @ head.W_v + head.b_v
    scores = q @ k.T / math.sqrt(q.shape[-1])
    n = len(head.x)
    scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    weights = scores.softmax(-1)
    return weights, weights @ v


def tiny_gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=32, n_layer=2, n_embd=32, n_head=4)).eval()


def tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


IDS = torch.tensor([[5, 17, 250, 3, 99, 42, 7]])


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
@pytest.mark.parametrize("layer,head", [(0, 0), (1, 3)])
def test_recomputed_head_equals_the_models(make, layer, head):
    model = make()
    before = model.config._attn_implementation
    part = attention_head(model, IDS, layer=layer, head=head)
    weights, output = recompute(part)
    assert part.weights.shape == (7, 7) and part.output.shape == (7, part.size)
    torch.testing.assert_close(weights, part.weights, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(output, part.output, atol=1e-6, rtol=1e-5)
    assert part.weights.triu(1).abs().max() == 0  # causal: nothing from later positions
    assert model.config._attn_implementation == before  # the eager switch is undone


def test_heads_differ_and_grouped_heads_share_keys():
    model = tiny_llama()  # 6 query heads over 2 key/value heads: heads 0-2 read kv head 0, heads 3-5 kv head 1
    heads = [attention_head(model, IDS, head=h) for h in range(6)]
    assert [h.kv_head for h in heads] == [0, 0, 0, 1, 1, 1]
    assert torch.equal(heads[0].W_k, heads[2].W_k) and not torch.equal(heads[0].W_k, heads[3].W_k)
    assert not torch.allclose(heads[0].weights, heads[1].weights)
    assert heads[0].rotary and not attention_head(tiny_gpt2(), IDS).rotary


def test_without_rotation_or_mask_the_weights_differ():
    """The checks the exercise relies on can fail: dropping RoPE or the mask changes the weights."""
    part = attention_head(tiny_llama(), IDS)
    q, k = part.x @ part.W_q + part.b_q, part.x @ part.W_k + part.b_k
    unrotated = (q @ k.T / math.sqrt(part.size)).masked_fill(torch.ones(7, 7, dtype=torch.bool).triu(1), -math.inf)
    assert not torch.allclose(unrotated.softmax(-1), part.weights, atol=1e-4)
    rotated = part.rotate(q) @ part.rotate(k).T / math.sqrt(part.size)
    assert not torch.allclose(rotated.softmax(-1), part.weights, atol=1e-4)


@pytest.mark.parametrize("kwargs,message", [
    (dict(layer=2), "layer must be a whole number from 0 to 1"),
    (dict(layer=True), "layer must be a whole number"),
    (dict(head=4), "head must be a whole number from 0 to 3"),
    (dict(head=-1), "head must be a whole number"),
    (dict(input_ids=torch.tensor([[1, 2], [3, 4]])), "Give one sequence of token ids"),
    (dict(input_ids=torch.tensor([[]], dtype=torch.long)), "Give one sequence of token ids"),
])
def test_bad_input_is_one_clear_error(kwargs, message):
    arguments = dict(input_ids=IDS) | kwargs
    with pytest.raises(ValueError, match=message):
        attention_head(tiny_gpt2(), arguments.pop("input_ids"), **arguments)


def tiny_encoder(config_class=BertConfig, model_class=BertForMaskedLM):
    torch.manual_seed(0)
    config = config_class(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, attn_implementation="eager")
    return model_class(config).eval()


def test_a_model_it_cannot_take_apart_is_refused():
    with pytest.raises(ValueError, match="neither GPT-2 nor a Llama-style model"):
        attention_head(tiny_encoder(), IDS)
    with pytest.raises(ValueError, match="not a BERT-family encoder: encoder_head cannot"):
        encoder_head(tiny_gpt2())


@pytest.mark.parametrize("classes", [(BertConfig, BertForMaskedLM), (RobertaConfig, RobertaForMaskedLM)],
                         ids=["bert", "roberta"])
@pytest.mark.parametrize("layer,head", [(0, 0), (1, 3)])
def test_an_encoder_heads_rows_are_the_softmax_of_its_unmasked_scores(classes, layer, head):
    """Every row, computed from the layer's input and the head's slice of query and key, equals output_attentions:
    no causal mask, every token sees every token."""
    model = tiny_encoder(*classes)
    ids = IDS + 5  # RoBERTa's positions start after its padding id (1): no id here is a pad
    with torch.no_grad():
        outputs = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
    parts = encoder_head(model, layer, head)
    x = outputs.hidden_states[layer][0]
    q, k = x @ parts.W_q + parts.b_q, x @ parts.W_k + parts.b_k
    assert parts.size == 8 and parts.W_q.shape == (32, 8)
    weights = (q @ k.T / math.sqrt(8)).softmax(-1)
    torch.testing.assert_close(weights, outputs.attentions[layer][0, head], atol=1e-6, rtol=1e-5)
    assert weights[torch.ones(7, 7, dtype=torch.bool).triu(1)].min() > 0  # later tokens get weight: none masked


@pytest.mark.parametrize("classes", [(BertConfig, BertForMaskedLM), (RobertaConfig, RobertaForMaskedLM)],
                         ids=["bert", "roberta"])
def test_an_encoders_embeddings_give_its_first_hidden_states(classes):
    """Each token's row, its position's (RoBERTa's counted from its pad id + 1) and segment A's, added and
    normalised: hidden_states[0], from nothing but the weights."""
    model = tiny_encoder(*classes)
    with torch.no_grad():
        first = model(input_ids=IDS + 5, output_hidden_states=True).hidden_states[0][0]
    emb = encoder_embeddings(model)
    assert emb.first_position == (0 if classes[0] is BertConfig else model.config.pad_token_id + 1)
    ids = (IDS + 5)[0]
    x = emb.token[ids] + emb.position[emb.first_position + torch.arange(len(ids))] + emb.segment[0]
    x = x - x.mean(-1, keepdim=True)
    expected = x / (x.pow(2).mean(-1, keepdim=True) + emb.norm_eps).sqrt() * emb.norm_weight + emb.norm_bias
    torch.testing.assert_close(expected, first, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not a BERT-family encoder: encoder_embeddings cannot"):
        encoder_embeddings(tiny_gpt2())


@pytest.mark.parametrize("classes", [(BertConfig, BertForMaskedLM), (RobertaConfig, RobertaForMaskedLM)],
                         ids=["bert", "roberta"])
@pytest.mark.parametrize("layer", [0, 1])
def test_an_encoder_layers_weights_give_its_next_hidden_states(classes, layer):
    """Every head's output side by side, projected, added to x and normalised; then the feed-forward network, added
    and normalised again: hidden_states[layer + 1] at every position, from nothing but the weights."""
    model = tiny_encoder(*classes)
    with torch.no_grad():
        outputs = model(input_ids=IDS + 5, output_hidden_states=True)
    parts = encoder_layer(model, layer)
    x = outputs.hidden_states[layer][0]
    assert len(parts.heads) == 4 and parts.W_o.shape == (32, 32) and parts.W_in.shape[0] == 32

    def norm(v, weight, bias):
        v = v - v.mean(-1, keepdim=True)
        return v / (v.pow(2).mean(-1, keepdim=True) + parts.norm_eps).sqrt() * weight + bias

    heads = []
    for head in parts.heads:
        q, k, v = (x @ w + b for w, b in ((head.W_q, head.b_q), (head.W_k, head.b_k), (head.W_v, head.b_v)))
        heads.append((q @ k.T / math.sqrt(head.size)).softmax(-1) @ v)
    a = norm(x + torch.cat(heads, -1) @ parts.W_o + parts.b_o, parts.norm1_weight, parts.norm1_bias)
    y = norm(a + parts.activation(a @ parts.W_in + parts.b_in) @ parts.W_out + parts.b_out, parts.norm2_weight,
             parts.norm2_bias)
    torch.testing.assert_close(y, outputs.hidden_states[layer + 1][0], atol=1e-5, rtol=1e-5)


def test_a_bad_encoder_layer_request_is_one_clear_error():
    with pytest.raises(ValueError, match="layer must be a whole number from 0 to 1"):
        encoder_layer(tiny_encoder(), 2)
    with pytest.raises(ValueError, match="not a BERT-family encoder"):
        encoder_layer(tiny_gpt2())


@pytest.mark.parametrize("kwargs,message", [
    (dict(layer=2), "layer must be a whole number from 0 to 1"),
    (dict(head=4), "head must be a whole number from 0 to 3"),
    (dict(head="0"), "head must be a whole number"),
])
def test_a_bad_encoder_head_request_is_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        encoder_head(tiny_encoder(), **kwargs)
    with pytest.raises(ValueError, match="model must be a loaded model"):
        encoder_head("bert-base-uncased")


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_all_heads_from_one_pass_are_the_heads_one_by_one(make):
    model = make()
    heads = attention_heads(model, IDS, layer=1)  # a forward pass that stops after layer 1
    assert [h.head for h in heads] == list(range(model.config.num_attention_heads))
    model.set_attn_implementation("eager")
    with torch.no_grad():
        attentions = model(IDS, output_attentions=True).attentions[1][0]  # the whole pass's, for comparison
    torch.testing.assert_close(torch.stack([h.weights for h in heads]), attentions)
    for h in heads:
        one = attention_head(model, IDS, layer=1, head=h.head)
        assert torch.equal(h.output, one.output) and torch.equal(h.weights, one.weights) and torch.equal(h.W_q, one.W_q)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_a_layers_bare_heads_on_the_models_input_are_the_models_heads(make):
    """``layer_heads``: weights only, no forward pass; ``head.on(x)`` reads x, as a student's own layer feeds it."""
    model = make()
    full, bare = attention_heads(model, IDS, layer=1), layer_heads(model, layer=1)
    assert all(h.x is None and h.weights is None and h.output is None for h in bare)
    for h, b in zip(full, bare):
        weights, output = recompute(b.on(h.x))
        torch.testing.assert_close(weights, h.weights, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(output, h.output, atol=1e-6, rtol=1e-5)
    moved = full[0].on(full[0].x * 2)
    assert moved.weights is None and moved.output is None and torch.equal(moved.W_q, full[0].W_q)


def test_rotating_one_position_at_a_time_is_rotating_the_whole_sequence():
    """What a KV cache needs: a key computed at its own step, rotated at its position (start=t), is the key the
    full pass rotates; a row rotated as if at position 0 is not."""
    part = attention_head(tiny_llama(), IDS)
    k = part.x @ part.W_k + part.b_k
    whole = part.rotate(k)
    rows = torch.stack([part.rotate(k[t], start=t) for t in range(len(k))])  # (d,) rows, one position each
    torch.testing.assert_close(rows, whole)
    torch.testing.assert_close(part.rotate(k[2:5], start=2), whole[2:5])
    assert not torch.allclose(part.rotate(k[3]), whole[3])
    gpt2 = attention_head(tiny_gpt2(), IDS)
    assert torch.equal(gpt2.rotate(gpt2.x[:, :8], start=3), gpt2.x[:, :8])  # no rotary positions: unchanged


@pytest.mark.parametrize("call,message", [
    (lambda rotate, k: rotate(k[0], start=7), "rotate's start .* must be a whole number from 0 to 6, got 7"),
    (lambda rotate, k: rotate(k[0], start=-1), "from 0 to 6, got -1"),
    (lambda rotate, k: rotate(k[:3], start=5), "from 0 to 4, got 5"),
    (lambda rotate, k: rotate(k[0], start=1.5), "got 1.5"),
    (lambda rotate, k: rotate(k[None, None]), r"shape \(n, d\), \(d,\) or \(heads, n, d\), got shape \(1, 1, 7, 8\)"),
    (lambda rotate, k: rotate(k.tolist()), "got list"),
    (lambda rotate, k: rotate(torch.cat([k, k])), "rotate got 14 rows, but this head was taken on 7 positions"),
])
def test_a_bad_rotation_is_one_clear_error(call, message):
    part = attention_head(tiny_llama(), IDS)
    with pytest.raises(ValueError, match=message):
        call(part.rotate, part.x @ part.W_k + part.b_k)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama])
def test_a_layers_projections_hold_every_head_and_rotate_them_all_at_once(make):
    """Head i's weights are columns i*d:(i+1)*d of the layer's projections (its key/value head's, under grouped-query
    attention); rotating (heads, n, d) at once is rotating each head's rows."""
    model = make()
    p, heads = layer_projections(model), attention_heads(model, IDS)
    assert (p.heads, p.size) == (len(heads), heads[0].size)
    assert p.W_q.shape == (model.config.hidden_size, p.heads * p.size)
    for h in heads:
        q, kv = slice(h.head * p.size, (h.head + 1) * p.size), slice(h.kv_head * p.size, (h.kv_head + 1) * p.size)
        for mine, theirs in ((p.W_q[:, q], h.W_q), (p.b_q[q], h.b_q), (p.W_k[:, kv], h.W_k), (p.b_v[kv], h.b_v)):
            assert torch.equal(mine, theirs)
    x = heads[0].x
    k = (x @ p.W_k + p.b_k).view(len(x), p.kv_heads, p.size).transpose(0, 1)  # (kv_heads, n, d)
    together = p.rotate(k, start=0)
    torch.testing.assert_close(together, torch.stack([heads[0].rotate(rows) for rows in k]))
    assert (p.kv_heads < p.heads) == (make is tiny_llama)  # grouped-query attention
    assert torch.equal(together, k) == (make is tiny_gpt2)  # GPT-2 has no rotary positions


def test_rotary_frequencies_are_the_angles_of_the_models_rotation():
    """Pair j of a query (dimension j with j + d/2) turned by position x frequency j is the model's own rotation."""
    assert rotary_frequencies(tiny_gpt2()) is None  # learned positions: nothing turns
    model = tiny_llama()
    head, freqs = attention_head(model, IDS), rotary_frequencies(model)
    assert freqs.shape == (head.size // 2,) and freqs[0] == 1.0 and (freqs.diff() < 0).all()  # fastest first
    q = head.x @ head.W_q + head.b_q
    angles = torch.arange(len(q)).float()[:, None] * freqs
    x1, x2 = q[:, :head.size // 2], q[:, head.size // 2:]
    by_hand = torch.cat([x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos()], -1)
    torch.testing.assert_close(by_hand, head.rotate(q), atol=1e-5, rtol=1e-5)


def test_attention_weights_scale_mask_and_softmax_each_row_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    k = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    scores, weights = attention_weights(q, k)
    root2 = 2 ** 0.5
    assert scores.flatten().tolist() == pytest.approx([2 / root2, 0.0, 0.0, 2 / root2])
    e = torch.e ** (2 / root2)  # row 2: scores 0 and 2/√2
    assert weights.flatten().tolist() == pytest.approx([1.0, 0.0, 1 / (1 + e), e / (1 + e)])


def test_the_mapped_head_spreads_the_blank_s_row_and_reads_the_most_past_it():
    """Of the heads whose row at the blank puts no position over half its weight, the one with the most past the blank;
    where no head spreads its row, the one with the most past the blank of all."""
    def layer(*rows):  # one layer's heads, each given by its row at position 1 of 4; the other rows uniform
        heads = torch.full((len(rows), 4, 4), 0.25)
        heads[:, 1] = torch.tensor(rows)
        return heads.unsqueeze(0)

    pointer = [0.0, 0.0, 0.98, 0.02]  # 1.0 past the blank, on one token
    spread, less = [0.2, 0.2, 0.3, 0.3], [0.3, 0.3, 0.2, 0.2]  # 0.6 and 0.4 past it, none over half
    assert head_reading_past((layer(less, pointer), layer(pointer, spread)), 1, [2, 3]) == (1, 1)
    assert head_reading_past((layer(less, pointer),), 1, [2, 3]) == (0, 0)
    assert head_reading_past((layer(pointer, [0.0, 0.6, 0.4, 0.0]),), 1, [2, 3]) == (0, 0)  # none spreads: the most


def test_parking_by_thirds_averages_every_row_of_a_third_s_heads_and_names_where_each_third_leans():
    from utils.attention import parking_by_thirds

    heads = torch.zeros(3, 2, 3, 3)  # 3 layers of 2 heads over [CLS] a [SEP]
    heads[0, :, :, 0] = 1.0  # layer 0: every row on [CLS]
    heads[1:, 0, :, 2], heads[1:, 1, :, 1] = 1.0, 1.0  # layers 1-2: half the heads on [SEP], half on "a"
    lines = parking_by_thirds(heads, ["[CLS]", "a", "[SEP]"], [0, 2]).splitlines()
    assert lines == ["Every row, by thirds of the layers: layers 0-0: 100% on [CLS], 0% on [SEP]; layers 1-1: 0% on "
                     "[CLS], 50% on [SEP]; layers 2-2: 0% on [CLS], 50% on [SEP].",
                     "Here each third leans most on [CLS] (layers 0-0), [SEP] (layers 1-1), [SEP] (layers 2-2); Clark "
                     "et al. found [SEP] in bert-base-uncased's middle layers."]
    two = parking_by_thirds(heads[:2], ["[CLS]", "a", "[SEP]"], [0, 2])  # two layers: no empty third
    assert "layers 0-0" in two and "layers 1-1" in two and "layers 2" not in two
