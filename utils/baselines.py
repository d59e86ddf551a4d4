"""The lines a language model's validation loss is read against: models that only count, and the model's own
probability for each true next token, so the notebook can set one beside the other position by position. The
scores are over every validation token a model predicts: all but each chunk's first (chunks x positions - 1)."""

from __future__ import annotations

import math

import torch

from utils.support.allocator import release_freed_memory

ADD_K = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # the constants ``add_k`` chooses from


def _add_k_unigram(tokens: torch.Tensor, vocab_size: int, k: float) -> torch.Tensor:
    """Each token's probability under the unigram model of ``tokens``: its count plus ``k``, over the total."""
    counts = torch.bincount(tokens, minlength=vocab_size)
    return (counts + k) / (counts.sum() + k * vocab_size)


def _rows(chunks) -> torch.Tensor:
    return torch.tensor(list(chunks["input_ids"]))


def add_k(train_chunks, vocab_size: int) -> float:
    """The constant of ``ADD_K`` that a unigram model adds to every count: the one whose counts of half the training
    chunks (every other chunk) best predict the other half, both ways round. Training text only: the validation
    text plays no part in its own baseline. One chunk alone has no half to hold out: 1 (add-one)."""
    return _add_k(_rows(train_chunks), vocab_size)


def _add_k(rows: torch.Tensor, vocab_size: int) -> float:
    if len(rows) < 2:
        return 1.0
    halves = rows[0::2].flatten(), rows[1::2].flatten()

    def held_out(k: float) -> float:
        return sum(_add_k_unigram(a, vocab_size, k).log()[b].mean().item() for a, b in (halves, halves[::-1]))

    return max(ADD_K, key=held_out)


def unigram_probabilities(train_chunks, vocab_size: int) -> torch.Tensor:
    """Every token's probability under the unigram model of the training chunks: its count plus ``add_k``'s
    constant, over the total, so that no token is impossible."""
    return _unigram(_rows(train_chunks), vocab_size)


def _unigram(rows: torch.Tensor, vocab_size: int) -> torch.Tensor:
    return _add_k_unigram(rows.flatten(), vocab_size, _add_k(rows, vocab_size))


def bigram_probabilities(train_chunks, valid_chunks, vocab_size: int) -> torch.Tensor:
    """The probability a bigram model gives each validation token after the one before it (chunks x positions - 1,
    the targets of ``unigram_loss``). Witten-Bell smoothing: the pair's count in the training chunks, plus the
    unigram model's probability times the number of different tokens seen after the previous one, over the previous
    token's count plus that number. A token followed by many different ones leans on the unigram; one always
    followed by the same token, on its pairs; after a token never seen in training, the unigram alone."""
    valid = _rows(valid_chunks)
    return _bigram(train_chunks, valid[:, :-1], valid[:, 1:], vocab_size)


def _bigram(train_chunks, previous_ids, next_ids, vocab_size: int) -> torch.Tensor:
    """``bigram_probabilities`` of each token of ``next_ids`` after the one at the same place in ``previous_ids``."""
    train = _rows(train_chunks)
    pairs, pair_counts = torch.unique(train[:, :-1] * vocab_size + train[:, 1:], return_counts=True)
    previous = torch.bincount(train[:, :-1].flatten(), minlength=vocab_size)
    followers = torch.bincount(pairs // vocab_size, minlength=vocab_size)  # different tokens seen after each
    unigram = _unigram(train, vocab_size)[next_ids]  # from the rows already read
    wanted = previous_ids * vocab_size + next_ids
    at = torch.searchsorted(pairs, wanted).clamp(max=len(pairs) - 1)
    seen = torch.where(pairs[at] == wanted, pair_counts[at], 0)
    before, kinds = previous[previous_ids], followers[previous_ids]
    return torch.where(before > 0, (seen + kinds * unigram) / (before + kinds).clamp(min=1), unigram)


def bigram_loss(train_chunks, valid_chunks, vocab_size: int) -> float:
    """The validation loss (nats) of the bigram model of ``bigram_probabilities``."""
    return -bigram_probabilities(train_chunks, valid_chunks, vocab_size).log().mean().item()


@torch.no_grad()
def true_token_log_probs(model, chunks) -> torch.Tensor:
    """ln p the model gives each true next token of each chunk (chunks x positions - 1, like ``unigram_loss``'s
    targets), one chunk at a time (a chunk's logits are context x vocabulary numbers). The memory they took goes
    back to the OS afterwards: the kernel stays open."""
    model.eval()
    rows = []
    for ids in chunks["input_ids"]:
        x = torch.tensor([ids], device=model.device)
        log_probs = model(x).logits[0, :-1].float().log_softmax(-1)
        rows.append(log_probs.gather(-1, x[0, 1:, None])[:, 0].cpu())
    release_freed_memory()
    return torch.stack(rows)


def unigram_loss(train_chunks, valid_chunks, vocab_size: int) -> float:
    """The validation loss (nats) of the unigram model (``unigram_probabilities``), scored on every validation token
    a model predicts (all but each chunk's first)."""
    targets = torch.tensor([ids[1:] for ids in valid_chunks["input_ids"]])
    return -unigram_probabilities(train_chunks, vocab_size).log()[targets].mean().item()


def error_by_article(learnt: torch.Tensor, reference: torch.Tensor, sources: list) -> tuple[float, int]:
    """One standard error of the mean margin of a model's ln p (``learnt``) over a reference model's (``reference``,
    the same chunks x positions), by article: chunks of one article are alike, so each article (``sources``, one
    per chunk) counts as one sample, its chunks' deviations from the mean margin summed. Returns (error, articles)."""
    margins = learnt.mean(1) - reference.mean(1)  # each chunk's: above 0 where the model's loss is lower
    deviations = {}
    for source, deviation in zip(sources, (margins - margins.mean()).tolist()):
        deviations[source] = deviations.get(source, 0.0) + deviation
    return math.sqrt(sum(d * d for d in deviations.values())) / len(margins), len(deviations)


def against_unigram(model, train_chunks, valid_chunks, sources: list, vocab_size: int) -> dict:
    """A model's loss and the unigram model's (of ``train_chunks``) on the same validation tokens, and one standard
    error of the margin between them by article (``error_by_article``; ``sources``: each validation chunk's
    article). Returns {"model", "unigram", "error", "articles"}, losses in nats."""
    learnt = true_token_log_probs(model, valid_chunks)
    targets = torch.tensor([ids[1:] for ids in valid_chunks["input_ids"]])
    counted = unigram_probabilities(train_chunks, vocab_size).log()[targets]
    error, articles = error_by_article(learnt, counted, sources)
    return {"model": -learnt.mean().item(), "unigram": -counted.mean().item(), "error": error, "articles": articles}


def token_bytes(tokenizer, byte_tokenizer, token_chunks) -> list[list[int]]:
    """Each chunk of GPT-2 tokens as the byte model's ids, exactly: a byte-level token is a string of characters, one
    per byte, from the alphabet the byte tokenizer was trained on."""
    rows = []
    for ids in token_chunks["input_ids"]:
        row = byte_tokenizer.convert_tokens_to_ids(list("".join(tokenizer.convert_ids_to_tokens(ids))))
        if None in row or byte_tokenizer.unk_token_id in row:
            raise ValueError("byte_tokenizer does not share the token tokenizer's byte-level alphabet: train it with "
                             "tokenizer.train_new_from_iterator, as notebook 3 does")
        rows.append(row)
    return rows


@torch.no_grad()
def on_the_same_bytes(byte_model, tokenizer, byte_tokenizer, token_chunks, byte_train_chunks) -> dict:
    """The byte model and the byte bigram model on the very bytes a token model scores in ``token_chunks``: every
    byte of every token but each chunk's first. The byte model reads them in windows of its context that advance by
    half of it: each byte is scored once, and after a chunk's first half-context, with at least half a context of
    bytes before it. Returns the bytes and tokens scored, and each model's nats per byte:
    {"bytes", "tokens", "byte model", "bigram"}."""
    context, vocab_size = byte_model.config.n_positions, len(byte_tokenizer)
    byte_model.eval()
    learnt, scored, tokens = [], [], 0
    for ids, row in zip(token_chunks["input_ids"], token_bytes(tokenizer, byte_tokenizer, token_chunks)):
        tokens += len(ids) - 1
        start = len(tokenizer.convert_ids_to_tokens(ids[0])) - 1  # the first token's last byte: context only
        scored.append(torch.tensor(row[start:]))
        begin = end = start  # end: the last byte scored so far
        while end < len(row) - 1:
            window = torch.tensor([row[begin:begin + context]], device=byte_model.device)
            log_probs = byte_model(window).logits[0, :-1].float().log_softmax(-1)
            learnt.append(log_probs.gather(-1, window[0, 1:, None])[end - begin:, 0].cpu())  # bytes after `end`
            end, begin = begin + window.shape[1] - 1, begin + context // 2
    learnt = torch.cat(learnt)
    pairs = _bigram(byte_train_chunks, torch.cat([r[:-1] for r in scored]), torch.cat([r[1:] for r in scored]),
                    vocab_size)
    assert len(learnt) == len(pairs)
    return {"bytes": len(learnt), "tokens": tokens, "byte model": -learnt.mean().item(),
            "bigram": -pairs.log().mean().item()}



def against(loss: float, lines: dict[str, float], level: float = 0.0) -> str:
    """Where ``loss`` stands against each of ``lines`` (name -> its loss), in words: "0.53 under the unigram count
    (3.12), 0.09 above the bigram count (2.49)"; within ``level`` of a line, "level with" it."""
    return ", ".join(f"level with {name} ({line:.2f}; within {level:g} nats)" if abs(loss - line) < level else
                     f"{abs(loss - line):.2f} {'under' if loss < line else 'above'} {name} ({line:.2f})"
                     for name, line in lines.items())
