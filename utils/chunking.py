"""Cut tokenized text into fixed-length training chunks, two ways, and count what each keeps.

(a) ``overflow`` - the original tutorial's way: every document is cut into ``context_length``
    chunks by the tokenizer's own overflow support; each document's short last piece is dropped.
(b) ``pack`` - documents are joined with EOS and the stream is cut into full blocks, so only the
    tail of each ``map`` batch is dropped.

Both are ``datasets.map(batched=True)`` functions; :func:`chunk_dataset` applies one and reports
tokens kept and dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from datasets import Dataset, DatasetDict
from transformers import PreTrainedTokenizerBase

from utils.support.fingerprint import chunking_fingerprint
from utils.support.validation import check_batch_size, check_chunk_request, check_context_length, check_some_chunks

STRATEGIES = ("overflow", "pack")


def overflow_chunks(tokenizer: PreTrainedTokenizerBase, context_length: int,
                    text_column: str = "text") -> Callable[[dict], dict]:
    """map(batched=True) function: each document cut into full ``context_length`` chunks, remainder dropped.

    Returns every piece (``input_ids``), its ``length`` and its source document (``doc``, the
    tokenizer's ``overflow_to_sample_mapping``); :func:`chunk_dataset` keeps the full ones.
    """
    context_length = check_context_length(tokenizer, context_length)

    def chunk(batch: dict) -> dict:
        enc = tokenizer(batch[text_column], truncation=True, max_length=context_length,
                        return_overflowing_tokens=True, return_length=True)
        return {"input_ids": enc["input_ids"], "length": enc["length"],
                "doc": enc["overflow_to_sample_mapping"]}

    return chunk


def packed_chunks(tokenizer: PreTrainedTokenizerBase, context_length: int,
                  text_column: str = "text") -> Callable[[dict], dict]:
    """map(batched=True) function: a batch's documents joined with EOS, cut into full blocks.

    The tokenizer's overflow support does the cutting: the joined text is tokenized once with
    ``max_length=context_length`` and the last (short) block is marked by its ``length``.
    """
    context_length = check_context_length(tokenizer, context_length, packing=True)

    def chunk(batch: dict) -> dict:
        joined = tokenizer.eos_token.join(batch[text_column]) + tokenizer.eos_token
        enc = tokenizer(joined, truncation=True, max_length=context_length, add_special_tokens=False,
                        return_overflowing_tokens=True, return_length=True)
        return {"input_ids": enc["input_ids"], "length": enc["length"], "doc": [-1] * len(enc["input_ids"])}

    return chunk


@dataclass(frozen=True)
class ChunkReport:
    """Tokens the chunking kept (in full chunks) and dropped (short remainders)."""

    strategy: str
    context_length: int
    chunks: int
    tokens_kept: int
    tokens_dropped: int

    @property
    def kept_fraction(self) -> float:
        total = self.tokens_kept + self.tokens_dropped
        return self.tokens_kept / total if total else 0.0

    def __str__(self) -> str:
        return (f"{self.strategy:<8} {self.chunks:>6,} chunks of {self.context_length}: "
                f"{self.tokens_kept:>9,} tokens kept, {self.tokens_dropped:>7,} dropped "
                f"({math.floor(self.kept_fraction * 10_000) / 100:.2f}% kept)")  # floored: 100% only if none dropped


def chunk_articles(chunks: Dataset, articles: Dataset, tokenizer: PreTrainedTokenizerBase, context_length: int,
                   text_column: str = "text") -> list[int]:
    """The row of ``articles`` each of ``chunks`` was cut from (-1 where none), for overflow chunks: every article
    cut again as :func:`overflow_chunks` cuts it, and each chunk looked up by its tokens. Chunks of one article are
    alike, so an error bar over chunks needs to know which come from the same article."""
    pieces = overflow_chunks(tokenizer, context_length, text_column)(articles[:])
    source = {tuple(ids): doc for ids, doc in zip(pieces["input_ids"], pieces["doc"])}
    return [source.get(tuple(ids), -1) for ids in chunks["input_ids"]]


def chunk_dataset(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, context_length: int,
                  strategy: str = "overflow", text_column: str = "text",
                  batch_size: int = 1000) -> tuple[Dataset, ChunkReport]:
    """Chunk one split; returns a dataset of full ``input_ids`` chunks and a :class:`ChunkReport`."""
    context_length = check_chunk_request(dataset, tokenizer, context_length, strategy, STRATEGIES, text_column)
    batch_size = check_batch_size(batch_size)
    make = overflow_chunks if strategy == "overflow" else packed_chunks
    pieces = dataset.map(make(tokenizer, context_length, text_column), batched=True, batch_size=batch_size,
                         remove_columns=dataset.column_names, desc=f"{strategy} chunking",
                         new_fingerprint=chunking_fingerprint(dataset, tokenizer, make, context_length, text_column,
                                                      batch_size))
    lengths = pieces["length"]
    full = [i for i, n in enumerate(lengths) if n == context_length]
    kept = len(full) * context_length
    report = ChunkReport(strategy, context_length, len(full), kept, sum(lengths) - kept)
    check_some_chunks(full, lengths, context_length)
    chunks = pieces.select(full).remove_columns(["length", "doc"])
    return chunks, report


def chunk_splits(splits: DatasetDict, tokenizer: PreTrainedTokenizerBase, context_length: int,
                 strategy: str = "overflow") -> tuple[DatasetDict, dict[str, ChunkReport]]:
    """:func:`chunk_dataset` applied to every split of a DatasetDict."""
    out, reports = {}, {}
    for split, ds in splits.items():
        out[split], reports[split] = chunk_dataset(ds, tokenizer, context_length, strategy)
    return DatasetDict(out), reports
