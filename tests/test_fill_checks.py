"""Notebook 1's reading checks on numbers chosen by hand: the loss of the original word, rounded as a table prints
it, and softmax answers that overflow; the reveals that wait for a word or a right-side change."""

import math
from types import SimpleNamespace

import pytest
import torch

from utils.fill_checks import (
    causal_experiment_ready,
    fill_in_turn_verdict,
    right_side_problem,
    softmax_in_use,
    softmax_verdict,
    word_loss_verdict,
    word_predicted,
)

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


def right_softmax(z):
    e = (z - z.max()).exp()
    return e / e.sum() * (1 + 1e-6)  # within the check's tolerance, yet not torch's numbers


@pytest.mark.parametrize("answer, ran", [
    (right_softmax, "Your right_softmax turned the scores into probabilities."),
    (lambda z: None, "<lambda> is not written yet: torch.softmax ran instead (yours runs once its check passes)."),
    (lambda z: z.exp() / z.exp().sum(), "<lambda> does not pass its check yet: torch.softmax ran instead (yours "
                                         "runs once its check passes)."),
    (lambda z: 1 / 0, "<lambda> does not pass its check yet: torch.softmax ran instead (yours runs once its check "
                      "passes)."),
], ids=["right", "not written", "overflows", "raises"])
def test_the_top_5_uses_the_student_s_softmax_once_it_passes_and_torch_s_until_then(answer, ran, capsys):
    z = torch.linspace(-3.0, 5.0, 50)
    probabilities = softmax_in_use(answer, z)(z)
    assert capsys.readouterr().out.splitlines()[-1] == ran
    assert torch.equal(probabilities, right_softmax(z) if answer is right_softmax else torch.softmax(z, -1))


@pytest.mark.parametrize("guess, opens, said", [
    ("box", True, ""), (" Box ", True, ""), (None, False, "Write your prediction first (in my_guess)"),
    ("  ", False, "Write your prediction first"), (3, False, "3 is not a word: write your prediction as one word"),
    (["box"], False, "['box'] is not a word"), (True, False, "True is not a word"),
])
def test_a_guessed_word_opens_its_reveal_and_nothing_else_does(guess, opens, said, capsys):
    assert word_predicted(guess, where="my_guess") is opens
    assert said in capsys.readouterr().out


@pytest.mark.parametrize("other, said", [
    ("Life is like a [MASK] of wine.", None),
    ("life is like a [MASK] of chocolates!", None),
    ("Love is like a [MASK] of chocolates.", "the words before the blank changed too. Keep 'Life is like a'"),
    ("Life is like a [MASK] of chocolates.", "that is the original sentence"),
    ("Life is like a [MASK] of [MASK].", "keep exactly one [MASK] (yours has 2)"),
    ("Life is like a box of chocolates.", "write a sentence (a str) with one [MASK]; got"),
    (42, "write a sentence (a str) with one [MASK]; got 42"),
    (None, "got None"),
    ("Life is like a [MASK] " + "word " * 600, "this model reads at most 512"),
])
def test_only_the_right_side_may_change(bert_tokenizer, other, said):
    problem = right_side_problem(bert_tokenizer, "Life is like a [MASK] of chocolates.", other)
    assert problem is None if said is None else said in problem, problem


@pytest.mark.parametrize("other, prediction, ready, said", [
    ("Life is like a [MASK] of wine.", False, True, ""),
    ("Life is like a [MASK] of wine.", "yes", True, ""),
    ("Life is like a [MASK] of wine.", None, False, "Write your prediction first (in my_causal_changes"),
    ("Life is like a [MASK] of wine.", 0, False, "Predict True or False (yours is 0)"),
    ("Life is like a [MASK] of wine.", "maybe", False, "Predict True or False (yours is 'maybe')"),
    (None, True, False, "First finish exercise 7, my_text: write a sentence"),
    ("Love is like a [MASK] of wine.", True, False, "the words before the blank changed too"),
])
def test_the_causal_experiment_waits_for_a_prediction_and_a_right_side_change(bert_tokenizer, other, prediction,
                                                                              ready, said, capsys):
    text = "Life is like a [MASK] of chocolates."
    assert causal_experiment_ready(bert_tokenizer, text, other, prediction) is ready
    out = capsys.readouterr().out
    assert said in out and (out == "") is ready, out


def test_filling_in_turn_says_when_a_later_blank_takes_a_word_it_saw(bert_tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    from utils.fill_mask import fill_mask

    torch.manual_seed(4)  # random weights whose two blanks, filled in turn, get two words
    model = BertForMaskedLM(BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    mask = bert_tokenizer.mask_token
    text = f"she bought a {mask} and a {mask}."

    def my_fill_in_turn(text):
        words = []
        while mask in text:
            words.append(fill_mask(model, bert_tokenizer, text, top_k=1)[0][0][0])
            text = text.replace(mask, words[-1], 1)
        return words

    words = my_fill_in_turn(text)
    said = fill_in_turn_verdict(my_fill_in_turn, model, bert_tokenizer, text)
    assert len(set(words)) == 2 and said.startswith("Correct: in turn") and "chose it again" not in said, said
    with torch.no_grad():  # every blank's favourite: "brand", whatever it reads
        model.cls.predictions.bias[bert_tokenizer.convert_tokens_to_ids("brand")] = 100.0
    said = fill_in_turn_verdict(my_fill_in_turn, model, bert_tokenizer, text)
    assert said.startswith("Correct: in turn, 'she bought a brand and a brand.'") and said.endswith(
        "Here a later blank saw 'brand' and chose it again: seeing a word does not rule it out."), said
