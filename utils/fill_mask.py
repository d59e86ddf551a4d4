"""Fill in the blanks with a masked language model: checked input, ranked words for every mask."""

from __future__ import annotations

import torch
from transformers import BatchEncoding, PreTrainedModel, PreTrainedTokenizerBase

from utils.checks import check_pair, check_text, check_tokenizer, whole_number

# Mask strings of other model families: a student pasting one of these into BERT's input gets told.
OTHER_MASKS = ("[MASK]", "<mask>", "<MASK>", "[mask]", "<extra_id_0>")


def encode_masked(tokenizer: PreTrainedTokenizerBase, text: str) -> tuple[BatchEncoding, list[int]]:
    """The model inputs for ``text`` and the positions of its mask tokens, or a ValueError saying what to fix."""
    check_tokenizer(tokenizer)
    mask = tokenizer.mask_token
    if mask is None:
        raise ValueError("This tokenizer has no mask token: it belongs to a model that does not fill in blanks.")
    check_text(text, "The text", f"Write a sentence with {mask} where the missing word goes.")
    if mask not in text:
        foreign = [m for m in OTHER_MASKS if m in text and m != mask]
        if foreign:
            raise ValueError(f"{foreign[0]!r} is another model's mask token; this model's is {mask!r}. "
                             f"Build the text with tokenizer.mask_token.")
        raise ValueError(f"The text has no {mask} token: put {mask} where the model should guess a word.")
    inputs = tokenizer(text, return_tensors="pt", verbose=False)
    limit = tokenizer.model_max_length
    if inputs["input_ids"].shape[1] > limit:
        raise ValueError(f"The text is {inputs['input_ids'].shape[1]} tokens; this model reads at most {limit}. "
                         "Shorten it to the sentence around the mask.")
    positions = (inputs["input_ids"][0] == tokenizer.mask_token_id).nonzero()[:, 0].tolist()
    return inputs, positions


@torch.no_grad()
def fill_mask(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, text: str,
              top_k: int = 5) -> list[list[tuple[str, float]]]:
    """For each mask in ``text`` (left to right): its ``top_k`` (word, probability) pairs, most likely first."""
    top_k = whole_number(top_k, "top_k")
    check_pair(model, tokenizer)
    inputs, positions = encode_masked(tokenizer, text)
    logits = model.eval()(**inputs.to(model.device)).logits[0]
    results = []
    for position in positions:
        probs = logits[position].float().softmax(-1)
        top = probs.topk(min(top_k, probs.shape[-1]))
        results.append([(tokenizer.decode([i]).strip(), p) for i, p in zip(top.indices.tolist(), top.values.tolist())])
    return results


def rank_of(tokenizer: PreTrainedTokenizerBase, probabilities: torch.Tensor, word) -> tuple[int, float] | str:
    """Where ``word`` stands among one mask's ``probabilities``: (rank from 1, probability), or a str saying why it
    has no rank (not a word, or more than one vocabulary piece, which one mask cannot hold)."""
    if not isinstance(word, str) or not word.strip():
        return f"{word!r} is not a word"
    word = word.strip()
    shown = repr(word) if len(word) <= 40 else repr(word[:37] + "...")
    try:
        pieces = tokenizer.tokenize(word)
    except (TypeError, ValueError):  # e.g. half of a surrogate pair, which no tokenizer can encode
        return f"{shown} is not valid text"
    if pieces == [tokenizer.unk_token]:
        return f"{shown} is not in this model's vocabulary (it reads as {tokenizer.unk_token})"
    if len(pieces) != 1:
        return f"{shown} is {len(pieces)} pieces here ({' '.join(pieces[:8])}): one mask holds one piece"
    token_id = tokenizer.convert_tokens_to_ids(pieces[0])
    p = probabilities[token_id]
    return int((probabilities > p).sum()) + 1, float(p)
