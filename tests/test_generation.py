"""The step-by-step greedy loop equals generate(), with and without the cache; the strategies table measures each
strategy's draws; bad input is refused."""

import math
import statistics

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from utils.generation import (
    Decoded,
    Step,
    compare_strategies,
    continuation_log_probability,
    encode_prompt,
    greedy_decode,
    prompt_remembered,
    repeated_pairs,
    step_notes,
    step_table,
    strategy_table,
    traced_decode,
)


@pytest.fixture(scope="module")
def tiny_gpt2(gpt2_tokenizer):
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64, vocab_size=len(gpt2_tokenizer))
    return GPT2LMHeadModel(config).eval()


def test_greedy_loop_matches_generate(tiny_gpt2, gpt2_tokenizer):
    prompt = "Swimming at the beach is"
    cached = greedy_decode(tiny_gpt2, gpt2_tokenizer, prompt, 10)
    refed = greedy_decode(tiny_gpt2, gpt2_tokenizer, prompt, 10, use_cache=False)
    ids = gpt2_tokenizer(prompt, return_tensors="pt")["input_ids"]
    reference = tiny_gpt2.generate(ids, max_new_tokens=10, do_sample=False, pad_token_id=gpt2_tokenizer.eos_token_id)
    assert cached.ids == refed.ids == reference[0].tolist()
    assert cached.prompt_ids == [10462, 27428, 379, 262, 10481, 318]


def test_steps_record_candidates_and_work(tiny_gpt2, gpt2_tokenizer):
    cached = greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", 4)
    refed = greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", 4, use_cache=False)
    assert [s.tokens_fed for s in cached.steps] == [2, 1, 1, 1]
    assert [s.tokens_fed for s in refed.steps] == [2, 3, 4, 5]
    for step in cached.steps:
        probs = [p for _, p in step.candidates]
        assert step.chosen == step.candidates[0][0] and probs == sorted(probs, reverse=True)
    assert len(step_table(cached, gpt2_tokenizer).splitlines()) == 2 + 4


def test_a_prompt_of_ids_is_continued_exactly_where_its_text_would_encode_otherwise(tiny_gpt2, gpt2_tokenizer):
    ids = gpt2_tokenizer(" Hel", add_special_tokens=False)["input_ids"] + gpt2_tokenizer("lo")["input_ids"]
    assert gpt2_tokenizer(gpt2_tokenizer.decode(ids))["input_ids"] != ids  # " Hello" is one token: no round trip
    decoded = greedy_decode(tiny_gpt2, gpt2_tokenizer, ids, 5)
    reference = tiny_gpt2.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                   max_new_tokens=5, do_sample=False, pad_token_id=gpt2_tokenizer.eos_token_id)
    assert decoded.prompt_ids == ids and decoded.ids == reference[0].tolist()
    assert greedy_decode(tiny_gpt2, gpt2_tokenizer, torch.tensor(ids), 5).ids == decoded.ids  # a tensor of ids too


@pytest.mark.parametrize("prompt, message", [
    ([], "The prompt has no ids"),
    ([1, 2, 10**6], "ids must be a list of this model's token ids"),
    ([1, -2], "ids must be a list of this model's token ids"),
    ([1.5, 2], "ids must be a list of this model's token ids"),
    (list(range(70)), "exceeds the model's context window of 64"),
    (["Hello", "there"], "one text at a time"),
])
def test_a_bad_prompt_of_ids_is_refused_clearly(tiny_gpt2, gpt2_tokenizer, prompt, message):
    with pytest.raises(ValueError, match=message):
        greedy_decode(tiny_gpt2, gpt2_tokenizer, prompt, 5)


@pytest.mark.parametrize("prompt, new, message", [
    ("", 5, "prompt is empty"),
    ("   ", 5, "prompt is empty"),
    ("word " * 70, 5, "exceeds the model's context window of 64"),
    ("Hello", 0, "at least 1, got 0"),
    ("Hello", -3, "at least 1, got -3"),
])
def test_bad_input_is_refused_clearly(tiny_gpt2, gpt2_tokenizer, prompt, new, message):
    with pytest.raises(ValueError, match=message):
        encode_prompt(gpt2_tokenizer, tiny_gpt2, prompt, new)


def test_continuation_log_probability_is_the_product_of_the_steps(tiny_gpt2, gpt2_tokenizer):
    decoded = greedy_decode(tiny_gpt2, gpt2_tokenizer, "Swimming at the beach is", 6)
    from_steps = sum(math.log(step.candidates[0][1]) for step in decoded.steps)
    assert continuation_log_probability(tiny_gpt2, decoded.ids, len(decoded.prompt_ids)) == \
        pytest.approx(from_steps, rel=1e-5)
    with pytest.raises(ValueError, match="Need a prompt and at least one new token"):
        continuation_log_probability(tiny_gpt2, decoded.ids, len(decoded.ids))


def test_the_original_tutorials_gpt2_figures_are_gpt2s(gpt2_tokenizer):
    """The figures notebook 2 reveals after a prediction: GPT-2's prompt ids, their pieces, its greedy text."""
    from utils import original_tutorial as original

    assert gpt2_tokenizer("Swimming at the beach is")["input_ids"] == original.GPT2_PROMPT_IDS
    assert [gpt2_tokenizer.decode([i]) for i in original.GPT2_PROMPT_IDS] == original.GPT2_PROMPT_PIECES
    assert gpt2_tokenizer.decode([original.GPT2_FIRST_GREEDY_ID]) == original.GPT2_FIRST_GREEDY_PIECE
    ids = original.GPT2_GREEDY_IDS  # generate(max_length=20) after the 6-token prompt: 14 new tokens
    assert ids[:7] == original.GPT2_PROMPT_IDS + [original.GPT2_FIRST_GREEDY_ID] and len(ids) == 20
    assert gpt2_tokenizer.decode(ids) == original.GPT2_GREEDY_TEXT
    assert "extra energy.\n\nThe beach" in original.GPT2_GREEDY_TEXT
    assert gpt2_tokenizer(original.GPT2_GREEDY_TEXT)["input_ids"] == ids


def test_repeated_pairs_is_the_share_of_neighbouring_pairs_seen_earlier_in_the_text():
    assert repeated_pairs([1, 2, 1, 2, 1, 2]) == 3 / 5  # (1, 2), (2, 1), then three pairs seen before
    assert repeated_pairs([1, 2, 3, 4]) == 0 and repeated_pairs([7]) == 0 and repeated_pairs([5, 5, 5]) == 1 / 2


def test_each_strategy_s_draws_are_scored_by_the_model_s_own_probabilities(tiny_gpt2, gpt2_tokenizer):
    inputs = gpt2_tokenizer("Swimming at the beach is", return_tensors="pt")
    n = inputs["input_ids"].shape[1]
    found = compare_strategies(tiny_gpt2, gpt2_tokenizer, inputs, {
        "greedy": dict(do_sample=False), "hot": dict(do_sample=True, temperature=1.5, top_k=0, top_p=1.0),
        "hot again": dict(do_sample=True, temperature=1.5, top_k=0, top_p=1.0)}, draws=3, seed=4, new_tokens=6,
        pad_token_id=gpt2_tokenizer.eos_token_id)
    greedy = greedy_decode(tiny_gpt2, gpt2_tokenizer, "Swimming at the beach is", 6)
    assert found["greedy"].text == gpt2_tokenizer.decode(greedy.new_ids) and found["greedy"].tokens == 6
    assert found["greedy"].per_token == [pytest.approx(continuation_log_probability(tiny_gpt2, greedy.ids, n) / 6)]
    assert found["greedy"].repeated == [repeated_pairs(greedy.new_ids)]
    assert len(found["hot"].per_token) == len(found["hot"].repeated) == 3
    assert found["hot"].per_token == found["hot again"].per_token  # the same seeds, the same draws
    torch.manual_seed(4)
    first = tiny_gpt2.generate(**inputs, max_new_tokens=6, do_sample=True, temperature=1.5, top_k=0, top_p=1.0,
                               pad_token_id=gpt2_tokenizer.eos_token_id)[0].tolist()
    assert found["hot"].text == gpt2_tokenizer.decode(first[n:])
    assert found["hot"].log_probability == pytest.approx(continuation_log_probability(tiny_gpt2, first, n))
    table = strategy_table(found, width=30).splitlines()
    rows, texts = table[2::2], table[3::2]  # each strategy's line, then its first draw's text under it
    assert [row.split()[0] for row in rows] == ["greedy", "hot", "hot"] and "(" not in rows[0]
    low, high = min(found["hot"].per_token), max(found["hot"].per_token)
    assert f"{statistics.mean(found['hot'].per_token):5.2f} ({low:.2f}, {high:.2f})" in rows[1] and low < high
    assert len(table) == 2 + 2 * 3 and all(text.startswith("    ") and len(text) <= 30 for text in texts)
    whole = repr(found["greedy"].text)
    assert texts[0].endswith(" …") and whole.startswith(texts[0][4:-2])  # cut at a word, marked
    assert strategy_table(found).splitlines()[3] == "    " + whole  # short enough: whole


def test_talk_prints_the_greedy_steps_after_the_ids_and_the_loss_on_the_text_s_own_next_tokens(
        tiny_gpt2, gpt2_tokenizer, capsys):
    from utils.generation import talk

    ids = gpt2_tokenizer("The cat sat on the mat and the dog sat on the rug by the door.")["input_ids"]
    talk(tiny_gpt2, ids, "a prompt", gpt2_tokenizer, prompt=5, new=3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"a prompt: {gpt2_tokenizer.decode(ids[:5])!r}" and len(lines) == 1 + 2 + 3 + 1
    with torch.no_grad():
        log_p = tiny_gpt2(torch.tensor([ids[:8]])).logits[0, 4:7].log_softmax(-1)
    loss = -log_p.gather(1, torch.tensor(ids[5:8])[:, None]).mean().item()  # the text's own next 3 tokens
    assert lines[-1].endswith(f"loss on the text's own next 3 tokens {loss:.2f} nats")


def test_the_step_notes_name_the_surest_and_least_sure_steps_and_a_word_split_over_two(gpt2_tokenizer):
    ids = {text: gpt2_tokenizer.encode(text)[0] for text in (" a", " just", " unw", "ind", " and", " great")}
    steps = [Step([(ids[" a"], 0.27), (ids[" just"], 0.16)], ids[" a"], 6, 0.1),
             Step([(ids[" unw"], 0.42), (ids[" great"], 0.13)], ids[" unw"], 7, 0.1),
             Step([(ids["ind"], 0.999)], ids["ind"], 8, 0.1), Step([(ids[" and"], 0.48)], ids[" and"], 9, 0.1)]
    decoded = Decoded([10462], [step.chosen for step in steps], steps, len(gpt2_tokenizer))
    assert step_notes(decoded, gpt2_tokenizer).splitlines() == [
        "surest at step 3: 'ind' 0.999",
        "least sure at step 1: ' a' 0.270, against ' just' 0.160",
        "a word over two steps: ' unw' + 'ind' (steps 2 and 3)"]
    whole = Decoded([10462], [ids[" a"], ids[" and"]], [steps[0], steps[3]], len(gpt2_tokenizer))
    said = step_notes(whole, gpt2_tokenizer).splitlines()
    assert said[-1] == "no word of these 2 new tokens was split over two steps"


def test_traced_decode_records_each_pass_of_someone_else_s_loop_as_greedy_decode_records_its_own(
        tiny_gpt2, gpt2_tokenizer, greedy_loops):
    ids = gpt2_tokenizer("Hello there", return_tensors="pt")["input_ids"]
    for loop, use_cache, fed in zip(greedy_loops(tiny_gpt2), (False, True), ([2, 3, 4, 5], [2, 1, 1, 1])):
        traced = traced_decode(loop, tiny_gpt2, gpt2_tokenizer, ids, 4, candidates=3, repeats=2)
        ours = greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", 4, use_cache=use_cache, candidates=3)
        assert traced.ids == ours.ids and [s.tokens_fed for s in traced.steps] == fed
        assert [s.chosen for s in traced.steps] == traced.new_ids
        for mine, theirs in zip(traced.steps, ours.steps):
            assert [i for i, _ in mine.candidates] == [i for i, _ in theirs.candidates]
            assert [p for _, p in mine.candidates] == pytest.approx([p for _, p in theirs.candidates], abs=1e-5)
            assert mine.seconds > 0
        assert step_table(traced, gpt2_tokenizer) == step_table(ours, gpt2_tokenizer)


def test_traced_decode_has_the_model_score_the_last_position_alone_as_greedy_decode_does(tiny_gpt2, gpt2_tokenizer):
    ids = gpt2_tokenizer("Hello there", return_tensors="pt")["input_ids"]
    scored = []

    def refeed(prompt_ids, n):  # a re-feeding loop that notes how many positions each pass scored
        sequence = prompt_ids
        for _ in range(n):
            logits = tiny_gpt2(sequence).logits
            scored.append(logits.shape[1])
            sequence = torch.cat([sequence, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return sequence[0].tolist()

    traced = traced_decode(refeed, tiny_gpt2, gpt2_tokenizer, ids, 4)
    assert scored == [1, 1, 1, 1] and [s.tokens_fed for s in traced.steps] == [2, 3, 4, 5]
    assert traced.ids == greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", 4, use_cache=False).ids
    assert tiny_gpt2(ids).logits.shape[1] == 2  # the hook is gone afterwards


def test_traced_decode_refuses_a_loop_that_does_not_make_one_pass_per_new_token(tiny_gpt2, gpt2_tokenizer,
                                                                                  greedy_loops):
    ids = gpt2_tokenizer("Hello there", return_tensors="pt")["input_ids"]
    refeed, _ = greedy_loops(tiny_gpt2)
    with pytest.raises(ValueError, match="one forward pass per new token"):
        traced_decode(lambda p, n: refeed(p, n)[:-1], tiny_gpt2, gpt2_tokenizer, ids, 4)
    with pytest.raises(ValueError, match="one forward pass per new token"):
        traced_decode(lambda p, n: refeed(p, n + 1), tiny_gpt2, gpt2_tokenizer, ids, 4)
    with pytest.raises(ValueError, match="as token ids"):
        traced_decode(refeed, tiny_gpt2, gpt2_tokenizer, "Hello there", 4)


@pytest.mark.parametrize("which, said", [
    ("right", "Your loop ran, each of its forward passes recorded"),
    ("blank", "loop is not written yet: greedy_decode ran instead"),
    ("raises", "loop raised ZeroDivisionError: greedy_decode ran instead"),
    ("off by one", "loop does not pass its check yet: greedy_decode ran instead"),
    ("right for 3 tokens only", "loop passed its check on 3 tokens but not on 5 (ValueError): greedy_decode ran"),
])
@pytest.mark.parametrize("cached", [False, True])
def test_the_notebook_runs_the_student_s_loop_once_its_check_accepts_it_and_else_says_it_runs_ours(
        tiny_gpt2, gpt2_tokenizer, greedy_loops, capsys, which, said, cached):
    from utils.decoding_checks import your_loop
    right = greedy_loops(tiny_gpt2)[cached]
    loop = {"right": right, "blank": lambda p, n: None, "raises": lambda p, n: 1 / 0,
            "off by one": lambda p, n: right(p, n)[:-1] + [right(p, n)[-1] + 1],
            "right for 3 tokens only": lambda p, n: right(p, min(n, 3))}[which]
    loop.__name__ = "loop"
    ids = gpt2_tokenizer("Hello there", return_tensors="pt")["input_ids"]
    decoded = your_loop(loop, tiny_gpt2, gpt2_tokenizer, ids, 5, cached=cached, checked_at=3)
    assert capsys.readouterr().out.startswith(said)
    assert decoded.ids == greedy_decode(tiny_gpt2, gpt2_tokenizer, "Hello there", 5).ids
    assert [s.tokens_fed for s in decoded.steps] == ([2, 1, 1, 1, 1] if cached else [2, 3, 4, 5, 6])


PROMPTS = ["Swimming at the beach is", "In the morning, the old fisherman walked slowly down to the harbour and"]


def _batch_loop(model, tokenizer, side="left", mask=True, positions=True):
    """A student's exercise 1c, written as the notebook asks, with one of the usual slips where told."""
    def my_batch_greedy(prompts, n):
        tokenizer.padding_side = side
        batch = tokenizer(prompts, return_tensors="pt", padding=True)
        ids, seen = batch["input_ids"], batch["attention_mask"]
        for _ in range(n):
            extra = {"attention_mask": seen} if mask else {}
            if positions:
                extra["position_ids"] = torch.where(seen == 1, seen.cumsum(-1) - 1, 0)
            with torch.no_grad():
                best = model(input_ids=ids, **extra).logits[:, -1:].argmax(-1)
            ids, seen = torch.cat([ids, best], 1), torch.cat([seen, torch.ones_like(best)], 1)
        return [row[-n:].tolist() for row in ids]
    return my_batch_greedy


def test_the_batch_check_passes_a_left_padded_loop_and_names_each_usual_slip(gpt2_tokenizer):
    import copy

    from utils.decoding_checks import batch_verdict

    torch.manual_seed(0)  # weights 15 times GPT-2's scale: every token of the context moves the argmax, pads too
    tiny_gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64,
                                           vocab_size=len(gpt2_tokenizer), initializer_range=0.3)).eval()
    tokenizer = copy.deepcopy(gpt2_tokenizer)  # a copy: the shared one stays as other tests left it
    tokenizer.pad_token, pad = None, tokenizer.eos_token_id  # GPT-2's own: no padding token
    assert batch_verdict(_batch_loop(tiny_gpt2, tokenizer), tiny_gpt2, tokenizer, PROMPTS, 8, pad) == (
        "Run the cell under *Several prompts at once* first: it gives the tokenizer a padding token.")
    tokenizer.pad_token = tokenizer.eos_token
    said = {name: batch_verdict(_batch_loop(tiny_gpt2, tokenizer, **change), tiny_gpt2, tokenizer, PROMPTS, 8, pad)
            for name, change in {"right": {}, "pads on the right": dict(side="right"), "no mask": dict(mask=False),
                                 "no positions": dict(positions=False)}.items()}
    assert said["right"] == ("Correct: each prompt continues as it does alone, though all of them were decoded in one "
                             "batch.")
    assert tokenizer.padding_side == "right"  # as it was before each check: the check puts it back
    assert said["pads on the right"] == ("Not quite: the pads are on the right (tokenizer.padding_side is 'right'), so "
                                         "the shorter prompt's next token is read at a pad: pad on the left.")
    assert said["no mask"].startswith("Not quite: the pads are not masked: pass attention_mask"), said["no mask"]
    assert said["no positions"].startswith("Not quite: the positions count the pads: pass position_ids counted from "
                                           "each row's first real token"), said["no positions"]
    off = batch_verdict(lambda prompts, n: [[1] * n for _ in prompts], tiny_gpt2, tokenizer, PROMPTS, 8, pad)
    assert off.startswith("Not quite: prompt 1's new ids first differ from its continuation alone at new token 1: 1 "
                          "against "), off
    assert "2 lists, one per prompt" in batch_verdict(lambda prompts, n: "ids", tiny_gpt2, tokenizer, PROMPTS, 8, pad)


def test_caught_warnings_keeps_generate_s_right_padding_warning_off_stderr(tiny_gpt2, gpt2_tokenizer, capfd):
    import copy

    from utils.generation import caught_warnings

    tokenizer = copy.deepcopy(gpt2_tokenizer)
    tokenizer.pad_token, tokenizer.padding_side = tokenizer.eos_token, "right"
    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with caught_warnings() as warned:
        tiny_gpt2.generate(**batch, max_new_tokens=2, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert len(warned) == 1 and "right-padding was detected" in warned[0]
    assert "right-padding" not in capfd.readouterr().err
    with caught_warnings() as quiet:  # left padding: nothing to say
        tokenizer.padding_side = "left"
        tiny_gpt2.generate(**tokenizer(PROMPTS, return_tensors="pt", padding=True), max_new_tokens=2, do_sample=False,
                           pad_token_id=tokenizer.eos_token_id)
    assert quiet == []


def test_a_remembered_prompt_runs_its_pass_once_and_hands_out_copies(tiny_gpt2):
    prompt, other = torch.tensor([[464, 3290, 318]]), torch.tensor([[464, 3290, 319]])
    passes = []
    hook = tiny_gpt2.transformer.register_forward_hook(lambda *_: passes.append(1))
    try:
        with torch.no_grad():
            expected = tiny_gpt2(prompt, use_cache=True)
        passes.clear()
        with prompt_remembered(tiny_gpt2, prompt):
            first = tiny_gpt2(prompt, use_cache=True)
            first.past_key_values.update(torch.ones(1, 2, 1, 16), torch.ones(1, 2, 1, 16), 0)  # a loop's next step
            second = tiny_gpt2(input_ids=prompt.clone(), use_cache=True)
            assert len(passes) == 1  # the same prompt, the same arguments: one pass
            assert torch.equal(second.logits, expected.logits) and second.logits.requires_grad is False
            assert second.past_key_values.get_seq_length() == 3  # a copy: the first caller's step changed nothing
            tiny_gpt2(other)  # another text, a cache passed in, other arguments: each runs the model
            tiny_gpt2(prompt, past_key_values=expected.past_key_values)
            tiny_gpt2(prompt, use_cache=False)
            assert len(passes) == 4
    finally:
        hook.remove()
    assert "forward" not in vars(tiny_gpt2)  # the model's own forward again, with its gradient
    assert tiny_gpt2(prompt).logits.requires_grad
