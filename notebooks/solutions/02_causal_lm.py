"""Reference solutions to notebook 2's exercises (for instructors; `make solutions` checks them).

Each entry: the start of the answer cell it replaces -> (the solution, what the check cell then prints).
"""

SOLUTIONS = {
    "my_prediction = None": ('my_prediction = "temperature 1.5"\nmy_beam_beats_greedy = True',
                             "You predicted temperature 1.5"),
    "continuation_probability = None": (
        "import math\n\ncontinuation_probability = math.prod(step.candidates[0][1] for step in manual.steps)",
        "Correct:"),
    "def my_filter(logits, temperature, top_k, top_p):": (
        "def my_filter(logits, temperature, top_k, top_p):\n"
        "    scores = logits / temperature\n"
        "    if top_k > 0:\n"
        "        kth = scores.topk(top_k).values[-1]  # the k-th highest score\n"
        '        scores = scores.masked_fill(scores < kth, float("-inf"))\n'
        "    probs = scores.softmax(-1)\n"
        "    if top_p < 1:\n"
        "        sorted_probs, order = probs.sort(descending=True)\n"
        "        before = sorted_probs.cumsum(-1) - sorted_probs  # the probability ranked above each token\n"
        "        probs[order[before >= top_p]] = 0  # the nucleus already held top_p without them\n"
        "        probs = probs / probs.sum()\n"
        "    return probs",
        "Correct:"),
    "def my_sample(prompt_ids, n, temperature, top_k, top_p):": (
        "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"
        "    ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids\n"
        "    with torch.no_grad():\n"
        "        for _ in range(n):\n"
        "            out = model(input_ids=feed, past_key_values=past, use_cache=True)\n"
        "            probabilities = my_filter(out.logits[0, -1], temperature, top_k, top_p)\n"
        "            ids.append(int(torch.multinomial(probabilities, 1)))  # a draw, where greedy took the argmax\n"
        "            past, feed = out.past_key_values, torch.tensor([ids[-1:]])\n"
        "    return ids",
        "Correct:"),
    "def my_attention_head(head):": (
        "def my_attention_head(head):\n"
        "    q = head.rotate(head.x @ head.W_q + head.b_q)\n"
        "    k = head.rotate(head.x @ head.W_k + head.b_k)\n"
        "    v = head.x @ head.W_v + head.b_v\n"
        "    scores = q @ k.T / head.size ** 0.5\n"
        "    n = len(head.x)\n"
        "    future = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)  # True above the diagonal\n"
        '    weights = scores.masked_fill(future, float("-inf")).softmax(-1)\n'
        "    return weights, weights @ v",
        "Correct:"),
    "def work_refeed(n, N):": (
        "def work_refeed(n, N):\n    return n * N + N * (N - 1) // 2  # step i feeds n + i tokens, i = 0 .. N-1\n\n\n"
        "def work_cached(n, N):\n    return n + (N - 1)  # the prompt once, then one token per later step",
        "Correct:"),
    "my_temperature = None": ("my_temperature = 0.01  # near 0 the distribution collapses onto the favourite",
                              "Same as greedy"),
}
