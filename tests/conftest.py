"""Hermetic test runs, and shared fixtures: the offline tokenizers, and a local stand-in for the Hub.

Before anything imports huggingface_hub, the run is made independent of the caller's environment: an
empty Hugging Face home of its own, offline, the smoke profile, live views drawn once (no widgets), no other
tutorial setting. nbval's kernels
inherit this environment. Only the asset cache ($LLM_TUTORIAL_CACHE) is kept, so assets are built once.
"""

import os
import signal
import tempfile
from pathlib import Path

for _var in [v for v in os.environ if v.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TUTORIAL_"))
             or (v.startswith("LLM_TUTORIAL_") and v != "LLM_TUTORIAL_CACHE")]:
    del os.environ[_var]
os.environ.update(HF_HOME=tempfile.mkdtemp(prefix="llm-tutorial-test-hf-"), HF_HUB_OFFLINE="1",
                  LLM_TUTORIAL_PROFILE="smoke", LLM_TUTORIAL_WIDGETS="off",
                  # notebook 3's checkpoints and model: a folder per process, so two workers running the notebook at
                  # once (nbval, the exercises) never write into one folder, and nothing lands in the repo's build/
                  LLM_TUTORIAL_OUTPUT=tempfile.mkdtemp(prefix="llm-tutorial-test-output-"))
# make test runs two pytest-xdist workers. Each, and every kernel and script it starts, computes on one thread:
# two workers with two OpenMP threads each spin against each other on a 2-core machine (one notebook ran 5x slower).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
# Ctrl-C reaches the scripts the tests start as in a terminal, whatever this run inherited: a shell without job control
# starts a background job (`make test &`, some CI runners) with SIGINT ignored, which every child inherits, and a
# Python child then never raises KeyboardInterrupt. A handled signal is reset to its default in a child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest  # noqa: E402

from utils.offline import assets  # noqa: E402

# --------------------------------------------------------------------------------------------
# make test's two workers (pytest-xdist, -n 2 --dist loadscope): which tests run together, and in what order
# --------------------------------------------------------------------------------------------

# A worker runs a whole group, so a module fixture (an executed notebook, a JupyterLab server, a finished training run)
# is made once. A group is a file, unless a slow part of it can run beside the rest: test-id prefix -> group. Tests
# that share a module fixture stay in one group.
SPLIT = {
    "tests/test_pretrain.py::test_a_killed_run": "pretrain: killed and resumed",
    "tests/test_pretrain.py::test_a_second_run": "pretrain: processes",
    "tests/test_pretrain.py::test_ctrl_c": "pretrain: processes",
    "tests/test_pretrain.py::test_two_processes_with_torchrun": "pretrain: processes",
    "tests/test_pretrain.py::test_two_nodes": "pretrain: two nodes",  # the two_node_run fixture
    "tests/test_pretrain.py::test_a_lost_node": "pretrain: two nodes",
    "tests/test_slides.py::test_rise_presents": "slides: live in JupyterLab",  # the lab fixture
}
# a notebook executed by one test (test_online): one group per notebook
PER_NOTEBOOK = ("tests/test_online.py",)
NOTEBOOK_STEMS = tuple(p.stem for p in sorted(Path(__file__).resolve().parents[1].glob("notebooks/[0-9]*.ipynb")))
# The slowest groups, slowest first (measured in make test; benchmarks/README.md). A free worker takes the next group,
# so neither is left with a long one at the end.
SLOWEST_FIRST = [
    "pretrain: two nodes", "pretrain: processes", "slides: live in JupyterLab", "tests/test_wikipedia_beam.py",
    "tests/test_exercises_02_causal_lm.py", "tests/test_online.py", "pretrain: killed and resumed",
    "tests/test_exercises_03_pretraining_gpt2.py", "tests/test_slides.py", "docs/recorded/02_causal_lm.ipynb",
    "tests/test_training_view.py", "tests/test_pretrain.py", "tests/test_notebook_setup.py",
    "tests/test_online.py 03_pretraining_gpt2", "docs/recorded/03_pretraining_gpt2.ipynb",
    "tests/test_online.py 02_causal_lm", "tests/test_device.py", "tests/test_exercises_01_masked_lm.py",
    "tests/test_online.py 01_masked_lm", "docs/recorded/01_masked_lm.ipynb", "tests/test_hub.py",
]


def work_group(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    if path in PER_NOTEBOOK:
        return next((f"{path} {stem}" for stem in NOTEBOOK_STEMS if f"[{stem}" in nodeid), path)
    return next((group for prefix, group in SPLIT.items() if nodeid.startswith(prefix)), path)


def pytest_collection_modifyitems(config, items):
    rank = {group: i for i, group in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_group(item.nodeid), len(rank)))  # stable: order within a group stays


def pytest_xdist_make_scheduler(config, log):
    """--dist loadscope with the groups above as its scopes, handed out in collection order."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_group(nodeid)

    config.option.loadscopereorder = False  # not by test count: slowest first
    return Groups(config, log)


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


def _greedy_loops(model):
    """A student's two greedy loops on ``model``, as notebook 2's exercises 1a and 2 ask for them: (re-feeding, with
    the KV cache), each ``loop(prompt_ids, n)`` returning the prompt's ids and the n new ones as a list."""
    import torch

    def refeed(prompt_ids, n):
        ids = prompt_ids
        with torch.no_grad():
            for _ in range(n):
                ids = torch.cat([ids, model(ids).logits[0, -1].argmax().view(1, 1)], dim=1)
        return ids[0].tolist()

    def cached(prompt_ids, n):
        ids, past, feed = prompt_ids[0].tolist(), None, prompt_ids
        with torch.no_grad():
            for _ in range(n):
                out = model(input_ids=feed, past_key_values=past, use_cache=True)
                ids.append(int(out.logits[0, -1].argmax()))
                past, feed = out.past_key_values, torch.tensor([ids[-1:]])
        return ids
    return refeed, cached


@pytest.fixture(scope="session")
def greedy_loops():
    """``greedy_loops(model)``: (a re-feeding greedy loop, a cached one) on that model, as a student writes them."""
    return _greedy_loops
