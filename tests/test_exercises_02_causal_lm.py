"""Notebook 2 (causal LM)'s exercises: every check cell accepts right answers, in more than one form, and turns down
plausible wrong ones (tests/exercise_kernel.py runs them)."""

import pytest
from exercise_kernel import RIGHT, WRONG, exercise_tests, solution

NOTEBOOK = "02_causal_lm.ipynb"

STRATEGIES_ANSWER, STRATEGIES_CHECK = "bc9393b5", "4844112a"  # predict the least likely strategy; beam vs greedy
CONTINUATION_ANSWER, CONTINUATION_CHECK = "c33", "c34"  # the probability of the greedy continuation
FILTERS_ANSWER, FILTERS_CHECK = "1d834672", "14672850"  # temperature, top-k and top-p by hand
SAMPLING_ANSWER, SAMPLING_CHECK = "306fd16b", "c8f0d101"  # the sampling loop, as generate(do_sample=True)
HEAD_ANSWER, HEAD_CHECK = "9c018689", "d6374c70"  # one causal attention head by hand
WORK_ANSWER, WORK_CHECK = "c36", "c37"  # tokens fed with and without the KV cache, as formulas
TEMPERATURE_ANSWER, TEMPERATURE_CHECK = "c39", "c40"  # a temperature at which sampling is greedy

EXERCISES = {  # name -> (answer cell, check cell), in notebook order
    "strategies": (STRATEGIES_ANSWER, STRATEGIES_CHECK),
    "continuation": (CONTINUATION_ANSWER, CONTINUATION_CHECK),
    "filters": (FILTERS_ANSWER, FILTERS_CHECK),
    "sampling": (SAMPLING_ANSWER, SAMPLING_CHECK),
    "attention head": (HEAD_ANSWER, HEAD_CHECK),
    "work": (WORK_ANSWER, WORK_CHECK),
    "temperature": (TEMPERATURE_ANSWER, TEMPERATURE_CHECK),
}

CASES = [  # pytest.param(check cell, answer code, verdict, what the check prints)
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "temperature 1.5"', RIGHT, "You predicted temperature 1.5",
                 id="strategies: temperature 1.5"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = " Greedy "', RIGHT, "You predicted greedy",
                 id="strategies: capitalised, in spaces"),
    pytest.param(STRATEGIES_CHECK, 'my_prediction = "the hot one"', WRONG, "is none of",
                 id="strategies: no such strategy"),
    pytest.param(STRATEGIES_CHECK, "my_prediction = ['greedy']", WRONG, "is none of", id="strategies: a list"),
    pytest.param(STRATEGIES_CHECK, "my_beam_beats_greedy = 'yes'", WRONG,
                 "Predict it as True or False; got 'yes'", id="strategies: beam search, a str"),
    pytest.param(STRATEGIES_CHECK, "my_prediction, my_beam_beats_greedy = 'greedy', True", RIGHT,
                 "Beam search beats greedy: you said True", id="strategies: beam search, True"),
    pytest.param(CONTINUATION_CHECK,
                 "import math; continuation_probability = math.prod(s.candidates[0][1] for s in manual.steps)",
                 RIGHT, "Correct:", id="continuation: a product"),
    pytest.param(CONTINUATION_CHECK, "import math\n"
                 "continuation_probability = math.prod(round(s.candidates[0][1], 3) for s in manual.steps)",
                 RIGHT, "Correct:", id="continuation: the step table's printed probabilities"),
    pytest.param(CONTINUATION_CHECK, "continuation_probability = sum(s.candidates[0][1] for s in manual.steps)",
                 WRONG, "Not quite", id="continuation: a sum"),
    pytest.param(CONTINUATION_CHECK, 'continuation_probability = "0.3"', WRONG, "is not one number",
                 id="continuation: a str"),
    pytest.param(CONTINUATION_CHECK, "continuation_probability = [0.1, 0.2]", WRONG,
                 "Not quite: [0.1, 0.2] is not one number", id="continuation: a list"),
    pytest.param(CONTINUATION_CHECK, "continuation_probability = 'x' * 100000", WRONG, "Not quite: 'xxxxxxxx",
                 id="continuation: a very long str"),
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
    pytest.param(SAMPLING_CHECK, solution(NOTEBOOK, SAMPLING_ANSWER), RIGHT, "Correct:",
                 id="sampling: the reference solution"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids = prompt_ids\n"
                 "    for _ in range(n):\n"
                 "        with torch.no_grad():\n"
                 "            logits = model(ids).logits[0, -1]\n"
                 "        p = filtered_probabilities(logits, temperature, top_k, top_p)\n"
                 "        ids = torch.cat([ids, torch.multinomial(p, 1)[None]], dim=1)\n"
                 "    return ids", RIGHT, "Correct:", id="sampling: no cache, a tensor"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
                 "    with torch.no_grad():\n"
                 "        for _ in range(n):\n"
                 "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
                 "            p = filtered_probabilities(out.logits[0, -1], temperature, top_k, top_p)\n"
                 "            ids.append(int(p.argmax()))\n"
                 "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
                 "    return ids", WRONG, "Not quite at temperature 0.8",
                 id="sampling: the argmax, not a draw"),
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
                 "    with torch.no_grad():\n"
                 "        for _ in range(n):\n"
                 "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
                 "            p = filtered_probabilities(out.logits[0, -1], 1.0, top_k, top_p)\n"
                 "            ids.append(int(torch.multinomial(p, 1)))\n"
                 "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
                 "    return ids", WRONG, "Not quite at temperature 0.8",
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
    pytest.param(SAMPLING_CHECK,
                 "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
                 "    return 'a great way'", WRONG, "return the token ids as a list of ints",
                 id="sampling: a str"),
    pytest.param(HEAD_CHECK, solution(NOTEBOOK, HEAD_ANSWER), RIGHT, "Correct:",
                 id="attention head: the reference solution"),
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
                 "    return weights, weights @ q", WRONG, "The weights are right; the output is not",
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
    pytest.param(WORK_CHECK,
                 "def work_refeed(n, N): return sum(n + i for i in range(N))\n"
                 "def work_cached(n, N): return n + (N - 1) * 1", RIGHT, "Correct:",
                 id="work: a sum"),
    pytest.param(WORK_CHECK, "def work_refeed(n, N): return n * N\ndef work_cached(n, N): return N", WRONG,
                 "Not quite", id="work: wrong formulas"),
    pytest.param(WORK_CHECK,
                 "def work_refeed(n, N): return sum(s.tokens_fed for s in refeed.steps)\n"
                 "def work_cached(n, N): return sum(s.tokens_fed for s in cached.steps)", WRONG,
                 "but for n=3, N=5", id="work: the measured numbers, not formulas"),
    pytest.param(WORK_CHECK, 'def work_refeed(n, N): return "n * N"\ndef work_cached(n, N): return n + N', WRONG,
                 "Not quite: your formulas give 'n * N'", id="work: a formula as a str"),
    pytest.param(WORK_CHECK, "work_refeed = [1, 2]; work_cached = 3", WRONG,
                 "your code raised TypeError: 'list' object is not callable", id="work: not functions"),
    pytest.param(WORK_CHECK, "def work_refeed(n): return n\ndef work_cached(n): return n", WRONG,
                 "work_refeed() takes 1 positional argument but 2 were given", id="work: one argument"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 0.01", RIGHT, "Same as greedy", id="temperature: 0.01"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 1e-4", RIGHT, "Same as greedy", id="temperature: 1e-4"),
    pytest.param(TEMPERATURE_CHECK, "my_temperature = 3.0", WRONG, "Not the same", id="temperature: 3"),
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
