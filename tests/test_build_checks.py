"""Notebook 2's logit lens, shown: the layers its table and grid pick and the table, on hand-made probabilities."""

import torch

from utils.build_checks import lens_layers, lens_table


def one_hot(token: int, p: float, size: int = 6) -> torch.Tensor:
    """A probability vector whose top token is ``token``, at ``p``, the rest shared evenly."""
    vector = torch.full((size,), (1 - p) / (size - 1))
    vector[token] = p
    return vector


def test_the_lens_shows_about_ten_layers_the_output_and_where_the_final_choice_settles(gpt2_tokenizer, capsys):
    # 24 layers and the output: token 3 is on top from layer 17 on, except at layer 16; it peaks at layer 20
    lens = [one_hot(3 if 17 <= n else 1, 0.5) for n in range(25)]
    lens[20] = one_hot(3, 0.9)
    assert lens_layers(lens, final_choice=3) == {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 17}
    lens_table(lens, lens_layers(lens, 3), 3, gpt2_tokenizer)
    lines = capsys.readouterr().out.splitlines()
    name = repr(gpt2_tokenizer.decode([3]))
    assert lines[0].split() == ["layers", "top", "token", "p", f"p({name})"]
    rows = {int(line.split()[0]): line for line in lines[1:-1]}
    assert sorted(rows) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 17, 18, 20, 22, 24]
    assert rows[17].endswith("<- on top from here") and rows[24].endswith("<- the output")
    assert not any("<-" in rows[n] for n in rows if n not in (17, 24))
    assert rows[20].split()[-2:] == ["0.90", "0.900"]  # its top token is the final choice, at 0.9
    assert lines[-1] == f"p({name}) is highest after 20 of the 24 layers, 0.90, and 0.50 at the output"


def test_a_final_choice_on_top_from_layer_0_settles_there(gpt2_tokenizer):
    lens = [one_hot(2, 0.4) for _ in range(5)]
    assert lens_layers(lens, final_choice=2) == {0, 1, 2, 3, 4}
