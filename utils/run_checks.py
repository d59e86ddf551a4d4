"""Notebook 3's verdicts on what a student predicted about a run, once the run has answered: the final losses and
the validation curve's shape, the perplexity at the minimum, the gap with every article, dropout, and the byte run
against the bigram model. Each returns the lines a check cell prints, for any answer of any type."""

from __future__ import annotations

import math

from utils import original_tutorial
from utils.exercises import (
    NOT_ANSWERED_HINT,
    PREDICT_FIRST,
    close,
    describe,
    number,
    predicted,
    truth,
    unwritten,
    words,
)

_FALL = ("fall", "fell", "drop", "decreas", "declin", "dip", "sink", "shrink", "lower", "lowers", "lowered", "lowering",
         "down", "improv", "better", "bottom", "downward", "minim", "low", "lowest", "trough")
_RISE = ("rise", "rising", "rose", "increas", "climb", "grow", "grew", "higher", "up", "worse", "degrad", "bounc",
         "rebound", "diverg", "deteriorat", "upward")
_SHAPE_WORDS = dict.fromkeys(("u", "v", "overfit", "overfits", "overfitting"), "falls+rises")  # negated as one word
_FLAT = ("flat", "same", "constant", "level", "levels", "plateau", "steady", "unchanged")
_WHOLE_WORDS = {"up", "down", "lower", "lowers", "lowered", "lowering", "higher", "same", "level", "low"}  # whole
_GOING_ON = {"keep", "keeps", "continue", "continues", "stay", "stays"}  # "not keep falling": it falls, then stops
# "t": what words() leaves of "doesn't"; a move right after "gap" or "difference" is theirs, not the curve's
_NEGATIONS = {"not", "never", "no", "nor", "without", "cannot", "t", "gap", "difference"}


def curve_shape(answer) -> str | None:
    """A curve's shape in the student's own words, as the moves it names in order: "It goes down, then back up" ->
    "falls then rises"; "stays flat" -> "flat"; a negated move is none ("falls and never overfits" -> "falls"), but
    not one that is only said to end ("won't keep falling: it rises" -> "falls then rises"); "A after B" is B, then A
    ("rises after a dip" -> "falls then rises")."""
    moves, negated, after = [], 0, None  # negated: words left in which a negation cancels the next move
    for word in " ".join(_SHAPE_WORDS.get(word, word) for word in (words(answer) or "").split()).split():
        if word == "after" and moves and after is None:  # the moves named after "after" came first
            after = len(moves)
        if word in _NEGATIONS:  # "never rises", "doesn't go back up"; "no" only right before ("No, it falls")
            negated = 2 if word in ("no", "nor") else 4
        elif word in _GOING_ON and negated:  # "won't keep falling": the fall happens, and ends
            negated = 0
        named = [next((move for move, stems in (("falls", _FALL), ("rises", _RISE), ("flat", _FLAT)) if any(
            part == stem if stem in _WHOLE_WORDS else part.startswith(stem) for stem in stems)), None)
            for part in word.split("+")]
        if moves and word == "falls+rises":  # "falls, then rises as it overfits": overfitting is the rise
            named = ["rises"]
        for move in [m for m in named if m] if not negated else []:
            if not moves or moves[-1] != move:
                moves.append(move)
        negated = 0 if any(named) else max(0, negated - 1)
    if after is not None and after < len(moves):
        order = moves[after:] + moves[:after]
        moves = [m for i, m in enumerate(order) if i == 0 or m != order[i - 1]]
    # a pause between a fall and a rise is still one U: "falls, stays flat, then rises" -> "falls then rises"
    moves = [m for i, m in enumerate(moves) if not (m == "flat" and 0 < i < len(moves) - 1 and moves[i - 1] == "falls"
                                                    and moves[i + 1] == "rises")]
    return " then ".join(moves) or None


def recitation_verdict(guess, recited: int, of: int = 16) -> str:
    """The prediction made before training, how many of ``of`` tokens the model will recite, against the count
    ``recited``: right within 2."""
    if unwritten(guess):
        return PREDICT_FIRST.format(where="predicted_recited, before training")
    value = number(guess)
    if value is None or not 0 <= value <= of:
        return f"Predict the recitation as a number of tokens from 0 to {of}; got {describe(guess)}."
    off = abs(value - recited)
    return (f"{'Right' if off <= 2 else 'Not this time'}: you predicted {value:g} of {of}; it recited {recited}"
            + (" (within 2 counts as right)." if off <= 2 else f", {off:g} off."))


def losses_verdict(final_train_guess, final_valid_guess, shape_guess, valid_log: list[tuple[int, float]],
                   final_train: float) -> str:
    """The first run's predictions (final training and validation loss, the validation curve's shape) against the
    run: ``valid_log`` its (step, validation loss) evaluations, ``final_train`` its last logged training loss. A loss
    is close, and right, within 0.5 nats and a factor of 2 (near 0, half a nat is many times the loss); a curve moves
    where it changes by more than 0.1 nats, so evaluation noise is no trend."""
    (first_step, first), (best_step, best) = valid_log[0], min(valid_log, key=lambda sl: sl[1])
    final_valid = valid_log[-1][1]
    fell, rose = best < first - 0.1, final_valid > best + 0.1
    shape = ("falls then rises" if fell and rose else "falls" if fell else
             "rises" if final_valid > first + 0.1 else "flat")
    lines = [f"validation loss {shape}: {first:.2f} at step {first_step}, minimum {best:.2f} at step {best_step}, "
             f"{final_valid:.2f} at the end"]
    for what, guess, measured in (("final training loss", final_train_guess, final_train),
                                  ("final validation loss", final_valid_guess, final_valid)):
        if number(guess) is None or not math.isfinite(number(guess)):
            lines.append(f"{what}: measured {measured:.2f}; predict it as a finite number of nats (got "
                         f"{describe(guess)}).")
            continue
        guess = number(guess)
        off, factor = abs(guess - measured), max(guess, measured) / max(min(guess, measured), 1e-9)
        said = ("a cross-entropy loss is above 0" if guess <= 0 else
                f"off by a factor of {factor:.1f}: not this time" if factor > 2 and measured > 0 else
                "close: right" if off <= 0.5 else f"off by {off:.1f}: not this time")
        shown = f"{measured:.3g}" if abs(measured) < 1 else f"{measured:.2f}"  # 0.0752, not 0.08 beside a factor 13.3
        lines.append(f"{what}: you predicted {guess:.2f}, measured {shown} ({said}).")
    said = curve_shape(shape_guess)  # "It goes down, then back up." -> "falls then rises"
    further = (said or "").startswith(shape + " then ")  # the measured moves, then more than this run showed
    read = "" if said is None or said == words(shape_guess) else f" (read as {said!r})"
    lines.append(f"the validation curve {shape}; " + ("no shape predicted." if shape_guess is None else
                 f"you predicted {describe(words(shape_guess) or shape_guess)}{read}: "
                 + ("right." if said == shape else "right as far as this run went." if further
                    else "not this time." if said else
                    "no shape read: say how it moves, e.g. 'falls', 'rises', 'flat', or two moves in order.")))
    if predicted(final_train_guess, final_valid_guess, shape_guess):
        o = original_tutorial.PRETRAINING
        lines.append(f"The original tutorial, {o['steps']:,} steps of GPT-2 124M: train loss {o['final_train_loss']}, "
                     f"validation minimum {o['best_valid_loss']} at epoch {o['best_valid_epoch']}, then "
                     f"{o['final_valid_loss']} at the end, after {o['seconds'] / 3600:.1f} hours.")
    return "\n".join(lines)


def perplexity_verdict(mine, uniform_mine, best_loss: float, vocab_size: int) -> str:
    """Exercise 3: the perplexity at the validation minimum, e^best_loss, and a uniform guess's, the vocabulary size
    (e to ln V). e to the printed, rounded numbers (2 decimals) counts as right too."""
    if mine is None or uniform_mine is None:
        return NOT_ANSWERED_HINT
    if close(mine, best_loss, rel=1e-3):
        return f"Not quite: {describe(mine)} is the loss itself; its perplexity is e to that power."
    if not close(mine, math.exp(best_loss), rel=6e-3):
        return f"Not quite: {describe(mine)} is not e^{best_loss:.4f}."
    if not close(uniform_mine, vocab_size, rel=6e-3):
        return (f"Not quite: the model's perplexity is right, but a uniform guess over {vocab_size:,} tokens has loss "
                f"ln {vocab_size:,}; its perplexity is not {describe(uniform_mine)}.")
    return (f"Correct: {math.exp(best_loss):,.0f} against {vocab_size:,}: at its best on unseen text the model is as "
            f"unsure as a uniform choice among {math.exp(best_loss):,.0f} tokens.")


def more_data_verdict(guess, first: tuple[float, float], every: tuple[float, float], counted: float,
                      uniform: float, best: float, error: float, pairs: float | None = None) -> str:
    """Exercise 6: a predicted True or False, that the first run's model trained on every article ends with a
    validation loss under ``counted``, a unigram count of its training tokens on the same validation tokens.
    ``first`` and ``every`` are (final training, final validation) losses of the first run and of that run, ``best``
    the first run's lowest, ``error`` one standard error of the margin between model and count
    (``baselines.against_unigram``): the margin counts as more than counting where it exceeds two of them, and a
    margin within two of them is too close to call either way. ``pairs``: a bigram count of the same text, the next
    line to beat."""
    said = truth(guess)
    if said is None:
        return f"Answer True or False (got {describe(guess)})."
    margin, bar = counted - every[1], 2 * error
    call = "Too close to call" if abs(margin) <= bar else "Right" if said == (margin > 0) else "Not this time"
    lines = [f"{call}: you predicted {said}; its last validation loss "
             f"is {every[1]:.2f}, {abs(margin):.2f} {'under' if margin > 0 else 'above'} a unigram count of its "
             f"training text ({counted:.2f}), ± {error:.2f} (one standard error, by article): " + (
                 "more than two standard errors under, so it beats a count of which tokens are common."
                 if margin > bar else "more than two standard errors above: not yet even which tokens are common."
                 if margin < -bar else "within two standard errors, level with it, which neither True nor False "
                 "predicted: so far it learnt which tokens are common, and little of which follow which."),
             f"The first run's lowest was {best:.2f}: this run ends {'under' if every[1] < best else 'above'} it "
             f"(the uniform guess: {uniform:.2f})."]
    if pairs is not None:
        lines.append(f"A count of its token pairs (the bigram model: one token of context) scores {pairs:.2f}: this "
                     f"run ends {abs(every[1] - pairs):.2f} " + ("under it, so it uses more context than the token "
                     "before." if every[1] < pairs else "above it: it predicts worse than a count of which token "
                     "follows which."))
    gap, first_gap = every[1] - every[0], first[1] - first[0]
    lines.append(f"Validation minus training loss at the end: {gap:.2f} here, {first_gap:.2f} in the first run.")
    if gap >= first_gap:
        lines.append(f"Here the gap did not shrink. The final training losses: {every[0]:.2f} here, {first[0]:.2f} in "
                     "the first run.")
    else:
        lines.append("With far more text than it can memorise in the same steps, the model's training loss stays "
                     "high, and what it does learn carries over to unseen text.")
    return "\n".join(lines)


def dropout_verdict(guess, measured: float, without: float) -> str:
    """Exercise 5's verdict on a predicted final training loss with dropout (``measured``; ``without``: the same run
    without dropout): right when nearer the measured loss than half the distance between the two runs, and than
    0.05 nats; a guess halfway, as near one run as the other, is not."""
    if number(guess) is None or not math.isfinite(number(guess)):
        return f"Answer with a number of nats (got {describe(guess)})."
    guess, direction = number(guess), "higher" if measured > without else "lower"
    within = max(0.05, abs(measured - without) / 2)
    lines = [f"{'Right' if abs(guess - measured) < within else 'Not this time'}: you predicted {guess:.3f}, "
             f"{abs(guess - measured):.3f} from the {measured:.3f} measured with dropout ({direction} than "
             f"{without:.3f} without); right if less than {within:.3f} from it."]
    if direction == "higher":
        lines.append("With random activations zeroed the model cannot fit its text as exactly; and the logged "
                     "training loss is computed in train mode, with dropout active, while evaluation switches it off.")
    else:
        lines.append(f"Here dropout did not raise it: {measured:.3f} against {without:.3f}. One seed cannot tell a "
                     "difference this small from chance; run both again with another SEED to see how much it moves.")
    return "\n".join(lines)


def rise_verdict(guess, valid: list[tuple[int, float]], margin: float = 0.1) -> str:
    """Exercise 5's second verdict: does the validation loss (``valid``: (step, loss) pairs) still rise past its
    minimum with dropout, by more than ``margin`` nats? ``guess`` True or False, in any form ``truth`` reads."""
    said = truth(guess)
    if said is None:
        return f"Still rising: predict it as True or False; got {describe(guess)}."
    if not valid:
        return "No validation loss was logged: run the experiment cell above again."
    (low_step, low), (last_step, last) = min(valid, key=lambda sv: sv[1]), valid[-1]
    rises = last - low > margin
    lines = [f"Still rising? You predicted {said}; with dropout the validation loss was lowest at step {low_step} "
             f"({low:.2f}) and {last:.2f} at step {last_step}: "
             + (f"it rose by {last - low:.2f}" if rises else f"within {margin} nats of its lowest")
             + f": {'right' if said == rises else 'not this time'}."]
    if rises:
        lines.append("Dropout makes memorising harder, not impossible: read many times, a few chunks are still "
                     "learnt by heart.")
    else:
        lines.append(f"Here dropout kept the validation loss within {margin} nats of its lowest.")
    return "\n".join(lines)


def bigram_verdict(guess, last: float, bigram: float, error: float | None = None) -> str:
    """The byte run's prediction: will its last validation loss (``last``) end under the bigram model (``bigram``)?
    ``guess`` True or False, in any form ``truth`` reads; ``error``: one standard error of the margin (by article),
    within two of which the result is too close to call."""
    said = truth(guess)
    if said is None:
        return f"Not quite: predict it as True or False; got {describe(guess)}."
    under, close_call = last < bigram, error is not None and abs(bigram - last) <= 2 * error
    bar = f" (± {error:.2f}, one standard error by article)" if error is not None else ""
    call = ("too close to call: within two standard errors" if close_call else
            "right" if said == under else "not this time")
    lines = [f"Under the bigram model? You predicted {said}; the run ended {abs(bigram - last):.2f} nats "
             f"{'under' if under else 'above'} it{bar}: {call}."]
    if under and not said and not close_call:
        lines.append("A count of pairs sees one byte back; the model reads the whole chunk before each byte, and "
                     "within a word the bytes before say a lot about the next.")
    elif said and not under and not close_call:
        lines.append("In these steps it learnt little beyond what one byte of context gives; more steps take it "
                     "further.")
    return "\n".join(lines)
