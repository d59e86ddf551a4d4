"""Reference solutions to notebook 1's exercises (for instructors; `make solutions` checks them).

Each entry: the start of the answer cell it replaces -> (the solution, what the check cell then prints).
"""

SOLUTIONS = {
    'my_ids = {"[CLS]": None': (
        'my_ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ("[CLS]", "[SEP]", "[MASK]")}',
        "Correct:"),
    "my_sentence = f\"The capital of France": (
        'my_sentence = f"The capital of France is {tokenizer.mask_token}."\nmy_word = "Paris"',
        "yours is in its top 5"),
    "my_top5_mass = None": (
        "my_top5_mass = top.values.sum().item()\nmy_count_above = int((probabilities > 0.001).sum())",
        "Correct:"),
}
