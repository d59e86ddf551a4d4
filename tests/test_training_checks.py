"""Notebook 3's checks: next-token accuracy (exercise 4) and the unigram count (exercise 1b) against counts by hand."""

import torch

from utils.training_checks import accuracy_verdict


def test_accuracy_is_the_share_of_positions_whose_most_likely_next_token_is_the_true_one():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=6, n_positions=8, n_embd=8, n_layer=1, n_head=2)).eval()
    train_ids, valid_ids = [1, 2, 3, 4, 5, 1], [5, 4, 3, 2, 1, 0]
    with torch.no_grad():  # by hand: position t's argmax against token t + 1
        shares = [(model(torch.tensor([ids])).logits[0, :-1].argmax(-1) == torch.tensor(ids[1:])).float().mean().item()
                  for ids in (train_ids, valid_ids)]
    assert accuracy_verdict(tuple(shares), model, train_ids, valid_ids).startswith(
        f"Correct: {shares[0]:.0%} on training text, {shares[1]:.0%} on unseen text.")
    percent = accuracy_verdict(tuple(100 * s for s in shares), model, train_ids, valid_ids)
    assert percent.startswith("Nearly:") and "percentages" in percent
    assert accuracy_verdict((shares[0] + 0.2, shares[1]), model, train_ids, valid_ids).startswith("Not quite:")
    assert accuracy_verdict((None, None), model, train_ids, valid_ids).startswith("Not answered yet")


def test_the_unigram_exercise_s_line_is_the_baseline_the_figures_draw_and_each_slip_is_named():
    import math

    from utils import baselines
    from utils.training_checks import unigram_slips, unigram_verdict

    train = [[1, 1, 2, 3], [1, 2, 2, 4], [1, 3, 1, 1]]
    valid = [[5, 1, 2, 1], [2, 1, 6, 1]]
    vocab, k = 8, baselines.add_k({"input_ids": train}, 8)
    by_hand = -sum(math.log(({1: 6, 2: 3, 3: 2, 4: 1}.get(t, 0) + k) / (12 + k * vocab))  # 12 tokens counted
                   for t in (1, 2, 1, 1, 6, 1)) / 6  # every validation token but each chunk's first
    line = baselines.unigram_loss({"input_ids": train}, {"input_ids": valid}, vocab)
    assert math.isclose(unigram_slips(torch.tensor(train), torch.tensor(valid), vocab, k)["right"], by_hand)
    assert math.isclose(line, by_hand, rel_tol=1e-6)

    def right(train_chunks, valid_chunks, vocab_size, k):
        counts = torch.bincount(torch.tensor(train_chunks).flatten(), minlength=vocab_size)
        return -((counts + k) / (counts.sum() + k * vocab_size)).log()[torch.tensor(valid_chunks)[:, 1:]].mean()

    def every_token(train_chunks, valid_chunks, vocab_size, k):
        counts = torch.bincount(torch.tensor(train_chunks).flatten(), minlength=vocab_size)
        return -((counts + k) / (counts.sum() + k * vocab_size)).log()[torch.tensor(valid_chunks)].mean()

    assert unigram_verdict(right, train, valid, vocab, k).startswith(f"Correct: {by_hand:.4f} nats on the 6 ")
    assert "each chunk's first token scored too" in unigram_verdict(every_token, train, valid, vocab, k)
    kept = unigram_verdict(lambda *args: by_hand, train, valid, vocab, k)
    assert kept.startswith("Not quite with the training and validation chunks swapped")
    assert unigram_verdict(lambda *args: None, train, valid, vocab, k).startswith("Not answered yet")
    assert "return one number" in unigram_verdict(lambda *args: "7.9", train, valid, vocab, k)
