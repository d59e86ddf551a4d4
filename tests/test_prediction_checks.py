"""Notebook 2's verdicts on its predictions (the strategies table, the KV cache's speed-up), on numbers chosen by
hand."""

import pytest
import torch

from utils.prediction_checks import (
    keys_moved,
    keys_verdict,
    largest_weight_verdict,
    speedup_predicted,
    speedup_verdict,
    strategies_verdict,
    untrained_verdict,
)

PER_TOKEN = {"greedy": -1.2, "temperature 0.7": -1.9, "temperature 1.5": -4.5, "top-k 10": -2.4, "top-p 0.9": -2.6,
             "beam search (4)": -0.9}  # name -> mean ln P per token
FIRST_DRAW = {"greedy": -36.0, "beam search (4)": -27.0}  # ln P of the first draw's text


@pytest.mark.parametrize("prediction, said", [
    ("beam search (4)", "You predicted beam search (4): right."),
    ("Beam", "You predicted beam search (4): right."),  # a name's start
    ("greedy", "You predicted greedy: -1.20 per token, 0.30 below the most likely."),
    ("top p 0.9", "You predicted top-p 0.9: -2.60 per token"), ("nucleus", "You predicted top-p 0.9:"),
    ("temp 0.7", "You predicted temperature 0.7: -1.90 per token"), ("Top_K", "You predicted top-k 10:"),
    ("temperature", "Your prediction 'temperature' is more than one of: greedy, temperature 0.7"),
    (3, "Your prediction 3 is none of: greedy, temperature 0.7"),
])
def test_the_most_likely_strategy_is_read_from_a_name_or_its_start(prediction, said):
    lines = strategies_verdict(prediction, True, PER_TOKEN, FIRST_DRAW).splitlines()
    assert lines[0] == ("most likely per token: beam search (4) (-0.90); beam search -0.90 per token (ln P -27.0) vs "
                        "greedy -1.20 (ln P -36.0): beam search found a text more likely per token.")
    assert lines[1] == "ln P per token at temperature 0.7: -1.90, at 1.5: -4.50: the hotter draws are less likely."
    assert lines[2].startswith(said)


@pytest.mark.parametrize("beats, per_token, said", [
    (True, PER_TOKEN, "Beam search beats greedy: you said True, right."),
    ("no", PER_TOKEN, "Beam search beats greedy: you said False, not this time."),
    # beam's text stopped early: a higher ln P (-27 against -36), the same ln P per token: not a likelier text
    (True, PER_TOKEN | {"beam search (4)": -1.2}, "Beam search beats greedy: you said True, not this time."),
    ("perhaps", PER_TOKEN, "Beam search beats greedy: True. (Predict it as True or False; got 'perhaps'.)"),
])
def test_beam_beats_greedy_only_with_a_text_likelier_per_token(beats, per_token, said):
    assert strategies_verdict("greedy", beats, per_token, FIRST_DRAW).splitlines()[-1] == said


@pytest.mark.parametrize("guess, said", [
    (4, "You predicted 4x; this run measured 4.0x over 128 new tokens: within a factor of 2, close."),
    (2, "You predicted 2x; this run measured 4.0x over 128 new tokens: within a factor of 2, close."),
    (1.9, "You predicted 1.9x; this run measured 4.0x over 128 new tokens: 2.1 times too low. "
          "Re-feeding's cost grows with the text"),
    (8.5, "You predicted 8.5x; this run measured 4.0x over 128 new tokens: 2.1 times too high. The "
          "cache cuts the tokens fed far more than the time: each pass still reads every weight, and on a GPU "
          "launches its kernels, whatever it feeds."),
    (None, "Not answered yet."),
    (0, "Answer with a number above 0, how many times faster (got 0)."),
    (float("nan"), "Answer with a number above 0, how many times faster (got nan)."),
    ("quick", "Answer with a number above 0, how many times faster (got 'quick')."),
])
def test_a_predicted_speed_up_is_close_within_a_factor_of_two(guess, said):
    assert speedup_verdict(guess, 4.0, 128).startswith(said)


def test_a_speed_up_not_timed_yet_sends_the_student_to_the_timing_cells():
    assert speedup_verdict(3, None, 128) == "Run the two timing cells above first: they wait for your prediction."


@pytest.mark.parametrize("guess, shown, said", [
    (3, True, ""), (torch.tensor(2.5), True, ""),
    (None, False, "Write your prediction first (in my_cache_speedup, above), then run this cell again."),
    ("3x", False, "'3x' is not a number of times faster: write one above 0 (in my_cache_speedup, above)"),
    (-2, False, "-2 is not a number of times faster"),
])
def test_the_timing_waits_for_a_number(guess, shown, said, capsys):
    assert speedup_predicted(guess) is shown
    assert capsys.readouterr().out.startswith(said)


@pytest.mark.parametrize("guess, said", [
    (10.8, "You predicted 10.80; random weights scored 10.88, +0.06 from ln V = 10.82: close."),
    (0, "You predicted 0.00; random weights scored 10.88, +0.06 from ln V = 10.82: too low. Random weights know"),
    (30, "You predicted 30.00; random weights scored 10.88, +0.06 from ln V = 10.82: too high."),
    ("ten", "Answer with a number of nats, e.g. 5.0 (got 'ten')."),
    (float("inf"), "Answer with a number of nats, e.g. 5.0 (got inf)."),
    (None, "Not answered yet."),
])
def test_the_untrained_loss_is_judged_against_what_random_weights_scored(guess, said):
    """Close within half a nat; the difference printed is that of the two numbers as printed (10.876 - 10.825
    would print +0.05 beside 10.88 and 10.82)."""
    assert untrained_verdict(guess, 10.876, 10.825).startswith(said)


def test_the_prompt_s_cached_keys_do_not_move_when_a_token_is_appended():
    """Under causal attention a position's key sees only the tokens up to it: appending one changes none of the
    prompt's keys, in the last layer as in the first."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2)).eval()
    prompt = torch.tensor([[3, 7, 1, 9]])
    assert keys_moved(model, prompt, 5) < 1e-5
    assert keys_verdict(False, model, prompt, 5).startswith("You predicted False: the prompt's last-layer keys ")
    assert "right. Each position's key" in keys_verdict("no", model, prompt, 5)
    assert "not this time." in keys_verdict(True, model, prompt, 5)
    assert keys_verdict(None, model, prompt, 5) == "Not answered yet."


@pytest.mark.parametrize("moved, said", [
    (0.0, "keys did not move at all: right."),
    (3e-7, "keys moved by at most 3.0e-07 (rounding: the same sums in another order): right."),
    (0.02, "keys moved by at most 2.0e-02: not this time."),
])
def test_a_tiny_move_of_the_keys_is_called_rounding(monkeypatch, moved, said):
    from utils import prediction_checks

    monkeypatch.setattr(prediction_checks, "keys_moved", lambda *args: moved)
    assert said in keys_verdict(False, None, None, 5)


def test_the_toy_s_largest_weight_is_read_from_the_row_asked_for_and_the_last_by_default():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    weights = (q @ k.T / 2 ** 0.5).softmax(-1)  # no mask: row 1 may take a later token
    said = largest_weight_verdict(2, q, k, weights, row=1)
    assert said.startswith("Right: token 2 gets row 1's largest weight (token 1: q·k = 1, score q·k/√d = 0.71"), said
    assert "the token's own key, 1 here" in said and said.endswith("a causal mask would hide it.")
    said = largest_weight_verdict(2, q, k, weights)  # row 3: q (1, 1) scores 3 against key (3, 0), 1 against its own
    assert said.startswith("Right: token 2 gets row 3's largest weight (token 1: q·k = 1"), said
    assert "read ahead" not in said  # token 2 comes before token 3
    assert largest_weight_verdict(3, q, k, weights).startswith("Not this time: token 2 gets row 3's")


def test_the_toy_s_verdict_names_a_later_token_the_causal_mask_hid_where_it_scores_most():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    k = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    scores = (q @ k.T / 2 ** 0.5).masked_fill(torch.ones(3, 3).triu(1).bool(), float("-inf"))
    weights = scores.softmax(-1)  # row 2 scores token 3 highest (2), but the mask hides it
    said = largest_weight_verdict(3, q, k, weights, row=2)
    assert said.startswith("Not this time: token 2 gets row 2's largest weight (token 1: q·k = 0, score q·k/√d = 0.00, "
                           "weight 0.33; token 2: q·k = 1, score q·k/√d = 0.71, weight 0.67; token 3: q·k = 2"), said
    assert said.endswith("Token 3 has the row's largest score, but it comes after token 2: the causal mask hides it, "
                         "weight 0.")
    assert "hides it" not in largest_weight_verdict(1, q, k, weights, row=3)  # row 3: nothing after it to hide
    unmasked = largest_weight_verdict(3, q, k, (q @ k.T / 2 ** 0.5).softmax(-1), row=2)
    assert unmasked.startswith("Right: token 3") and "hides it" not in unmasked  # no mask: token 3 is read
