"""Notebook 3's next-token accuracy (exercise 4) against a count by hand."""

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
