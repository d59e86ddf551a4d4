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

from utils.tools import slides
from utils.tools.record import for_recording

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
        "Downloading gpt2 from the Hub (the first time only: a model takes minutes)...",  # no silent wait
        "Model: gpt2 (downloaded from the Hub)",
        "GPT2LMHeadModel False 50257 [15496, 995]",
        "Tokenizer: gpt2 (from the local Hub cache)",
        "50257 [10462, 27428, 379, 262, 10481, 318]",
        "Downloading bert-base-uncased from the Hub (the first time only: a model takes minutes)...",
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
        "Downloading gpt2 from the Hub (the first time only: a model takes minutes)...",
        "Tokenizer: gpt2 (downloaded from the Hub)",
        "50257 [15496, 995]",
        "Downloading gpt2 from the Hub (the first time only: a model takes minutes)...",
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
    """A cache holding gpt2's config.json alone is no tokenizer (it would load as a 1-entry one that encodes
    nothing): the tokenizer files are downloaded."""
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
    assert out.splitlines()[1:] == ["Tokenizer: gpt2 (downloaded from the Hub)", "50257 [15496, 995]"]
    assert out.splitlines()[0].startswith("Downloading gpt2 from the Hub")


def test_make_setup_caches_the_real_models_so_a_class_taught_offline_runs_them(served, tmp_path):
    """`make setup` with the Hub in reach (utils.tools.prepare --cache-hub-models) copies bert-base-uncased and gpt2
    into the local Hub cache, each file checked against the Hub's hash; with HF_HUB_OFFLINE=1 the notebooks' loaders
    then run them, asking the Hub nothing."""
    env = online_env(served, tmp_path)
    first = run_python("from utils.tools import prepare; raise SystemExit(prepare.main(['--cache-hub-models']))", env)
    cache = tmp_path / "hub"
    assert [line.split(": ", 1)[0] for line in first.splitlines()] == ["bert-base-uncased", "gpt2"], first
    for line, name in zip(first.splitlines(), ("bert-base-uncased", "gpt2")):
        assert line.startswith(f"{name}: cached in {cache / f'models--{name}' / 'snapshots'}/"), line
        assert line.endswith(": offline too, the notebooks run it"), line
    assert any(r.startswith("GET /bert-base-uncased/resolve/") and r.endswith("/model.safetensors")
               for r in served.requests)
    asked = len(served.requests)
    offline = run_python("""
        from utils.models import load_causal_lm, load_masked_lm
        print(load_causal_lm("gpt2").stand_in, load_masked_lm("bert-base-uncased").stand_in)
    """, env | {"HF_HUB_OFFLINE": "1"})
    assert offline.splitlines() == ["Model: gpt2 (from the local Hub cache)",
                                    "Model: bert-base-uncased (from the local Hub cache)", "False False"]
    again = run_python("from utils.tools import prepare; prepare.main(['--cache-hub-models'])", env)
    assert [line.split(" (")[0] for line in again.splitlines()] == [
        "bert-base-uncased: already in the local Hub cache", "gpt2: already in the local Hub cache"]
    assert len(served.requests) == asked  # neither the offline class nor the second setup asked the Hub


def test_make_setup_offline_caches_nothing_and_says_the_stand_ins_will_run(served, tmp_path):
    out = run_python("from utils.tools import prepare; raise SystemExit(prepare.main(['--cache-hub-models']))",
                     online_env(served, tmp_path) | {"HF_HUB_OFFLINE": "1"})
    assert out.splitlines() == [f"{name}: not cached (HF_HUB_OFFLINE=1): offline, the notebooks run its stand-in"
                                for name in ("bert-base-uncased", "gpt2")]
    assert served.requests == [] and not (tmp_path / "hub").exists()


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
    """A dump of another date only: the config we ask for does not exist."""
    served = hub_repos["dataset"]["wikimedia/wikipedia"]
    shard = next(data for name, data in served.items() if name.endswith(".parquet"))
    readme = served["README.md"].decode().replace("20231101.en", "20220301.en").encode()
    repos = {"model": {}, "dataset": {"wikimedia/wikipedia": {"README.md": readme,
                                                              "20220301.en/train-00000-of-00001.parquet": shard}}}
    with HubServer(repos) as server:
        env = online_env(server, tmp_path)
        proc = subprocess.run([sys.executable, "-c", "from utils.wikipedia import load_wikipedia_subset\n"
                               "load_wikipedia_subset(3, 2, source='hub')"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("utils.data.mediawiki.WikipediaError: The Hub's wikimedia/wikipedia (20231101.en) answered "
                           "but could not be read"), last
    assert "20231101.en" in last.split("could not be read")[1], last  # the library's own reason, kept
    assert "not reachable" not in proc.stderr


# ---- every notebook, online, against the served repos ------------------------------------------------------

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
OFFLINE_ONLY = "checked-offline-only"  # the tag of a checked cell whose output depends on the model or articles
SERVED_FACTS = {  # what only the real architectures and tokenizers print (the original tutorial's figures)
    "01_masked_lm.ipynb": ["Model: bert-base-uncased (downloaded from the Hub)",
                           "[101, 2166, 2003, 2066, 1037, 103, 1997, 7967, 2015, 1012, 102]"],
    "02_causal_lm.ipynb": ["Model: gpt2 (downloaded from the Hub)", "[[10462, 27428, 379, 262, 10481, 318]]",
                           "(1, 6, 50257) = (batch, positions, vocabulary)"],
    "03_pretraining_gpt2.ipynb": ["Tokenizer: gpt2 (downloaded from the Hub)",
                                  "from the Hub's wikimedia/wikipedia (20231101.en"],
}


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text") or out.get("data", {}).get("text/plain", "")
        parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_against_the_served_hub(served, tmp_path, path):
    import nbformat
    from nbclient import NotebookClient

    env = online_env(served, tmp_path / "hf")
    env.update(LLM_TUTORIAL_PROFILE="smoke", LLM_TUTORIAL_OUTPUT=str(tmp_path / "out"))
    recorded = nbformat.read(ROOT / "docs" / "recorded" / path.name, as_version=4)  # offline, classroom profile
    executed = for_recording(path)  # as make record runs it: the reference predictions and the notes written in
    NotebookClient(executed, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    everything = "\n".join(_text(c) for c in executed.cells if c.cell_type == "code")
    for fact in SERVED_FACTS[path.name]:
        assert fact in everything, fact
    assert "offline stand-in for" not in everything
    # the deck of an online recording names the Hub's model, not a stand-in
    assert slides.recorded_with(executed).startswith("*Recorded with ")
    assert SERVED_FACTS[path.name][0].split(": ", 1)[1] in slides.recorded_with(executed)
    for before, after in zip(recorded.cells, executed.cells):
        source = _source(before)
        tags = before.metadata.get("tags", [])
        if before.cell_type == "code" and "nbval-check-output" in tags and OFFLINE_ONLY not in tags:
            assert _text(after) == _text(before), source
