"""Notebook 1's check cells for reading a masked LM, kept out of the cells' sight: the vocabulary (exercise 1),
WordPiece by hand (1b), softmax (2), the loss of the original word (3), the top 5's mass (4) and filling blanks in
turn (5). Each returns one line (or a few) for the check cell to print, whatever the answer.
"""

from __future__ import annotations

import math
import sys

import torch
from transformers import PreTrainedTokenizerBase

from utils import exercises
from utils.exercises import (
    NOT_ANSWERED,
    NOT_ANSWERED_HINT,
    SOFTMAX_ITSELF,
    close,
    describe,
    low_precision,
    mismatch,
    number,
    without,
)
from utils.fill_mask import continuation_prefix, fill_mask


def vocabulary_verdict(pad_id, unk_id, continuations, tokenizer: PreTrainedTokenizerBase, model_name: str) -> str:
    """Exercise 1: the padding and unknown tokens' ids, and (for a WordPiece vocabulary, whose pieces that continue a
    word start with ##) how many entries are such pieces."""
    vocabulary, pad, unk = tokenizer.get_vocab(), tokenizer.pad_token, tokenizer.unk_token
    expected = {f"the {pad} id": tokenizer.pad_token_id, f"the {unk} id": tokenizer.unk_token_id}
    mine, lines = dict(zip(expected, (pad_id, unk_id))), []
    if continuation_prefix(tokenizer) == "##":
        expected["the count of ## pieces"] = sum(entry.startswith("##") for entry in vocabulary)
        mine["the count of ## pieces"] = continuations
    else:
        lines.append(f"(The ## count is about BERT's WordPiece vocabulary; {model_name}'s tokenizer marks no pieces "
                     "with ##, so only the two ids are checked.)")
    if any(answer is None for answer in mine.values()):
        lines.append(NOT_ANSWERED_HINT)
    elif all(number(mine[name]) == value for name, value in expected.items()):
        count = expected.get("the count of ## pieces")
        lines.append(f"Correct: {pad} {expected[f'the {pad} id']}, {unk} {expected[f'the {unk} id']}"
                     + (f"; {count:,} of the {len(vocabulary):,} entries are pieces that continue a word." if count
                        else "."))
    else:
        wrong = [name for name, value in expected.items() if number(mine[name]) != value]
        lines.append(f"Not quite: {', '.join(wrong)}. (Got {', '.join(describe(a) for a in mine.values())}.)")
    return "\n".join(lines)


def softmax_verdict(my_softmax, z: torch.Tensor) -> str:
    """Exercise 2: ``my_softmax`` on the mask's scores ``z`` against ``torch.softmax``, then on z + 1000 and on
    [0, 0, 500], where exp alone overflows."""
    def problem_on(scores):
        try:
            with without(*SOFTMAX_ITSELF):
                answer = my_softmax(scores)
        except OverflowError as error:  # math.exp of a large float raises instead of giving inf
            return None, f"it raised OverflowError ({error})"
        return answer, mismatch(answer, torch.softmax(scores, -1), atol=1e-7, rtol=1e-4)

    mine, problem = problem_on(z)
    if mine is None and not (problem or "").startswith("it raised"):
        return NOT_ANSWERED_HINT
    if problem is not None:
        return f"Not quite: {problem}."
    hard = {"z + 1000": z + 1000, "[0, 0, 500]": torch.tensor([0.0, 0.0, 500.0])}
    name, problem = next(((name, p) for name, scores in hard.items() if (p := problem_on(scores)[1]) is not None),
                         (None, None))
    if problem is None:
        return (f"Correct: your softmax equals torch.softmax on all {len(z):,} scores, on the same scores plus 1000 "
                "and on [0, 0, 500], where exp alone overflows.")
    return (f"Not quite: right on z, but on {name} {problem}. Subtract the largest score before exp, so that every "
            "exponent is at most 0.")


def word_loss_verdict(my_loss, model, inputs, mask_index: int, word_id: int) -> str:
    """Exercise 3: ``my_loss``, -ln p(word) at the blank, against the model's own loss given labels that score only
    the blank (-100 elsewhere). A p rounded as a table prints it (3 decimals or 3 digits) is named, not just refused."""
    labels = torch.full_like(inputs["input_ids"], -100)  # -100: this position is not scored
    labels[0, mask_index] = word_id
    with torch.no_grad():
        model_loss = model(**inputs, labels=labels).loss.item()
    if my_loss is None:
        return NOT_ANSWERED_HINT
    if low_precision(my_loss) and close(my_loss, model_loss, rel=1e-2):  # right or not, by the rounding's luck
        return (f"Nearly: the formula is right, but your answer is in {low_precision(my_loss)}, which keeps only 2 "
                "to 3 significant digits. Compute in float32 (e.g. `.float()`).")
    if close(my_loss, model_loss):
        return (f"Correct: {model_loss:.4f} nats, the model's own loss for that label; p = e^-loss = "
                f"{math.exp(-model_loss):.4f}. Training pushes this number down at every blank.")
    if number(my_loss) is None:
        return f"Not quite: {describe(my_loss)} is not one number."
    if close(-number(my_loss), model_loss):
        return "Not quite: mind the sign. ln p is negative; the loss is -ln p."
    p = math.exp(-model_loss)
    printed = {float(f"{p:.3f}"), float(f"{p:.3g}")} - {0.0}
    if any(math.isclose(number(my_loss), -math.log(q), rel_tol=1e-6) for q in printed):
        return (f"Nearly: that is -ln of p as a table prints it, rounded; the model's loss is {model_loss:.4f}. Take "
                "the unrounded probability from `probabilities`.")
    return f"Not quite: {describe(my_loss)}. Take the natural log (torch.log or math.log) of p, and negate it."


def top_mass_verdict(mass, count, probabilities: torch.Tensor, k: int) -> str:
    """Exercise 4: the probability the top ``k`` hold together (to within the printed rounding) and how many words
    have more than 0.001."""
    top_mass, above = probabilities.topk(k).values.sum().item(), int((probabilities > 0.001).sum())
    if mass is None or count is None:
        return NOT_ANSWERED
    if number(mass) is None or not abs(number(mass) - top_mass) <= 0.0025 + 1e-9:  # NaN fails too
        return f"Not quite: the top {k} sum is not {describe(mass)}. Add up top.values."
    if number(count) != above:
        return "The sum is right, but not the count: compare probabilities with 0.001 and count the True values."
    return f"Correct: the top {k} hold {top_mass:.0%}; {above} words have more than 0.1%."


WORDPIECE_WORDS = ("chocolates", "tokenization", "unbelievably", "pretraining", "xylophonist", "snow\u2603man")


def _split(word: str, vocabulary, longest: bool = True, prefix: str = "##") -> list[str]:
    """``word`` in vocabulary pieces, taking the longest (or the shortest) piece that fits at each point; a piece
    after the first is looked up with ``prefix``; no piece fits: the whole word is unknown."""
    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
        found = next((word[start:end] for end in ends if (prefix if start else "") + word[start:end] in vocabulary),
                     None)
        if found is None:
            return ["[UNK]"]
        pieces.append((prefix if start else "") + found)
        start += len(found)
    return pieces


# every way a tokenizer splits text, refused while exercise 1b's answer runs (with its Rust backend, ``_tokenizer``)
TOKENIZING = ("tokenize", "_tokenize", "encode", "_encode_plus", "_batch_encode_plus", "__call__", "backend_tokenizer")


def wordpiece_verdict(my_wordpiece, tokenizer: PreTrainedTokenizerBase) -> str:
    """A student's ``my_wordpiece(word, vocabulary)`` on ``WORDPIECE_WORDS``, against the tokenizer's own split
    (``tokenizer.tokenize``): one line, "Correct: ...", "Not quite: ..." or ``NOT_ANSWERED``."""
    vocabulary = tokenizer.get_vocab()
    tokenizing = [place for name in TOKENIZING  # refused while the answer runs, with this module's own split
                  for place in exercises.on_its_classes(tokenizer, name)] + [(tokenizer, "_tokenizer"),
                                                                             (sys.modules[__name__], "_split")]
    for word in WORDPIECE_WORDS:
        with without(*tokenizing):
            mine = my_wordpiece(word, dict(vocabulary))
        theirs = tokenizer.tokenize(word)
        if mine is None:
            return NOT_ANSWERED
        if not isinstance(mine, (list, tuple)) or not all(isinstance(piece, str) for piece in mine):
            return f"Not quite: return the pieces as a list of str, as tokenizer.tokenize does; got {describe(mine)}."
        if list(mine) == theirs:
            continue
        slip = ("You took the shortest piece that fits; WordPiece takes the longest one in the vocabulary, then "
                "goes on from where it ends." if list(mine) == _split(word, vocabulary, longest=False) else
                "A piece after the first is looked up, and returned, with ## in front." if list(mine) in (
                    [p.removeprefix("##") for p in theirs], _split(word, vocabulary, prefix="")) else
                f"Where no piece fits, the whole word is {tokenizer.unk_token}." if tokenizer.unk_token in theirs else
                "Take the longest piece in the vocabulary from where you are, then go on from where it ends.")
        return f"Not quite: {word!r} gave {describe(mine)}; the tokenizer's pieces are {theirs}. {slip}"
    shown = ", ".join(" ".join(tokenizer.tokenize(word)) for word in WORDPIECE_WORDS[:3])
    return (f"Correct: your split equals tokenizer.tokenize on all {len(WORDPIECE_WORDS)} words ({shown}, ...): the "
            "longest piece first, then the next from where it ends.")


def fill_in_turn_verdict(my_fill_in_turn, model, tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """Exercise 5's verdict: ``text``'s blanks filled in turn, each with the model's top word once the words before
    it are in, one forward pass per blank, set against the words of one pass."""
    one_pass, in_turn, filled = [ranked[0][0] for ranked in fill_mask(model, tokenizer, text, top_k=1)], [], text
    for _ in one_pass:
        in_turn.append(fill_mask(model, tokenizer, filled, top_k=1)[0][0][0])
        filled = filled.replace(tokenizer.mask_token, in_turn[-1], 1)
    with exercises.forward_passes(model) as passes:
        mine = my_fill_in_turn(text)
    if mine is None:
        return NOT_ANSWERED_HINT
    if not isinstance(mine, (list, tuple)) or not all(isinstance(w, str) for w in mine):
        return f"Not quite: return the words as a list of str; got {describe(mine)}."
    words, blanks = [w.strip().lower() for w in mine], lambda ids: (ids == tokenizer.mask_token_id).sum()
    if words == in_turn and len(passes) < len(in_turn):
        return (f"Not quite: the right words here, but from {len(passes)} forward pass(es) for {len(in_turn)} "
                "blanks. Put the first word in, then run the model again on the new text.")
    if words == in_turn and not any(ids is not None and blanks(ids) < blanks(passes[0]) for ids in passes[1:]):
        return ("Not quite: the right words here, but every forward pass saw every blank, so no guess saw the word "
                "before it. Put the first word into the text, then run the model on the new text.")
    if words == in_turn:
        same = "the same words" if in_turn == one_pass else "other words"
        return (f"Correct: in turn, {filled!r}; in one pass the blanks got {one_pass} ({same}). In turn, each guess "
                "sees the words before it: that is how a causal model writes, one token after another (notebook 2).")
    if words == one_pass:
        return "Not quite: that is the one-pass answer. Put the first word in, then run the model again."
    return f"Not quite: {describe(mine)}. Take each blank's top word, left to right, one forward pass each."
