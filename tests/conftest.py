"""Hermetic test runs, and shared fixtures: the offline tokenizers, and a local stand-in for the Hub.

Before anything imports huggingface_hub, the run is made independent of the caller's environment: an
empty Hugging Face home of its own, offline, the smoke profile, live views drawn once (no widgets), no other
tutorial setting. nbval's kernels
inherit this environment. Only the asset cache ($LLM_TUTORIAL_CACHE) is kept, so assets are built once.
"""

import os
import tempfile

for _var in [v for v in os.environ if v.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TUTORIAL_"))
             or (v.startswith("LLM_TUTORIAL_") and v != "LLM_TUTORIAL_CACHE")]:
    del os.environ[_var]
os.environ.update(HF_HOME=tempfile.mkdtemp(prefix="llm-tutorial-test-hf-"), HF_HUB_OFFLINE="1",
                  LLM_TUTORIAL_PROFILE="smoke", LLM_TUTORIAL_WIDGETS="off")

import pytest  # noqa: E402

from utils import assets  # noqa: E402


@pytest.fixture(scope="session")
def gpt2_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(assets.asset_dir("gpt2-tokenizer"))


@pytest.fixture(scope="session")
def bert_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(assets.asset_dir("bert-tokenizer"))


# --------------------------------------------------------------------------------------------
# A local stand-in for the Hub (tests/hub_server.py) serving tiny models under the real names
# --------------------------------------------------------------------------------------------

WIKI_README = """---
configs:
- config_name: 20231101.en
  data_files:
  - split: train
    path: 20231101.en/train-*
---
# A local copy of the wikimedia/wikipedia layout, for tests
"""


def _folder_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def served_repos(tmp) -> dict:
    """Tiny random-weight gpt2 / bert-base-uncased (12 layers, real tokenizers) and a wikimedia/wikipedia."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    from utils.wikipedia import sample_articles

    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=12, n_embd=32, n_head=2))  # GPT2Config's defaults are gpt2's
    gpt2.save_pretrained(tmp / "gpt2")
    AutoTokenizer.from_pretrained(assets.asset_dir("gpt2-tokenizer")).save_pretrained(tmp / "gpt2")
    bert = BertForMaskedLM(BertConfig(hidden_size=32, num_attention_heads=2, intermediate_size=64))
    bert.save_pretrained(tmp / "bert")
    AutoTokenizer.from_pretrained(assets.asset_dir("bert-tokenizer")).save_pretrained(tmp / "bert")
    # files the real repos also hold, which a safetensors-only loader must never download
    never = {"pytorch_model.bin": b"not to be downloaded", "onnx/model.onnx": b"not to be downloaded"}

    articles = sample_articles().to_list()
    wiki = {"README.md": WIKI_README.encode()}
    for shard, part in enumerate((articles[:60], articles[60:])):
        table = pa.Table.from_pylist([{"id": f"hub-{a['id']}", "url": a["url"], "title": a["title"],
                                       "text": a["text"]} for a in part])
        path = tmp / f"wiki-{shard}.parquet"
        pq.write_table(table, path)
        wiki[f"20231101.en/train-{shard:05d}-of-00002.parquet"] = path.read_bytes()
    return {"model": {"gpt2": _folder_files(tmp / "gpt2") | never,
                      "bert-base-uncased": _folder_files(tmp / "bert") | never},
            "dataset": {"wikimedia/wikipedia": wiki}}


@pytest.fixture(scope="session")
def hub_repos(tmp_path_factory):
    return served_repos(tmp_path_factory.mktemp("served"))
