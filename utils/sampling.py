"""The next-token distribution that sampling draws from, reshaped by temperature, top-k and top-p, and a
panel of sliders to play with it (notebook 2's decoding explorer).

``filtered_probabilities`` applies the three settings in the order ``generate(do_sample=True)`` does
(temperature, then top-k, then top-p); ``tests/test_sampling.py`` checks it against transformers' own
logits processors.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from utils.settings import widgets_on
from utils.support.validation import MIN_TEMPERATURE as MIN_TEMPERATURE  # the smallest temperature it takes
from utils.support.validation import check_explore, check_filter, check_model
from utils.support.validation import check_settings as check_settings  # notebook 2's temperature exercise


def filters_itself(notebook_globals: dict) -> tuple:
    """What notebook 2's filter exercise rebuilds, as places for ``utils.exercises.without``: this module's
    ``filtered_probabilities`` and ``apply_filters`` (and the notebook's names for them), and the logits processors
    ``generate`` uses."""
    module = sys.modules[__name__]
    return ((notebook_globals, "filtered_probabilities"), (module, "filtered_probabilities"),
            (notebook_globals, "apply_filters"), (module, "apply_filters"),
            *((warper, "__call__") for warper in (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)))


def filtered_probabilities(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                           top_p: float = 1.0) -> torch.Tensor:
    """Probabilities over the vocabulary after the filters; tokens filtered out get exactly 0.

    - temperature: divide the logits by it (below 1 sharpens, above 1 flattens);
    - top_k: keep only the k highest logits (0: keep all);
    - top_p: keep the most likely tokens until their probability adds up to at least top_p (1: keep all).
    """
    scores, temperature, top_k, top_p = check_filter(logits, temperature, top_k, top_p)
    return apply_filters(scores, temperature, top_k, top_p)


def apply_filters(scores: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """``filtered_probabilities`` on settings already checked."""
    scores = scores.float() / temperature
    if 0 < top_k < scores.shape[-1]:
        kth = scores.topk(top_k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, -math.inf)
    if top_p < 1:
        probs, order = scores.softmax(-1).sort(dim=-1, descending=True)
        mass_before = probs.cumsum(-1) - probs  # the probability of the tokens ranked above each one
        drop = mass_before >= top_p
        drop[..., 0] = False  # the favourite always stays
        scores = scores.masked_fill(drop.scatter(-1, order, drop), -math.inf)
    return scores.softmax(-1)


def generation_defaults(model, names: tuple[str, ...] = ("do_sample", "temperature", "top_k", "top_p", "num_beams",
                                                         "length_penalty", "early_stopping")) -> dict[str, tuple]:
    """What ``model.generate`` uses for each setting in ``names`` when a call does not pass it: (value, where it comes
    from), the model's own ``generation_config`` where it sets one, else the library's default (top_k=50 among
    them, which is why a call that means "temperature only" passes top_k=0)."""
    check_model(model)
    library = getattr(GenerationConfig, "_get_default_generation_params", None)  # transformers 5; 4 sets them below
    defaults = library() if library is not None else GenerationConfig().to_dict()
    found = {}
    for name in names:
        own = getattr(model.generation_config, name, None)
        found[name] = ((defaults.get(name), "generate's default") if own is None or own == defaults.get(name)
                       else (own, "the model's generation_config"))
    return found


@dataclass
class Explored:
    """What one setting of the explorer showed."""

    original: torch.Tensor  # next-token probabilities at temperature 1, no filter
    filtered: torch.Tensor  # after temperature, top-k, top-p
    continuation: str  # a sampled continuation under the same settings
    temperature: float = 1.0  # the temperature the filters used

    @property
    def survivors(self) -> int:
        return int((self.filtered > 0).sum())

    @property
    def kept_mass(self) -> float:
        """Of the original distribution, the probability that the surviving tokens held."""
        return float(self.original[self.filtered > 0].sum())

    @property
    def tempered_mass(self) -> float:
        """Of the distribution at the explorer's temperature, before top-k and top-p, what the survivors held."""
        return float((self.original.log() / self.temperature).softmax(-1)[self.filtered > 0].sum())

    def share(self) -> str:
        """The survivors' share in words: at the explorer's temperature (before top-k and top-p), and at T=1."""
        if self.temperature == 1:
            return f"holding {self.kept_mass:.0%} of the probability at T=1, unfiltered"
        at_t = f"{self.tempered_mass:.0%} of the probability at T={self.temperature:g}"
        return f"holding {at_t} ({self.kept_mass:.0%} at T=1)"


@torch.no_grad()
def explore(model, tokenizer, prompt: str, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
            seed: int = 0, new_tokens: int = 20) -> Explored:
    """The prompt's next-token distribution before and after the filters, and a seeded sampled continuation."""
    temperature, top_k, top_p, seed, new_tokens = check_explore(model, tokenizer, prompt, temperature, top_k, top_p,
                                                                seed, new_tokens)
    inputs = tokenizer(prompt, return_tensors="pt", verbose=False).to(model.device)
    logits = model(**inputs).logits[0, -1]
    filtered = apply_filters(logits, temperature, top_k, top_p)
    torch.manual_seed(seed)
    pad = tokenizer.eos_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id  # 0 is an id too
    out = model.generate(**inputs, do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p,
                         max_new_tokens=new_tokens, pad_token_id=pad)
    return Explored(logits.float().softmax(-1), filtered, tokenizer.decode(out[0, inputs["input_ids"].shape[1]:]),
                    temperature)


def draw(explored: Explored, tokenizer, settings: str, bars: int = 15, most: int = 30):
    """Bars for the most likely tokens: the original probability (grey, wide) and, for the tokens that survive the
    filters, the probability sampling now gives them (blue, narrow), shown with alt text. At least ``bars`` tokens,
    and more (up to ``most``) so that a few filtered-out tokens follow the last survivor, after a dashed line."""
    import matplotlib.pyplot as plt

    from utils.figures import OKABE_ITO, STYLE, show

    bars = min(most, max(bars, explored.survivors + 5))
    ranked = explored.original.argsort(descending=True)[:bars]
    labels = [repr(tokenizer.decode([i])) for i in ranked.tolist()]
    x = range(len(ranked))
    kept = explored.filtered[ranked]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(11, 3.8), layout="constrained")
        ax.bar(x, explored.original[ranked].tolist(), width=0.8, color="lightgrey", edgecolor="grey",
               label="original (T=1, no filter)")
        ax.bar([i for i in x if kept[i] > 0], [p for p in kept.tolist() if p > 0], width=0.45, color=OKABE_ITO[0],
               label="after the filters: what sampling draws from")
        cut = explored.survivors  # the filters keep a prefix of the ranking: the survivors come first
        if cut < len(ranked):
            ax.axvline(cut - 0.5, color="black", linestyle="--", linewidth=1, label="the filters' cut")
        ax.set_xticks(list(x), labels, rotation=45, ha="right")
        ax.set(ylabel="probability", title=f"{settings}\n{explored.survivors:,} token(s) survive, {explored.share()}")
        ax.legend()
    top, now = float(explored.original[ranked[0]]), float(explored.filtered[ranked[0]])
    show(fig, f"Bar chart of the {len(ranked)} most likely next tokens. Wide grey bars: the model's own "
              f"probabilities (the favourite, {labels[0]}, has {top:.1%}). Narrow blue bars: after {settings}, "
              f"{explored.survivors:,} token(s) survive, {explored.share()}; sampling draws only from them, and the "
              f"favourite now gets {now:.1%}."
              + (f" A dashed line after the first {cut} bars marks the filters' cut." if cut < len(ranked) else ""))


def decoding_explorer(model, tokenizer, prompt: str, new_tokens: int = 20, seed: int = 0):
    """Sliders for temperature, top-k and top-p and a seed box, redrawing the distribution and a sample.

    With $LLM_TUTORIAL_WIDGETS=off (CI, exported HTML) it draws once with the default values instead.
    """
    # before any slider exists: a bad argument is one error, not one per redraw (a redraw checks only the seed box)
    *_, seed, new_tokens = check_explore(model, tokenizer, prompt, 1.0, 0, 1.0, seed, new_tokens)

    def show(temperature=0.8, top_k=0, top_p=0.9, seed=seed):
        settings = f"T={temperature:g}, top-k {top_k or 'off'}, top-p {top_p:g}"
        explored = explore(model, tokenizer, prompt, temperature, top_k, top_p, seed, new_tokens)
        draw(explored, tokenizer, settings)
        print(f"sampled (seed {seed}): {prompt!r} + {explored.continuation!r}")
        return explored

    if not widgets_on():
        show()
        return
    import ipywidgets as widgets

    style = dict(continuous_update=False, style={"description_width": "90px"})
    widgets.interact(
        show,
        temperature=widgets.FloatSlider(value=0.8, min=0.05, max=2.0, step=0.05, description="temperature", **style),
        top_k=widgets.IntSlider(value=0, min=0, max=100, description="top-k (0 off)", **style),
        top_p=widgets.FloatSlider(value=0.9, min=0.05, max=1.0, step=0.05, description="top-p", **style),
        seed=widgets.IntText(value=seed, description="seed", style={"description_width": "90px"}),
    )
