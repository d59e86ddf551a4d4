"""Notebook 1 (masked LM)'s exercises: every check cell accepts right answers, in more than one form, and turns down
plausible wrong ones (tests/exercise_kernel.py runs them)."""

import pytest
from exercise_kernel import RIGHT, WRONG, exercise_tests, solution

REBUILT = "the very thing this exercise rebuilds"  # what a check says to an answer that calls the library
NOTEBOOK = "01_masked_lm.ipynb"

VOCABULARY_ANSWER, VOCABULARY_CHECK = "a09ae7aa", "32d5c3dc"  # the [PAD] and [UNK] ids, the count of ## pieces
WORDPIECE_ANSWER, WORDPIECE_CHECK = "5e8f1a02", "5e8f1a03"  # a word split into vocabulary pieces, longest first
EMBEDDINGS_ANSWER, EMBEDDINGS_CHECK = "e1c00003", "e1c00004"  # token + position + segment rows, normalised
GUESS_ANSWER, GUESS_CHECK = "ee29f949", "9f7d499b"  # guess the word in the blank, then see its rank
SOFTMAX_ANSWER, SOFTMAX_CHECK = "c29", "c30"  # softmax by hand, stable at z + 1000
HEAD_ANSWER, HEAD_CHECK = "b5c2e7a3", "b5c2e7a4"  # the MLM head's scores from its weights, vs the model's logits
MLM_LOSS_ANSWER, MLM_LOSS_CHECK = "bdc278aa", "41160c14"  # the loss at the blank, -ln p(box)
MASS_ANSWER, MASS_CHECK = "c35", "c36"  # the top 5's probability, and the words above 0.1%
SAME_WORD_ANSWER, SAME_WORD_CHECK = "c24b1e00", "c25b1e00"  # will two blanks of one pass get the same first word?
IN_TURN_ANSWER, IN_TURN_CHECK = "6dfc6390", "b77d247f"  # fill two blanks in turn, one forward pass each
OWN_SENTENCE_ANSWER, OWN_SENTENCE_CHECK = "c32", "c33"  # a sentence of your own: is your word in the top 5?
BOTH_SIDES_ANSWER, BOTH_SIDES_CHECK = "74d0a7a3", "77ae7772"  # change only the words after the blank
TOY_ANSWER, TOY_CHECK = "d7a0c0b2", "d7a0c0b4"  # predict which token wins row 1 of attention at toy size
CAUSAL_ANSWER, CAUSAL_CHECK = "9b3a0a15", "2d5aff01"  # predict, then run both sentences under a causal mask
MASK_ANSWER, MASK_CHECK = "7c295ca8", "7c295ca9"  # the causal mask: (1, 1, n, n), 0 on and below the diagonal
MASKED_MAP_ANSWER, MASKED_MAP_CHECK = "7c295cab", "7c295cac"  # the whole map at once, the mask added to its scores
ROW_ANSWER, ROW_CHECK = "d7a0c003", "d7a0c004"  # the map's [MASK] row from the head's weights vs output_attentions
HEAD_OUTPUT_ANSWER, HEAD_OUTPUT_CHECK = "d7a0c006", "d7a0c007"  # that row times the values vs the layer's own
LAYER_ANSWER, LAYER_CHECK = "d7a0c00a", "d7a0c00b"  # every head, W_o, the residuals, the norms, the feed-forward
BERT_ANSWER, BERT_CHECK = "d7a0c00e", "d7a0c00f"  # the pieces chained: ids to the blank's scores, the model refused
CORRUPTION_ANSWER, CORRUPTION_CHECK = "0b7f3d91", "a6c2e8f0"  # 15% picked, 80/10/10, labels -100: vs the collator
BATCH_LOSS_ANSWER, BATCH_LOSS_CHECK = "2f9b6e3c", "c8d4a1e7"  # the batch's masked-LM loss vs the model's own
UNSEEN_ANSWER, UNSEEN_CHECK = "c8d4a1eb", "c8d4a1ec"  # will ten steps on one batch lower unseen sentences' loss?

EXERCISES = {  # name -> (answer cell, check cell), in notebook order
    "vocabulary": (VOCABULARY_ANSWER, VOCABULARY_CHECK),
    "wordpiece": (WORDPIECE_ANSWER, WORDPIECE_CHECK),
    "embeddings": (EMBEDDINGS_ANSWER, EMBEDDINGS_CHECK),
    "mlm head": (HEAD_ANSWER, HEAD_CHECK),
    "softmax": (SOFTMAX_ANSWER, SOFTMAX_CHECK),
    "guess": (GUESS_ANSWER, GUESS_CHECK),
    "loss at the blank": (MLM_LOSS_ANSWER, MLM_LOSS_CHECK),
    "top-5 mass": (MASS_ANSWER, MASS_CHECK),
    "same word": (SAME_WORD_ANSWER, SAME_WORD_CHECK),
    "in turn": (IN_TURN_ANSWER, IN_TURN_CHECK),
    "own sentence": (OWN_SENTENCE_ANSWER, OWN_SENTENCE_CHECK),
    "both sides": (BOTH_SIDES_ANSWER, BOTH_SIDES_CHECK),
    "toy attention": (TOY_ANSWER, TOY_CHECK),
    "attention row": (ROW_ANSWER, ROW_CHECK),
    "head output": (HEAD_OUTPUT_ANSWER, HEAD_OUTPUT_CHECK),
    "mask by hand": (MASK_ANSWER, MASK_CHECK),
    "masked map": (MASKED_MAP_ANSWER, MASKED_MAP_CHECK),
    "causal mask": (CAUSAL_ANSWER, CAUSAL_CHECK),
    "whole layer": (LAYER_ANSWER, LAYER_CHECK),
    "whole model": (BERT_ANSWER, BERT_CHECK),
    "corruption": (CORRUPTION_ANSWER, CORRUPTION_CHECK),
    "batch loss": (BATCH_LOSS_ANSWER, BATCH_LOSS_CHECK),
    "unseen": (UNSEEN_ANSWER, UNSEEN_CHECK),
}

# Wrong corruptions, each a small change to the reference (notebooks/solutions/01_masked_lm.py)
PICK_AND_LABEL = (
    "def my_mask_tokens(input_ids):\n"
    "    inputs, labels = input_ids.clone(), input_ids.clone()\n"
    "    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))\n"
    "    picked = (torch.rand(input_ids.shape) < {rate}){special}\n"
    "    labels[~picked] = -100\n"
    "    roll = torch.rand(input_ids.shape)\n")
CORRUPTION_WITHOUT_RANDOM = PICK_AND_LABEL.format(rate=0.15, special=" & ~special") + (
    "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
    "    return inputs, labels")
CORRUPTION_ALL_MASK = PICK_AND_LABEL.format(rate=0.15, special=" & ~special") + (
    "    inputs[picked] = tokenizer.mask_token_id\n"
    "    return inputs, labels")
CORRUPTION_OF_SPECIALS = PICK_AND_LABEL.format(rate=0.15, special="") + (
    "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
    "    return inputs, labels")
CORRUPTION_TOO_MANY = PICK_AND_LABEL.format(rate=0.3, special=" & ~special") + (
    "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
    "    shown_random = picked & (roll >= 0.8) & (roll < 0.9)\n"
    "    inputs[shown_random] = torch.randint(len(tokenizer), input_ids.shape)[shown_random]\n"
    "    return inputs, labels")
CORRUPTION_TOO_FEW = PICK_AND_LABEL.format(rate=0.12, special=" & ~special") + (  # 3 points off: more than chance
    "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
    "    shown_random = picked & (roll >= 0.8) & (roll < 0.9)\n"
    "    inputs[shown_random] = torch.randint(len(tokenizer), input_ids.shape)[shown_random]\n"
    "    return inputs, labels")
CORRUPTION_ONE_RANDOM_ID = PICK_AND_LABEL.format(rate=0.15, special=" & ~special") + (
    "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
    "    inputs[picked & (roll >= 0.8) & (roll < 0.9)] = tokenizer.unk_token_id\n"
    "    return inputs, labels")

CORRUPTION_FIRST_IDS = PICK_AND_LABEL.format(rate=0.15, special=" & ~special") + (  # random ids below 1,000 only
    "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
    "    shown = picked & (roll >= 0.8) & (roll < 0.9)\n"
    "    inputs[shown] = torch.randint(1000, (int(shown.sum()),))\n"
    "    return inputs, labels")

def _embeddings(sum_: str = "emb.token[input_ids] + emb.position[positions] + emb.segment[0]", normed: bool = True):
    """The reference ``my_embeddings`` with another sum, or without its LayerNorm."""
    end = ("    return torch.nn.functional.layer_norm(x, x.shape[-1:], emb.norm_weight, emb.norm_bias, emb.norm_eps)"
           if normed else "    return x")
    return ("def my_embeddings(input_ids, emb):\n"
            "    positions = torch.arange(emb.first_position, emb.first_position + len(input_ids))\n"
            f"    x = {sum_}\n" + end)


def _row(scores):
    """An attention row whose scores are ``scores``, from q (the query at position), k and v (every position's)."""
    return ("def my_attention_row(x, parts, position):\n"
            "    q = x[position] @ parts.W_q + parts.b_q\n"
            "    k = x @ parts.W_k + parts.b_k\n"
            "    v = x @ parts.W_v + parts.b_v\n"
            f"    return ({scores}).softmax(-1)")


def _layer(attention="x[position] + o @ p.W_o + p.b_o", ffn="a + p.activation(inner) @ p.W_out + p.b_out"):
    """The reference ``my_layer_output`` with the attention half's sum or the feed-forward half's changed (``ffn``
    None: it returns a, the attention half's output)."""
    end = ("    return a\n" if ffn is None else
           "    inner = a @ p.W_in + p.b_in\n"
           f"    return norm({ffn}, size, p.norm2_weight, p.norm2_bias, p.norm_eps)\n")
    return ("def my_layer_output(x, layer_parts, position):\n"
            "    p, norm, size = layer_parts, torch.nn.functional.layer_norm, x.shape[-1:]\n"
            "    o = torch.cat([my_head_output(x, head, position) for head in p.heads])\n"
            f"    a = norm({attention}, size, p.norm1_weight, p.norm1_bias, p.norm_eps)\n" + end)


def _masked_map(weights):
    """A ``my_masked_map`` returning ``weights``, from q and k (every position's) and scores = Q Kᵀ / √d."""
    return ("def my_masked_map(x, parts, mask):\n"
            "    q, k = x @ parts.W_q + parts.b_q, x @ parts.W_k + parts.b_k\n"
            "    scores = q @ k.T / parts.size ** 0.5\n"
            f"    return {weights}")


def _mask(body):
    return f"def my_causal_mask(n):\n    later = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)\n    {body}"


HEAD = ("def my_mlm_head(h, head):\n"  # the reference's steps, {var} and {bias} as the case says
        "    x = head.activation(h @ head.dense_weight.T + head.dense_bias)\n"
        "    x = (x - x.mean()) / torch.sqrt({var} + head.norm_eps) * head.norm_weight + head.norm_bias\n"
        "    return x @ head.decoder_weight.T{bias}")

LAYER_BY_N_MINUS_1 = ("def my_layer_output(x, layer_parts, position):\n"  # LayerNorm with x.var(), by n - 1
                      "    p = layer_parts\n"
                      "    def norm(v, weight, bias):\n"
                      "        return (v - v.mean()) / (v.var() + p.norm_eps).sqrt() * weight + bias\n"
                      "    o = torch.cat([my_head_output(x, head, position) for head in p.heads])\n"
                      "    a = norm(x[position] + o @ p.W_o + p.b_o, p.norm1_weight, p.norm1_bias)\n"
                      "    return norm(a + p.activation(a @ p.W_in + p.b_in) @ p.W_out + p.b_out, p.norm2_weight, "
                      "p.norm2_bias)")

CASES = [  # pytest.param(check cell, answer code, verdict, what the check prints), in notebook order
    # an answer that calls the library function the exercise rebuilds is refused, whichever name it goes by
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.softmax(z, -1)", WRONG, REBUILT,
                 id="softmax: torch.softmax itself"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return z.softmax(0)", WRONG, REBUILT,
                 id="softmax: the tensor method"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.exp(z - torch.logsumexp(z, 0))", WRONG, REBUILT,
                 id="softmax: logsumexp, which subtracts the largest score for you"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.special.softmax(z, 0)", WRONG, REBUILT,
                 id="softmax: torch.special's"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return z.log_softmax(0).exp()", WRONG, REBUILT,
                 id="softmax: a log-softmax, exponentiated"),
    # the library under a name of the notebook's own, bound before the check runs, is refused too
    pytest.param(SOFTMAX_CHECK, "from torch import softmax\n\n\ndef my_softmax(z):\n    return softmax(z, -1)",
                 WRONG, REBUILT, id="softmax: torch's, imported under its own name"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch._softmax(z, -1, False)", WRONG, REBUILT,
                 id="softmax: the kernel under it"),
    pytest.param(CORRUPTION_CHECK,
                 "def my_mask_tokens(input_ids):\n    return collator.torch_mask_tokens(input_ids.clone())",
                 WRONG, REBUILT, id="corruption: the collator's own masking"),
    pytest.param(CORRUPTION_CHECK, "masking = collator.torch_mask_tokens\n\n\n"
                 "def my_mask_tokens(input_ids):\n    return masking(input_ids.clone())",
                 WRONG, REBUILT, id="corruption: the collator's masking, kept in a variable"),
    pytest.param(BATCH_LOSS_CHECK, "from torch.nn.functional import cross_entropy as ce\n\n\n"
                 "def my_mlm_loss(logits, labels):\n    return ce(logits.transpose(1, 2), labels)", WRONG, REBUILT,
                 id="batch loss: cross_entropy under another name"),
    pytest.param(CORRUPTION_CHECK,
                 "def my_mask_tokens(input_ids):\n"
                 "    inputs, labels = collator.numpy_mask_tokens(input_ids.numpy().copy())\n"
                 "    return torch.from_numpy(inputs), torch.from_numpy(labels)",
                 WRONG, REBUILT, id="corruption: the collator's numpy masking"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels)", WRONG, REBUILT,
                 id="batch loss: cross_entropy itself"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    log_p = logits.flatten(0, 1) - logits.flatten(0, 1).logsumexp(-1, keepdim=True)\n"
                 "    return torch.nn.functional.nll_loss(log_p, labels.flatten())", WRONG, REBUILT,
                 id="batch loss: nll_loss"),
    pytest.param(VOCABULARY_CHECK,
                 "my_pad_id, my_unk_id = tokenizer.pad_token_id, tokenizer.unk_token_id\n"
                 "my_continuations = sum(t.startswith('##') for t in tokenizer.get_vocab())",
                 RIGHT, "Correct:", id="vocabulary: the tokenizer's attributes"),
    pytest.param(VOCABULARY_CHECK,
                 "import numpy as np\n"
                 "my_pad_id, my_unk_id = np.int64(0), torch.tensor(100)\n"
                 "pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))\n"
                 "my_continuations = len([t for t in pieces if t[:2] == '##'])", RIGHT,
                 "Correct:", id="vocabulary: numpy and torch numbers"),
    pytest.param(VOCABULARY_CHECK, "my_pad_id, my_unk_id, my_continuations = 0, 100, len(tokenizer)", WRONG,
                 "Not quite: the count of ## pieces", id="vocabulary: every entry counted"),
    pytest.param(VOCABULARY_CHECK, "my_pad_id, my_unk_id, my_continuations = '[PAD]', '[UNK]', 'many'", WRONG,
                 "Not quite: the [PAD] id, the [UNK] id, the count", id="vocabulary: str"),
    pytest.param(VOCABULARY_CHECK, "my_pad_id, my_unk_id, my_continuations = True, 100, 5828", WRONG,
                 "Not quite: the [PAD] id", id="vocabulary: True for an id"),
    pytest.param(VOCABULARY_CHECK, "my_pad_id, my_unk_id, my_continuations = 0, 100, None", WRONG,
                 "Not answered yet.", id="vocabulary: the count missing"),
    pytest.param(EMBEDDINGS_CHECK, solution(NOTEBOOK, EMBEDDINGS_ANSWER), RIGHT,
                 "Correct: your vectors equal hidden_states[0]", id="embeddings: the reference solution"),
    pytest.param(EMBEDDINGS_CHECK, "def my_embeddings(input_ids, emb):\n"  # a loop, LayerNorm by hand, a list
                 "    rows = []\n"
                 "    for i, t in enumerate(input_ids.tolist()):\n"
                 "        v = emb.token[t] + emb.position[emb.first_position + i] + emb.segment[0]\n"
                 "        v = v - v.mean()\n"
                 "        rows.append((v / (v.pow(2).mean() + emb.norm_eps).sqrt() * emb.norm_weight + emb.norm_bias)"
                 ".tolist())\n"
                 "    return rows", RIGHT, "Correct: your vectors equal", id="embeddings: a loop, as lists"),
    pytest.param(EMBEDDINGS_CHECK, _embeddings("emb.token[input_ids] + emb.segment[0]"), WRONG,
                 "the position vectors are missing", id="embeddings: no positions"),
    pytest.param(EMBEDDINGS_CHECK, _embeddings("emb.token[input_ids] + emb.position[positions]"), WRONG,
                 "the segment vector is missing", id="embeddings: no segment"),
    pytest.param(EMBEDDINGS_CHECK, _embeddings(normed=False), WRONG, "the sum was not normalised",
                 id="embeddings: no LayerNorm"),
    pytest.param(EMBEDDINGS_CHECK, _embeddings("emb.token[input_ids] + emb.position[positions + 1] + emb.segment[0]"),
                 WRONG, "the positions are one off", id="embeddings: positions one off"),
    pytest.param(EMBEDDINGS_CHECK, "def my_embeddings(input_ids, emb):\n"
                 "    x = emb.token[input_ids] + emb.position[:len(input_ids)] + emb.segment[0]\n"
                 "    x = x - x.mean(-1, keepdim=True)\n"
                 "    return x / (x.var(-1, keepdim=True) + emb.norm_eps).sqrt() * emb.norm_weight + emb.norm_bias",
                 WRONG, "x.var() divides by n - 1", id="embeddings: x.var() in LayerNorm"),
    pytest.param(EMBEDDINGS_CHECK, "def my_embeddings(input_ids, emb):\n"
                 "    return model.base_model.embeddings(input_ids=input_ids[None])[0]", WRONG, REBUILT,
                 id="embeddings: the model's own embeddings"),
    pytest.param(EMBEDDINGS_CHECK, _embeddings() + "[None]", WRONG, "a tensor of shape",
                 id="embeddings: (1, n, hidden)"),
    pytest.param(EMBEDDINGS_CHECK, "def my_embeddings(input_ids, emb):\n    return 'token + position'", WRONG,
                 "one vector per token", id="embeddings: a str"),
    pytest.param(EMBEDDINGS_CHECK, "def my_embeddings(input_ids, emb):\n    return None", WRONG, "Not answered yet",
                 id="embeddings: the empty answer cell"),
    pytest.param(GUESS_CHECK, 'my_guess = "box"', RIGHT, "Your guess 'box': rank", id="guess: box"),
    pytest.param(GUESS_CHECK, 'my_guess = " Part "', RIGHT, "Your guess 'Part': rank",
                 id="guess: capitalised, in spaces"),
    pytest.param(GUESS_CHECK, 'my_guess = "chocolates"', WRONG, "is 2 pieces here", id="guess: two pieces"),
    pytest.param(GUESS_CHECK, "my_guess = 3", WRONG, "3 is not a word: write your prediction as one word in quotes",
                 id="guess: a number"),
    pytest.param(GUESS_CHECK, "my_guess = ['box']", WRONG, "['box'] is not a word", id="guess: a list"),
    pytest.param(GUESS_CHECK, "my_guess = None", WRONG, "Write your prediction first (in my_guess, above the top 5)",
                 id="guess: none"),
    pytest.param(GUESS_CHECK, 'my_guess = "  "', WRONG, "Write your prediction first", id="guess: blank"),
    pytest.param(GUESS_CHECK, 'my_guess = "jar"', RIGHT, "The original tutorial's bert-base-uncased: box 0.176",
                 id="guess: the original's figures, after a guess"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    z -= z.max()\n    return z.exp() / z.exp().sum()", WRONG,
                 "it changed the scores it was given", id="softmax: shifts its input in place"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    e = (z - z.max()).exp()\n    return e / e.sum()", RIGHT,
                 "Correct:", id="softmax: shifted by the largest score"),
    pytest.param(SOFTMAX_CHECK, "import math\ndef my_softmax(z):\n    top = max(z.tolist())\n"
                 "    e = [math.exp(v - top) for v in z.tolist()]\n    return torch.tensor([v / sum(e) for v in e])",
                 RIGHT, "Correct:", id="softmax: in plain Python, shifted by the largest score"),
    pytest.param(SOFTMAX_CHECK,
                 "import math\n"
                 "def my_softmax(z):\n"
                 "    top = max(z.tolist())\n"
                 "    e = [math.exp(v - top) for v in z.tolist()]\n"
                 "    return [v / sum(e) for v in e]", RIGHT, "Correct:",
                 id="softmax: a list of floats"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.exp(z) / torch.exp(z).sum()", WRONG,
                 "Not quite: right on z, but on z + 1000 it holds nan", id="softmax: no shift, overflows"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    e = (z - z.min()).exp()\n    return e / e.sum()", WRONG,
                 "but on [0, 0, 500] it holds nan", id="softmax: shifted by the smallest score"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    e = (z - z.mean()).exp()\n    return e / e.sum()", WRONG,
                 "Subtract the largest score", id="softmax: shifted by the mean score"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    e = (z - z[0]).exp()\n    return e / e.sum()", WRONG,
                 "but on [0, 0, 500]", id="softmax: shifted by the first score"),
    pytest.param(SOFTMAX_CHECK,
                 "import math\n"
                 "def my_softmax(z):\n"
                 "    e = [math.exp(v) for v in z.tolist()]\n"
                 "    return [v / sum(e) for v in e]", WRONG, "it raised OverflowError",
                 id="softmax: math.exp, no shift"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.exp(z)", WRONG, "Not quite: 30,522 of its",
                 id="softmax: not normalised"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return z / z.sum()", WRONG, "Not quite",
                 id="softmax: scores over their sum"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.exp(z).sum()", WRONG,
                 "Not quite: its shape is ()", id="softmax: one number"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return 'probabilities'", WRONG, "Not quite: it is a str",
                 id="softmax: a str"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return z.exp() / z.sum(dim=5)", WRONG,
                 "your code raised IndexError", id="softmax: raises"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return (z - z.max()).exp().half() / (z - z.max()).exp().sum()",
                 WRONG, "which keeps only 2 to 3 significant digits", id="softmax: in float16"),
    pytest.param(SOFTMAX_CHECK, "my_softmax = 3", WRONG, "your code raised TypeError", id="softmax: not callable"),
    pytest.param(SOFTMAX_CHECK, "del my_softmax", WRONG, "Run your answer's cell first", id="softmax: undefined"),
    pytest.param(HEAD_CHECK, HEAD.format(var="x.var(unbiased=False)", bias=" + head.decoder_bias"), RIGHT,
                 "Correct: your 30,522 scores are the model's logits", id="mlm head: written out"),
    pytest.param(HEAD_CHECK,
                 "def my_mlm_head(h, head):\n"
                 "    x = torch.nn.functional.gelu(torch.matmul(head.dense_weight, h) + head.dense_bias)\n"
                 "    c = x - x.mean()\n"
                 "    x = c / (c.pow(2).mean() + head.norm_eps).sqrt() * head.norm_weight + head.norm_bias\n"
                 "    return (head.decoder_weight @ x + head.decoder_bias).numpy()", RIGHT,
                 "its last matrix is the embeddings' token matrix itself", id="mlm head: matrix first, numpy"),
    pytest.param(HEAD_CHECK,
                 "def my_mlm_head(h, head):\n"
                 "    x = head.activation(h @ head.dense_weight.T + head.dense_bias)\n"
                 "    x = torch.nn.functional.layer_norm(x, x.shape, head.norm_weight, head.norm_bias, head.norm_eps)\n"
                 "    return x @ head.decoder_weight.T + head.decoder_bias", WRONG, REBUILT,
                 id="mlm head: the library's layer_norm"),
    pytest.param(HEAD_CHECK, HEAD.format(var="x.var()", bias=" + head.decoder_bias"), WRONG,
                 "the variance divides by n - 1 (torch.var's default)", id="mlm head: torch.var's n - 1"),
    pytest.param(HEAD_CHECK, HEAD.format(var="x.var(unbiased=False)", bias=" + head.decoder_bias").replace(
                 "head.dense_weight.T", "head.dense_weight"), WRONG, "h @ dense_weight, without .T",
                 id="mlm head: the square dense weight untransposed"),
    pytest.param(HEAD_CHECK, HEAD.format(var="x.var(unbiased=False)", bias=""), WRONG,
                 "the last layer's bias (decoder_bias) is missing", id="mlm head: no output bias"),
    pytest.param(HEAD_CHECK,
                 "def my_mlm_head(h, head):\n"
                 "    x = head.activation(h @ head.dense_weight.T + head.dense_bias)\n"
                 "    return head.decoder_weight @ x + head.decoder_bias",
                 WRONG, "LayerNorm is missing", id="mlm head: no norm"),
    pytest.param(HEAD_CHECK, "def my_mlm_head(h, head):\n    return model.cls(h)", WRONG,
                 "runs the model's own layers, the very thing this exercise rebuilds", id="mlm head: the model's head"),
    pytest.param(HEAD_CHECK, "def my_mlm_head(h, head):\n    return logits[0, mask_index]", WRONG,
                 "right at the blank, but at position", id="mlm head: the model's logits, whatever h"),
    pytest.param(HEAD_CHECK, "def my_mlm_head(h, head):\n    return h @ head.dense_weight", WRONG,
                 "its shape is (", id="mlm head: stops after the dense layer"),
    pytest.param(HEAD_CHECK, "def my_mlm_head(h, head):\n    return None", WRONG, "Not answered yet.",
                 id="mlm head: the empty answer cell"),
    pytest.param(HEAD_CHECK, "def my_mlm_head(h, head):\n    return h @ head.decoder_weight", WRONG,
                 "your code raised RuntimeError", id="mlm head: raises"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = -torch.log(probabilities[box_id])", RIGHT, "Correct:",
                 id="loss at the blank: torch.log"),
    pytest.param(MLM_LOSS_CHECK, "import math; my_loss = -math.log(probabilities[box_id].item())", RIGHT,
                 "Correct:", id="loss at the blank: math.log of a float"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = -torch.log(probabilities[box_id].half())", WRONG,
                 "Nearly: the formula is right, but your answer is in float16", id="loss at the blank: in float16"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = torch.log(probabilities[box_id])", WRONG, "mind the sign",
                 id="loss at the blank: not negated"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = probabilities[box_id]", WRONG, "Not quite",
                 id="loss at the blank: the probability"),
    pytest.param(MLM_LOSS_CHECK, "import math; my_loss = -math.log10(probabilities[box_id].item())", WRONG,
                 "natural log", id="loss at the blank: log10"),
    pytest.param(MLM_LOSS_CHECK, 'my_loss = "nine"', WRONG, "is not one number", id="loss at the blank: a str"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = -torch.log(probabilities)", WRONG, "is not one number",
                 id="loss at the blank: every word's"),
    pytest.param(MASS_CHECK,
                 "my_top5_mass = top.values.sum().item()\n"
                 "my_count_above = int((probabilities > 0.001).sum())", RIGHT, "Correct:",
                 id="top-5 mass: computed"),
    pytest.param(MASS_CHECK,
                 "my_top5_mass = sum(round(v, 3) for v in top.values.tolist())\n"
                 "my_count_above = int((probabilities > 0.001).sum())", RIGHT, "Correct:",
                 id="top-5 mass: the printed, rounded values added up"),
    pytest.param(MASS_CHECK, "my_top5_mass = 1.0; my_count_above = 10", WRONG, "Not quite",
                 id="top-5 mass: wrong numbers"),
    pytest.param(MASS_CHECK, 'my_top5_mass = "0.15"; my_count_above = [3]', WRONG, "Not quite",
                 id="top-5 mass: a str and a list"),
    pytest.param(MASS_CHECK, "my_top5_mass = [0.5]; my_count_above = 3", WRONG, "the top 5 sum is not [0.5]",
                 id="top-5 mass: a list"),
    pytest.param(MASS_CHECK, "my_top5_mass = {'mass': 0.5}; my_count_above = 3", WRONG,
                 "the top 5 sum is not {'mass': 0.5}", id="top-5 mass: a dict"),
    pytest.param(MASS_CHECK, "my_top5_mass = float('nan')\nmy_count_above = int((probabilities > 0.001).sum())",
                 WRONG, "the top 5 sum is not nan", id="top-5 mass: nan"),
    pytest.param(WORDPIECE_CHECK, solution(NOTEBOOK, WORDPIECE_ANSWER), RIGHT, "Correct: your split",
                 id="wordpiece: the reference solution"),
    pytest.param(WORDPIECE_CHECK,
                 "def my_wordpiece(word, vocab, first=True):\n"  # recursive, a tuple
                 "    if not word:\n"
                 "        return ()\n"
                 "    mark = '' if first else '##'\n"
                 "    end = next((e for e in range(len(word), 0, -1) if mark + word[:e] in vocab), 0)\n"
                 "    rest = my_wordpiece(word[end:], vocab, False) if end else None\n"
                 "    return ('[UNK]',) if not end or rest == ('[UNK]',) else (mark + word[:end],) + rest",
                 RIGHT, "Correct: your split", id="wordpiece: recursive, a tuple"),
    pytest.param(WORDPIECE_CHECK,
                 "def my_wordpiece(word, vocab):\n"
                 "    pieces, start = [], 0\n"
                 "    while start < len(word):\n"
                 "        end = next((e for e in range(start + 1, len(word) + 1)\n"
                 "                    if ('##' if start else '') + word[start:e] in vocab), None)\n"
                 "        if end is None:\n"
                 "            return ['[UNK]']\n"
                 "        pieces.append(('##' if start else '') + word[start:end])\n"
                 "        start = end\n"
                 "    return pieces", WRONG, "You took the shortest piece", id="wordpiece: the shortest piece first"),
    pytest.param(WORDPIECE_CHECK,
                 "def my_wordpiece(word, vocab):\n"
                 "    pieces, start = [], 0\n"
                 "    while start < len(word):\n"
                 "        end = next((e for e in range(len(word), start, -1) if word[start:e] in vocab), None)\n"
                 "        if end is None:\n"
                 "            return ['[UNK]']\n"
                 "        pieces.append(word[start:end])\n"
                 "        start = end\n"
                 "    return pieces", WRONG, "with ## in front", id="wordpiece: no ## on continuing pieces"),
    pytest.param(WORDPIECE_CHECK,
                 "def my_wordpiece(word, vocab):\n"  # a character no entry holds kept as a piece of its own
                 "    pieces, start = [], 0\n"
                 "    while start < len(word):\n"
                 "        mark = '##' if start else ''\n"
                 "        fits = [e for e in range(len(word), start, -1) if mark + word[start:e] in vocab]\n"
                 "        end = fits[0] if fits else start + 1\n"
                 "        pieces.append(mark + word[start:end])\n"
                 "        start = end\n"
                 "    return pieces", WRONG, "the whole word is [UNK]", id="wordpiece: an unknown character kept"),
    # every way the tokenizer splits a word is refused while the answer runs, its Rust backend included
    *[pytest.param(WORDPIECE_CHECK, f"def my_wordpiece(word, vocab):\n    return {split}", WRONG, REBUILT,
                   id=f"wordpiece: {what}") for split, what in [
        ("tokenizer.tokenize(word)", "the tokenizer itself"),
        ("tokenizer.convert_ids_to_tokens(tokenizer._encode_plus(word, add_special_tokens=False)['input_ids'])",
         "the tokenizer's encoding method"),
        ("tokenizer.backend_tokenizer.encode(word, add_special_tokens=False).tokens",
         "the Rust backend, through its property"),
        ("tokenizer._tokenizer.encode(word, add_special_tokens=False).tokens", "the Rust backend itself"),
        ("__import__('utils.fill_checks', fromlist=['_split'])._split(word, vocab)", "the check's own split")]],
    pytest.param(WORDPIECE_CHECK, "from utils.fill_checks import _split\n\n\ndef my_wordpiece(word, vocab):\n"
                 "    return _split(word, vocab)", WRONG, REBUILT, id="wordpiece: the check's own split, imported"),
    pytest.param(WORDPIECE_CHECK, "def my_wordpiece(word, vocab):\n    return word", WRONG,
                 "return the pieces as a list of str", id="wordpiece: a str"),
    pytest.param(WORDPIECE_CHECK, "def my_wordpiece(word, vocab):\n    return [vocab[word[:1]]]", WRONG,
                 "return the pieces as a list of str", id="wordpiece: ids, not pieces"),
    pytest.param(WORDPIECE_CHECK, "def my_wordpiece(word, vocab):\n    return None", WRONG, "Not answered yet",
                 id="wordpiece: not answered"),
    pytest.param(IN_TURN_CHECK, solution(NOTEBOOK, IN_TURN_ANSWER), RIGHT, "Correct: in turn",
                 id="in turn: the reference solution"),
    pytest.param(IN_TURN_CHECK,
                 "def my_fill_in_turn(text):\n"  # by hand: forward pass, argmax at the first mask
                 "    words = []\n"
                 "    for _ in range(text.count('[MASK]')):\n"
                 "        inputs = tokenizer(text, return_tensors='pt')\n"
                 "        at = int((inputs['input_ids'][0] == tokenizer.mask_token_id).nonzero()[0, 0])\n"
                 "        with torch.no_grad():\n"
                 "            word = tokenizer.decode([int(model(**inputs).logits[0, at].argmax())]).strip()\n"
                 "        text = text.replace('[MASK]', word, 1)\n"
                 "        words.append(word.upper())\n"
                 "    return tuple(words)", RIGHT, "Correct: in turn",
                 id="in turn: by hand, a tuple in upper case"),
    pytest.param(IN_TURN_CHECK,
                 "def my_fill_in_turn(text):\n"
                 "    return [fill_mask(model, tokenizer, text, top_k=1)[0][0][0]]", WRONG,
                 "Take each blank's top word", id="in turn: the first blank only"),
    pytest.param(IN_TURN_CHECK,
                 "def my_fill_in_turn(text):\n"  # one forward pass for both blanks: wrong even where its words agree
                 "    return [ranked[0][0] for ranked in fill_mask(model, tokenizer, text, top_k=1)]", WRONG,
                 "Not quite:", id="in turn: one pass for both blanks"),
    pytest.param(IN_TURN_CHECK,
                 "def my_fill_in_turn(text):\n"  # a pass per blank, but never a word put in: the second sees no first
                 "    return [fill_mask(model, tokenizer, text, top_k=1)[i][0][0] for i in range(2)]",
                 WRONG, "Not quite:", id="in turn: a pass per blank, the text never filled"),
    pytest.param(IN_TURN_CHECK, "def my_fill_in_turn(text):\n    return 'head head'", WRONG,
                 "return the words as a list of str", id="in turn: a str"),
    pytest.param(IN_TURN_CHECK, "def my_fill_in_turn(text):\n    return ['cat', 'mat']", WRONG,
                 "Take each blank's top word", id="in turn: other words"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_word = "Paris"', RIGHT, "in its top 5", id="own sentence: Paris"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_word = " paris "', RIGHT, "in its top 5",
                 id="own sentence: lower case, in spaces"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_word = "chocolates"', WRONG, "is 2 pieces here",
                 id="own sentence: two pieces"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = 7", WRONG, "7 is not a word: write your prediction as one word",
                 id="own sentence: a number"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_sentence = "No mask here."', WRONG, "The text has no [MASK] token",
                 id="own sentence: no blank"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = ['paris']", WRONG, "['paris'] is not a word",
                 id="own sentence: a list"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = None", WRONG, "Write your prediction first (in my_word",
                 id="own sentence: no word"),
    pytest.param(OWN_SENTENCE_CHECK, "my_sentence = None", WRONG, "Not answered yet.", id="own sentence: no sentence"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = 'paris' * 20000", WRONG,
                 "is not in this model's vocabulary (it reads as [UNK])", id="own sentence: a very long word"),
    pytest.param(OWN_SENTENCE_CHECK, "my_sentence = {'text': 'The capital of France is [MASK].'}", WRONG,
                 "The text must be text (a str in quotes), got dict", id="own sentence: a dict"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = f"Life is like a {tokenizer.mask_token} of wine."', RIGHT,
                 "Valid sentence: only words after the blank changed, and the blank's probabilities moved",
                 id="both sides: of wine"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = "life is like a [MASK] of cards"', RIGHT,
                 "Valid sentence: only words after the blank",
                 id="both sides: lower case, [MASK] written out"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = text.replace(".", "!")', RIGHT,
                 "the probabilities at the blank changed, by up to", id="both sides: only the full stop"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = f"Love is like a {tokenizer.mask_token} of chocolates."', WRONG,
                 "the words before the blank changed", id="both sides: the left side changed"),
    pytest.param(BOTH_SIDES_CHECK, "my_text = text", WRONG, "that is the original sentence",
                 id="both sides: the original"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = f"Life is like a {tokenizer.mask_token} of {tokenizer.mask_token}."',
                 WRONG, "keep exactly one", id="both sides: two blanks"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = "Life is like a box of chocolates."', WRONG,
                 "write a sentence (a str) with one", id="both sides: no blank"),
    pytest.param(BOTH_SIDES_CHECK, "my_text = 42", WRONG, "write a sentence (a str) with one [MASK]; got 42",
                 id="both sides: a number"),
    pytest.param(BOTH_SIDES_CHECK, "my_text = None", WRONG, "Not answered yet.", id="both sides: not answered"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = text.replace(".", "!")\nmy_blank_changes = None', WRONG,
                 "Predict first: set my_blank_changes", id="both sides: no prediction"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = text.replace(".", "!")\nmy_blank_changes = "maybe"', WRONG,
                 "predict True or False in my_blank_changes; got 'maybe'", id="both sides: not a bool"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = text.replace(".", "!")\nmy_blank_changes = True', RIGHT,
                 "You predicted True: the probabilities at the blank changed", id="both sides: predicted a change"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = text.replace(".", "!")\nmy_blank_changes = "no"', WRONG,
                 "not this time: every token attends to every other, so the words after the blank reach it",
                 id="both sides: predicted none"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = "Life is like a [MASK] " + "word " * 600', WRONG,
                 "this model reads at most", id="both sides: too long for the model"),
    pytest.param(TOY_CHECK, "my_toy_pick = 2", RIGHT, "Right: token 2 gets row 1's largest weight (token 1: q·k = 1",
                 id="toy attention: 2"),
    pytest.param(TOY_CHECK, "my_toy_pick = ' 2 '", RIGHT, "Right: token 2 gets row 1's largest weight",
                 id="toy attention: 2, written as text"),
    pytest.param(TOY_CHECK, "my_toy_pick = torch.tensor(2)", RIGHT, "Right: token 2", id="toy attention: a tensor"),
    pytest.param(TOY_CHECK, "my_toy_pick = 1", WRONG, "Not this time: token 2 gets row 1's largest weight",
                 id="toy attention: itself"),
    pytest.param(TOY_CHECK, "my_toy_pick = 'itself'", WRONG, "Answer a token's number, 1 to 3 (got 'itself')",
                 id="toy attention: a word"),
    pytest.param(TOY_CHECK, "my_toy_pick = 0", WRONG, "Answer a token's number, 1 to 3", id="toy attention: 0"),
    pytest.param(TOY_CHECK, "my_toy_pick = None", WRONG, "Not answered yet", id="toy attention: empty"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = False", RIGHT,
                 "Correct: with the causal mask the probabilities at the blank", id="causal mask: predicted no"),
    pytest.param(CAUSAL_CHECK, 'my_causal_changes = " No "', RIGHT, "Correct: with the causal mask",
                 id="causal mask: predicted no, in words"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = torch.tensor(False)", RIGHT, "Correct: with the causal mask",
                 id="causal mask: predicted no, as a bool tensor"),
    pytest.param(CAUSAL_CHECK, 'my_text = text.replace(".", "!")\nmy_causal_changes = "false"', RIGHT,
                 "Correct: with the causal mask", id="causal mask: only the full stop changed"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = True", WRONG,
                 "Not quite: with the causal mask the probabilities at the blank",
                 id="causal mask: predicted a change"),
    pytest.param(CAUSAL_CHECK, 'my_causal_changes = "yes"', WRONG, "Not quite: with the causal mask",
                 id="causal mask: predicted a change, in words"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = None", WRONG, "Not answered yet.",
                 id="causal mask: no prediction"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = 'maybe'", WRONG, "predict True or False; got 'maybe'",
                 id="causal mask: neither True nor False"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = 0", WRONG, "predict True or False; got 0",
                 id="causal mask: a number"),
    pytest.param(CAUSAL_CHECK, "my_causal_changes = [False]", WRONG, "predict True or False; got [False]",
                 id="causal mask: a list"),
    pytest.param(CAUSAL_CHECK, "my_text = None", WRONG, "First finish exercise 7", id="causal mask: no sentence"),
    pytest.param(CAUSAL_CHECK, 'my_text = f"Love is like a {tokenizer.mask_token} of wine."', WRONG,
                 "First finish exercise 7", id="causal mask: the left side changed"),
    pytest.param(CORRUPTION_CHECK,
                 "def my_mask_tokens(input_ids):\n"
                 "    inputs, labels = input_ids.clone(), input_ids.clone()\n"
                 "    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))\n"
                 "    generator = torch.Generator().manual_seed(0)  # the same draws on every run\n"
                 "    picked = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special\n"
                 "    roll = torch.rand(input_ids.shape, generator=generator)\n"
                 "    labels[~picked] = -100\n"
                 "    inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id\n"
                 "    swap = picked & (roll >= 0.8) & (roll < 0.9)\n"
                 "    inputs[swap] = torch.randint(len(tokenizer), (int(swap.sum()),), generator=generator)\n"
                 "    return inputs, labels", WRONG, "picked the same positions on a second run",
                 id="corruption: fixed draws, the same picks every run"),
    pytest.param(CORRUPTION_CHECK, solution(NOTEBOOK, CORRUPTION_ANSWER), RIGHT, "Correct: over",
                 id="corruption: the reference solution"),
    pytest.param(CORRUPTION_CHECK,
                 "import random\n"
                 "def my_mask_tokens(input_ids):\n"  # Python lists and the random module, one token at a time
                 "    inputs, labels = input_ids.tolist(), input_ids.tolist()\n"
                 "    for row, ids in enumerate(input_ids.tolist()):\n"
                 "        for at, token in enumerate(ids):\n"
                 "            if token in tokenizer.all_special_ids or random.random() >= 0.15:\n"
                 "                labels[row][at] = -100\n"
                 "            elif random.random() < 0.8:\n"
                 "                inputs[row][at] = tokenizer.mask_token_id\n"
                 "            elif random.random() < 0.5:\n"
                 "                inputs[row][at] = random.randrange(len(tokenizer))\n"
                 "    return inputs, labels", RIGHT, "Correct: over", id="corruption: loops over lists"),
    pytest.param(CORRUPTION_CHECK,
                 "def my_mask_tokens(input_ids):\n"  # exactly 15% picked, then exactly 80/10/10
                 "    inputs, labels = input_ids.clone(), torch.full_like(input_ids, -100)\n"
                 "    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))\n"
                 "    where = (~special).nonzero()\n"
                 "    where = where[torch.randperm(len(where))[:round(0.15 * len(where))]]\n"
                 "    rows, cols = where[:, 0], where[:, 1]\n"
                 "    labels[rows, cols] = input_ids[rows, cols]\n"
                 "    n = len(rows)\n"
                 "    inputs[rows[:int(0.8 * n)], cols[:int(0.8 * n)]] = tokenizer.mask_token_id\n"
                 "    r, c = rows[int(0.8 * n):int(0.9 * n)], cols[int(0.8 * n):int(0.9 * n)]\n"
                 "    inputs[r, c] = torch.randint(len(tokenizer), (len(r),))\n"
                 "    return inputs, labels", RIGHT, "Correct: over", id="corruption: exact counts, randperm"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_WITHOUT_RANDOM, WRONG,
                 "no picked token became a random one: 10% of them should", id="corruption: forgot the random tenth"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_ALL_MASK, WRONG, "every picked token became [MASK]",
                 id="corruption: always [MASK]"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_OF_SPECIALS, WRONG,
                 "special tokens: the tokenizer's [UNK], [SEP], [PAD], [CLS], [MASK] (tokenizer.all_special_ids)",
                 id="corruption: picked special tokens"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_TOO_MANY, WRONG,
                 "pick each non-special token with probability 0.15", id="corruption: 30% picked"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_TOO_FEW, WRONG, "points by chance): pick each non-special token with "
                 "probability 0.15", id="corruption: 12% picked"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_ONE_RANDOM_ID, WRONG, "different id(s): draw each from the whole",
                 id="corruption: [UNK] for the random tenth"),
    pytest.param(CORRUPTION_CHECK, CORRUPTION_FIRST_IDS, WRONG, "random tokens' ids stop at",
                 id="corruption: random ids from the first 1,000 only"),
    pytest.param(CORRUPTION_CHECK,
                 "_inputs = my_mask_tokens\ndef my_mask_tokens(input_ids):\n"
                 "    return _inputs(input_ids)[0], input_ids.clone()", WRONG,
                 "labels must be -100 wherever a token was not picked", id="corruption: labels not -100"),
    pytest.param(CORRUPTION_CHECK,
                 "_reference = my_mask_tokens\ndef my_mask_tokens(input_ids):\n"
                 "    inputs, labels = _reference(input_ids)\n"
                 "    return inputs, torch.where(labels == -100, labels, inputs)", WRONG,
                 "the label is not the original token's id", id="corruption: labels are the corrupted tokens"),
    pytest.param(CORRUPTION_CHECK,
                 "_reference = my_mask_tokens\ndef my_mask_tokens(input_ids):\n"
                 "    inputs, labels = _reference(input_ids)\n"
                 "    return labels, inputs", WRONG, "return (inputs, labels), in that order",
                 id="corruption: swapped"),
    pytest.param(CORRUPTION_CHECK,
                 "def my_mask_tokens(input_ids):\n"
                 "    labels = input_ids.clone()\n"
                 "    picked = torch.rand(input_ids.shape) < 0.15\n"
                 "    labels[~picked] = -100\n"
                 "    input_ids[picked] = tokenizer.mask_token_id\n"
                 "    return input_ids, labels", WRONG, "changed the input_ids it was given",
                 id="corruption: changed input_ids in place"),
    pytest.param(CORRUPTION_CHECK,
                 "_reference = my_mask_tokens\ndef my_mask_tokens(input_ids):\n"
                 "    inputs, labels = _reference(input_ids)\n"
                 "    return inputs.float(), labels", WRONG, "inputs holds torch.float32 values",
                 id="corruption: float ids"),
    pytest.param(CORRUPTION_CHECK,
                 "def my_mask_tokens(input_ids):\n    return None", WRONG, "Not answered yet.",
                 id="corruption: the empty answer cell"),
    pytest.param(CORRUPTION_CHECK, "def my_mask_tokens(input_ids):\n    return '[MASK]'", WRONG,
                 "return two tensors, (inputs, labels); got '[MASK]'", id="corruption: a str"),
    pytest.param(CORRUPTION_CHECK, "def my_mask_tokens(input_ids):\n    return [[103, 2003], [-100, 2003]]", WRONG,
                 "inputs has the shape (2,), not that of the input_ids it was given", id="corruption: a list"),
    pytest.param(CORRUPTION_CHECK, "def my_mask_tokens(input_ids):\n    return input_ids.clone()[5, 0, 0]", WRONG,
                 "your code raised IndexError", id="corruption: raises"),
    pytest.param(CORRUPTION_CHECK, "my_mask_tokens = 'mask 15%'", WRONG, "your code raised TypeError",
                 id="corruption: not a function"),
    pytest.param(BATCH_LOSS_CHECK, solution(NOTEBOOK, BATCH_LOSS_ANSWER), RIGHT, "Correct:",
                 id="batch loss: the reference solution"),
    pytest.param(MASK_CHECK, _mask("return torch.zeros(n, n).masked_fill(later, float('-inf'))[None, None]"),
                 RIGHT, "Correct: your mask equals", id="mask by hand: -inf, then two new dimensions"),
    pytest.param(MASK_CHECK, "def my_causal_mask(n):\n"
                 "    keep = torch.tril(torch.ones(1, 1, n, n)) == 1\n"
                 "    return torch.where(keep, 0.0, torch.finfo(torch.float32).min)", RIGHT, "Correct: your mask",
                 id="mask by hand: tril and where"),
    pytest.param(MASK_CHECK, _mask("return torch.zeros(n, n).masked_fill(later, torch.finfo(model.dtype).min)"), WRONG,
                 "add two leading dimensions of 1", id="mask by hand: (n, n)"),
    pytest.param(MASK_CHECK, _mask("return later[None, None]"), WRONG, "its dtype is torch.bool",
                 id="mask by hand: the bool mask"),
    pytest.param(MASK_CHECK, _mask("return torch.zeros(1, 1, n, n).masked_fill(later.T, -1e9)"), WRONG,
                 "the mask the wrong way round", id="mask by hand: hides the past"),
    pytest.param(MASK_CHECK, "def my_causal_mask(n):\n"
                 "    hide = torch.ones(n, n, dtype=torch.bool).triu()\n"
                 "    return torch.zeros(1, 1, n, n).masked_fill(hide, torch.finfo(torch.float32).min)", WRONG,
                 "it hides each token from itself", id="mask by hand: the diagonal hidden"),
    pytest.param(MASK_CHECK, _mask("return torch.zeros(1, 1, n, n).masked_fill(later, -1.0)"), WRONG,
                 "which leaves it weight after the softmax", id="mask by hand: -1 is not enough"),
    pytest.param(MASK_CHECK, _mask("return torch.ones(1, 1, n, n).masked_fill(later, -1e30)"), WRONG,
                 "where a token may look the mask must add 0", id="mask by hand: ones where visible"),
    pytest.param(MASK_CHECK, _mask("return torch.zeros(1, 1, n, n, dtype=torch.float64).masked_fill(later, -1e300)"),
                 WRONG, "build it with dtype=model.dtype", id="mask by hand: float64"),
    pytest.param(MASK_CHECK, "from utils.fill_mask import causal_mask\n\n\n"
                 "def my_causal_mask(n):\n    return causal_mask(n, model.dtype)", WRONG, REBUILT,
                 id="mask by hand: utils' own mask"),
    pytest.param(MASK_CHECK, "def my_causal_mask(n):\n    return 'triu'", WRONG, "return a tensor",
                 id="mask by hand: a str"),
    pytest.param(MASK_CHECK, "def my_causal_mask(n):\n    return None", WRONG, "Not answered yet",
                 id="mask by hand: the empty answer cell"),
    pytest.param(MASKED_MAP_CHECK, solution(NOTEBOOK, MASKED_MAP_ANSWER), RIGHT,
                 "Correct: your map equals the model's", id="masked map: the reference solution"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("torch.softmax(scores + mask.squeeze(), dim=-1)"), RIGHT,
                 "Correct: your map equals the model's", id="masked map: the mask squeezed"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("scores.masked_fill(mask[0, 0] < 0, float('-inf')).softmax(-1)"),
                 RIGHT, "Correct: your map", id="masked map: -inf where the mask is negative"),
    pytest.param(MASKED_MAP_CHECK, "def my_masked_map(x, parts, mask):\n"
                 "    q, k = x @ parts.W_q + parts.b_q, x @ parts.W_k + parts.b_k\n"
                 "    return torch.stack([(k @ q[i] / parts.size ** 0.5 + mask[0, 0, i]).softmax(-1)"
                 " for i in range(len(x))])", RIGHT, "Correct: your map", id="masked map: row by row, stacked"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("scores.softmax(-1)"), WRONG, "it is the map without the mask",
                 id="masked map: the mask left out"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("scores.softmax(-1) + mask[0, 0]"), WRONG,
                 "the mask was added after the softmax", id="masked map: the mask added after the softmax"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("(scores + mask[0, 0].T).softmax(-1)"), WRONG,
                 "the mask is transposed", id="masked map: the mask transposed"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("(scores.T + mask[0, 0]).softmax(-1)"), WRONG,
                 "queries and keys were swapped", id="masked map: K Qᵀ"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("(scores * parts.size ** 0.5 + mask[0, 0]).softmax(-1)"), WRONG,
                 "the scores were not divided by √d", id="masked map: no √d"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("(scores + mask[0, 0]).softmax(0)"), WRONG,
                 "every row differs", id="masked map: the softmax over columns"),
    pytest.param(MASKED_MAP_CHECK, _masked_map("(scores + mask).softmax(-1)"), WRONG,
                 "one row of weights per position of x, a tensor of shape", id="masked map: the whole 4-D mask"),
    pytest.param(MASKED_MAP_CHECK, "def my_masked_map(x, parts, mask):\n    return None", WRONG,
                 "Not answered yet", id="masked map: the empty answer cell"),
    pytest.param(MASKED_MAP_CHECK, "def my_masked_map(x, parts, mask):\n    return 'softmax'", WRONG,
                 "got 'softmax'", id="masked map: a str"),
    pytest.param(MASKED_MAP_CHECK, "def my_masked_map(x, parts):\n    return x", WRONG,
                 "your code raised TypeError", id="masked map: no mask argument"),
    pytest.param(ROW_CHECK, solution(NOTEBOOK, ROW_ANSWER), RIGHT, "Correct: your row equals the model's",
                 id="attention row: the reference solution"),
    pytest.param(ROW_CHECK, "import math\n"
                 "def my_attention_row(x, parts, position):\n"
                 "    q, k = x @ parts.W_q + parts.b_q, x @ parts.W_k + parts.b_k\n"
                 "    return torch.softmax(q @ k.T / math.sqrt(parts.size), dim=-1)[position]", RIGHT,
                 "Correct: your row equals", id="attention row: the whole map, then its row"),
    pytest.param(ROW_CHECK, "import math\n"
                 "def my_attention_row(x, parts, position):\n"
                 "    q = x[position] @ parts.W_q + parts.b_q\n"
                 "    scores = [float(q @ (row @ parts.W_k + parts.b_k)) / math.sqrt(parts.size) for row in x]\n"
                 "    e = [math.exp(s - max(scores)) for s in scores]\n"
                 "    return [w / sum(e) for w in e]", RIGHT, "Correct: your row equals",
                 id="attention row: a loop and a list of floats"),
    pytest.param(ROW_CHECK, _row("k @ q"), WRONG, "the scores were not divided by √d", id="attention row: unscaled"),
    pytest.param(ROW_CHECK, _row("k @ q / parts.size"), WRONG, "divided by d, not by √d",
                 id="attention row: divided by d"),
    pytest.param(ROW_CHECK, _row("(x @ parts.W_k) @ (x[position] @ parts.W_q) / parts.size ** 0.5"), WRONG,
                 "the biases were left out", id="attention row: no biases"),
    pytest.param(ROW_CHECK, _row("(x @ parts.W_q + parts.b_q) @ k[position] / parts.size ** 0.5"),
                 WRONG, "queries and keys were swapped", id="attention row: queries against the blank's key"),
    pytest.param(ROW_CHECK, _row("v @ q / parts.size ** 0.5"), WRONG, "the values stood in for the keys",
                 id="attention row: values for keys"),
    pytest.param(ROW_CHECK, _row("k @ (x[position - 1] @ parts.W_q + parts.b_q) / parts.size ** 0.5"), WRONG,
                 "that is position 4's row", id="attention row: the position before the blank"),
    pytest.param(ROW_CHECK, "def my_attention_row(x, parts, position):\n"
                 "    q, k = x[position] @ parts.W_q + parts.b_q, x @ parts.W_k + parts.b_k\n"
                 "    return k @ q / parts.size ** 0.5", WRONG, "does not add up to 1", id="attention row: the scores"),
    pytest.param(ROW_CHECK, "def my_attention_row(x, parts, position):\n"
                 "    return outputs.attentions[layer][0, head, mask_index]", WRONG,
                 "compute it from x, not from the map's outputs", id="attention row: the map's own row"),
    pytest.param(ROW_CHECK, _row("k @ q / parts.size ** 0.5") + "[None]", WRONG, "a tensor of shape",
                 id="attention row: (1, n)"),
    pytest.param(ROW_CHECK, "def my_attention_row(x, parts, position):\n    return 'softmax'", WRONG,
                 "return one weight per position of x, a tensor of shape", id="attention row: a str"),
    pytest.param(ROW_CHECK, "def my_attention_row(x, parts, position):\n    return x @ parts.W_q @ parts.W_k",
                 WRONG, "your code raised RuntimeError", id="attention row: raises"),
    pytest.param(ROW_CHECK, "def my_attention_row(x, parts, position):\n"
                 "    return parts.attention(x[None], output_attentions=True)[1][0, 0, position]", WRONG, REBUILT,
                 id="attention row: the layer's own attention module"),
    pytest.param(ROW_CHECK, "def my_attention_row(x, parts, position):\n    return None", WRONG, "Not answered yet",
                 id="attention row: the empty answer cell"),
    pytest.param(HEAD_OUTPUT_CHECK, solution(NOTEBOOK, HEAD_OUTPUT_ANSWER), RIGHT, "Correct: your output equals",
                 id="head output: the reference solution"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    w, v = my_attention_row(x, parts, position), x @ parts.W_v + parts.b_v\n"
                 "    return (w[:, None] * v).sum(0)", RIGHT, "Correct: your output equals",
                 id="head output: weighted rows, summed"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    w, v = my_attention_row(x, parts, position), x @ parts.W_v + parts.b_v\n"
                 "    return [float(sum(w[j] * v[j, i] for j in range(len(x)))) for i in range(parts.size)]", RIGHT,
                 "Correct: your output equals", id="head output: a loop and a list of floats"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    return my_attention_row(x, parts, position) @ (x @ parts.W_k + parts.b_k)", WRONG,
                 "the keys stood in for the values", id="head output: keys for values"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    return my_attention_row(x, parts, position) @ (x @ parts.W_v)", WRONG,
                 "the values' bias was left out", id="head output: no bias"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    return (x @ parts.W_v + parts.b_v).mean(0)", WRONG, "every value counted alike",
                 id="head output: the plain mean of the values"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    return my_attention_row(x, parts, position)", WRONG, "numbers at the blank, a tensor of shape",
                 id="head output: the row itself"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    return parts.attention(x[None])[0][0, position]", WRONG, REBUILT,
                 id="head output: the layer's own attention module"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n"
                 "    q, k, v = (x @ w + b for w, b in ((parts.W_q, parts.b_q), (parts.W_k, parts.b_k),\n"
                 "                                      (parts.W_v, parts.b_v)))\n"
                 "    return torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None])[0, position]",
                 WRONG, REBUILT, id="head output: PyTorch's own attention"),
    pytest.param(HEAD_OUTPUT_CHECK, "def my_head_output(x, parts, position):\n    return None", WRONG,
                 "Not answered yet", id="head output: the empty answer cell"),
    pytest.param(LAYER_CHECK, solution(NOTEBOOK, LAYER_ANSWER), RIGHT, "Correct: your vector equals hidden_states",
                 id="whole layer: the reference solution"),
    pytest.param(LAYER_CHECK, "def my_layer_output(x, layer_parts, position):\n"  # LayerNorm written out, by n
                 "    p = layer_parts\n"
                 "    def norm(v, weight, bias):\n"
                 "        v = v - v.mean()\n"
                 "        return v / (v.pow(2).mean() + p.norm_eps).sqrt() * weight + bias\n"
                 "    o = torch.cat([my_head_output(x, head, position) for head in p.heads])\n"
                 "    a = norm(x[position] + o @ p.W_o + p.b_o, p.norm1_weight, p.norm1_bias)\n"
                 "    return norm(a + p.activation(a @ p.W_in + p.b_in) @ p.W_out + p.b_out, p.norm2_weight, "
                 "p.norm2_bias)", RIGHT, "Correct: your vector equals", id="whole layer: LayerNorm by hand"),
    pytest.param(LAYER_CHECK, "def my_layer_output(x, layer_parts, position):\n"  # every position, then the blank's
                 "    p, norm, size = layer_parts, torch.nn.functional.layer_norm, x.shape[-1:]\n"
                 "    o = torch.stack([torch.cat([my_head_output(x, h, i) for h in p.heads]) for i in range(len(x))])\n"
                 "    a = norm(x + o @ p.W_o + p.b_o, size, p.norm1_weight, p.norm1_bias, p.norm_eps)\n"
                 "    y = norm(a + p.activation(a @ p.W_in + p.b_in) @ p.W_out + p.b_out, size, p.norm2_weight, "
                 "p.norm2_bias, p.norm_eps)\n"
                 "    return y[position].tolist()", RIGHT, "Correct: your vector equals",
                 id="whole layer: every position, as a list"),
    pytest.param(LAYER_CHECK, _layer(ffn=None), WRONG, "that is the attention half's output",
                 id="whole layer: the attention half only"),
    pytest.param(LAYER_CHECK, _layer(attention="o @ p.W_o + p.b_o"), WRONG, "the attention half's residual is missing",
                 id="whole layer: no first residual"),
    pytest.param(LAYER_CHECK, _layer(attention="x[position] + o"), WRONG, "the heads' outputs were not projected",
                 id="whole layer: no output projection"),
    pytest.param(LAYER_CHECK, _layer(ffn="p.activation(inner) @ p.W_out + p.b_out"), WRONG,
                 "the feed-forward half's residual is missing", id="whole layer: no second residual"),
    pytest.param(LAYER_CHECK, _layer(ffn="a + inner @ p.W_out + p.b_out"), WRONG, "the activation is missing",
                 id="whole layer: no GELU"),
    pytest.param(LAYER_CHECK, _layer(attention="x[position] + o @ p.W_o.T + p.b_o"), WRONG,
                 "these weights are (in, out) already", id="whole layer: W_o transposed as in nn.Linear"),
    pytest.param(LAYER_CHECK, "def my_layer_output(x, layer_parts, position):\n"
                 "    return my_head_output(x, layer_parts.heads[0], position)", WRONG,
                 "numbers at the blank, a tensor of shape", id="whole layer: one head's output"),
    pytest.param(LAYER_CHECK, "def my_layer_output(x, layer_parts, position):\n"
                 "    return model.base_model.encoder.layer[layer](x[None])[0][position]", WRONG, REBUILT,
                 id="whole layer: the layer's own module"),
    pytest.param(LAYER_CHECK, "def my_layer_output(x, layer_parts, position):\n    return 'LayerNorm'", WRONG,
                 "a tensor of shape", id="whole layer: a str"),
    pytest.param(LAYER_CHECK, "def my_layer_output(x, layer_parts, position):\n    return None", WRONG,
                 "Not answered yet", id="whole layer: the empty answer cell"),
    pytest.param(LAYER_CHECK, LAYER_BY_N_MINUS_1, WRONG, "x.var() divides by n - 1",
                 id="whole layer: x.var() in LayerNorm"),
    pytest.param(BERT_CHECK, solution(NOTEBOOK, BERT_ANSWER), RIGHT, "Correct: your BERT's",
                 id="whole model: reference"),
    pytest.param(BERT_CHECK, "def my_bert(input_ids, position):\n"  # row by row into a list, the scores as a list
                 "    x = my_embeddings(input_ids, emb)\n"
                 "    for i in range(model.config.num_hidden_layers):\n"
                 "        rows = []\n"
                 "        for p in range(x.shape[0]):\n"
                 "            rows.append(my_layer_output(x, encoder_layer(model, i), p))\n"
                 "        x = torch.stack(rows)\n"
                 "    return my_mlm_head(x[position], mlm_head).tolist()", RIGHT, "Correct: your BERT's",
                 id="whole model: a loop, returning a list"),
    pytest.param(BERT_CHECK, "def my_bert(input_ids, position):\n"  # every layer reads the embeddings
                 "    x = my_embeddings(input_ids, emb)\n"
                 "    y = x\n"
                 "    for parts in layers:\n"
                 "        y = torch.stack([my_layer_output(x, parts, p) for p in range(len(x))])\n"
                 "    return my_mlm_head(y[position], mlm_head)", WRONG, "the chain joins them wrong",
                 id="whole model: every layer reads the embeddings"),
    pytest.param(BERT_CHECK, "def my_bert(input_ids, position):\n"
                 "    x = my_embeddings(input_ids, emb)\n"
                 "    for parts in layers:\n"
                 "        x = torch.stack([my_layer_output(x, parts, p) for p in range(len(x))])\n"
                 "    return x[position]", WRONG, "scores at the position asked for, a tensor of shape",
                 id="whole model: no MLM head"),
    pytest.param(BERT_CHECK, LAYER_BY_N_MINUS_1 + "\n" + solution(NOTEBOOK, BERT_ANSWER), WRONG,  # exercise 10's slip
                 "my_layer_output differs from hidden_states[1] at position 0", id="whole model: a wrong layer"),
    pytest.param(BERT_CHECK, "def my_layer_output(x, layer_parts, position):\n    return None", WRONG,
                 "my_layer_output = reference('my_layer_output', '01_masked_lm')",  # the line that lends it
                 id="whole model: exercise 10 unanswered"),
    pytest.param(BERT_CHECK, "def my_bert(input_ids, position):\n"
                 "    return model(input_ids[None]).logits[0, position]", WRONG, REBUILT, id="whole model: the model"),
    pytest.param(BERT_CHECK, "def my_bert(input_ids, position):\n    return 'box'", WRONG,
                 "a tensor of shape", id="whole model: a str"),
    pytest.param(BERT_CHECK, "def my_bert(input_ids, position):\n    return None", WRONG, "Not answered yet",
                 id="whole model: the empty answer cell"),
    pytest.param(UNSEEN_CHECK, "my_unseen_falls = False", RIGHT, "You predicted False: the unseen sentences went",
                 id="unseen: predicted no fall"),
    pytest.param(UNSEEN_CHECK, "my_unseen_falls = ' no '", RIGHT, "You predicted False: the unseen sentences went",
                 id="unseen: predicted no fall, in words"),
    pytest.param(UNSEEN_CHECK, "my_unseen_falls = 'yes'", WRONG, "You predicted True: the unseen sentences went",
                 id="unseen: predicted a fall"),
    pytest.param(SAME_WORD_CHECK, "my_same_word = True", RIGHT, "You predicted True: the blanks' first words are",
                 id="same word: yes"),
    pytest.param(SAME_WORD_CHECK, "my_same_word = 'yes'", RIGHT, "You predicted True: the blanks' first words are",
                 id="same word: yes, in words"),
    pytest.param(SAME_WORD_CHECK, "my_same_word = 'no'", WRONG, "You predicted False: the blanks' first words are",
                 id="same word: no"),
    pytest.param(SAME_WORD_CHECK, "my_same_word = 'brand'", WRONG, "predict True or False; got 'brand'",
                 id="same word: a word"),
    pytest.param(UNSEEN_CHECK, "my_unseen_falls = None", WRONG, "Not answered yet", id="unseen: not answered"),
    pytest.param(UNSEEN_CHECK, "my_unseen_falls = 0.5", WRONG, "predict True or False; got 0.5",
                 id="unseen: a number"),
    pytest.param(MASS_CHECK, "my_top5_mass = 100 * float(top.values.sum())\n"
                 "my_count_above = int((probabilities > 0.001).sum())", WRONG, "is a percentage",
                 id="top-5 mass: a percentage"),
    pytest.param(WORDPIECE_CHECK, "def my_wordpiece(word, vocab):\n"
                 "    from tokenizers.models import WordPiece\n"
                 "    return [t.value for t in WordPiece(vocab, unk_token='[UNK]').tokenize(word)]", WRONG, REBUILT,
                 id="wordpiece: the tokenizers library's WordPiece"),
    pytest.param(BATCH_LOSS_CHECK,
                 "import math\n"
                 "def my_mlm_loss(logits, labels):\n"  # a loop over the picked positions, with exercise 2b's softmax
                 "    losses = [-math.log(my_softmax(logits[b, t])[labels[b, t]].item())\n"
                 "              for b, t in (labels != -100).nonzero().tolist()]\n"
                 "    return sum(losses) / len(losses)", RIGHT, "Correct:", id="batch loss: a loop, in floats"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    keep = labels != -100\n"
                 "    picked = logits[keep]\n"
                 "    chosen = picked[torch.arange(len(picked)), labels[keep]]\n"
                 "    return (picked.logsumexp(-1) - chosen).mean()", RIGHT, "Correct:",
                 id="batch loss: logsumexp minus the chosen score"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    keep = labels != -100\n"
                 "    return -logits[keep].log_softmax(-1).gather(-1, labels[keep][:, None]).sum()", WRONG,
                 "the loss is their mean", id="batch loss: the sum"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    return -logits.log_softmax(-1).gather(-1, labels[..., None]).mean()", WRONG,
                 "your code used the label -100 as a token id", id="batch loss: gathers at -100"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    return -logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).mean()", WRONG,
                 "that averages every position", id="batch loss: every position"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    keep = labels != -100\n"
                 "    return -logits[keep].gather(-1, labels[keep][:, None]).mean()", WRONG,
                 "that uses the raw scores", id="batch loss: no softmax"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    keep = labels != -100\n"
                 "    return logits[keep].log_softmax(-1).gather(-1, labels[keep][:, None]).mean()", WRONG,
                 "mind the sign", id="batch loss: not negated"),
    pytest.param(BATCH_LOSS_CHECK,
                 "def my_mlm_loss(logits, labels):\n"
                 "    keep = labels != -100\n"
                 "    return -logits[keep].log_softmax(-1).gather(-1, labels[keep][:, None])", WRONG,
                 "return one number, the mean over the", id="batch loss: one loss per position"),
    pytest.param(BATCH_LOSS_CHECK, "def my_mlm_loss(logits, labels):\n    return '2.3 nats'", WRONG,
                 "return one number", id="batch loss: a str"),
    pytest.param(BATCH_LOSS_CHECK, "def my_mlm_loss(logits, labels):\n    return None", WRONG, "Not answered yet.",
                 id="batch loss: the empty answer cell"),
    pytest.param(BATCH_LOSS_CHECK, "def my_mlm_loss(logits, labels):\n    return logits.mean(dim=7)", WRONG,
                 "your code raised IndexError", id="batch loss: raises"),
]


(test_the_exercise_cells_are_where_the_ids_say, test_the_reference_solution_passes_its_check,
 test_the_check_gives_its_verdict, executed) = exercise_tests(NOTEBOOK, EXERCISES, CASES)


COUNTED_MASK = ("calls = []\n\n\ndef my_causal_mask(n):\n    calls.append(n)\n"
                "    later = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)\n"
                "    return torch.zeros(1, 1, n, n, dtype=model.dtype).masked_fill(later, -torch.inf)")
EXPERIMENT = "39cca99e"  # defines at_the_blank, with the mask exercise 9(c) runs


@pytest.mark.parametrize("answer, whose", [
    pytest.param(COUNTED_MASK, "yours", id="a right mask"),
    pytest.param("def my_causal_mask(n):\n    return None", "utils.fill_mask.causal_mask", id="unanswered"),
    pytest.param("def my_causal_mask(n):\n    return torch.zeros(1, 1, n, n, dtype=model.dtype)",
                 "utils.fill_mask.causal_mask", id="a mask that hides nothing"),
    pytest.param("def my_causal_mask(n):\n    raise ValueError('not yet')", "utils.fill_mask.causal_mask",
                 id="a mask that raises"),
])
def test_the_causal_experiment_runs_the_students_mask_once_its_check_passes(executed, answer, whose):
    executed.run(executed.references)
    executed.run(answer)
    said = executed.run(executed.cell(EXPERIMENT).source)
    assert said.startswith(f"The causal mask here is {whose}"), said
    if whose == "yours":  # and at_the_blank calls it: once per causal run, with the sentence's length
        ran = executed.run("calls.clear()\nat_the_blank(text, True)\nat_the_blank(text, False)\n"
                           "print(calls, [encode_masked(tokenizer, text)[0]['input_ids'].shape[1]])")
        called, length = ran.strip().split("] [")
        assert called + "]" == "[" + length, ran
    executed.run(executed.references)
    executed.run(executed.cell(EXPERIMENT).source)  # the reference mask back, for the cases after this one


BATCH = "7c1f4a6d"  # the batch exercise 13 and the ten steps use: the corruption of exercise 12 once it passes


@pytest.mark.parametrize("answer, whose", [
    pytest.param(None, "Your my_mask_tokens corrupted this batch", id="the reference corruption"),
    pytest.param("def my_mask_tokens(input_ids):\n    return None", "The collator corrupted this batch",
                 id="unanswered"),
    pytest.param("def my_mask_tokens(input_ids):\n    return input_ids.clone(), input_ids.clone()",
                 "The collator corrupted this batch", id="every token picked, none corrupted"),
])
def test_the_batch_is_the_student_s_corruption_once_it_passes(executed, answer, whose):
    executed.run(executed.references)
    if answer is not None:
        executed.run(answer)
    said = executed.run(executed.cell(BATCH).source).splitlines()
    assert said[0] == whose + (": exercise 12's check passed it." if answer is None else
                               ": your my_mask_tokens has not passed exercise 12's check yet."), said
    assert said[1].startswith("logits (8, ") and said[1].endswith(" picked positions to score"), said
    executed.run(executed.references)
    executed.run(executed.cell(BATCH).source)  # the reference batch back, for the cases after this one


TEN_STEPS = "c8d4a1e9"  # ten AdamW steps on that batch, with the loss of exercise 13 once it passes


@pytest.mark.parametrize("answer, whose", [
    pytest.param(None, "The ten steps train with your my_mlm_loss", id="the reference loss"),
    pytest.param("def my_mlm_loss(logits, labels):\n    return None", "The ten steps train with the model's own loss",
                 id="unanswered"),
    pytest.param("def my_mlm_loss(logits, labels):\n    keep = labels != -100\n"
                 "    return float(-logits[keep].log_softmax(-1).gather(-1, labels[keep][:, None]).mean())",
                 "no gradient (keep it a tensor", id="a float"),
])
def test_the_ten_steps_train_with_the_student_s_loss_once_it_passes(executed, answer, whose):
    executed.run(executed.references)
    reference = executed.run(executed.cell(TEN_STEPS).source).splitlines()
    if answer is not None:
        executed.run(answer)
    said = executed.run(executed.cell(TEN_STEPS).source).splitlines()
    assert whose in said[0], said
    assert said[1:] == reference[1:]  # the same losses and table, whichever of the two equal losses trained
    executed.run(executed.references)


@pytest.mark.parametrize("reveal, answer", [("c25", "my_same_word = 'maybe'"), ("c27", "my_blank_changes = 'perhaps'"),
                                            ("c8d4a1e9", "my_unseen_falls = 2")])
def test_a_true_or_false_reveal_shows_nothing_until_the_answer_is_true_or_false(executed, reveal, answer):
    executed.run(executed.references)
    executed.run(answer)
    said = executed.run(executed.cell(reveal).source)
    assert said.startswith("Write True or False in ") and said.count("\n") == 1, said
    executed.run(executed.references)
