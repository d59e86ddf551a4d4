"""Property-based tests: the helpers the notebooks call, given arbitrary input of any type, return a right result
or raise one error of our own (raised in utils/), never a library's traceback.

hypothesis generates the inputs; the runs are derandomized (the same examples every time, so CI cannot flake)
and keep no example database on disk.
"""

import math
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

from utils import exercises
from utils.attention import attention_head
from utils.fill_mask import encode_masked, fill_mask, rank_of
from utils.generation import greedy_decode
from utils.sampling import check_settings, filtered_probabilities

UTILS = Path(__file__).resolve().parent.parent / "utils"
FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=60,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# anything a student might pass: numbers of every kind, text, containers, tensors, arrays, None
ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.binary(max_size=8), st.lists(st.integers(-5, 5), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(np.float32, st.floats(-1e3, 1e3)), st.builds(np.int64, st.integers(-100, 100)),
    st.builds(torch.tensor, st.floats(-1e3, 1e3)), st.builds(lambda n: torch.zeros(n), st.integers(0, 3)),
)
NUMBERS = st.one_of(st.integers(-10, 100), st.floats(-10, 10), st.just(float("nan")), st.just(float("inf")),
                    st.builds(np.float32, st.floats(0.01, 5)), st.builds(np.int64, st.integers(0, 50)),
                    st.builds(torch.tensor, st.floats(0.01, 5)), st.booleans(), st.none(), st.text(max_size=4))


def ours_or_result(call):
    """call()'s result, or None when it raised an error of our own (a ValueError raised in utils/)."""
    try:
        return call()
    except ValueError as error:
        raised_in = Path(traceback.extract_tb(error.__traceback__)[-1].filename).resolve()
        assert raised_in.is_relative_to(UTILS), f"a library's ValueError, not ours: {error!r} from {raised_in}"
        return None


@pytest.fixture(scope="module")
def tiny_bert(bert_tokenizer):
    torch.manual_seed(0)
    return BertForMaskedLM(BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=64)).eval()


@pytest.fixture(scope="module")
def tiny_gpt2(gpt2_tokenizer):
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64,
                                      vocab_size=len(gpt2_tokenizer))).eval()


@FUZZ
@given(temperature=NUMBERS, top_k=NUMBERS, top_p=NUMBERS)
def test_sampling_settings_are_checked_and_filtered_probabilities_sum_to_one(temperature, top_k, top_p):
    logits = torch.linspace(-3, 3, 50)
    if ours_or_result(lambda: check_settings(temperature, top_k, top_p)) is None and \
            ours_or_result(lambda: filtered_probabilities(logits, temperature, top_k, top_p)) is None:
        return
    probs = filtered_probabilities(logits, temperature, top_k, top_p)
    assert probs.shape == logits.shape and torch.isfinite(probs).all()
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-5)
    kept = probs > 0
    assert kept[-1]  # the favourite always survives
    if 0 < int(top_k) < len(logits):
        assert int(kept.sum()) <= int(top_k)


@FUZZ
@given(text=st.one_of(ANYTHING, st.text(alphabet=st.sampled_from(list("ab [MASK]<mask>.")), max_size=30)),
       top_k=NUMBERS)
def test_fill_mask_any_text_and_top_k(tiny_bert, bert_tokenizer, text, top_k):
    ranked = ours_or_result(lambda: fill_mask(tiny_bert, bert_tokenizer, text, top_k=top_k))
    if isinstance(top_k, bool):
        assert ranked is None, "a bool is not a count"
    if ranked is not None:
        assert len(ranked) == len(encode_masked(bert_tokenizer, text)[1]) >= 1
        assert all(len(row) == min(int(top_k), len(bert_tokenizer)) for row in ranked)


@FUZZ
@given(word=ANYTHING)
def test_rank_of_any_word(bert_tokenizer, word):
    probabilities = torch.full((len(bert_tokenizer),), 1 / len(bert_tokenizer))
    found = rank_of(bert_tokenizer, probabilities, word)
    assert isinstance(found, str) or (1 <= found[0] <= len(bert_tokenizer) and 0 <= found[1] <= 1)


@FUZZ
@given(prompt=st.one_of(ANYTHING, st.text(max_size=30)), new_tokens=NUMBERS)
def test_greedy_decode_any_prompt_and_length(tiny_gpt2, gpt2_tokenizer, prompt, new_tokens):
    decoded = ours_or_result(lambda: greedy_decode(tiny_gpt2, gpt2_tokenizer, prompt, new_tokens))
    if isinstance(new_tokens, bool):
        assert decoded is None, "a bool is not a count"
    if decoded is not None:
        assert len(decoded.steps) == new_tokens and len(decoded.ids) == len(decoded.prompt_ids) + new_tokens


@FUZZ
@given(prompt=st.one_of(ANYTHING, st.text(max_size=20)), seed=st.one_of(NUMBERS, st.just(2**64)), new_tokens=NUMBERS)
def test_explore_any_prompt_seed_and_length(tiny_gpt2, gpt2_tokenizer, prompt, seed, new_tokens):
    from utils.sampling import explore

    explored = ours_or_result(lambda: explore(tiny_gpt2, gpt2_tokenizer, prompt, seed=seed, new_tokens=new_tokens))
    if explored is not None:
        assert isinstance(prompt, str) and prompt.strip() and not isinstance(seed, bool)


@FUZZ
@given(prompt=st.text(alphabet="ab .\n", max_size=20).filter(str.strip), seed=st.integers(0, 2**64 - 1),
       new_tokens=st.integers(1, 8))
def test_explore_samples_from_any_valid_prompt_and_seed(tiny_gpt2, gpt2_tokenizer, prompt, seed, new_tokens):
    from utils.sampling import explore

    explored = explore(tiny_gpt2, gpt2_tokenizer, prompt, seed=seed, new_tokens=new_tokens)
    assert math.isclose(float(explored.filtered.sum()), 1.0, rel_tol=1e-5)
    assert explored.survivors == len(gpt2_tokenizer)  # temperature 1, no filter: every token can be drawn
    assert explored.continuation == explore(tiny_gpt2, gpt2_tokenizer, prompt, seed=seed,
                                            new_tokens=new_tokens).continuation  # the seed decides the sample


@FUZZ
@given(layer=NUMBERS, head=NUMBERS)
def test_attention_head_any_layer_and_head(tiny_gpt2, layer, head):
    part = ours_or_result(lambda: attention_head(tiny_gpt2, torch.tensor([[5, 6, 7]]), layer=layer, head=head))
    if part is not None:
        assert part.weights.shape == (3, 3)


@FUZZ
@given(answer=ANYTHING)
def test_exercise_helpers_never_raise(answer):
    exercises.number(answer)
    exercises.describe(answer)
    said = exercises.mismatch(answer, torch.tensor([0.5, 0.5]))
    assert said is None or isinstance(said, str)
    exercises.close(answer, 0.5)


@pytest.mark.parametrize("make", [np.float32, np.float64, torch.tensor, lambda v: np.array([v])])
def test_numpy_and_torch_scalars_work_where_a_number_does(make, tiny_gpt2, gpt2_tokenizer, tiny_bert, bert_tokenizer):
    integer = (lambda v: make(v).astype(np.int64)) if make is not torch.tensor else torch.tensor
    assert check_settings(make(0.5), integer(5), make(0.9)) == (0.5, 5, pytest.approx(0.9))
    probs = filtered_probabilities(torch.linspace(-3, 3, 50), make(0.5), integer(5), make(0.9))
    assert int((probs > 0).sum()) <= 5
    assert len(greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", integer(3)).steps) == 3
    assert len(fill_mask(tiny_bert, bert_tokenizer, "a [MASK] b", top_k=integer(4))[0]) == 4
    assert attention_head(tiny_gpt2, torch.tensor([[5, 6, 7]]), layer=integer(1), head=integer(1)).head == 1
    for count in (True, np.bool_(True), torch.tensor(True)):
        with pytest.raises(ValueError, match="whole number"):
            greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", count)
