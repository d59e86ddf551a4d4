"""utils.diagrams: the drawing of the model that ran says what its configuration says, in the model's own order,
and every text fits inside its box on a figure that reads on a projector."""

import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
)

from utils.diagrams import architecture_figure, architecture_steps
from utils.figures import MIN_FONT_PT, smallest_font_pt


def tiny_bert():
    return BertForMaskedLM(BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                      intermediate_size=80, max_position_embeddings=16))


def tiny_gpt2(**extra):
    return GPT2LMHeadModel(GPT2Config(vocab_size=301, n_positions=16, n_layer=5, n_embd=48, n_head=6, **extra))


def tiny_llama():
    return LlamaForCausalLM(LlamaConfig(vocab_size=302, hidden_size=36, intermediate_size=70, num_hidden_layers=7,
                                        num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=16))


def full_size(model_class, config):
    """A model at a real checkpoint's size, weights not allocated: its numbers are the longest the boxes hold."""
    with torch.device("meta"):
        return model_class(config)


FULL_SIZE = {  # bert-base-uncased, gpt2 and the offline causal stand-in's shapes
    "bert-base": lambda: full_size(BertForMaskedLM, BertConfig()),
    "gpt2": lambda: full_size(GPT2LMHeadModel, GPT2Config()),
    "smollm2-135m": lambda: full_size(LlamaForCausalLM, LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, tie_word_embeddings=True)),
}


def texts(steps):
    return "\n".join(step.text for step in steps)


def test_bert_is_drawn_from_its_config_normalising_after_each_half():
    title, path, layer = architecture_steps(tiny_bert())
    assert "after each half" in title
    assert "Encoder layer × 3" in texts(path) and "300 scores at every position" in texts(path)
    assert "token + position + segment\n→ LayerNorm → 32 numbers per token" in texts(path)
    assert [step.kind for step in layer] == ["attention", "add", "norm", "mlp", "add", "norm"]
    assert "4 heads × 8" in layer[0].text and "32 → 80 → 32" in layer[3].text
    assert [i for i, step in enumerate(layer) if step.opens_half] == [0, 3]  # the second half reads the norm's output


def test_gpt2_is_drawn_normalising_before_each_half_with_learned_positions():
    title, path, layer = architecture_steps(tiny_gpt2())
    assert "before each half" in title
    assert "Decoder layer × 5" in texts(path) and "301 scores" in texts(path) and "token + position" in texts(path)
    assert [step.kind for step in layer] == ["norm", "attention", "add", "norm", "mlp", "add"]
    assert layer[0].text == layer[3].text == "LayerNorm"
    assert "6 heads × 8, then W_o" in layer[1].text  # the heads' outputs, joined by the output projection
    assert "48 → 192 → 48" in layer[4].text  # GPT-2's MLP: 4 x the width
    assert "tied" in texts(path)
    assert [i for i, step in enumerate(layer) if step.opens_half] == [0, 3]  # the second half reads the first's sum


def test_an_untied_head_is_drawn_as_its_own_matrix():
    _, path, _ = architecture_steps(tiny_gpt2(tie_word_embeddings=False))
    assert "its own matrix" in texts(path) and "tied" not in texts(path)


def test_a_llama_style_model_is_drawn_with_rmsnorm_rope_shared_keys_and_a_gated_mlp():
    _, path, layer = architecture_steps(tiny_llama())
    assert "token only" in texts(path) and "Decoder layer × 7" in texts(path)
    assert layer[0].text == layer[3].text == "RMSNorm"
    assert "6 heads × 6, then W_o" in layer[1].text and "2 key/value heads" in layer[1].text
    assert "RoPE" in layer[1].text
    assert "gated MLP" in layer[4].text and "36 → 70 → 36" in layer[4].text


@pytest.mark.parametrize("make", [tiny_bert, tiny_gpt2, tiny_llama, *FULL_SIZE.values()],
                         ids=["tiny-bert", "tiny-gpt2", "tiny-llama", *FULL_SIZE])
def test_every_text_fits_inside_its_box_at_a_font_that_reads_on_a_projector(make):
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.text import Text

    model = make()
    title = architecture_steps(model)[0]
    fig, _ = architecture_figure(model)
    renderer = fig.canvas.get_renderer()
    boxes = [patch.get_window_extent(renderer) for patch in fig.findobj(FancyBboxPatch)]
    drawn = [t for t in fig.findobj(Text) if t.get_text().strip()]
    assert len(drawn) == 1 + 5 + 6  # the title, five steps of the path, six of the layer, and nothing else
    for text in drawn:
        extent = text.get_window_extent(renderer)
        assert fig.bbox.x0 <= extent.x0 and extent.x1 <= fig.bbox.x1 and extent.y1 <= fig.bbox.y1
        if text.get_text() != title:  # its box: the smallest round its centre (the layer's frame holds them all)
            own = min((b for b in boxes if b.x0 < extent.x0 + extent.width / 2 < b.x1
                       and b.y0 < extent.y0 + extent.height / 2 < b.y1), key=lambda b: b.width * b.height)
            assert own.x0 < extent.x0 and extent.x1 < own.x1 and own.y0 < extent.y0 and extent.y1 < own.y1, (
                f"{text.get_text()!r} spills out of its box")
    for patch in boxes:  # every box and the layer's frame, whole on the page
        assert fig.bbox.x0 <= patch.x0 and patch.x1 <= fig.bbox.x1
        assert fig.bbox.y0 <= patch.y0 and patch.y1 <= fig.bbox.y1
    assert smallest_font_pt(fig) >= MIN_FONT_PT


def test_the_alt_text_carries_every_step():
    _, path, layer = architecture_steps(tiny_llama())
    _, alt = architecture_figure(tiny_llama())
    for step in path + layer:
        assert all(line in alt for line in step.text.splitlines()), step
    assert "heads × 6, then W_o, 2 key/value heads; RoPE" in alt and "W_up, 36 → 70" in alt  # each box's lines joined
    assert ",," not in alt and "\n" not in alt


@pytest.mark.parametrize("model", [None, "gpt2", torch.nn.Linear(2, 2)])
def test_what_is_not_a_model_gets_one_clear_error(model):
    with pytest.raises(ValueError, match="must be a loaded model"):
        architecture_steps(model)


def test_a_model_it_cannot_draw_gets_one_clear_error():
    opt = OPTForCausalLM(OPTConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, ffn_dim=32,
                                   num_attention_heads=2, max_position_embeddings=16, word_embed_proj_dim=16))
    with pytest.raises(ValueError, match="OPTForCausalLM is not a model this drawing knows"):
        architecture_steps(opt)
