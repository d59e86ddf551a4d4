"""Notebook 2's check cells for decoding, kept out of the cells' sight: greedy decoding and the probability of a
continuation (exercises 1a, 1b), several prompts decoded at once (exercise 1c), greedy decoding with the KV cache
(exercise 2) and the tokens it saves (exercise 3), a temperature at which sampling is greedy (exercise 4), the
sampling loop (exercise 6), beam search (exercise 7) (the predictions: ``utils.prediction_checks``). Each returns the
line the check cell prints, whatever the answer."""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from utils import generation
from utils.exercises import (
    NOT_ANSWERED,
    NOT_ANSWERED_HINT,
    describe,
    number,
    on_its_classes,
    token_ids,
    without,
)
from utils.generation import continuation_log_probability, greedy_decode
from utils.sampling import MIN_TEMPERATURE, check_settings, filtered_probabilities


@torch.no_grad()
def _continuation_slip(model, ids: list[int], start: int, value: float) -> str:
    """What a wrong ``my_log_probability(ids, start)`` most likely did, from the number it returned."""
    sequence = torch.tensor([ids], device=model.device)
    logits = model(sequence).logits[0].float()
    log_p = logits.log_softmax(-1)
    after = sequence[0, 1:, None]  # token i + 1, for the scores at position i
    own = log_p[:-1].gather(1, after)[:, 0]  # ln p of each token after the first, given those before it
    slips = {"that is P itself; return ln P, its logarithm": math.exp(float(own[start - 1:].sum())),
             "that is the mean per token; add them up": float(own[start - 1:].mean()),
             "that counts the prompt's tokens too; start at prompt_length": float(own.sum()),
             "the scores at position i predict token i + 1, so token i's ln p is at position i - 1":
                 float(log_p[start:].gather(1, sequence[0, start:, None]).sum()),
             "that is each step's best token, not the text's own tokens: gather each next token's ln p":
                 float(log_p[start - 1:-1].max(-1).values.sum()),
             "those are raw scores; log_softmax turns them into ln p first":
                 float(logits[:-1].gather(1, after)[start - 1:].sum())}
    return next((slip for slip, wrong in slips.items() if abs(value - wrong) <= 1e-3 * max(1.0, abs(wrong))),
                "it differs from the sum of ln p(token i | the tokens before it), for i from prompt_length on")


@contextmanager
def _passes(model):
    """The forward passes made through ``model`` inside the block: the tokens each fed (0 where it was not handed a
    tensor of ids)."""
    fed = []

    def count(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        fed.append(ids.shape[-1] if isinstance(ids, torch.Tensor) else 0)

    hook = model.base_model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        yield fed
    finally:
        hook.remove()


def continuation_verdict(my_log_probability, model, decoded) -> str:
    """Exercise 1b: ``my_log_probability(ids, prompt_length)``, ln P of ``ids[prompt_length:]`` given what comes
    before each, from one forward pass, against ``continuation_log_probability``: on the greedy continuation
    (``decoded``), the same ids with a prompt 2 tokens longer, and the continuation reversed (tokens the model did
    not choose)."""
    prompt, ids = len(decoded.prompt_ids), list(decoded.ids)
    cases = (("the greedy continuation", ids, prompt), ("the same ids with a prompt 2 tokens longer", ids, prompt + 2),
             ("the continuation reversed", ids[:prompt] + ids[prompt:][::-1], prompt))
    found = []  # the right ln P of each case, the greedy continuation's first
    for name, case, start in cases:
        with _passes(model) as passes, without((generation, "continuation_log_probability")):  # what it rebuilds
            answer = my_log_probability(list(case), start)
        if answer is None:
            return NOT_ANSWERED_HINT
        if (value := number(answer)) is None:
            return f"Not quite: return ln P, one number; on {name} got {describe(answer)}."
        expected = continuation_log_probability(model, case, start)
        if abs(value - expected) > 1e-3 * max(1.0, abs(expected)):
            return f"Not quite: on {name}, {value:.4g}: {_continuation_slip(model, case, start, value)}."
        if len(passes) != 1:
            return (f"Not quite: right on {name}, but from {len(passes)} forward passes. One pass over the whole "
                    "sequence scores every position at once: the logits at position i - 1 give token i's ln p.")
        found.append(expected)
    total = found[0]
    return (f"Correct: one pass gives every step's ln p at once. The greedy continuation: ln P = {total:.2f}, so P = "
            f"e^{total:.2f} = {math.exp(total):.3g}, the step table's chosen probabilities multiplied. A whole text is "
            "far less likely than any single token. On real text, minus ln P per token is notebook 3's loss.")


@torch.no_grad()
def _batched_greedy(model, tokenizer, prompts: list[str], n: int, mask: bool = True, positions: bool = True) -> list:
    """n greedy tokens after each of ``prompts``, from one batch as exercise 1c decodes it: pads on the left, the
    attention mask and positions counted from each row's first real token, each where asked (the slips' own runs)."""
    batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left").to(model.device)
    ids, seen = batch["input_ids"], batch["attention_mask"]
    for _ in range(n):
        extra = ({"attention_mask": seen} if mask else {}) | (
            {"position_ids": (seen.cumsum(-1) - 1).clamp(min=0)} if positions else {})
        pick = model(input_ids=ids, **extra).logits[:, -1].argmax(-1, keepdim=True)
        ids, seen = torch.cat([ids, pick], 1), torch.cat([seen, torch.ones_like(pick)], 1)
    return ids[:, -n:].tolist()


def batch_verdict(my_batch_greedy, model, tokenizer, prompts: list[str], n: int, pad_token_id: int) -> str:
    """Exercise 1c: ``my_batch_greedy(prompts, n)`` against each prompt alone (or a near-tie's other way), or a slip."""
    if tokenizer.pad_token is None:
        return "Run the cell under *Several prompts at once* first: it gives the tokenizer a padding token."
    alone = [model.generate(**tokenizer(p, return_tensors="pt").to(model.device), max_new_tokens=n, do_sample=False,
                            pad_token_id=pad_token_id)[0, -n:].tolist() for p in prompts]
    was, tokenizer.padding_side = tokenizer.padding_side, "right"  # the default: a loop must choose its side
    try:
        with without((model, "generate"), *on_its_classes(model, "generate")):  # the loop the student writes
            mine = my_batch_greedy(list(prompts), n)
    finally:
        side, tokenizer.padding_side = tokenizer.padding_side, was
    if mine is None:
        return NOT_ANSWERED_HINT
    rows = [token_ids(row) for row in mine] if isinstance(mine, (list, tuple, torch.Tensor)) else []
    if len(rows) != len(prompts) or any(row is None or len(row) != n for row in rows):
        return (f"Not quite: return {len(prompts)} lists, one per prompt, each of its n = {n} new token ids; got "
                f"{describe(mine)}.")
    if rows == alone or rows == _batched_greedy(model, tokenizer, list(prompts), n):
        return "Correct: each prompt continues as it does alone, though all of them were decoded in one batch."
    longest = max(range(len(prompts)), key=lambda i: len(tokenizer(prompts[i])["input_ids"]))  # a row with no pads
    if side == "right" and rows[longest] == alone[longest]:
        return ("Not quite: the pads are on the right (tokenizer.padding_side is 'right'), so the shorter prompt's "
                "next token is read at a pad: pad on the left.")
    for slip, change in {"the pads are not masked: pass attention_mask, one longer for each new token": {"mask": False},
                         "the positions count the pads: pass position_ids counted from each row's first real token "
                         "(the attention mask's running sum, minus 1)": {"positions": False}}.items():
        if (slipped := _batched_greedy(model, tokenizer, list(prompts), n, **change)) != alone and rows == slipped:
            return f"Not quite: {slip}."
    i = next(i for i, (a, b) in enumerate(zip(rows, alone)) if a != b)
    j = next(j for j, (a, b) in enumerate(zip(rows[i], alone[i])) if a != b)
    return (f"Not quite: prompt {i + 1}'s new ids first differ from its continuation alone at new token {j + 1}: "
            f"{rows[i][j]} against {alone[i][j]}. Pad on the left, mask the pads, and count positions from each row's "
            "first real token.")


NEAR_TIE = 1e-3  # two scores this close are a tie: a cached pass and a full one may round either to the top


@torch.no_grad()
def _off_greedy(model, ids: list[int], start: int) -> int | None:
    """The first of ``ids`` after position ``start`` that is neither its step's best score nor within ``NEAR_TIE`` of
    it (its index), by one pass over them all; None if there is none."""
    if any(not 0 <= i < model.get_input_embeddings().num_embeddings for i in ids):
        return start
    logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0].float()
    return next((i for i in range(start, len(ids)) if float(logits[i - 1].max() - logits[i - 1, ids[i]]) > NEAR_TIE),
                None)


def loop_verdict(my_loop, model, prompt_ids: torch.Tensor, n: int, expected: list[int] | None = None,
                 cached: bool = True) -> str:
    """Exercise 1a (``cached=False``: ``my_greedy``) and exercise 2 (``my_cached_greedy``): ``my_loop(prompt_ids,
    n)``, greedy decoding, against the model: each new id its step's best score or within ``NEAR_TIE`` of it (and, where
    given, ``expected``: Step 3's ids); the forward passes fed the whole sequence each time, or with the cache the
    prompt and then one token each. ``model.generate`` and ``utils.generation.greedy_decode`` are refused meanwhile."""
    with _passes(model) as fed, without((model, "generate"), *on_its_classes(model, "generate"),
                                        (generation, "greedy_decode"), (generation, "_decode_once")):
        answer = my_loop(prompt_ids, n)
    if answer is None:
        return NOT_ANSWERED_HINT
    if (got := token_ids(answer)) is None:
        return f"Not quite: return the token ids as a list of ints, not {describe(answer)}."
    prompt = prompt_ids.reshape(-1).tolist()
    if list(got[:len(prompt)]) != prompt:
        return "Not quite: start with the prompt's ids, then the n new ones, all in one list."
    full = len(got) == len(prompt) + n
    off = None if not full or list(got) == expected else _off_greedy(model, list(got), len(prompt))
    if not full or off is not None:
        at = off if off is not None else next((i for i, (a, b) in enumerate(zip(got, expected or [])) if a != b),
                                              min(len(got), len(prompt) + n))
        return (f"Not quite: {len(got) - len(prompt)} new tokens; they part from greedy decoding's "
                f"{n} at new token {at - len(prompt) + 1}. (Each step: the argmax of the "
                "last position's logits" + ("; feed only that token next, with past_key_values from the step before.)"
                                            if cached else ", appended to the ids for the next pass.)"))
    if not cached and fed != list(range(len(prompt), len(prompt) + n)):
        return (f"Not quite: the right tokens, but your forward passes fed {fed} tokens: without the cache each pass "
                f"reads the whole sequence so far ({len(prompt)}, then one more each time), n = {n} passes.")
    if cached and (not fed or fed[0] != len(prompt) or any(f != 1 for f in fed[1:])):
        return (f"Not quite: the right tokens, but your forward passes fed {fed} tokens: with the cache the first "
                f"feeds the prompt ({len(prompt)}) and every later one only the newest token (1), with "
                "past_key_values.")
    ties = [k + 1 for k, (a, b) in enumerate(zip(got[len(prompt):], (expected or got)[len(prompt):])) if a != b]
    tied = (f" From new token {ties[0]} on yours differ from Step 3's: there the best two scores were within "
            f"{NEAR_TIE:g}, a tie that Step 3's loop broke the other way; each of yours is its step's best." if ties
            else "")
    how = (f"one pass over the prompt's {len(prompt)} tokens and then one token per pass" if cached else
           f"{n} passes over the whole sequence so far ({len(prompt)}, {len(prompt) + 1}, ... tokens)")
    return f"Correct: greedy decoding's {n} tokens, from {how}.{tied}"


def your_loop(my_loop, model, tokenizer, prompt_ids: torch.Tensor, n: int, cached: bool, candidates: int = 3,
              repeats: int = 1, checked_at: int = 6) -> generation.Decoded:
    """Exercise 1a's or 2's loop, run by the notebook after its exercise: ``my_loop`` decodes ``n`` tokens, each
    forward pass recorded (``traced_decode``), if ``loop_verdict`` accepts it on ``checked_at`` tokens; otherwise
    ``greedy_decode``, the same loop written in ``utils``. Prints in one line which loop ran."""
    name = getattr(my_loop, "__name__", "your loop")
    try:
        line = loop_verdict(my_loop, model, prompt_ids, min(n, checked_at), cached=cached)
    except Exception as error:  # noqa: BLE001 - any mistake in the student's loop falls back to ours
        line = f"raised {type(error).__name__}"
    if line.startswith("Correct"):
        try:
            decoded = generation.traced_decode(my_loop, model, tokenizer, prompt_ids, n, candidates, repeats)
            print(f"Your {name} ran, each of its forward passes recorded by a hook on the model.")
            return decoded
        except Exception as error:  # noqa: BLE001 - right on a few tokens, wrong on n: ours runs, and says why
            line = f"passed its check on {min(n, checked_at)} tokens but not on {n} ({type(error).__name__})"
    why = ("is not written yet" if line == NOT_ANSWERED_HINT else line if line.startswith(("raised", "passed")) else
           "does not pass its check yet")
    print(f"{name} {why}: greedy_decode ran instead{', with the cache' if cached else ''} (yours runs once its check "
          "passes).")
    return greedy_decode(model, tokenizer, prompt_ids.reshape(-1).tolist(), n, use_cache=cached,
                         candidates=candidates, repeats=repeats)


def work_verdict(work_refeed, work_cached, model, tokenizer, prompt: str) -> str:
    """Exercise 3: the formulas for the tokens fed without and with the cache, against the two loops' counts on 5
    new tokens after ``prompt``, then on two cases counted by hand (3 prompt tokens and 5 new ones: 3+4+5+6+7 and
    3+4; 4 and 7: 4+...+10 and 4+6), so that a formula right at one N only (n + 4 for the cache) is caught."""
    counted = [greedy_decode(model, tokenizer, prompt, 5, use_cache=cache) for cache in (False, True)]
    n, N = len(counted[0].prompt_ids), len(counted[0].steps)
    measured = [sum(s.tokens_fed for s in run.steps) for run in counted]
    mine = (work_refeed(n, N), work_cached(n, N))
    if any(m is None for m in mine):
        return f"{NOT_ANSWERED} (Here n={n} and N={N}.)"
    if [number(m) for m in mine] != measured:
        return (f"Not quite: your formulas give {describe(mine[0])} and {describe(mine[1])} for n={n}, N={N}; the "
                f"loops processed {measured[0]} and {measured[1]}. (The last token chosen is never fed back.)")
    for n, N, by_hand in ((3, 5, [25, 7]), (4, 7, [49, 10])):
        mine = (work_refeed(n, N), work_cached(n, N))
        if [number(m) for m in mine] != by_hand:
            return (f"Not quite: right for the loops above, but for n={n}, N={N} your formulas give "
                    f"{describe(mine[0])} and {describe(mine[1])}: count those by hand, and write the formulas in n "
                    "and N.")
    return "Correct: the positions fed grow quadratically without the cache, linearly with it."


SAMPLING_SETTINGS = [(0.8, 0, 1.0), (1.0, 20, 0.9)]  # (temperature, top_k, top_p): no top-k, then all three


def sampling_verdict(my_sample, model, start, n: int, pad_token_id: int, seed: int) -> str:
    """Exercise 6: ``my_sample(prompt_ids, n, temperature, top_k, top_p)`` against ``generate(do_sample=True)`` from
    the same seed, token for token, at each of ``SAMPLING_SETTINGS``: the prompt's ids and n new ones (generate may
    stop early at the end-of-text token; the student's loop need not)."""
    prompt_length = start["input_ids"].shape[-1]
    for temperature, top_k, top_p in SAMPLING_SETTINGS:
        torch.manual_seed(seed)
        with without((model, "generate"), *on_its_classes(model, "generate")):  # the loop the student rebuilds
            mine = my_sample(start["input_ids"], n, temperature, top_k, top_p)
        if mine is None:
            return NOT_ANSWERED_HINT
        torch.manual_seed(seed)
        theirs = model.generate(**start, max_new_tokens=n, do_sample=True, temperature=temperature, top_k=top_k,
                                top_p=top_p, pad_token_id=pad_token_id)[0].tolist()
        if token_ids(mine) is None:
            return f"Not quite: return the token ids as a list of ints, not {describe(mine)}."
        mine = token_ids(mine)  # a tensor, a tuple or a list of one-element tensors: the same ids
        if mine[:len(theirs)] != theirs:
            at = next(i for i, (a, b) in enumerate(zip([*mine, *[None] * len(theirs)], theirs)) if a != b)
            maybe_right, how = _how_drawn(model, mine, prompt_length, temperature, top_k, top_p)
            if maybe_right and (fits := _draws_fit(my_sample, model, start, temperature, top_k, top_p))[0]:
                return (f"Correct, though not generate's draws: every token you drew is one the filters keep, and "
                        f"over {DRAWS} first tokens your sampler follows the filtered distribution ({fits[1]}). "
                        "generate draws with torch.multinomial; another way of drawing gives other tokens from the "
                        "same seed.")
            opening = "Not generate's draws" if maybe_right else "Not quite"
            if maybe_right:
                how = (f"Every token you drew is one the filters keep, but over {DRAWS} first tokens your draws do not "
                       f"follow the filtered distribution ({fits[1]}): draw each kept token with its probability. ")
            return (f"{opening} at temperature {temperature}, top_k {top_k}, top_p {top_p}: your ids first differ "
                    f"from generate's at position {at} (the prompt has {prompt_length}): "
                    f"{mine[at] if at < len(mine) else 'none'} against {theirs[at]}. " + how +
                    "The check needs generate's draws: torch.multinomial over the whole filtered distribution, once "
                    "per token, from the prompt's ids; the same seed gives the same tokens only if nothing else "
                    "draws random numbers in between.")
        if len(mine) != prompt_length + n and mine != theirs:
            return (f"Not quite: generate's tokens, then {len(mine) - len(theirs)} more: return the prompt's ids and "
                    f"n = {n} new ones, {prompt_length + n} ids in all (you returned {len(mine)}).")
    return ("Correct: your loop draws exactly generate's tokens at both settings: sampling is the greedy loop with "
            "argmax replaced by a draw from the filtered distribution.")


DRAWS = 400  # first tokens drawn to test a sampler that draws other tokens than generate's (one forward pass)


def _draws_fit(my_sample, model, start, temperature, top_k, top_p) -> tuple[bool, str]:
    """(do ``DRAWS`` first tokens of ``my_sample`` follow the filtered distribution?, the chi-squared test's numbers):
    tokens expected fewer than 5 times are pooled; the bound is the 0.1% point (Wilson-Hilferty)."""
    print(f"Your draws differ from generate's: drawing {DRAWS} first tokens with your sampler to test them", flush=True)
    n = start["input_ids"].shape[-1]
    with torch.no_grad():
        p = filtered_probabilities(model(**start).logits[0, -1].float(), temperature, top_k, top_p).double()
    counts = torch.zeros_like(p)
    refused = without((model, "generate"), *on_its_classes(model, "generate"))
    with refused, generation.prompt_remembered(model, start["input_ids"]):  # the prompt's pass runs once
        for _ in range(DRAWS):
            ids = token_ids(my_sample(start["input_ids"], 1, temperature, top_k, top_p))
            if ids is None or len(ids) <= n or not 0 <= ids[n] < len(p):
                return False, "one draw gave no token of the vocabulary"
            counts[ids[n]] += 1
    common = p * DRAWS >= 5
    observed = torch.cat([counts[common], counts[~common].sum()[None]])
    expected = torch.cat([p[common] * DRAWS, (p[~common] * DRAWS).sum()[None]])
    if bool((observed[expected == 0] > 0).any()):
        return False, "a token the filters remove was drawn"
    chi2 = float(((observed - expected)[expected > 0] ** 2 / expected[expected > 0]).sum())
    df = max(int((expected > 0).sum()) - 1, 1)
    bound = df * (1 - 2 / (9 * df) + 3.09 * math.sqrt(2 / (9 * df))) ** 3
    return chi2 <= bound, f"chi-squared {chi2:.1f} on {df} degrees of freedom, bound {bound:.1f}"


@torch.no_grad()
def _how_drawn(model, ids: list[int], prompt_length: int, temperature, top_k, top_p) -> tuple[bool, str]:
    """(may the sampler be right?, what its draws after the prompt say of it), from one forward pass: a token the
    filters remove, the most likely token every time, or only tokens the filters keep; (False, "") when the ids are
    not this model's."""
    if any(not 0 <= i < model.config.vocab_size for i in ids) or len(ids) > model.config.max_position_embeddings:
        return False, ""
    logits = model(torch.tensor([ids], device=model.device)).logits[0].float()
    for position in range(prompt_length, len(ids)):
        if filtered_probabilities(logits[position - 1], temperature, top_k, top_p)[ids[position]] == 0:
            return False, f"At position {position} you drew a token the filters remove: filter first, then draw. "
    if ids[prompt_length:] == logits[prompt_length - 1:len(ids) - 1].argmax(-1).tolist():
        return False, "You took the most likely token at every step: that is greedy decoding, not a draw. "
    return True, ("Every token you drew is one the filters keep at its step: if your loop divides by the "
                  "temperature and filters before it draws, it may be right and draw differently (from the kept "
                  "tokens only, say). ")


def temperature_verdict(answer, model, start, decoded, pad_token_id: int, seed: int) -> str:
    """Exercise 4: a temperature at which seeded sampling (no top-k or top-p) gives ``decoded``'s greedy tokens, and
    how much of the probability the favourite holds, at that temperature, at every step of the greedy path."""
    if answer is None:
        return NOT_ANSWERED
    t = number(answer)
    if t is None:
        return f"Not quite: the temperature must be a number above 0, got {describe(answer)}."
    try:
        check_settings(t, 0, 1.0)  # the check generate's settings get in utils.sampling
    except ValueError as problem:
        if 0 < t < MIN_TEMPERATURE:
            return f"Right idea, but too small to compute with: use at least {MIN_TEMPERATURE:g}."
        return f"Not quite: {problem}" + (" T = 0 itself is greedy decoding (do_sample=False): try a small T above "
                                          "0." if t == 0 else "")
    new = len(decoded.ids) - len(decoded.prompt_ids)
    torch.manual_seed(seed)
    sampled = model.generate(**start, max_new_tokens=new, do_sample=True, temperature=t, top_k=0, top_p=1.0,
                             pad_token_id=pad_token_id)[0].tolist()
    with torch.no_grad():  # the logits before each greedy token: one pass over the prompt and its continuation
        logits = model(torch.tensor([decoded.ids])).logits[0, len(decoded.prompt_ids) - 1:-1].float()
    weakest = float((logits / t).softmax(-1).max(-1).values.min())
    if sampled == decoded.ids and weakest > 0.99:
        held = "over 0.999" if weakest > 0.999 else f"at least {weakest:.3f}"
        return (f"Same as greedy! At T = {t:g} the favourite holds {held} of the probability at every "
                f"one of the {new} steps: sampling has become argmax.")
    if sampled == decoded.ids:
        return (f"Not quite: the same as greedy with this seed, but at T = {t:g} the favourite holds only "
                f"{weakest:.3f} at one of the {new} steps: another seed could differ. Try a smaller temperature.")
    return (f"Not quite: not the same as greedy: at T = {t:g} the favourite holds only {weakest:.3f} at one of the "
            f"{new} steps. Try a smaller temperature.")


BEAM_SETTINGS = dict(num_beams=2, do_sample=False, length_penalty=1.0, early_stopping=False)


def beam_verdict(my_beam_search, model, tokenizer, start, n: int, pad_token_id: int) -> str:
    """Exercise 7: ``my_beam_search(prompt_ids, n)`` against ``generate(num_beams=2)``'s ids, with ln P beside
    greedy's; beams that never end are right too, and the message says why generate's may differ."""
    settings = BEAM_SETTINGS | dict(max_new_tokens=n, pad_token_id=pad_token_id)
    with without((model, "generate"), *on_its_classes(model, "generate")):  # the search the student rebuilds
        mine = my_beam_search(start["input_ids"], n)
    mine = token_ids(mine) or mine  # a tensor, or a list of one-element tensors: the same ids
    if mine is None:
        return NOT_ANSWERED_HINT
    if not isinstance(mine, (list, tuple)) or not all(isinstance(t, int) for t in mine):
        return f"Not quite: return the token ids as a list of ints, not {describe(mine)}."
    prompt, theirs = start["input_ids"][0].tolist(), model.generate(**start, **settings)[0].tolist()
    if list(mine) == theirs:
        greedy = model.generate(**start, **settings | dict(num_beams=1))[0].tolist()
        return (f"Correct: your 2 beams give generate(num_beams=2)'s text, {tokenizer.decode(theirs[len(prompt):])!r}, "
                f"ln P = {continuation_log_probability(model, theirs, len(prompt)):.1f} (greedy's: "
                f"{continuation_log_probability(model, greedy, len(prompt)):.1f}).")
    if list(mine) == model.generate(**start, **settings, eos_token_id=None)[0].tolist():
        return ("Correct for beams that never end. Here a beam reached the end-of-text token: generate set it aside "
                "as a finished text, scored ln P / its number of new tokens (length_penalty=1.0), and went on with the "
                "other beams, so its texts can differ from yours.")
    if list(mine[:len(prompt)]) != prompt:
        return "Not quite: start from the prompt's ids, and return them too, followed by the n new tokens."
    return (f"Not quite: yours {tokenizer.decode(mine[len(prompt):])!r}, generate's "
            f"{tokenizer.decode(theirs[len(prompt):])!r}. (Score a beam by the sum of ln p over its tokens, not by its "
            "last token; extend each beam by its 2 best tokens, then keep the best 2 of all the candidates.)")
