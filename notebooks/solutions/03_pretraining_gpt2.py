"""Reference solutions to notebook 3's exercises (for instructors; `make solutions` checks them).

Each entry: the start of the answer cell it replaces -> (the solution, what the check cell then prints).
"""

SOLUTIONS = {
    "my_perplexity = None": ("my_perplexity = math.exp(best_loss)", "Correct:"),
    "def next_token_accuracy(ids):": (
        "def next_token_accuracy(ids):\n    x = torch.tensor([ids], device=model.device)\n    with torch.no_grad():\n"
        "        guesses = model(x).logits[0, :-1].argmax(-1)\n    return (guesses == x[0, 1:]).float().mean().item()",
        "Correct:"),
    "more_data_gap = None": ('more_data_gap = "smaller"', "Right:"),
    "dropout_train_loss = None": ('dropout_train_loss = "higher"', "Right:"),
}
