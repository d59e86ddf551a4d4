"""A model folder that could run code (its own Python files, pickle weights) is refused before anything is loaded."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import GPT2Config, GPT2LMHeadModel

from utils.models import load_causal_lm, load_masked_lm
from utils.offline import assets, hub

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def tiny_folder(tmp_path):
    """A loadable folder: a tiny random GPT-2 with the offline GPT-2 tokenizer."""
    folder = tmp_path / "model"
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=32)
    GPT2LMHeadModel(config).save_pretrained(folder)
    for source in assets.asset_dir("gpt2-tokenizer").iterdir():
        if source.is_file() and source.name != "manifest.json":
            (folder / source.name).write_bytes(source.read_bytes())
    return folder


def test_a_clean_folder_still_loads(tiny_folder, capsys):
    assert hub.unsafe_in(tiny_folder) is None
    assert type(load_causal_lm(str(tiny_folder)).model).__name__ == "GPT2LMHeadModel"


def test_a_folder_with_its_own_code_is_refused_and_the_code_never_runs(tiny_folder, tmp_path):
    """config.json's auto_map names classes in the folder's Python files; transformers would ask to run them
    (answering y runs them). Even with 'y' typed on stdin, nothing runs and one line says why."""
    marker = tmp_path / "PWNED"
    evil = f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import GPT2Config, GPT2LMHeadModel\n"
    (tiny_folder / "configuration_evil.py").write_text(evil + "class EvilConfig(GPT2Config):\n    pass\n")
    (tiny_folder / "modeling_evil.py").write_text(evil + "class EvilModel(GPT2LMHeadModel):\n    pass\n")
    config = json.loads((tiny_folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig",
                          "AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (tiny_folder / "config.json").write_text(json.dumps(config))
    run = subprocess.run([sys.executable, "-c", f"from utils.models import load_causal_lm; "
                          f"load_causal_lm({str(tiny_folder)!r})"], input="y\ny\ny\n", capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert run.returncode != 0
    assert not marker.exists()
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("utils.offline.hub.HubError: The folder ")
    assert "auto_map" in last and "trust_remote_code=False" in last
    with pytest.raises(hub.HubError, match="auto_map"):
        load_causal_lm(str(tiny_folder))
    assert not marker.exists()


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


@pytest.mark.parametrize("shard", ["pytorch_model-00001-of-00001.bin", "../elsewhere.safetensors"])
def test_a_weights_index_naming_anything_but_safetensors_in_the_folder_is_refused(tiny_folder, tmp_path, shard):
    """model.safetensors.index.json naming a pickle shard (or a file outside the folder): the shard is never
    torch.load-ed."""
    marker = tmp_path / "PWNED"
    (tiny_folder / "model.safetensors").unlink()
    (tiny_folder / shard).parent.mkdir(parents=True, exist_ok=True)
    (tiny_folder / shard).write_bytes(pickle.dumps({"transformer.wte.weight": _Evil(marker)}))
    (tiny_folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"transformer.wte.weight": shard}}))
    for load in (load_causal_lm, load_masked_lm):
        with pytest.raises(hub.HubError, match="not .safetensors files in the folder"):
            load(str(tiny_folder))
    assert not marker.exists()


def test_a_broken_weights_index_is_one_clear_error(tiny_folder):
    (tiny_folder / "model.safetensors.index.json").write_text('{"weight_map": ["not", "a", "map"]}')
    with pytest.raises(hub.HubError, match="not a valid weights index"):
        load_causal_lm(str(tiny_folder))


# ---- damaged files are refused before any library reads them --------------------------------------------------------

def header_claiming(folder: Path, length: int) -> None:
    (folder / "model.safetensors").write_bytes(length.to_bytes(8, "little") + b"{}")


def tensor_past_the_end(folder: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}}).encode()
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 64)


def sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)  # no disk used


@pytest.mark.parametrize("damage,said", [
    (lambda f: (f / "config.json").write_text("[" * 100_000 + "]" * 100_000),
     "its config.json is nested too deeply"),
    (lambda f: (f / "tokenizer.json").write_text('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}"),
     "its tokenizer.json is nested too deeply"),
    (lambda f: (f / "tokenizer_config.json").write_text('{"model_max_length": '),
     "its tokenizer_config.json is not valid JSON"),
    (lambda f: sparse(f / "tokenizer.json", 1 << 30), "its tokenizer.json is 1,024 MB, far larger than any real one"),
    (lambda f: sparse(f / "merges.txt", 1 << 30), "its merges.txt is 1,024 MB"),
    (lambda f: header_claiming(f, 1 << 40), "its model.safetensors is damaged: its header claims 1,099,511,627,776"),
    (lambda f: tensor_past_the_end(f), "tensor 'w' (1000000x1000000) does not lie within the file"),
], ids=["config nested", "tokenizer nested", "tokenizer config not JSON", "tokenizer of 1 GB", "merges of 1 GB",
        "safetensors header too large", "tensor past the end"])
def test_a_damaged_model_folder_is_one_clear_error_before_loading(tiny_folder, damage, said):
    damage(tiny_folder)
    with pytest.raises(hub.HubError) as raised:
        load_causal_lm(str(tiny_folder))
    message = str(raised.value)
    assert message.startswith(f"The folder {tiny_folder} is not loaded: ") and said in message, message
    assert "\n" not in message and message.endswith("Download or save it again (save_pretrained() writes a "
                                                    "complete folder).")


# ---- why the Hub cannot be asked, in words --------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint,said", [
    ("http://127.0.0.1:9", "the Hub at http://127.0.0.1:9 refused the connection"),
    ("not a url", "$HF_ENDPOINT='not a url' is not an http(s) URL (fix it, or unset it to use the Hub)"),
])
def test_an_unreachable_hub_says_why(monkeypatch, endpoint, said):
    import time

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    started = time.monotonic()
    assert hub.unreachable_reason("gpt2") == said
    assert time.monotonic() - started < hub.HUB_TIMEOUT_S  # at once: no timeout was waited for


def hub_cache(root: Path, name: str, folder: Path, git_hashed: tuple[str, ...] = ("config.json",)) -> Path:
    """``folder``'s files laid out as the Hub cache keeps a download of ``name``: each file a link to its blob, the
    blob named by the hash the Hub gives it (an LFS file's sha256; the git blob sha1 of the small files
    ``git_hashed``)."""
    import hashlib

    repo = root / f"models--{name}"
    snapshot = repo / "snapshots" / ("c" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        data = path.read_bytes()
        given = (hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() if path.name in git_hashed
                 else hashlib.sha256(data).hexdigest())
        (repo / "blobs" / given).write_bytes(data)
        (snapshot / path.name).symlink_to(Path("../../blobs") / given)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c" * 40)
    return repo


def test_a_cached_model_whose_files_match_the_hub_s_hashes_loads(tiny_folder, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub_cache(tmp_path / "hub", "gpt2", tiny_folder)
    assert hub.changed_in(hub.cached_snapshot("gpt2", ("model", "tokenizer"))) is None
    assert load_causal_lm("gpt2").stand_in is False
    assert capsys.readouterr().out == "Model: gpt2 (from the local Hub cache)\n"


@pytest.mark.parametrize("changed", ["model.safetensors", "vocab.json"])  # each named by its sha256, as LFS files are
def test_a_cached_file_that_is_not_what_the_hub_sent_is_one_clear_error(tiny_folder, tmp_path, monkeypatch, changed):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = hub_cache(tmp_path / "hub", "gpt2", tiny_folder)
    blob = (repo / "snapshots" / ("c" * 40) / changed).resolve()
    data = bytearray(blob.read_bytes())
    if changed.endswith(".json"):
        data += b"\n"  # still the same JSON
    else:
        data[-1] ^= 1  # one bit of the last weight: the header and the sizes still hold
    blob.write_bytes(bytes(data))
    with pytest.raises(hub.HubError) as caught:
        load_causal_lm("gpt2")
    said = str(caught.value)
    assert said.startswith(f"The cached gpt2 is not loaded: its {changed} is not the file the Hub sent"), said
    assert said.endswith(f"Delete {repo} (the whole cached repo) and load again: it will be downloaded afresh."), said


def test_a_tokenizer_s_load_hashes_only_the_files_a_tokenizer_reads(tiny_folder, tmp_path, monkeypatch, capsys):
    """Changed weights stop a model's load from the cache, not a tokenizer's, which never reads them (nor hashes
    hundreds of MB for nothing)."""
    from huggingface_hub import constants

    from utils.models import load_tokenizer

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = hub_cache(tmp_path / "hub", "gpt2", tiny_folder)
    blob = (repo / "snapshots" / ("c" * 40) / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    assert len(load_tokenizer("gpt2")) == 50257
    assert capsys.readouterr().out == "Tokenizer: gpt2 (from the local Hub cache)\n"
    with pytest.raises(hub.HubError, match="its model.safetensors is not the file the Hub sent"):
        load_causal_lm("gpt2")
