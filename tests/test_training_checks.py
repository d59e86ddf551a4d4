"""Notebook 3's verdicts on numbers chosen by hand: where right ends and a tie begins; perplexity."""

import math

import pytest

from utils.training_checks import dropout_verdict, more_data_verdict, perplexity_verdict


@pytest.mark.parametrize("guess, first_word", [
    (1.4, "Right"),          # the measured loss itself
    (1.25, "Right"),         # 0.15 from it, nearer than halfway (0.2)
    (1.2, "Not this time"),  # halfway: as near the run without dropout as the run with it
    (1.0, "Not this time"),  # the run without dropout: no change predicted
    (1.9, "Not this time"),  # past it, further than halfway
])
def test_dropout_is_right_only_nearer_the_measured_loss_than_halfway(guess, first_word):
    said = dropout_verdict(guess, measured=1.4, without=1.0)
    assert said.startswith(f"{first_word}: you predicted {guess:.3f}, {abs(guess - 1.4):.3f} from the 1.400 measured "
                           "with dropout (higher than 1.000 without)")
    assert "right if less than 0.200 from it" in said and "train mode" in said


def test_a_dropout_run_that_did_not_rise_is_judged_within_a_floor_and_says_one_seed_cannot_tell():
    said = dropout_verdict(0.52, measured=0.50, without=0.51)  # 0.01 apart: the floor, 0.05, is the margin
    assert said.startswith("Right: you predicted 0.520") and "right if less than 0.050" in said
    assert "One seed cannot tell" in said


@pytest.mark.parametrize("guess", ["higher", [1.0], None, math.nan, math.inf])
def test_a_dropout_guess_that_is_not_a_finite_number_is_asked_for_one(guess):
    assert dropout_verdict(guess, measured=1.4, without=1.0).startswith("Answer with a number of nats (got ")


@pytest.mark.parametrize("mine, uniform, first_words", [
    (math.exp(8.94), 50257, "Correct: 7,631 against 50,257"),
    (math.exp(8.94), math.exp(10.82), "Correct:"),   # e to ln V as printed, 2 decimals
    (7631, 50257, "Correct:"),                       # as the table prints it
    (8.94, 50257, "Not quite: 8.94 is the loss itself"),
    (math.exp(8.94), 10.82, "Not quite: the model's perplexity is right"),
    (2 ** 8.94, 50257, "Not quite: 491.143 is not e^8.9400"),
    (None, 50257, "Not answered yet"),
])
def test_perplexity_is_e_to_the_loss_and_a_uniform_guess_has_the_vocabulary_size(mine, uniform, first_words):
    assert perplexity_verdict(mine, uniform, best_loss=8.94, vocab_size=50257).startswith(first_words)


@pytest.mark.parametrize("every, counted, said", [
    ((7.5, 7.7), 7.9, "under it, so it learnt more than which tokens are common"),
    ((7.5, 7.7), 7.75, "level with it (within 0.1)"),
    ((7.5, 7.7), 7.4, "above it: not yet even which tokens are common"),
])
def test_more_data_compares_the_gap_and_reads_the_model_against_a_count_of_its_text(every, counted, said):
    text = more_data_verdict(0.3, first=(0.07, 10.65), every=every, counted=counted, uniform=10.82, best=8.94)
    assert text.startswith("Right: you predicted a gap of 0.30; measured 0.20 with every article, against 10.58")
    assert "(smaller)" in text and said in text


def test_a_gap_that_did_not_shrink_says_so_with_both_training_losses():
    text = more_data_verdict(5, first=(2.0, 3.0), every=(1.0, 4.0), counted=9.0, uniform=10.82, best=2.9)
    assert text.startswith("Not this time: you predicted a gap of 5.00; measured 3.00") and "(larger)" in text
    assert text.endswith("The final training losses: 1.00 here, 2.00 in the first run.")
