"""Figures carry alt text into JupyterLab, the HTML exports and the decks, and record their smallest font size."""

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from utils import figures

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

RECORDED = sorted((Path(__file__).resolve().parent.parent / "docs" / "recorded").glob("*.ipynb"))
DEFAULT_ALT = "No description has been provided for this image"


def test_a_figure_output_is_a_png_and_the_same_image_with_alt_text():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    ax.set_title("a title", fontsize=20)
    ax.legend(["tiny"], fontsize=9)
    data = figures.figure_output(fig, 'Loss falls from 4 to 3 "quickly" & <surely>.')
    png = base64.b64decode(data["image/png"])
    assert Image.open(io.BytesIO(png)).info["MinFontPt"] == "9"  # the legend: the smallest text drawn
    assert data["text/plain"] == 'Loss falls from 4 to 3 "quickly" & <surely>.'
    assert data["text/html"] == (f'<img src="data:image/png;base64,{data["image/png"]}" '
                                 'alt="Loss falls from 4 to 3 &quot;quickly&quot; &amp; &lt;surely&gt;.">')
    plt.close(fig)


@pytest.mark.parametrize("alt", ["", "   ", None, 3])
def test_a_figure_without_alt_text_is_refused(alt):
    fig = plt.figure()
    with pytest.raises(ValueError, match="Every figure needs alt text"):
        figures.figure_output(fig, alt)
    plt.close(fig)


def test_importing_changes_no_global_style_and_use_style_does():
    code = ("import matplotlib; before = dict(matplotlib.rcParams); from utils import figures; "
            "assert dict(matplotlib.rcParams) == before; figures.use_style(); "
            "print(matplotlib.rcParams['font.size'], matplotlib.rcParams['axes.prop_cycle'].by_key()['color'][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(float(figures.MIN_FONT_PT)), figures.OKABE_ITO[0]]


def test_the_style_reads_on_a_projector_and_in_colour_blind_eyes():
    assert figures.MIN_FONT_PT * figures.DPI / 72 >= 18 / 0.87  # 18 px on a slide even when shrunk to 87%
    with plt.rc_context(figures.STYLE):
        fig, ax = plt.subplots()
        ax.plot([0, 1], label="a")
        ax.set(title="t", xlabel="x", ylabel="y")
        ax.legend()
        assert figures.smallest_font_pt(fig) >= figures.MIN_FONT_PT
        colours = [line["color"] for line in plt.rcParams["axes.prop_cycle"]]
        plt.close(fig)
    assert colours[:4] == figures.OKABE_ITO[:4]


@pytest.mark.parametrize("notebook", RECORDED, ids=[nb.stem for nb in RECORDED])
def test_every_image_in_the_html_export_has_its_own_alt_text(notebook, tmp_path):
    """The recorded outputs exported as `make run` does: no image keeps nbconvert's placeholder."""
    from utils.tools.handouts import build_handout

    html = build_handout(notebook, tmp_path).read_text()
    images = re.findall(r"<img [^>]*>", html)
    assert images, f"{notebook.name} shows figures"
    for img in images:
        alt = re.search(r'alt="([^"]*)"', img)
        assert alt and alt.group(1).strip() and alt.group(1) != DEFAULT_ALT, img[:200]


def _decode(seconds: list[float], fed: list[int], prompt: int):
    from utils.generation import Decoded, Step

    decoded = Decoded(prompt_ids=list(range(prompt)))
    decoded.steps = [Step(chosen=0, candidates=[(0, 1.0)], seconds=s, tokens_fed=f) for s, f in zip(seconds, fed)]
    return decoded


def test_the_kv_cache_figure_draws_each_decode_s_steps_and_its_running_total_over_the_sequence_length():
    refeed = _decode([0.010, 0.012, 0.014], [5, 6, 7], prompt=5)
    cached = _decode([0.011, 0.003, 0.004], [5, 1, 1], prompt=5)
    fig, alt = figures.kv_cache_figure(refeed, cached)
    left, right = fig.axes
    (re_time, cache_time), (re_total, cache_total) = left.get_lines(), right.get_lines()
    assert list(re_time.get_xdata()) == [5, 6, 7] and list(cache_total.get_xdata()) == [5, 6, 7]
    assert list(re_time.get_ydata()) == pytest.approx([10, 12, 14])
    assert list(cache_time.get_ydata()) == pytest.approx([11, 3, 4])
    assert list(re_total.get_ydata()) == pytest.approx([0.010, 0.022, 0.036])
    assert list(cache_total.get_ydata()) == pytest.approx([0.011, 0.014, 0.018])
    assert "lengths 5 to 7 tokens" in alt and "grows to 14 ms" in alt and "the whole prompt, 11 ms" in alt
    assert "about 4 ms" in alt  # the median of the cached steps after the first
    assert "re-feeding ends at 0.0 s" in alt and left.get_ylim()[0] == 0 == right.get_ylim()[0]
    plt.close(fig)


def test_the_cache_report_sets_the_time_saved_beside_the_tokens_saved_and_the_cost_of_one_pass():
    from utils.generation import cache_report

    refeed = _decode([0.040, 0.050, 0.060], [5, 6, 7], prompt=5)
    cached = _decode([0.040, 0.020, 0.030, 0.010], [5, 1, 1, 1], prompt=5)
    time, fed, one = cache_report(refeed, cached).splitlines()
    assert "re-feed 0.15 s, cache 0.10 s: 1.5x faster" in time
    assert "re-feed 18, cache 8: 2.2x fewer" in fed
    assert "the prompt's 5 tokens 40 ms, over 1 token 20 ms" in one  # the median of 20, 30 and 10 ms


def test_the_temperature_figure_draws_softmax_of_the_logits_over_t_and_the_rest_together():
    import math

    import torch

    logits = torch.tensor([2.0, 0.0, 1.0, -1.0, 0.5])
    fig, alt = figures.temperature_figure(logits, ["'a'", "'c'"], temperatures=(0.5, 2.0))
    bars = [patch.get_height() for patch in fig.axes[0].patches]
    assert len(bars) == 2 * 3  # two temperatures x (two tokens + the rest)
    for t, heights in zip((0.5, 2.0), (bars[:3], bars[3:])):
        z = sum(math.exp(v / t) for v in logits.tolist())
        assert heights[:2] == pytest.approx([math.exp(2.0 / t) / z, math.exp(1.0 / t) / z], rel=1e-5)
        assert sum(heights) == pytest.approx(1.0)
    assert [label.get_text() for label in fig.axes[0].get_xticklabels()] == ["'a'", "'c'", "the other 3"]
    favourite = [math.exp(2.0 / t) / sum(math.exp(v / t) for v in logits.tolist()) for t in (0.5, 2.0)]
    assert f"holds {favourite[0]:.0%}, {favourite[1]:.0%};" in alt and "temperatures 0.5, 2." in alt
    plt.close(fig)


def test_the_top_words_figure_draws_each_model_s_words_on_one_probability_axis():
    text = "Life is like a [MASK] of chocolates."
    fig, alt = figures.top_words_figure({"part": 0.066, "piece": 0.05}, "the stand-in", text)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["piece", "part"]  # most likely at the top
    assert [bar.get_width() for bar in ax.patches] == [0.05, 0.066] and ax.get_title() == "the stand-in"
    assert alt == ("Bar chart of the most likely words for the blank in 'Life is like a [MASK] of chocolates.', most "
                   "likely first, on one probability axis. the stand-in: part 0.066, piece 0.050.")
    plt.close(fig)
    fig, alt = figures.top_words_figure({"part": 0.066}, "the stand-in", text, beside={"BERT": {"box": 0.18}})
    left, right = fig.axes
    assert right.get_title() == "BERT" and [bar.get_width() for bar in right.patches] == [0.18]
    assert left.get_xlim() == right.get_xlim() and left.get_xlim()[1] > 0.18  # one axis: the surer model shows it
    assert alt.endswith("the stand-in: part 0.066; BERT: box 0.180.") and alt.startswith("Bar charts of")
    plt.close(fig)


def test_the_own_loop_figure_draws_every_step_s_loss_against_the_uniform_guess_and_the_count_lines():
    fig, alt = figures.own_loop_figure([5.6, 4.1, 3.25], 5.549, 257)
    loss, uniform = fig.axes[0].get_lines()
    assert list(loss.get_xdata()) == [1, 2, 3] and list(loss.get_ydata()) == [5.6, 4.1, 3.25]
    assert list(uniform.get_ydata()) == [5.549, 5.549] and uniform.get_label() == "uniform guess, ln 257"
    assert alt == ("Training loss of your loop over 3 steps on bytes, from 5.60 to 3.25; lines: the uniform guess at "
                   "5.55.")
    plt.close(fig)
    fig, alt = figures.own_loop_figure([5.6, 4.1, 3.25], 5.549, 257, evaluations=[(1, 5.5), (3, 3.4)])
    _, valid, _ = fig.axes[0].get_lines()
    assert list(valid.get_xdata()) == [1, 3] and list(valid.get_ydata()) == [5.5, 3.4]
    assert "; its validation loss 5.50 at step 1, 3.40 at step 3; lines: the uniform guess" in alt
    plt.close(fig)
    fig, alt = figures.own_loop_figure([5.6, 3.25], 5.549, 257, whose="the reference loop (yours has not passed)")
    assert fig.axes[0].get_title() == "the reference loop, on bytes"  # the why: in the alt text, not the title
    assert alt.startswith("Training loss of the reference loop (yours has not passed) over 2 steps")
    plt.close(fig)
    counts = {"unigram count": 3.12, "bigram count": 2.49}
    fig, alt = figures.own_loop_figure([5.6, 4.1, 3.25], 5.549, 257, lines=counts)
    _, _, unigram, bigram = fig.axes[0].get_lines()
    assert list(unigram.get_ydata()) == [3.12, 3.12] and unigram.get_label() == "unigram count, 3.12"
    assert list(bigram.get_ydata()) == [2.49, 2.49] and bigram.get_linestyle() != unigram.get_linestyle()
    assert alt.endswith("lines: the uniform guess at 5.55, the unigram count at 3.12, the bigram count at 2.49.")
    plt.close(fig)


def test_the_ten_steps_figure_draws_the_batch_s_loss_and_each_group_s_change_with_its_margin_centred_on_0():
    groups = [("trained", 12, 7.28, 2.73, -4.55, 1.54), ("other", 69, 4.45, 4.66, 0.21, 0.41),
              ("unseen", 44, 4.49, 4.69, 0.20, 0.22)]
    fig, alt = figures.ten_steps_figure([6.9, 4.0, 1.3], groups)
    left, right = fig.axes
    (loss,) = left.get_lines()
    assert list(loss.get_xdata()) == [0, 1, 2] and list(loss.get_ydata()) == [6.9, 4.0, 1.3]
    changes = [line for line in right.get_lines() if line.get_marker() == "o"]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in changes] == [(-4.55, 0), (0.21, 1), (0.2, 2)]
    bars = [c for c in right.collections if len(c.get_segments()) == 1]  # each change's horizontal 95% margin
    assert [tuple(bar.get_segments()[0][:, 0].round(2)) for bar in bars] == [(-6.09, -3.01), (-0.2, 0.62),
                                                                             (-0.02, 0.42)]
    assert [tuple(line.get_xdata()) for line in right.get_lines() if line.get_marker() == "None"] == [(0, 0)]  # 0
    assert [t.get_text() for t in right.get_yticklabels()] == ["trained\n(12 blanks)", "other\n(69 blanks)",
                                                                "unseen\n(44 blanks)"]
    assert alt == ("Left: the batch's loss over 2 training steps, from 6.90 to 1.30. Right: each group's change in "
                   "mean -ln p of a hidden token, with its 95% margin, on an axis centred on 0: trained, 7.28 to 2.73 "
                   "(-4.55 ± 1.54); other, 4.45 to 4.66 (+0.21 ± 0.41); unseen, 4.49 to 4.69 (+0.20 ± 0.22).")
    plt.close(fig)


def test_the_lens_grid_names_each_layer_s_guess_at_each_position(gpt2_tokenizer):
    import torch

    guesses = [torch.return_types.max((torch.tensor([0.9, 0.3]), torch.tensor([464, 3290]))),  # torch.max's
               torch.return_types.max((torch.tensor([0.2, 0.7]), torch.tensor([262, 11])))]  # (values, indices)
    fig, alt = figures.lens_grid(guesses, [0, 12], ["'The'", "' dog'"], gpt2_tokenizer, "The dog", output=12)
    ax = fig.axes[0]
    assert ax.images[0].get_array().flatten().tolist() == pytest.approx([0.9, 0.3, 0.2, 0.7])
    assert [t.get_text() for t in ax.texts] == [repr(gpt2_tokenizer.decode([i])) for i in (464, 3290, 262, 11)]
    long = [torch.return_types.max((torch.tensor([0.5]), torch.tensor(gpt2_tokenizer.encode(" international"))))]
    assert [t.get_text() for t in figures.lens_grid(long, [0], ["'x'"], gpt2_tokenizer, "x")[0].axes[0].texts] == [
        "' inter…'"]  # a token past 7 characters: 6 of them and an ellipsis
    assert [t.get_text() for t in ax.get_yticklabels()] == ["embeddings", "output"]
    assert "2 rows by 2 positions of the prompt 'The dog'" in alt
    assert f"Output: {gpt2_tokenizer.decode([262])!r} 0.20, {gpt2_tokenizer.decode([11])!r} 0.70." in alt
    middle = figures.lens_grid(guesses, [0, 6], ["'The'", "' dog'"], gpt2_tokenizer, "The dog", output=12)
    assert [t.get_text() for t in middle[0].axes[0].get_yticklabels()] == ["embeddings", "after 6"]
    assert f"After 6 layers: {gpt2_tokenizer.decode([262])!r} 0.20" in middle[1]
    plt.close(middle[0])
    plt.close(fig)


def test_the_heads_figure_splits_each_head_s_weight_into_itself_the_token_before_the_first_and_the_rest():
    import torch

    n = 5
    before = torch.zeros(n, n)  # head 0: every row on the token before it (row 0 on itself)
    before[0, 0] = 1
    for i in range(1, n):
        before[i, i - 1] = 1
    even = torch.tril(torch.ones(n, n))  # head 1: every row spread evenly over itself and every earlier token
    even /= even.sum(-1, keepdim=True)
    shares = figures.head_shares(torch.stack([before, even]))
    assert shares["the token before"][0] == 1 and shares["itself"][0] == shares["the first token"][0] == 0
    # rows 2, 3 and 4 give 1/3, 1/4 and 1/5 to each of the three named keys, the rest to the others
    third = (1 / 3 + 1 / 4 + 1 / 5) / 3
    assert [shares[part][1] for part in shares] == pytest.approx([third, third, third, 1 - 3 * third])
    fig, alt = figures.heads_figure(torch.stack([before, even]), list("abcde"), layer=0)
    left, right = fig.axes[:2]
    assert left.images[0].get_array().tolist() == before.tolist()
    assert [bar.get_height() for bar in right.patches[:2]] == pytest.approx([0, third])  # "itself", heads 0 and 1
    assert "the token before: most in head 0 (100%)" in alt and "the rest: most in head 1" in alt
    assert figures.smallest_font_pt(fig) >= figures.MIN_FONT_PT
    plt.close(fig)


def test_the_attention_figure_outlines_the_row_it_is_asked_to_and_says_so(monkeypatch):
    import torch

    shown = []
    monkeypatch.setattr(figures, "show", lambda fig, alt: shown.append((fig, alt)))
    tokens = ["[CLS]", "life", "[MASK]", "of", "[SEP]"]
    attention = torch.full((5, 5), 0.2)
    figures.show_attention_and_masks(attention, tokens, "a head", "it spreads evenly", row=2)
    figures.show_attention_and_masks(attention, tokens, "a head", "it spreads evenly")
    (outlined, alt), (plain, plain_alt) = shown
    (box,) = outlined.axes[0].patches
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (-0.5, 1.5, 5, 1)  # row 2, every key
    assert "it spreads evenly. The [MASK] row is outlined. Middle," in alt
    assert not plain.axes[0].patches and "outlined" not in plain_alt
    plt.close(outlined)
    plt.close(plain)
