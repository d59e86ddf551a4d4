"""Fill in the blanks with a masked language model: ranked words for every mask, a batch that hides every token of
some sentences, one at a time, with each hidden token's loss (``BlankGroups``: notebook 1's ten steps, measured), and
the causal mask that hides from each token the tokens after it."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from transformers import BatchEncoding, DataCollatorForTokenClassification, PreTrainedModel, PreTrainedTokenizerBase

from utils.support.validation import check_fill_mask, check_masked_text, check_rank_request


def encode_masked(tokenizer: PreTrainedTokenizerBase, text: str) -> tuple[BatchEncoding, list[int]]:
    """The model inputs for ``text`` and the positions of its mask tokens, or a ValueError saying what to fix."""
    check_masked_text(tokenizer, text)
    inputs = tokenizer(text, return_tensors="pt", verbose=False)
    positions = (inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero()[:, 0].tolist()
    return inputs, positions


def causal_mask(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The additive attention mask (1, 1, n, n) under which each of n tokens sees itself and the tokens before it:
    0 on and below the diagonal, the most negative ``dtype`` number above it (weight 0 after the softmax)."""
    later = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)  # row i, column j > i: a token after i
    return torch.zeros(1, 1, n, n, dtype=dtype).masked_fill(later, torch.finfo(dtype).min)


@torch.no_grad()
def fill_mask(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str,
              top_k: int = 5) -> list[list[tuple[str, float]]]:
    """For each mask in ``text`` (left to right): its ``top_k`` (word, probability) pairs, most likely first."""
    top_k = check_fill_mask(model, tokenizer, top_k)
    inputs, positions = encode_masked(tokenizer, text)
    logits = model.eval()(**inputs.to(model.device)).logits[0]
    results = []
    for position in positions:
        probs = logits[position].float().softmax(-1)
        top = probs.topk(min(top_k, probs.shape[-1]))
        results.append([(tokenizer.decode([i]).strip(), p) for i, p in zip(top.indices.tolist(), top.values.tolist())])
    return results


def rank_of(tokenizer: PreTrainedTokenizerBase, probabilities: torch.Tensor, word) -> tuple[int, float] | str:
    """Where ``word`` stands among one mask's ``probabilities``: (rank from 1, probability), or a str saying why it
    has no rank (not a word, or more than one vocabulary piece, which one mask cannot hold). The word is read as
    it would be after a space, in a sentence."""
    probabilities = check_rank_request(tokenizer, probabilities)
    if not isinstance(word, str) or not word.strip():
        return f"{word!r} is not a word"
    word = word.strip()
    shown = repr(word) if len(word) <= 40 else repr(word[:37] + "...")
    try:
        pieces = tokenizer.tokenize(" " + word)  # as a word after a space, as in a sentence (RoBERTa: "Ġbox")
    except (TypeError, ValueError):  # e.g. half of a surrogate pair, which no tokenizer can encode
        return f"{shown} is not valid text"
    if pieces == [tokenizer.unk_token]:
        return f"{shown} is not in this model's vocabulary (it reads as {tokenizer.unk_token})"
    if len(pieces) != 1:
        return f"{shown} is {len(pieces)} pieces here ({' '.join(pieces[:8])}): one mask holds one piece"
    token_id = tokenizer.convert_tokens_to_ids(pieces[0])
    p = probabilities[token_id]
    return int((probabilities > p).sum()) + 1, float(p)


def continuation_prefix(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """How the tokenizer marks a piece that continues a word: "##" for BERT's WordPiece; None when its pieces carry
    no such prefix (RoBERTa's and GPT-2's BPE mark the start of a word instead, with "Ġ")."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    return getattr(model, "continuing_subword_prefix", None) or None


def _each_blank(tokenizer: PreTrainedTokenizerBase, sentences: list[str]):
    """(sentence index, position, the sentence's ids) of every non-special token, sentence by sentence."""
    special = set(tokenizer.all_special_ids)
    for index, sentence in enumerate(sentences):
        ids = tokenizer(sentence)["input_ids"]
        for position, token in enumerate(ids):
            if token not in special:
                yield index, position, ids


def one_blank_each(tokenizer: PreTrainedTokenizerBase, sentences: list[str]) -> dict[str, torch.Tensor]:
    """A masked-LM batch that hides every non-special token of ``sentences``, one per row: each row is its
    sentence with one token shown as the mask token and labelled with its id (-100 elsewhere), so the model's
    ``loss`` on it is the mean -ln p over every token, each guessed with the rest of its sentence in view."""
    rows = [{"input_ids": ids[:position] + [tokenizer.mask_token_id] + ids[position + 1:],
             "labels": [-100] * position + [ids[position]] + [-100] * (len(ids) - position - 1)}
            for _, position, ids in _each_blank(tokenizer, sentences)]
    return dict(DataCollatorForTokenClassification(tokenizer, return_tensors="pt")(rows))  # pads labels with -100


def blank_sources(tokenizer: PreTrainedTokenizerBase, sentences: list[str]) -> list[tuple[int, int]]:
    """(sentence index, position) of the token each row of ``one_blank_each(tokenizer, sentences)`` hides."""
    return [(index, position) for index, position, _ in _each_blank(tokenizer, sentences)]


@torch.no_grad()
def losses_per_blank(model: PreTrainedModel, blanks: dict[str, torch.Tensor]) -> torch.Tensor:
    """-ln p of each row's hidden token, for a batch of one blank per row (``one_blank_each``): the model's
    ``loss`` on the batch is their mean."""
    logits = model(input_ids=blanks["input_ids"], attention_mask=blanks.get("attention_mask")).logits
    where = blanks["labels"] != -100
    return F.cross_entropy(logits[where].float(), blanks["labels"][where], reduction="none")


# Student's t at 97.5% for 1-30 degrees of freedom: a 95% margin from few draws is wider than twice the standard error
T_975 = (12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13, 2.12, 2.11, 2.10,
         2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04)


def mean_change(before: torch.Tensor, after: torch.Tensor,
                sentences: torch.Tensor | None = None) -> tuple[float, float]:
    """The mean of ``after - before`` over paired blanks, and its 95% margin: its standard error times Student's t for
    the draws less one (about 2 for many draws, 2.57 for six): a mean change within that margin of 0 is no more than
    these blanks' spread gives by chance. ``sentences`` (each blank's sentence index) counts the sentences as the
    draws, not the blanks: the blanks of one sentence share its words, so need not move independently (the
    cluster-robust standard error of a mean). Infinite for fewer than two draws."""
    change = (after - before).double()
    if not len(change):
        return float("nan"), float("inf")
    groups = torch.arange(len(change)) if sentences is None else torch.as_tensor(sentences)
    ids = groups.unique(return_inverse=True)[1]
    draws = int(ids.max()) + 1
    if draws < 2:
        return float(change.mean()), float("inf")
    sums = torch.zeros(draws, dtype=torch.float64).index_add_(0, ids, change - change.mean())  # each draw's deviation
    error = float((draws / (draws - 1) * (sums ** 2).sum()).sqrt()) / len(change)
    return float(change.mean()), (T_975[draws - 2] if draws <= len(T_975) + 1 else 2.0) * error


class BlankGroups:
    """Notebook 1's ten steps, measured: every token of the batch's ``sentences`` and of ``unseen`` ones hidden in
    turn (``one_blank_each``), in three groups: the blanks the steps trained (a label other than -100 in ``labels``),
    the same sentences' other blanks, and the sentences the steps never see."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, sentences: list[str], unseen: list[str],
                 labels: torch.Tensor):
        self.seen, self.unseen = one_blank_each(tokenizer, sentences), one_blank_each(tokenizer, unseen)
        sources = blank_sources(tokenizer, sentences)
        self.trained = torch.tensor([bool(labels[s, p] != -100) for s, p in sources])
        # each blank's sentence: (the batch's, the unseen ones'); the margins count sentences, not blanks
        self.sentence_of = (torch.tensor([s for s, _ in sources]),
                            torch.tensor([s for s, _ in blank_sources(tokenizer, unseen)]))
        self.names = ("the blanks the steps trained", "the same sentences' other blanks",
                      f"{len(unseen)} sentences it never saw")

    def score(self, model: PreTrainedModel) -> tuple[torch.Tensor, torch.Tensor]:
        """-ln p of every hidden token: (the batch's sentences, the unseen ones)."""
        return losses_per_blank(model, self.seen), losses_per_blank(model, self.unseen)

    def summary(self, before: tuple, after: tuple) -> list[tuple[str, int, float, float, float, float]]:
        """Each group's (name, blanks, mean -ln p before, after, the mean change, its 95% margin by sentence), from
        two ``score`` results (``mean_change``)."""
        seen = self.sentence_of[0]
        pairs = ((before[0][self.trained], after[0][self.trained], seen[self.trained]),
                 (before[0][~self.trained], after[0][~self.trained], seen[~self.trained]),
                 (before[1], after[1], self.sentence_of[1]))
        return [(name, len(b), b.mean().item(), a.mean().item(), *mean_change(b, a, sentences))
                for name, (b, a, sentences) in zip(self.names, pairs)]

    def table(self, before: tuple, after: tuple, vocab_size: int) -> str:
        """``summary`` as lines, saying in words whether each group fell, rose or stayed within chance; under the
        uniform guess's ln V."""
        lines = [f"every token hidden in turn: mean -ln p before -> after (a uniform guess: ln {vocab_size:,} = "
                 f"{math.log(vocab_size):.2f}),", "and the mean change ± its 95% margin (by sentence):"]
        for name, blanks, b, a, shift, margin in self.summary(before, after):
            moved = "within chance" if abs(shift) <= margin else "fell" if shift < 0 else "rose"
            lines.append(f"  {name:<33} {blanks:>3} blanks  {b:.2f} -> {a:.2f}  ({shift:+.2f} ± {margin:.2f}: "
                         f"{moved})")
        return "\n".join(lines)
