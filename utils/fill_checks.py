"""Notebook 1's check cells for reading a masked LM, kept out of the cells' sight: exercises 1 to 7 and 9(c) (the
vocabulary, WordPiece, softmax, the word's loss, the top 5's mass, blanks in turn, the student's sentence, both sides
of the blank, both under a causal mask); exercises 1c, 8, 9(b), 10 and 11, inside the encoder, are
``utils.attention_checks`` (the causal mask itself: ``utils.mask_checks``). Each verdict
returns a line or a few to print, whatever the answer; the reveals wait for a prediction (``word_predicted``,
``causal_experiment_ready``)."""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager

import tokenizers.models
import torch
from transformers import PreTrainedTokenizerBase

from utils import exercises
from utils.exercises import (
    NOT_ANSWERED,
    NOT_ANSWERED_HINT,
    SOFTMAX_ITSELF,
    PredictFirst,
    close,
    describe,
    low_precision,
    mismatch,
    number,
    predicted,
    require_word,
    truth,
    unwritten,
    without,
)
from utils.fill_mask import continuation_prefix, encode_masked, fill_mask


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
    """Exercise 2b: ``my_softmax`` on the mask's scores ``z`` against ``torch.softmax``, then on z + 1000 and on
    [0, 0, 500], where exp alone overflows."""
    def problem_on(scores):
        given = scores.clone()  # the answer gets a copy: the notebook's logits stay as they are, whatever it does
        try:
            with without(*SOFTMAX_ITSELF):
                answer = my_softmax(given)
        except OverflowError as error:  # math.exp of a large float raises instead of giving inf
            return None, f"it raised OverflowError ({error})"
        if not torch.equal(given, scores):
            return answer, ("it changed the scores it was given (an in-place step such as z -= z.max()): a function "
                            "that returns probabilities should leave its input as it was; write z = z - z.max()")
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


def softmax_in_use(my_softmax, z: torch.Tensor):
    """The softmax the top 5 turns the blank's scores ``z`` into probabilities with: the student's ``my_softmax`` once
    exercise 2b's check passes it on ``z`` (its answer as a tensor of the scores' dtype), else ``torch.softmax``. One
    printed line says which."""
    try:
        line = softmax_verdict(my_softmax, z)
    except Exception as error:  # noqa: BLE001 - any mistake in the student's softmax falls back to torch's
        line = f"raised {type(error).__name__}"
    if line.startswith("Correct"):
        print(f"Your {getattr(my_softmax, '__name__', 'softmax')} turned the scores into probabilities.")
        return lambda scores: torch.as_tensor(my_softmax(scores.clone()), dtype=scores.dtype)
    why = "is not written yet" if line == NOT_ANSWERED_HINT else "does not pass its check yet"
    print(f"{getattr(my_softmax, '__name__', 'Your softmax')} {why}: torch.softmax ran instead (yours runs once its "
          "check passes).")
    return lambda scores: torch.softmax(scores, -1)


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
                f"{math.exp(-model_loss):.2g}. Training pushes this number down, on average over the blanks.")
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
    if number(mass) is not None and abs(number(mass) - 100 * top_mass) <= 0.25 + 1e-9:
        return f"Nearly: {describe(mass)} is a percentage; give the sum as a fraction, between 0 and 1."
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
                                                                             (sys.modules[__name__], "_split"),
                                                                             (tokenizers.models, "WordPiece")]
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


@contextmanager
def forward_passes(model: torch.nn.Module):
    """The model's forward passes inside the block: yields a list that gets one entry per pass, the pass's
    ``input_ids`` (None when it was given none).

    >>> with forward_passes(model) as passes:
    ...     my_fill_in_turn(text)
    >>> len(passes), [(ids == tokenizer.mask_token_id).sum().item() for ids in passes]
    (2, [2, 1])
    """
    passes: list[torch.Tensor | None] = []

    def record(module, args, kwargs):
        ids = args[0] if args else kwargs.get("input_ids")
        passes.append(ids.detach().clone() if isinstance(ids, torch.Tensor) else None)

    hook = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield passes
    finally:
        hook.remove()


def fill_in_turn_verdict(my_fill_in_turn, model, tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """Exercise 5's verdict: ``text``'s blanks filled in turn, each with the model's top word once the words before
    it are in, one forward pass per blank, set against the words of one pass."""
    one_pass, in_turn, filled = [ranked[0][0] for ranked in fill_mask(model, tokenizer, text, top_k=1)], [], text
    for _ in one_pass:
        in_turn.append(fill_mask(model, tokenizer, filled, top_k=1)[0][0][0])
        filled = filled.replace(tokenizer.mask_token, in_turn[-1], 1)
    with forward_passes(model) as passes:
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
        again = next((w for i, w in enumerate(in_turn) if w in in_turn[:i]), None)  # seen, and still chosen
        return (f"Correct: in turn, {filled!r}; in one pass the blanks got {one_pass} ({same}). In turn, the second "
                "guess also sees the first blank's word, as a causal model sees the words it wrote (notebook 2)."
                + (f" Here a later blank saw {again!r} and chose it again: seeing a word does not rule it out."
                   if again else ""))
    if words == one_pass:
        return "Not quite: that is the one-pass answer. Put the first word in, then run the model again."
    return f"Not quite: {describe(mine)}. Take each blank's top word, left to right, one forward pass each."


def word_predicted(guess, where: str) -> bool:
    """Whether ``guess`` is a written prediction of one word (a str): if it is not, says what to write, in one line
    (``require_word``'s), and the reveal cell that asked shows nothing."""
    try:
        require_word(guess, where)
    except PredictFirst as missing:
        print(missing)
        return False
    return True


def right_side_problem(tokenizer: PreTrainedTokenizerBase, text: str, other) -> str | None:
    """None when ``other`` is ``text`` with only words after its one mask changed; else what to fix, in words."""
    mask = tokenizer.mask_token
    if not isinstance(other, str) or mask is None or mask not in other:
        return f"write a sentence (a str) with one {mask}; got {describe(other)}"
    try:
        mine, blanks = encode_masked(tokenizer, other)
    except ValueError as error:  # too long for the model, say
        return str(error).rstrip(".")
    original, (blank, *_) = encode_masked(tokenizer, text)
    ids, before = mine["input_ids"][0].tolist(), original["input_ids"][0].tolist()
    if len(blanks) != 1:
        return f"keep exactly one {mask} (yours has {len(blanks)})"
    if ids[:blank + 1] != before[:blank + 1]:
        return (f"the words before the blank changed too. Keep {text.split(mask)[0].strip()!r} as it is, so that "
                "only the right side differs")
    if ids == before:
        return "that is the original sentence. Change the words after the blank"
    return None


def causal_experiment_ready(tokenizer: PreTrainedTokenizerBase, text: str, other, prediction) -> bool:
    """Whether notebook 1's causal experiment can show its result: ``prediction`` is True or False (``truth``), and
    ``other`` changes only the words after ``text``'s blank. If not, says what to fix, and nothing is shown."""
    if not predicted(prediction, where="my_causal_changes, above"):
        return False
    if truth(prediction) is None:
        print(f"Predict True or False (yours is {describe(prediction)}), then run this cell again.")
        return False
    problem = right_side_problem(tokenizer, text, other)
    if problem:
        print(f"First finish exercise 7, my_text: {problem}.")
    return problem is None


def guess_verdict(my_sentence, my_word, model, tokenizer: PreTrainedTokenizerBase) -> str:
    """Exercise 6: the model's top 5 for the student's sentence, and whether the word they expected (``my_word``) is
    among them; a word the model cannot hold in one mask is told so. Call it once ``word_predicted`` agrees."""
    ranked = fill_mask(model, tokenizer, my_sentence, top_k=5)[0]
    lines = [", ".join(f"{w} {p:.3f}" for w, p in ranked)]
    pieces = tokenizer.tokenize(" " + my_word.strip())  # as a word after a space, as in a sentence
    word = tokenizer.convert_tokens_to_string(pieces).strip()  # as the model spells it
    if pieces == [tokenizer.unk_token]:
        lines.append(f"{describe(my_word)} is not in this model's vocabulary (it reads as {tokenizer.unk_token}).")
    elif len(pieces) != 1:
        lines.append(f"{describe(my_word)} is {len(pieces)} pieces here ({' '.join(pieces)}): one mask holds one "
                     "piece.")
    elif ranked[0][0] == word:
        lines.append("Yes: in its top 5, and its first guess!")
    elif word in dict(ranked):
        lines.append(f"Yes: in its top 5 (its first guess is {ranked[0][0]!r}).")
    else:
        lines.append(f"Not in its top 5 (its first guess is {ranked[0][0]!r}). Try a more telling sentence.")
    return "\n".join(lines)


def right_side_verdict(my_text, text: str, model, tokenizer: PreTrainedTokenizerBase, top_k: int,
                       guess, changes=None) -> str:
    """Exercise 7: ``my_text`` changes only the words after ``text``'s blank, and the probabilities at the blank
    move. Both sentences' top ``top_k`` are printed once ``guess`` (the student's guess at the top 5, ``my_guess``)
    is written. ``changes``: the student's prediction, True or False, that the probabilities at the blank change;
    nothing is shown before it."""
    show_top = isinstance(guess, str) and not unwritten(guess)
    if my_text is None:
        return NOT_ANSWERED
    if problem := right_side_problem(tokenizer, text, my_text):
        return f"Not quite: {problem}."
    if changes is None:
        return "Predict first: set my_blank_changes to True or False, then run this cell again."
    if (said := truth(changes)) is None:
        return f"Not quite: predict True or False in my_blank_changes; got {describe(changes)}."
    old, new = (fill_mask(model, tokenizer, t, top_k=top_k)[0] for t in (text, my_text))
    lines = [f"original: {text}\n   " + ", ".join(f"{w} {p:.3f}" for w, p in old),
             f"changed:  {my_text}\n   " + ", ".join(f"{w} {p:.3f}" for w, p in new)] if show_top else []
    with torch.no_grad():
        at_blank = [model(**encoded).logits[0, blanks[0]].softmax(-1)
                    for encoded, blanks in (encode_masked(tokenizer, t) for t in (text, my_text))]
    changed = float((at_blank[1] - at_blank[0]).abs().max())
    if changed < 1e-6:  # float32 noise: the blank did not see the new words
        lines.append(f"Not quite: nothing at the blank moved (at most {changed:.2g}). Change more of the words after "
                     "it.")
        return "\n".join(lines)
    first = (f"the first guess stayed, {old[0][0]!r}" if old[0][0] == new[0][0] else
             f"the first guess changed, {old[0][0]!r} -> {new[0][0]!r}")
    lines.append(f"You predicted {said}: the probabilities at the blank changed, by up to {changed:.2g} ({first}): "
                 + ("right." if said else "not this time: every token attends to every other, so the words after "
                                         "the blank reach it from the first layer on (a map below shows a head doing "
                                         "it)."))
    lines.append("Valid sentence: only words after the blank changed, and the blank's probabilities moved: the "
                 "model read them.")
    return "\n".join(lines)


ROUNDING = 1e-4  # float32 sums taken in another order (a longer sentence) move ln p by about 1e-6


def causal_verdict(my_causal_changes, my_text, text: str, at_the_blank, tokenizer: PreTrainedTokenizerBase,
                   model_name: str) -> str:
    """Exercise 9(c): does the prediction at the blank change, under a causal mask, when only the words after it
    change? ``at_the_blank(sentence, causal)``: the model's probabilities at the sentence's blank. Compared as ln p,
    which shows a change among small probabilities too. Each sentence runs once each way."""
    said = truth(my_causal_changes)
    if my_causal_changes is None:
        return NOT_ANSWERED
    if said is None:
        return f"Not quite: predict True or False; got {describe(my_causal_changes)}."
    if my_text is None or right_side_problem(tokenizer, text, my_text):
        return ("First finish exercise 7: my_text must be the original sentence with only the words after the blank "
                "changed (its check says what to fix).")
    p = {(sentence, causal): at_the_blank(sentence, causal) for sentence in (text, my_text) for causal in (False, True)}
    ln_p = {key: probabilities.clamp_min(torch.finfo(torch.float32).tiny).log() for key, probabilities in p.items()}
    if (ln_p[text, True] - ln_p[text, False]).abs().max() <= ROUNDING:
        return f"This model ({model_name}) ignored the 4-D attention mask, so the experiment shows nothing here."
    full, causal = (float((p[my_text, c] - p[text, c]).abs().max()) for c in (False, True))
    if (ln_p[my_text, True] - ln_p[text, True]).abs().max() <= ROUNDING:
        still = "did not move at all" if causal == 0 else f"moved by at most {causal:.2g} (float rounding)"
        return (("Correct" if said is False else "Not quite") + f": with the causal mask the probabilities at the "
                f"blank {still}; seeing every token, by up to {full:.2g}. Under the mask, every layer computes the "
                "blank's vector, and those of the tokens before it, from those tokens alone, the same in both "
                "sentences: the words after it reach no vector the blank reads, in any layer.")
    return (("Correct" if said is True else "Not quite") + f": with the causal mask the probabilities at the blank "
            f"moved by up to {causal:.2g}; seeing every token, by up to {full:.2g}.")
