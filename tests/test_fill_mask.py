"""Masked-LM helper: every mask is found and ranked; bad input is refused with a clear message."""

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from utils.fill_mask import continuation_prefix, encode_masked, fill_mask, rank_of


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
