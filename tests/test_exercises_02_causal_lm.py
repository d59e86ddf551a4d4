"""Notebook 2 (causal LM)'s exercises: every check cell accepts right answers, in more than one form, and turns down
plausible wrong ones (tests/exercise_kernel.py runs them)."""

import pytest
from exercise_kernel import RIGHT, WRONG, exercise_tests, solution, stdout_of
from nbclient.exceptions import CellExecutionError

REBUILT = "the very thing this exercise rebuilds"  # what a check says to an answer that calls the library
NOTEBOOK = "02_causal_lm.ipynb"

NEXT_WORD_ANSWER, NEXT_WORD_CHECK = "4cd90ea4", "5906d0ca"  # predict the next word; GPT-2's figures revealed
GREEDY_ANSWER, GREEDY_CHECK = "1a000002", "1a000003"  # greedy decoding, the whole sequence re-fed each pass
CONTINUATION_ANSWER, CONTINUATION_CHECK = "c33", "c34"  # the probability of the greedy continuation
PADDING_ANSWER, PADDING_CHECK = "1c000002", "1c000004"  # will right padding leave the shorter prompt's text as alone?
BATCH_ANSWER, BATCH_CHECK = "1c000006", "1c000007"  # greedy decoding of several prompts at once, padded on the left
KEYS_ANSWER, KEYS_CHECK = "c23a0001", "c23a0003"  # will the prompt's last-layer keys change with one more token?
LOOP_ANSWER, LOOP_CHECK = "2fab3d31", "8f44bcef"  # greedy decoding with the model's KV cache, written out
WORK_ANSWER, WORK_CHECK = "c36", "c37"  # tokens fed with and without the KV cache, as formulas
SPEEDUP_ANSWER, SPEEDUP_CHECK = "a3ab62ec", "c25b7e01"  # the cache's speed-up, predicted before the timing
TOY_ANSWER, TOY_CHECK = "957a3981", "957a3983"  # predict which token wins row 2 of attention at toy size
MY_LENS_ANSWER, MY_LENS_CHECK = "18ef1651", "18ef1652"  # the final norm and the LM head on one hidden vector
LENS_ANSWER, LENS_CHECK = "18ef164a", "d0cf5f55"  # in which third of the layers the final choice tops the lens
WEIGHTS_ANSWER, WEIGHTS_CHECK = "957a3986", "957a3987"  # the toy's steps: scaled scores, the mask, row softmax
HEAD_ANSWER, HEAD_CHECK = "9c018689", "d6374c70"  # one causal attention head by hand
ALL_HEADS_ANSWER, ALL_HEADS_CHECK = "4b7a1e23", "4b7a1e24"  # every head of layer 0 at once: (heads, n, d)
ROTATE_ANSWER, ROTATE_CHECK = "7a3c5e04", "7a3c5e05"  # RoPE: queries turned by position, pair by pair
LAYOUT_ANSWER, LAYOUT_CHECK = "8d0a1e03", "8d0a1e04"  # one head's weights, cut out of the checkpoint
CACHED_ANSWER, CACHED_CHECK = "0f621cfb", "d9b1d067"  # the same head, one position at a time, with a KV cache
NORM_ANSWER, NORM_CHECK = "93d11cfb", "246447f2"  # LayerNorm and RMSNorm, as layer 0's heads read them
LAYER_ANSWER, LAYER_CHECK = "93d11cfc", "246447f3"  # the output projection, residuals and MLP of layer 0
FORWARD_ANSWER, FORWARD_CHECK = "14677cf1", "c5ccfa37"  # the whole model: embeddings, every layer, norm, LM head
YOUR_MODEL_WRITES = "c5ccfa39"  # not a check: greedy decoding with the student's my_forward alone
FILTERS_ANSWER, FILTERS_CHECK = "1d834672", "14672850"  # temperature, top-k and top-p by hand
SAMPLING_ANSWER, SAMPLING_CHECK = "306fd16b", "c8f0d101"  # the sampling loop, as generate(do_sample=True)
TEMPERATURE_ANSWER, TEMPERATURE_CHECK = "c39", "c40"  # a temperature at which sampling is greedy
STRATEGIES_ANSWER, STRATEGIES_CHECK = "bc9393b5", "4844112a"  # the most likely strategy per token; beam vs greedy
BEAM_ANSWER, BEAM_CHECK = "028dc1ef", "102ea084"  # beam search of width 2, as generate(num_beams=2)

# sampling without the cache: the prompt and every drawn token fed again at each step (the return varies by case)
FILTERED_EACH_STEP = ("def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"  # a draw of its own follows
                      "    ids = prompt_ids[0].tolist()\n"
                      "    for _ in range(n):\n"
                      "        with torch.no_grad():\n"
                      "            p = filtered_probabilities(model(torch.tensor([ids])).logits[0, -1], temperature,"
                      " top_k, top_p)\n")
NO_CACHE_SAMPLE = ("def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                   "    ids = prompt_ids\n"
                   "    for _ in range(n):\n"
                   "        with torch.no_grad():\n"
                   "            logits = model(ids).logits[0, -1]\n"
                   "        p = filtered_probabilities(logits, temperature, top_k, top_p)\n"
                   "        ids = torch.cat([ids, torch.multinomial(p, 1)[None]], dim=1)\n")


# exercise 1c's loop, with the padding side and the positions it passes to fill in
BATCH_LOOP = """
def my_batch_greedy(prompts, n):
    tokenizer.padding_side = "{side}"
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    for _ in range(n):
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask{extra}).logits
        best = logits[:, -1:].argmax(-1)
        ids, mask = torch.cat([ids, best], 1), torch.cat([mask, torch.ones_like(best)], 1)
    return ids[:, -n:]
"""


def _log_probability(result):
    """An answer to exercise 1b: one pass over ids, then ``result`` from its ``logits`` (length, vocabulary)."""
    return ("import math\n"
            "def my_log_probability(ids, prompt_length):\n"
            "    with torch.no_grad():\n"
            "        logits = model(torch.tensor([ids])).logits[0]\n"
            f"    return {result}")


EXERCISES = {  # name -> (answer cell, check cell), in notebook order
    "next word": (NEXT_WORD_ANSWER, NEXT_WORD_CHECK),
    "greedy loop": (GREEDY_ANSWER, GREEDY_CHECK),
    "continuation": (CONTINUATION_ANSWER, CONTINUATION_CHECK),
    "right padding": (PADDING_ANSWER, PADDING_CHECK),
    "batch": (BATCH_ANSWER, BATCH_CHECK),
    "cached keys": (KEYS_ANSWER, KEYS_CHECK),
    "cached loop": (LOOP_ANSWER, LOOP_CHECK),
    "work": (WORK_ANSWER, WORK_CHECK),
    "cache speed-up": (SPEEDUP_ANSWER, SPEEDUP_CHECK),
    "filters": (FILTERS_ANSWER, FILTERS_CHECK),
    "sampling": (SAMPLING_ANSWER, SAMPLING_CHECK),
    "temperature": (TEMPERATURE_ANSWER, TEMPERATURE_CHECK),
    "strategies": (STRATEGIES_ANSWER, STRATEGIES_CHECK),
    "beam search": (BEAM_ANSWER, BEAM_CHECK),
    "toy attention": (TOY_ANSWER, TOY_CHECK),
    "attention weights": (WEIGHTS_ANSWER, WEIGHTS_CHECK),
    "attention head": (HEAD_ANSWER, HEAD_CHECK),
    "all heads": (ALL_HEADS_ANSWER, ALL_HEADS_CHECK),
    "rotation": (ROTATE_ANSWER, ROTATE_CHECK),
    "head weights": (LAYOUT_ANSWER, LAYOUT_CHECK),
    "cached head": (CACHED_ANSWER, CACHED_CHECK),
    "norm": (NORM_ANSWER, NORM_CHECK),
    "layer 0": (LAYER_ANSWER, LAYER_CHECK),
    "whole model": (FORWARD_ANSWER, FORWARD_CHECK),
    "lens by hand": (MY_LENS_ANSWER, MY_LENS_CHECK),
    "logit lens": (LENS_ANSWER, LENS_CHECK),
}

# a correct cached step, norm and layer, from which the wrong answers below are made
STEP = ("def my_cached_step(head, x_t, t, cache):\n"
        "    q = head.rotate(x_t @ head.W_q + head.b_q, start=t)\n"
        "    cache['k'].append(head.rotate(x_t @ head.W_k + head.b_k, start=t))\n"
        "    cache['v'].append(x_t @ head.W_v + head.b_v)\n"
        "    keys, values = torch.stack(cache['k']), torch.stack(cache['v'])\n"
        "    return (keys @ q / head.size ** 0.5).softmax(-1) @ values\n")
# a right answer whose ids are 0-d tensors, as ids.append(logits.argmax()) builds them (wraps the reference)
ONE_ELEMENT_TENSORS = ("_reference_{name} = {name}\n"
                       "def {name}({args}):\n"
                       "    return [torch.tensor(t) for t in _reference_{name}({args})]\n")
UNANSWERED_HEAD = "def my_attention_head(head):\n    return None\n"  # exercise 8's answer cell as handed out
UNANSWERED_HEADS = "def my_all_heads(x, p):\n    return None\n"  # exercise 8b's answer cell as handed out
EVERY_HEAD_AT_ONCE = "heads = my_all_heads(a, parts.projections)"  # the reference layer's heads (8b's function)
NORM = ("def my_norm(x, norm):\n"
        "    if norm.subtracts_mean:\n"
        "        x = x - x.mean(-1, keepdim=True)\n"
        "    return x / (x.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt() * norm.weight + norm.bias\n")


def layer(after_attention: str = "r = x + heads @ parts.W_o + parts.b_o",
          mlp_input: str = "my_norm(r, parts.norm_2)", gated: str = "parts.act(m @ parts.W_gate + parts.b_gate) * up",
          output: str = "r + mlp", heads_read: str = "my_norm(x, parts.norm_1)",
          heads: str = "heads = torch.cat([my_attention_head(h.on(a))[1] for h in parts.heads], dim=-1)") -> str:
    """A ``my_layer`` with one of its steps replaced (the right one by default: exercise 8's head, one at a time;
    ``heads=EVERY_HEAD_AT_ONCE`` for exercise 8b's)."""
    return ("def my_layer(x, parts):\n"
            f"    a = {heads_read}\n"
            f"    {heads}\n"
            f"    {after_attention}\n"
            f"    m = {mlp_input}\n"
            "    up = m @ parts.W_up + parts.b_up\n"
            f"    hidden = {gated} if parts.W_gate is not None else parts.act(up)\n"
            "    mlp = hidden @ parts.W_down + parts.b_down\n"
            f"    return {output}\n")


def forward(embeddings: str = "parts.W_embed[ids]", positions: str = "x + parts.W_pos[:len(ids)]",
            layers: str = "my_layer(x, layer)",
            output: str = "my_norm(x, parts.norm) @ parts.W_lm + parts.b_lm") -> str:
    """A ``my_forward`` with one of its steps replaced (the right one by default)."""
    return ("def my_forward(input_ids, parts):\n"
            "    ids = input_ids[0]\n"
            f"    x = {embeddings}\n"
            "    if parts.W_pos is not None:\n"
            f"        x = {positions}\n"
            "    for layer in parts.layers:\n"
            f"        x = {layers}\n"
            f"    return {output}\n")


# greedy decoding with the cache, from which the wrong loops below are made
def all_heads(split: str = "view(n, p.{}, p.size).transpose(0, 1)", share: str = "",
              back: str = "out.transpose(0, 1).reshape(n, -1)") -> str:
    """A right answer for every head at once (einsum, expand), or one with a slip put in."""
    share = share or ("k, v = (t[:, None].expand(-1, g, -1, -1).reshape(p.heads, n, p.size) for t in (k, v))")
    return ("def my_all_heads(x, p):\n"
            "    n, g = len(x), p.heads // p.kv_heads\n"
            f"    q = p.rotate((x @ p.W_q + p.b_q).{split.format('heads')})\n"
            f"    k = p.rotate((x @ p.W_k + p.b_k).{split.format('kv_heads')})\n"
            f"    v = (x @ p.W_v + p.b_v).{split.format('kv_heads')}\n"
            f"    {share}\n"
            "    scores = torch.einsum('hqd,hkd->hqk', q, k) / p.size ** 0.5\n"
            "    future = torch.ones(n, n, dtype=torch.bool).triu(1)\n"
            "    out = scores.masked_fill(future, -torch.inf).softmax(-1) @ v\n"
            f"    return {back}")



def rotate(angle: str = "positions[:, None] * inv_freq", first: str = "start") -> str:
    """A right RoPE (cos and sin repeated over both halves, the halves swapped), or one with a slip put in."""
    return ("def my_rotate(t, inv_freq, start=0):\n"
            f"    positions = torch.arange({first}, {first} + t.shape[0], dtype=torch.float32)\n"
            f"    angles = {angle}\n"
            "    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)\n"
            "    x1, x2 = t.chunk(2, dim=-1)\n"
            "    return t * cos + torch.cat([-x2, x1], -1) * sin")


LOOP = ("def my_cached_greedy(prompt_ids, n):\n"
        "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
        "    with torch.no_grad():\n"
        "        for _ in range(n):\n"
        "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
        "            ids.append(int(out.logits[0, -1].argmax()))\n"
        "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
        "    return ids\n")


# exercise 8d: one head's weights; the right form, then one slip at a time (LAYOUT_WITH.format(...))
LAYOUT_WITH = """
def my_head_weights(model, layer, head):
    config = model.config
    heads, d = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    d = getattr(config, "head_dim", None) or d
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    if hasattr(model, "transformer"):
        w, b = model.transformer.h[layer].attn.c_attn.weight, model.transformer.h[layer].attn.c_attn.bias
        thirds = [({gpt2_third}) * config.hidden_size + head * d for third in range(3)]
        return tuple(t for s in thirds for t in (w[:, s:s + d], b[s:s + d]))
    attn = model.model.layers[layer].self_attn
    kv = {kv}
    pieces = []
    for proj, i in ((attn.q_proj, head), (attn.k_proj, kv), (attn.v_proj, kv)):
        w = proj.weight[i * d:(i + 1) * d]
        pieces += [{weight}, torch.zeros(d) if proj.bias is None else proj.bias[i * d:(i + 1) * d]]
    return tuple(pieces)
"""
SIX = "    return h.W_q, h.b_q, h.W_k, h.b_k, h.W_v, h.b_v"  # a head's six tensors, from one that was cut for you
RIGHT_LAYOUT = dict(gpt2_third="third", kv="head // (heads // kv_heads)", weight="w.T")

def _weights(scores, mask="torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)", fill="float('-inf')", dim=-1):
    """An answer to exercise 8(a) with its scores, mask, fill value and softmax dimension as the case says."""
    return ("def my_attention_weights(q, k):\n"
            "    n, d = q.shape\n"
            f"    scores = {scores}\n"
            f"    return scores.masked_fill({mask}, {fill}).softmax({dim})")


SCALED = "q @ k.T / d ** 0.5"

CASES = [  # pytest.param(check cell, answer code, verdict, what the check prints)
    pytest.param(PADDING_CHECK, "my_right_padding_same = False", RIGHT, "You predicted False: padded on the right, "
                 "the shorter prompt went on", id="right padding: False"),
    pytest.param(PADDING_CHECK, "my_right_padding_same = ' No'", RIGHT, "You predicted False:",
                 id="right padding: no, as text"),
    pytest.param(PADDING_CHECK, "my_right_padding_same = True", WRONG, "not this time.", id="right padding: True"),
    pytest.param(PADDING_CHECK, "my_right_padding_same = 'perhaps'", WRONG, "predict True or False",
                 id="right padding: neither"),
    pytest.param(PADDING_CHECK, "my_right_padding_same = None", WRONG, "Not answered yet", id="right padding: empty"),
    pytest.param(BATCH_CHECK, solution(NOTEBOOK, BATCH_ANSWER), RIGHT, "Correct: each prompt continues as it does "
                 "alone", id="batch: the reference"),
    pytest.param(BATCH_CHECK, BATCH_LOOP.format(side="left", extra=", position_ids=positions"), RIGHT, "Correct:",
                 id="batch: masked_fill positions, a tensor"),
    pytest.param(BATCH_CHECK, BATCH_LOOP.format(side="right", extra=", position_ids=positions"), WRONG,
                 "the pads are on the right", id="batch: padded on the right"),
    pytest.param(BATCH_CHECK, BATCH_LOOP.format(side="left", extra="").replace(", attention_mask=mask", ""), WRONG,
                 "the pads are not masked", id="batch: no attention mask"),
    pytest.param(BATCH_CHECK, BATCH_LOOP.format(side="left", extra=", position_ids=positions").replace(
                 "return ids[:, -n:]", "return ids"), WRONG, "each of its n = 8 new token ids",
                 id="batch: the whole rows returned"),
    pytest.param(BATCH_CHECK, "def my_batch_greedy(prompts, n):\n"
                 "    return [model.generate(**tokenizer(p, return_tensors='pt'), max_new_tokens=n)[0, -n:].tolist()\n"
                 "            for p in prompts]", WRONG, "the very thing this exercise rebuilds", id="batch: generate"),
    pytest.param(BATCH_CHECK, "def my_batch_greedy(prompts, n):\n    return None", WRONG, "Not answered yet",
                 id="batch: the empty answer cell"),
    # the student's whole model writes the notebook's greedy text; with no model yet, what to do first
    pytest.param(YOUR_MODEL_WRITES, solution(NOTEBOOK, FORWARD_ANSWER), RIGHT,
                 "the very tokens of the greedy text at the top", id="your model writes: the reference model"),
    pytest.param(YOUR_MODEL_WRITES, "def my_forward(input_ids, parts):\n    return None", WRONG,
                 "Write exercise 11 first", id="your model writes: no model yet"),
    pytest.param(YOUR_MODEL_WRITES, "def my_forward(input_ids, parts):\n    return torch.zeros(input_ids.shape[1], 7)",
                 WRONG, "the greedy text at the top of this notebook: ", id="your model writes: another text"),
    pytest.param(LAYOUT_CHECK, solution(NOTEBOOK, LAYOUT_ANSWER), RIGHT, "Correct:", id="head weights: the reference"),
    pytest.param(LAYOUT_CHECK, LAYOUT_WITH.format(**RIGHT_LAYOUT), RIGHT, "Correct:",
                 id="head weights: slices from offsets"),
    pytest.param(LAYOUT_CHECK, LAYOUT_WITH.format(**RIGHT_LAYOUT | dict(weight="w")), WRONG,
                 "A Linear's weight is (outputs, inputs): transpose it", id="head weights: the Linear not transposed"),
    pytest.param(LAYOUT_CHECK, LAYOUT_WITH.format(**RIGHT_LAYOUT | dict(kv="head")), WRONG,
                 "query head 4 reads key/value head 1", id="head weights: a query head's own index for k and v"),
    # the offline stand-in ran (Llama-style): a slip in GPT-2's layout is the other architecture's, named as optional
    pytest.param(LAYOUT_CHECK, LAYOUT_WITH.format(**RIGHT_LAYOUT | dict(gpt2_third="0")), RIGHT,
                 "Correct: your six tensors are the ones every exercise above used, for three heads of the model that "
                 "ran.", id="head weights: GPT-2's first third for all, the model that ran right"),
    pytest.param(LAYOUT_CHECK, LAYOUT_WITH.format(**RIGHT_LAYOUT | dict(gpt2_third="0")), RIGHT,
                 "Optional, the other architecture: not quite, on other (gpt2): W_k of head 0:",
                 id="head weights: GPT-2's first third for all, named as the other's"),
    pytest.param(LAYOUT_CHECK, LAYOUT_WITH.format(**RIGHT_LAYOUT | dict(gpt2_third="0")), RIGHT,
                 "then every head's keys, then every head's values", id="head weights: GPT-2's first third, the slip"),
    pytest.param(LAYOUT_CHECK, "from utils.attention import head_weights\n"
                 "def my_head_weights(model, layer, head):\n"
                 "    h = head_weights(model, layer, head)\n" + SIX, WRONG, REBUILT,
                 id="head weights: the notebook's own cutter"),
    pytest.param(LAYOUT_CHECK, "def my_head_weights(model, layer, head):\n"
                 "    h = attention_head(model, inputs['input_ids'], layer=layer, head=head)\n" + SIX, WRONG, REBUILT,
                 id="head weights: attention_head, imported above"),
    pytest.param(LAYOUT_CHECK, "def my_head_weights(model, layer, head):\n    return {'W_q': 0}", WRONG,
                 "return the six tensors (W_q, b_q, W_k, b_k, W_v, b_v) as a tuple; got", id="head weights: a dict"),
    pytest.param(LAYOUT_CHECK, "def my_head_weights(model, layer, head):\n    return ('W',) * 6", WRONG,
                 "W_q of head 0", id="head weights: six str"),
    # an answer that calls the library function the exercise rebuilds is refused
    pytest.param(FILTERS_CHECK, "def my_filter(logits, temperature, top_k, top_p):\n"
                 "    return filtered_probabilities(logits, temperature, top_k, top_p)", WRONG, REBUILT,
                 id="filters: utils.sampling's own"),
    pytest.param(FILTERS_CHECK, "from utils.sampling import apply_filters\n"
                 "def my_filter(logits, temperature, top_k, top_p):\n"
                 "    return apply_filters(logits, temperature, top_k, top_p)", WRONG, REBUILT,
                 id="filters: utils.sampling's unchecked helper"),
    pytest.param(FILTERS_CHECK, "from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper\n"
                 "def my_filter(logits, temperature, top_k, top_p):\n"
                 "    scores = TemperatureLogitsWarper(temperature)(None, logits[None])\n"
                 "    if top_k:\n"
                 "        scores = TopKLogitsWarper(top_k)(None, scores)\n"
                 "    if top_p < 1:\n"
                 "        scores = TopPLogitsWarper(top_p)(None, scores)\n"
                 "    return scores[0].softmax(-1)", WRONG, REBUILT,
                 id="filters: generate's logits processors"),
    pytest.param(LOOP_CHECK, ONE_ELEMENT_TENSORS.format(name="my_cached_greedy", args="prompt_ids, n"), RIGHT,
                 "Correct", id="cached loop: the right ids as one-element tensors"),
    pytest.param(SAMPLING_CHECK, ONE_ELEMENT_TENSORS.format(name="my_sample", args="p, n, t, k, top_p"), RIGHT,
                 "Correct", id="sampling: the right ids as one-element tensors"),
    pytest.param(BEAM_CHECK, ONE_ELEMENT_TENSORS.format(name="my_beam_search", args="prompt_ids, n"), RIGHT,
                 "Correct", id="beam search: the right ids as one-element tensors"),
    pytest.param(BEAM_CHECK, "def my_beam_search(prompt_ids, n):\n    return [0.5, 1.5]", WRONG,
                 "return the token ids as a list of ints", id="beam search: floats"),
    pytest.param(SAMPLING_CHECK, "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    return model.generate(prompt_ids, max_new_tokens=n, do_sample=True, temperature=temperature,\n"
                 "                          top_k=top_k, top_p=top_p, pad_token_id=pad)[0].tolist()", WRONG, REBUILT,
                 id="sampling: generate itself"),
    pytest.param(SAMPLING_CHECK, "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    return type(model).generate(model, prompt_ids, max_new_tokens=n, do_sample=True,\n"
                 "        temperature=temperature, top_k=top_k, top_p=top_p, pad_token_id=pad)[0].tolist()",
                 WRONG, REBUILT, id="sampling: generate, through the class"),
    pytest.param(BEAM_CHECK, "def my_beam_search(prompt_ids, n):\n"
                 "    return model.generate(prompt_ids, max_new_tokens=n, num_beams=2, pad_token_id=pad)[0].tolist()",
                 WRONG, REBUILT, id="beam search: generate itself"),
    pytest.param(BEAM_CHECK, "from transformers import GenerationMixin\n"
                 "def my_beam_search(prompt_ids, n):\n"
                 "    return GenerationMixin.generate(model, prompt_ids, max_new_tokens=n, num_beams=2,\n"
                 "                                    pad_token_id=pad)[0].tolist()",
                 WRONG, REBUILT, id="beam search: the base class's generate"),
    pytest.param(LOOP_CHECK, "def my_cached_greedy(prompt_ids, n):\n"
                 "    return greedy_decode(model, tokenizer, PROMPT, n).ids", WRONG, REBUILT,
                 id="cached loop: Step 3's greedy_decode"),
    pytest.param(LOOP_CHECK, "from utils.generation import _decode_once\n\n\n"
                 "def my_cached_greedy(prompt_ids, n):\n"
                 "    return _decode_once(model, prompt_ids, n, True, 1).ids", WRONG, REBUILT,
                 id="cached loop: greedy_decode's own loop"),
    pytest.param(NEXT_WORD_CHECK, 'my_next_word = "great"', RIGHT, "You predicted 'great': ",
                 id="next word: great"),
    pytest.param(NEXT_WORD_CHECK, 'my_next_word = "  Swimmingly "', RIGHT,
                 "GPT-2 in the original tutorial: 6 tokens, 'Sw' + 'imming' + ' at' + ' the' + ' beach' + ' is'",
                 id="next word: several pieces, in spaces"),
    pytest.param(NEXT_WORD_CHECK, "my_next_word = None", WRONG, "Write your prediction first",
                 id="next word: none"),
    pytest.param(NEXT_WORD_CHECK, 'my_next_word = "  "', WRONG, "Write your prediction first",
                 id="next word: blank"),
    pytest.param(NEXT_WORD_CHECK, "my_next_word = 3", WRONG, "write your word as text, in quotes; got 3",
                 id="next word: a number"),
    pytest.param(STRATEGIES_CHECK, "my_prediction = None", WRONG, "Write your prediction first",
                 id="strategies: no prediction"),
    pytest.param(STRATEGIES_CHECK, "my_beam_beats_greedy = None", WRONG, "Write your prediction first",
                 id="strategies: no prediction for beam search"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q, k = head.x @ head.W_q + head.b_q, head.x @ head.W_k + head.b_k\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T / head.size ** 0.5).masked_fill(future, float('-inf')).softmax(-1)\n"
                 "    return weights, weights @ v", WRONG, "Queries and keys rotated?",
                 id="attention head: not rotated (caught on the Llama-style model, whichever ran)"),
    pytest.param(CACHED_CHECK, solution(NOTEBOOK, CACHED_ANSWER), RIGHT, "Correct:",
                 id="cached head: the reference solution"),
    pytest.param(CACHED_CHECK,
                 "import math\n"
                 "def my_cached_step(head, x_t, t, cache):\n"  # rows of shape (1, d), a (1, d) output
                 "    row = x_t[None]\n"
                 "    q = head.rotate(row @ head.W_q + head.b_q, start=t)\n"
                 "    cache['k'].append(head.rotate(row @ head.W_k + head.b_k, start=t))\n"
                 "    cache['v'].append(row @ head.W_v + head.b_v)\n"
                 "    keys, values = torch.cat(cache['k']), torch.cat(cache['v'])\n"
                 "    return torch.softmax(q @ keys.T / math.sqrt(head.size), dim=-1) @ values", RIGHT, "Correct:",
                 id="cached head: rows of shape (1, d)"),
    pytest.param(CACHED_CHECK, STEP.replace(", start=t", ""), WRONG,
                 "The keys in your cache differ from the full pass's: rotate each at its own position, start=t",
                 id="cached head: every key rotated as if at position 0"),
    pytest.param(CACHED_CHECK, STEP.replace(" / head.size ** 0.5", ""), WRONG, "at step 1, your output:",
                 id="cached head: not scaled"),
    pytest.param(CACHED_CHECK, STEP.replace("    keys, values", "    cache['k'].append(cache['k'][-1])\n"
                                            "    cache['v'].append(cache['v'][-1])\n    keys, values"), WRONG,
                 "after step 0 your cache holds 2 keys and 2 values, not 1 of each", id="cached head: appended twice"),
    pytest.param(HEAD_CHECK, "def my_attention_head(head):\n    return head.weights, head.output", WRONG,
                 "Not answered yet", id="attention head: the model's own answers handed back"),
    pytest.param(CACHED_CHECK, "def my_cached_step(head, x_t, t, cache):\n    return head.output[t]", WRONG,
                 "'NoneType' object is not subscriptable", id="cached head: the model's own output handed back"),
    pytest.param(CACHED_CHECK, "def my_cached_step(head, x_t, t, cache):\n    return 'attention'", WRONG,
                 "at step 0, your output: it is a str", id="cached head: a str"),
    pytest.param(CACHED_CHECK, "def my_cached_step(head, x_t, t, cache):\n    return x_t @ head.W_v", WRONG,
                 "after step 0 your cache holds 0 keys and 0 values", id="cached head: no cache"),
    pytest.param(CACHED_CHECK, "def my_cached_step(head, x_t, t, cache):\n"
                 "    cache['k'].append(0); cache['v'].append(0)\n"
                 "    q, k, v = (head.rotate(head.x[:t + 1] @ W + b) for W, b in\n"
                 "               ((head.W_q, head.b_q), (head.W_k, head.b_k), (head.W_v, head.b_v)))\n"
                 "    return (q[-1] @ k.T / k.shape[-1] ** 0.5).softmax(-1) @ v", WRONG,
                 "a decoding step has only x_t", id="cached head: the whole input, not the cache"),
    pytest.param(NORM_CHECK, solution(NOTEBOOK, NORM_ANSWER), RIGHT, "Correct: your norm is what layer 0's heads",
                 id="norm: the reference solution"),
    pytest.param(NORM_CHECK, "def my_norm(x, norm):\n"  # rsqrt and the biased variance
                 "    if norm.subtracts_mean:\n"
                 "        var = x.var(-1, unbiased=False, keepdim=True)\n"
                 "        centred = x - x.mean(-1, keepdim=True)\n"
                 "        return centred * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias\n"
                 "    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight).tolist()",
                 RIGHT, "Correct:", id="norm: rsqrt and var, RMSNorm as a list"),
    pytest.param(NORM_CHECK, NORM.replace("if norm.subtracts_mean", "if True"), WRONG,
                 "RMSNorm: divide each row by sqrt(mean of squares + eps), times weight; no mean subtracted",
                 id="norm: the mean subtracted in RMSNorm"),
    pytest.param(NORM_CHECK, NORM.replace("if norm.subtracts_mean", "if False"), RIGHT,  # right for the one that ran
                 "RMSNorm in Llama-style.\nOptional, the other architecture: not quite, on the tiny random GPT-2 "
                 "(GPT-2): my_norm(parts.x, parts.norm_1) is not what the heads read",
                 id="norm: LayerNorm without its mean, named in the optional line"),
    pytest.param(NORM_CHECK, "def my_norm(x, norm):\n"  # LayerNorm's variance from x.var(): divided by n - 1
                 "    if norm.subtracts_mean:\n"
                 "        centred = x - x.mean(-1, keepdim=True)\n"
                 "        return centred / (x.var(-1, keepdim=True) + norm.eps).sqrt() * norm.weight + norm.bias\n"
                 "    return x / (x.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt() * norm.weight\n", WRONG,
                 "as x.var() does unless told otherwise", id="norm: x.var(), divided by n - 1"),
    pytest.param(NORM_CHECK, NORM.replace(" * norm.weight + norm.bias", ""), WRONG, "Not quite, on",
                 id="norm: no weight or bias"),
    pytest.param(NORM_CHECK, "import torch.nn.functional as F\n"
                 "def my_norm(x, norm):\n"
                 "    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)\n", WRONG, REBUILT,
                 id="norm: the library's layer_norm"),
    pytest.param(NORM_CHECK, "def my_norm(x, norm):\n    return 'centre, scale, shift'", WRONG, "it is a str",
                 id="norm: a str"),
    pytest.param(NORM_CHECK, "def my_norm(x, norm):\n    return None", WRONG,
                 "Not answered yet. (Stuck? Unfold a hint", id="norm: not answered"),
    pytest.param(LAYER_CHECK, solution(NOTEBOOK, LAYER_ANSWER), RIGHT, "Correct:",
                 id="layer 0: the reference solution"),
    pytest.param(LAYER_CHECK,
                 "import torch.nn.functional as F\n"  # rsqrt, var and SiLU from the library, a head loop, a list
                 "def my_norm(x, norm):\n"
                 "    if norm.subtracts_mean:\n"
                 "        centred = x - x.mean(-1, keepdim=True)\n"
                 "        scale = torch.rsqrt(x.var(-1, unbiased=False, keepdim=True) + norm.eps)\n"
                 "        return centred * scale * norm.weight + norm.bias\n"
                 "    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight\n"
                 "def my_layer(x, parts):\n"
                 "    a = my_norm(x, parts.norm_1)\n"
                 "    outputs = []\n"
                 "    for h in parts.heads:\n"
                 "        outputs.append(my_attention_head(h.on(a))[1])\n"
                 "    r = x + torch.cat(outputs, -1) @ parts.W_o + parts.b_o\n"
                 "    m = my_norm(r, parts.norm_2)\n"
                 "    if parts.W_gate is None:\n"
                 "        mlp = parts.act(m @ parts.W_up + parts.b_up) @ parts.W_down + parts.b_down\n"
                 "    else:\n"
                 "        mlp = (F.silu(m @ parts.W_gate) * (m @ parts.W_up)) @ parts.W_down\n"
                 "    return (r + mlp).tolist()", RIGHT, "Correct:", id="layer 0: rsqrt and var, a head loop, a list"),
    pytest.param(LAYER_CHECK, "import torch.nn.functional as F\n"
                 "def my_norm(x, norm):\n"
                 "    if norm.subtracts_mean:\n"
                 "        return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)\n"
                 "    return F.rms_norm(x, x.shape[-1:], norm.weight, norm.eps)\n" + layer(), WRONG, REBUILT,
                 id="layer 0: the library's norm functions"),
    pytest.param(LAYER_CHECK, UNANSWERED_HEAD + "from utils.exercises import reference\n"
                 "my_attention_head = reference('my_attention_head')\n" + NORM + layer(), RIGHT, "Correct:",
                 id="layer 0: exercise 8 not answered, its reference borrowed"),
    pytest.param(LAYER_CHECK, UNANSWERED_HEAD + NORM + layer(), WRONG, "Not quite",
                 id="layer 0: exercise 8 not answered, nothing borrowed"),
    pytest.param(LAYER_CHECK, UNANSWERED_HEADS + NORM + layer(heads=EVERY_HEAD_AT_ONCE), WRONG,
                 "Exercise 8b first: my_all_heads still returns None", id="layer 0: exercise 8b not answered"),
    pytest.param(LAYER_CHECK, UNANSWERED_HEADS + "from utils.exercises import reference\n"
                 "my_all_heads = reference('my_all_heads')\n" + NORM + layer(heads=EVERY_HEAD_AT_ONCE), RIGHT,
                 "Correct:", id="layer 0: exercise 8b not answered, its reference borrowed"),
    pytest.param(LAYER_CHECK, UNANSWERED_HEADS + NORM + layer(), RIGHT, "Correct:",
                 id="layer 0: exercise 8b not answered, exercise 8's head in a loop"),
    pytest.param(LAYER_CHECK, NORM + layer(heads=EVERY_HEAD_AT_ONCE.replace("parts.projections", "parts")), WRONG,
                 "are parts.projections: my_all_heads(a, parts.projections)",
                 id="layer 0: my_all_heads on the layer's parts"),
    pytest.param(LAYER_CHECK, NORM + layer().replace("(x, parts)", "(x, p)").replace("parts.", "p."), RIGHT,
                 "Correct:", id="layer 0: its own names"),
    pytest.param(LAYER_CHECK, NORM + layer(heads_read="x"), WRONG, "Your norm_1 of x to every head",
                 id="layer 0: the heads read x without its norm"),
    pytest.param(LAYER_CHECK, NORM + layer().replace("    a = my_norm(x", "    a = my_norm(parts.x"), WRONG,
                 "Here parts.x, and each head's x, weights and output, are None", id="layer 0: parts.x, not x"),
    pytest.param(LAYER_CHECK, NORM + layer().replace("h.on(a)", "h"), WRONG, "head.on(a)",
                 id="layer 0: the heads without their input"),
    pytest.param(LAYER_CHECK, NORM.replace("if norm.subtracts_mean", "if True") + layer(), WRONG,
                 "RMSNorm: divide each row by sqrt(mean of squares + eps), times weight; no mean subtracted",
                 id="layer 0: the mean subtracted in RMSNorm"),
    pytest.param(LAYER_CHECK, NORM.replace("if norm.subtracts_mean", "if False") + layer(), WRONG,
                 "LayerNorm: subtract each row's mean", id="layer 0: LayerNorm without its mean"),
    pytest.param(LAYER_CHECK, NORM + layer(output="r"), WRONG, "that is r = x + attention",
                 id="layer 0: stopped after the attention"),
    pytest.param(LAYER_CHECK, NORM + layer(output="mlp"), WRONG, "that is the MLP's output alone",
                 id="layer 0: no second residual"),
    pytest.param(LAYER_CHECK, NORM + layer(after_attention="r = heads @ parts.W_o + parts.b_o"), WRONG,
                 "the first residual", id="layer 0: no first residual"),
    pytest.param(LAYER_CHECK, NORM + layer(mlp_input="r"), WRONG, "the MLP reads norm_2(r), not r itself",
                 id="layer 0: the MLP without its norm"),
    pytest.param(LAYER_CHECK, NORM + layer(gated="parts.act(up) * (m @ parts.W_gate + parts.b_gate)"), WRONG,
                 "the activation goes on the gate", id="layer 0: SiLU on the up projection"),
    pytest.param(LAYER_CHECK, NORM + layer(gated="parts.act(up)"), WRONG, "this MLP is gated",
                 id="layer 0: the gate left out"),
    pytest.param(LAYER_CHECK, NORM + layer(output="(r + mlp)[None]"), WRONG, "its shape is (1, ",
                 id="layer 0: a batch dimension"),
    pytest.param(LAYER_CHECK, "def my_norm(x, norm):\n    return None\n" + layer(), WRONG,
                 "Exercise 10a first: my_norm still returns None", id="layer 0: no norm yet"),
    pytest.param(LAYER_CHECK, NORM + "def my_layer(x, parts):\n    return None", WRONG,
                 "Not answered yet. (Stuck? Unfold a hint", id="layer 0: not answered"),
    pytest.param(LAYER_CHECK, NORM + "def my_layer(x, parts):\n    return 'x + attention + mlp'", WRONG,
                 "my_layer: it is a str", id="layer 0: a str"),
    pytest.param(LAYER_CHECK, NORM + "def my_layer(parts):\n    return parts.x", WRONG,
                 "my_layer() takes 1 positional argument but 2 were given", id="layer 0: the old signature"),
    pytest.param(FORWARD_CHECK, UNANSWERED_HEAD + "def my_norm(x, norm):\n    return None\n"
                 "from utils.exercises import reference\n"
                 "my_norm, my_layer = reference('my_norm'), reference('my_layer')\n" + forward(), RIGHT, "Correct:",
                 id="whole model: exercises 8 and 10 not answered, their references borrowed"),
    pytest.param(FORWARD_CHECK, solution(NOTEBOOK, FORWARD_ANSWER), RIGHT, "Correct:",
                 id="whole model: the reference solution"),
    pytest.param(FORWARD_CHECK,
                 "import torch.nn.functional as F\n"  # F.embedding, positions by arange, (1, n, V) as a list
                 "def my_forward(input_ids, parts):\n"
                 "    x = F.embedding(input_ids, parts.W_embed)[0]\n"
                 "    if parts.W_pos is not None:\n"
                 "        x = x + parts.W_pos[torch.arange(x.shape[0])]\n"
                 "    for i in range(len(parts.layers)):\n"
                 "        x = my_layer(x, parts.layers[i])\n"
                 "    return (my_norm(x, parts.norm) @ parts.W_lm)[None].tolist()", RIGHT, "Correct:",
                 id="whole model: F.embedding, (1, n, V), a list"),
    pytest.param(FORWARD_CHECK, forward(output="x @ parts.W_lm + parts.b_lm"), WRONG,
                 "apply the final norm, parts.norm, first", id="whole model: no final norm"),
    pytest.param(FORWARD_CHECK, forward(positions="x"), RIGHT,  # right for the Llama-style model that ran offline
                 "Largest difference from the model's logits here: ",
                 id="whole model: GPT-2's positions forgotten: right for the model that ran"),
    pytest.param(FORWARD_CHECK, forward(positions="x"), WRONG,
                 "\nOptional, the other architecture: not quite, on the tiny random GPT-2: GPT-2 adds each position's "
                 "learned vector to the token's",
                 id="whole model: GPT-2's positions forgotten, named in the optional line"),
    pytest.param(FORWARD_CHECK, forward(layers="my_layer(x, parts.layers[0])"), WRONG, "Not quite, on",
                 id="whole model: layer 0 every time"),
    pytest.param(FORWARD_CHECK, forward(layers="my_layer(layer.x, layer)"), WRONG,
                 "Here parts.x, and each head's x, weights and output, are None", id="whole model: layer.x, not x"),
    pytest.param(FORWARD_CHECK, forward(output="(my_norm(x, parts.norm) @ parts.W_lm).softmax(-1)"), WRONG,
                 "those are probabilities", id="whole model: probabilities"),
    pytest.param(FORWARD_CHECK, forward(output="(my_norm(x, parts.norm) @ parts.W_lm)[-1]"), WRONG,
                 "not the last one's only", id="whole model: the last position only"),
    pytest.param(FORWARD_CHECK, forward(output="my_norm(x, parts.norm)"), WRONG, "looks like a hidden state",
                 id="whole model: no LM head"),
    pytest.param(FORWARD_CHECK, "def my_forward(input_ids, parts):\n    return 'logits'", WRONG, "it is a str",
                 id="whole model: a str"),
    pytest.param(FORWARD_CHECK, "def my_forward(input_ids, parts):\n    return None", WRONG,
                 "Not answered yet. (Stuck? Unfold a hint", id="whole model: not answered"),
    pytest.param(GREEDY_CHECK, solution(NOTEBOOK, GREEDY_ANSWER), RIGHT, "Correct: greedy decoding's",
                 id="greedy loop: the reference"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n"  # a list that grows, each id a 0-d tensor
                 "    ids = list(prompt_ids[0])\n"
                 "    for _ in range(n):\n"
                 "        with torch.no_grad():\n"
                 "            ids.append(model(torch.tensor([ids])).logits[0, -1].argmax())\n"
                 "    return ids", RIGHT, "Correct:", id="greedy loop: a list of 0-d tensors"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n"  # with an attention mask that grows too
                 "    grown = {'input_ids': prompt_ids, 'attention_mask': torch.ones_like(prompt_ids)}\n"
                 "    for _ in range(n):\n"
                 "        with torch.no_grad():\n"
                 "            token = model(**grown).logits[0, -1].argmax().view(1, 1)\n"
                 "        ones = torch.ones_like(token)\n"
                 "        grown = {'input_ids': torch.cat([grown['input_ids'], token], dim=1),\n"
                 "                 'attention_mask': torch.cat([grown['attention_mask'], ones], dim=1)}\n"
                 "    return grown['input_ids'][0].tolist()", RIGHT, "Correct:", id="greedy loop: a growing mask"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n"  # the argmax of the first position, not the last
                 "    ids = prompt_ids\n"
                 "    for _ in range(n):\n"
                 "        with torch.no_grad():\n"
                 "            ids = torch.cat([ids, model(ids).logits[:, :1].argmax(-1)], dim=1)\n"
                 "    return ids[0].tolist()", WRONG, "part from greedy decoding's",
                 id="greedy loop: the first position"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n    return my_cached_greedy(prompt_ids, n)\n"
                 + solution(NOTEBOOK, LOOP_ANSWER), WRONG, "without the cache each pass reads the whole sequence",
                 id="greedy loop: with the cache"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n"
                 "    return model.generate(prompt_ids, max_new_tokens=n, do_sample=False)[0].tolist()", WRONG,
                 REBUILT, id="greedy loop: generate"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n"
                 "    return greedy_decode(model, tokenizer, PROMPT, n).ids", WRONG, REBUILT,
                 id="greedy loop: greedy_decode"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n    return 'the beach'", WRONG,
                 "return the token ids as a list of ints", id="greedy loop: a str"),
    pytest.param(GREEDY_CHECK, "def my_greedy(prompt_ids, n):\n    return None", WRONG,
                 "Not answered yet. (Stuck? Unfold a hint", id="greedy loop: not answered"),
    pytest.param(LOOP_CHECK, "def my_cached_greedy(prompt_ids, n):\n    return None", WRONG,
                 "Not answered yet. (Stuck? Unfold a hint", id="cached loop: not answered"),
    pytest.param(LOOP_CHECK, solution(NOTEBOOK, LOOP_ANSWER), RIGHT, "Correct:", id="cached loop: the reference"),
    pytest.param(LOOP_CHECK,
                 "def my_cached_greedy(prompt_ids, n):\n"  # positional ids, a tensor that grows, returned as one
                 "    ids, past, feed = prompt_ids, None, prompt_ids\n"
                 "    for _ in range(n):\n"
                 "        with torch.no_grad():\n"
                 "            out = model(feed, past_key_values=past, use_cache=True)\n"
                 "        feed = out.logits[:, -1:].argmax(-1)\n"
                 "        past, ids = out.past_key_values, torch.cat([ids, feed], dim=1)\n"
                 "    return ids", RIGHT, "Correct:", id="cached loop: a tensor"),
    pytest.param(LOOP_CHECK,
                 "def my_cached_greedy(prompt_ids, n):\n"  # Step 3's loop, which re-feeds everything
                 "    ids = prompt_ids\n"
                 "    with torch.no_grad():\n"
                 "        for _ in range(n):\n"
                 "            ids = torch.cat([ids, model(ids).logits[:, -1:].argmax(-1)], dim=1)\n"
                 "    return ids[0].tolist()", WRONG, "the right tokens, but your forward passes fed",
                 id="cached loop: no cache"),
    pytest.param(LOOP_CHECK,
                 "def my_cached_greedy(prompt_ids, n):\n"
                 "    return model.generate(prompt_ids, max_new_tokens=n, do_sample=False)[0].tolist()", WRONG,
                 REBUILT, id="cached loop: generate"),
    pytest.param(LOOP_CHECK, LOOP.replace("return ids", "return ids[len(prompt_ids[0]):]"), WRONG,
                 "start with the prompt's ids", id="cached loop: without the prompt"),
    pytest.param(LOOP_CHECK, LOOP.replace("range(n)", "range(n - 1)"), WRONG, "part from greedy decoding's",
                 id="cached loop: one token short"),
    pytest.param(LOOP_CHECK, LOOP.replace("return ids", "return ' '.join(map(str, ids))"), WRONG,
                 "return the token ids as a list of ints", id="cached loop: a str"),
    pytest.param(BEAM_CHECK, solution(NOTEBOOK, BEAM_ANSWER), RIGHT, "Correct:",
                 id="beam search: the reference solution"),
    pytest.param(BEAM_CHECK,
                 "def my_beam_search(prompt_ids, n):\n"  # tensors throughout, returned as one
                 "    beams = [(0.0, prompt_ids)]\n"
                 "    for _ in range(n):\n"
                 "        scored = []\n"
                 "        for score, ids in beams:\n"
                 "            with torch.no_grad():\n"
                 "                log_p = torch.log_softmax(model(ids).logits[0, -1], dim=-1)\n"
                 "            values, tokens = log_p.topk(2)\n"
                 "            for v, t in zip(values.tolist(), tokens.tolist()):\n"
                 "                scored.append((score + v, torch.cat([ids, torch.tensor([[t]])], dim=1)))\n"
                 "        beams = sorted(scored, key=lambda c: -c[0])[:2]\n"
                 "    return beams[0][1]", RIGHT, "Correct:", id="beam search: tensors"),
    pytest.param(BEAM_CHECK, solution(NOTEBOOK, BEAM_ANSWER).replace("return beams[0][0]",
                                                                     "return beams[0][0][len(prompt_ids[0]):]"),
                 WRONG, "start from the prompt's ids", id="beam search: without the prompt"),
    pytest.param(BEAM_CHECK, solution(NOTEBOOK, BEAM_ANSWER).replace("score + float(lp)", "float(lp)"), WRONG,
                 "Score a beam by the sum of ln p over its tokens", id="beam search: scored by its last token"),
    pytest.param(BEAM_CHECK, "def my_beam_search(prompt_ids, n):\n    return 'a great way'", WRONG,
                 "return the token ids as a list of ints", id="beam search: a str"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "temperature 1.5"', RIGHT, "You predicted temperature 1.5",
                 id="strategies: temperature 1.5"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = " Greedy "', RIGHT, "You predicted greedy",
                 id="strategies: capitalised, in spaces"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "Beam"', RIGHT, "You predicted beam search (4)",
                 id="strategies: the start of a name"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "beam search (4 beams)"', RIGHT, "You predicted beam search (4)",
                 id="strategies: a name with more after it"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "temperature"', WRONG, "is more than one of",
                 id="strategies: the start of two names"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "the hot one"', WRONG, "is none of",
                 id="strategies: no such strategy"),
    pytest.param(STRATEGIES_CHECK, "my_prediction = ['greedy']", WRONG, "is none of", id="strategies: a list"),
    pytest.param(STRATEGIES_CHECK, "my_beam_beats_greedy = 'perhaps'", WRONG,
                 "Predict it as True or False; got 'perhaps'", id="strategies: beam search, neither true nor false"),
    pytest.param(STRATEGIES_CHECK, "my_prediction, my_beam_beats_greedy = 'greedy', ' Yes '", RIGHT,
                 "Beam search beats greedy: you said True", id="strategies: beam search, yes in words"),
    pytest.param(STRATEGIES_CHECK,
                 "import numpy as np\nmy_prediction, my_beam_beats_greedy = 'greedy', np.bool_(False)", RIGHT,
                 "Beam search beats greedy: you said False", id="strategies: beam search, numpy's False"),
    pytest.param(STRATEGIES_CHECK, "my_prediction, my_beam_beats_greedy = 'greedy', torch.tensor(True)", RIGHT,
                 "Beam search beats greedy: you said True", id="strategies: beam search, a one-value bool tensor"),
    pytest.param(STRATEGIES_CHECK, "my_prediction, my_beam_beats_greedy = 'greedy', True", RIGHT,
                 "Beam search beats greedy: you said True", id="strategies: beam search, True"),
    pytest.param(CONTINUATION_CHECK, solution(NOTEBOOK, CONTINUATION_ANSWER), RIGHT,
                 "Correct: one pass gives every step's ln p at once", id="continuation: the reference solution"),
    pytest.param(CONTINUATION_CHECK, _log_probability("torch.log_softmax(logits, -1)[range(prompt_length - 1, "
                                                      "len(ids) - 1), ids[prompt_length:]].sum()"),
                 RIGHT, "Correct:", id="continuation: fancy indexing, a 0-d tensor"),
    pytest.param(CONTINUATION_CHECK, _log_probability("sum(math.log(logits[i - 1].softmax(-1)[ids[i]]) "
                                                      "for i in range(prompt_length, len(ids)))"),
                 RIGHT, "Correct:", id="continuation: softmax, then a loop of logs"),
    pytest.param(CONTINUATION_CHECK, _log_probability("math.exp(torch.log_softmax(logits, -1)[range(prompt_length "
                                                      "- 1, len(ids) - 1), ids[prompt_length:]].sum())"),
                 WRONG, "that is P itself; return ln P", id="continuation: P, not ln P"),
    pytest.param(CONTINUATION_CHECK, _log_probability("torch.log_softmax(logits, -1)[range(prompt_length - 1, "
                                                      "len(ids) - 1), ids[prompt_length:]].mean()"),
                 WRONG, "that is the mean per token; add them up", id="continuation: the mean"),
    pytest.param(CONTINUATION_CHECK, _log_probability("torch.log_softmax(logits, -1)[range(0, len(ids) - 1), "
                                                      "ids[1:]].sum()"),
                 WRONG, "that counts the prompt's tokens too", id="continuation: the prompt counted"),
    pytest.param(CONTINUATION_CHECK, _log_probability("torch.log_softmax(logits, -1)[range(prompt_length, "
                                                      "len(ids)), ids[prompt_length:]].sum()"),
                 WRONG, "token i's ln p is at position i - 1", id="continuation: off by one"),
    pytest.param(CONTINUATION_CHECK, _log_probability("torch.log_softmax(logits, -1)[prompt_length - 1:-1]"
                                                      ".max(-1).values.sum()"),
                 WRONG, "each step's best token, not the text's own tokens", id="continuation: the argmax's"),
    pytest.param(CONTINUATION_CHECK, _log_probability("logits[range(prompt_length - 1, len(ids) - 1), "
                                                      "ids[prompt_length:]].sum()"),
                 WRONG, "those are raw scores; log_softmax", id="continuation: raw scores"),
    pytest.param(CONTINUATION_CHECK, "import math\n"
                 "def my_log_probability(ids, prompt_length):\n"
                 "    total = 0.0\n"
                 "    for i in range(prompt_length, len(ids)):\n"
                 "        with torch.no_grad():\n"
                 "            total += float(model(torch.tensor([ids[:i]])).logits[0, -1].log_softmax(-1)[ids[i]])\n"
                 "    return total", WRONG, "forward passes. One pass over the whole sequence",
                 id="continuation: one pass per token"),
    pytest.param(CONTINUATION_CHECK, "from utils.generation import continuation_log_probability\n"
                 "def my_log_probability(ids, prompt_length):\n"
                 "    return continuation_log_probability(model, ids, prompt_length)", WRONG, REBUILT,
                 id="continuation: utils' own"),
    pytest.param(CONTINUATION_CHECK, "def my_log_probability(ids, prompt_length):\n    return None", WRONG,
                 "Not answered yet", id="continuation: the empty answer cell"),
    pytest.param(CONTINUATION_CHECK, "def my_log_probability(ids, prompt_length):\n    return '-12.5'", WRONG,
                 "return ln P, one number", id="continuation: a str"),
    pytest.param(CONTINUATION_CHECK, "def my_log_probability(ids, prompt_length):\n    return [0.1, 0.2]", WRONG,
                 "got [0.1, 0.2]", id="continuation: a list"),
    pytest.param(FILTERS_CHECK, solution(NOTEBOOK, FILTERS_ANSWER), RIGHT, "Correct:",
                 id="filters: the reference solution"),
    pytest.param(FILTERS_CHECK,
                 "def my_filter(logits, temperature, top_k, top_p):\n"  # a loop over sorted tokens
                 "    probs = (logits / temperature).softmax(-1)\n"
                 "    keep = torch.zeros_like(probs, dtype=torch.bool)\n"
                 "    order = (logits / temperature).argsort(descending=True).tolist()\n"
                 "    limit = top_k if top_k > 0 else len(order)\n"
                 "    mass, total = 0.0, float(probs[order[:limit]].sum())\n"
                 "    for i in order[:limit]:\n"
                 "        keep[i] = True\n"
                 "        mass += float(probs[i]) / total\n"
                 "        if top_p < 1 and mass >= top_p:\n"
                 "            break\n"
                 "    kept = torch.where(keep, probs, torch.zeros_like(probs))\n"
                 "    return kept / kept.sum()", RIGHT, "Correct:",
                 id="filters: a plain loop over the sorted tokens"),
    pytest.param(FILTERS_CHECK,
                 "def my_filter(logits, temperature, top_k, top_p):\n"
                 "    scores = logits / temperature\n"
                 "    if top_k > 0:\n"
                 "        kth = scores.topk(top_k).values[-1]\n"
                 "        scores = scores.masked_fill(scores < kth, float('-inf'))\n"
                 "    probs = scores.softmax(-1)\n"
                 "    if top_p < 1:\n"
                 "        sorted_probs, order = probs.sort(descending=True)\n"
                 "        probs[order[sorted_probs.cumsum(-1) > top_p]] = 0\n"
                 "        probs = probs / probs.sum()\n"
                 "    return probs", WRONG, "Not quite at temperature 1.0, top_k 0, top_p 0.9",
                 id="filters: top-p drops the token that crosses it"),
    pytest.param(FILTERS_CHECK,
                 "def my_filter(logits, temperature, top_k, top_p):\n"
                 "    scores = logits * temperature\n"
                 "    if top_k > 0:\n"
                 "        kth = scores.topk(top_k).values[-1]\n"
                 "        scores = scores.masked_fill(scores < kth, float('-inf'))\n"
                 "    probs = scores.softmax(-1)\n"
                 "    if top_p < 1:\n"
                 "        sorted_probs, order = probs.sort(descending=True)\n"
                 "        probs[order[sorted_probs.cumsum(-1) - sorted_probs >= top_p]] = 0\n"
                 "        probs = probs / probs.sum()\n"
                 "    return probs", WRONG, "Not quite at temperature 0.7",
                 id="filters: multiplied by the temperature"),
    pytest.param(FILTERS_CHECK,
                 "def my_filter(logits, temperature, top_k, top_p):\n"
                 "    return logits.softmax(-1).tolist()", WRONG, "Not quite at temperature 0.7",
                 id="filters: a plain softmax, as a list"),
    pytest.param(FILTERS_CHECK, "def my_filter(logits, temperature, top_k, top_p):\n    return 'soft'", WRONG,
                 "it is a str", id="filters: a str"),
    pytest.param(KEYS_CHECK, "my_keys_change = False", RIGHT, "You predicted False: the prompt's last-layer keys",
                 id="cached keys: they stay"),
    pytest.param(KEYS_CHECK, "my_keys_change = 'no'", RIGHT, "right. Each position's key is computed from the tokens",
                 id="cached keys: no, in words"),
    pytest.param(KEYS_CHECK, "my_keys_change = True", WRONG, "not this time.", id="cached keys: they change"),
    pytest.param(KEYS_CHECK, "my_keys_change = 0.5", WRONG, "Not quite: predict True or False; got 0.5",
                 id="cached keys: a number"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = speedup", RIGHT, "within a factor of 2, close.",
                 id="cache speed-up: as measured"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = torch.tensor(speedup * 1.5)", RIGHT,
                 "within a factor of 2, close.", id="cache speed-up: half as much again, a one-value tensor"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = speedup * 10", WRONG, "10.0 times too high",
                 id="cache speed-up: ten times too many"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = 'fast'", WRONG, "how many times faster (got 'fast')",
                 id="cache speed-up: a word"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = None", WRONG, "Not answered yet",
                 id="cache speed-up: no prediction"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = 2\nspeedup = None", WRONG, "Run the two timing cells above first",
                 id="cache speed-up: predicted, not timed"),
    pytest.param(SPEEDUP_CHECK, "my_cache_speedup = 2\ndel speedup", WRONG, "Run the cells above this one first",
                 id="cache speed-up: the timing cells never run"),
    pytest.param(SAMPLING_CHECK, solution(NOTEBOOK, SAMPLING_ANSWER), RIGHT, "Correct:",
                 id="sampling: the reference solution"),
    pytest.param(SAMPLING_CHECK, NO_CACHE_SAMPLE + "    return ids", RIGHT, "Correct:",
                 id="sampling: no cache, a tensor"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
                 "    with torch.no_grad():\n"
                 "        for _ in range(n):\n"
                 "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
                 "            p = filtered_probabilities(out.logits[0, -1], temperature, top_k, top_p)\n"
                 "            ids.append(int(p.argmax()))\n"
                 "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
                 "    return ids", WRONG, "You took the most likely token at every step: that is greedy decoding",
                 id="sampling: the argmax, not a draw (ids shown, not the text)"),
    pytest.param(SAMPLING_CHECK, FILTERED_EACH_STEP +
                 "        kept = p.nonzero().flatten()\n"
                 "        ids.append(int(kept[torch.multinomial(p[kept].flip(0), 1).item()]))\n"
                 "    return ids", WRONG, "but over 400 first tokens your draws do not follow the filtered",
                 id="sampling: the kept tokens drawn with each other's probabilities"),
    pytest.param(SAMPLING_CHECK, FILTERED_EACH_STEP +
                 "        below = int((p.cumsum(0) < torch.rand(())).sum())  # the inverse of the CDF\n"
                 "        ids.append(min(below, int(p.nonzero().max())))\n"
                 "    return ids", RIGHT, "Correct, though not generate's draws: every token you drew",
                 id="sampling: the inverse CDF, other draws from the same distribution"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids = prompt_ids[0].tolist()\n"
                 "    for _ in range(n):\n"
                 "        with torch.no_grad():\n"
                 "            logits = model(torch.tensor([ids])).logits[0, -1]\n"
                 "        ids.append(int(torch.multinomial((logits / temperature).softmax(-1), 1)))\n"
                 "    return ids", WRONG, "you drew a token the filters remove: filter first, then draw",
                 id="sampling: the filters forgotten"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
                 "    with torch.no_grad():\n"
                 "        for _ in range(n):\n"
                 "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
                 "            p = filtered_probabilities(out.logits[0, -1], 1.0, top_k, top_p)\n"
                 "            ids.append(int(torch.multinomial(p, 1)))\n"
                 "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
                 "    return ids", WRONG, "at temperature 0.8, top_k 0, top_p 1.0: your ids first differ",
                 id="sampling: the temperature forgotten"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
                 "    with torch.no_grad():\n"
                 "        for _ in range(n):\n"
                 "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
                 "            p = filtered_probabilities(out.logits[0, -1], temperature, top_k, top_p)\n"
                 "            ids.append(int(torch.multinomial(p, 1)))\n"
                 "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
                 "    return ids[len(prompt_ids[0]):]", WRONG, "Not quite",
                 id="sampling: without the prompt"),
    pytest.param(SAMPLING_CHECK, NO_CACHE_SAMPLE + "    return tuple(ids[0].tolist())", RIGHT, "Correct:",
                 id="sampling: no cache, a tuple"),
    pytest.param(SAMPLING_CHECK, NO_CACHE_SAMPLE + "    return ids[0].tolist() + [0]", WRONG,
                 "generate's tokens, then 1 more: return the prompt's ids and n = ", id="sampling: one token too many"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    return 'a great way'", WRONG, "return the token ids as a list of ints",
                 id="sampling: a str"),
    pytest.param(MY_LENS_CHECK, solution(NOTEBOOK, MY_LENS_ANSWER), RIGHT,
                 "Correct: on the last layer your lens gives the model's own output", id="lens by hand: the reference"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n"
                 "    return torch.softmax(final_norm(h) @ lm_head.weight.T, dim=0)", RIGHT, "Correct:",
                 id="lens by hand: the LM head's weight, by hand"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n"
                 "    return lm_head(final_norm(h[None]))[0].softmax(-1).tolist()", RIGHT, "Correct:",
                 id="lens by hand: a batch of one, then a list"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n    return lm_head(final_norm(h))", WRONG,
                 "those are the LM head's scores; a softmax", id="lens by hand: no softmax"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n"
                 "    return lm_head(final_norm(h)).log_softmax(-1)", WRONG, "those are ln p (a log_softmax)",
                 id="lens by hand: log_softmax"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n    return lm_head(h).softmax(-1)", WRONG,
                 "the final norm was left out", id="lens by hand: no norm"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n"
                 "    return lm_head(final_norm(h))[None].softmax(-1)", WRONG, "its shape is (1, ",
                 id="lens by hand: a batch dimension left in"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n    return None", WRONG, "Not answered yet",
                 id="lens by hand: the empty answer cell"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h, final_norm, lm_head):\n    return 'norm, head, softmax'", WRONG,
                 "it is a str, not a tensor of numbers", id="lens by hand: a str"),
    pytest.param(MY_LENS_CHECK, "def my_lens(h):\n    return h", WRONG, "your code raised TypeError",
                 id="lens by hand: one argument"),
    pytest.param(LENS_CHECK, "my_lens_third = 'late'", RIGHT, "you predicted 'late'; the final choice",
                 id="logit lens: late"),
    pytest.param(LENS_CHECK, "my_lens_third = ' Late. '", RIGHT, "you predicted 'late'; the final choice",
                 id="logit lens: in other case and spaces"),
    pytest.param(LENS_CHECK, "my_lens_third = 'early'", WRONG, "Not this time: you predicted 'early'",
                 id="logit lens: early"),
    pytest.param(LENS_CHECK, "my_lens_third = 'the late layers'", RIGHT, "you predicted 'late'; the final choice",
                 id="logit lens: in a phrase"),
    pytest.param(LENS_CHECK, "my_lens_third = 'early or late'", WRONG, "answer \"early\", \"middle\" or \"late\"",
                 id="logit lens: two thirds at once"),
    pytest.param(LENS_CHECK, "my_lens_third = 12", WRONG, "answer \"early\", \"middle\" or \"late\"; got 12",
                 id="logit lens: a layer number"),
    pytest.param(LENS_CHECK, "my_lens_third = None", WRONG, "Not answered yet", id="logit lens: not answered"),
    pytest.param(WEIGHTS_CHECK, "import math\n" + _weights("q @ k.T / math.sqrt(d)", fill="-1e9"), RIGHT,
                 "Correct: your weights",
                 id="attention weights: -1e9 and math.sqrt"),
    pytest.param(WEIGHTS_CHECK, "def my_attention_weights(q, k):\n"
                 "    keep = torch.tril(torch.ones(len(q), len(q))) == 1\n"
                 "    return torch.where(keep, q @ k.T / q.shape[1] ** 0.5, float('-inf')).softmax(dim=1)", RIGHT,
                 "Correct: your weights", id="attention weights: tril and where"),
    pytest.param(WEIGHTS_CHECK, "def my_attention_weights(q, k):\n    return attention_weights(q, k)[1]", WRONG,
                 "the very thing this exercise rebuilds", id="attention weights: utils' own"),
    pytest.param(WEIGHTS_CHECK, _weights("q @ k.T"), WRONG, "the scores were not divided by √d",
                 id="attention weights: unscaled"),
    pytest.param(WEIGHTS_CHECK, _weights("q @ k.T / d"), WRONG, "divided by d, not by √d",
                 id="attention weights: divided by d"),
    pytest.param(WEIGHTS_CHECK, _weights("k @ q.T / d ** 0.5"), WRONG, "query i against key j",
                 id="attention weights: keys against queries"),
    pytest.param(WEIGHTS_CHECK, _weights(SCALED, mask="torch.zeros(n, n, dtype=torch.bool)"), WRONG,
                 "a token after the query got weight", id="attention weights: no mask"),
    pytest.param(WEIGHTS_CHECK, _weights(SCALED, mask="torch.ones(n, n, dtype=torch.bool).triu()"), WRONG,
                 "a row came out NaN", id="attention weights: the diagonal hidden"),
    pytest.param(WEIGHTS_CHECK, _weights(SCALED, dim=0), WRONG, "the rows do not add up to 1",
                 id="attention weights: softmax over the columns"),
    pytest.param(WEIGHTS_CHECK, "def my_attention_weights(q, k):\n"
                 "    return (q @ k.T / q.shape[1] ** 0.5).softmax(-1).tril()", WRONG, "the rows do not add up to 1",
                 id="attention weights: masked after the softmax"),
    pytest.param(WEIGHTS_CHECK, "def my_attention_weights(q, k):\n    return [[1.0]]", WRONG,
                 "return the (3, 3) weights as a tensor", id="attention weights: a list"),
    pytest.param(WEIGHTS_CHECK, "def my_attention_weights(q, k):\n    return None", WRONG, "Not answered yet",
                 id="attention weights: the empty answer cell"),
    pytest.param(TOY_CHECK, "my_toy_pick = 2", RIGHT, "Right: token 2 gets row 2's largest weight (token 1: q·k = 0",
                 id="toy attention: 2"),
    pytest.param(TOY_CHECK, "import numpy as np\nmy_toy_pick = np.int64(2)", RIGHT, "Right: token 2",
                 id="toy attention: numpy's 2"),
    pytest.param(TOY_CHECK, "my_toy_pick = ' 2 '", RIGHT, "Right: token 2 gets row 2's largest weight",
                 id="toy attention: 2, written as text"),
    pytest.param(TOY_CHECK, "my_toy_pick = 3", WRONG, "Token 3 has the row's largest score, but it comes after token "
                 "2: the causal mask hides it, weight 0.", id="toy attention: the masked token"),
    pytest.param(TOY_CHECK, "my_toy_pick = 1", WRONG, "Not this time: token 2 gets row 2's largest weight",
                 id="toy attention: the first token"),
    pytest.param(TOY_CHECK, "my_toy_pick = 'itself'", WRONG, "Answer a token's number, 1 to 3 (got 'itself')",
                 id="toy attention: a word"),
    pytest.param(TOY_CHECK, "my_toy_pick = 4", WRONG, "Answer a token's number, 1 to 3", id="toy attention: 4"),
    pytest.param(TOY_CHECK, "my_toy_pick = None", WRONG, "Not answered yet", id="toy attention: empty"),
    pytest.param(HEAD_CHECK, solution(NOTEBOOK, HEAD_ANSWER), RIGHT, "Correct:",
                 id="attention head: the reference solution"),
    pytest.param(HEAD_CHECK, "def my_attention_weights(q, k):\n    return None\n\n\n"  # part 1 unsolved, then lent
                 "from utils.exercises import reference\n\nmy_attention_weights = reference('my_attention_weights')\n"
                 + solution(NOTEBOOK, HEAD_ANSWER), RIGHT, "Correct:", id="attention head: on part 1's lent weights"),
    pytest.param(HEAD_CHECK,
                 "import math\n"  # position by position, returning lists
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    weights, output = [], []\n"
                 "    for i in range(len(q)):\n"
                 "        row = torch.softmax(q[i] @ k[:i + 1].T / math.sqrt(head.size), -1)\n"
                 "        weights.append(row.tolist() + [0.0] * (len(q) - i - 1))\n"
                 "        output.append((row @ v[:i + 1]).tolist())\n"
                 "    return weights, output", RIGHT, "Correct:",
                 id="attention head: a loop, lists"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    weights = (q @ k.T / head.size ** 0.5).softmax(-1)\n"
                 "    return weights, weights @ v", WRONG, "see later tokens",
                 id="attention head: no causal mask"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T).masked_fill(future, float('-inf')).softmax(-1)\n"
                 "    return weights, weights @ v", WRONG, "Scaled by 1/sqrt(d)",
                 id="attention head: not scaled"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T / head.size ** 0.5).masked_fill(future, float('-inf')).softmax(-1)\n"
                 "    return weights, weights @ q", WRONG, "the weights are right; the output is not",
                 id="attention head: the queries weighted, not the values"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T / head.size ** 0.5).masked_fill(future, float('-inf')).softmax(-1)\n"
                 "    return weights @ v", WRONG, "return two things",
                 id="attention head: the output only"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T / head.size ** 0.5).masked_fill(future, float('-inf')).exp()\n"
                 "    return weights, weights @ v", WRONG, "must add up to 1",
                 id="attention head: exp, not normalised"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T / head.size ** 0.5).masked_fill(future, float('-inf'))\n"
                 "    return weights, weights @ v", WRONG, "the weights hold -inf or nan",
                 id="attention head: masked scores, no softmax"),
    pytest.param(HEAD_CHECK,
                 "def my_attention_head(head):\n"
                 "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
                 "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
                 "    v = head.x @ head.W_v + head.b_v\n"
                 "    future = torch.ones(len(q), len(q), dtype=torch.bool).triu(diagonal=1)\n"
                 "    weights = (q @ k.T / head.size ** 0.5).masked_fill(future, float('-inf')).softmax(-1)\n"
                 "    return weights[None], weights @ v", WRONG, "its shape is (1, ",
                 id="attention head: weights with a batch dimension"),
    pytest.param(HEAD_CHECK, "def my_attention_head(head):\n    return head.q", WRONG,
                 "your code raised AttributeError", id="attention head: raises"),
    pytest.param(WORK_CHECK,
                 "def work_refeed(n, N): return n * N + N * (N - 1) // 2\n"
                 "def work_cached(n, N): return n + N - 1", RIGHT, "Correct:",
                 id="work: closed forms"),
    pytest.param(ALL_HEADS_CHECK, solution(NOTEBOOK, ALL_HEADS_ANSWER), RIGHT, "Correct: all",
                 id="all heads: the reference solution"),
    pytest.param(ALL_HEADS_CHECK, all_heads(), RIGHT, "Correct: all", id="all heads: einsum, expand"),
    pytest.param(ALL_HEADS_CHECK, all_heads(share="k, v = k.repeat(g, 1, 1), v.repeat(g, 1, 1)"), WRONG,
                 "repeat_interleave", id="all heads: repeat, not repeat_interleave"),
    pytest.param(ALL_HEADS_CHECK, all_heads(share="pass"), WRONG, "repeat each key/value head",
                 id="all heads: key/value heads not repeated"),
    pytest.param(ALL_HEADS_CHECK, all_heads(split="reshape(p.{}, n, p.size)"), WRONG, "Not quite",
                 id="all heads: reshaped to (heads, n, d) without the transpose"),
    pytest.param(ALL_HEADS_CHECK, all_heads(back="out"), WRONG, "you return (heads, n, d)",
                 id="all heads: not put back side by side"),
    pytest.param(ALL_HEADS_CHECK,
                 "import torch.nn.functional as F\n"
                 "def my_all_heads(x, p):\n"
                 "    n, g = len(x), p.heads // p.kv_heads\n"
                 "    q, k, v = ((x @ W + b).view(n, -1, p.size).transpose(0, 1)\n"
                 "               for W, b in ((p.W_q, p.b_q), (p.W_k, p.b_k), (p.W_v, p.b_v)))\n"
                 "    k, v = p.rotate(k).repeat_interleave(g, 0), v.repeat_interleave(g, 0)\n"
                 "    out = F.scaled_dot_product_attention(p.rotate(q), k, v, is_causal=True)\n"
                 "    return out.transpose(0, 1).reshape(n, -1)", WRONG, REBUILT,
                 id="all heads: PyTorch's own attention"),
    pytest.param(ALL_HEADS_CHECK, "def my_all_heads(x, p):\n    return 'every head'", WRONG, "it is a str",
                 id="all heads: a str"),
    pytest.param(ALL_HEADS_CHECK, "def my_all_heads(x, p):\n    return None", WRONG, "Not answered yet",
                 id="all heads: not answered"),
    pytest.param(ROTATE_CHECK, solution(NOTEBOOK, ROTATE_ANSWER), RIGHT, "Correct: your rotation",
                 id="rotation: the reference solution"),
    pytest.param(ROTATE_CHECK, rotate(), RIGHT, "Correct: your rotation", id="rotation: halves swapped, as HF"),
    pytest.param(ROTATE_CHECK,
                 "def my_rotate(t, inv_freq, start=0):\n"
                 "    angles = torch.arange(start, start + len(t)).float()[:, None] * inv_freq\n"
                 "    x1, x2 = t[:, 0::2], t[:, 1::2]\n"
                 "    turned = (x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos())\n"
                 "    return torch.stack(turned, -1).flatten(1)", WRONG, "neighbouring dimensions",
                 id="rotation: neighbouring dimensions paired"),
    pytest.param(ROTATE_CHECK, rotate(angle="-positions[:, None] * inv_freq"), WRONG, "the wrong way",
                 id="rotation: turned the wrong way"),
    pytest.param(ROTATE_CHECK, rotate(first="0"), WRONG, "as if the first were at position 0",
                 id="rotation: start ignored"),
    pytest.param(ROTATE_CHECK, rotate(angle="positions[:, None] * inv_freq * 0"), WRONG, "unturned",
                 id="rotation: angles of zero"),
    pytest.param(ROTATE_CHECK, rotate(angle="positions[:, None] * inv_freq.flip(0)"), WRONG, "Not quite",
                 id="rotation: frequencies reversed"),
    pytest.param(ROTATE_CHECK,
                 "import sys\n"
                 "def my_rotate(t, inv_freq, start=0):\n"
                 "    rows = t[None, None]\n"
                 "    angles = torch.arange(start, start + len(t)).float()[:, None] * inv_freq\n"
                 "    emb = torch.cat([angles, angles], -1)\n"
                 "    library = sys.modules[type(rotary_model).__module__]\n"
                 "    return library.apply_rotary_pos_emb(rows, rows, emb.cos(), emb.sin())[0][0, 0]", WRONG, REBUILT,
                 id="rotation: the library's apply_rotary_pos_emb"),
    pytest.param(ROTATE_CHECK, "def my_rotate(t, inv_freq, start=0):\n    return 'turned'", WRONG, "it is a str",
                 id="rotation: a str"),
    pytest.param(ROTATE_CHECK, "def my_rotate(t, inv_freq, start=0):\n    return None", WRONG, "Not answered yet",
                 id="rotation: not answered"),
    pytest.param(WORK_CHECK,
                 "def work_refeed(n, N): return sum(n + i for i in range(N))\n"
                 "def work_cached(n, N): return n + (N - 1) * 1", RIGHT, "Correct:",
                 id="work: a sum"),
    pytest.param(WORK_CHECK, "def work_refeed(n, N): return n * N\ndef work_cached(n, N): return N", WRONG,
                 "Not quite", id="work: wrong formulas"),
    pytest.param(WORK_CHECK,  # the loops' counts at this prompt, as numbers: no formula
                 "counted = [greedy_decode(model, tokenizer, PROMPT, 5, use_cache=c) for c in (False, True)]\n"
                 "def work_refeed(n, N): return sum(s.tokens_fed for s in counted[0].steps)\n"
                 "def work_cached(n, N): return sum(s.tokens_fed for s in counted[1].steps)", WRONG,
                 "but for n=3, N=5", id="work: the measured numbers, not formulas"),
    pytest.param(WORK_CHECK, "def work_refeed(n, N): return 5 * n + 10\ndef work_cached(n, N): return n + 4", WRONG,
                 "but for n=4, N=7", id="work: formulas right at N=5 only"),
    pytest.param(WORK_CHECK, 'def work_refeed(n, N): return "n * N"\ndef work_cached(n, N): return n + N', WRONG,
                 "Not quite: your formulas give 'n * N'", id="work: a formula as a str"),
    pytest.param(WORK_CHECK, "work_refeed = [1, 2]; work_cached = 3", WRONG,
                 "your code raised TypeError: 'list' object is not callable", id="work: not functions"),
    pytest.param(WORK_CHECK, "def work_refeed(n): return n\ndef work_cached(n): return n", WRONG,
                 "work_refeed() takes 1 positional argument but 2 were given", id="work: one argument"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 0.01", RIGHT, "Same as greedy", id="temperature: 0.01"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 1e-4", RIGHT, "Same as greedy", id="temperature: 1e-4"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 3.0", WRONG, "Not quite: not the same as greedy",
                 id="temperature: 3"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 0", WRONG, "T = 0 itself is greedy decoding",
                 id="temperature: 0"),
    pytest.param(TEMPERATURE_CHECK, 'my_temperature = "0.01"', WRONG, "temperature must be a number above 0",
                 id="temperature: a str"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = -1", WRONG, "temperature must be a number above 0",
                 id="temperature: negative"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = float('nan')", WRONG,
                 "Not quite: temperature must be a number above 0 (1 leaves the logits as they are), got nan.\n",
                 id="temperature: nan"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = [0.01]", WRONG,
                 "the temperature must be a number above 0, got [0.01]", id="temperature: a list"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = {'T': 0.01}", WRONG,
                 "the temperature must be a number above 0, got {'T': 0.01}", id="temperature: a dict"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 1e-9", WRONG,
                 "Right idea, but too small to compute with: use at least 1e-06", id="temperature: 1e-9"),
]


(test_the_exercise_cells_are_where_the_ids_say, test_the_reference_solution_passes_its_check,
 test_the_check_gives_its_verdict, executed) = exercise_tests(NOTEBOOK, EXERCISES, CASES)

# the cells of Steps 1 to 3, which show the model's next token after the prompt first, stop in one line until
# my_next_word is a word (a later cell showing it again has nothing left to give away)
STOPS = ["c13", "c14", "c16", "c19"]
# the strategies table and the lens table say what to write first, and show nothing
TABLE = "the prediction cell above the table"
REVEALS = [("c23a0002", "my_keys_change", "my_keys_change, above"),
           ("c29", "my_prediction", TABLE), ("c29", "my_beam_beats_greedy", TABLE),
           ("d0cf5f52", "my_lens_third", "my_lens_third, above"), ("d0cf5f54", "my_lens_third", "my_lens_third, above")]


@pytest.mark.parametrize("cell", STOPS)
def test_a_cell_that_shows_the_next_word_stops_in_one_line_until_it_is_predicted(executed, cell):
    executed.run(executed.references)
    for guess, said in (("None", "Write your prediction first (in my_next_word, under Step 1), then run this cell "
                                 "again."),
                        ("3", "3 is not a word: write your prediction as one word in quotes (in my_next_word, under "
                              "Step 1), then run this cell again.")):
        executed.run(f"my_next_word = {guess}")
        with pytest.raises(CellExecutionError):
            executed.run(executed.cell(cell).source)
        outputs = executed.nb.cells[-1].outputs
        assert [o.output_type for o in outputs] == ["error"], outputs  # nothing printed or drawn before the stop
        assert outputs[0].traceback == [said]  # one line, no traceback
    executed.run(executed.references)  # the reference prediction, and the cell run again with it
    assert executed.run(executed.cell(cell).source) or executed.nb.cells[-1].outputs


@pytest.mark.parametrize(("cell", "variable", "where"), REVEALS, ids=[f"{c}-{v}" for c, v, _ in REVEALS])
def test_a_reveal_shows_nothing_before_its_prediction_and_something_after(executed, cell, variable, where):
    executed.run(executed.references)
    executed.run(f"{variable} = None")
    said = executed.run(executed.cell(cell).source)
    assert said == f"Write your prediction first (in {where}), then run this cell again.\n"
    executed.run(executed.references)  # the reference predictions, and the cell run again with them
    assert "Write your prediction first" not in executed.run(executed.cell(cell).source)


@pytest.mark.parametrize("answer, whose", [
    (None, "every layer read with your my_lens"),  # the reference answers: exercise 12's own, passing its check
    ("def my_lens(h, final_norm, lm_head):\n    return None", "the reference my_lens (yours is not written yet)"),
    ("def my_lens(h, final_norm, lm_head):\n    return lm_head(h).softmax(-1)",
     "the reference my_lens (yours does not pass exercise 12's check yet)"),
], ids=["yours", "blank", "no final norm"])
def test_the_lens_table_reads_every_layer_with_the_student_s_lens_once_it_passes(executed, answer, whose):
    executed.run(executed.references)
    if answer is not None:
        executed.run(answer)
    said = executed.run(executed.cell("d0cf5f52").source)
    assert whose in said.splitlines()[0], said
    top = said.splitlines()[-1]  # the same table whichever lens read it: the right one
    executed.run(executed.references)
    assert executed.run(executed.cell("d0cf5f52").source).splitlines()[-1] == top


@pytest.mark.parametrize("answer, whose", [
    (None, "Your my_greedy ran"),  # the reference answers: exercise 1a's and 2's own, passing their checks
    ("def my_greedy(prompt_ids, n):\n    return None", "my_greedy is not written yet: greedy_decode ran"),
    ("def my_greedy(prompt_ids, n):\n    return prompt_ids[0].tolist() + [0] * n",
     "my_greedy does not pass its check yet: greedy_decode"),
], ids=["yours", "blank", "zeros"])
def test_the_step_table_and_the_cache_timing_run_the_student_s_loops_once_they_pass(executed, answer, whose):
    executed.run(executed.references)
    table = executed.run(executed.cell("c19").source)
    timing = executed.run(executed.cell("c24").source)
    if answer is not None:
        executed.run(answer)
    said = executed.run(executed.cell("c19").source)
    assert said.splitlines()[0].startswith(whose), said
    assert said.splitlines()[1:] == table.splitlines()[1:]  # the same table, whichever loop made it
    again = executed.run(executed.cell("c24").source).splitlines()
    assert again[0].startswith(whose) and again[1].startswith("Your my_cached_greedy ran"), again
    assert again[2:] == timing.splitlines()[2:] == ["same tokens with and without the cache: True"]
    executed.run(executed.references)


def test_right_padding_changes_the_shorter_prompt_s_text_and_left_padding_changes_none(executed):
    """What the cell under *Several prompts at once* shows, on the model that ran: padded on the right, the shorter
    prompt goes on otherwise than alone, and generate warns (in the cell's output, not on stderr); padded on the left,
    every prompt goes on as alone, with no warning."""
    said = executed.run("print(together['right'][0] != alone[0], together['right'][1] == alone[1], "
                        "together['left'] == alone, len(warned['right']), warned['left'])")
    assert said.split() == ["True", "True", "True", "1", "[]"], said
    shown = stdout_of(executed.cell("1c000003"))
    assert "generate warned: A decoder-only architecture is being used, but right-padding was detected!" in shown
    assert not [o for o in executed.cell("1c000003").outputs if o.get("name") == "stderr"]


def test_session_2_starts_from_the_cells_above_step_1_and_the_cell_under_the_break(executed):
    """The Break's advice, followed in an emptied kernel: every code cell above *Step 1* (Setup, Parameters, Load the
    model), then every cell from the Break on. The rest of the notebook runs, on the same prompt and greedy text."""
    nb = executed.nb
    at = executed.index["47579a36"]
    assert "run every code cell above *Step 1*" in " ".join(nb.cells[at].source.split())
    step_1 = next(i for i, cell in enumerate(nb.cells) if cell.source.startswith("## Step 1"))
    top = [i for i, cell in enumerate(nb.cells[:step_1]) if cell.cell_type == "code"]
    assert [nb.cells[i].id for i in top] == ["73a93b9f", "c02", "c04", "c05"]  # Setup, Parameters, Load the model
    before = executed.run("print(greedy_steps.ids, inputs['input_ids'].tolist())")
    executed.run("%reset -f")
    assert executed.run("print('model' in globals())") == "False\n"
    for i in [*top, *range(at, len(nb.cells) - 1)]:
        if nb.cells[i].cell_type == "code":
            executed.client.execute_cell(nb.cells[i], i)
            assert not [o for o in nb.cells[i].outputs if o.output_type == "error"], (nb.cells[i].id,)
    assert executed.run("print(greedy_steps.ids, inputs['input_ids'].tolist())") == before
