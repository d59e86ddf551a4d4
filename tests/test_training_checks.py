"""Notebook 3's experiment verdicts, on numbers chosen by hand: where right ends and a tie begins."""

import math

import pytest

from utils.training_checks import dropout_verdict


@pytest.mark.parametrize("guess, first_word", [
    (1.4, "Right"),          # the measured loss itself
    (1.25, "Right"),         # 0.15 from it, nearer than halfway (0.2)
    (1.2, "Not this time"),  # halfway: as near the run without dropout as the run with it
    (1.0, "Not this time"),  # the run without dropout: no change predicted
    (1.9, "Not this time"),  # past it, further than halfway
])
def test_dropout_is_right_only_nearer_the_measured_loss_than_halfway(guess, first_word):
    said = dropout_verdict(guess, measured=1.4, without=1.0)
    assert said.startswith(f"{first_word}: you predicted {guess:.2f}; measured 1.400 with dropout against 1.000")
    assert "right within 0.20 nats" in said and "train mode" in said


def test_a_dropout_run_that_did_not_rise_is_judged_within_a_floor_and_says_one_seed_cannot_tell():
    said = dropout_verdict(0.52, measured=0.50, without=0.51)  # 0.01 apart: the floor, 0.05, is the margin
    assert said.startswith("Right: you predicted 0.52") and "right within 0.05" in said
    assert "One seed cannot tell" in said


@pytest.mark.parametrize("guess", ["higher", [1.0], None, math.nan, math.inf])
def test_a_dropout_guess_that_is_not_a_finite_number_is_asked_for_one(guess):
    assert dropout_verdict(guess, measured=1.4, without=1.0).startswith("Answer with a number of nats (got ")
