"""The key ``datasets`` caches a chunking under, computed from what decides the result instead of by pickling the
chunking function (tokenizer and all), which costs seconds per split."""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Callable

import tokenizers
import transformers
from datasets import Dataset
from transformers import PreTrainedTokenizerBase


def chunking_fingerprint(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, make: Callable, *settings) -> str | None:
    """The fingerprint ``datasets`` keys this chunking's cache by, made from what decides the result: the input's
    fingerprint, the tokenizer's full definition (and its EOS and truncation side, library versions), the chunking
    code and its settings. Left to itself, ``datasets`` pickles the function, tokenizer and all, to hash it: 1.4 s
    per split for GPT-2's tokenizer, half of a smoke pretraining run. None (``datasets``' own hashing) for a
    tokenizer without a fast backend."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    definition = json.loads(backend.to_str())
    for leftover in ("truncation", "padding"):  # left by the last call, not the tokenizer's own (datasets drops them)
        definition.pop(leftover, None)
    digest = hashlib.sha256()
    for part in (dataset._fingerprint, type(tokenizer).__name__, json.dumps(definition, sort_keys=True),
                 tokenizer.eos_token, tokenizer.truncation_side, transformers.__version__, tokenizers.__version__,
                 marshal.dumps(make.__code__), repr(settings)):
        digest.update(part if isinstance(part, bytes) else str(part).encode())
    return digest.hexdigest()[:32]
