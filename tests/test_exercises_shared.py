"""What every notebook's predict-and-reveal cells share: no answer before a prediction."""

import pytest

from utils.exercises import predicted, reference


@pytest.mark.parametrize("prediction", [None, "", "   "])
def test_a_reveal_without_a_prediction_says_write_it_first_and_shows_nothing(prediction, capsys):
    assert predicted(prediction) is False
    assert capsys.readouterr().out == ("Write your prediction first (in the prediction cell above), then run this "
                                       "cell again.\n")


@pytest.mark.parametrize("prediction", ["box", 0, 3.5, False, ["a"]])
def test_any_written_prediction_opens_the_reveal(prediction, capsys):
    assert predicted(prediction, "falls then rises") is True
    assert capsys.readouterr().out == ""


def test_every_prediction_must_be_written(capsys):
    assert predicted("box", None, where="exercise 3") is False
    assert "(in exercise 3)" in capsys.readouterr().out


@pytest.mark.parametrize("name, notebook", [("my_sample", "02_causal_lm"), ("my_norm", "01_masked_lm"),
                                            ("my_attention_row", "01_masked_lm"), (3, "02_causal_lm"),
                                            ("my_layer", ["02_causal_lm"])])
def test_a_reference_that_is_not_lent_is_one_error_naming_those_that_are(name, notebook):
    lent = r"my_embeddings, my_mlm_head, my_layer_output \(notebook 01_masked_lm\); my_attention_weights, "
    lent += "my_attention_head, my_all_heads, my_norm"
    with pytest.raises(ValueError, match=r"No reference function .* One of: " + lent):
        reference(name, notebook)


def test_a_borrowed_layer_runs_on_the_references_own_head_and_norm():
    """A stuck student's own (blank) heads and norm do not break the layer they borrow: it carries its own."""
    import torch

    from utils.blocks import Norm

    layer = reference("my_layer")
    assert layer.__globals__["my_all_heads"] is reference("my_all_heads")
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    norm = reference("my_norm")(x, Norm(torch.ones(3), torch.zeros(3), 0.0, True))
    assert torch.allclose(norm, torch.nn.functional.layer_norm(x, (3,), eps=0.0))


def test_the_whole_model_exercise_s_borrowing_line_runs_and_lends_the_reference():
    """The line notebook 1's whole-model check prints for a piece still returning None, run as printed."""
    from utils.support.solutions import solutions_module

    for name in ("my_embeddings", "my_layer_output", "my_mlm_head"):
        namespace = {}
        exec(f"from utils.exercises import reference; {name} = reference({name!r}, '01_masked_lm')", namespace)
        assert namespace[name] is getattr(solutions_module("01_masked_lm"), name)


@pytest.mark.parametrize("answer, shown, said", [
    (True, True, ""), ("no", True, ""), (0.0, False, "Write True or False in my_x (got 0)"),
    (None, False, "Write your prediction first (in my_x)"), ("  ", False, "Write your prediction first (in my_x)"),
    ("maybe", False, "Write True or False in my_x (got 'maybe'), then run this cell again.")])
def test_a_true_or_false_reveal_waits_for_true_or_false(answer, shown, said, capsys):
    from utils.exercises import decided

    assert decided(answer, where="my_x") is shown
    assert said in capsys.readouterr().out
