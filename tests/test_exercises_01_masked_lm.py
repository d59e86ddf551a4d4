"""Notebook 1 (masked LM)'s exercises: every check cell accepts right answers, in more than one form, and turns down
plausible wrong ones (tests/exercise_kernel.py runs them)."""

import pytest
from exercise_kernel import RIGHT, WRONG, exercise_tests, solution

NOTEBOOK = "01_masked_lm.ipynb"

GUESS_ANSWER, GUESS_CHECK = "ee29f949", "9f7d499b"  # guess the word in the blank, then see its rank
SOFTMAX_ANSWER, SOFTMAX_CHECK = "c29", "c30"  # softmax by hand
MLM_LOSS_ANSWER, MLM_LOSS_CHECK = "bdc278aa", "41160c14"  # the loss at the blank, -ln p(box)
BOTH_SIDES_ANSWER, BOTH_SIDES_CHECK = "74d0a7a3", "77ae7772"  # change only the words after the blank
IN_TURN_ANSWER, IN_TURN_CHECK = "6dfc6390", "b77d247f"  # fill two blanks in turn, one forward pass each
VOCABULARY_ANSWER, VOCABULARY_CHECK = "a09ae7aa", "32d5c3dc"  # the [PAD] and [UNK] ids, the count of ## pieces
OWN_SENTENCE_ANSWER, OWN_SENTENCE_CHECK = "c32", "c33"  # a sentence of your own: is your word in the top 5?
MASS_ANSWER, MASS_CHECK = "c35", "c36"  # the top 5's probability, and the words above 0.1%

EXERCISES = {  # name -> (answer cell, check cell), in notebook order
    "guess": (GUESS_ANSWER, GUESS_CHECK),
    "softmax": (SOFTMAX_ANSWER, SOFTMAX_CHECK),
    "loss at the blank": (MLM_LOSS_ANSWER, MLM_LOSS_CHECK),
    "both sides": (BOTH_SIDES_ANSWER, BOTH_SIDES_CHECK),
    "in turn": (IN_TURN_ANSWER, IN_TURN_CHECK),
    "vocabulary": (VOCABULARY_ANSWER, VOCABULARY_CHECK),
    "own sentence": (OWN_SENTENCE_ANSWER, OWN_SENTENCE_CHECK),
    "top-5 mass": (MASS_ANSWER, MASS_CHECK),
}

CASES = [  # pytest.param(check cell, answer code, verdict, what the check prints)
    pytest.param(GUESS_CHECK, 'my_guess = "box"', RIGHT, "Your guess 'box': rank", id="guess: box"),
    pytest.param(GUESS_CHECK, 'my_guess = " Part "', RIGHT, "Your guess 'Part': rank",
                 id="guess: capitalised, in spaces"),
    pytest.param(GUESS_CHECK, 'my_guess = "chocolates"', WRONG, "is 2 pieces here", id="guess: two pieces"),
    pytest.param(GUESS_CHECK, "my_guess = 3", WRONG, "3 is not a word", id="guess: a number"),
    pytest.param(GUESS_CHECK, "my_guess = None", WRONG, "No guess written", id="guess: none"),
    pytest.param(SOFTMAX_CHECK, "def my_softmax(z):\n    return torch.exp(z) / torch.exp(z).sum()", RIGHT,
                 "Correct:", id="softmax: exp over its sum, no shift"),
    pytest.param(SOFTMAX_CHECK,
                 "import math\n"
                 "def my_softmax(z):\n"
                 "    e = [math.exp(v) for v in z.tolist()]\n"
                 "    return [v / sum(e) for v in e]", RIGHT, "Correct:",
                 id="softmax: a list of floats"),
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
    pytest.param(SOFTMAX_CHECK, "my_softmax = 3", WRONG, "your code raised TypeError", id="softmax: not callable"),
    pytest.param(SOFTMAX_CHECK, "del my_softmax", WRONG, "Run your answer's cell first", id="softmax: undefined"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = -torch.log(probabilities[box_id])", RIGHT, "Correct:",
                 id="loss at the blank: torch.log"),
    pytest.param(MLM_LOSS_CHECK, "import math; my_loss = -math.log(probabilities[box_id].item())", RIGHT,
                 "Correct:", id="loss at the blank: math.log of a float"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = torch.log(probabilities[box_id])", WRONG, "mind the sign",
                 id="loss at the blank: not negated"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = probabilities[box_id]", WRONG, "Not quite",
                 id="loss at the blank: the probability"),
    pytest.param(MLM_LOSS_CHECK, "import math; my_loss = -math.log10(probabilities[box_id].item())", WRONG,
                 "natural log", id="loss at the blank: log10"),
    pytest.param(MLM_LOSS_CHECK, 'my_loss = "nine"', WRONG, "is not one number", id="loss at the blank: a str"),
    pytest.param(MLM_LOSS_CHECK, "my_loss = -torch.log(probabilities)", WRONG, "is not one number",
                 id="loss at the blank: every word's"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = f"Life is like a {tokenizer.mask_token} of wine."', RIGHT,
                 "; the top 5 moved), though", id="both sides: of wine"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = "life is like a [MASK] of cards"', RIGHT,
                 "Correct: the probabilities at the blank", id="both sides: lower case, [MASK] written out"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = text.replace(".", "!")', RIGHT,
                 "Correct: the probabilities at the blank changed", id="both sides: only the full stop"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = f"Love is like a {tokenizer.mask_token} of chocolates."', WRONG,
                 "the words before the blank changed", id="both sides: the left side changed"),
    pytest.param(BOTH_SIDES_CHECK, "my_text = text", WRONG, "that is the original sentence",
                 id="both sides: the original"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = f"Life is like a {tokenizer.mask_token} of {tokenizer.mask_token}."',
                 WRONG, "keep exactly one", id="both sides: two blanks"),
    pytest.param(BOTH_SIDES_CHECK, 'my_text = "Life is like a box of chocolates."', WRONG,
                 "write a sentence (a str) with one", id="both sides: no blank"),
    pytest.param(BOTH_SIDES_CHECK, "my_text = 42", WRONG, "write a sentence (a str) with one",
                 id="both sides: a number"),
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
    pytest.param(IN_TURN_CHECK, "def my_fill_in_turn(text):\n    return 'head head'", WRONG,
                 "return the words as a list of str", id="in turn: a str"),
    pytest.param(IN_TURN_CHECK, "def my_fill_in_turn(text):\n    return ['cat', 'mat']", WRONG,
                 "Take each blank's top word", id="in turn: other words"),
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
    pytest.param(OWN_SENTENCE_CHECK, 'my_word = "Paris"', RIGHT, "in its top 5", id="own sentence: Paris"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_word = " paris "', RIGHT, "in its top 5",
                 id="own sentence: lower case, in spaces"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_word = "chocolates"', WRONG, "is 2 pieces here",
                 id="own sentence: two pieces"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = 7", WRONG, "write one word in quotes", id="own sentence: a number"),
    pytest.param(OWN_SENTENCE_CHECK, 'my_sentence = "No mask here."', WRONG, "The text has no [MASK] token",
                 id="own sentence: no blank"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = ['paris']", WRONG, "write one word in quotes (yours is ['paris'])",
                 id="own sentence: a list"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = None", WRONG, "Not answered yet.", id="own sentence: no word"),
    pytest.param(OWN_SENTENCE_CHECK, "my_word = 'paris' * 20000", WRONG,
                 "is not in this model's vocabulary (it reads as [UNK])", id="own sentence: a very long word"),
    pytest.param(OWN_SENTENCE_CHECK, "my_sentence = {'text': 'The capital of France is [MASK].'}", WRONG,
                 "The text must be text (a str in quotes), got dict", id="own sentence: a dict"),
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
]


(test_the_exercise_cells_are_where_the_ids_say, test_the_reference_solution_passes_its_check,
 test_the_check_gives_its_verdict, executed) = exercise_tests(NOTEBOOK, EXERCISES, CASES)
