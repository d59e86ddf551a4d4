"""Masked-LM helper: every mask is found and ranked; a batch hides every word once; bad input is refused with a clear
message."""

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from utils.fill_mask import (
    BlankGroups,
    blank_sources,
    causal_mask,
    continuation_prefix,
    encode_masked,
    fill_mask,
    losses_per_blank,
    mean_change,
    one_blank_each,
    rank_of,
)


@pytest.fixture(scope="module")
def tiny_bert(bert_tokenizer):
    torch.manual_seed(0)
    return BertForMaskedLM(BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=64)).eval()


def test_mask_position_matches_the_original(bert_tokenizer):
    inputs, positions = encode_masked(bert_tokenizer, f"Life is like a {bert_tokenizer.mask_token} of chocolates.")
    assert positions == [5]
    assert inputs["input_ids"][0].tolist() == [101, 2166, 2003, 2066, 1037, 103, 1997, 7967, 2015, 1012, 102]


def test_every_mask_gets_a_ranked_list(tiny_bert, bert_tokenizer):
    m = bert_tokenizer.mask_token
    results = fill_mask(tiny_bert, bert_tokenizer, f"The {m} sat on the {m}.", top_k=3)
    assert len(results) == 2 and all(len(r) == 3 for r in results)
    for ranked in results:
        probs = [p for _, p in ranked]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1


@pytest.mark.parametrize("text, message", [
    ("", "The text is empty"),
    ("   ", "The text is empty"),
    ("Life is like a box of chocolates.", "has no \\[MASK\\] token"),
    ("Life is like a <mask> of chocolates.", "'<mask>' is another model's mask token; this model's is '\\[MASK\\]'"),
    ("word " * 600 + "[MASK]", "600|60[0-9] tokens; this model reads at most 512"),
])
def test_bad_input_is_refused_clearly(bert_tokenizer, text, message):
    with pytest.raises(ValueError, match=message):
        encode_masked(bert_tokenizer, text)


def test_rank_of_a_guess(bert_tokenizer):
    probabilities = torch.zeros(len(bert_tokenizer))
    box, bag = bert_tokenizer.convert_tokens_to_ids(["box", "bag"])
    probabilities[box], probabilities[bag] = 0.3, 0.5
    assert rank_of(bert_tokenizer, probabilities, " Box ") == (2, pytest.approx(0.3))
    assert rank_of(bert_tokenizer, probabilities, "bag") == (1, pytest.approx(0.5))
    assert rank_of(bert_tokenizer, probabilities, "chocolates") == \
        "'chocolates' is 2 pieces here (chocolate ##s): one mask holds one piece"
    for not_a_word in (None, 3, "  ", ["box"]):
        assert "is not a word" in rank_of(bert_tokenizer, probabilities, not_a_word)


def test_rank_of_reads_the_guess_as_a_word_after_a_space(gpt2_tokenizer):
    """A BPE vocabulary (GPT-2's, RoBERTa's) has " box" (Ġbox) and "box" as different entries: a blank after a space
    is filled by the first."""
    probabilities = torch.zeros(len(gpt2_tokenizer))
    spaced, bare = gpt2_tokenizer.convert_tokens_to_ids(["Ġbox", "box"])
    probabilities[spaced], probabilities[bare] = 0.4, 0.6
    assert rank_of(gpt2_tokenizer, probabilities, "box") == (2, pytest.approx(0.4))


def test_continuation_prefix_is_wordpiece_s_double_hash_and_none_for_bpe(bert_tokenizer, gpt2_tokenizer):
    assert continuation_prefix(bert_tokenizer) == "##"
    assert continuation_prefix(gpt2_tokenizer) is None
    assert continuation_prefix("bert-base-uncased") is None


def test_one_blank_each_hides_every_word_once_with_the_rest_of_its_sentence_in_view(bert_tokenizer):
    sentences = ["The cat sat.", "Run, Forrest, run!"]
    batch = one_blank_each(bert_tokenizer, sentences)
    ids = [bert_tokenizer(s)["input_ids"] for s in sentences]
    words = [len(row) - 2 for row in ids]  # every token but [CLS] and [SEP]
    assert len(batch["input_ids"]) == sum(words) == int((batch["labels"] != -100).sum())
    assert ((batch["labels"] != -100).sum(1) == 1).all()  # one blank a row
    row = 0
    for sentence_ids in ids:
        for position in range(1, len(sentence_ids) - 1):
            shown, label = batch["input_ids"][row], batch["labels"][row]
            assert shown[position] == bert_tokenizer.mask_token_id and label[position] == sentence_ids[position]
            others = [p for p in range(len(sentence_ids)) if p != position]
            assert shown[others].tolist() == [sentence_ids[p] for p in others]  # the rest as it was
            assert batch["attention_mask"][row].sum() == len(sentence_ids)  # padding is not attended to
            row += 1

    every = [(s, p) for s, row in enumerate(ids) for p in range(1, len(row) - 1)]
    assert blank_sources(bert_tokenizer, sentences) == every


def test_each_blanks_loss_is_minus_ln_p_of_its_token_and_their_mean_is_the_models_loss(bert_tokenizer):
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=64)).eval()
    batch = one_blank_each(bert_tokenizer, ["The cat sat.", "Run, Forrest, run!"])
    losses = losses_per_blank(model, batch)
    with torch.no_grad():
        outputs = model(**batch)
    assert losses.shape == (len(batch["input_ids"]),)
    for row, labels in enumerate(batch["labels"]):
        position = int((labels != -100).nonzero()[0, 0])
        expected = -outputs.logits[row, position].log_softmax(-1)[labels[position]]
        assert float(losses[row]) == pytest.approx(float(expected), rel=1e-5)
    assert float(losses.mean()) == pytest.approx(float(outputs.loss), rel=1e-5)


@pytest.mark.parametrize("before,after,change,margin", [
    ([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], -1.0, 0.0),  # the same change everywhere: no spread, no margin
    ([1.0, 1.0], [2.0, 0.0], 0.0, 12.71),  # changes +1 and -1: sd √2, standard error 1, t for 1 degree of freedom
    ([1.0], [0.5], -0.5, float("inf")),  # one blank says nothing about the spread
])
def test_the_mean_change_comes_with_its_95_percent_margin(before, after, change, margin):
    got = mean_change(torch.tensor(before), torch.tensor(after))
    assert got == pytest.approx((change, margin))


def test_the_margin_is_student_s_t_times_the_standard_error_near_twice_it_for_many_draws():
    changes = torch.tensor([1.0, -1.0] * 20)  # 40 draws: sd √(40/39), standard error √(1/39)
    assert mean_change(torch.zeros(40), changes) == pytest.approx((0.0, 2.0 * (1 / 39) ** 0.5))
    six = torch.tensor([1.0, -1.0] * 3)  # 6 draws: t for 5 degrees of freedom, 2.57
    assert mean_change(torch.zeros(6), six)[1] == pytest.approx(2.57 * (1 / 5) ** 0.5)


def test_blanks_of_one_sentence_count_as_one_draw():
    before, after = torch.ones(4), torch.tensor([2.0, 2.0, 0.0, 0.0])  # changes +1, +1, -1, -1
    alone = mean_change(before, after)  # four draws: sd √(4/3), standard error √(1/3), t for 3 degrees: 3.18
    assert alone == pytest.approx((0.0, 3.18 * (1 / 3) ** 0.5))
    # two sentences of two blanks each, moving together: two draws, deviations summed per sentence (2, -2),
    # variance 2/1 * 8 / 4² = 1, t for 1 degree of freedom: wider than four independent blanks give
    assert mean_change(before, after, torch.tensor([0, 0, 1, 1])) == pytest.approx((0.0, 12.71))
    # each blank its own sentence: the plain standard error
    assert mean_change(before, after, torch.tensor([3, 1, 2, 0])) == pytest.approx(alone)
    assert mean_change(before, after, torch.tensor([5, 5, 5, 5])) == pytest.approx((0.0, float("inf")))  # one draw


def test_blank_groups_split_the_blanks_by_their_labels_and_report_each_group_s_change(bert_tokenizer, tiny_bert):
    sentences, unseen = ["The cat sat.", "Run, Forrest, run!"], ["A dog barked.", "It rained."]
    batch = one_blank_each(bert_tokenizer, sentences)
    labels = torch.full((2, 8), -100)
    labels[0, 2], labels[1, 1], labels[1, 3] = 1, 1, 1  # "cat", "run" and "forrest" trained
    groups = BlankGroups(bert_tokenizer, sentences, unseen, labels)
    assert groups.trained.tolist() == [s == 0 and p == 2 or s == 1 and p in (1, 3)
                                       for s, p in blank_sources(bert_tokenizer, sentences)]
    before = groups.score(tiny_bert)
    assert torch.equal(before[0], losses_per_blank(tiny_bert, batch))
    assert torch.equal(before[1], losses_per_blank(tiny_bert, one_blank_each(bert_tokenizer, unseen)))
    after = (before[0] - 1.0, before[1] + 0.5)  # the trained and the other blanks fall by 1, the unseen rise by 0.5
    table = groups.table(before, after, 30_522).splitlines()
    assert table[0].endswith("(a uniform guess: ln 30,522 = 10.33),") and len(table) == 5
    assert groups.sentence_of[1].tolist() == [s for s, _ in blank_sources(bert_tokenizer, unseen)]
    trained = before[0][groups.trained]
    assert table[2].split() == ["the", "blanks", "the", "steps", "trained", "3", "blanks", f"{trained.mean():.2f}",
                                "->", f"{trained.mean() - 1:.2f}", "(-1.00", "±", "0.00:", "fell)"]
    assert table[4].split()[:5] == ["2", "sentences", "it", "never", "saw"]
    assert table[4].endswith("(+0.50 ± 0.00: rose)")
    others, n = before[0].clone(), int((~groups.trained).sum())
    others[~groups.trained] += torch.tensor([0.5, -0.5]).repeat(n)[:n]  # up and down by turns: no change beyond chance
    assert groups.table(before, (others, before[1]), 30_522).splitlines()[3].endswith(": within chance)")


def test_the_causal_mask_lets_each_token_see_itself_and_the_tokens_before_it():
    mask = causal_mask(3, torch.bfloat16)
    lowest = torch.finfo(torch.bfloat16).min
    assert mask.shape == (1, 1, 3, 3) and mask.dtype == torch.bfloat16
    assert mask[0, 0].tolist() == [[0, lowest, lowest], [0, 0, lowest], [0, 0, 0]]
    scores = torch.zeros(3, 3)
    assert (scores + mask[0, 0].float()).softmax(-1)[0].tolist() == [1.0, 0.0, 0.0]  # the first sees only itself
