"""Reference solutions to notebook 1's exercises (for instructors; `make solutions` checks them).

Each entry: the start of the answer cell it replaces -> (the solution, what the check cell then prints).
"""

SOLUTIONS = {
    'my_guess = ""': ('my_guess = "box"', "Your guess 'box': rank"),
    "def my_softmax(z):": (
        "def my_softmax(z):\n"
        "    e = torch.exp(z - z.max())  # subtracting the largest score changes nothing, and nothing overflows\n"
        "    return e / e.sum()",
        "Correct:"),
    'box_id = tokenizer.convert_tokens_to_ids("box")': (
        'box_id = tokenizer.convert_tokens_to_ids("box")\n'
        "my_loss = -torch.log(my_softmax(logits[0, mask_index])[box_id])",
        "Correct:"),
    "my_text = None": ('my_text = f"Life is like a {tokenizer.mask_token} of wine."',
                       "Correct: the probabilities at the blank changed"),
    "def my_fill_in_turn(text):": (
        "def my_fill_in_turn(text):\n"
        "    words = []\n"
        "    while tokenizer.mask_token in text:\n"
        "        word = fill_mask(model, tokenizer, text, top_k=1)[0][0][0]  # the first blank's top word\n"
        "        text = text.replace(tokenizer.mask_token, word, 1)\n"
        "        words.append(word)\n"
        "    return words",
        "Correct:"),
    "my_pad_id = None": (
        "my_pad_id = tokenizer.pad_token_id\nmy_unk_id = tokenizer.unk_token_id\n"
        'my_continuations = sum(entry.startswith("##") for entry in tokenizer.get_vocab())',
        "Correct:"),
    # with bert-base-uncased "paris" is the first guess, with the offline stand-in it is in the top 5: both say this
    'my_sentence = f"The capital of France': (
        'my_sentence = f"The capital of France is {tokenizer.mask_token}."\nmy_word = "Paris"', "in its top 5"),
    "my_top5_mass = None": (
        "my_top5_mass = top.values.sum().item()\nmy_count_above = int((probabilities > 0.001).sum())",
        "Correct:"),
}
