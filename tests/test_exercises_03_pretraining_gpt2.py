"""Notebook 3 (pretraining)'s exercises: every check cell accepts right answers, in more than one form, and turns down
plausible wrong ones (tests/exercise_kernel.py runs them)."""

import re

import nbformat
import pytest
from exercise_kernel import NOTEBOOKS, RIGHT, WRONG, exercise_tests, solution, stdout_of

NOTEBOOK = "03_pretraining_gpt2.ipynb"

UNTRAINED_ANSWER, UNTRAINED_CHECK = "90cef26c", "90cef26d"  # predict the loss of random weights
CROSS_ENTROPY_ANSWER, CROSS_ENTROPY_CHECK = "c42", "c43"  # the causal LM loss by hand
UNIGRAM_ANSWER, UNIGRAM_CHECK = "fc17408b", "fc17408c"  # the unigram count's validation loss, the line to beat
LOOP_ANSWER, LOOP_CHECK = "8dcb9a81", "5fe9efc9"  # the training loop: schedule, clipping, evaluation
ONE_STEP_ANSWER, ONE_STEP_CHECK = "9e1d2c35", "9e1d2c36"  # will one batch's loss fall at each of five steps?
SCHEDULE_ANSWER, SCHEDULE_CHECK = "a2b5c0d3", "a2b5c0d4"  # the warm-up and cosine schedule, step by step
LOSSES_ANSWER, LOSSES_CHECK = "749fa142", "6aacb2d7"  # predict the final losses and the validation curve's shape
PERPLEXITY_ANSWER, PERPLEXITY_CHECK = "cbea3b5c", "8b95f9d8"  # the perplexity at the minimum, and a uniform guess's
RECITED_VERDICT = "c3e5a7b9"  # not a check: the recitation prediction (made before training) against the count
ACCURACY_ANSWER, ACCURACY_CHECK = "c45", "c46"  # next-token accuracy on training and unseen text
DROPOUT_ANSWER, DROPOUT_CHECK = "c51", "c52"  # dropout: the final training loss, predicted then measured
OWN_LOOP_RUN = "1b3d5f70"  # not a check: the student's loop trains a fresh byte model on every article
BYTE_RUN_ANSWER, BYTE_RUN_CHECK = "b7e31c02", "c9f52e13"  # will the byte run get under the bigram model?
MORE_DATA_ANSWER, MORE_DATA_CHECK = "c48", "c49"  # the first run's model on every training article: where it ends
OWN_LOOP_ANSWER, OWN_LOOP_CHECK = "0a2c4e70", "0a2c4e71"  # will your loop's byte model end under the unigram model?
MY_BLOCK_ANSWER, MY_BLOCK_CHECK = "e7a1c3f5", "e7a1c3fa"  # the student's own GPT-2 block, against GPT-2's
MY_GPT_ANSWER, MY_GPT_CHECK = "e7a1c3fc", "e7a1c3f6"  # the student's own GPT-2 module, trained by their loop


EXERCISES = {  # name -> (answer cell, check cell), in notebook order
    "untrained loss": (UNTRAINED_ANSWER, UNTRAINED_CHECK),
    "cross-entropy": (CROSS_ENTROPY_ANSWER, CROSS_ENTROPY_CHECK),
    "unigram": (UNIGRAM_ANSWER, UNIGRAM_CHECK),
    "one step": (ONE_STEP_ANSWER, ONE_STEP_CHECK),
    "schedule": (SCHEDULE_ANSWER, SCHEDULE_CHECK),
    "training loop": (LOOP_ANSWER, LOOP_CHECK),
    "losses": (LOSSES_ANSWER, LOSSES_CHECK),
    "perplexity": (PERPLEXITY_ANSWER, PERPLEXITY_CHECK),
    "accuracy": (ACCURACY_ANSWER, ACCURACY_CHECK),
    "dropout": (DROPOUT_ANSWER, DROPOUT_CHECK),
    "more data": (MORE_DATA_ANSWER, MORE_DATA_CHECK),
    "own loop": (OWN_LOOP_ANSWER, OWN_LOOP_CHECK),
    "my block": (MY_BLOCK_ANSWER, MY_BLOCK_CHECK),
    "my gpt": (MY_GPT_ANSWER, MY_GPT_CHECK),
    "byte run": (BYTE_RUN_ANSWER, BYTE_RUN_CHECK),
}

# a training loop with one slip in it: LOOP.format(...) of the lines that differ from the reference
LOOP = """
def evaluate(model, eval_batches):
    model.eval()
    with torch.no_grad():
        losses = [model(**batch).loss.item() for batch in eval_batches]
    model.train()
    return {mean}


def my_training_loop(model, batches, eval_batches, optimizer, warmup_steps, eval_every, max_grad_norm):
    scheduler = transformers.get_scheduler("cosine", optimizer, num_warmup_steps=warmup_steps,
                                           num_training_steps=len(batches))
    train_losses, evaluations = [], []
    for step, batch in enumerate(batches, start=1):
        {before}
        loss = model(**batch).loss
        loss.backward()
        {clip}
        optimizer.step()
        {after}
        train_losses.append(loss.item())
        if step % eval_every == 0:
            evaluations.append((step, evaluate(model, eval_batches)))
    return train_losses, evaluations
"""
RIGHT_LOOP = dict(mean="sum(losses) / len(losses)", before="pass",
                  clip="torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)",
                  after="scheduler.step(); optimizer.zero_grad()")
MY_BLOCK = solution(NOTEBOOK, MY_BLOCK_ANSWER)  # the reference answers: imports and MyBlock, then MyGPT
MY_GPT = MY_BLOCK + "\n\n\n" + solution(NOTEBOOK, MY_GPT_ANSWER)
MY_BLOCK_FORWARD = MY_BLOCK[MY_BLOCK.index("    def forward(self, x):"):]  # the answer cell ends with it
SDPA_BLOCK_FORWARD = ("    def forward(self, x):\n"
                      "        b, t, d = x.shape\n"
                      "        q, k, v = (z.unflatten(-1, (self.n_head, -1)).transpose(1, 2)\n"
                      "                   for z in self.qkv(self.ln_1(x)).chunk(3, dim=-1))\n"
                      "        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).flatten(2)\n"
                      "        x = x + self.proj(y)\n"
                      "        return x + self.down(F.gelu(self.up(self.ln_2(x)), approximate='tanh'))")
UNIGRAM = ("def my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):\n"  # {total}, {scored}: as the case says
           "    counts = torch.bincount(torch.tensor(train_chunks).flatten(), minlength=vocab_size)\n"
           "    p = (counts + k) / ({total})\n"
           "    return -p.log()[torch.tensor(valid_chunks){scored}].mean()")
UNIGRAM_RIGHT = "baselines.unigram_loss(chunks['train'], chunks['valid'], len(tokenizer))"  # the line the figures draw
MEASURED_UNDER = "more_data_run[1][-1][1] < counted"  # the experiment's last validation loss under its count line
MEASURED_DROPOUT = "dropout_run[0][-1][1]"  # the experiment's final training loss
ROSE = "(dropout_run[1][-1][1] - min(v for _, v in dropout_run[1]) > 0.1)"  # did its validation loss still rise?


# -ln p of each scored position's true token, by hand: the slips below are built on it
NLL = ("def nll(z, y):\n"
       "    z, y = z[y != -100], y[y != -100]\n"
       "    return z.logsumexp(-1) - z[torch.arange(len(y)), y]\n")
REBUILT = "the very thing this exercise rebuilds"  # what a check says to an answer that calls the library

# the schedule by hand, with one slip or another in the lines after its warm-up: SCHEDULE.format(...)
SCHEDULE = """
def my_lr(step, warmup_steps, total_steps, peak):
    if step < warmup_steps:
        return peak * ({step}) / warmup_steps
    {after}
"""
COSINE = "return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))"

CASES = [  # pytest.param(check cell, answer code, verdict, what the check prints)
    pytest.param(SCHEDULE_CHECK, SCHEDULE.format(step="step", after=COSINE), RIGHT, "Correct: your schedule",
                 id="schedule: the cosine, in one line"),
    pytest.param(SCHEDULE_CHECK, "import numpy as np\n\n\ndef my_lr(step, warmup_steps, total_steps, peak):\n"
                 "    up = np.float32(step / warmup_steps) if warmup_steps else np.float32(1)\n"
                 "    progress = np.clip((step - warmup_steps) / max(1, total_steps - warmup_steps), 0, 1)\n"
                 "    return torch.tensor(peak * min(up, (1 + np.cos(np.pi * progress)) / 2), dtype=torch.float64)",
                 RIGHT, "Correct: your schedule", id="schedule: numpy and a tensor, the warm-up as a minimum"),
    pytest.param(SCHEDULE_CHECK, SCHEDULE.format(step="step + 1", after=COSINE), WRONG, "One step ahead",
                 id="schedule: the warm-up one step ahead"),
    pytest.param(SCHEDULE_CHECK, SCHEDULE.format(
        step="step", after="return peak * 0.5 * (1 + math.cos(math.pi * step / total_steps))"), WRONG,
                 "The cosine starts where the warm-up ends", id="schedule: the cosine's progress from step 0"),
    pytest.param(SCHEDULE_CHECK, SCHEDULE.format(
        step="step", after="return peak * (total_steps - step) / (total_steps - warmup_steps)"), WRONG,
                 "not in a straight line", id="schedule: a straight-line decay"),
    pytest.param(SCHEDULE_CHECK, "def my_lr(step, warmup_steps, total_steps, peak):\n"
                 "    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)\n"
                 "    return peak * transformers.get_scheduler('cosine', optimizer, num_warmup_steps=warmup_steps,\n"
                 "                                             num_training_steps=total_steps).lr_lambdas[0](step)",
                 WRONG, REBUILT, id="schedule: the Trainer's own"),
    pytest.param(SCHEDULE_CHECK, "def my_lr(step, warmup_steps, total_steps, peak):\n    return f'{peak}'", WRONG,
                 "return the learning rate as a number; got '", id="schedule: a str"),
    pytest.param(SCHEDULE_CHECK, "def my_lr(step, warmup_steps, total_steps, peak):\n    return [peak]", WRONG,
                 "return the learning rate as a number", id="schedule: a list"),
    # an answer that calls the library function the exercise rebuilds is refused, whichever name it goes by
    pytest.param(UNIGRAM_CHECK, UNIGRAM.format(total="counts.sum() + k * vocab_size", scored="[:, 1:]"), RIGHT,
                 "Correct:", id="unigram: bincount"),
    pytest.param(UNIGRAM_CHECK,
                 "import collections\n\n\ndef my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):\n"
                 "    counts = collections.Counter(t for chunk in train_chunks for t in chunk)\n"
                 "    total = sum(counts.values()) + k * vocab_size\n"
                 "    scored = [t for chunk in valid_chunks for t in chunk[1:]]\n"
                 "    return -sum(math.log((counts[t] + k) / total) for t in scored) / len(scored)", RIGHT,
                 "The training figures below draw it as the unigram line", id="unigram: a Counter, in floats"),
    pytest.param(UNIGRAM_CHECK, UNIGRAM.format(total="counts.sum() + k * vocab_size", scored=""), WRONG,
                 "each chunk's first token scored too", id="unigram: every validation token"),
    pytest.param(UNIGRAM_CHECK, UNIGRAM.format(total="counts.sum()", scored="[:, 1:]"), WRONG,
                 "k left out of the total", id="unigram: k only on top"),
    pytest.param(UNIGRAM_CHECK, "def my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):\n"
                 "    return baselines.unigram_loss({'input_ids': train_chunks}, {'input_ids': valid_chunks},\n"
                 "                                  vocab_size)",
                 WRONG, REBUILT, id="unigram: the baseline itself"),
    pytest.param(UNIGRAM_CHECK, f"first = {UNIGRAM_RIGHT}\n\n\n"
                 "def my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):\n    return first", WRONG,
                 "Not quite with the training and validation chunks swapped", id="unigram: this run's number, kept"),
    pytest.param(UNIGRAM_CHECK, "def my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):\n    return '7.9'",
                 WRONG, "return one number", id="unigram: a str"),
    pytest.param(UNIGRAM_CHECK, "def my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):\n    return None",
                 WRONG, "Not answered yet", id="unigram: the empty answer cell"),
    pytest.param(ONE_STEP_CHECK, "my_falls_each_step = False\nfell, losses = False, [10.9, 9.7, 10.0, 8.9, 8.6]",
                 RIGHT, "You predicted False: the batch's loss went 10.90 -> 9.70 -> 10.00 -> 8.90 -> 8.60: right.",
                 id="one step: False, and a step overshot"),
    pytest.param(ONE_STEP_CHECK, "my_falls_each_step = ' Yes'\nfell, losses = True, [10.9, 9.7, 8.9]", RIGHT,
                 "You predicted True: the batch's loss went 10.90 -> 9.70 -> 8.90: right.", id="one step: 'Yes'"),
    pytest.param(ONE_STEP_CHECK, "my_falls_each_step = True\nfell, losses = False, [10.9, 11.2]", WRONG,
                 "You predicted True: the batch's loss went 10.90 -> 11.20: not this time.",
                 id="one step: True, and a step overshot"),
    pytest.param(ONE_STEP_CHECK, "my_falls_each_step = 'it depends'", WRONG,
                 "predict True or False; got 'it depends'", id="one step: neither True nor False"),
    pytest.param(ONE_STEP_CHECK, "my_falls_each_step = None", WRONG, "Not answered yet",
                 id="one step: the empty prediction cell"),
    pytest.param(CROSS_ENTROPY_CHECK, "def my_cross_entropy(logits, labels):\n"
                 "    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())",
                 WRONG, REBUILT, id="cross-entropy: cross_entropy itself"),
    pytest.param(CROSS_ENTROPY_CHECK, "def my_cross_entropy(logits, labels):\n"
                 "    return model.loss_function(logits=logits, labels=labels, vocab_size=logits.shape[-1])",
                 WRONG, REBUILT, id="cross-entropy: the model's loss_function"),
    pytest.param(CROSS_ENTROPY_CHECK, "def my_cross_entropy(logits, labels):\n"
                 "    log_p = logits[:, :-1].log_softmax(-1).flatten(0, 1)\n"
                 "    return torch.nn.functional.nll_loss(log_p, labels[:, 1:].flatten())",
                 WRONG, REBUILT, id="cross-entropy: nll_loss"),
    pytest.param(CROSS_ENTROPY_CHECK, "from torch.nn.functional import cross_entropy\n\n\n"
                 "def my_cross_entropy(logits, labels):\n"
                 "    return cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())",
                 WRONG, REBUILT, id="cross-entropy: imported under its own name"),
    pytest.param(CROSS_ENTROPY_CHECK, "def my_cross_entropy(logits, labels):\n"
                 "    return torch._C._nn.cross_entropy_loss(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())",
                 WRONG, REBUILT, id="cross-entropy: the kernel under it"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP) + "\nmy_training_loop = lambda *a: pretraining.trainer_log(*a)",
                 WRONG, "your answer calls trainer_log, the very thing this exercise rebuilds",
                 id="training loop: the Trainer's own, by its helper"),
    # the student's own GPT-2 block, then module: the library's attention kernel is fine; each slip is named
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK, RIGHT, "Correct: your MyBlock gives GPT-2's first block's output",
                 id="my block: the reference"),
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK.replace(MY_BLOCK_FORWARD, SDPA_BLOCK_FORWARD), RIGHT,
                 "Correct: your MyBlock gives GPT-2's first block's output",
                 id="my block: scaled_dot_product_attention"),
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK.replace('approximate="tanh"', 'approximate="none"'), WRONG,
                 "GPT-2 uses the tanh approximation", id="my block: the exact GELU"),
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK.replace(".triu(1), float(\"-inf\"))", ".triu(1), 0.0)"), WRONG,
                 "attends to the tokens after it", id="my block: the mask fills with 0, not -inf"),
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK.replace("math.sqrt(", "(1 + 0 * "), WRONG,
                 "not divided by the square root of the head size", id="my block: no scale"),
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK[:MY_BLOCK.index(MY_BLOCK_FORWARD)]
                 + "    def forward(self, x):\n        return x", WRONG, "Not answered yet",
                 id="my block: the skeleton"),
    pytest.param(MY_BLOCK_CHECK, MY_BLOCK[:MY_BLOCK.index(MY_BLOCK_FORWARD)]
                 + "    def forward(self, x):\n        return x[:, :1]", WRONG, "shaped like its input",
                 id="my block: the wrong shape"),
    pytest.param(MY_GPT_CHECK, MY_GPT, RIGHT, "Correct: your GPT trains as GPT-2 does", id="my gpt: the reference"),
    pytest.param(MY_GPT_CHECK, MY_GPT.replace(MY_BLOCK_FORWARD, SDPA_BLOCK_FORWARD), RIGHT,
                 "Correct: your GPT trains as GPT-2 does", id="my gpt: scaled_dot_product_attention"),
    pytest.param(MY_GPT_CHECK, MY_GPT.replace('approximate="tanh"', 'approximate="none"'), WRONG,
                 "GPT-2 uses the tanh approximation", id="my gpt: the exact GELU"),
    pytest.param(MY_GPT_CHECK, MY_GPT.replace(".triu(1), float(\"-inf\"))", ".triu(1), 0.0)"), WRONG,
                 "attends to the tokens after it", id="my gpt: the mask fills with 0, not -inf"),
    pytest.param(MY_GPT_CHECK, MY_GPT.replace("return SimpleNamespace(logits=logits, loss=loss)", "return logits"),
                 WRONG, "an object with .logits and .loss", id="my gpt: a tensor returned"),
    pytest.param(MY_GPT_CHECK, MY_GPT + "\n\n\ndef my_training_loop(*args):\n    return [], []", RIGHT,
                 "Correct: your GPT trains as GPT-2 does", id="my gpt: no training loop yet, the reference's trains"),
    # the student's own loop, run for real on bytes: the reference loop trains until the student's passed its check
    pytest.param(OWN_LOOP_RUN, "def my_training_loop(*args):\n    return [], []", WRONG,
                 "the reference loop (yours has not passed exercise 2b's check yet: run the check after your loop's "
                 "cell): validation loss at step", id="own loop run: the blank loop, the reference's run instead"),
    pytest.param(OWN_LOOP_RUN, "def my_training_loop(*args):\n    raise KeyError('step')", WRONG,
                 "the reference loop (yours has not passed", id="own loop run: a loop that raises is not run"),
    pytest.param(RECITED_VERDICT, "predicted_recited = verbatim", RIGHT, "Right: you predicted",
                 id="recitation: the count it measured"),
    pytest.param(RECITED_VERDICT, "predicted_recited = torch.tensor(float(min(verbatim + 2, 16)))", RIGHT,
                 "Right: you predicted", id="recitation: a tensor, 2 off at most"),
    pytest.param(RECITED_VERDICT, "predicted_recited = (verbatim + 8) % 17", WRONG, "Not this time: you predicted",
                 id="recitation: 8 or 9 off"),
    pytest.param(RECITED_VERDICT, "predicted_recited = 40", WRONG, "from 0 to 16; got 40", id="recitation: too many"),
    pytest.param(RECITED_VERDICT, "predicted_recited = 'all of them'", WRONG, "from 0 to 16; got 'all of them'",
                 id="recitation: words"),
    pytest.param(RECITED_VERDICT, "predicted_recited = '  '", WRONG,
                 "Write your prediction first (in predicted_recited", id="recitation: blank"),
    pytest.param(UNTRAINED_CHECK, "predicted_untrained_loss = round(untrained_loss, 1)", RIGHT, "close.",
                 id="untrained loss: the measured loss, rounded"),
    pytest.param(UNTRAINED_CHECK, "predicted_untrained_loss = torch.tensor(uniform)", RIGHT, "close.",
                 id="untrained loss: ln V, as a tensor"),
    pytest.param(UNTRAINED_CHECK, "predicted_untrained_loss = 0", WRONG, "too low. Random weights know nothing yet",
                 id="untrained loss: a perfect model"),
    pytest.param(UNTRAINED_CHECK, "predicted_untrained_loss = uniform * 3", WRONG, "too high.",
                 id="untrained loss: far above ln V"),
    pytest.param(UNTRAINED_CHECK, "predicted_untrained_loss = 'about ten'", WRONG,
                 "Answer with a number of nats, e.g. 5.0 (got 'about ten')", id="untrained loss: words"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = 5.0\npredicted_final_valid_loss = 7.0", RIGHT,
                 "you predicted 5.00", id="losses: numbers"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = final_train + 0.3\npredicted_final_valid_loss = 7.0",
                 RIGHT, "(close: right).", id="losses: 0.3 nats over a training loss of some nats is close"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = final_train * 3\npredicted_final_valid_loss = 7.0",
                 WRONG, "(off by a factor of 3.0: not this time)",
                 id="losses: three times the training loss is off, however small"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = -0.2\npredicted_final_valid_loss = 7.0",
                 WRONG, "(a cross-entropy loss is above 0)", id="losses: a negative loss"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = torch.tensor(0.1)\npredicted_final_valid_loss = '7'",
                 RIGHT, "predict it as a finite number of nats (got '7')", id="losses: a tensor and a str"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss = predicted_final_valid_loss = [1, 2]", WRONG,
                 "predict it as a finite number of nats", id="losses: lists"),
    pytest.param(LOSSES_CHECK, "predicted_final_train_loss, predicted_final_valid_loss = float('nan'), float('inf')",
                 WRONG, "final validation loss: measured", id="losses: nan and inf, no 'off by nan'"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = ' Falls then rises '", RIGHT,
                 "you predicted 'falls then rises'", id="losses: the shape, capitalised, in spaces"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = 'It goes down, then back up.'", RIGHT,
                 "you predicted 'it goes down then back up' (read as 'falls then rises')",
                 id="losses: the shape in other words"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = 3", WRONG, "you predicted 3: no shape read: say how it moves",
                 id="losses: the shape, a number"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = 'a banana'", WRONG, "no shape read",
                 id="losses: no move named"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = 'falls ' * 200_000", WRONG,
                 "you predicted 'falls falls falls falls falls falls falls falls falls fa... (read as 'falls')",
                 id="losses: a megabyte of shape, shown short"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = 'rises then falls'", RIGHT,
                 "The original tutorial, 27,400 steps of GPT-2 124M: train loss 0.017",
                 id="losses: all three predicted, the original's figures revealed"),
    pytest.param(LOSSES_CHECK, "predicted_valid_shape = '  '", WRONG, "Write your prediction first",
                 id="losses: a blank shape, nothing revealed"),
    pytest.param(CROSS_ENTROPY_CHECK, solution(NOTEBOOK, CROSS_ENTROPY_ANSWER), RIGHT, "Correct:",
                 id="cross-entropy: the reference solution"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    z, y = logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()\n"
                 "    z, y = z[y != -100], y[y != -100]\n"
                 "    return (z.logsumexp(-1) - z[torch.arange(len(y)), y]).mean()",
                 RIGHT, "Correct:", id="cross-entropy: logsumexp minus the true logit"),
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
                 NLL + "def my_cross_entropy(logits, labels):\n"
                 "    return nll(logits.flatten(0, 1), labels.flatten()).mean()", WRONG,
                 "with no shift", id="cross-entropy: not shifted"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    logits, targets = logits[:, :-1], labels[:, 1:]\n"
                 "    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])\n"
                 "    return -log_p.mean()", WRONG, "the positions labelled -100 are scored too",
                 id="cross-entropy: the -100 positions scored"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 NLL + "def my_cross_entropy(logits, labels):\n"
                 "    return nll(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()).sum()",
                 WRONG, "a sum, not a mean", id="cross-entropy: summed"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 NLL + "def my_cross_entropy(logits, labels):\n"
                 "    return nll(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()).mean() / math.log(2)",
                 WRONG, "log base 2", id="cross-entropy: in bits"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    logits, targets = logits[:, :-1], labels[:, 1:]\n"
                 "    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])\n"
                 "    return -log_p[..., 0][targets != -100]", WRONG,
                 "average over the scored positions", id="cross-entropy: not averaged"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    logits, targets = logits[:, :-1], labels[:, 1:]\n"
                 "    log_p = logits.log_softmax(-1).gather(-1, targets[..., None])[..., 0]\n"
                 "    return -log_p[targets != -100].mean()", WRONG, "your code used the label -100 as a token id",
                 id="cross-entropy: -100 used as an index"),
    pytest.param(CROSS_ENTROPY_CHECK,
                 "def my_cross_entropy(logits, labels):\n"
                 "    z, y = logits[:, :-1], labels[:, 1:]\n"
                 "    return -z.log_softmax(-1)[y != -100].mean()", WRONG, "Not quite: on ",
                 id="cross-entropy: every entry's -ln p, not the true token's (near the loss on flat scores)"),
    pytest.param(CROSS_ENTROPY_CHECK, "def my_cross_entropy(logits, labels):\n    return 'low'", WRONG,
                 "Not quite: on the model's scores, 'low'", id="cross-entropy: a str"),
    pytest.param(LOOP_CHECK, solution(NOTEBOOK, LOOP_ANSWER), RIGHT, "Correct:",
                 id="training loop: the reference solution"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(
        before="optimizer.zero_grad()", after="scheduler.step()", mean="torch.tensor(losses).mean()")), RIGHT,
                 "Correct:", id="training loop: zero_grad first, a tensor mean"),
    pytest.param(LOOP_CHECK,
                 "def evaluate(model, eval_batches):\n"
                 "    model.eval()\n"
                 "    with torch.no_grad():\n"
                 "        mean = sum(my_cross_entropy(model(**b).logits, b['labels']) for b in eval_batches) / 2\n"
                 "    model.train()\n"
                 "    return mean\n"
                 "def my_training_loop(model, batches, eval_batches, optimizer, warmup_steps, eval_every, clip):\n"
                 "    schedule = transformers.get_cosine_schedule_with_warmup(optimizer, warmup_steps, len(batches))\n"
                 "    losses, evaluations = [], []\n"
                 "    for i in range(len(batches)):\n"
                 "        loss = my_cross_entropy(model(**batches[i]).logits, batches[i]['labels'])\n"
                 "        loss.backward()\n"
                 "        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n"
                 "        optimizer.step(); schedule.step(); model.zero_grad()\n"
                 "        losses.append(float(loss))\n"
                 "        if (i + 1) % eval_every == 0:\n"
                 "            evaluations.append([i + 1, float(evaluate(model, eval_batches))])\n"
                 "    return losses, evaluations", RIGHT, "Correct:",
                 id="training loop: its own loss, the warm-up schedule's own function, lists"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(clip="pass")), WRONG,
                 "there is no gradient clipping", id="training loop: no clipping"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(before="scheduler.step()",
                                                             after="optimizer.zero_grad()")), WRONG,
                 "the first step already moved the weights", id="training loop: the schedule one step ahead"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(after="optimizer.zero_grad()")), WRONG,
                 "the weights never change", id="training loop: the schedule never stepped"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(after="optimizer.zero_grad()")).replace(
        'scheduler = transformers.get_scheduler("cosine", optimizer, num_warmup_steps=warmup_steps,\n'
        '                                           num_training_steps=len(batches))', "pass"), WRONG,
                 "the learning rate never changes", id="training loop: no schedule"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(after="scheduler.step()")), WRONG,
                 "zero the gradients once per batch too", id="training loop: no zero_grad, the gradients add up"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP | dict(mean="sum(losses)")), WRONG,
                 "Not quite, the validation losses", id="training loop: the evaluation sums the losses"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP).replace("step % eval_every == 0", "step % eval_every == 1"),
                 WRONG, "you evaluated after steps [1, 4]", id="training loop: evaluated at the wrong steps"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP).replace("return train_losses, evaluations",
                                                                "return train_losses"), WRONG,
                 "return (train_losses, evaluations)", id="training loop: only the losses returned"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP).replace("with torch.no_grad():", "if True:"), WRONG,
                 "your evaluation runs with gradients on", id="training loop: evaluation without no_grad"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP).replace("    model.eval()\n", ""), WRONG,
                 "your evaluation runs in train mode", id="training loop: evaluation in train mode"),
    pytest.param(LOOP_CHECK, LOOP.format(**RIGHT_LOOP).replace("    model.train()\n    return", "    return"), WRONG,
                 "goes on training in eval mode", id="training loop: no model.train() after evaluating"),
    pytest.param(LOOP_CHECK, "def my_training_loop(*args):\n    return 'fine'", WRONG, "Not quite",
                 id="training loop: a str"),
    pytest.param(LOOP_CHECK, "def my_training_loop(*args):\n    return [], []", WRONG, "Not answered yet",
                 id="training loop: the empty skeleton"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = math.exp(best_loss)\nmy_uniform_perplexity = len(tokenizer)",
                 RIGHT, "Correct:", id="perplexity: math.exp, the vocabulary's size"),
    pytest.param(PERPLEXITY_CHECK,
                 "my_perplexity = torch.tensor(best_loss).exp()\n"
                 "my_uniform_perplexity = math.exp(math.log(50257))", RIGHT, "Correct:",
                 id="perplexity: a tensor, e^ln V"),
    pytest.param(PERPLEXITY_CHECK,
                 "my_perplexity = math.exp(round(best_loss, 2))\nmy_uniform_perplexity = len(tokenizer)", RIGHT,
                 "Correct:", id="perplexity: from the printed, rounded loss"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = math.exp(best_loss)\n"
                 "my_uniform_perplexity = math.exp(round(math.log(len(tokenizer)), 2))", RIGHT, "Correct:",
                 id="perplexity: the uniform one from the printed, rounded ln V"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = best_loss\nmy_uniform_perplexity = len(tokenizer)", WRONG,
                 "is the loss itself", id="perplexity: the loss itself"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = math.exp(final_train)\nmy_uniform_perplexity = len(tokenizer)",
                 WRONG, "is not e^", id="perplexity: of the training loss, not the validation minimum"),
    pytest.param(PERPLEXITY_CHECK,
                 "my_perplexity = math.exp(best_loss)\n"
                 "my_uniform_perplexity = math.log(len(tokenizer))", WRONG,
                 "a uniform guess over", id="perplexity: a uniform guess's loss, not its perplexity"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = 'big'\nmy_uniform_perplexity = len(tokenizer)", WRONG,
                 "is not e^", id="perplexity: a str"),
    pytest.param(PERPLEXITY_CHECK, "my_perplexity = [1.0]\nmy_uniform_perplexity = {'V': 1}", WRONG,
                 "Not quite: [1.0] is not e^", id="perplexity: a list and a dict"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(model, ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        return (model(x).logits[0, :-1].argmax(-1) == x[0, 1:]).float().mean().item()",
                 RIGHT, "Correct:", id="accuracy: tensors"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(model, ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        guesses = model(x).logits[0].argmax(-1).tolist()\n"
                 "    return sum(g == t for g, t in zip(guesses, ids[1:])) / (len(ids) - 1)", RIGHT,
                 "Correct:", id="accuracy: lists"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(model, ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        return (model(x).logits[0].argmax(-1) == x[0]).float().mean().item()",
                 WRONG, "Not quite", id="accuracy: each guess against the token it was given"),
    pytest.param(ACCURACY_CHECK,
                 "def next_token_accuracy(model, ids):\n"
                 "    x = torch.tensor([ids])\n"
                 "    with torch.no_grad():\n"
                 "        return 100 * (model(x).logits[0, :-1].argmax(-1) == x[0, 1:]).float().mean().item() + 1e-9",
                 WRONG, "are percentages; return the fraction, 0 to 1", id="accuracy: a percentage"),
    pytest.param(ACCURACY_CHECK, "from utils.training_checks import top1_accuracy\n"
                 "def next_token_accuracy(model, ids): return top1_accuracy(model, ids)", WRONG,
                 "the very thing this exercise rebuilds", id="accuracy: the check's own helper"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(model, ids): return [0.5]", WRONG,
                 "Not quite: [0.5] and [0.5]", id="accuracy: a list"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(ids): return 0.5", WRONG,
                 "your code raised TypeError: next_token_accuracy() takes 1 positional argument but 2 were given",
                 id="accuracy: without the model argument"),
    pytest.param(ACCURACY_CHECK, "next_token_accuracy = 0.5", WRONG,
                 "your code raised TypeError: 'float' object is not callable", id="accuracy: not a function"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(model, ids): return torch.tensor([0.5, 0.5])", WRONG,
                 "Not quite: a tensor of shape (2,) and a tensor of shape (2,)", id="accuracy: a tensor of two"),
    pytest.param(ACCURACY_CHECK, "def next_token_accuracy(model, ids): return '0.5'", WRONG,
                 "Not quite: '0.5' and '0.5'", id="accuracy: a str"),
    pytest.param(MORE_DATA_CHECK, f"more_data_beats_count = {MEASURED_UNDER}", RIGHT, "Right: you predicted",
                 id="more data: as measured"),
    pytest.param(MORE_DATA_CHECK, f"more_data_beats_count = str({MEASURED_UNDER}).lower()", RIGHT,
                 "Right: you predicted", id="more data: as measured, in words"),
    pytest.param(MORE_DATA_CHECK, f"more_data_beats_count = torch.tensor({MEASURED_UNDER})", RIGHT,
                 "Right: you predicted", id="more data: as measured, a one-value tensor"),
    pytest.param(MORE_DATA_CHECK, f"more_data_beats_count = not ({MEASURED_UNDER})", WRONG, "Not this time",
                 id="more data: the other way"),
    pytest.param(MORE_DATA_CHECK, "more_data_beats_count = 1.0", WRONG, "Answer True or False (got 1)",
                 id="more data: a number, not True or False"),
    pytest.param(MORE_DATA_CHECK, "more_data_beats_count = True\nmore_data_run = None", WRONG,
                 "Run the training cell above first", id="more data: predicted, the run not trained"),
    pytest.param(MORE_DATA_CHECK, "more_data_beats_count = None", WRONG, "Not answered yet",
                 id="more data: no prediction"),
    pytest.param(DROPOUT_CHECK, f"dropout_train_loss = {MEASURED_DROPOUT}", RIGHT, "Right: you predicted",
                 id="dropout: the measured loss"),
    pytest.param(DROPOUT_CHECK, f"dropout_train_loss = torch.tensor({MEASURED_DROPOUT} - 0.04)", RIGHT,
                 "Right: you predicted", id="dropout: a tensor close to the measured loss"),
    pytest.param(DROPOUT_CHECK, f"dropout_train_loss = {MEASURED_DROPOUT} + 3 * max(0.05, abs({MEASURED_DROPOUT} - "
                 "final_train))", WRONG, "Not this time", id="dropout: three margins past the measured loss"),
    pytest.param(DROPOUT_CHECK, "dropout_train_loss = 'higher'", WRONG, "Answer with a number of nats (got 'higher')",
                 id="dropout: a direction, not a number"),
    pytest.param(DROPOUT_CHECK, "dropout_train_loss = [1.0]", WRONG, "Answer with a number of nats (got [1.0])",
                 id="dropout: a list"),
    pytest.param(DROPOUT_CHECK, f"dropout_still_rises = {ROSE}", RIGHT, ": right.", id="dropout: the rise it measured"),
    pytest.param(DROPOUT_CHECK, f"dropout_still_rises = 'yes' if {ROSE} else 'no'", RIGHT, ": right.",
                 id="dropout: the rise, in words"),
    pytest.param(DROPOUT_CHECK, f"dropout_still_rises = not {ROSE}", WRONG, ": not this time.",
                 id="dropout: the rise the other way"),
    pytest.param(DROPOUT_CHECK, "dropout_still_rises = 0.3", WRONG, "Still rising: predict it as True or False",
                 id="dropout: the rise as a number"),
    pytest.param(DROPOUT_CHECK, "dropout_still_rises = None", WRONG, "Not answered yet",
                 id="dropout: no rise predicted"),
    pytest.param(BYTE_RUN_CHECK, "predicted_under_bigram = bool(last < bigram)", RIGHT, "by article): right.",
                 id="byte run: what it measured"),
    pytest.param(BYTE_RUN_CHECK, "predicted_under_bigram = ' Yes.' if last < bigram else 'no'", RIGHT,
                 "by article): right.", id="byte run: in words"),
    pytest.param(BYTE_RUN_CHECK, "predicted_under_bigram = torch.tensor(not last < bigram)", WRONG,
                 "by article): not this time.", id="byte run: the other way, as a torch bool"),
    pytest.param(BYTE_RUN_CHECK, "predicted_under_bigram = 7.5", WRONG, "predict it as True or False; got 7.5",
                 id="byte run: a number"),
    # each case sets the loop's evaluations itself: the own-loop run's cases above re-run it with blank loops
    pytest.param(OWN_LOOP_CHECK, "my_loop_under_unigram = False\nown_evaluations = [(4, unigram + 0.5)]", RIGHT,
                 "You predicted False: the loop's model ended at", id="own loop: no"),
    pytest.param(OWN_LOOP_CHECK, "my_loop_under_unigram = ' Yes'\nown_evaluations = [(2, 5.0), (4, unigram - 0.5)]",
                 RIGHT, "You predicted True: the loop's model ended at", id="own loop: yes, in words"),
    pytest.param(OWN_LOOP_CHECK, "my_loop_under_unigram = False\nown_evaluations = [(4, unigram - 0.01)]", WRONG,
                 "not this time.", id="own loop: no, but it got under"),
    pytest.param(OWN_LOOP_CHECK, "my_loop_under_unigram = 2.5\nown_evaluations = [(4, 3.0)]", WRONG,
                 "predict True or False; got 2.5", id="own loop: a number"),
    pytest.param(OWN_LOOP_CHECK, "my_loop_under_unigram = None\nown_evaluations = [(4, 3.0)]", WRONG,
                 "Not answered yet", id="own loop: not answered"),
    pytest.param(OWN_LOOP_CHECK, "my_loop_under_unigram = True\ndel own_evaluations", WRONG,
                 "Run the cells above this one first", id="own loop: the training cell not run"),
]


(test_the_exercise_cells_are_where_the_ids_say, test_the_reference_solution_passes_its_check,
 test_the_check_gives_its_verdict, executed) = exercise_tests(NOTEBOOK, EXERCISES, CASES)


def test_the_byte_loop_trains_the_student_s_loop_once_its_check_passed_it_and_until_it_is_defined_again(executed):
    executed.run(executed.references)
    executed.run(LOOP.format(**RIGHT_LOOP))
    assert "the reference loop (yours has not passed" in executed.run(executed.cell(OWN_LOOP_RUN).source)
    assert "Correct: your loop is the Trainer's" in executed.run(executed.cell(LOOP_CHECK).source)
    said = executed.run(executed.cell(OWN_LOOP_RUN).source)
    assert "your loop: validation loss at step" in said and "reference" not in said, said
    slipped = LOOP.format(**RIGHT_LOOP | {"clip": "pass"})  # no clipping: it returns losses, and they are wrong
    executed.run(slipped)
    assert "Not quite" in executed.run(executed.cell(LOOP_CHECK).source)
    assert "the reference loop (yours has not passed" in executed.run(executed.cell(OWN_LOOP_RUN).source)
    executed.run(executed.references)


def test_the_byte_loop_trains_the_student_s_mygpt_once_it_computes_gpt2_s_logits(executed):
    executed.run(executed.references)
    said = executed.run(executed.cell(OWN_LOOP_RUN).source)
    assert "The loop trains your MyGPT (exercise 7)" in said and "After training it continues '" in said, said
    given = nbformat.read(NOTEBOOKS / NOTEBOOK, as_version=4).cells[executed.index[MY_GPT_ANSWER]].source
    executed.run(given)  # the class as the notebook gives it: no logits yet
    said = executed.run(executed.cell(OWN_LOOP_RUN).source)
    assert "The loop trains the reference MyGPT (yours is not written yet" in said, said
    executed.run(executed.references)


def test_appendix_b_names_the_runs_missing_from_the_kernel_and_draws_nothing(executed):
    executed.run("_kept = byte_numbers, more_data_run\ndel byte_numbers, more_data_run")
    try:
        said = executed.run(executed.cell("b1e2c3d5").source)
        assert said.startswith("Not in this kernel yet: more_data_run, byte_numbers. Run the cells above"), said
        said = executed.run(executed.cell("e7f9a1b3").source)
        assert said == "Not in this kernel yet: byte_numbers. Run the byte run's cells above first.\n", said
    finally:
        executed.run("byte_numbers, more_data_run = _kept")


def test_the_five_steps_show_nothing_before_their_prediction_and_every_step_after(executed):
    executed.run(executed.references)
    executed.run("my_falls_each_step = None")
    said = executed.run(executed.cell("9e1d2c32").source)
    assert said == "Write your prediction first (in my_falls_each_step, above), then run this cell again.\n"
    executed.run("my_falls_each_step = 'no'")
    lines = executed.run(executed.cell("9e1d2c32").source).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"step {n}" for n in range(1, 6)] + ["after step 5"], lines
    executed.run(executed.references)


def test_session_2_starts_from_the_cells_above_the_heading_the_break_names_and_the_saved_first_run(executed):
    """The Break's advice, followed in an emptied kernel: every code cell above the heading it names, then every cell
    from the Break on. The first run is reloaded from what session 1 saved, not trained again, and the rest of the
    notebook runs on it: the first run's numbers come back the same."""
    nb = executed.nb
    at = executed.index["b0a1c2d2"]
    said = " ".join(nb.cells[at].source.split())
    heading = re.search(r"Select the heading \*(.+?)\* and run every cell above it", said)
    assert heading, nb.cells[at].source
    above = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
                 and cell.source.startswith(f"## {heading[1]}"))  # the heading that begins with the name it gives
    assert above < executed.index["c25"] < at  # the first run's training cell: below the heading, above the Break
    assert nb.cells[above].id == "3624f326"
    before = executed.run("print(best_loss, final_valid, final_train, len(history))")
    executed.run("%reset -f")
    executed.run("__spec__ = None")  # as a fresh kernel's __main__ has it (multiprocessing's spawn reads it)
    assert executed.run("print('model' in globals())") == "False\n"
    for i, cell in [*enumerate(nb.cells[:above]), *enumerate(nb.cells[at:-1], start=at)]:
        if cell.cell_type == "code":
            executed.client.execute_cell(cell, i)
            assert not [o for o in cell.outputs if o.output_type == "error"], (cell.id, cell.outputs)
    assert executed.run("print(best_loss, final_valid, final_train, len(history))") == before
    assert "the first run, reloaded: validation loss lowest" in stdout_of(executed.cell("b0a1c2d6"))
