"""The checks every door of ``utils.support.validation`` starts with: is it a loaded model, a tokenizer, text, a
whole number; do the ids belong to the model and fit its context window. Each gives one clear ValueError that says
what to do. They import nothing from the project, so the lowest layers can use them too."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import torch
from transformers import PreTrainedConfig, PreTrainedTokenizerBase

# Models often pad their embedding table past the tokenizer's size (to a multiple of 64 or 128); more than
# this many unused rows means the tokenizer belongs to another model.
PADDING_SLACK = 1024


def check_model(model, name: str = "model") -> None:
    """One clear ValueError when ``model`` is not a loaded model (None, a tokenizer, a string...)."""
    if not isinstance(getattr(model, "config", None), PreTrainedConfig) or not callable(model):
        raise ValueError(f"{name} must be a loaded model (e.g. loaded = load_causal_lm('gpt2'); loaded.model), "
                         f"got {type(model).__name__}.")


def check_tokenizer(tokenizer, name: str = "tokenizer") -> None:
    """One clear ValueError when ``tokenizer`` is not a loaded tokenizer."""
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise ValueError(f"{name} must be a loaded tokenizer (e.g. loaded.tokenizer, or load_tokenizer('gpt2')), "
                         f"got {type(tokenizer).__name__}.")


def check_text(text, name: str = "The text", hint: str = "") -> str:
    """``text`` when it is a non-empty str that is valid Unicode; else one ValueError saying what it is instead."""
    if not isinstance(text, str):
        raise ValueError(f"{name} must be text (a str in quotes), got {type(text).__name__}"
                         + (" (one text at a time)" if isinstance(text, (list, tuple)) else "") + ".")
    if not text.strip():
        raise ValueError(f"{name} is empty. {hint}".strip())
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{name} holds {text[error.start]!r} at character {error.start}, which is not a valid "
                         "Unicode character (half of a surrogate pair); remove it.") from None
    return text


def context_window(model) -> int:
    """The longest sequence the model accepts (n_positions or max_position_embeddings)."""
    check_model(model)
    config = model.config.get_text_config()
    return getattr(config, "n_positions", None) or config.max_position_embeddings


def check_fits(model, prompt_tokens: int, new_tokens: int) -> None:
    """One clear ValueError when a prompt of ``prompt_tokens`` plus ``new_tokens`` exceeds the model's context."""
    window = context_window(model)
    if prompt_tokens + new_tokens > window:
        raise ValueError(f"The prompt is {prompt_tokens} tokens; with {new_tokens} new tokens that exceeds the "
                         f"model's context window of {window}. Shorten the prompt or ask for fewer tokens.")


def check_pair(model, tokenizer) -> None:
    """One clear ValueError when ``model`` or ``tokenizer`` is not loaded, or when ``tokenizer`` cannot belong to
    ``model`` (their vocabularies differ).

    Offline, ``load_tokenizer("gpt2")`` is GPT-2's tokenizer (50,257 entries) while ``load_causal_lm("gpt2")``
    runs the SmolLM2 stand-in (49,152): mixed, they give garbage text or an IndexError deep in torch.
    """
    check_model(model)
    check_tokenizer(tokenizer)
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    rows, entries = getattr(config, "vocab_size", None), len(tokenizer)
    if rows is None or entries <= rows <= entries + PADDING_SLACK:
        return
    name = getattr(model.config, "name_or_path", "") or type(model).__name__
    raise ValueError(f"This tokenizer has {entries:,} entries but the model {name!r} has a {rows:,}-token "
                     "vocabulary: they belong to different models. Use the tokenizer that came with the model "
                     "(loaded = load_causal_lm(...); loaded.model with loaded.tokenizer).")


def whole_number(value, name: str, least: int = 1, most: int | None = None) -> int:
    """``value`` as an int when it is a whole number in range (numpy and torch integers too; a boolean is not a
    count), else one ValueError naming ``name`` and the range."""
    number = plain_number(value)
    if isinstance(number, bool) or not isinstance(number, int) or number < least \
            or (most is not None and number > most):
        span = f"of at least {least}" if most is None else f"from {least} to {most}"
        raise ValueError(f"{name} must be a whole number {span}, got {value!r}.")
    return number


def plain_number(value):
    """A real numpy or torch scalar (or one-element array or tensor), a Decimal or a Fraction as a plain Python int
    or float, so a value computed with numpy, torch or exact arithmetic works wherever a number does. Anything
    else, booleans included, comes back as it is, for the caller's own check to refuse with its message."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype == torch.bool or value.is_complex() or value.is_meta:
            return value
        return value.detach().reshape(()).item()
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    if isinstance(value, Decimal):  # Decimal("3") counts as 3; Decimal("0.5") as 0.5
        return int(value) if value.is_finite() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (np.generic, np.ndarray)) and np.size(value) == 1:
        kind = np.asarray(value).dtype.kind
        if kind in "iu":
            return int(np.asarray(value).reshape(()))
        if kind == "f":
            return float(np.asarray(value).reshape(()))
    return value


def check_token_ids(model, input_ids: torch.Tensor) -> None:
    """One ValueError unless ``input_ids`` (a tensor) are whole numbers of ``model``'s vocabulary that fit its
    context window."""
    check_model(model)
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise ValueError(f"Token ids must be whole numbers, got a tensor of {input_ids.dtype}: use the ids the "
                         "tokenizer gave (tokenizer(text, return_tensors='pt')['input_ids']).")
    if input_ids.is_meta:
        raise ValueError("The token ids are on the meta device, which holds no values; make them on the CPU.")
    rows = model.get_input_embeddings().num_embeddings
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= rows):
        wrong = int(input_ids.min()) if int(input_ids.min()) < 0 else int(input_ids.max())
        raise ValueError(f"The token id {wrong:,} is not in this model's vocabulary (ids 0 to {rows - 1:,}): encode "
                         "the prompt with the model's own tokenizer.")
    window = context_window(model)
    if input_ids.shape[-1] > window:
        raise ValueError(f"The sequence is {input_ids.shape[-1]:,} tokens; this model reads at most {window:,}. "
                         "Shorten it.")
