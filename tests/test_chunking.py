"""Both chunking strategies give exact-length chunks and account for every token."""

import pytest
from datasets import Dataset

from utils.chunking import chunk_articles, chunk_dataset

L = 16
DOCS = ["The quick brown fox jumps over the lazy dog. " * 7,
        "Abraham Lincoln was the sixteenth president of the United States. " * 5,
        "Short one.",
        "Alkali metals react with water; sodium and potassium fizz. " * 9]


@pytest.fixture(scope="module")
def docs():
    return Dataset.from_dict({"text": DOCS})


def test_overflow_keeps_full_chunks_and_drops_each_remainder(docs, gpt2_tokenizer):
    ids = [gpt2_tokenizer(t)["input_ids"] for t in DOCS]
    chunks, report = chunk_dataset(docs, gpt2_tokenizer, L, "overflow")
    assert all(len(c) == L for c in chunks["input_ids"])
    assert report.chunks == len(chunks) == sum(len(i) // L for i in ids)
    assert report.tokens_dropped == sum(len(i) % L for i in ids)
    assert report.tokens_kept == report.chunks * L
    # the chunks are each document's ids, in order, minus its short tail
    expected = [tok for i in ids for tok in i[: len(i) // L * L]]
    assert [tok for c in chunks["input_ids"] for tok in c] == expected


def test_each_chunk_is_traced_to_the_article_it_was_cut_from_in_any_order(docs, gpt2_tokenizer):
    chunks, _ = chunk_dataset(docs, gpt2_tokenizer, L, "overflow")
    counts = [len(gpt2_tokenizer(t)["input_ids"]) // L for t in DOCS]  # full chunks per document: 5, 3, 0, 8 or so
    expected = [doc for doc, n in enumerate(counts) for _ in range(n)]
    shuffled = chunks.shuffle(seed=1)
    order = shuffled["input_ids"]
    assert chunk_articles(shuffled, docs, gpt2_tokenizer, L) == [
        expected[chunks["input_ids"].index(ids)] for ids in order]
    assert set(expected) == {0, 1, 3}  # the short document gave no full chunk
    stranger = Dataset.from_dict({"input_ids": [[0] * L]})
    assert chunk_articles(stranger, docs, gpt2_tokenizer, L) == [-1]


def test_packing_joins_with_eos_and_drops_only_the_tail(docs, gpt2_tokenizer):
    eos = gpt2_tokenizer.eos_token_id
    stream = [tok for t in DOCS for tok in gpt2_tokenizer(t)["input_ids"] + [eos]]
    chunks, report = chunk_dataset(docs, gpt2_tokenizer, L, "pack")
    assert all(len(c) == L for c in chunks["input_ids"])
    assert report.chunks == len(stream) // L
    assert report.tokens_dropped == len(stream) % L
    assert [tok for c in chunks["input_ids"] for tok in c] == stream[: report.chunks * L]


def test_packing_keeps_more_than_overflow(docs, gpt2_tokenizer):
    _, over = chunk_dataset(docs, gpt2_tokenizer, L, "overflow")
    _, pack = chunk_dataset(docs, gpt2_tokenizer, L, "pack")
    assert pack.tokens_kept > over.tokens_kept
    assert "chunks of 16" in str(pack) and "dropped" in str(pack)


def test_bad_input_is_a_clear_error(docs, gpt2_tokenizer, bert_tokenizer):
    with pytest.raises(ValueError, match="longer than this model's maximum of 1024"):
        chunk_dataset(docs, gpt2_tokenizer, 2048)
    with pytest.raises(ValueError, match="No text gives a full chunk of 512"):
        chunk_dataset(Dataset.from_dict({"text": ["tiny"]}), gpt2_tokenizer, 512)
    with pytest.raises(ValueError, match="Unknown chunking strategy"):
        chunk_dataset(docs, gpt2_tokenizer, L, "slice")
    with pytest.raises(ValueError, match="no eos_token"):
        chunk_dataset(docs, bert_tokenizer, L, "pack")


def test_the_cache_fingerprint_follows_every_input_without_pickling_the_tokenizer(docs, gpt2_tokenizer,
                                                                                  bert_tokenizer, tmp_path):
    """datasets keys its cache files by this fingerprint: the same chunking of the same data gets the same one, and
    any change of data, tokenizer, EOS token, length or strategy another (a stale cache would give the old chunks)."""
    import copy

    from utils.chunking import overflow_chunks, packed_chunks
    from utils.support.fingerprint import chunking_fingerprint as _fingerprint

    base = _fingerprint(docs, gpt2_tokenizer, overflow_chunks, L, "text", 1000)
    assert base == _fingerprint(Dataset.from_dict({"text": DOCS}), gpt2_tokenizer, overflow_chunks, L, "text", 1000)
    used = copy.deepcopy(gpt2_tokenizer)
    used("Some text.", truncation=True, max_length=8)  # a call leaves its truncation setting in the backend
    assert '"truncation":null' not in used.backend_tokenizer.to_str().replace(" ", "")
    assert _fingerprint(docs, used, overflow_chunks, L, "text", 1000) == base
    other_eos = copy.deepcopy(gpt2_tokenizer)
    other_eos.eos_token = "<|other|>"
    others = [_fingerprint(Dataset.from_dict({"text": DOCS[:3]}), gpt2_tokenizer, overflow_chunks, L, "text", 1000),
              _fingerprint(docs, bert_tokenizer, overflow_chunks, L, "text", 1000),
              _fingerprint(docs, other_eos, overflow_chunks, L, "text", 1000),
              _fingerprint(docs, gpt2_tokenizer, packed_chunks, L, "text", 1000),
              _fingerprint(docs, gpt2_tokenizer, overflow_chunks, L + 1, "text", 1000)]
    assert len({base, *others}) == 6
    # a dataset read from files: the same chunking is read back from datasets' cache file, another one is computed
    docs.save_to_disk(tmp_path / "docs")
    on_disk = Dataset.load_from_disk(tmp_path / "docs")
    first, _ = chunk_dataset(on_disk, gpt2_tokenizer, L)
    again, _ = chunk_dataset(on_disk, gpt2_tokenizer, L)
    assert first.cache_files and again.cache_files == first.cache_files
    assert again["input_ids"] == first["input_ids"]
    other, _ = chunk_dataset(on_disk, bert_tokenizer, L)
    assert other.cache_files != first.cache_files and other["input_ids"] != first["input_ids"]
