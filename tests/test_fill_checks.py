"""Notebook 1's reading checks on numbers chosen by hand: the loss of the original word, rounded as a table prints
it, and softmax answers that overflow."""

import math
from types import SimpleNamespace

import pytest
import torch

from utils.fill_checks import softmax_verdict, word_loss_verdict

P = 0.1764  # bert-base-uncased's p(box) in the original tutorial, printed as 0.176


def model_with_loss(loss: float):
    """A stand-in for a masked LM whose loss, for any labels, is ``loss``; it records the labels it was given."""
    seen = []

    def model(**kwargs):
        seen.append(kwargs["labels"])
        return SimpleNamespace(loss=torch.tensor(loss))

    return model, seen


@pytest.mark.parametrize("answer, first_words", [
    (-math.log(P), "Correct: 1.7350 nats"),
    (torch.tensor(-math.log(P)), "Correct:"),
    (-math.log(0.176), "Nearly: that is -ln of p as a table prints it, rounded"),
    (math.log(P), "Not quite: mind the sign"),
    (-math.log10(P), "Not quite: "),
    ("1.73", "Not quite: '1.73' is not one number"),
    (None, "Not answered yet"),
])
def test_the_word_loss_is_the_models_own_loss_and_a_rounded_p_is_named(answer, first_words):
    model, seen = model_with_loss(-math.log(P))
    inputs = {"input_ids": torch.tensor([[101, 103, 102]])}
    assert word_loss_verdict(answer, model, inputs, mask_index=1, word_id=3482).startswith(first_words)
    assert seen[0].tolist() == [[-100, 3482, -100]]  # only the blank is scored


def test_a_softmax_that_overflows_is_named_and_none_is_not_answered():
    z = torch.tensor([1.0, 2.0, 3.0])
    assert softmax_verdict(lambda s: (s - s.max()).exp() / (s - s.max()).exp().sum(), z).startswith("Correct:")
    said = softmax_verdict(lambda s: torch.tensor([math.exp(v) / sum(math.exp(u) for u in s.tolist())
                                                   for v in s.tolist()]), z)
    assert said.startswith("Not quite: right on z, but on z + 1000 it raised OverflowError")
    assert softmax_verdict(lambda s: None, z).startswith("Not answered yet")
