"""Reference solutions to notebook 2's exercises (for instructors; ``make solutions`` checks them).

``SOLUTIONS``: the answer cell's nbformat id -> (the code that goes into it, text its check cell then prints).
How the code is written, and turned into a cell: see ``__init__.py``.
"""

from typing import TYPE_CHECKING

import torch

from . import body, cell

if TYPE_CHECKING:  # what the notebook has defined when its answer cells run
    from transformers import PreTrainedModel

    from utils.generation import Decoded

    model: PreTrainedModel = ...
    tokenizer = ...
    greedy_steps: Decoded = ...  # greedy decoding, step by step, with each step's top candidates


def predict_the_next_word():
    global my_next_word
    my_next_word = "great"


def predict_the_keys():
    global my_keys_change
    my_keys_change = False  # under causal attention a position's key sees only the tokens up to it


def predict_the_cache_speedup():
    global my_cache_speedup
    my_cache_speedup = 20  # a first guess: re-feeding feeds the whole text at every step, the cache one token


def predict_the_strategies():
    global my_prediction, my_beam_beats_greedy
    my_prediction = "beam search (4)"  # it searches for the most likely text; greedy may still win per token
    my_beam_beats_greedy = True


def my_log_probability(ids, prompt_length):
    sequence = torch.tensor([ids])
    with torch.no_grad():
        log_p = model(sequence).logits[0].log_softmax(-1)  # (length, vocabulary): ln p of every token, every position
    rows, nexts = log_p[prompt_length - 1:-1], sequence[0, prompt_length:]  # row i - 1 predicts token i
    return float(rows.gather(1, nexts[:, None]).sum())


def my_greedy(prompt_ids, n):
    ids = prompt_ids
    with torch.no_grad():
        for _ in range(n):
            next_id = model(ids).logits[0, -1].argmax()  # the whole sequence so far, every pass
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    return ids[0].tolist()


def predict_right_padding():
    global my_right_padding_same
    my_right_padding_same = False  # the shorter row ends on a pad: the model writes after it


def my_batch_greedy(prompts, n):
    batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")  # rows end on real tokens
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        for _ in range(n):
            positions = (mask.cumsum(-1) - 1).clamp(min=0)  # counted from each row's first real token
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            best = logits[:, -1].argmax(-1, keepdim=True)  # (rows, 1)
            ids, mask = torch.cat([ids, best], dim=1), torch.cat([mask, torch.ones_like(best)], dim=1)
    return ids[:, -n:].tolist()


def my_cached_greedy(prompt_ids, n):
    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids  # the first pass feeds the whole prompt
    with torch.no_grad():
        for _ in range(n):
            out = model(input_ids=feed, past_key_values=past, use_cache=True)
            ids.append(int(out.logits[0, -1].argmax()))
            past, feed = out.past_key_values, torch.tensor([ids[-1:]])  # keep keys and values; feed one token
    return ids


def my_filter(logits, temperature, top_k, top_p):
    scores = logits / temperature
    if top_k > 0:
        kth = scores.topk(top_k).values[-1]  # the k-th highest score
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = scores.softmax(-1)
    if top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # the probability ranked above each token
        probs[order[before >= top_p]] = 0  # the nucleus already held top_p without them
        probs = probs / probs.sum()
    return probs


def my_sample(prompt_ids, n, temperature, top_k, top_p):
    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids
    with torch.no_grad():
        for _ in range(n):
            out = model(input_ids=feed, past_key_values=past, use_cache=True)
            probabilities = my_filter(out.logits[0, -1], temperature, top_k, top_p)
            ids.append(int(torch.multinomial(probabilities, 1)))  # a draw, where greedy took the argmax
            past, feed = out.past_key_values, torch.tensor([ids[-1:]])
    return ids


def predict_the_toy_row():
    global my_toy_pick
    my_toy_pick = 2  # key (0, 2) along query (0, 1) scores most, but token 3 comes later: the mask hides it


def my_attention_weights(q, k):
    scores = q @ k.T / q.shape[-1] ** 0.5  # entry (i, j): query i against key j
    future = torch.ones(len(q), len(k), dtype=torch.bool).triu(diagonal=1)  # True above the diagonal
    return scores.masked_fill(future, float("-inf")).softmax(-1)


def my_attention_head(head):
    q = head.rotate(head.x @ head.W_q + head.b_q)
    k = head.rotate(head.x @ head.W_k + head.b_k)
    v = head.x @ head.W_v + head.b_v
    weights = my_attention_weights(q, k)  # part (a)
    return weights, weights @ v


def my_cached_step(head, x_t, t, cache):
    q = head.rotate(x_t @ head.W_q + head.b_q, start=t)  # this token's query, turned by its position
    cache["k"].append(head.rotate(x_t @ head.W_k + head.b_k, start=t))
    cache["v"].append(x_t @ head.W_v + head.b_v)
    keys, values = torch.stack(cache["k"]), torch.stack(cache["v"])  # (t + 1, d): every token so far
    weights = (keys @ q / head.size ** 0.5).softmax(-1)  # no mask: the cache holds only the past
    return weights @ values


def my_all_heads(x, p):
    n = len(x)
    q = (x @ p.W_q + p.b_q).view(n, p.heads, p.size).transpose(0, 1)  # (heads, n, d): the heads get a dimension
    k = (x @ p.W_k + p.b_k).view(n, p.kv_heads, p.size).transpose(0, 1)  # (kv_heads, n, d)
    v = (x @ p.W_v + p.b_v).view(n, p.kv_heads, p.size).transpose(0, 1)
    q, k = p.rotate(q), p.rotate(k)
    group = p.heads // p.kv_heads  # query heads a key/value head serves, in a row
    k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
    scores = q @ k.transpose(-2, -1) / p.size ** 0.5  # (heads, n, n): every head at once
    future = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    weights = scores.masked_fill(future, float("-inf")).softmax(-1)
    return (weights @ v).transpose(0, 1).reshape(n, p.heads * p.size)  # (n, heads x d): side by side


def my_rotate(t, inv_freq, start=0):
    positions = torch.arange(start, start + len(t)).float()
    angles = positions[:, None] * inv_freq[None, :]  # (n, d/2): one angle per row and pair
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = t[:, :len(inv_freq)], t[:, len(inv_freq):]  # pair j: column j and column j + d/2
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def my_head_weights(model, layer, head):
    config = model.config
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    d = getattr(config, "head_dim", None) or config.hidden_size // heads
    if hasattr(model, "transformer"):  # GPT-2: one Conv1D, x @ weight + bias; queries, keys, values side by side
        c_attn, h = model.transformer.h[layer].attn.c_attn, config.hidden_size
        columns = [slice(third * h + head * d, third * h + (head + 1) * d) for third in range(3)]
        return tuple(t for cols in columns for t in (c_attn.weight[:, cols], c_attn.bias[cols]))
    attn = model.model.layers[layer].self_attn  # Llama-style: three Linears, x @ weight.T (+ bias)
    kv = head // (heads // kv_heads)  # the key/value head this query head's group shares
    out = []
    for proj, index in ((attn.q_proj, head), (attn.k_proj, kv), (attn.v_proj, kv)):
        rows = slice(index * d, (index + 1) * d)
        out += [proj.weight[rows].T, proj.bias[rows] if proj.bias is not None else torch.zeros(d)]
    return tuple(out)


def my_norm(x, norm):
    if norm.subtracts_mean:
        x = x - x.mean(-1, keepdim=True)  # LayerNorm centres each row; RMSNorm does not
    return x / (x.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt() * norm.weight + norm.bias


def my_layer(x, parts):
    a = my_norm(x, parts.norm_1)  # what every head reads
    heads = my_all_heads(a, parts.projections)  # (n, heads x d): every head at once, side by side
    r = x + heads @ parts.W_o + parts.b_o  # the first residual connection
    m = my_norm(r, parts.norm_2)
    up = m @ parts.W_up + parts.b_up
    hidden = parts.act(m @ parts.W_gate + parts.b_gate) * up if parts.W_gate is not None else parts.act(up)
    return r + hidden @ parts.W_down + parts.b_down  # the second


def my_forward(input_ids, parts):
    ids = input_ids[0]
    x = parts.W_embed[ids]  # (n, h): each token's vector
    if parts.W_pos is not None:  # GPT-2: plus each position's learned vector
        x = x + parts.W_pos[:len(ids)]
    for layer in parts.layers:
        x = my_layer(x, layer)  # each layer reads what the one below wrote
    return my_norm(x, parts.norm) @ parts.W_lm + parts.b_lm  # (n, vocabulary): the logits


def my_beam_search(prompt_ids, n):
    beams = [(prompt_ids[0].tolist(), 0.0)]  # (ids, summed ln p of the new tokens)
    with torch.no_grad():
        for _ in range(n):
            candidates = []
            for ids, score in beams:
                log_p = model(torch.tensor([ids])).logits[0, -1].log_softmax(-1)
                best = log_p.topk(2)
                candidates += [(ids + [int(t)], score + float(lp)) for lp, t in zip(best.values, best.indices)]
            beams = sorted(candidates, key=lambda c: c[1], reverse=True)[:2]  # the 2 best of the 4
    return beams[0][0]


def work_refeed(n, N):
    return n * N + N * (N - 1) // 2  # step i feeds n + i tokens, i = 0 .. N-1


def work_cached(n, N):
    return n + (N - 1)  # the prompt once, then one token per later step


def a_temperature_like_greedy():
    global my_temperature
    my_temperature = 0.01  # near 0 the distribution collapses onto the favourite


def predict_the_lens():
    global my_lens_third
    my_lens_third = "late"  # the last layers turn the running vector into the next token's embedding direction



def my_lens(h, final_norm, lm_head):
    return lm_head(final_norm(h)).softmax(-1)  # the norm, the LM head's scores, their probabilities

SOLUTIONS = {
    "4cd90ea4": (body(predict_the_next_word), "You predicted 'great'"),
    "1a000002": (cell(my_greedy), "Correct:"),
    "c33": (cell(my_log_probability), "Correct: one pass gives every step's ln p at once"),
    "1c000002": (body(predict_right_padding), "You predicted False: padded on the right, the shorter prompt went on"),
    "1c000006": (cell(my_batch_greedy), "Correct: each prompt continues as it does alone"),
    "c23a0001": (body(predict_the_keys), "You predicted False: the prompt's last-layer keys"),
    "2fab3d31": (cell(my_cached_greedy), "Correct:"),
    "c36": (cell(work_refeed, work_cached), "Correct:"),
    "a3ab62ec": (body(predict_the_cache_speedup), "You predicted 20x"),
    "1d834672": (cell(my_filter), "Correct:"),
    "306fd16b": (cell(my_sample), "Correct:"),
    "c39": (body(a_temperature_like_greedy), "Same as greedy"),
    "bc9393b5": (body(predict_the_strategies), "You predicted beam search (4)"),
    "028dc1ef": (cell(my_beam_search), "Correct:"),
    "957a3981": (body(predict_the_toy_row), "Right: token 2 gets row 2's largest weight"),
    "957a3986": (cell(my_attention_weights), "Correct: your weights equal"),
    "9c018689": (cell(my_attention_head), "Correct:"),
    "4b7a1e23": (cell(my_all_heads), "Correct:"),
    "7a3c5e04": (cell(my_rotate), "Correct:"),
    "8d0a1e03": (cell(my_head_weights), "Correct:"),
    "0f621cfb": (cell(my_cached_step), "Correct:"),
    "93d11cfb": (cell(my_norm), "Correct:"),
    "93d11cfc": (cell(my_layer), "Correct:"),
    "14677cf1": (cell(my_forward), "Correct:"),
    "18ef1651": (cell(my_lens), "Correct: on the last layer your lens gives the model's own output"),
    "18ef164a": (body(predict_the_lens), "you predicted 'late'; the final choice"),
}
