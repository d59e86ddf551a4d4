"""A decoder layer taken apart runs back to the model's own hidden state, the whole model taken apart runs back to its
logits, the other architecture is built from its config, and the build-it-yourself checks recognise right answers
and name the usual wrong ones.

The reference layer and forward pass are written out here independently of utils (notebook 2's exercises ask the
student for the same steps), on a tiny GPT-2 and a tiny Llama-style model (grouped-query heads, rotary positions), as
in test_attention.
"""

import json

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from utils.attention import attention_heads
from utils.blocks import (
    SMOLLM2_135M,
    architecture_table,
    layer_parts,
    model_parts,
    other_architecture,
    tiny_other_architecture,
    where_parts_come_from,
)
from utils.decoding_checks import loop_verdict
from utils.exercises import Rebuilt
from utils.offline import assets
from utils.sampling import filtered_probabilities
from utils.support.build_mistakes import (
    cached_head_mistake,
    filter_mistake,
    forward_mistake,
    head_mistake,
    layer_mistake,
    unanswered,
)

IDS = torch.tensor([[5, 17, 250, 3, 99, 42, 7]])


def tiny_gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=32, n_layer=2, n_embd=32, n_head=4)).eval()


def tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def norm(x, n):
    if n.subtracts_mean:
        x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + n.eps).sqrt() * n.weight + n.bias


def head(h):
    q, k, v = h.rotate(h.x @ h.W_q + h.b_q), h.rotate(h.x @ h.W_k + h.b_k), h.x @ h.W_v + h.b_v
    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(1)
    weights = (q @ k.T / h.size ** 0.5).masked_fill(future, float("-inf")).softmax(-1)
    return weights, weights @ v


def layer(x, p):
    a = norm(x, p.norm_1)
    r = x + torch.cat([head(h.on(a))[1] for h in p.heads], dim=-1) @ p.W_o + p.b_o
    m = norm(r, p.norm_2)
    up = m @ p.W_up + p.b_up
    hidden = p.act(m @ p.W_gate + p.b_gate) * up if p.W_gate is not None else p.act(up)
    return r + hidden @ p.W_down + p.b_down


def forward(input_ids, parts, final_norm=True, positions=True):
    ids = input_ids.reshape(-1)
    x = parts.W_embed[ids]
    if parts.W_pos is not None and positions:
        x = x + parts.W_pos[:len(ids)]
    for p in parts.layers:
        x = layer(x, p)
    return (norm(x, parts.norm) if final_norm else x) @ parts.W_lm + parts.b_lm


def step(h, x_t, t, cache):
    q = h.rotate(x_t @ h.W_q + h.b_q, start=t)
    cache["k"].append(h.rotate(x_t @ h.W_k + h.b_k, start=t))
    cache["v"].append(x_t @ h.W_v + h.b_v)
    keys, values = torch.stack(cache["k"]), torch.stack(cache["v"])
    return (keys @ q / h.size ** 0.5).softmax(-1) @ values


def hidden_states(model, layer_index=1):
    with torch.no_grad():
        return model(IDS, output_hidden_states=True).hidden_states[layer_index][0]


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
@pytest.mark.parametrize("index", [0, 1])
def test_a_layer_run_from_its_parts_is_the_models_next_hidden_state(make, index):
    model = make()
    parts = layer_parts(model, IDS, layer=index)
    assert len(parts.heads) == model.config.num_attention_heads and parts.layer == index
    assert all(h.x is None and h.output is None for h in parts.heads)  # weights only: the input is the student's
    torch.testing.assert_close(parts.x, hidden_states(model, index))  # the layer's input
    torch.testing.assert_close(norm(parts.x, parts.norm_1), attention_heads(model, IDS, index)[0].x)  # heads read it
    if index == 0:  # the last entry of hidden_states has the final norm applied; layer 0's output does not
        torch.testing.assert_close(layer(parts.x, parts), hidden_states(model, 1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_the_whole_model_run_from_its_parts_gives_its_logits(make):
    model = make()
    parts = model_parts(model)
    assert len(parts.layers) == 2 and all(p.x is None for p in parts.layers)
    assert (parts.W_pos is None) == (parts.architecture == "Llama-style")
    with torch.no_grad():
        expected = model(IDS).logits[0]
    torch.testing.assert_close(forward(IDS, parts), expected, atol=1e-5, rtol=1e-4)
    assert parts.W_lm.data_ptr() == model.get_output_embeddings().weight.data_ptr()  # a view: no copy
    head_0 = attention_heads(model, IDS, 0)[0]
    torch.testing.assert_close(parts.layers[0].heads[0].rotate(head_0.x @ head_0.W_k), head_0.rotate(head_0.x @
                                                                                                    head_0.W_k))


def test_the_two_architectures_come_apart_into_the_same_fields():
    gpt2, llama = layer_parts(tiny_gpt2(), IDS), layer_parts(tiny_llama(), IDS)
    assert (gpt2.architecture, gpt2.norm_1.subtracts_mean, gpt2.W_gate) == ("GPT-2", True, None)
    assert (llama.architecture, llama.norm_1.subtracts_mean) == ("Llama-style", False)
    assert llama.W_gate.shape == llama.W_up.shape == (48, 64) and not llama.norm_1.bias.any()
    assert gpt2.W_o.shape == (32, 32) and gpt2.W_up.shape == (32, 128) and gpt2.W_down.shape == (128, 32)


@pytest.mark.parametrize("make,kind", [(tiny_gpt2, LlamaForCausalLM), (tiny_llama, GPT2LMHeadModel)],
                         ids=["gpt2", "llama"])
def test_the_tiny_other_architecture_reads_the_same_ids_and_leaves_the_random_numbers_alone(make, kind):
    model = make()
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    other = tiny_other_architecture(model)
    assert torch.equal(torch.rand(3), before)  # the notebook's seeded draws are not moved
    assert isinstance(other, kind) and other.config.vocab_size == 300 and other.config.num_hidden_layers == 2
    assert other.name_or_path.startswith("the tiny random ")
    again = tiny_other_architecture(model)
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), again.state_dict().values()))
    parts = layer_parts(other, IDS)  # two layers: hidden_states[1] is layer 0's output as it is
    with torch.no_grad():
        expected = other(IDS, output_hidden_states=True).hidden_states[1][0]
    torch.testing.assert_close(layer(parts.x, parts), expected, atol=1e-5, rtol=1e-4)


def test_the_other_architecture_full_size_has_the_real_models_shape():
    beside_llama = other_architecture(tiny_llama())
    assert isinstance(beside_llama, GPT2LMHeadModel) and beside_llama.device.type == "meta"
    assert round(sum(p.numel() for p in beside_llama.parameters()) / 1e6, 1) == 124.4  # gpt2, tied embeddings
    config = json.loads((assets.asset_dir("smollm2-135m") / "config.json").read_text())
    assert {key: config[key] for key in SMOLLM2_135M} == SMOLLM2_135M  # the stand-in's own config
    table = architecture_table(tiny_gpt2()).splitlines()
    assert table[1].split()[1:] == ["GPT2LMHeadModel", "LlamaForCausalLM"]
    assert "9 x 64" in next(row for row in table if row.startswith("heads x head size"))
    assert "45 KiB (1.5 KiB a layer)" in table[-1]  # 3 key/value heads of 30 layers, against GPT-2's 12 of 12
    assert "3 (each shared by 3 query heads)" in next(row for row in table if row.startswith("key/value"))
    assert next(row for row in table if row.startswith("LM head")).count("tied to the embeddings") == 2  # both tied
    untied = tiny_gpt2()
    untied.config.tie_word_embeddings = False
    head_row = next(row for row in architecture_table(untied).splitlines() if row.startswith("LM head"))
    assert "its own weights" in head_row


@pytest.mark.parametrize("call,message", [
    (lambda: layer_parts(BertForMaskedLM(BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64)), IDS),
     "neither GPT-2 nor a Llama-style model"),
    (lambda: layer_parts(tiny_gpt2(), IDS, layer=2), "layer must be a whole number from 0 to 1"),
    (lambda: layer_parts(tiny_gpt2(), torch.tensor([[1, 2], [3, 4]])), "Give one sequence of token ids"),
    (lambda: tiny_other_architecture("gpt2"), "model must be a loaded model"),
    (lambda: architecture_table(None), "model must be a loaded model"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- the checks -----------------------------------------------------------------------------------------

def test_the_head_check_accepts_the_head_and_names_the_mistakes():
    part = attention_heads(tiny_llama(), IDS)[1]
    weights, output = head(part)
    assert head_mistake((weights, output), part) is None
    assert head_mistake((weights.tolist(), output.tolist()), part) is None
    assert "see later tokens" in head_mistake((part.weights.tril() + part.weights.triu(1) + 0.01, output), part)
    assert "output is not" in head_mistake((weights, output * 2), part)
    assert "return two things" in head_mistake(output, part)
    assert "rotated?" in head_mistake(head(type(part)(**{**vars(part), "rotate": lambda t, start=0: t})), part)
    assert unanswered(None) and unanswered((None, None)) and not unanswered((weights, None))


def test_the_cache_check_runs_one_cache_over_every_step():
    model = tiny_llama()
    part = attention_heads(model, IDS)[2]
    recomputed = [attention_heads(model, IDS[:, :t + 1])[2].output[-1] for t in range(IDS.shape[1])]
    torch.testing.assert_close(torch.stack(recomputed), part.output)  # causal: the prefix's last row is the row
    assert cached_head_mistake(step, part, recomputed) is None

    def at_position_0(h, x_t, t, cache):
        return step(h, x_t, 0, cache)

    assert "rotate each at its own position" in cached_head_mistake(at_position_0, part, recomputed)
    assert "at step 0" in cached_head_mistake(lambda h, x_t, t, cache: None, part, recomputed)

    def forgets(h, x_t, t, cache):
        out = step(h, x_t, t, cache)
        cache["k"].clear(), cache["v"].clear()
        return out

    assert "after step 0 your cache holds 0 keys" in cached_head_mistake(forgets, part, recomputed)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_the_layer_check_accepts_the_layer_and_names_the_mistakes(make):
    model = make()
    parts = layer_parts(model, IDS)
    assert layer_mistake(norm, layer, model, IDS) is None
    r = parts.x + torch.cat([h.output for h in attention_heads(model, IDS)], dim=-1) @ parts.W_o + parts.b_o
    assert "that is r = x + attention" in layer_mistake(norm, lambda x, p: r, model, IDS)
    assert "the MLP's output alone" in layer_mistake(norm, lambda x, p: layer(x, p) - r, model, IDS)
    assert "is not what the heads read" in layer_mistake(lambda x, n: x, layer, model, IDS)
    assert "its shape is (1, 7" in layer_mistake(norm, lambda x, p: layer(x, p)[None], model, IDS)
    assert "Here parts.x" in layer_mistake(norm, lambda x, p: layer(p.x, p), model, IDS)  # x, not parts.x


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama], ids=["gpt2", "llama"])
def test_the_forward_check_accepts_the_model_and_names_the_mistakes(make):
    model = make()
    assert forward_mistake(forward, model, IDS) is None
    assert forward_mistake(lambda i, p: forward(i, p)[None].tolist(), model, IDS) is None  # (1, n, V), a list
    assert "apply the final norm" in forward_mistake(lambda i, p: forward(i, p, final_norm=False), model, IDS)
    unplaced = forward_mistake(lambda i, p: forward(i, p, positions=False), model, IDS)
    assert (unplaced is None) if model_parts(model).W_pos is None else "learned vector" in unplaced
    assert "those are probabilities" in forward_mistake(lambda i, p: forward(i, p).softmax(-1), model, IDS)
    assert "not the last one's only" in forward_mistake(lambda i, p: forward(i, p)[-1], model, IDS)
    assert "it is a str" in forward_mistake(lambda i, p: "logits", model, IDS)
    assert forward_mistake(lambda i, p: None, model, IDS) == "Not answered yet."
    assert "Here parts.x" in forward_mistake(lambda i, p: layer(p.layers[0].x, p.layers[0]), model, IDS)


def test_the_cached_loop_check_counts_the_tokens_fed(greedy_loops):
    model = tiny_llama()
    with torch.no_grad():
        expected = model.generate(IDS, max_new_tokens=4, do_sample=False).tolist()[0]
    cached = greedy_loops(model)[1]

    def refed(prompt_ids, n):
        ids = prompt_ids
        with torch.no_grad():
            for _ in range(n):
                ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return ids

    assert loop_verdict(cached, model, IDS, 4, expected).startswith("Correct: greedy decoding's 4 tokens")
    assert "fed [7, 8, 9, 10] tokens" in loop_verdict(refed, model, IDS, 4, expected)
    assert "start with the prompt's ids" in loop_verdict(lambda p, n: cached(p, n)[7:], model, IDS, 4, expected)
    assert "a list of ints" in loop_verdict(lambda p, n: "ids", model, IDS, 4, expected)
    assert loop_verdict(lambda p, n: None, model, IDS, 4, expected).startswith("Not answered yet")
    with pytest.raises(Rebuilt, match="your answer calls generate, the very thing this exercise rebuilds"):
        loop_verdict(lambda p, n: model.generate(p, max_new_tokens=n).tolist()[0], model, IDS, 4, expected)
    assert "generate" not in vars(model)  # put back


def test_the_plain_loop_check_wants_greedy_tokens_from_the_whole_sequence_each_pass():
    """Exercise 1 (a): with no reference ids, each new token must be the model's best at its step, and each pass
    reads the whole sequence so far; a cached loop, a wrong token, a short list and a string are each told apart."""
    model = tiny_llama()

    def refed(prompt_ids, n):
        ids = prompt_ids
        with torch.no_grad():
            for _ in range(n):
                ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return ids[0].tolist()

    ids = refed(IDS, 4)
    said = loop_verdict(refed, model, IDS, 4, cached=False)
    assert said == ("Correct: greedy decoding's 4 tokens, from 4 passes over the whole sequence so far (7, 8, ... "
                    "tokens).")
    cached = lambda p, n: _fed_like_a_cache(model, ids, len(IDS[0]))  # noqa: E731 (the right ids, fed as a cache)
    assert "fed [7, 1, 1, 1] tokens: without the cache" in loop_verdict(cached, model, IDS, 4, cached=False)
    with torch.no_grad():
        runner_up = int(model(input_ids=torch.tensor([ids[:8]])).logits[0, -1].topk(2).indices[1])
    wrong = lambda p, n: refed(p, 1) + [runner_up] + refed(p, 4)[9:]  # noqa: E731 (the second new token)
    assert "at new token 2" in loop_verdict(wrong, model, IDS, 4, cached=False)
    assert "at new token" in loop_verdict(lambda p, n: refed(p, 3), model, IDS, 4, cached=False)
    assert "a list of ints" in loop_verdict(lambda p, n: 3.5, model, IDS, 4, cached=False)
    assert loop_verdict(lambda p, n: None, model, IDS, 4, cached=False).startswith("Not answered yet")


def test_the_cached_loop_check_takes_either_side_of_a_near_tie_and_nothing_further():
    """Against a reference that broke a tie the other way (its third token the runner-up, as if two scores had
    rounded level there), the true greedy tokens pass and the step is named; the runner-up itself, far below the
    best, is a wrong token."""
    model = tiny_llama()
    with torch.no_grad():
        greedy = model.generate(IDS, max_new_tokens=4, do_sample=False).tolist()[0]
        logits = model(input_ids=torch.tensor([greedy])).logits[0]
    third = len(IDS[0]) + 2  # the third new token's position
    runner_up = int(logits[third - 1].topk(2).indices[1])
    assert float(logits[third - 1].max() - logits[third - 1, runner_up]) > 1e-3  # not a tie here
    other_way = greedy[:third] + [runner_up] + greedy[third + 1:]

    def answer(ids):
        return lambda prompt_ids, n: _fed_like_a_cache(model, ids, len(IDS[0]))

    said = loop_verdict(answer(greedy), model, IDS, 4, other_way)
    assert said.startswith("Correct:") and "From new token 3 on yours differ from Step 3's" in said
    assert "at new token 3" in loop_verdict(answer(other_way), model, IDS, 4, greedy)


def _fed_like_a_cache(model, ids: list[int], prompt: int) -> list[int]:
    """``ids`` returned after the forward passes a cached loop makes: the prompt, then one token a pass."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids[:prompt]]), use_cache=True)
        for i in range(prompt, len(ids) - 1):
            out = model(input_ids=torch.tensor([[ids[i]]]), past_key_values=out.past_key_values, use_cache=True)
    return ids


def test_the_filter_check_counts_the_tokens_kept():
    torch.manual_seed(0)
    logits = torch.randn(1_000) * 3
    expected = filtered_probabilities(logits, 1.0, 0, 0.9)
    assert filter_mistake(expected.clone(), expected, 0.9) is None
    order = expected.argsort(descending=True)
    short = expected.clone()
    short[order[int((expected > 0).sum()) - 1]] = 0  # the nucleus one token short
    kept = int((expected > 0).sum())
    assert f"You kept {kept - 1:,} tokens, expected {kept:,}. One short" in filter_mistake(short / short.sum(),
                                                                                         expected, 0.9)
    assert "you kept the right" in filter_mistake(expected * 2, expected, 0.9)
    assert filter_mistake("probabilities", expected, 0.9) == "it is a str, not a tensor of numbers."


@pytest.mark.parametrize("running", [tiny_gpt2, tiny_llama], ids=["beside GPT-2", "beside a Llama-style model"])
def test_the_other_architecture_has_no_zero_bias_and_no_unit_norm_weight(running):
    """Code that leaves out a bias or a norm's weight gives other numbers on it, so a check catches the slip."""
    other = tiny_other_architecture(running())
    for name, weight in other.named_parameters():
        if name.endswith("bias"):
            assert weight.abs().min() > 0 and weight.std() > 0.05, name
        elif "ln_" in name or "norm" in name:
            assert (weight - 1).abs().max() > 0.05, name


def test_the_table_of_where_each_part_sits_names_each_models_own_modules_and_is_checked():
    """Each row names the module a layer_parts field is read from, and the layout (Conv1D as is, nn.Linear
    transposed); a head past the first is read at its own offset (GPT-2: inside each third of c_attn; Llama: its
    key/value head). Here the paths are followed by hand."""
    gpt2, llama = tiny_gpt2(), tiny_llama()
    text = where_parts_come_from(gpt2, layer=1)
    assert text.splitlines()[:2] == ["layer 1's parts in GPT2LMHeadModel's own modules, each row checked equal",
                                     "(GPT-2's Conv1D stores (in, out): each W is the weight itself):"]
    assert "transformer.h[1].attn.c_attn.weight: q, k, v side by side; head i's 8 columns of each" in text
    parts, block = layer_parts(gpt2, IDS, layer=1), gpt2.transformer.h[1]
    assert torch.equal(parts.W_o, block.attn.c_proj.weight) and torch.equal(parts.W_up, block.mlp.c_fc.weight)
    assert torch.equal(parts.heads[2].W_k, block.attn.c_attn.weight[:, 32 + 16:32 + 24])  # the k third, head 2
    text = where_parts_come_from(llama)
    assert "(nn.Linear stores (out, in): each W is the weight transposed):" in text
    assert "model.layers[0].self_attn.k_proj, v_proj .weight[j·8:(j+1)·8].T, j = i // 3" in text  # 6 heads, 2 kv
    parts, block = layer_parts(llama, IDS), llama.model.layers[0]
    assert torch.equal(parts.heads[4].W_v, block.self_attn.v_proj.weight[8:16].T)  # query head 4 reads kv head 1
    assert torch.equal(parts.W_gate, block.mlp.gate_proj.weight.T)
    with pytest.raises(ValueError, match="is neither GPT-2 nor a Llama-style model"):
        where_parts_come_from(BertForMaskedLM(BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1,
                                                         num_attention_heads=2, intermediate_size=64)))
