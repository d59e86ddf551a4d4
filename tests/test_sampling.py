"""The explorer's reshaped distribution is exactly what generate() samples from, and bad settings are refused."""

import matplotlib
import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from utils import sampling

matplotlib.use("Agg")

SETTINGS = [(1.0, 0, 1.0), (0.7, 0, 0.9), (1.5, 10, 1.0), (1.0, 50, 0.5), (0.3, 0, 0.95), (2.0, 5, 0.8),
            (0.05, 0, 0.05), (1.0, 1, 1.0), (1.0, 100_000, 1.0)]


def generate_warpers(temperature, top_k, top_p):
    """The processors generate(do_sample=True) builds for these settings, in its order."""
    warpers = LogitsProcessorList()
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return warpers


@pytest.mark.parametrize("temperature,top_k,top_p", SETTINGS)
def test_matches_generate_logits_processors(temperature, top_k, top_p):
    torch.manual_seed(0)
    logits = torch.randn(3, 2_000) * 4
    expected = generate_warpers(temperature, top_k, top_p)(None, logits.clone()).softmax(-1)
    ours = sampling.filtered_probabilities(logits, temperature, top_k, top_p)
    assert torch.equal(ours > 0, expected > 0)
    torch.testing.assert_close(ours, expected)


def test_top_p_keeps_at_least_p_and_no_more_than_needed():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = sampling.filtered_probabilities(probs.log(), top_p=0.8) > 0
    assert kept.tolist() == [True, True, False, False]  # 0.5 + 0.3 reaches 0.8
    kept = sampling.filtered_probabilities(probs.log(), top_p=0.81) > 0
    assert kept.tolist() == [True, True, True, False]  # at least p: one more token is needed


@pytest.mark.parametrize("kwargs,message", [
    (dict(temperature=0), "temperature must be a number above 0"),
    (dict(temperature=-1.0), "temperature must be a number above 0"),
    (dict(temperature=float("inf")), "temperature must be a number above 0"),
    (dict(temperature="hot"), "temperature must be a number above 0"),
    (dict(top_k=-1), "top_k must be a whole number"),
    (dict(top_k=2.5), "top_k must be a whole number"),
    (dict(top_p=0), "top_p must be above 0 and at most 1"),
    (dict(top_p=1.5), "top_p must be above 0 and at most 1"),
])
def test_bad_settings_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampling.filtered_probabilities(torch.zeros(10), **kwargs)


@pytest.fixture(scope="module")
def tiny_lm(gpt2_tokenizer):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(gpt2_tokenizer), n_positions=64, n_layer=1, n_embd=32, n_head=2)
    return GPT2LMHeadModel(config).eval(), gpt2_tokenizer


def test_explore_samples_only_surviving_tokens(tiny_lm):
    model, tokenizer = tiny_lm
    explored = sampling.explore(model, tokenizer, "The beach is", temperature=1.0, top_k=3, seed=1, new_tokens=1)
    assert explored.survivors == 3
    assert 0 < explored.kept_mass < 1
    token = tokenizer(explored.continuation, add_special_tokens=False)["input_ids"][0]
    assert explored.filtered[token] > 0  # the sampled first token is one of the three survivors
    again = sampling.explore(model, tokenizer, "The beach is", temperature=1.0, top_k=3, seed=1, new_tokens=1)
    assert again.continuation == explored.continuation  # seeded


def test_explorer_draws_once_without_widgets(tiny_lm, monkeypatch, capsys):
    model, tokenizer = tiny_lm
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False, display_id=None: shown.append(data))
    monkeypatch.setenv("LLM_TUTORIAL_WIDGETS", "off")
    assert sampling.decoding_explorer(model, tokenizer, "The beach is", new_tokens=3) is None
    assert len(shown) == 1 and set(shown[0]) == {"image/png", "text/html", "text/plain"}
    alt = shown[0]["text/plain"]  # the alt text, from the plotted numbers
    explored = sampling.explore(model, tokenizer, "The beach is", 0.8, 0, 0.9, 0, 3)
    bars = min(30, max(15, explored.survivors + 5))  # a few filtered-out tokens after the last survivor
    assert alt.startswith(f"Bar chart of the {bars} most likely next tokens.")
    assert ("marks the filters' cut" in alt) == (explored.survivors < bars)
    with torch.no_grad():
        logits = model(**tokenizer("The beach is", return_tensors="pt")).logits[0, -1]
    kept = explored.filtered > 0
    at_t, at_one = (float((logits / t).softmax(-1)[kept].sum()) for t in (0.8, 1.0))
    assert (f"after T=0.8, top-k off, top-p 0.9, {explored.survivors:,} token(s) survive, holding "
            f"{at_t:.0%} of the probability at T=0.8 ({at_one:.0%} at T=1)") in alt
    assert "sampled (seed 0): 'The beach is' + " in capsys.readouterr().out


def test_the_explorers_figure_shows_where_the_filters_cut(tiny_lm, monkeypatch):
    model, tokenizer = tiny_lm
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw=False, display_id=None: shown.append(data))
    explored = sampling.explore(model, tokenizer, "The beach is", 1.0, 3, 1.0, 0, 2)
    sampling.draw(explored, tokenizer, "T=1, top-k 3, top-p 1")
    alt = shown[0]["text/plain"]
    assert alt.startswith("Bar chart of the 15 most likely next tokens.") and explored.survivors == 3
    assert alt.endswith("A dashed line after the first 3 bars marks the filters' cut.")


def test_explorer_offers_sliders_with_widgets(tiny_lm, monkeypatch):
    model, tokenizer = tiny_lm
    import ipywidgets
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda: None)
    monkeypatch.setenv("LLM_TUTORIAL_WIDGETS", "on")
    panels = []
    real = ipywidgets.interact

    def spy(function, **controls):
        panels.append(controls)
        return real(function, **controls)

    monkeypatch.setattr(ipywidgets, "interact", spy)
    sampling.decoding_explorer(model, tokenizer, "The beach is", new_tokens=2)
    assert set(panels[0]) == {"temperature", "top_k", "top_p", "seed"}
    assert panels[0]["top_p"].value == 0.9
    plt.close("all")


def test_generation_defaults_say_what_generate_fills_in_and_from_where(tiny_lm):
    model, _ = tiny_lm
    defaults = sampling.generation_defaults(model)
    assert defaults["top_k"] == (50, "generate's default")  # the hidden filter on every sampling call
    assert defaults["length_penalty"] == (1.0, "generate's default")
    assert defaults["early_stopping"] == (False, "generate's default")
    model.generation_config.top_k = 20  # a checkpoint may ship its own
    try:
        assert sampling.generation_defaults(model, ("top_k",)) == {"top_k": (20, "the model's generation_config")}
    finally:
        model.generation_config.top_k = None
    with pytest.raises(ValueError, match="model must be a loaded model"):
        sampling.generation_defaults("gpt2")
