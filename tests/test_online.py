"""The online code paths, against a local server that speaks the Hub's protocol (tests/hub_server.py).

Each scenario runs in a fresh Python process, as a student's kernel would: the real huggingface_hub,
transformers and datasets clients, pointed at the server with HF_ENDPOINT, starting from an empty HF_HOME.
The proxy variables also point at the server, which refuses and records any request for another host.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub_server import HubServer

ROOT = Path(__file__).resolve().parents[1]
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
NEVER = ("pytorch_model.bin", "onnx/model.onnx")  # served, but a safetensors-only loader must not fetch them


def online_env(server: HubServer, home: Path) -> dict[str, str]:
    """The environment of a student online: the Hub is ``server``, the Hugging Face cache is empty."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_")) and k.lower() not in PROXY_VARS}
    for var in PROXY_VARS[:3]:
        env[var] = env[var.upper()] = server.url
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(HF_ENDPOINT=server.url, HF_HOME=str(home), PYTHONPATH=str(ROOT),
               HF_HUB_DISABLE_TELEMETRY="1", HF_UPDATE_DOWNLOAD_COUNTS="0")  # datasets pings S3 otherwise
    return env


def run_python(code: str, env: dict[str, str]) -> str:
    """Run ``code`` in a fresh interpreter; its stdout (the test fails with stderr if it fails)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture
def served(hub_repos):
    with HubServer(hub_repos) as server:
        yield server
        assert server.foreign == [], f"requests left 127.0.0.1: {server.foreign}"
        fetched = [r for r in server.requests if r.startswith("GET") and r.endswith(NEVER)]
        assert fetched == [], "downloaded files that are not safetensors weights or tokenizer files"


def test_model_first_then_tokenizer(served, tmp_path):
    out = run_python("""
        from utils.models import load_causal_lm, load_masked_lm, load_tokenizer
        gpt2 = load_causal_lm("gpt2")
        print(type(gpt2.model).__name__, gpt2.stand_in, len(gpt2.tokenizer), gpt2.tokenizer("Hello world")["input_ids"])
        tok = load_tokenizer("gpt2")
        print(len(tok), tok("Swimming at the beach is")["input_ids"])
        bert = load_masked_lm("bert-base-uncased")
        print(type(bert.model).__name__, bert.model.config.num_hidden_layers,
              bert.tokenizer("Life is like a [MASK] of chocolates.")["input_ids"])
    """, online_env(served, tmp_path))
    assert out.splitlines() == [
        "Model: gpt2 (downloaded from the Hub)",
        "GPT2LMHeadModel False 50257 [15496, 995]",
        "Tokenizer: gpt2 (from the local Hub cache)",
        "50257 [10462, 27428, 379, 262, 10481, 318]",
        "Model: bert-base-uncased (downloaded from the Hub)",
        "BertForMaskedLM 12 [101, 2166, 2003, 2066, 1037, 103, 1997, 7967, 2015, 1012, 102]",
    ]
    assert any(r.startswith("GET /gpt2/resolve/") and r.endswith("/model.safetensors") for r in served.requests)


def test_tokenizer_first_then_model(served, tmp_path):
    env = online_env(served, tmp_path)
    out = run_python("""
        from utils.models import load_causal_lm, load_tokenizer
        tok = load_tokenizer("gpt2")
        print(len(tok), tok("Hello world")["input_ids"])
        gpt2 = load_causal_lm("gpt2")
        print(type(gpt2.model).__name__, len(gpt2.tokenizer), gpt2.tokenizer("Hello world")["input_ids"])
    """, env)
    assert out.splitlines() == [
        "Tokenizer: gpt2 (downloaded from the Hub)",
        "50257 [15496, 995]",
        "Model: gpt2 (downloaded from the Hub)",  # the cached tokenizer files are not a model: fetch the rest
        "GPT2LMHeadModel 50257 [15496, 995]",
    ]
    # a second process finds everything in the cache and asks the Hub nothing
    served.requests.clear()
    again = run_python("""
        from utils.models import load_causal_lm
        print(len(load_causal_lm("gpt2").tokenizer))
    """, env)
    assert again.splitlines() == ["Model: gpt2 (from the local Hub cache)", "50257"]
    assert served.requests == []


def test_only_a_config_in_the_cache_is_not_a_tokenizer(served, tmp_path):
    """A cache holding gpt2's config.json alone used to give a 1-entry tokenizer that encodes nothing."""
    env = online_env(served, tmp_path)
    run_python("""
        from huggingface_hub import hf_hub_download
        hf_hub_download("gpt2", "config.json")
    """, env)
    out = run_python("""
        from utils.models import load_tokenizer
        tok = load_tokenizer("gpt2")
        print(len(tok), tok("Hello world")["input_ids"])
    """, env)
    assert out.splitlines() == ["Tokenizer: gpt2 (downloaded from the Hub)", "50257 [15496, 995]"]


def test_wikipedia_from_the_hub(served, tmp_path):
    out = run_python("""
        from utils.wikipedia import load_wikipedia_subset
        subset = load_wikipedia_subset(3, 2, seed=42, source="hub")
        print(len(subset["train"]), len(subset["valid"]), all(i.startswith("hub-") for i in subset["train"]["id"]))
        print(sorted(subset["train"].column_names))
    """, online_env(served, tmp_path))
    lines = out.splitlines()
    assert lines[0].startswith("Wikipedia: 3 train + 2 valid articles from the Hub's wikimedia/wikipedia "
                               "(20231101.en, first 5 articles)")
    assert lines[1:] == ["3 2 True", "['id', 'text', 'title', 'url']"]
    assert any("/parquet" in r or r.endswith(".parquet") for r in served.requests)


def test_a_real_hub_error_is_reported_as_what_it_is(hub_repos, tmp_path):
    repos = {"model": {}, "dataset": {"wikimedia/wikipedia": {"README.md": b"# no configs here\n"}}}
    with HubServer(repos) as server:
        env = online_env(server, tmp_path)
        proc = subprocess.run([sys.executable, "-c", "from utils.wikipedia import load_wikipedia_subset\n"
                               "load_wikipedia_subset(3, 2, source='hub')"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("utils.wikipedia.WikipediaError: The Hub's wikimedia/wikipedia (20231101.en) answered "
                           "but could not be read"), last
    assert "not reachable" not in proc.stderr
