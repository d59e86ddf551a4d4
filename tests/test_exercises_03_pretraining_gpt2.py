"""Notebook 3 (pretraining)'s exercises: every check cell accepts right answers, in more than one form, and turns down
plausible wrong ones (tests/exercise_kernel.py runs them)."""

import pytest
from exercise_kernel import RIGHT, WRONG, exercise_tests, solution

NOTEBOOK = "03_pretraining_gpt2.ipynb"

LOSSES_ANSWER, LOSSES_CHECK = "749fa142", "6aacb2d7"  # predict the final losses and the validation curve's shape
CROSS_ENTROPY_ANSWER, CROSS_ENTROPY_CHECK = "c42", "c43"  # the causal LM loss by hand
LOOP_ANSWER, LOOP_CHECK = "8dcb9a81", "5fe9efc9"  # the training loop: loss, backward, step, zero_grad
PERPLEXITY_ANSWER, PERPLEXITY_CHECK = "cbea3b5c", "8b95f9d8"  # the model's perplexity, and a uniform guess's
ACCURACY_ANSWER, ACCURACY_CHECK = "c45", "c46"  # next-token accuracy on training and unseen text
MORE_DATA_ANSWER, MORE_DATA_CHECK = "c48", "c49"  # more data: a smaller or larger train/validation gap?
DROPOUT_ANSWER, DROPOUT_CHECK = "c51", "c52"  # dropout: a higher or lower training loss?


EXERCISES = {  # name -> (answer cell, check cell), in notebook order
    "losses": (LOSSES_ANSWER, LOSSES_CHECK),
    "cross-entropy": (CROSS_ENTROPY_ANSWER, CROSS_ENTROPY_CHECK),
    "training loop": (LOOP_ANSWER, LOOP_CHECK),
    "perplexity": (PERPLEXITY_ANSWER, PERPLEXITY_CHECK),
    "accuracy": (ACCURACY_ANSWER, ACCURACY_CHECK),
    "more data": (MORE_DATA_ANSWER, MORE_DATA_CHECK),
    "dropout": (DROPOUT_ANSWER, DROPOUT_CHECK),
}

CASES = [  # pytest.param(check cell, answer code, verdict, what the check prints)
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = 5.0\npredicted_final_valid_loss = 7.0", RIGHT,
                 "you predicted 5.00", id="losses: numbers"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = torch.tensor(0.1)\npredicted_final_valid_loss = '7'",
                 RIGHT, "no number predicted ('7')", id="losses: a tensor and a str"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = predicted_final_valid_loss = [1, 2]", WRONG,
                 "no number predicted", id="losses: lists"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = ' Falls then rises '", RIGHT,
                 "you predicted 'falls then rises'", id="losses: the shape, capitalised, in spaces"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = 3", WRONG, "you predicted '3': not this time.",
                 id="losses: the shape, a number"),
    pytest.param(CROSS_ENTROPY_CHECK, solution(NOTEBOOK, CROSS_ENTROPY_ANSWER), RIGHT, "Correct:",
                 id="cross-entropy: the reference solution"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "import torch.nn.functional as F\n"  # -100 is its default ignore_index
                 "def my_cross_entropy(logits, labels):\n"
                 "    return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())",
                 RIGHT, "Correct:", id="cross-entropy: F.cross_entropy, shifted"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "import math\n"
                 "def my_cross_entropy(logits, labels):\n"
                 "    total, count = 0.0, 0\n"
                 "    for row, targets in zip(logits.log_softmax(-1), labels):\n"
                 "        for t in range(len(targets) - 1):\n"
                 "            if targets[t + 1] != -100:\n"
                 "                total -= float(row[t, targets[t + 1]]); count += 1\n"
                 "    return total / count", RIGHT, "Correct:",
                 id="cross-entropy: a loop, plain floats"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "import torch.nn.functional as F\n"
                 "def my_cross_entropy(logits, labels):\n"
                 "    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())", WRONG,
                 "Shifted?", id="cross-entropy: not shifted"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    logits, targets = logits[:, :-1], labels[:, 1:]\n"
                 "    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])\n"
                 "    return -log_p.mean()", WRONG, "Not quite",
                 id="cross-entropy: the -100 positions scored"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    logits, targets = logits[:, :-1], labels[:, 1:]\n"
                 "    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])\n"
                 "    return -log_p[..., 0][targets != -100]", WRONG,
                 "average over the positions", id="cross-entropy: not averaged"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    logits, targets = logits[:, :-1], labels[:, 1:]\n"
                 "    log_p = logits.log_softmax(-1).gather(-1, targets[..., None])[..., 0]\n"
                 "    return -log_p[targets != -100].mean()", WRONG, "your code raised",
                 id="cross-entropy: -100 used as an index"),
    pytest.param(CROSS_ENTROPY_CHECK, "def my_cross_entropy(logits, labels):\n    return 'low'", WRONG,
                 "Not quite: 'low'", id="cross-entropy: a str"),
    pytest.param(LOOP_CHECK, solution(NOTEBOOK, LOOP_ANSWER), RIGHT, "Correct:",
                 id="training loop: the reference solution"),
    pytest.param(LOOP_CHECK,
                 "def my_training_steps(model, batches, optimizer):\n"
                 "    losses = []\n"
                 "    for batch in batches:\n"
                 "        optimizer.zero_grad()\n"
                 "        loss = my_cross_entropy(model(**batch).logits, batch['labels'])\n"
                 "        loss.backward()\n"
                 "        optimizer.step()\n"
                 "        losses.append(float(loss))\n"
                 "    return losses", RIGHT, "Correct:",
                 id="training loop: its own loss, zero_grad first"),
    pytest.param(LOOP_CHECK,
                 "def my_training_steps(model, batches, optimizer):\n"
                 "    losses = []\n"
                 "    for batch in batches:\n"
                 "        loss = model(**batch).loss\n"
                 "        loss.backward()\n"
                 "        optimizer.step()\n"
                 "        losses.append(loss.item())\n"
                 "    return losses", WRONG, "Not quite, the losses",
                 id="training loop: no zero_grad, the gradients add up"),
    pytest.param(LOOP_CHECK,
                 "def my_training_steps(model, batches, optimizer):\n"
                 "    losses = []\n"
                 "    for batch in batches:\n"
                 "        loss = model(**batch).loss\n"
                 "        loss.backward()\n"
                 "        optimizer.zero_grad()\n"
                 "        losses.append(loss.item())\n"
                 "    return losses", WRONG, "Not quite, the losses",
                 id="training loop: no step, nothing learnt"),
    pytest.param(LOOP_CHECK,
                 "def my_training_steps(model, batches, optimizer):\n"
                 "    losses = []\n"
                 "    for batch in batches:\n"
                 "        loss = model(**batch).loss\n"
                 "        optimizer.zero_grad()\n"
                 "        loss.backward()\n"
                 "        if len(losses) < 2:\n"
                 "            optimizer.step()\n"
                 "        losses.append(loss.item())\n"
                 "    return losses", WRONG, "The losses match, but the weights",
                 id="training loop: the last batch never steps"),
    pytest.param(LOOP_CHECK, "def my_training_steps(model, batches, optimizer):\n    return 'fine'", WRONG,
                 "Not quite", id="training loop: a str"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = math.exp(sample_loss)\nmy_uniform_perplexity = len(tokenizer)",
                 RIGHT, "Correct:", id="perplexity: math.exp, the vocabulary's size"),
    pytest.param(PERPLEXITY_CHECK,
                 "my_perplexity = torch.tensor(sample_loss).exp()\n"
                 "my_uniform_perplexity = math.exp(math.log(50257))", RIGHT, "Correct:",
                 id="perplexity: a tensor, e^ln V"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = sample_loss\nmy_uniform_perplexity = len(tokenizer)", WRONG,
                 "is not e^", id="perplexity: the loss itself"),
    pytest.param(PERPLEXITY_CHECK,
                 "my_perplexity = math.exp(sample_loss)\n"
                 "my_uniform_perplexity = math.log(len(tokenizer))", WRONG,
                 "a uniform guess over", id="perplexity: a uniform guess's loss, not its perplexity"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = 'big'\nmy_uniform_perplexity = len(tokenizer)", WRONG,
                 "is not e^", id="perplexity: a str"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = [1.0]\nmy_uniform_perplexity = {'V': 1}", WRONG,
                 "Not quite: [1.0] is not e^", id="perplexity: a list and a dict"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        return (model(x).logits[0, :-1].argmax(-1) == x[0, 1:]).float().mean().item()",
                 RIGHT, "Correct:", id="accuracy: tensors"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        guesses = model(x).logits[0].argmax(-1).tolist()\n"
                 "    return sum(g == t for g, t in zip(guesses, ids[1:])) / (len(ids) - 1)", RIGHT,
                 "Correct:", id="accuracy: lists"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        return (model(x).logits[0].argmax(-1) == x[0]).float().mean().item()",
                 WRONG, "Not quite", id="accuracy: each guess against the token it was given"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(ids): return [0.5]", WRONG,
                 "Not quite: [0.5] and [0.5]", id="accuracy: a list"),
    pytest.param(ACCURACY_CHECK, "next_token_accuracy = 0.5", WRONG,
                 "your code raised TypeError: 'float' object is not callable", id="accuracy: not a function"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(ids): return torch.tensor([0.5, 0.5])", WRONG,
                 "Not quite: a tensor of shape (2,) and a tensor of shape (2,)", id="accuracy: a tensor of two"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(ids): return '0.5'", WRONG, "Not quite: '0.5' and '0.5'",
                 id="accuracy: a str"),
    pytest.param(MORE_DATA_CHECK, 'more_data_gap = "smaller"', RIGHT, "Right:", id="more data: smaller"),
    pytest.param(MORE_DATA_CHECK, 'more_data_gap = " Smaller."', RIGHT, "Right:",
                 id="more data: capitalised, a full stop"),
    pytest.param(MORE_DATA_CHECK, 'more_data_gap = "larger"', WRONG, "Think again", id="more data: larger"),
    pytest.param(MORE_DATA_CHECK, "more_data_gap = 3", WRONG, "Answer 'larger' or 'smaller'",
                 id="more data: a number"),
    pytest.param(DROPOUT_CHECK, 'dropout_train_loss = "higher"', RIGHT, "Right:", id="dropout: higher"),
    pytest.param(DROPOUT_CHECK, 'dropout_train_loss = "Higher"', RIGHT, "Right:", id="dropout: capitalised"),
    pytest.param(DROPOUT_CHECK, 'dropout_train_loss = "lower"', WRONG, "Think again", id="dropout: lower"),
]


(test_the_exercise_cells_are_where_the_ids_say, test_the_reference_solution_passes_its_check,
 test_the_check_gives_its_verdict, executed) = exercise_tests(NOTEBOOK, EXERCISES, CASES)
