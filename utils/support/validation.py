"""Input validation: what students pass in, checked once at each entry point a notebook calls, with one clear
error that says what to do. The mechanisms behind those entry points are the plain computation."""

from __future__ import annotations

import math

import numpy as np
import torch

from utils.support.basic_checks import (  # the basic checks, also imported from here by the lesson modules
    PADDING_SLACK,
    check_fits,
    check_model,
    check_pair,
    check_text,
    check_token_ids,
    check_tokenizer,
    plain_number,
    whole_number,
)
from utils.support.basic_checks import context_window as context_window


def check_head_request(model, input_ids, layer, head):
    """``attention_head``'s door: one sequence of ids as shape (1, n), a layer and head the model has, and a model
    whose heads it can take apart (GPT-2 or Llama-style); one ValueError otherwise."""
    check_model(model)
    try:
        input_ids = torch.as_tensor(input_ids)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"input_ids must be token ids (a tensor or list of whole numbers), got "
                         f"{type(input_ids).__name__}.") from None
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if input_ids.dim() != 2 or input_ids.shape[0] != 1 or input_ids.shape[1] == 0:
        raise ValueError(f"Give one sequence of token ids, shape (1, n); got shape {tuple(input_ids.shape)}.")
    check_token_ids(model, input_ids)
    layer = whole_number(layer, "layer", 0, model.config.num_hidden_layers - 1)
    head = whole_number(head, "head", 0, model.config.num_attention_heads - 1)
    if hasattr(model, "transformer") and hasattr(model.transformer, "h"):
        return input_ids, layer, head
    base = getattr(model, "model", None)
    if base is None or not hasattr(base, "layers") or not hasattr(base.layers[layer], "self_attn"):
        raise ValueError(f"{type(model).__name__} is neither GPT-2 nor a Llama-style model: attention_head cannot "
                         "take its heads apart.")
    attention = base.layers[layer].self_attn
    if not all(hasattr(attention, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
        raise ValueError(f"{type(attention).__name__} has no q_proj/k_proj/v_proj: not a head this helper "
                         "can take apart.")
    return input_ids, layer, head


# Below this temperature, sampling is greedy decoding in all but name, and the scaled scores overflow float32
# (a logit of 20 divided by 1e-40 is infinite).
MIN_TEMPERATURE = 1e-6


def check_settings(temperature: float, top_k: int, top_p: float) -> tuple[float, int, float]:
    """Sampling's settings: one clear ValueError for a setting generate() would reject or silently misread; else the
    three settings as plain Python numbers (numpy and torch scalars are accepted)."""
    temperature, top_k, top_p = (plain_number(v) for v in (temperature, top_k, top_p))
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 \
            or math.isinf(temperature):
        raise ValueError(f"temperature must be a number above 0 (1 leaves the logits as they are), "
                         f"got {temperature!r}.")
    if temperature < MIN_TEMPERATURE:
        raise ValueError(f"temperature {temperature!r} is too small to compute with: use at least {MIN_TEMPERATURE:g}, "
                         "which already samples like greedy decoding.")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be a whole number, 0 to switch it off, got {top_k!r}.")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be above 0 and at most 1 (1 switches it off), got {top_p!r}.")
    return temperature, top_k, top_p


def check_logits(logits) -> torch.Tensor:
    """``logits`` as a float tensor of scores over the vocabulary (a list or numpy array is accepted), or one
    ValueError: NaN or +inf scores have no probabilities (-inf is fine: a token already ruled out)."""
    try:
        scores = torch.as_tensor(logits if isinstance(logits, torch.Tensor) else np.asarray(logits, dtype=float))
    except (TypeError, ValueError):
        raise ValueError("logits must be a tensor (or list) of scores, one per vocabulary entry, got "
                         f"{type(logits).__name__}.") from None
    if scores.ndim == 0 or scores.shape[-1] == 0 or not (scores.is_floating_point() or scores.dtype == torch.int64):
        raise ValueError(f"logits must be a non-empty tensor of scores, one per vocabulary entry, got shape "
                         f"{tuple(scores.shape)} and dtype {scores.dtype}.")
    if scores.is_meta:
        raise ValueError("logits are on the meta device, which holds no values: compute them with a model whose "
                         "weights are loaded (on the CPU or a GPU).")
    if scores.isnan().any() or (scores == math.inf).any() or (scores == -math.inf).all(-1).any():
        raise ValueError("logits hold NaN or +inf, or rule out every token (-inf everywhere): they have no "
                         "probabilities. Check what computed them.")
    return scores


def check_filter(logits, temperature, top_k, top_p) -> tuple[torch.Tensor, float, int, float]:
    """``filtered_probabilities``' door: the logits as a tensor, and the three settings as plain numbers."""
    return (check_logits(logits), *check_settings(temperature, top_k, top_p))


def check_causal_lm(model) -> None:
    """One ValueError unless ``model`` is a loaded model that writes text left to right (a causal LM, one that can
    ``generate``): a masked LM fills in blanks, and has no next-token distribution and no KV cache."""
    check_model(model)
    if not (callable(getattr(model, "generate", None)) and model.can_generate()):
        raise ValueError(f"{type(model).__name__} does not write text left to right (a masked LM fills in blanks): "
                         "use a causal LM, e.g. loaded = load_causal_lm('gpt2'); loaded.model.")


def check_explore(model, tokenizer, prompt, temperature, top_k, top_p, seed, new_tokens):
    """``explore``'s door: the pair, the prompt, the settings, the seed and the length; returns the numbers plain."""
    check_pair(model, tokenizer)
    check_causal_lm(model)
    check_text(prompt, "The prompt", "Give the model some text to continue.")
    temperature, top_k, top_p = check_settings(temperature, top_k, top_p)
    seed, new_tokens = whole_number(seed, "seed", 0, 2**64 - 1), whole_number(new_tokens, "new_tokens")
    check_fits(model, len(tokenizer(prompt, verbose=False)["input_ids"]), new_tokens)
    return temperature, top_k, top_p, seed, new_tokens


def _check_prompt(model, tokenizer, prompt, max_new_tokens, as_ids: bool) -> tuple[list[int] | None, int]:
    """A prompt for this causal LM and tokenizer (text, or with ``as_ids`` this model's token ids) that leaves room
    for ``max_new_tokens``; returns (the ids when given as ids, else None; max_new_tokens as a plain int)."""
    check_pair(model, tokenizer)
    check_causal_lm(model)
    if as_ids:
        ids = check_ids(model, prompt)
        if not ids:
            raise ValueError("The prompt has no ids. Give the model some tokens to continue.")
        length = len(ids)
    else:
        ids = None
        check_text(prompt, "The prompt", "Give the model some text to continue.")
        length = len(tokenizer(prompt, verbose=False)["input_ids"])
    max_new_tokens = whole_number(max_new_tokens, "max_new_tokens")
    check_fits(model, length, max_new_tokens)
    return ids, max_new_tokens


def check_prompt(model, tokenizer, prompt, max_new_tokens) -> int:
    """A text prompt for this causal LM and tokenizer that leaves room for ``max_new_tokens``; returns that as a
    plain int."""
    return _check_prompt(model, tokenizer, prompt, max_new_tokens, as_ids=False)[1]


def check_decode(model, tokenizer, prompt, max_new_tokens, candidates,
                 repeats) -> tuple[list[int] | None, int, int, int]:
    """``greedy_decode``'s door: (the prompt's ids when it is given as ids, else None; max_new_tokens, candidates,
    repeats as plain ints). A prompt is text, or a list (or 1-D tensor) of this model's token ids."""
    repeats, candidates = whole_number(repeats, "repeats"), whole_number(candidates, "candidates")
    as_ids = isinstance(prompt, (torch.Tensor, np.ndarray)) or (
        isinstance(prompt, (list, tuple)) and not any(isinstance(p, str) for p in prompt))
    return (*_check_prompt(model, tokenizer, prompt, max_new_tokens, as_ids), candidates, repeats)


def check_ids(model, ids) -> list[int]:
    """``ids`` as a list of this model's token ids (a list, tuple or tensor of whole numbers below its vocabulary
    size); else one ValueError."""
    check_model(model)
    if isinstance(ids, (torch.Tensor, np.ndarray)) and not (isinstance(ids, torch.Tensor) and ids.is_meta):
        ids = ids.reshape(-1).tolist()
    if isinstance(ids, (list, tuple)):
        ids = [plain_number(i) for i in ids]  # numpy and torch integers are ids too
    if not isinstance(ids, (list, tuple)) or not all(type(i) is int and 0 <= i < model.config.vocab_size for i in ids):
        raise ValueError(f"ids must be a list of this model's token ids (whole numbers from 0 to "
                         f"{model.config.vocab_size - 1:,}), e.g. decoded.ids.")
    return list(ids)


def check_continuation(model, ids, prompt_length) -> tuple[list[int], int]:
    """``continuation_log_probability``'s door: the ids as a list of this model's token ids, and a prompt length
    that leaves at least one new token."""
    ids = check_ids(model, ids)
    prompt_length = whole_number(prompt_length, "prompt_length")
    if not 0 < prompt_length < len(ids):
        raise ValueError(f"Need a prompt and at least one new token: {len(ids)} ids, prompt of {prompt_length}.")
    return list(ids), prompt_length


def check_step_table(decoded, tokenizer, decoded_type: type) -> None:
    """``step_table``'s door: what greedy_decode returned, and the tokenizer that encoded it."""
    if not isinstance(decoded, decoded_type):
        raise ValueError(f"step_table takes what greedy_decode returned, got {type(decoded).__name__}.")
    check_tokenizer(tokenizer)
    if decoded.tokenizer_size is not None and len(tokenizer) != decoded.tokenizer_size:
        raise ValueError(f"This tokenizer has {len(tokenizer):,} entries, but the ids were made with one of "
                         f"{decoded.tokenizer_size:,}: decode them with the tokenizer you passed to greedy_decode.")


# Mask strings of other model families: a student pasting one of these into BERT's input gets told.
OTHER_MASKS = ("[MASK]", "<mask>", "<MASK>", "[mask]", "<extra_id_0>")


def check_masked_text(tokenizer, text) -> None:
    """``encode_masked``'s door: a tokenizer with a mask token, and a text that holds it and fits the model."""
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
    length, limit = len(tokenizer(text, verbose=False)["input_ids"]), tokenizer.model_max_length
    if length > limit:
        raise ValueError(f"The text is {length} tokens; this model reads at most {limit}. "
                         "Shorten it to the sentence around the mask.")


def check_fill_mask(model, tokenizer, top_k) -> int:
    """``fill_mask``'s door (the text is ``check_masked_text``'s): returns top_k as a plain int."""
    top_k = whole_number(top_k, "top_k")
    check_pair(model, tokenizer)
    return top_k


def check_context_length(tokenizer, context_length, packing: bool = False) -> int:
    """A tokenizer, and a context length (at least 2) the model can read; returns it as a plain int."""
    check_tokenizer(tokenizer)
    context_length = whole_number(context_length, "context_length", least=2)
    limit = tokenizer.model_max_length
    if limit and limit < 1e9 and context_length > limit:
        raise ValueError(f"context_length={context_length} is longer than this model's maximum of {limit} tokens; "
                         f"use at most {limit}.")
    if packing and tokenizer.eos_token is None:
        raise ValueError("packing needs an end-of-text token; this tokenizer has no eos_token.")
    return context_length


def check_chunk_request(dataset, tokenizer, context_length, strategy, strategies, text_column) -> int:
    """``chunk_dataset``'s door: a known strategy, one split whose text column holds text and no None, a context
    length the model reads; returns that length as a plain int."""
    from datasets import Dataset

    if strategy not in strategies:
        raise ValueError(f"Unknown chunking strategy {strategy!r}; use one of {', '.join(strategies)}.")
    if not isinstance(dataset, Dataset):
        raise ValueError(f"chunk_dataset takes one datasets.Dataset split (e.g. splits['train']), "
                         f"got {type(dataset).__name__}.")
    context_length = check_context_length(tokenizer, context_length)
    if text_column not in dataset.column_names:
        raise ValueError(f"The dataset has no {text_column!r} column; its columns are {dataset.column_names}.")
    kind = getattr(dataset.features[text_column], "dtype", None)
    if kind not in ("string", "large_string"):
        raise ValueError(f"The {text_column!r} column must hold text, but holds "
                         f"{kind or dataset.features[text_column]}.")
    missing = dataset.data.column(text_column).null_count
    if missing:
        raise ValueError(f"{missing:,} row(s) of the {text_column!r} column are None instead of text; drop them first "
                         f"(dataset.filter(lambda row: row[{text_column!r}] is not None)).")
    return context_length


def check_some_chunks(full: list, lengths: list[int], context_length: int) -> None:
    """One ValueError when chunking left no full chunk at all."""
    if not full:
        raise ValueError(f"No text gives a full chunk of {context_length} tokens ({sum(lengths):,} tokens in all); "
                         "add documents or use a shorter context_length.")








def check_corruption_batch(tokenizer, input_ids) -> None:
    """``utils.masking.corruption_verdict``'s door: a tokenizer with a mask token, and a batch of token ids shaped
    (batch, positions) holding at least one token that is not special."""
    check_tokenizer(tokenizer)
    if tokenizer.mask_token_id is None:
        raise ValueError("This tokenizer has no mask token: it belongs to a model that does not fill in blanks.")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.is_floating_point():
        raise ValueError("input_ids must be a tensor of token ids shaped (batch, positions), e.g. "
                         f"tokenizer(texts, padding=True, return_tensors='pt')['input_ids'], got {input_ids!r:.80}.")
    if torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids)).all():
        raise ValueError("The batch holds only special tokens ([CLS], [SEP], [PAD], ...): nothing to pick.")


def check_rotation(t, start, positions: int) -> int:
    """``AttentionHead.rotate``'s door: queries or keys as rows (n, d), one row (d,) or every head's rows
    (heads, n, d), and a first position that leaves room for every row among the ``positions`` the head was taken
    on."""
    if not isinstance(t, torch.Tensor) or t.dim() not in (1, 2, 3):
        shape = f"shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"rotate takes queries or keys as a tensor of shape (n, d), (d,) or (heads, n, d), "
                         f"got {shape}.")
    rows = 1 if t.dim() == 1 else t.shape[-2]
    if rows > positions:
        raise ValueError(f"rotate got {rows} rows, but this head was taken on {positions} positions.")
    return whole_number(start, "rotate's start (the position of the first row)", 0, positions - rows)


def check_architecture(model) -> str:
    """``utils.blocks``' door: "gpt2" or "llama" for a model whose layers it can take apart; one ValueError
    otherwise."""
    check_model(model)
    if hasattr(model, "transformer") and hasattr(model.transformer, "h"):
        return "gpt2"
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is not None and all(hasattr(layers[0], n) for n in ("self_attn", "mlp", "input_layernorm")) \
            and hasattr(layers[0].mlp, "gate_proj"):
        return "llama"
    raise ValueError(f"{type(model).__name__} is neither GPT-2 nor a Llama-style model: its layers cannot be taken "
                     "apart here.")


def check_rank_request(tokenizer, probabilities) -> torch.Tensor:
    """``rank_of``'s door: a tokenizer, and one mask's probabilities, one real value per vocabulary entry."""
    check_tokenizer(tokenizer)
    try:
        scores, got = check_logits(probabilities), None  # a tensor with values, no NaN and no +inf
    except ValueError:
        scores, got = None, "no real numbers (NaN, infinite, on the meta device, or not numbers at all)"
    if got is None and (scores.dim() != 1 or not len(tokenizer) <= scores.shape[0] <= len(tokenizer) + PADDING_SLACK):
        got = f"shape {tuple(scores.shape)}"
    if got:
        raise ValueError(f"probabilities must be one mask's {len(tokenizer):,} probabilities (one real number per "
                         f"vocabulary entry of this tokenizer), got {got}: pass one row of this model's output, e.g. "
                         "logits[position].softmax(-1).")
    return scores


def check_live_prompt(model, prompt_ids, sample_tokens: int) -> None:
    """``LiveLossPlot``'s door as training begins: the prompt's ids are the model's, and it fits with the sample."""
    check_token_ids(model, torch.as_tensor([prompt_ids]))
    check_fits(model, len(prompt_ids), sample_tokens)


def check_batch_size(batch_size) -> int | None:
    """A ``datasets.map`` batch size: a whole number (0 or None: the whole split as one batch)."""
    return None if batch_size is None else whole_number(batch_size, "batch_size", 0)


def check_subset_request(n_train, n_valid, seed, source) -> tuple[int, int, int]:
    """``load_wikipedia_subset``'s door: the counts and the seed as plain ints, and a usable ``source``."""
    from pathlib import Path

    n_train, n_valid, seed = (whole_number(n_train, "n_train"), whole_number(n_valid, "n_valid", 0),
                              whole_number(seed, "seed", 0))
    if not isinstance(source, (str, Path)) or not str(source).strip():
        raise ValueError(f"source must be 'auto', 'hub', 'sample' or the path of a dump file, got {source!r}.")
    return n_train, n_valid, seed


def check_enough_articles(wanted: int, n_train: int, n_valid: int, have: int, label: str) -> None:
    """One ValueError when a source holds fewer articles than asked for."""
    if wanted > have:
        raise ValueError(f"Asked for {n_train} + {n_valid} = {wanted} articles but {label} holds only "
                         f"{have}; ask for fewer.")


def check_texts(texts, tokenizer) -> list[str]:
    """``corpus_stats``' door: a list of str (a Dataset column will do), and a tokenizer or None."""
    from collections.abc import Iterable

    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise ValueError(f"corpus_stats takes a list of texts (or a Dataset column such as splits['train']['text']), "
                         f"got {type(texts).__name__}.")
    texts = list(texts)
    wrong = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if wrong is not None:
        raise ValueError(f"Text {wrong} is a {type(texts[wrong]).__name__}, not a str: give corpus_stats texts only.")
    if tokenizer is not None:
        check_tokenizer(tokenizer)
    return texts


ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")


def check_model_options(options: dict) -> None:
    """The loaders' ``**kwargs`` for ``from_pretrained``: an ``attn_implementation`` must be one transformers runs
    itself (a kernel named from the Hub would download code, which this project never runs)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    wanted = options.get("attn_implementation")
    known = {"eager", *ALL_ATTENTION_FUNCTIONS.valid_keys()}
    if wanted is not None and (not isinstance(wanted, str) or wanted not in known):
        offered = [name for name in ATTENTION_IMPLEMENTATIONS if name in known]
        raise ValueError(f"attn_implementation={wanted!r} is not one transformers runs here; use one of "
                         f"{', '.join(offered)}, or leave it out for the default.")
