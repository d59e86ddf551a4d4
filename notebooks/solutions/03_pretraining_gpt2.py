"""Reference solutions to notebook 3's exercises (for instructors; ``make solutions`` checks them).

``SOLUTIONS``: the answer cell's nbformat id -> (the code that goes into it, text its check cell then prints).
How the code is written, and turned into a cell: see ``__init__.py``.
"""

import math
from types import SimpleNamespace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
import transformers
from torch import nn

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


def my_unigram_loss(train_chunks, valid_chunks, vocab_size, k):
    counts = torch.bincount(torch.tensor(train_chunks).flatten(), minlength=vocab_size)
    p = (counts + k) / (counts.sum() + k * vocab_size)  # every token's probability, none 0, adding up to 1
    targets = torch.tensor(valid_chunks)[:, 1:]  # the tokens a model predicts: all but each chunk's first
    return -p.log()[targets].mean()


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


# The reference predictions (here and below) are a first-time student's, written before any run: the result
# slides show where a reasonable guess goes wrong, not a guess fitted to the answer.
def predict_the_untrained_loss():
    global predicted_untrained_loss
    predicted_untrained_loss = 10.8  # knowing nothing, about a uniform guess: ln 50,257


def predict_each_step_falls():
    global my_falls_each_step
    my_falls_each_step = True  # each step follows this very batch's gradient downhill


def predict_the_losses():
    global predicted_final_train_loss, predicted_final_valid_loss, predicted_valid_shape, predicted_recited
    predicted_final_train_loss = 1.0  # forty epochs fit most of the text, but a small model misses some tokens
    predicted_final_valid_loss = 6.0  # new articles are harder than the training text, but English is English
    predicted_valid_shape = "falls"  # the longer it trains, the better it should do on any text
    predicted_recited = 8  # a two-layer model keeps the gist of its text, not every token


def perplexity():
    global my_perplexity, my_uniform_perplexity
    my_perplexity = math.exp(best_loss)  # e to the loss
    my_uniform_perplexity = len(tokenizer)  # e^(ln V) = V


def next_token_accuracy(model, ids):
    x = torch.tensor([ids], device=model.device)
    with torch.no_grad():
        guesses = model(x).logits[0, :-1].argmax(-1)
    return (guesses == x[0, 1:]).float().mean().item()


def dropout():
    global dropout_train_loss, dropout_still_rises
    dropout_train_loss = 0.2  # the masks add noise while it trains: a little higher than without
    dropout_still_rises = False  # dropout is there to stop overfitting


def byte_run():
    global predicted_under_bigram
    predicted_under_bigram = False  # one epoch in a few minutes: a count of every pair in the text is hard to beat


def more_data():
    global more_data_beats_count
    more_data_beats_count = True  # nothing to memorise: it learns common tokens first, then a little of what follows


def own_loop():
    global my_loop_under_unigram
    my_loop_under_unigram = False  # a first guess: a hundred steps on a few articles seem too few to learn context


class MyBlock(nn.Module):
    """One GPT-2 block: notebook 2's layer, as a module with weights of its own."""

    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.qkv = nn.Linear(n_embd, 3 * n_embd)  # every head's q, k and v, side by side
        self.proj = nn.Linear(n_embd, n_embd)  # the heads' outputs, back into the residual stream
        self.up, self.down = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)  # the MLP

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)  # (batch, head, token, d / n_head)
                   for z in self.qkv(self.ln_1(x)).split(d, dim=-1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.n_head)
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        heads = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)  # the heads, side by side again
        x = x + self.proj(heads)  # attention reads the normed stream and adds to it
        return x + self.down(F.gelu(self.up(self.ln_2(x)), approximate="tanh"))  # so does the MLP


class MyGPT(nn.Module):
    """GPT-2: embeddings, blocks, a final norm, and the token embedding reused as the output layer."""

    def __init__(self, vocab_size, n_positions, n_embd, n_layer, n_head):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(n_positions, n_embd)
        self.blocks = nn.ModuleList(MyBlock(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)

    def forward(self, input_ids, labels=None, **ignored):
        x = self.wte(input_ids) + self.wpe(torch.arange(input_ids.shape[1], device=input_ids.device))
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # tied: the output layer is the embedding matrix
        loss = None if labels is None or logits is None else F.cross_entropy(
            logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())  # exercise 1's loss, the library's form
        return SimpleNamespace(logits=logits, loss=loss)


# exercise 7's first answer cell (MyBlock) starts with what both its classes use
MY_GPT_IMPORTS = """import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn


"""

SOLUTIONS = {
    "90cef26c": (body(predict_the_untrained_loss), "You predicted 10.80; random weights scored"),
    "c42": (cell(my_cross_entropy), "Correct:"),
    "fc17408b": (cell(my_unigram_loss), "Correct:"),
    "9e1d2c35": (body(predict_each_step_falls), "You predicted True: the batch's loss went"),  # whatever it measures
    "a2b5c0d3": (cell(my_lr), "Correct:"),
    "8dcb9a81": (cell(evaluate, my_training_loop), "Correct:"),
    "749fa142": (body(predict_the_losses), "you predicted 1.00"),
    "cbea3b5c": (body(perplexity), "Correct:"),
    "c45": (cell(next_token_accuracy), "Correct:"),
    "c51": (body(dropout), "you predicted 0.20"),  # right or not: whatever the smoke run measures
    "c48": (body(more_data), "you predicted True"),  # right or not: whatever the smoke run measures
    "0a2c4e70": (body(own_loop), "You predicted False: the loop's model ended at"),  # whatever the smoke run measures
    "e7a1c3f5": (MY_GPT_IMPORTS + cell(MyBlock), "Correct: your MyBlock gives GPT-2's first block's output"),
    "e7a1c3fc": (cell(MyGPT), "Correct: your GPT trains as GPT-2 does"),
    "b7e31c02": (body(byte_run), "You predicted False"),  # right or not: whatever the smoke run measures
}
