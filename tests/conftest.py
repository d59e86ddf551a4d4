"""Shared fixtures: the offline tokenizers, built once into the asset cache."""

import pytest

from utils import assets


@pytest.fixture(scope="session")
def gpt2_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(assets.asset_dir("gpt2-tokenizer"))


@pytest.fixture(scope="session")
def bert_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(assets.asset_dir("bert-tokenizer"))
