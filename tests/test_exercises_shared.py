"""What every notebook's predict-and-reveal cells share: no answer before a prediction."""

import pytest

from utils.exercises import predicted


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
