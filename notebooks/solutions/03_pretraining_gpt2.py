"""Reference solutions to notebook 3's exercises (for instructors; `make solutions` checks them).

Each entry: the start of the answer cell it replaces -> (the solution, what the check cell then prints).
"""

SOLUTIONS = {
    "predicted_final_train_loss = None": (
        "predicted_final_train_loss = 5.0\npredicted_final_valid_loss = 7.0\n"
        'predicted_valid_shape = "falls then rises"', "you predicted 5.00"),
    "def my_cross_entropy(logits, labels):": (
        "def my_cross_entropy(logits, labels):\n"
        "    logits, targets = logits[:, :-1], labels[:, 1:]  # position t predicts token t + 1\n"
        "    scored = targets != -100\n"
        "    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]\n"
        "    return -log_p[scored].mean()",
        "Correct:"),
    "def my_training_steps(model, batches, optimizer):": (
        "def my_training_steps(model, batches, optimizer):\n"
        "    losses = []\n"
        "    for batch in batches:\n"
        "        loss = model(**batch).loss  # the mean cross-entropy of exercise 1\n"
        "        loss.backward()  # the gradient of the loss for every weight\n"
        "        optimizer.step()  # AdamW moves every weight against its gradient\n"
        "        optimizer.zero_grad()  # gradients add up otherwise\n"
        "        losses.append(loss.item())\n"
        "    return losses",
        "Correct:"),
    "my_perplexity = None": (
        "my_perplexity = math.exp(sample_loss)  # the loss of exercise 1\n"
        "my_uniform_perplexity = len(tokenizer)  # e^(ln V) = V",
        "Correct:"),
    "def next_token_accuracy(ids):": (
        "def next_token_accuracy(ids):\n    x = torch.tensor([ids], device=model.device)\n    with torch.no_grad():\n"
        "        guesses = model(x).logits[0, :-1].argmax(-1)\n    return (guesses == x[0, 1:]).float().mean().item()",
        "Correct:"),
    "more_data_gap = None": ('more_data_gap = "smaller"', "Right:"),
    "dropout_train_loss = None": ('dropout_train_loss = "higher"', "Right:"),
}
