"""Reference solutions to notebook 3's exercises (for instructors; ``make solutions`` checks them).

``SOLUTIONS``: the answer cell's nbformat id -> (the code that goes into it, text its check cell then prints).
How the code is written, and turned into a cell: see ``__init__.py``.
"""

import math
from typing import TYPE_CHECKING

import torch
import transformers

from . import body, cell

if TYPE_CHECKING:  # what the notebook has defined when its answer cells run
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerBase

    model: GPT2LMHeadModel = ...  # the model the notebook trained
    tokenizer: PreTrainedTokenizerBase = ...
    best_loss: float = ...  # the first run's lowest validation loss


def my_cross_entropy(logits, labels):
    logits, targets = logits[:, :-1], labels[:, 1:]  # position t predicts token t + 1
    scored = targets != -100
    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return -log_p[scored].mean()


def evaluate(model, eval_batches):
    model.eval()  # no dropout (ours has none, but GPT-2's had)
    with torch.no_grad():  # no gradients needed: nothing is learnt here
        losses = [model(**batch).loss.item() for batch in eval_batches]
    model.train()
    return sum(losses) / len(losses)


def my_training_loop(model, batches, eval_batches, optimizer, warmup_steps, eval_every, max_grad_norm):
    scheduler = transformers.get_scheduler("cosine", optimizer, num_warmup_steps=warmup_steps,
                                           num_training_steps=len(batches))
    train_losses, evaluations = [], []
    model.train()
    for step, batch in enumerate(batches, start=1):
        loss = model(**batch).loss  # the mean cross-entropy of exercise 1
        loss.backward()  # the gradient of the loss for every weight
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)  # at most max_grad_norm long, all together
        optimizer.step()  # AdamW moves every weight against its gradient
        scheduler.step()  # the learning rate of the next step
        optimizer.zero_grad()  # gradients add up otherwise
        train_losses.append(loss.item())
        if step % eval_every == 0:
            evaluations.append((step, evaluate(model, eval_batches)))
    return train_losses, evaluations


def my_lr(step, warmup_steps, total_steps, peak):
    if step < warmup_steps:
        return peak * step / warmup_steps  # 0 at step 0, the peak one step after the last warm-up step
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)  # 0 when the warm-up ends, 1 at the end
    return peak * 0.5 * (1 + math.cos(math.pi * progress))  # half a cosine wave, from the peak down to 0


def predict_the_losses():
    global predicted_final_train_loss, predicted_final_valid_loss, predicted_valid_shape, predicted_recited
    predicted_final_train_loss = 0.1  # forty passes over a few thousand tokens: nearly all of it fitted
    predicted_final_valid_loss = 10.5  # new articles: past the minimum, back near the uniform guess, 10.8
    predicted_valid_shape = "falls then rises"  # it learns common tokens first, then fits only its own text
    predicted_recited = 16  # a text fitted this closely comes back whole


def perplexity():
    global my_perplexity, my_uniform_perplexity
    my_perplexity = math.exp(best_loss)  # e to the loss
    my_uniform_perplexity = len(tokenizer)  # e^(ln V) = V


def next_token_accuracy(ids):
    x = torch.tensor([ids], device=model.device)
    with torch.no_grad():
        guesses = model(x).logits[0, :-1].argmax(-1)
    return (guesses == x[0, 1:]).float().mean().item()


def dropout():
    global dropout_train_loss
    dropout_train_loss = 0.3  # the masks keep it from fitting as exactly: higher than without


def second_run():
    global predicted_under_bigram
    predicted_under_bigram = True  # the model reads the whole chunk before each byte, a count of pairs one byte


def more_data():
    global more_data_gap
    more_data_gap = 0.3  # each chunk is new when it trains on it: the two losses stay close


SOLUTIONS = {
    "c42": (cell(my_cross_entropy), "Correct:"),
    "8dcb9a81": (cell(evaluate, my_training_loop), "Correct:"),
    "a2b5c0d3": (cell(my_lr), "Correct:"),
    "749fa142": (body(predict_the_losses), "you predicted 0.10"),
    "cbea3b5c": (body(perplexity), "Correct:"),
    "c45": (cell(next_token_accuracy), "Correct:"),
    "c51": (body(dropout), "you predicted 0.30"),  # right or not: whatever the smoke run measures
    "c48": (body(more_data), "you predicted a gap of 0.30"),  # right or not: whatever the smoke run measures
    "b7e31c02": (body(second_run), "You predicted True"),  # right or not: whatever the smoke run measures
}
