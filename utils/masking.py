"""Notebook 1's checks: the MLM head's scores rebuilt from its weights, the masked-LM corruption, measured (how a
batch was changed, compared with ``DataCollatorForLanguageModeling`` on the same tokens), a batch's masked-LM loss
compared with the model's own, and a few training steps on the model's top.

A corruption picks some of the non-special tokens (the labels hold the original id there and -100 everywhere else)
and shows each picked token as the mask token (BERT's ``[MASK]``), as a random token, or unchanged; every other token
is shown as it is. Every verdict is one line, for any answer: what is right, or what differs and where to look.
"""

from __future__ import annotations

import math
import random
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from utils.exercises import CROSS_ENTROPY_ITSELF, NOT_ANSWERED, Rebuilt, describe, mismatch, number, without
from utils.support.allocator import release_freed_memory
from utils.support.validation import check_corruption_batch

TOKENS = 200_000  # non-special tokens each side corrupts: ~30,000 picked, so 4 standard errors are ~1.3 points
SEED = 0  # the answer runs with torch's, numpy's and Python's generators seeded: the same answer, the same verdict
# The collator draws from a generator of its own, seeded otherwise, so its draws are independent of the answer's:
# under one seed, torch.rand(shape) < 0.15 would pick exactly the positions the collator's torch.bernoulli picks.
COLLATOR_SEED = 1
RATES = {"picked": 0.15, "mask": 0.8, "random": 0.1, "unchanged": 0.1}  # what each rate should be
STANDARD_ERRORS = 4  # a rate may differ from the collator's by 4 standard errors of two independent samples' difference


@dataclass(frozen=True)
class Corruption:
    """Counts over one corrupted batch."""

    tokens: int  # non-special tokens in the batch
    picked: int  # positions whose label is not -100
    masked: int  # picked and shown as [MASK]
    random: int  # picked and shown as another token
    kept: int  # picked and shown unchanged
    special_picked: int  # picked special tokens ([CLS], [SEP], [PAD], ...): a collator never picks them
    wrong_labels: int  # picked positions whose label is not the original token's id
    changed_unpicked: int  # positions not picked whose token changed anyway
    random_ids: int  # how many different ids the random tokens have (nearly one each, drawn from the vocabulary)
    random_top: int = -1  # the largest id among the random tokens (-1: none): drawn from all of them, near the top

    def rates(self) -> dict[str, float]:
        """The share of the non-special tokens picked, then how the picked ones were shown (keys as ``RATES``)."""
        picked = max(self.picked, 1)
        return {"picked": self.picked / max(self.tokens, 1), "mask": self.masked / picked,
                "random": self.random / picked, "unchanged": self.kept / picked}

    def sizes(self) -> dict[str, int]:
        """How many draws each rate counts: every non-special token for ``picked``, the picked ones for the rest."""
        return {"picked": max(self.tokens, 1), "mask": max(self.picked, 1), "random": max(self.picked, 1),
                "unchanged": max(self.picked, 1)}


def tolerances(mine: Corruption, theirs: Corruption) -> dict[str, float]:
    """How far each of two independent corruptions' rates may differ: ``STANDARD_ERRORS`` standard errors of the
    difference of two binomial rates, sqrt(p (1 - p) (1/n1 + 1/n2)), at the rates ``RATES`` says they should have."""
    n1, n2 = mine.sizes(), theirs.sizes()
    return {name: STANDARD_ERRORS * math.sqrt(p * (1 - p) * (1 / n1[name] + 1 / n2[name])) for name, p in RATES.items()}


def measure(original: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor, special: torch.Tensor,
            mask_id: int) -> Corruption:
    """What a corruption did to ``original`` (all four tensors shaped (batch, positions); ``special`` is True at
    special tokens)."""
    picked = labels != -100
    masked = picked & (inputs == mask_id)
    kept = picked & (inputs == original)
    random = picked & ~masked & ~kept
    return Corruption(tokens=int((~special).sum()), picked=int(picked.sum()), masked=int(masked.sum()),
                      random=int(random.sum()), kept=int(kept.sum()),
                      special_picked=int((picked & special).sum()),
                      wrong_labels=int((picked & (labels != original)).sum()),
                      changed_unpicked=int((~picked & (inputs != original)).sum()),
                      random_ids=len(inputs[random].unique()),
                      random_top=int(inputs[random].max()) if random.any() else -1)


@contextmanager
def seeded(seed: int):
    """Seed torch's, numpy's and Python's generators, and give the caller's states back afterwards."""
    python, legacy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(legacy)


def _as_ids(tensor, what: str, shape: tuple[int, ...]) -> torch.Tensor | str:
    """``tensor`` as a tensor of whole numbers shaped ``shape``, or a sentence saying why it is not one."""
    if isinstance(tensor, (str, bytes, dict, set)) or tensor is None:
        return f"{what} is {describe(tensor)}, not a tensor of token ids"
    try:
        tensor = torch.as_tensor(tensor)
    except (TypeError, ValueError, RuntimeError):
        return f"{what} ({type(tensor).__name__}) is not a tensor of token ids"
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        return f"{what} holds {tensor.dtype} values; token ids are whole numbers (input_ids.clone() keeps the dtype)"
    if tuple(tensor.shape) != shape:
        return f"{what} has the shape {tuple(tensor.shape)}, not that of the input_ids it was given, {shape}"
    return tensor.long()


def _shape_problem(result, shape: tuple[int, ...]) -> str | tuple[torch.Tensor, torch.Tensor]:
    """The answer's (inputs, labels) as id tensors, or what is wrong with its form."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return f"return two tensors, (inputs, labels); got {describe(result)}"
    pair = [_as_ids(part, name, shape) for part, name in zip(result, ("inputs", "labels"))]
    problems = [p for p in pair if isinstance(p, str)]
    return "; ".join(problems) if problems else tuple(pair)


def _structure_problem(mine: Corruption, inputs: torch.Tensor, tokenizer: PreTrainedTokenizerBase) -> str | None:
    """What is wrong with the answer's labels and untouched tokens, whatever its rates."""
    mask = tokenizer.mask_token
    if (inputs == -100).any():
        return "your first tensor holds -100: return (inputs, labels), in that order"
    if mine.wrong_labels:
        return (f"at {mine.wrong_labels:,} picked positions the label is not the original token's id: a label is what "
                "the model must recover, the token before corruption")
    if mine.special_picked and mine.picked - mine.special_picked >= 0.9 * mine.tokens:
        return (f"your labels hold a token id at {mine.picked:,} positions, nearly all of them: labels must be -100 "
                "wherever a token was not picked")
    if mine.special_picked:
        return (f"you picked {mine.special_picked:,} special tokens: the tokenizer's "
                f"{', '.join(tokenizer.all_special_tokens)} (tokenizer.all_special_ids) are never picked")
    if mine.changed_unpicked:
        return (f"{mine.changed_unpicked:,} tokens that were not picked (label -100) changed: only picked tokens are "
                f"shown as {mask} or a random token")
    if mine.random >= 20 and mine.random_ids < min(mine.random / 2, 100):  # a few ids, used again and again
        return (f"your {mine.random:,} random tokens hold only {mine.random_ids} different id(s): draw each from the "
                "whole vocabulary, torch.randint(len(tokenizer), ...)")
    if mine.random >= 20 and mine.random_top < len(tokenizer) // 2:  # all 20 in the lower half: 1 in a million
        return (f"your {mine.random:,} random tokens' ids stop at {mine.random_top:,}, of {len(tokenizer):,}: draw "
                "each from the whole vocabulary, torch.randint(len(tokenizer), ...)")
    return None


def _rates_problem(mine: dict[str, float], theirs: dict[str, float], tolerance: dict[str, float],
                   mask: str) -> str | None:
    """Which rates differ from the collator's by more than their ``tolerance``, with the likely slip."""
    far = [name for name in mine if abs(mine[name] - theirs[name]) > tolerance[name]]
    if not far:
        return None
    table = ", ".join(f"{_label(name, mask)} {mine[name]:.1%} (collator {theirs[name]:.1%}, within "
                      f"{tolerance[name] * 100:.1f} points by chance)" for name in far)
    slip = (f"every picked token became {mask}: 10% should become a random id and 10% stay as they were"
            if mine["mask"] > 0.99 else
            "no picked token became a random one: 10% of them should" if mine["random"] < 0.01 else
            "no picked token stayed unchanged: 10% of them should" if mine["unchanged"] < 0.01 else
            "pick each non-special token with probability 0.15" if "picked" in far else
            f"of the picked tokens, 80% become {mask}, 10% a random id, 10% stay as they were")
    return f"{table}: {slip}"


def _label(name: str, mask: str) -> str:
    return mask if name == "mask" else name


def rates_line(rates: dict[str, float], mask: str = "[MASK]") -> str:
    """Rates for a verdict: 'picked 15.1%, [MASK] 80.2%, random 9.9%, unchanged 9.9%' (``mask``: the mask token)."""
    return ", ".join(f"{_label(name, mask)} {rate:.1%}" for name, rate in rates.items())


COLLATOR_ITSELF = ((DataCollatorForLanguageModeling, "torch_mask_tokens"),
                   (DataCollatorForLanguageModeling, "numpy_mask_tokens"),
                   (DataCollatorForLanguageModeling, "__call__"))  # what the corruption exercise rebuilds


def corruption_verdict(my_mask_tokens, tokenizer: PreTrainedTokenizerBase, input_ids: torch.Tensor,
                       refused=COLLATOR_ITSELF) -> str:
    """One line on ``my_mask_tokens(input_ids) -> (inputs, labels)``: run on the batch repeated to about ``TOKENS``
    non-special tokens under ``SEED``, and compared with ``DataCollatorForLanguageModeling`` on the same tokens under
    ``COLLATOR_SEED`` (independent draws, so each rate within ``tolerances``; special tokens never picked; labels
    -100 exactly where not picked; unpicked tokens unchanged). While the answer runs, the collator it rebuilds is
    ``refused`` (``utils.exercises.without``); the tests pass ``()`` to check the collator itself."""
    check_corruption_batch(tokenizer, input_ids)
    special = torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))
    repeats = math.ceil(TOKENS / max(int((~special).sum()), 1))
    original, special = input_ids.repeat(repeats, 1), special.repeat(repeats, 1)
    given = original.clone()
    with seeded(SEED), without(*refused):
        result = my_mask_tokens(given)
    if result is None:
        return f"{NOT_ANSWERED} (Your function returns None: end it with `return inputs, labels`.)"
    if not torch.equal(given, original):
        return (f"Not quite: your function changed the input_ids it was given ({int((given != original).sum()):,} "
                "positions); corrupt a copy, input_ids.clone().")
    pair = _shape_problem(result, tuple(original.shape))
    if isinstance(pair, str):
        return f"Not quite: {pair}."
    mine = measure(original, *pair, special, tokenizer.mask_token_id)
    problem = _structure_problem(mine, pair[0], tokenizer)
    if problem:
        return f"Not quite: {problem}."
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=COLLATOR_SEED)
    theirs = collator(original.tolist())
    counted = measure(original, theirs["input_ids"], theirs["labels"], special, tokenizer.mask_token_id)
    tolerance, mask = tolerances(mine, counted), tokenizer.mask_token
    problem = _rates_problem(mine.rates(), counted.rates(), tolerance, mask)
    if problem:
        return f"Not quite: {problem}."
    with seeded(SEED + 1), without(*refused):  # another run, another seed: the picks must change
        again = _shape_problem(my_mask_tokens(original.clone()), tuple(original.shape))
    if isinstance(again, str):
        return f"Not quite: on a second run, {again}."
    if torch.equal(again[1] != -100, pair[1] != -100):
        return ("Not quite: your function picked the same positions on a second run, under another seed. Draw the "
                "picks at random, so that each token has a 15% chance every time.")
    bounds = ", ".join(f"{_label(name, mask)} {bound * 100:.1f}" for name, bound in tolerance.items())
    return (f"Correct: over {mine.tokens:,} tokens (the batch, {repeats} times), yours: "
            f"{rates_line(mine.rates(), mask)}; the collator's, drawn independently: "
            f"{rates_line(counted.rates(), mask)} (each within {STANDARD_ERRORS} standard errors of chance: {bounds} "
            "percentage points). Labels are -100 exactly where nothing was picked, no special token was picked, every "
            "other token is unchanged.")


def _picked_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-ln p(label) at every picked position (labels != -100), in the batch's order."""
    keep = labels != -100
    return -logits[keep].float().log_softmax(-1).gather(-1, labels[keep][:, None])[:, 0]


def loss_verdict(my_mlm_loss, logits: torch.Tensor, labels: torch.Tensor, model_loss: float) -> str:
    """One line on ``my_mlm_loss(logits, labels)``, compared with ``model_loss`` (the model's own loss with those
    labels); a usual slip (the sum, every position, the raw scores, log10, the sign) is named."""
    try:
        with without(*CROSS_ENTROPY_ITSELF):  # what the exercise rebuilds
            mine = my_mlm_loss(logits.clone(), labels.clone())  # copies: the notebook's tensors stay intact
    except (IndexError, RuntimeError) as error:
        if "-100" in str(error):
            return ("Not quite: your code used the label -100 as a token id (it is not one: it marks a position "
                    "that is not scored). Keep only the picked positions first: keep = labels != -100.")
        raise
    if mine is None:
        return f"{NOT_ANSWERED} (Your function returns None: end it with `return` and the loss.)"
    value = number(mine)
    picked = _picked_losses(logits, labels)
    if value is None:
        return (f"Not quite: return one number, the mean over the {len(picked)} picked positions; got "
                f"{describe(mine)}.")
    if math.isclose(value, model_loss, rel_tol=1e-4, abs_tol=1e-5):
        sharp = logits.float() * 3  # other logits, the same labels: an answer must be computed from what it is given
        with without(*CROSS_ENTROPY_ITSELF):
            again, wanted = number(my_mlm_loss(sharp, labels)), _picked_losses(sharp, labels).mean().item()
        if again is None or not math.isclose(again, wanted, rel_tol=1e-4, abs_tol=1e-5):
            return (f"Not quite: right on these logits, but on the same logits times 3 your function gives "
                    f"{describe(again)} where the loss is {wanted:.4f}: compute it from the logits it is given.")
        return (f"Correct: {value:.4f} nats, the model's own loss for these labels: the mean of -ln p(original token) "
                f"over the {len(picked)} picked positions, from {picked.min():.2f} to {picked.max():.2f}. For scale, a "
                f"uniform guess over the {logits.shape[-1]:,} entries scores ln {logits.shape[-1]:,} = "
                f"{math.log(logits.shape[-1]):.2f}.")
    every = logits.float().log_softmax(-1)  # the slips below read every position, -100 as id 0 or as id -100
    clamped, wrapped = (-every.gather(-1, ids[..., None]).mean() for ids in (labels.clamp(min=0),
                                                                          labels % every.shape[-1]))
    raw = -logits[labels != -100].float().gather(-1, labels[labels != -100][:, None]).mean()
    slips = [(picked.sum(), f"that is the sum over the {len(picked)} picked positions; the loss is their mean"),
             (picked.sum() / labels.numel(), "that divides by every position; only the picked ones count"),
             (clamped, "that averages every position; only the picked ones (labels != -100) count"),
             (wrapped, "that averages every position, reading -100 as a token id; only the picked ones count"),
             (raw, "that uses the raw scores (logits); take -ln of their softmax (log_softmax)"),
             (picked.mean() / math.log(10), "that is log base 10; the loss uses the natural log"),
             (-picked.mean(), "mind the sign: ln p is negative, the loss is -ln p")]
    slip = next((why for wrong, why in slips if math.isclose(value, float(wrong), rel_tol=1e-4, abs_tol=1e-5)),
                f"the mean of -ln p(label) over the {len(picked)} picked positions is not {value:.6g}")
    return f"Not quite: {slip}."


@contextmanager
def training_the_top(model):
    """The weights of ``model``'s last encoder layer and of its MLM head (its output layer's bias, not the token
    vectors it shares with the embeddings), for a few training steps on them alone: every other weight is frozen
    meanwhile, and on leaving, every weight, flag and the eval mode are as they were, whatever happened inside, and
    the memory the steps freed goes back to the OS (a kernel left open holds the model, not its training)."""
    last = f".layer.{model.config.num_hidden_layers - 1}."
    tied = {id(model.get_input_embeddings().weight)}
    top = {name for name, weight in model.named_parameters()
           if id(weight) not in tied and (not name.startswith(model.base_model_prefix) or last in name)}
    flags = {name: weight.requires_grad for name, weight in model.named_parameters()}
    saved = {name: weight.detach().clone() for name, weight in model.named_parameters() if name in top}
    for name, weight in model.named_parameters():
        weight.requires_grad_(name in top)
    try:
        yield [weight for name, weight in model.named_parameters() if name in top]
    finally:
        with torch.no_grad():
            for name, weight in model.named_parameters():
                if name in saved:
                    weight.copy_(saved[name])
                weight.requires_grad_(flags[name])
                weight.grad = None
        model.eval()
        release_freed_memory()


@dataclass(frozen=True)
class HeadWeights:
    """A masked LM's MLM head as views of its weights: a dense layer, ``activation``, LayerNorm, then the scores."""

    dense_weight: torch.Tensor  # (hidden, hidden)
    dense_bias: torch.Tensor
    activation: object  # the model's own activation function (GELU in BERT)
    norm_weight: torch.Tensor
    norm_bias: torch.Tensor
    norm_eps: float
    decoder_weight: torch.Tensor  # (vocabulary, hidden)
    decoder_bias: torch.Tensor
    tied: bool  # decoder_weight is the embeddings' token matrix


# where each family keeps its head's parts: dense layer, activation (None: GELU), LayerNorm, output layer
_HEADS = (("cls.predictions.transform.dense", "cls.predictions.transform.transform_act_fn",
           "cls.predictions.transform.LayerNorm", "cls.predictions.decoder"),  # BERT
          ("lm_head.dense", None, "lm_head.layer_norm", "lm_head.decoder"),  # RoBERTa
          ("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector"))  # DistilBERT


def mlm_head_weights(model) -> HeadWeights | None:
    """``model``'s MLM head as ``HeadWeights``; None for a head laid out otherwise than BERT's, RoBERTa's or
    DistilBERT's."""
    for dense, activation, norm, decoder in _HEADS:
        try:
            dense, norm, decoder = (model.get_submodule(path) for path in (dense, norm, decoder))
            act = model.get_submodule(activation) if activation else torch.nn.functional.gelu
        except AttributeError:
            continue
        if callable(act) and decoder.bias is not None:
            return HeadWeights(dense.weight.detach(), dense.bias.detach(), act, norm.weight.detach(),
                               norm.bias.detach(), norm.eps, decoder.weight.detach(), decoder.bias.detach(),
                               decoder.weight is model.get_input_embeddings().weight)
    return None


def _head(h: torch.Tensor, head: HeadWeights, by_n: bool = True, norm: bool = True, affine: bool = True, act="before",
          dense_bias: bool = True, decoder_bias: bool = True, dense_t: bool = True) -> torch.Tensor:
    """The head's scores for ``h``, or one of the usual slips (the flags)."""
    x = h @ (head.dense_weight.T if dense_t else head.dense_weight) + (head.dense_bias if dense_bias else 0)
    x = head.activation(x) if act == "before" else x
    if norm:
        x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=not by_n, keepdim=True) + head.norm_eps)
        x = x * head.norm_weight + head.norm_bias if affine else x
    x = head.activation(x) if act == "after" else x
    return x @ head.decoder_weight.T + (head.decoder_bias if decoder_bias else 0)


def mlm_head_verdict(my_mlm_head, model, hidden: torch.Tensor, logits: torch.Tensor, mask_index: int) -> str:
    """One line on ``my_mlm_head(h, mlm_head_weights(model))`` at the blank and the position before it (``h`` from
    ``hidden``), against the model's ``logits`` there; a usual slip (a missing step or bias, n - 1 in the variance, the
    activation after the norm, an untransposed weight, probabilities) is named; no word: the top 5 waits."""
    head = mlm_head_weights(model)
    if head is None:
        return "This model's MLM head is laid out otherwise than BERT's: this exercise does not apply to it."
    # the model's own modules (all but the activation the student is given) and linear are what the answer rebuilds
    modules = [(module, "forward") for module in model.modules() if module is not head.activation]
    before = max(mask_index - 1, 0)
    try:
        with without((torch.nn.functional, "linear"), (torch.nn.functional, "layer_norm"), (torch, "layer_norm"),
                     *modules), torch.no_grad():
            mine, other = (my_mlm_head(hidden[at].clone(), head) for at in (mask_index, before))
    except Rebuilt as error:
        if "forward" not in str(error):
            raise
        raise Rebuilt("your answer runs the model's own layers, the very thing this exercise rebuilds: compute with "
                      "head's tensors") from None
    if mine is None:
        return f"{NOT_ANSWERED} (Your function returns None: end it with `return` and the scores.)"
    wrong = mismatch(mine, logits[mask_index], atol=1e-3, rtol=1e-4)
    if wrong is None:
        if (elsewhere := mismatch(other, logits[before], atol=1e-3, rtol=1e-4)) is not None:
            return (f"Not quite: right at the blank, but at position {before} {elsewhere}: compute "
                    "the scores from the vector h your function is given.")
        tied = ("; its last matrix is the embeddings' token matrix itself, so a token scores high where its vector "
                "points the way the transformed h does" if head.tied else "")
        return (f"Correct: your {logits.shape[-1]:,} scores are the model's logits at the blank and at the position "
                f"before it: a dense layer, the activation, LayerNorm, then a dot product per vocabulary entry{tied}.")
    h = hidden[mask_index]
    slips = [(_head(h, head, by_n=False), "the variance divides by n - 1 (torch.var's default); LayerNorm "
              "divides by n: var(correction=0)"),
             (_head(h, head, norm=False), "LayerNorm is missing, between the activation and the last layer"),
             (_head(h, head, affine=False), "LayerNorm's norm_weight and norm_bias are missing"),
             (_head(h, head, act="none"), "the activation (head.activation) is missing, after the dense layer"),
             (_head(h, head, act="after"), "the activation goes after the dense layer, before LayerNorm"),
             (_head(h, head, dense_bias=False), "the dense layer's bias is missing"),
             (_head(h, head, dense_t=False), "h @ dense_weight, without .T: nn.Linear's weight is (out, in)"),
             (_head(h, head, decoder_bias=False), "the last layer's bias (decoder_bias) is missing"),
             (logits[mask_index].softmax(-1), "those are probabilities; return the scores before any softmax"),
             (logits[mask_index].log_softmax(-1), "those are log-probabilities; return the scores before any softmax")]
    slip = next((why for scores, why in slips if mismatch(mine, scores, atol=1e-3, rtol=1e-4) is None), None)
    return f"Not quite: {slip}." if slip else f"Not quite: your scores at the blank: {wrong}."
