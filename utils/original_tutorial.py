"""Figures the original tutorial printed (*Chapter 2 Tutorial: Understanding LLMs and Pre-training*, transformers
4.47 on an Apple GPU), quoted from its saved outputs.

They live here, not in the notebooks' visible code, so that a student meets them only in a check cell, after
making a prediction and running the model themselves.
"""

# Notebook 1: bert-base-uncased on "Life is like a [MASK] of chocolates."
BERT_CHOCOLATES_IDS = [101, 2166, 2003, 2066, 1037, 103, 1997, 7967, 2015, 1012, 102]
BERT_TOP5 = {"box": 0.1764, "bag": 0.1688, "bowl": 0.0419, "jar": 0.0336, "cup": 0.0262}

# Notebook 2: gpt2 on "Swimming at the beach is"
GPT2_PROMPT_IDS = [10462, 27428, 379, 262, 10481, 318]
GPT2_PROMPT_PIECES = ["Sw", "imming", " at", " the", " beach", " is"]  # those ids, decoded by GPT-2's tokenizer
GPT2_FIRST_GREEDY_ID = 257  # " a"
GPT2_FIRST_GREEDY_PIECE = " a"
# its generate(max_length=20): 14 new tokens after the prompt's 6, the two newlines included; then those ids, decoded
GPT2_GREEDY_IDS = GPT2_PROMPT_IDS + [257, 1049, 835, 284, 651, 257, 1310, 3131, 2568, 13, 198, 198, 464, 10481]
GPT2_GREEDY_TEXT = "Swimming at the beach is a great way to get a little extra energy.\n\nThe beach"

# Notebook 3: GPT-2 124M pretrained from scratch on 50 Wikipedia articles (50 more for validation), 100 epochs
PRETRAINING = {
    "train_chunks": 2188, "valid_chunks": 2630, "context_length": 128, "epochs": 100, "steps": 27_400,
    "seconds": 47_753, "samples_per_second": 4.58, "eval_seconds": 38,
    "final_train_loss": 0.017, "best_valid_loss": 6.87, "best_valid_epoch": 5.5, "final_valid_loss": 9.74,
}
