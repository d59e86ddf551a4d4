"""The mechanism figures draw the tokens and counts they are given, and their alt text says the same."""

import matplotlib
import pytest
import torch

from utils import schematics
from utils.figures import MIN_FONT_PT, smallest_font_pt

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)
from matplotlib.colors import to_hex  # noqa: E402


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts if t.get_text()]  # an arrow is an empty text


def fills(ax) -> list[str]:
    return [to_hex(p.get_facecolor()).upper() for p in ax.patches]


def test_a_token_is_shown_with_its_spaces_and_newlines_visible_and_a_long_one_cut():
    assert schematics.token_label(" the") == "␣the"
    assert schematics.token_label("a\nb") == "a↵b"
    assert schematics.token_label("internationalisation") == "internatio…"
    assert len(schematics.token_label("x" * 40)) == schematics.WIDEST


def test_the_shift_reads_each_token_and_scores_the_next():
    fig, alt = schematics.shift_figure(["The", " cat", " sat", " down"])
    shown = texts(fig)[2:-1]  # after the two row names and before the caption, per column: read, scored on, position
    reads, scored = shown[0::3], shown[1::3]
    assert reads == ["The", "␣cat", "␣sat"] and scored == ["␣cat", "␣sat", "␣down"]
    assert 'reads the tokens “The”, “ cat”, “ sat” (top)' in alt and '“ cat”, “ sat”, “ down” (bottom)' in alt
    assert smallest_font_pt(fig) >= MIN_FONT_PT
    plt.close(fig)
    with pytest.raises(ValueError, match="at least two tokens"):
        schematics.shift_figure(["alone"])


def test_chunking_keeps_full_chunks_and_drops_each_article_s_tail_or_the_stream_s_one():
    fig, alt = schematics.chunks_figure([300, 100], 128)
    colours = fills(fig.axes[0])
    kept, dropped = colours.count(schematics.COMPUTED), colours.count(schematics.DROPPED)
    # overflow: 2 chunks + a tail of 44, 0 chunks + a tail of 100; packed: 402 tokens = 3 chunks + a tail of 18
    assert (kept, dropped) == (2 + 0 + 3, 1 + 1 + 1)
    assert "article 0: 2 chunks, 44 tokens dropped; article 1: 0 chunks, 100 tokens dropped" in alt
    assert "3 chunks, 18 tokens dropped" in alt
    assert len(fig.axes[0].lines) == 2  # an end-of-text mark after each article in the packed stream
    plt.close(fig)
    fig, alt = schematics.chunks_figure([2000], 100)  # 20 chunks: the first three and the last two drawn, "…" between
    assert fills(fig.axes[0]).count(schematics.COMPUTED) == 5 + 5 and texts(fig).count("…") == 2
    assert "20 chunks, 0 dropped" in texts(fig) and "20 chunks, 1 dropped" in texts(fig)  # packed: 2,001 tokens
    assert alt.endswith("end-of-text token after each article: 20 chunks, 1 token dropped.")
    plt.close(fig)
    fig, alt = schematics.chunks_figure([256], 128)
    assert fills(fig.axes[0]).count(schematics.DROPPED) == 1 and "2 chunks, 0 tokens dropped" in alt  # packed: 257
    plt.close(fig)
    for lengths, context in (([], 128), ([0, 5], 128), ([5], 0)):
        with pytest.raises(ValueError, match="token count"):
            schematics.chunks_figure(lengths, context)


def test_the_cache_computes_one_row_and_one_key_where_re_feeding_computes_them_all():
    tokens = ["A", " b", " c", " d", " e"]
    fig, alt = schematics.cache_figure(tokens)
    refeed, cached = (fills(ax) for ax in fig.axes)
    n = len(tokens)
    assert refeed.count(schematics.COMPUTED) == n * (n + 1) // 2 + n  # every score under the diagonal, every k, v
    assert cached.count(schematics.COMPUTED) == n + 1  # the newest token's row and its own k, v
    assert cached.count(schematics.CACHED) == n - 1
    assert refeed.count(schematics.MASKED) == cached.count(schematics.MASKED) == n * (n - 1) // 2
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["A", "␣b", "␣c", "␣d", "␣e"]
    assert "15 attention scores" in alt and 'key and value of “ e” only, reads the other 4' in alt
    plt.close(fig)
    with pytest.raises(ValueError, match="at least two tokens"):
        schematics.cache_figure(["A"])


def test_padding_numbers_real_tokens_from_the_row_s_first_and_outlines_a_last_pad():
    rows = {"right": [[1, 1, 0], [1, 1, 1]], "left": [[0, 1, 1], [1, 1, 1]]}  # attention masks: 0 on a pad
    fig, alt = schematics.padding_figure(rows)
    shown = texts(fig)
    cells = [t for t in shown if t == "pad" or t.isdigit()]
    assert cells == ["0", "1", "pad", "0", "1", "2", "pad", "0", "1", "0", "1", "2"]
    assert shown.count("next token read from a pad") == 1 and shown.count("next token") == 3
    assert "it is a pad for prompt 1 padded on the right." in alt
    assert smallest_font_pt(fig) >= MIN_FONT_PT
    plt.close(fig)
    fig, alt = schematics.padding_figure({"left": [[0, 1], [1, 1]]})
    assert "a real token in every row" in alt
    plt.close(fig)


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_layer=1, n_embd=16, n_head=2)).eval()


def test_the_beam_tree_extends_each_kept_beam_by_its_best_tokens_and_keeps_the_best_overall():
    model, prompt = tiny_gpt2(), torch.tensor([[3, 7, 1]])
    tree = schematics.beam_tree(model, prompt, width=2, steps=3)

    def log_p(ids):
        with torch.no_grad():
            return torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], dim=-1)

    beams = [([3, 7, 1], 0.0)]
    for step in tree:  # the tree, step by step, against every continuation of every kept beam
        assert [c.parent for c in step] == [b for b in range(len(beams)) for _ in range(2)]
        every = sorted(((ids + [t], score + float(log_p(ids)[t])) for ids, score in beams for t in range(50)),
                       key=lambda pair: -pair[1])
        kept = sorted((c for c in step if c.kept), key=lambda c: -c.score)
        assert [beams[c.parent][0] + [c.token] for c in kept] == [ids for ids, _ in every[:2]]
        assert [c.score for c in kept] == pytest.approx([score for _, score in every[:2]], abs=1e-5)
        for b, (ids, _) in enumerate(beams):  # each beam's two candidates: its own two best tokens
            own = [c for c in step if c.parent == b]
            assert [c.token for c in own] == log_p(ids).topk(2).indices.tolist()
        beams = [(beams[c.parent][0] + [c.token], c.score) for c in kept]


def test_the_beam_figure_outlines_the_kept_candidates_and_names_every_one():
    tree = [[schematics.Candidate(0, 1, -0.5, True), schematics.Candidate(0, 2, -0.9, True)],
            [schematics.Candidate(0, 3, -1.0, False), schematics.Candidate(0, 4, -1.1, True),
             schematics.Candidate(1, 5, -0.95, True), schematics.Candidate(1, 6, -2.0, False)]]
    fig, alt = schematics.beam_figure(tree, lambda t: f" t{t}")
    boxes = fills(fig.axes[0])
    assert boxes.count(schematics.COMPUTED) == 4 and boxes.count(schematics.PAD) == 2
    assert "␣t5  -0.95" in texts(fig) and 'step 2: “ t3” -1.00 dropped, “ t4” -1.10 kept' in alt
    assert "2 beams over 2 steps" in alt
    plt.close(fig)


def test_the_corruption_colours_each_picked_token_by_what_it_became_and_labels_only_those():
    original = ["[CLS]", "life", "is", "like", "a", "box", "[SEP]"]
    shown = ["[CLS]", "[MASK]", "is", "fish", "a", "box", "[SEP]"]
    labels = [-100, 1, -100, 3, -100, 5, -100]  # life, like and box picked
    fig, alt = schematics.corruption_figure(original, shown, labels, "[MASK]", per_row=4)
    colours = fills(fig.axes[0])[:len(original)]  # the tokens' boxes, then the legend's three
    assert colours == [schematics.KIND_COLOURS[kind][0].upper() for kind in
                       (None, "mask", None, "random", None, "kept", None)]
    shown_text = texts(fig)
    assert [t for t in shown_text if t in ("-100", "life", "like", "box")] == \
        ["-100", "life", "-100", "like", "-100", "box", "box", "-100"]  # reads, then label, for each position
    assert ('3 picked: 1 shown as [MASK], 1 as a random token, 1 unchanged (“life” as “[MASK]”, “like” as “fish”, '
            '“box” as “box”)') in alt
    assert smallest_font_pt(fig) >= MIN_FONT_PT
    plt.close(fig)
    with pytest.raises(ValueError, match="one label for each position"):
        schematics.corruption_figure(["a", "b"], ["a"], [-100, -100], "[MASK]")
