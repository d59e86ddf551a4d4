"""Notebook 3's verdicts on predictions about its runs, on numbers chosen by hand: where right ends and a tie begins;
perplexity; the first run's losses and curve; dropout's rise; the byte run against the bigram model."""

import math

import pytest
import torch

from utils.run_checks import (
    bigram_verdict,
    dropout_verdict,
    losses_verdict,
    more_data_verdict,
    perplexity_verdict,
    rise_verdict,
)


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


RISING = [(0, 10.9), (20, 8.9), (40, 9.4), (120, 10.6)]  # lowest at step 20, 1.7 nats higher at the end
LEVEL = [(0, 10.9), (20, 8.9), (40, 8.95), (120, 8.97)]  # ends 0.07 over its lowest: within 0.1


@pytest.mark.parametrize("guess, valid, verdict", [
    (True, RISING, "right"), ("yes", RISING, "right"), (False, RISING, "not this time"),
    (False, LEVEL, "right"), (torch.tensor(True), LEVEL, "not this time"),
])
def test_the_rise_with_dropout_is_judged_past_a_tenth_of_a_nat_over_the_lowest(guess, valid, verdict):
    said = rise_verdict(guess, valid)
    assert said.splitlines()[0].endswith(f": {verdict}."), said
    assert "lowest at step 20 (8.90)" in said
    assert ("rose by 1.70" in said) == (valid is RISING)
    assert ("learnt by heart" in said) == (valid is RISING)  # the explanation fits what the run did


@pytest.mark.parametrize("guess", [None, 0.5, "maybe", [True]])
def test_a_rise_guess_that_is_not_true_or_false_is_asked_for_one(guess):
    assert rise_verdict(guess, RISING).startswith("Still rising: predict it as True or False; got ")


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


@pytest.mark.parametrize("every, counted, right, said", [  # right: True or False shown right, None: too close
    ((7.5, 7.7), 7.9, True, "0.20 under a unigram count of its training text (7.90), ± 0.05 (one standard error, by "
                            "article): more than two standard errors under, so it beats a count of which tokens are "
                            "common"),
    ((7.5, 7.7), 7.79, None, "0.09 under a unigram count of its training text (7.79), ± 0.05 (one standard error, by "
                             "article): within two standard errors, level with it"),
    ((7.5, 7.7), 7.62, None, "0.08 above a unigram count of its training text (7.62), ± 0.05 (one standard error, "
                              "by article): within two standard errors"),
    ((7.5, 7.7), 7.4, False, "0.30 above a unigram count of its training text (7.40), ± 0.05 (one standard error, by "
                             "article): more than two standard errors above: not yet even which tokens are common"),
])
def test_more_data_reads_the_end_against_a_count_of_its_own_text_then_the_first_run(every, counted, right, said):
    text = more_data_verdict(True, first=(0.07, 10.65), every=every, counted=counted, uniform=10.82, best=8.94,
                             error=0.05)
    call = {True: ("Right", "Not this time"), False: ("Not this time", "Right"), None: ("Too close to call",) * 2}
    assert text.startswith(f"{call[right][0]}: you predicted True; its last validation loss is 7.70, {said}")
    assert "The first run's lowest was 8.94: this run ends under it (the uniform guess: 10.82)." in text
    assert "Validation minus training loss at the end: 0.20 here, 10.58 in the first run." in text
    assert more_data_verdict("no", first=(0.07, 10.65), every=every, counted=counted, uniform=10.82, best=8.94,
                             error=0.05).startswith(f"{call[right][1]}: you predicted False")


@pytest.mark.parametrize("pairs, said", [
    (7.15, "scores 7.15: this run ends 0.55 above it: it predicts worse than a count of which token follows which."),
    (7.90, "scores 7.90: this run ends 0.20 under it, so it uses more context than the token before."),
])
def test_more_data_sets_the_end_against_a_count_of_token_pairs_too(pairs, said):
    text = more_data_verdict(True, first=(0.07, 10.65), every=(7.5, 7.7), counted=7.87, uniform=10.82, best=8.94,
                             error=0.02, pairs=pairs)
    assert f"A count of its token pairs (the bigram model: one token of context) {said}" in text
    assert "token pairs" not in more_data_verdict(True, first=(0.07, 10.65), every=(7.5, 7.7), counted=7.87,
                                                  uniform=10.82, best=8.94, error=0.02)


def test_a_gap_that_did_not_shrink_says_so_with_both_training_losses():
    text = more_data_verdict(False, first=(2.0, 3.0), every=(1.0, 4.0), counted=3.5, uniform=10.82, best=2.9,
                             error=0.05)
    assert text.startswith("Right: you predicted False; its last validation loss is 4.00, 0.50 above a unigram count")
    assert "The first run's lowest was 2.90: this run ends above it" in text
    assert text.endswith("The final training losses: 1.00 here, 2.00 in the first run.")


LOG = [(0, 10.9), (20, 8.9), (120, 10.6)]  # (step, validation loss): falls, then rises past its minimum


@pytest.mark.parametrize("shape, said", [
    ("It goes down, then back up.", "right."),
    ("falls", "not this time."),
    ("falls then rises then falls", "right as far as this run went."),
    ("wobbly", "no shape read"),
])
def test_the_first_runs_shape_is_read_from_the_evaluations_and_a_prediction_from_words(shape, said):
    text = losses_verdict(0.1, 10.0, shape, LOG, final_train=0.07)
    assert text.startswith("validation loss falls then rises: 10.90 at step 0, minimum 8.90 at step 20, 10.60 at "
                           "the end")
    assert f"you predicted {shape!r}" in text or "read as" in text
    assert said in text.splitlines()[3]


@pytest.mark.parametrize("train, valid, said_train, said_valid", [
    (0.1, 10.0, "(close: right)", "(off by 0.6: not this time)"),
    (1.0, "ten", "(off by a factor of 14.3: not this time)", "predict it as a finite number of nats (got 'ten')"),
    (-1, float("nan"), "(a cross-entropy loss is above 0)", "predict it as a finite number of nats (got nan)"),
])
def test_each_predicted_loss_is_read_as_close_off_or_not_a_number(train, valid, said_train, said_valid):
    lines = losses_verdict(train, valid, "falls", LOG, final_train=0.07).splitlines()
    assert lines[1].startswith("final training loss") and said_train in lines[1]
    assert "measured 0.07 (" in lines[1]  # a small loss to enough digits for the factor beside it
    assert lines[2].startswith("final validation loss") and said_valid in lines[2]


def test_the_original_tutorials_run_is_shown_only_after_every_prediction():
    assert "The original tutorial" in losses_verdict(0.1, 10.0, "falls", LOG, final_train=0.07)
    assert "The original tutorial" not in losses_verdict(None, 10.0, "falls", LOG, final_train=0.07)


@pytest.mark.parametrize("guess, last, verdict", [
    (True, 2.0, "Under the bigram model? You predicted True; the run ended 0.49 nats under it: right."),
    ("no", 2.0, "Under the bigram model? You predicted False; the run ended 0.49 nats under it: not this time."),
    (True, 2.7, "Under the bigram model? You predicted True; the run ended 0.21 nats above it: not this time."),
    ("maybe", 2.0, "Not quite: predict it as True or False; got 'maybe'."),
])
def test_the_second_run_against_the_bigram_line(guess, last, verdict):
    assert bigram_verdict(guess, last, 2.49).splitlines()[0] == verdict


@pytest.mark.parametrize("last, verdict", [
    (2.03, "0.46 nats under it (± 0.02, one standard error by article): right."),
    (2.46, "0.03 nats under it (± 0.02, one standard error by article): too close to call: within two standard "
           "errors."),
    (2.60, "0.11 nats above it (± 0.02, one standard error by article): not this time."),
])
def test_the_bigram_margin_comes_with_its_error_bar(last, verdict):
    assert bigram_verdict(True, last, 2.49, error=0.02).splitlines()[0].endswith(verdict)
