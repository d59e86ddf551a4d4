"""The count models notebook 3 reads its runs against, and the model's own probability for each true next token."""

import math

import pytest
import torch

from utils import baselines


def test_the_unigram_loss_adds_the_held_out_constant_to_every_count():
    # two chunks, so every other chunk is one half: [0, 0, 1] and [0, 2, 2]; counts of both: 3, 1, 2, 0
    train = {"input_ids": [[0, 0, 1], [0, 2, 2]]}
    valid = {"input_ids": [[3, 0, 3]]}  # the first token of a chunk is never predicted: 0 and 3 are

    def held_out(k):  # each half's counts (+ k, 4 entries) predicting the other half's tokens
        first = {0: 2 + k, 1: 1 + k, 2: k}  # [0, 0, 1]: 3 tokens, total 3 + 4k
        second = {0: 1 + k, 1: k, 2: 2 + k}  # [0, 2, 2]
        return (sum(math.log(second[t] / (3 + 4 * k)) for t in (0, 0, 1)) / 3
                + sum(math.log(first[t] / (3 + 4 * k)) for t in (0, 2, 2)) / 3)

    k = max(baselines.ADD_K, key=held_out)
    assert baselines.add_k(train, vocab_size=4) == k
    expected = -(math.log((3 + k) / (6 + 4 * k)) + math.log(k / (6 + 4 * k))) / 2
    assert baselines.unigram_loss(train, valid, vocab_size=4) == pytest.approx(expected)


def test_add_k_is_small_when_held_out_text_repeats_its_half_and_large_when_it_does_not():
    same = {"input_ids": [[5, 6, 7, 8]] * 4}  # every chunk alike: counts predict the other half exactly
    disjoint = {"input_ids": [[1, 2, 3, 4], [5, 6, 7, 8]]}  # each half's tokens never seen in the other
    assert baselines.add_k(same, vocab_size=1000) == min(baselines.ADD_K)
    assert baselines.add_k(disjoint, vocab_size=1000) == max(baselines.ADD_K)
    assert baselines.add_k({"input_ids": [[1, 2, 3]]}, vocab_size=10) == 1.0  # one chunk: nothing to hold out


def test_the_bigram_model_is_witten_bell_over_the_unigram():
    train = {"input_ids": [[1, 2, 1, 2, 3]]}  # one chunk: add-one unigram, counts 0, 2, 2, 1 -> +1: 1, 3, 3, 2 of 9
    # pairs 1-2 twice (after 1: one kind of follower, count 2), 2-1 and 2-3 (after 2: two kinds, count 2)
    valid = {"input_ids": [[1, 2, 0]]}
    after_1 = (2 + 1 * 3 / 9) / (2 + 1)  # 1 -> 2: seen twice
    after_2 = (0 + 2 * 1 / 9) / (2 + 2)  # 2 -> 0: never seen after 2
    assert baselines.bigram_loss(train, valid, vocab_size=4) == pytest.approx(
        -(math.log(after_1) + math.log(after_2)) / 2)
    # after a token never seen in training, nothing is known of its pairs: the unigram's probability, whole
    unseen = {"input_ids": [[0, 2]]}
    assert baselines.bigram_loss(train, unseen, vocab_size=4) == pytest.approx(-math.log(3 / 9))
    # position by position, the same probabilities, one row per validation chunk
    rows = baselines.bigram_probabilities(train, valid, vocab_size=4).tolist()
    assert len(rows) == 1 and rows[0] == pytest.approx([after_1, after_2])


def test_true_token_log_probs_are_the_log_softmax_at_each_next_token():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    chunks = {"input_ids": [[1, 5, 3, 7], [2, 2, 9, 0]]}
    got = baselines.true_token_log_probs(model, chunks)
    with torch.no_grad():
        logits = model(torch.tensor(chunks["input_ids"])).logits
    expected = [[logits[c, t].log_softmax(-1)[ids[t + 1]].item() for t in range(3)]
                for c, ids in enumerate(chunks["input_ids"])]
    assert got.shape == (2, 3) and torch.allclose(got, torch.tensor(expected), atol=1e-5)
    assert not model.training  # measured as evaluation measures: no dropout


def test_the_error_of_the_margin_counts_each_article_once():
    reference = torch.zeros(4, 2)  # a reference model with ln p 0 everywhere: the margins are the model's own means
    learnt = torch.tensor([[1.0, 1.0], [3.0, 3.0], [2.0, 2.0], [2.0, 2.0]])  # chunk margins 1, 3, 2, 2: mean 2
    error, articles = baselines.error_by_article(learnt, reference, ["a", "a", "b", "c"])
    # article a's deviations cancel (-1 + 1), b's and c's are 0: no spread between articles
    assert (error, articles) == (0.0, 3)
    error, articles = baselines.error_by_article(learnt, reference, ["a", "b", "c", "c"])
    assert articles == 3 and error == pytest.approx(math.sqrt(1 + 1 + 0) / 4)  # deviations -1, +1, 0 + 0


def test_a_model_against_the_unigram_count_scores_both_on_the_same_tokens_with_the_error_by_article():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=5, n_positions=4, n_embd=8, n_layer=1, n_head=2))
    train = {"input_ids": [[0, 1, 1, 2], [1, 1, 3, 0]]}
    valid = {"input_ids": [[1, 2, 3, 4], [0, 0, 1, 2], [4, 3, 2, 1]]}
    got = baselines.against_unigram(model, train, valid, ["a", "a", "b"], 5)
    with torch.no_grad():  # the model's own loss on each chunk (all of equal length): their mean is the model's
        own = [model(torch.tensor([ids]), labels=torch.tensor([ids])).loss.item() for ids in valid["input_ids"]]
    assert got["model"] == pytest.approx(sum(own) / 3, rel=1e-5)
    assert got["unigram"] == pytest.approx(baselines.unigram_loss(train, valid, 5))
    assert got["articles"] == 2 and got["error"] > 0
    same = baselines.against_unigram(model, train, valid, ["a", "a", "a"], 5)  # one article: nothing varies
    assert same["error"] == pytest.approx(0.0, abs=1e-7) and same["articles"] == 1


def test_token_chunks_become_their_exact_bytes_in_the_byte_tokenizers_ids(gpt2_tokenizer, bert_tokenizer):
    byte_tokenizer = gpt2_tokenizer.train_new_from_iterator(["any text"], vocab_size=257, show_progress=False)
    text = " Café, naïve: 8 ½ km."  # multi-byte characters, which GPT-2 may split across tokens
    chunk = gpt2_tokenizer(text)["input_ids"]
    (row,) = baselines.token_bytes(gpt2_tokenizer, byte_tokenizer, {"input_ids": [chunk]})
    assert len(row) == len(text.encode("utf-8"))
    assert byte_tokenizer.decode(row) == text
    with pytest.raises(ValueError, match="train_new_from_iterator"):
        baselines.token_bytes(gpt2_tokenizer, bert_tokenizer, {"input_ids": [chunk]})  # no byte-level alphabet


def test_the_byte_model_scores_the_bytes_a_token_model_scores_each_once(gpt2_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    byte_tokenizer = gpt2_tokenizer.train_new_from_iterator(["any text"], vocab_size=257, show_progress=False)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=257, n_positions=4, n_embd=8, n_layer=1, n_head=2))
    texts = ["Hello world, again", " and once more."]
    chunks = {"input_ids": [gpt2_tokenizer(t)["input_ids"] for t in texts]}
    byte_train = {"input_ids": [byte_tokenizer("a Hello world")["input_ids"][:8]]}
    got = baselines.on_the_same_bytes(model, gpt2_tokenizer, byte_tokenizer, chunks, byte_train)
    # expected, written out: each chunk's bytes after its first token, each read with the bytes before it in its
    # window of 4: the first window starts at the first token's last byte and scores 3 bytes; each next one starts 2
    # later and scores the 2 bytes after the last scored
    first = [len(gpt2_tokenizer.convert_ids_to_tokens(ids[0])) for ids in chunks["input_ids"]]
    scored = [len(t.encode()) - f for t, f in zip(texts, first)]
    assert got["bytes"] == sum(scored) and got["tokens"] == sum(len(ids) - 1 for ids in chunks["input_ids"])
    nats = []
    for text, f in zip(texts, first):
        ids = byte_tokenizer(text)["input_ids"]
        for target in range(f, len(ids)):
            start = f - 1 if target < f + 3 else f + 1 + 2 * ((target - f - 3) // 2)
            with torch.no_grad():
                logits = model(torch.tensor([ids[start:target]])).logits[0, -1]
            nats.append(-logits.log_softmax(-1)[ids[target]].item())
    assert got["byte model"] == pytest.approx(sum(nats) / len(nats), rel=1e-5)
    pairs = {"input_ids": [byte_tokenizer(t)["input_ids"][f - 1:] for t, f in zip(texts, first)]}
    bigram = [p for row in pairs["input_ids"] for p in
              baselines.bigram_probabilities(byte_train, {"input_ids": [row]}, 257)[0].tolist()]
    assert got["bigram"] == pytest.approx(-sum(math.log(p) for p in bigram) / len(bigram))


def test_a_pretrained_models_nats_per_byte_are_its_own_tokens_losses_over_the_bytes_they_hold(gpt2_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(gpt2_tokenizer), n_positions=64, n_layer=1, n_embd=16,
                                       n_head=2)).eval()
    texts = ["Apollo 8 was launched in 1968.", "Ångström, naïve: bytes beyond ASCII."]
    nats = scored = tokens = 0
    for text in texts:
        ids = gpt2_tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            nats += model(ids, labels=ids).loss.item() * (ids.shape[1] - 1)  # the mean over all but the first
        first = gpt2_tokenizer.decode(ids[0, :1])  # "Apollo" and "Å": the bytes before the first scored token
        scored += len(text.encode("utf-8")) - len(first.encode("utf-8"))
        tokens += ids.shape[1] - 1
    from utils import pretraining

    got = pretraining.pretrained_per_byte(model, gpt2_tokenizer, texts)
    assert (got["bytes"], got["tokens"]) == (scored, tokens)
    assert got["nats per byte"] == pytest.approx(nats / scored, rel=1e-5)


def test_a_pretrained_model_scores_in_a_process_of_its_own_and_says_which_model_ran(gpt2_tokenizer):
    from utils import pretraining
    from utils.models import load_causal_lm

    chunks = {"input_ids": [gpt2_tokenizer("The river flows past the old mill and on to the sea.")["input_ids"],
                            gpt2_tokenizer("She wrote a letter to her brother in Paris.")["input_ids"]]}
    apart = pretraining.pretrained_apart("gpt2", gpt2_tokenizer, chunks)
    loaded = load_causal_lm("gpt2")  # offline (the tests' HF_HUB_OFFLINE=1): the same stand-in, here
    here = pretraining.pretrained_per_byte(loaded.model, loaded.tokenizer,
                                           [gpt2_tokenizer.decode(ids) for ids in chunks["input_ids"]])
    assert apart["model"].startswith("Model: ") and "offline stand-in for gpt2" in apart["model"]
    assert apart["bytes"] == here["bytes"] and apart["nats per byte"] == pytest.approx(here["nats per byte"], rel=1e-4)


def test_a_loss_against_its_lines_reads_under_or_above_each_with_its_value():
    said = baselines.against(2.59, {"the unigram count": 3.12, "the bigram count": 2.49})
    assert said == "0.53 under the unigram count (3.12), 0.10 above the bigram count (2.49)"
    said = baselines.against(8.94, {"its count line": 8.99}, level=0.1)
    assert said == "level with its count line (8.99; within 0.1 nats)"
