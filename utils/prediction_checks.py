"""Notebook 2's predictions, kept out of the cells' sight: Step 1's next word (``next_word_verdict``), the strategies
table's two (which strategy's text is most likely per token; does beam search beat greedy), the KV cache's speed-up
(with the gate that holds the timing until a number is written), and the logit lens's third; and, for notebooks 1
and 3 too, any True-or-False prediction against what happened (``outcome_verdict``); notebook 2's cached keys
(``keys_verdict``) and notebook 3's loss of random weights (``untrained_verdict``); the toy attention's pick in
notebooks 1 and 2 (``largest_weight_verdict``). Each verdict returns the line the check cell prints, whatever the
answer."""

from __future__ import annotations

import math
import re

import torch

from utils.exercises import NOT_ANSWERED, PREDICT_FIRST, describe, number, predicted, truth, unwritten, words
from utils.original_tutorial import GPT2_FIRST_GREEDY_ID, GPT2_FIRST_GREEDY_PIECE, GPT2_PROMPT_IDS, GPT2_PROMPT_PIECES


def _spelled(name: str) -> str:
    """A strategy's name as the verdict compares it: lower case, hyphens as spaces, "nucleus" as "top p", "temp" as
    "temperature"."""
    name = re.sub(r"[\s_-]+", " ", name.strip().lower())
    return re.sub(r"\btemp\b", "temperature", name.replace("nucleus", "top p"))


def strategies_verdict(my_prediction, my_beam_beats_greedy, per_token_lp: dict[str, float],
                       log_probability: dict[str, float]) -> str:
    """The strategies table's two predictions: which strategy's text is most likely per token (``per_token_lp``:
    name -> mean ln P per token; a prediction may be a name or its start), and whether beam search finds a likelier
    text than greedy, per token (both are single texts, and beam search's own score, with ``length_penalty=1``, is
    ln P per token: a text that stops early is not favoured; ``log_probability``: name -> ln P of its first draw)."""
    most = max(per_token_lp, key=per_token_lp.get)
    beam, greedy = per_token_lp["beam search (4)"], per_token_lp["greedy"]
    beats = beam > greedy + 1e-6
    lines = [f"most likely per token: {most} ({per_token_lp[most]:.2f}); beam search {beam:.2f} per token (ln P "
             f"{log_probability['beam search (4)']:.1f}) vs greedy {greedy:.2f} (ln P "
             f"{log_probability['greedy']:.1f}): beam search found "
             + ("a text more likely per token." if beats else "no text more likely per token.")]
    cool, hot = per_token_lp["temperature 0.7"], per_token_lp["temperature 1.5"]
    lines.append(f"ln P per token at temperature 0.7: {cool:.2f}, at 1.5: {hot:.2f}: the hotter draws are "
                 + ("less likely." if hot < cool else "not less likely in this run."))
    guess = _spelled(str(my_prediction))  # a name, or its start: "beam" is "beam search (4)", "top p" is "top-p 0.9"
    named = [s for s in per_token_lp if _spelled(s) == guess] or [
        s for s in per_token_lp
        if guess and (_spelled(s).startswith(guess) or guess.startswith(_spelled(s.split(" (")[0])))]
    if len(named) != 1:
        lines.append(f"Your prediction {describe(my_prediction)} is " + ("none" if not named else "more than one")
                     + f" of: {', '.join(per_token_lp)}.")
    else:
        guess = named[0]
        lines.append(f"You predicted {guess}: " + ("right." if guess == most else f"{per_token_lp[guess]:.2f} per "
                     f"token, {per_token_lp[most] - per_token_lp[guess]:.2f} below the most likely."))
    said = truth(my_beam_beats_greedy)
    if said is not None:
        lines.append(f"Beam search beats greedy: you said {said}, " + ("right." if said == beats else "not this time."))
    else:
        lines.append(f"Beam search beats greedy: {beats}. (Predict it as True or False; got "
                     f"{describe(my_beam_beats_greedy)}.)")
    return "\n".join(lines)


def _times_faster(guess) -> float | None:
    """A predicted speed-up as a number above 0, or None for anything else."""
    value = number(guess)
    return value if value is not None and math.isfinite(value) and value > 0 else None


def speedup_predicted(guess, where: str = "my_cache_speedup, above") -> bool:
    """Whether ``guess`` is a written prediction of the cache's speed-up, a number above 0; if not, says what to
    write, in one line, and the timing cells that asked show nothing (``utils.exercises.predicted``)."""
    if not predicted(guess, where=where):
        return False
    if _times_faster(guess) is None:
        print(f"{describe(guess)} is not a number of times faster: write one above 0 (in {where}), then run this "
              "cell again.")
        return False
    return True


def speedup_verdict(guess, measured: float | None, tokens: int) -> str:
    """The cache's speed-up predicted (a number, how many times faster) against the one ``measured`` over ``tokens``
    new tokens (None: not timed yet): close when within a factor of 2 either way; otherwise the verdict says by how
    many times."""
    if guess is None:
        return NOT_ANSWERED
    if measured is None:
        return "Run the two timing cells above first: they wait for your prediction."
    value = _times_faster(guess)
    if value is None:
        return f"Answer with a number above 0, how many times faster (got {describe(guess)})."
    said = f"You predicted {value:g}x; this run measured {measured:.1f}x over {tokens} new tokens: "
    grows = (" Re-feeding's cost grows with the text, the cached step's hardly at all, so the gain grows with the "
             "number of tokens: it is larger for long texts than for short ones.")
    if value > 2 * measured:  # the usual miss: the tokens fed fall far more than the time
        return (f"{said}{value / measured:.1f} times too high. The cache cuts the tokens fed far more than the time: "
                "each pass still reads every weight, and on a GPU launches its kernels, whatever it feeds.")
    close = value >= measured / 2
    return said + ("within a factor of 2, close." if close else f"{measured / value:.1f} times too low.") + grows


def lens_settles(lens: list[torch.Tensor], choice: int) -> int:
    """The first layer from which ``choice`` stays the lens's top token to the end (``lens``: each layer's
    probabilities at the last position)."""
    return 1 + max((layer for layer, p in enumerate(lens) if int(p.argmax()) != choice), default=-1)


def lens_verdict(guess, lens: list[torch.Tensor], choice: int, tokenizer) -> str:
    """The logit lens's prediction: in which third of the layers (0, the embeddings, to the last) the model's final
    choice becomes the lens's top token and stays so to the end (``lens``: each layer's probabilities at the last
    position; an early layer where it tops the lens only for a while does not count)."""
    if guess is None:
        return NOT_ANSWERED
    named = [third for third in ("early", "middle", "late") if third in (words(guess) or "").split()]
    if len(named) != 1:  # "late", "the late third" and "Late layers." name one; "early or late" names two
        return f"Not quite: answer \"early\", \"middle\" or \"late\"; got {describe(guess)}."
    said = named[0]
    settled = lens_settles(lens, choice)
    third = ("early", "middle", "late")[min(2, 3 * settled // len(lens))]
    return (f"{'Right' if said == third else 'Not this time'}: you predicted {said!r}; the final choice "
            f"{tokenizer.decode([choice])!r} tops the lens after {settled} of the {len(lens) - 1} layers and stays "
            f"there, in the {third} third.")


def outcome_verdict(prediction, happened: bool, what: str) -> str:
    """A True-or-False prediction (that something happens) against whether it did; ``what`` says what was measured."""
    if (said := truth(prediction)) is None:
        return NOT_ANSWERED if prediction is None else (f"Not quite: predict True or False; got "
                                                        f"{describe(prediction)}.")
    return f"You predicted {said}: {what}: " + ("right." if said == happened else "not this time.")


def untrained_verdict(guess, loss: float, uniform: float) -> str:
    """Notebook 3's first prediction: the loss of random weights (``loss``), against the uniform guess's ln V
    (``uniform``); close when within half a nat."""
    if guess is None:
        return NOT_ANSWERED
    value = number(guess)
    if value is None or not math.isfinite(value):
        return f"Answer with a number of nats, e.g. 5.0 (got {describe(guess)})."
    shown = round(loss, 2), round(uniform, 2)  # the difference of the numbers as printed, so that it adds up
    said = (f"You predicted {value:.2f}; random weights scored {shown[0]:.2f}, {shown[0] - shown[1]:+.2f} from ln V = "
            f"{shown[1]:.2f}:")
    if abs(value - loss) <= 0.5:
        return f"{said} close. Knowing nothing yet, the model spreads its guesses almost evenly over the vocabulary."
    if value < loss:
        return (f"{said} too low. Random weights know nothing yet: their probabilities are spread almost evenly, so "
                "the true token gets about 1/V, and -ln(1/V) = ln V.")
    return (f"{said} too high. Random weights give small, similar scores, so the softmax is nearly uniform: about "
            "ln V, not more; a loss far above it needs confident wrong guesses, which training has not made yet.")


@torch.no_grad()
def keys_moved(model, prompt_ids: torch.Tensor, next_id: int) -> float:
    """The largest change in the last layer's cached keys of ``prompt_ids`` (1, n) when ``next_id`` is appended."""
    longer = torch.cat([prompt_ids, torch.tensor([[next_id]], device=prompt_ids.device)], dim=1)
    before = model(prompt_ids, use_cache=True).past_key_values.layers[-1].keys
    after = model(longer, use_cache=True).past_key_values.layers[-1].keys[:, :, :prompt_ids.shape[1]]
    return float((after - before).abs().max())


def keys_verdict(guess, model, prompt_ids: torch.Tensor, next_id: int) -> str:
    """The KV cache's prediction: will the prompt's keys in the last layer change when one token is appended?"""
    moved = keys_moved(model, prompt_ids, next_id)
    how = ("did not move at all" if moved == 0 else f"moved by at most {moved:.1e}" + (
        " (rounding: the same sums in another order)" if moved <= 1e-4 else ""))
    said = outcome_verdict(guess, moved > 1e-4, f"the prompt's last-layer keys {how}")
    why = (" Each position's key is computed from the tokens up to it, and no later token reaches it: that is what "
           "lets a cache keep them.")
    return said + (why if said.startswith("You predicted") else "")


def largest_weight_verdict(guess, q: torch.Tensor, k: torch.Tensor, weights: torch.Tensor,
                           row: int | None = None) -> str:
    """The toy attention's prediction: which token (1, 2, ...) gets row ``row``'s largest weight (1-based; the last
    row if None; ``weights``: the rows' softmax), with the dot products of that row's query with each key ``k[j]``.
    Notebook 1's toy sees every token; notebook 2's masks the future, and a token the mask hid is named."""
    if unwritten(guess):
        return NOT_ANSWERED
    n = len(weights)
    at = n if row is None else row
    written = isinstance(guess, str) and guess.strip().isdigit()  # "1" as well as 1
    pick, top = int(guess.strip()) if written else number(guess), int(weights[at - 1].argmax()) + 1
    if pick is None or pick not in range(1, n + 1):
        return f"Answer a token's number, 1 to {n} (got {describe(guess)})."
    root, query = q.shape[-1] ** 0.5, q[at - 1]
    scores = [float(query @ k[j]) for j in range(n)]  # q·k of that row's query with every key, before any mask
    dots = "; ".join(f"token {j + 1}: q·k = {scores[j]:g}, score q·k/√d = {scores[j] / root:.2f}, "
                     f"weight {float(w):.2f}" for j, w in enumerate(weights[at - 1]))
    why = ("" if top == at else " A score is a dot product, not a cosine similarity: the key's length counts, so a "
           f"long key along the query can score more than the token's own key, {scores[at - 1]:g} here.")
    ahead = (f" Token {top} comes after token {at}: with no mask a token may read ahead, as a masked LM does; a causal "
             "mask would hide it." if top > at else "")
    best = max(range(n), key=scores.__getitem__) + 1  # the largest score, mask or no mask
    hidden = (f" Token {best} has the row's largest score, but it comes after token {at}: the causal mask hides it, "
              "weight 0." if best > at and float(weights[at - 1][best - 1]) == 0 else "")
    return (f"{'Right' if pick == top else 'Not this time'}: token {top} gets row {at}'s largest weight ({dots}).{why}"
            f"{ahead}{hidden}")


def next_word_verdict(my_next_word, tokenizer, next_token_logits: torch.Tensor, prompt_ids: torch.Tensor) -> str:
    """Step 1's prediction: where the model ranks the predicted word's first token, and what it chose; then what
    GPT-2 printed in the original tutorial, and whether this run gave the same ids."""
    where = "my_next_word, under Step 1"
    if my_next_word is not None and not isinstance(my_next_word, str):
        return f"Not quite: write your word as text, in quotes; got {describe(my_next_word)}."
    if my_next_word is None or not my_next_word.strip():
        return PREDICT_FIRST.format(where=where)
    pieces = tokenizer(" " + my_next_word.strip(), add_special_tokens=False)["input_ids"]  # after a space
    p, chosen = next_token_logits.softmax(-1), int(next_token_logits.argmax())
    rank = int((p > p[pieces[0]]).sum()) + 1
    same = prompt_ids.reshape(-1).tolist() == GPT2_PROMPT_IDS and chosen == GPT2_FIRST_GREEDY_ID
    return "\n".join([
        f"You predicted {my_next_word.strip()!r}: the model ranks {tokenizer.decode(pieces[:1])!r} "
        + (f"(its first piece of {len(pieces)}) " if len(pieces) > 1 else "")
        + f"number {rank:,} of its candidates, p = {p[pieces[0]]:.3f}; it chose {tokenizer.decode([chosen])!r}, "
          f"p = {p[chosen]:.3f}.",
        f"GPT-2 in the original tutorial: {len(GPT2_PROMPT_IDS)} tokens, {' + '.join(map(repr, GPT2_PROMPT_PIECES))} "
        f"(ids {GPT2_PROMPT_IDS}), then {GPT2_FIRST_GREEDY_PIECE!r} (id {GPT2_FIRST_GREEDY_ID}).",
        "Your run gave exactly these." if same else
        "Your run's model has its own vocabulary and weights, so its own ids and choice."])
