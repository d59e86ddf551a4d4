"""Every exercise check accepts right answers, in more than one form, and turns down a plausible wrong one.

Each notebook runs once (smoke profile, offline) in a kernel, with the reference solutions of
notebooks/solutions/ in its answer cells (``make solutions``); every check cell must accept them. Then, in the same
kernel, each case runs its answer code and the exercise's check cell again. Adding a case is one line in CASES.
"""

import fractions
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from utils import exercises

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

RIGHT, WRONG = "right", "wrong"
CHECK_TAG = "exercise-check"  # the cell tag of every check cell

# notebook 1's check cells, picked by a line of their source
PREDICT_1 = "found = rank_of(tokenizer, probabilities, my_guess)"
SOFTMAX = "z = logits[0, mask_index]  # the mask's scores"
MLM_LOSS = "labels[0, mask_index] = box_id"
BOTH_SIDES = "ids, original = mine"
VOCABULARY = 'expected = (vocabulary["[PAD]"]'
IN_TURN = "mine = my_fill_in_turn(two)"
GUESS = "ranked = fill_mask(model, tokenizer, my_sentence"
MASS = "mass, count = top.values.sum()"
FRANCE = 'my_sentence = f"The capital of France is {tokenizer.mask_token}."\n'  # the exercise's own sentence
# notebook 2's
PREDICT_2 = "least = min(per_token, key=per_token.get)"
CONTINUATION = "expected = math.exp(continuation_log_probability("
FILTERS = "answers = [my_filter(last.clone(), *setting)"
HEAD = "answer = my_attention_head(head)"
SAMPLING = "mine = my_sample(start[\"input_ids\"]"
WORK = "measured = (sum(s.tokens_fed"
TEMPERATURE = "check_settings(number(my_temperature), 0, 1.0)"


def _solution(notebook: str, start: str) -> str:
    namespace: dict = {}
    exec((NOTEBOOKS / "solutions" / notebook).read_text(), namespace)
    return namespace["SOLUTIONS"][start][0]


FILTER_SOLUTION = _solution("02_causal_lm.py", "def my_filter(logits, temperature, top_k, top_p):")
HEAD_SOLUTION = _solution("02_causal_lm.py", "def my_attention_head(head):")
# the cases run one after another in one kernel, where an earlier case left a wrong my_filter behind
SAMPLE_SOLUTION = _solution("02_causal_lm.py", "def my_sample(prompt_ids, n, temperature, top_k, top_p):").replace(
    "my_filter(", "filtered_probabilities(")
# notebook 3's
PREDICT_3 = "for what, guess, measured in"
CROSS_ENTROPY = "mine = my_cross_entropy(out.logits"
PERPLEXITY = "if my_perplexity is None or my_uniform_perplexity is None:"
CE_SOLUTION = _solution("03_pretraining_gpt2.py", "def my_cross_entropy(logits, labels):")
LOOP = "losses = my_training_steps(yours, batches"
ACCURACY = "answer = next_token_accuracy(train_ids)"
LOOP_SOLUTION = _solution("03_pretraining_gpt2.py", "def my_training_steps(model, batches, optimizer):")
# notebook -> [(text that picks the check cell, answer code, verdict, text the check must print)]
CASES = {
    "01_masked_lm.ipynb": [
        (PREDICT_1, 'my_guess = "box"', RIGHT, "Your guess 'box': rank"),
        (PREDICT_1, 'my_guess = " Part "', RIGHT, "Your guess 'Part': rank"),
        (PREDICT_1, 'my_guess = "chocolates"', WRONG, "is 2 pieces here"),
        (PREDICT_1, "my_guess = 3", WRONG, "3 is not a word"),
        (PREDICT_1, "my_guess = None", WRONG, "No guess written"),
        (SOFTMAX, "def my_softmax(z):\n    return torch.exp(z) / torch.exp(z).sum()", RIGHT, "Correct:"),
        (SOFTMAX, "import math\ndef my_softmax(z):\n    e = [math.exp(v) for v in z.tolist()]\n"
                  "    return [v / sum(e) for v in e]", RIGHT, "Correct:"),  # a list of floats
        (SOFTMAX, "def my_softmax(z):\n    return torch.exp(z)", WRONG, "Not quite: 30,522 of its"),  # not normalised
        (SOFTMAX, "def my_softmax(z):\n    return z / z.sum()", WRONG, "Not quite"),
        (SOFTMAX, "def my_softmax(z):\n    return torch.exp(z).sum()", WRONG, "Not quite: its shape is ()"),
        (SOFTMAX, "def my_softmax(z):\n    return 'probabilities'", WRONG, "Not quite: it is a str"),
        (SOFTMAX, "def my_softmax(z):\n    return z.exp() / z.sum(dim=5)", WRONG, "your code raised IndexError"),
        (SOFTMAX, "my_softmax = 3", WRONG, "your code raised TypeError"),
        (SOFTMAX, "del my_softmax", WRONG, "Run your answer's cell first"),
        (MLM_LOSS, "my_loss = -torch.log(probabilities[box_id])", RIGHT, "Correct:"),
        (MLM_LOSS, "import math; my_loss = -math.log(probabilities[box_id].item())", RIGHT, "Correct:"),
        (MLM_LOSS, "my_loss = torch.log(probabilities[box_id])", WRONG, "mind the sign"),
        (MLM_LOSS, "my_loss = probabilities[box_id]", WRONG, "Not quite"),
        (MLM_LOSS, "import math; my_loss = -math.log10(probabilities[box_id].item())", WRONG, "natural log"),
        (MLM_LOSS, 'my_loss = "nine"', WRONG, "is not one number"),
        (MLM_LOSS, "my_loss = -torch.log(probabilities)", WRONG, "is not one number"),
        (BOTH_SIDES, 'my_text = f"Life is like a {tokenizer.mask_token} of wine."', RIGHT,
         "; the top 5 moved), though"),
        (BOTH_SIDES, 'my_text = "life is like a [MASK] of cards"', RIGHT, "Correct: the probabilities at the blank"),
        (BOTH_SIDES, 'my_text = text.replace(".", "!")', RIGHT, "Correct: the probabilities at the blank changed"),
        (BOTH_SIDES, 'my_text = f"Love is like a {tokenizer.mask_token} of chocolates."', WRONG,
         "the words before the blank changed"),
        (BOTH_SIDES, "my_text = text", WRONG, "that is the original sentence"),
        (BOTH_SIDES, 'my_text = f"Life is like a {tokenizer.mask_token} of {tokenizer.mask_token}."', WRONG,
         "keep exactly one"),
        (BOTH_SIDES, 'my_text = "Life is like a box of chocolates."', WRONG, "write a sentence (a str) with one"),
        (BOTH_SIDES, "my_text = 42", WRONG, "write a sentence (a str) with one"),
        (IN_TURN, _solution("01_masked_lm.py", "def my_fill_in_turn(text):"), RIGHT, "Correct: in turn"),
        (IN_TURN, "def my_fill_in_turn(text):\n"  # by hand: forward pass, argmax at the first mask, decode
                  "    words = []\n"
                  "    for _ in range(text.count('[MASK]')):\n"
                  "        inputs = tokenizer(text, return_tensors='pt')\n"
                  "        at = int((inputs['input_ids'][0] == tokenizer.mask_token_id).nonzero()[0, 0])\n"
                  "        with torch.no_grad():\n"
                  "            word = tokenizer.decode([int(model(**inputs).logits[0, at].argmax())]).strip()\n"
                  "        text = text.replace('[MASK]', word, 1)\n"
                  "        words.append(word.upper())\n"
                  "    return tuple(words)", RIGHT, "Correct: in turn"),
        (IN_TURN, "def my_fill_in_turn(text):\n"  # the first blank only
                  "    return [fill_mask(model, tokenizer, text, top_k=1)[0][0][0]]", WRONG,
         "Take each blank's top word"),
        (IN_TURN, "def my_fill_in_turn(text):\n    return 'head head'", WRONG, "return the words as a list of str"),
        (IN_TURN, "def my_fill_in_turn(text):\n    return ['cat', 'mat']", WRONG, "Take each blank's top word"),
        (VOCABULARY, "my_pad_id, my_unk_id = tokenizer.pad_token_id, tokenizer.unk_token_id\n"
                     "my_continuations = sum(t.startswith('##') for t in tokenizer.get_vocab())", RIGHT, "Correct:"),
        (VOCABULARY, "import numpy as np\nmy_pad_id, my_unk_id = np.int64(0), torch.tensor(100)\n"
                     "pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))\n"
                     "my_continuations = len([t for t in pieces if t[:2] == '##'])", RIGHT, "Correct:"),
        (VOCABULARY, "my_pad_id, my_unk_id, my_continuations = 0, 100, len(tokenizer)", WRONG,
         "Not quite: the count of ## pieces"),
        (VOCABULARY, "my_pad_id, my_unk_id, my_continuations = '[PAD]', '[UNK]', 'many'", WRONG,
         "Not quite: the [PAD] id, the [UNK] id, the count"),
        (VOCABULARY, "my_pad_id, my_unk_id, my_continuations = True, 100, 5828", WRONG, "Not quite: the [PAD] id"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_word = "Paris"', RIGHT, "in its top 5"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_word = " paris "', RIGHT, "in its top 5"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_word = "chocolates"', WRONG, "is 2 pieces here"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", "my_word = 7", WRONG, "write one word in quotes"),
        ("ranked = fill_mask(model, tokenizer, my_sentence", 'my_sentence = "No mask here."', WRONG,
         "The text has no [MASK] token"),
        ("mass, count = top.values.sum()",
         "my_top5_mass = top.values.sum().item(); my_count_above = int((probabilities > 0.001).sum())",
         RIGHT, "Correct:"),
        ("mass, count = top.values.sum()",  # the printed, rounded values added up
         "my_top5_mass = sum(round(v, 3) for v in top.values.tolist()); "
         "my_count_above = int((probabilities > 0.001).sum())", RIGHT, "Correct:"),
        ("mass, count = top.values.sum()", "my_top5_mass = 1.0; my_count_above = 10", WRONG, "Not quite"),
        ("mass, count = top.values.sum()", 'my_top5_mass = "0.15"; my_count_above = [3]', WRONG, "Not quite"),
        # reliability round 3 (N7, N9, N11, N13, N14): any answer gets a verdict, none raises
        (GUESS, FRANCE + "my_word = ['paris']", WRONG, "write one word in quotes (yours is ['paris'])"),
        (GUESS, FRANCE + "my_word = None", WRONG, "Not answered yet."),
        (GUESS, FRANCE + "my_word = 'paris' * 20000", WRONG, "is not in this model's vocabulary (it reads as [UNK])"),
        (GUESS, "my_sentence = {'text': 'The capital of France is [MASK].'}", WRONG,
         "The text must be text (a str in quotes), got dict"),
        (MASS, "my_top5_mass = [0.5]; my_count_above = 3", WRONG, "the top 5 sum is not [0.5]"),
        (MASS, "my_top5_mass = {'mass': 0.5}; my_count_above = 3", WRONG, "the top 5 sum is not {'mass': 0.5}"),
        (MASS, "my_top5_mass = float('nan'); my_count_above = int((probabilities > 0.001).sum())", WRONG,
         "the top 5 sum is not nan"),
    ],
    "02_causal_lm.ipynb": [
        (PREDICT_2, 'my_prediction = "temperature 1.5"', RIGHT, "You predicted temperature 1.5"),
        (PREDICT_2, 'my_prediction = " Greedy "', RIGHT, "You predicted greedy"),
        (PREDICT_2, 'my_prediction = "the hot one"', WRONG, "is none of"),
        (PREDICT_2, "my_prediction = ['greedy']", WRONG, "is none of"),
        (PREDICT_2, "my_beam_beats_greedy = 'yes'", WRONG, "Predict it as True or False; got 'yes'"),
        (PREDICT_2, "my_prediction, my_beam_beats_greedy = 'greedy', True", RIGHT,
         "Beam search beats greedy: you said True"),
        (FILTERS, FILTER_SOLUTION, RIGHT, "Correct:"),
        (FILTERS, "def my_filter(logits, temperature, top_k, top_p):\n"  # a plain loop over the sorted tokens
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
                  "    return kept / kept.sum()", RIGHT, "Correct:"),
        (FILTERS, FILTER_SOLUTION.replace("before >= top_p", "sorted_probs.cumsum(-1) > top_p"), WRONG,
         "Not quite at temperature 1.0, top_k 0, top_p 0.9"),  # drops the token that crosses top_p
        (FILTERS, FILTER_SOLUTION.replace("logits / temperature", "logits * temperature"), WRONG,
         "Not quite at temperature 0.7"),
        (FILTERS, "def my_filter(logits, temperature, top_k, top_p):\n    return logits.softmax(-1).tolist()", WRONG,
         "Not quite at temperature 0.7"),
        (FILTERS, "def my_filter(logits, temperature, top_k, top_p):\n    return 'soft'", WRONG, "it is a str"),
        (SAMPLING, SAMPLE_SOLUTION, RIGHT, "Correct:"),
        (SAMPLING, "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n"  # no cache, a tensor
                   "    ids = prompt_ids\n"
                   "    for _ in range(n):\n"
                   "        with torch.no_grad():\n"
                   "            logits = model(ids).logits[0, -1]\n"
                   "        p = filtered_probabilities(logits, temperature, top_k, top_p)\n"
                   "        ids = torch.cat([ids, torch.multinomial(p, 1)[None]], dim=1)\n"
                   "    return ids", RIGHT, "Correct:"),
        (SAMPLING, SAMPLE_SOLUTION.replace("int(torch.multinomial(probabilities, 1))", "int(probabilities.argmax())"),
         WRONG, "Not quite at temperature 0.8"),  # greedy, not a draw
        (SAMPLING, SAMPLE_SOLUTION.replace("out.logits[0, -1], temperature", "out.logits[0, -1], 1.0"), WRONG,
         "Not quite at temperature 0.8"),  # the temperature forgotten
        (SAMPLING, SAMPLE_SOLUTION.replace("    return ids", "    return ids[len(prompt_ids[0]):]"), WRONG,
         "Not quite"),  # without the prompt
        (SAMPLING, "def my_sample(prompt_ids, n, temperature, top_k, top_p):\n    return 'a great way'", WRONG,
         "return the token ids as a list of ints"),
        (HEAD, HEAD_SOLUTION, RIGHT, "Correct:"),
        (HEAD, "import math\ndef my_attention_head(head):\n"  # a loop, position by position, returning lists
               "    q = head.rotate(head.x @ head.W_q + head.b_q); k = head.rotate(head.x @ head.W_k + head.b_k)\n"
               "    v = head.x @ head.W_v + head.b_v\n"
               "    weights, output = [], []\n"
               "    for i in range(len(q)):\n"
               "        row = torch.softmax(q[i] @ k[:i + 1].T / math.sqrt(head.size), -1)\n"
               "        weights.append(row.tolist() + [0.0] * (len(q) - i - 1))\n"
               "        output.append((row @ v[:i + 1]).tolist())\n"
               "    return weights, output", RIGHT, "Correct:"),
        (HEAD, HEAD_SOLUTION.replace('.masked_fill(future, float("-inf"))', ""), WRONG, "see later tokens"),
        (HEAD, HEAD_SOLUTION.replace(" / head.size ** 0.5", ""), WRONG, "Scaled by 1/sqrt(d)"),
        (HEAD, HEAD_SOLUTION.replace("return weights, weights @ v", "return weights, weights @ q"), WRONG,
         "The weights are right; the output is not"),
        (HEAD, HEAD_SOLUTION.replace("return weights, weights @ v", "return weights @ v"), WRONG,
         "return two things"),
        (HEAD, HEAD_SOLUTION.replace(".softmax(-1)", ".exp()"), WRONG, "must add up to 1"),
        (HEAD, HEAD_SOLUTION.replace(".softmax(-1)", ""), WRONG, "the weights hold -inf or nan"),  # scores, not weights
        (HEAD, HEAD_SOLUTION.replace("return weights, weights @ v", "return weights[None], weights @ v"), WRONG,
         "its shape is (1, "),
        (HEAD, "def my_attention_head(head):\n    return head.q", WRONG, "your code raised AttributeError"),
        (CONTINUATION,
         "import math; continuation_probability = math.prod(s.candidates[0][1] for s in manual.steps)",
         RIGHT, "Correct:"),
        (CONTINUATION,  # from the step table's printed (3-decimal) probabilities
         "import math; continuation_probability = math.prod(round(s.candidates[0][1], 3) for s in manual.steps)",
         RIGHT, "Correct:"),
        (CONTINUATION, "continuation_probability = sum(s.candidates[0][1] for s in manual.steps)",
         WRONG, "Not quite"),
        (CONTINUATION, 'continuation_probability = "0.3"', WRONG, "is not one number"),
        # reliability round 3 (N17, N19, N22): any answer gets a verdict, none raises
        (CONTINUATION, "continuation_probability = [0.1, 0.2]", WRONG, "Not quite: [0.1, 0.2] is not one number"),
        (CONTINUATION, "continuation_probability = 'x' * 100000", WRONG, "Not quite: 'xxxxxxxx"),
        (WORK, "work_refeed = [1, 2]; work_cached = 3", WRONG,
         "your code raised TypeError: 'list' object is not callable"),
        (WORK, "def work_refeed(n): return n\ndef work_cached(n): return n", WRONG,
         "work_refeed() takes 1 positional argument but 2 were given"),
        (TEMPERATURE, "my_temperature = float('nan')", WRONG,
         "Not quite: temperature must be a number above 0 (1 leaves the logits as they are), got nan.\n"),
        (TEMPERATURE, "my_temperature = [0.01]", WRONG, "the temperature must be a number above 0, got [0.01]"),
        (TEMPERATURE, "my_temperature = {'T': 0.01}", WRONG,
         "the temperature must be a number above 0, got {'T': 0.01}"),
        (TEMPERATURE, "my_temperature = 1e-9", WRONG, "Right idea, but too small to compute with: use at least 1e-06"),
        (WORK,
         "def work_refeed(n, N): return n * N + N * (N - 1) // 2\ndef work_cached(n, N): return n + N - 1",
         RIGHT, "Correct:"),
        (WORK,
         "def work_refeed(n, N): return sum(n + i for i in range(N))\ndef work_cached(n, N): return n + (N - 1) * 1",
         RIGHT, "Correct:"),
        (WORK,
         "def work_refeed(n, N): return n * N\ndef work_cached(n, N): return N", WRONG, "Not quite"),
        (WORK, "def work_refeed(n, N): return sum(s.tokens_fed for s in refeed.steps)\n"  # the printed numbers
               "def work_cached(n, N): return sum(s.tokens_fed for s in cached.steps)", WRONG, "but for n=3, N=5"),
        (WORK, 'def work_refeed(n, N): return "n * N"\ndef work_cached(n, N): return n + N', WRONG,
         "Not quite: your formulas give 'n * N'"),
        (TEMPERATURE, "my_temperature = 0.01", RIGHT, "Same as greedy"),
        (TEMPERATURE, "my_temperature = 1e-4", RIGHT, "Same as greedy"),
        (TEMPERATURE, "my_temperature = 3.0", WRONG, "Not the same"),
        (TEMPERATURE, "my_temperature = 0", WRONG, "T = 0 itself is greedy decoding"),  # raised
        (TEMPERATURE, 'my_temperature = "0.01"', WRONG, "temperature must be a number above 0"),
        (TEMPERATURE, "my_temperature = -1", WRONG, "temperature must be a number above 0"),
    ],
    "03_pretraining_gpt2.ipynb": [
        (PREDICT_3, "predicted_final_train_loss = 5.0\npredicted_final_valid_loss = 7.0", RIGHT, "you predicted 5.00"),
        (PREDICT_3, "predicted_final_train_loss = torch.tensor(0.1)\npredicted_final_valid_loss = '7'", RIGHT,
         "no number predicted ('7')"),
        (PREDICT_3, "predicted_final_train_loss = predicted_final_valid_loss = [1, 2]", WRONG, "no number predicted"),
        (PREDICT_3, "predicted_valid_shape = ' Falls then rises '", RIGHT,
         "you predicted 'falls then rises'"),
        (PREDICT_3, "predicted_valid_shape = 3", WRONG, "you predicted '3': not this time."),
        (CROSS_ENTROPY, CE_SOLUTION, RIGHT, "Correct:"),
        (CROSS_ENTROPY, "import torch.nn.functional as F\ndef my_cross_entropy(logits, labels):\n"
                        "    return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())", RIGHT,
         "Correct:"),  # -100 is cross_entropy's default ignore_index
        (CROSS_ENTROPY, "import math\ndef my_cross_entropy(logits, labels):\n"  # a loop, as plain floats
                        "    total, count = 0.0, 0\n"
                        "    for row, targets in zip(logits.log_softmax(-1), labels):\n"
                        "        for t in range(len(targets) - 1):\n"
                        "            if targets[t + 1] != -100:\n"
                        "                total -= float(row[t, targets[t + 1]]); count += 1\n"
                        "    return total / count", RIGHT, "Correct:"),
        (CROSS_ENTROPY, "import torch.nn.functional as F\ndef my_cross_entropy(logits, labels):\n"  # not shifted
                        "    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())", WRONG, "Shifted?"),
        (CROSS_ENTROPY, CE_SOLUTION.replace("log_p[scored].mean()", "log_p.mean()"), WRONG, "Not quite"),  # -100 scored
        (CROSS_ENTROPY, CE_SOLUTION.replace("-log_p[scored].mean()", "-log_p[scored]"), WRONG,
         "average over the positions"),
        (CROSS_ENTROPY, CE_SOLUTION.replace("targets.clamp(min=0)", "targets"), WRONG, "your code raised"),
        (CROSS_ENTROPY, "def my_cross_entropy(logits, labels):\n    return 'low'", WRONG, "Not quite: 'low'"),
        (LOOP, LOOP_SOLUTION, RIGHT, "Correct:"),
        (LOOP, CE_SOLUTION + "\n\n\ndef my_training_steps(model, batches, optimizer):\n"  # own loss, zero_grad first
               "    losses = []\n"
               "    for batch in batches:\n"
               "        optimizer.zero_grad()\n"
               "        loss = my_cross_entropy(model(**batch).logits, batch['labels'])\n"
               "        loss.backward()\n"
               "        optimizer.step()\n"
               "        losses.append(float(loss))\n"
               "    return losses", RIGHT, "Correct:"),
        (LOOP, LOOP_SOLUTION.replace("        optimizer.zero_grad()  # gradients add up otherwise\n", ""), WRONG,
         "Not quite, the losses"),  # gradients accumulate
        (LOOP, LOOP_SOLUTION.replace("        optimizer.step()  # AdamW moves every weight against its gradient\n", ""),
         WRONG, "Not quite, the losses"),  # nothing learnt
        (LOOP, LOOP_SOLUTION.replace("loss.backward()", "optimizer.zero_grad(); loss.backward()").replace(
            "        optimizer.zero_grad()  # gradients add up otherwise\n", "").replace(
            "optimizer.step()  # AdamW", "optimizer.step() if len(losses) < 2 else None  # AdamW"), WRONG,
         "The losses match, but the weights"),  # the last batch never stepped
        (LOOP, "def my_training_steps(model, batches, optimizer):\n    return 'fine'", WRONG, "Not quite"),
        (PERPLEXITY, "my_perplexity = math.exp(sample_loss)\nmy_uniform_perplexity = len(tokenizer)", RIGHT,
         "Correct:"),
        (PERPLEXITY, "my_perplexity = torch.tensor(sample_loss).exp()\n"
                     "my_uniform_perplexity = math.exp(math.log(50257))", RIGHT, "Correct:"),
        (PERPLEXITY, "my_perplexity = sample_loss\nmy_uniform_perplexity = len(tokenizer)", WRONG, "is not e^"),
        (PERPLEXITY, "my_perplexity = math.exp(sample_loss)\nmy_uniform_perplexity = math.log(len(tokenizer))", WRONG,
         "a uniform guess over"),
        (PERPLEXITY, "my_perplexity = 'big'\nmy_uniform_perplexity = len(tokenizer)", WRONG, "is not e^"),
        # reliability round 3 (N24, N26, N27): any answer gets a verdict, none raises
        (PERPLEXITY, "my_perplexity = [1.0]\nmy_uniform_perplexity = {'V': 1}", WRONG, "Not quite: [1.0] is not e^"),
        (ACCURACY, "def next_token_accuracy(ids): return [0.5]", WRONG, "Not quite: [0.5] and [0.5]"),
        (ACCURACY, "next_token_accuracy = 0.5", WRONG, "your code raised TypeError: 'float' object is not callable"),
        (ACCURACY, "def next_token_accuracy(ids): return torch.tensor([0.5, 0.5])", WRONG,
         "Not quite: a tensor of shape (2,) and a tensor of shape (2,)"),
        (ACCURACY, "def next_token_accuracy(ids): return '0.5'", WRONG, "Not quite: '0.5' and '0.5'"),
        ("answer = next_token_accuracy(train_ids)",
         "def next_token_accuracy(ids):\n    x = torch.tensor([ids])\n    with torch.no_grad():\n"
         "        return (model(x).logits[0, :-1].argmax(-1) == x[0, 1:]).float().mean().item()", RIGHT, "Correct:"),
        ("answer = next_token_accuracy(train_ids)",
         "def next_token_accuracy(ids):\n    x = torch.tensor([ids])\n    with torch.no_grad():\n"
         "        guesses = model(x).logits[0].argmax(-1).tolist()\n"
         "    return sum(g == t for g, t in zip(guesses, ids[1:])) / (len(ids) - 1)", RIGHT, "Correct:"),
        ("answer = next_token_accuracy(train_ids)",  # compares each guess with the token it was given, not the next
         "def next_token_accuracy(ids):\n    x = torch.tensor([ids])\n    with torch.no_grad():\n"
         "        return (model(x).logits[0].argmax(-1) == x[0]).float().mean().item()", WRONG, "Not quite"),
        ('elif answer == "smaller":', 'more_data_gap = "smaller"', RIGHT, "Right:"),
        ('elif answer == "smaller":', 'more_data_gap = " Smaller."', RIGHT, "Right:"),
        ('elif answer == "smaller":', 'more_data_gap = "larger"', WRONG, "Think again"),
        ('elif answer == "smaller":', "more_data_gap = 3", WRONG, "Answer 'larger' or 'smaller'"),
        ('elif answer == "higher":', 'dropout_train_loss = "higher"', RIGHT, "Right:"),
        ('elif answer == "higher":', 'dropout_train_loss = "Higher"', RIGHT, "Right:"),
        ('elif answer == "higher":', 'dropout_train_loss = "lower"', WRONG, "Think again"),
    ],
}


def is_check(cell) -> bool:
    return cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", [])


def test_every_answer_awaiting_check_is_tagged():
    """A cell that can say "Not answered yet" is a check cell, and carries the tag the other tests look for."""
    for name in CASES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and ("NOT_ANSWERED" in cell.source or "Not answered yet" in cell.source):
                assert is_check(cell), f"{name}: untagged check cell {cell.source[:60]!r}"


def stdout_of(cell) -> str:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


def solutions(notebook: str) -> dict:
    """notebooks/solutions/<notebook>.py's SOLUTIONS."""
    namespace: dict = {}
    exec((NOTEBOOKS / "solutions" / f"{Path(notebook).stem}.py").read_text(), namespace)
    return namespace["SOLUTIONS"]


@pytest.fixture(scope="module", params=sorted(CASES))
def executed(request, tmp_path_factory):
    """(notebook, its executed cells, {check cell index: the verdict its reference solution must get}, client with
    a live kernel): the whole notebook run once (smoke profile, offline) with the reference solutions in the answer
    cells. The same kernel then serves every case."""
    name = request.param
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    checks = {}
    for start, (solution, verdict) in solutions(name).items():
        index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(start))
        nb.cells[index].source = solution
        checks[next(i for i in range(index + 1, len(nb.cells)) if is_check(nb.cells[i]))] = verdict  # the next check
    assert set(checks) == {i for i, c in enumerate(nb.cells) if is_check(c)}, \
        f"{name}: every check cell, and only they, must follow an answer cell with a reference solution"
    # local IPC sockets rather than unencrypted TCP, as the Makefile's kernels use
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path_factory.mktemp("kernel") / "k"))
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        yield name, nb, checks, client


def test_every_check_cell_has_a_right_and_a_wrong_case():
    for name, cases in CASES.items():
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        checks = [c for c in nb.cells if is_check(c)]
        covered = {pick for pick, *_ in cases}
        for check in checks:
            picks = [p for p in covered if p in check.source]
            assert picks, f"{name}: no case for the check cell starting {check.source[:60]!r}"
            verdicts = [v for p, _, v, _ in cases if p in picks]
            assert verdicts.count(RIGHT) >= 2 and verdicts.count(WRONG) >= 1, (name, picks)


def test_checks_accept_right_answers_and_turn_down_wrong_ones(executed):
    name, nb, _, client = executed
    checks = {pick: next(c for c in nb.cells if c.cell_type == "code" and pick in c.source)
              for pick, *_ in CASES[name]}
    nb.cells.append(nbformat.v4.new_code_cell())  # the scratch cell the cases run in
    failures = []
    for pick, answer, verdict, expected in CASES[name]:
        for source in (answer, checks[pick].source):
            cell = nb.cells[-1] = nbformat.v4.new_code_cell(source)
            client.execute_cell(cell, len(nb.cells) - 1)
        said = stdout_of(cell)
        if expected not in said:
            failures.append(f"{verdict} answer {answer!r}: expected {expected!r}, the check said {said!r}")
    assert not failures, "\n".join(failures)


def test_reference_solutions_pass_every_check(executed):
    """The run with the reference solutions in the answer cells: every check cell accepted its solution."""
    name, nb, checks, _ = executed  # (the fixture found a solution for every check cell)
    for index, verdict in checks.items():
        said = stdout_of(nb.cells[index])
        assert verdict in said, f"{name}: the solution before cell {index} got {said!r}"


# ------------------------------------------------------------------------------------------------------------------
# utils.exercises, which every check cell uses: any answer gets a verdict, nothing raises
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer,expected", [
    (3, 3.0), (0.5, 0.5), (np.float32(0.25), 0.25), (np.int64(7), 7.0), (torch.tensor(2.5), 2.5),
    (torch.tensor([4.0], requires_grad=True), 4.0), (fractions.Fraction(1, 4), 0.25), (np.array([1.5]), 1.5),
    (True, None), (None, None), ("0.5", None), (b"1", None), ([1.0], None), (torch.tensor([1.0, 2.0]), None),
    (torch.tensor(True), None), ({"a": 1}, None), (float("1e400"), float("inf")),
])
def test_number_takes_any_real_scalar_and_nothing_else(answer, expected):
    assert exercises.number(answer) == expected


@pytest.mark.parametrize("answer,problem", [
    (torch.tensor([0.1, 0.2, 0.7]), None),
    ([0.1, 0.2, 0.7], None),  # a list of floats
    (np.array([0.1, 0.2, 0.7], dtype=np.float32), None),
    (torch.tensor([0.1, 0.2, 0.7], dtype=torch.bfloat16), "differ"),  # bf16 rounds beyond the tolerance
    (torch.tensor([0.1, 0.2, 0.7], requires_grad=True) * 1, None),
    (torch.tensor([0.1, 0.7, 0.2]), "2 of its 3 values differ, e.g. at (1,): 0.7 where 0.2 was expected"),
    (torch.tensor([0.1, 0.2]), "its shape is (2,), not (3,)"),
    (torch.tensor([0.1, float("nan"), 0.7]), "nan"),
    (None, "it is None"),
    ("probabilities", "it is a str"),
    ({"p": 1}, "it is a dict"),
    ([0.1, "x", 0.7], "not a tensor of numbers"),
    (torch.tensor([True, False, True]), "torch.bool"),
    (object(), "not a tensor of numbers"),
])
def test_mismatch_says_what_differs(answer, problem):
    said = exercises.mismatch(answer, torch.tensor([0.1, 0.2, 0.7]), atol=1e-6, rtol=1e-5)
    assert (said is None) if problem is None else (problem in said), said


def test_mismatch_accepts_matching_infinities():
    expected = torch.tensor([float("-inf"), 1.0])
    assert exercises.mismatch(torch.tensor([float("-inf"), 1.0]), expected) is None
    assert "differ" in exercises.mismatch(torch.tensor([float("inf"), 1.0]), expected)


def test_close_and_describe():
    assert exercises.close(torch.tensor(2.0), 2.0000001)
    assert not exercises.close("2.0", 2.0) and not exercises.close(None, 0.0)
    assert exercises.describe(np.float64(0.5)) == "0.5" and exercises.describe("x" * 100).endswith("...")
    assert exercises.describe(torch.zeros(2, 3)) == "a tensor of shape (2, 3)"


def test_verdict_turns_any_exception_into_one_line(capsys):
    with exercises.verdict():
        raise ZeroDivisionError("division by zero")
    with exercises.verdict():
        undefined_name  # noqa: B018, F821
    with exercises.verdict():
        print("fine")
    said = capsys.readouterr().out.splitlines()
    assert said == ["Not quite: your code raised ZeroDivisionError: division by zero (fix it, run its cell, then "
                    "this one again)", "Not quite: name 'undefined_name' is not defined. Run your answer's cell "
                    "first (and the cells above it).", "fine"]
    with pytest.raises(KeyboardInterrupt), exercises.verdict():  # a student's Ctrl-C still stops the cell
        raise KeyboardInterrupt
