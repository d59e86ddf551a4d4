"""Notebook 2's logit lens, shown: the layers its table and grid pick and the table, on hand-made probabilities."""

import torch

from utils.build_checks import lens_layers, lens_table


def one_hot(token: int, p: float, size: int = 6) -> torch.Tensor:
    """A probability vector whose top token is ``token``, at ``p``, the rest shared evenly."""
    vector = torch.full((size,), (1 - p) / (size - 1))
    vector[token] = p
    return vector


def test_the_lens_shows_some_layers_the_output_and_where_the_final_choice_settles(gpt2_tokenizer, capsys):
    # 24 layers and the output: token 3 is on top from layer 17 on, not at layer 16; it peaks at layer 21
    lens = [one_hot(3 if 17 <= n else 1, 0.5) for n in range(25)]
    lens[21] = one_hot(3, 0.9)
    assert lens_layers(lens, final_choice=3) == {0, 3, 6, 9, 12, 15, 18, 21, 24, 16, 17}
    lens_table(lens, lens_layers(lens, 3), 3, gpt2_tokenizer)
    lines = capsys.readouterr().out.splitlines()
    name = repr(gpt2_tokenizer.decode([3]))
    assert lines[0].split() == ["layers", "top", "token", "p", f"p({name})"]
    rows = {int(line.split()[0]): line for line in lines[1:-1]}
    assert sorted(rows) == [0, 3, 6, 9, 12, 15, 16, 17, 18, 21, 24]
    assert rows[17].endswith("<- on top from here") and rows[24].endswith("<- the output")
    assert not any("<-" in rows[n] for n in rows if n not in (17, 24))
    assert rows[21].split()[-2:] == ["0.90", "0.900"]  # its top token is the final choice, at 0.9
    assert lines[-1] == f"p({name}) is highest after 21 of the 24 layers, 0.90, and 0.50 at the output"


def test_the_layer_where_the_final_choice_peaks_is_shown_too():
    # 24 layers: on top from layer 17 on, highest at layer 19, which the evenly spaced rows skip
    lens = [one_hot(3 if 17 <= n else 1, 0.5) for n in range(25)]
    lens[19] = one_hot(3, 0.95)
    assert lens_layers(lens, final_choice=3) == {0, 3, 6, 9, 12, 15, 18, 21, 24, 16, 17, 19}


def test_the_layer_before_the_final_choice_settles_is_shown_too():
    lens = [one_hot(3 if n >= 23 else 1, 0.5) for n in range(31)]  # 30 layers, shown every 4th; settles at 23
    assert lens_layers(lens, final_choice=3) == {0, 4, 8, 12, 16, 20, 24, 28, 30, 22, 23}
    for layers in (2, 12, 24, 30, 32, 48):  # at most 12 rows, whatever the depth and wherever it settles
        for settles in range(layers + 1):
            lens = [one_hot(3 if n >= settles else 1, 0.5) for n in range(layers + 1)]
            assert len(lens_layers(lens, final_choice=3)) <= 12


def test_a_final_choice_on_top_from_layer_0_settles_there(gpt2_tokenizer):
    lens = [one_hot(2, 0.4) for _ in range(5)]
    assert lens_layers(lens, final_choice=2) == {0, 1, 2, 3, 4}
