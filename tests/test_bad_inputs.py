"""Every public entry point answers bad input with one error of our own: what is wrong and what to do.

One row per case: (name, what to run, the exception type, a fragment of its message). ``run`` gets a
per-case temporary folder and returns nothing; command-line cases call the script's ``main`` and count as
raising SystemExit with the message on stderr. After each case the temporary folder must hold nothing the
case half-wrote. Adding a case is one line.
"""

import bz2
import errno
import json
import os
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset

from utils import device as device_module
from utils import generation, profiles, sampling, settings
from utils import models as models_module
from utils.chunking import chunk_dataset
from utils.data import wikipedia_beam as beam_module
from utils.data.mediawiki import WikipediaError, parsed_articles
from utils.fill_mask import fill_mask, rank_of
from utils.offline import assets, cache
from utils.offline.cache import AssetError
from utils.offline.hub import HubError
from utils.support.validation import check_pair
from utils.tools import pretrain as pretrain_module
from utils.tools import slides
from utils.training_view import LiveLossPlot, loss_curves
from utils.wikipedia import corpus_stats, load_wikipedia_subset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lm():
    """The offline causal LM with its own tokenizer, and GPT-2's tokenizer (a different vocabulary)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    loaded = models_module.load_causal_lm("gpt2")
    return loaded.model, loaded.tokenizer, models_module.load_tokenizer("gpt2")


@pytest.fixture(scope="module")
def mlm():
    loaded = models_module.load_masked_lm("bert-base-uncased")
    return loaded.model, loaded.tokenizer


def write(path, text="", mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if "b" in mode else path.write_text)(text)
    return path


def pretrain_cli(tmp, *args):
    pretrain_module.main(["--profile", "smoke", "--output-dir", str(tmp / "out"), *args])


def beam_cli(tmp, *args):
    exit(beam_module.main(["--output", str(tmp / "out"), *args]))


CASES = [
    # --- the Wikipedia subset (notebook 3) ---
    ("subset: no training articles", lambda t, f: load_wikipedia_subset(0, 5), ValueError, "n_train must be a whole"),
    ("subset: negative training articles", lambda t, f: load_wikipedia_subset(-3, 5), ValueError, "n_train must be"),
    ("subset: article count as text", lambda t, f: load_wikipedia_subset("50", 5), ValueError, "got '50'"),
    ("subset: article count True", lambda t, f: load_wikipedia_subset(True, 5), ValueError, "n_train must be"),
    ("subset: negative validation", lambda t, f: load_wikipedia_subset(5, -1), ValueError, "n_valid must be"),
    ("subset: fractional validation", lambda t, f: load_wikipedia_subset(5, 2.5), ValueError, "n_valid must be"),
    ("subset: negative seed", lambda t, f: load_wikipedia_subset(5, 5, seed=-1), ValueError, "seed must be"),
    ("subset: more than the sample holds", lambda t, f: load_wikipedia_subset(100, 50, source="sample"),
     ValueError, "holds only 106"),
    ("subset: empty source", lambda t, f: load_wikipedia_subset(2, 2, source=" "), ValueError, "source must be"),
    ("subset: missing dump file", lambda t, f: load_wikipedia_subset(2, 2, source=str(t / "no.xml.bz2")),
     WikipediaError, "No dump at"),
    ("subset: not XML", lambda t, f: load_wikipedia_subset(2, 2, source=str(write(t / "d.xml", "hello"))),
     WikipediaError, "not a valid MediaWiki XML dump"),
    ("subset: truncated .bz2", lambda t, f: load_wikipedia_subset(2, 2, source=str(write(
        t / "d.xml.bz2", bz2.compress(b"<mediawiki>" + b"<page>x</page>" * 500)[:-40], "wb"))),
     WikipediaError, "the .bz2 is truncated"),
    ("subset: not bz2 at all", lambda t, f: load_wikipedia_subset(2, 2, source=str(write(
        t / "d.xml.bz2", b"plain text", "wb"))), WikipediaError, "could not be decompressed"),
    ("subset: a dump with no articles", lambda t, f: load_wikipedia_subset(1, 0, source=str(write(
        t / "d.xml", "<mediawiki></mediawiki>"))), WikipediaError, "holds no main-namespace articles"),
    # --- loading models and tokenizers ---
    ("load: empty name", lambda t, f: models_module.load_tokenizer(""), ValueError, "Give a Hub model name"),
    ("load: name None", lambda t, f: models_module.load_causal_lm(None), ValueError, "Give a Hub model name"),
    ("load: empty folder as tokenizer", lambda t, f: models_module.load_tokenizer(str(t)), HubError,
     "lacks a vocabulary"),
    ("load: tokenizer-only folder as model", lambda t, f: (f["lm"][1].save_pretrained(t / "tok"),
                                                            models_module.load_causal_lm(str(t / "tok"))),
     HubError, "lacks config.json, model.safetensors"),
    ("load: a masked LM named gpt2", lambda t, f: models_module.load_masked_lm("gpt2"), ValueError,
     "No masked lm called 'gpt2'"),
    ("load: unknown model offline", lambda t, f: models_module.load_causal_lm("no-such/model"), ValueError,
     "has no offline stand-in"),
    ("assets: unknown asset", lambda t, f: assets.asset_dir("no-such-asset"), AssetError, "Unknown asset"),
    # --- filling in blanks (notebook 1) ---
    ("fill_mask: empty text", lambda t, f: fill_mask(*f["mlm"], ""), ValueError, "The text is empty"),
    ("fill_mask: no mask", lambda t, f: fill_mask(*f["mlm"], "No blank here."), ValueError, "has no [MASK]"),
    ("fill_mask: another model's mask", lambda t, f: fill_mask(*f["mlm"], "A <mask> here."), ValueError,
     "another model's mask token"),
    ("fill_mask: top_k 0", lambda t, f: fill_mask(*f["mlm"], "A [MASK] here.", top_k=0), ValueError,
     "top_k must be"),
    ("fill_mask: text too long", lambda t, f: fill_mask(*f["mlm"], "word " * 600 + "[MASK]."), ValueError,
     "reads at most 512"),
    ("fill_mask: GPT-2's tokenizer with BERT", lambda t, f: fill_mask(f["mlm"][0], f["lm"][2], "A [MASK]."),
     ValueError, "belong to different models"),
    # --- decoding (notebook 2) ---
    ("decode: empty prompt", lambda t, f: generation.greedy_decode(*f["lm"][:2], "  ", 3), ValueError,
     "The prompt is empty"),
    ("decode: zero new tokens", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hi", 0), ValueError,
     "max_new_tokens must be"),
    ("decode: past the context window", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hi", 10**6),
     ValueError, "exceeds the model's context window"),
    ("decode: zero repeats", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hi", 2, repeats=0), ValueError,
     "repeats must be"),
    ("decode: GPT-2's tokenizer with the stand-in", lambda t, f: generation.greedy_decode(f["lm"][0], f["lm"][2],
                                                                                          "Hi", 2),
     ValueError, "50,257 entries but the model"),
    ("pair: a tokenizer of another model", lambda t, f: check_pair(f["mlm"][0], f["lm"][1]), ValueError,
     "belong to different models"),
    ("sampling: temperature 0", lambda t, f: sampling.filtered_probabilities(torch.zeros(5), temperature=0),
     ValueError, "temperature must be a number above 0"),
    ("sampling: top_p 2", lambda t, f: sampling.filtered_probabilities(torch.zeros(5), top_p=2), ValueError,
     "top_p must be above 0"),
    ("sampling: negative top_k", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", top_k=-1), ValueError,
     "top_k must be a whole number"),
    # --- chunking and profiles ---
    ("chunks: context of 1 token", lambda t, f: chunk_dataset(Dataset.from_dict({"text": ["a b"]}), f["lm"][2], 1),
     ValueError,
     "context_length must be a whole number of at least 2"),
    ("chunks: unknown strategy", lambda t, f: chunk_dataset(Dataset.from_dict({"text": ["a b"]}), f["lm"][2], 128,
                                                            strategy="zip"), ValueError,
     "Unknown chunking strategy"),
    ("profile: unknown name", lambda t, f: profiles.choose_profile(profiles.PRETRAINING, "huge"), ValueError,
     "Unknown profile 'huge'"),
    # --- environment variables ---
    ("env: unknown profile", lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_PROFILE", " huge "),
                                           profiles.choose_profile(profiles.PRETRAINING)),
     ValueError, "(from $LLM_TUTORIAL_PROFILE)"),
    ("env: a device that does not exist", lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_DEVICE", "tpu"),
                                                        device_module.pick_device()),
     ValueError, "is not a device"),
    ("env: CUDA on a machine without it", lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_DEVICE", "cuda:0"),
                                                        device_module.pick_device()),
     ValueError, "no cuda device is available"),
    ("env: widgets maybe", lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_WIDGETS", "maybe"),
                                         settings.widgets_on()), ValueError, "use on or off"),
    ("env: cache is a file", lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_CACHE", str(write(t / "f"))),
                                           assets.asset_dir("gpt2-tokenizer")), AssetError, "is a file, not a folder"),
    ("env: cache under a file", lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_CACHE", str(write(t / "f") / "c")),
                                              assets.build("wikipedia-sample")), AssetError,
     "Cannot create the asset cache"),
    ("setting: unknown name", lambda t, f: settings.setting("PROFILES"), KeyError, "Unknown setting 'PROFILES'"),
    # --- python -m utils.tools.pretrain ---
    ("pretrain: --epochs 0", lambda t, f: pretrain_cli(t, "--epochs", "0"), SystemExit, "must be a number above 0"),
    ("pretrain: --epochs -1", lambda t, f: pretrain_cli(t, "--epochs=-1"), SystemExit, "got '-1'"),
    ("pretrain: --epochs inf", lambda t, f: pretrain_cli(t, "--epochs", "inf"), SystemExit, "got 'inf'"),
    ("pretrain: --epochs nan", lambda t, f: pretrain_cli(t, "--epochs", "nan"), SystemExit, "got 'nan'"),
    ("pretrain: --epochs two", lambda t, f: pretrain_cli(t, "--epochs", "two"), SystemExit, "got 'two'"),
    ("pretrain: --save-every 0", lambda t, f: pretrain_cli(t, "--save-every", "0"), SystemExit, "got '0'"),
    ("pretrain: unknown profile", lambda t, f: pretrain_module.main(["--profile", "huge"]), SystemExit,
     "Unknown profile 'huge'"),
    ("pretrain: output under a file", lambda t, f: pretrain_module.main(
        ["--profile", "smoke", "--output-dir", str(write(t / "file") / "x")]), SystemExit, "cannot write to"),
    ("pretrain: --resume with nothing to resume", lambda t, f: pretrain_cli(t, "--resume"), SystemExit,
     "holds no complete checkpoint"),
    # --- python -m utils.data.wikipedia_beam ---
    ("beam: a glob that matches nothing", lambda t, f: beam_cli(t, "--input", str(t / "none-*.xml.bz2")),
     SystemExit, "matches no file"),
    ("beam: a missing file", lambda t, f: beam_cli(t, "--input", str(t / "missing.xml.bz2")), SystemExit,
     "matches no file"),
    ("beam: negative shards", lambda t, f: beam_cli(t, "--input", "x", "--num-shards", "-1"), SystemExit,
     "--num-shards must be 0"),
    # --- python -m utils.offline.assets ---
    ("assets CLI: unknown asset", lambda t, f: exit(assets.main(["no-such-asset"])), SystemExit, "Unknown asset"),
]

# Reliability round 3 (../shared/notes/reliability-round-3.md): each of its bad and weak cases that a call can
# show, named by the note's id. A case's input files go under "in/", so they do not count as written.
def notebook_file(t, mutate):
    """A copy of notebook 1, changed by ``mutate`` (a function of its JSON text, or bytes to write instead)."""
    text = (Path(__file__).resolve().parent.parent / "notebooks" / "01_masked_lm.ipynb").read_text()
    changed = mutate(text) if callable(mutate) else mutate
    return write(t / "in" / "nb.ipynb", changed, "wb" if isinstance(changed, bytes) else "w")


def without_slides(text):
    import json

    notebook = json.loads(text)
    for cell in notebook["cells"]:
        cell["metadata"].pop("slideshow", None)
    return json.dumps(notebook)


def slides_cli(t, notebook):
    exit(slides.main([str(notebook), "--output", str(t / "out")]))


def fake_npm(t, monkeypatch):
    """An npm on the PATH that cannot reach its registry, and an empty asset cache."""
    npm = write(t / "in" / "bin" / "npm", "#!/bin/sh\necho 'npm error code ECONNREFUSED' >&2\n"
                "echo 'npm error A complete log of this run can be found in: /x.log' >&2\nexit 1\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{npm.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("LLM_TUTORIAL_CACHE", str(t / "in" / "cache"))


def tampered_reveal_cache(t, monkeypatch):
    import shutil

    copy = t / "in" / "cache" / slides.ASSET
    shutil.copytree(slides.reveal_assets(), copy)
    with open(copy / "reveal.js" / "dist" / "reveal.js", "a") as f:
        f.write("// changed\n")
    monkeypatch.setenv("LLM_TUTORIAL_CACHE", str(copy.parent))


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def tokenizers_disk_full(out):
    (out / "tokenizer.json").write_text("{")  # half-written, as a full disk leaves it
    raise Exception("No space left on device (os error 28)")  # how the tokenizers library reports it


def dump(t, name, content: bytes):
    return str(write(t / "in" / name, content, "wb"))


PAGE = (b"<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><id>2</id><text>Some words here."
        b"</text></revision></page></mediawiki>")

ROUND_3 = [
    # --- utils.sampling ---
    ("S2 explore: temperature 1e-40", lambda t, f: sampling.explore(*f["lm"][:2], "The capital of France is",
     temperature=1e-40, new_tokens=3), ValueError, "too small to compute with: use at least 1e-06"),
    ("S8 filter: NaN logits", lambda t, f: sampling.filtered_probabilities(torch.tensor([1., float("nan"), .5]),
     top_p=0.9), ValueError, "logits hold NaN or +inf"),
    ("S8 filter: +inf logits", lambda t, f: sampling.filtered_probabilities(torch.tensor([float("inf"), 1., 2.]),
     top_k=2), ValueError, "logits hold NaN or +inf"),
    ("S9 filter: logits as text", lambda t, f: sampling.filtered_probabilities("1 2 3"), ValueError,
     "logits must be a tensor (or list) of scores"),
    ("S10 explore: seed 2**64", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", seed=2**64, new_tokens=3),
     ValueError, "seed must be a whole number from 0 to 18446744073709551615"),
    ("S11 explore: seed None", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", seed=None, new_tokens=3),
     ValueError, "seed must be a whole number"),
    ("S12 explore: seed 1.5", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", seed=1.5, new_tokens=3),
     ValueError, "seed must be a whole number"),
    ("S14 explore: no new tokens", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", new_tokens=0), ValueError,
     "new_tokens must be a whole number of at least 1, got 0"),
    ("S14 explorer: negative new tokens", lambda t, f: sampling.decoding_explorer(*f["lm"][:2], "Hi", new_tokens=-5),
     ValueError, "new_tokens must be a whole number of at least 1, got -5"),
    ("S15 explore: 2.5 new tokens", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", new_tokens=2.5), ValueError,
     "new_tokens must be a whole number"),
    ("S15 explore: new tokens as text", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", new_tokens="3"),
     ValueError, "new_tokens must be a whole number"),
    ("S16 explore: empty prompt", lambda t, f: sampling.explore(*f["lm"][:2], ""), ValueError, "The prompt is empty"),
    ("S16 explorer: empty prompt", lambda t, f: sampling.decoding_explorer(*f["lm"][:2], "", new_tokens=3),
     ValueError, "The prompt is empty"),
    ("S17 explore: prompt None", lambda t, f: sampling.explore(*f["lm"][:2], None), ValueError,
     "The prompt must be text (a str in quotes), got NoneType"),
    ("S18 explore: a list of prompts", lambda t, f: sampling.explore(*f["lm"][:2], ["a", "b"]), ValueError,
     "got list (one text at a time)"),
    ("S19 explore: past the context window", lambda t, f: sampling.explore(*f["lm"][:2], "Hi", new_tokens=10**6),
     ValueError, "exceeds the model's context window"),
    # --- utils.generation ---
    ("G3 decode: top_k 0", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hello", 2, top_k=0), ValueError,
     "top_k must be a whole number of at least 1, got 0"),
    ("G4 decode: top_k -1", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hello", 2, top_k=-1), ValueError,
     "top_k must be a whole number of at least 1"),
    ("G6 decode: prompt as bytes", lambda t, f: generation.greedy_decode(*f["lm"][:2], b"Hello", 2), ValueError,
     "The prompt must be text (a str in quotes), got bytes"),
    ("G6 decode: prompt as ids", lambda t, f: generation.greedy_decode(*f["lm"][:2], torch.tensor([[1, 2]]), 2),
     ValueError, "got Tensor"),
    ("G7 decode: a lone surrogate", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hi\x00 \ud800", 2),
     ValueError, "'\\ud800' at character 4, which is not a valid Unicode character"),
    ("G9 step table: another model's tokenizer", lambda t, f: generation.step_table(
        generation.greedy_decode(*f["lm"][:2], "Hello", 2), f["mlm"][1]), ValueError,
     "decode them with the tokenizer you passed to greedy_decode"),
    ("G10 KV cache: a tokenizer for the model", lambda t, f: generation.kv_cache_bytes_per_token(f["lm"][1]),
     ValueError, "model must be a loaded model"),
    ("G10 context window: None", lambda t, f: generation.context_window(None), ValueError,
     "model must be a loaded model (e.g. loaded = load_causal_lm('gpt2'); loaded.model), got NoneType"),
    ("G10 step table: None", lambda t, f: generation.step_table(None, f["lm"][1]), ValueError,
     "step_table takes what greedy_decode returned, got NoneType"),
    ("G10 log-probability: ids as text", lambda t, f: generation.continuation_log_probability(f["lm"][0], "1 2", 1),
     ValueError, "ids must be a list of this model's token ids"),
    # --- utils.fill_mask ---
    ("F3 fill_mask: a list of texts", lambda t, f: fill_mask(*f["mlm"], ["Paris is the [MASK].", "A [MASK]."]),
     ValueError, "The text must be text (a str in quotes), got list (one text at a time)"),
    ("F3 fill_mask: bytes", lambda t, f: fill_mask(*f["mlm"], b"A [MASK]."), ValueError, "got bytes"),
    ("F4 fill_mask: model None", lambda t, f: fill_mask(None, f["mlm"][1], "A [MASK]."), ValueError,
     "model must be a loaded model"),
    ("F4 fill_mask: tokenizer None", lambda t, f: fill_mask(f["mlm"][0], None, "A [MASK]."), ValueError,
     "tokenizer must be a loaded tokenizer"),
    # --- utils.chunking ---
    ("T1 chunks: context length as text", lambda t, f: chunk_dataset(Dataset.from_dict({"text": ["hello " * 50]}),
     f["lm"][2], "128"), ValueError, "context_length must be a whole number of at least 2, got '128'"),
    ("T2 chunks: context length 128.5", lambda t, f: chunk_dataset(Dataset.from_dict({"text": ["hello " * 50]}),
     f["lm"][2], 128.5), ValueError, "got 128.5"),
    ("T3 chunks: a None text", lambda t, f: chunk_dataset(Dataset.from_dict({"text": ["a b c d e f", None]}),
     f["lm"][2], 2), ValueError, "1 row(s) of the 'text' column are None"),
    ("T3 chunks: a number column", lambda t, f: chunk_dataset(Dataset.from_dict({"text": [1, 2]}), f["lm"][2], 2),
     ValueError, "The 'text' column must hold text, but holds int64"),
    ("T4 chunks: a DatasetDict", lambda t, f: chunk_dataset({"train": []}, f["lm"][2], 2), ValueError,
     "chunk_dataset takes one datasets.Dataset split"),
    # --- utils.wikipedia ---
    ("W4 corpus_stats: None", lambda t, f: corpus_stats(None), ValueError, "corpus_stats takes a list of texts"),
    ("W4 corpus_stats: a None text", lambda t, f: corpus_stats([None]), ValueError, "Text 0 is a NoneType"),
    ("W4 corpus_stats: one str", lambda t, f: corpus_stats("one article"), ValueError, "got str"),
    # --- utils.training_view ---
    ("V1 live plot: prompt as text", lambda t, f: LiveLossPlot(f["lm"][2], "hello"), ValueError,
     "prompt_ids must be a non-empty list of token ids"),
    ("V1 live plot: empty prompt", lambda t, f: LiveLossPlot(f["lm"][2], []), ValueError, "prompt_ids must be"),
    ("V1 live plot: an id past the vocabulary", lambda t, f: LiveLossPlot(f["lm"][2], [10**6]).on_train_begin(
        None, None, None, model=f["lm"][0]), ValueError, "encode the prompt with the model's own tokenizer"),
    ("V4 loss curves: None", lambda t, f: loss_curves(None), ValueError, "loss_curves takes trainer.state.log_history"),
    ("V4 loss curves: no step", lambda t, f: loss_curves([{"loss": 1.0}]), ValueError, "this entry has no 'step'"),
    ("V4 live plot: baseline as text", lambda t, f: LiveLossPlot(f["lm"][2], [1], baseline="10.8"), ValueError,
     "baseline must be a number"),
    # --- python -m utils.tools.slides ---
    ("L1 slides: a notebook without slide metadata", lambda t, f: slides_cli(t, notebook_file(t, without_slides)),
     SystemExit, "has no slide structure"),
    ("L2 slides: a truncated notebook", lambda t, f: slides_cli(t, notebook_file(t, lambda s: s[:5000])),
     SystemExit, "is not a valid notebook (NotJSONError"),
    ("L3 slides: a notebook holding {}", lambda t, f: slides_cli(t, notebook_file(t, "{}")), SystemExit,
     "is not a valid notebook"),
    ("L4 slides: a binary notebook", lambda t, f: slides_cli(t, notebook_file(t, b"\x89PNG\r\n\x1a\n\x00\xff")),
     SystemExit, "is not a valid notebook"),
    ("L5 slides: an unknown cell type", lambda t, f: slides_cli(t, notebook_file(
        t, lambda s: s.replace('"cell_type": "markdown"', '"cell_type": "poem"', 1))), SystemExit,
     "is not a valid notebook"),
    ("L7 slides: npm cannot reach its registry", lambda t, f: (fake_npm(t, f["monkeypatch"]), slides_cli(
        t, ROOT / "notebooks" / "01_masked_lm.ipynb")), SystemExit, "failed (code ECONNREFUSED)"),
    ("L9 slides: output is a file", lambda t, f: exit(slides.main([str(ROOT / "notebooks" / "01_masked_lm.ipynb"),
     "--output", str(write(t / "file"))])), SystemExit, "cannot create the output folder"),
    ("L13 slides: cached reveal.js tampered with", lambda t, f: (tampered_reveal_cache(t, f["monkeypatch"]),
     slides_cli(t, ROOT / "notebooks" / "01_masked_lm.ipynb")), SystemExit, "`make slides` (or python -m "
     "utils.tools.slides) then builds it again"),
    # --- utils.offline.assets / utils.offline.cache ---
    ("A1 assets: no space for the download", lambda t, f: (f["monkeypatch"].setattr(
        cache.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "ERROR: Could not install "
        "packages due to an OSError: [Errno 28] No space left on device")), cache.pip_download("x==1", t / "dl")),
     AssetError, "No space left in"),
    ("A2 assets: the disk fills while building", lambda t, f: cache.build_folder("x", tokenizers_disk_full,
     root=t / "cache"), AssetError, "Could not build 'x' in"),
    ("A11 assets: a read-only cache", lambda t, f: (f["monkeypatch"].setattr(cache.tempfile, "mkdtemp", lambda *a, **k:
     (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system"))), cache.build_folder(
        "x", tokenizers_disk_full, root=t / "cache")), AssetError, "(Read-only file system)"),
    ("A11 assets CLI: a read-only cache", lambda t, f: (f["monkeypatch"].setenv("LLM_TUTORIAL_CACHE", str(t / "c")),
     f["monkeypatch"].setattr(cache.tempfile, "mkdtemp", lambda *a, **k: (_ for _ in ()).throw(
         OSError(errno.EROFS, "Read-only file system"))), exit(assets.main(["gpt2-tokenizer"]))), SystemExit,
     "Read-only file system"),
    # --- python -m utils.data.wikipedia_beam ---
    ("B2 beam: a dump with invalid UTF-8", lambda t, f: beam_cli(t, "--input", dump(t, "bad.xml", PAGE.replace(
        b"Some", b"S\xff\xfeme"))), SystemExit, "is not a valid MediaWiki XML dump"),
    ("B5 beam: output is the input file", lambda t, f: beam_cli(t, "--input", dump(t, "d.xml", PAGE), "--output",
     str(t / "in" / "d.xml")), SystemExit, "is a file; give a folder"),
    ("B6 beam: empty input files", lambda t, f: beam_cli(t, "--input", str([dump(t, f"e{i}.xml", b"") for i in
     range(20)][0].rsplit("/", 1)[0]) + "/e*.xml"), SystemExit, "is empty (0 bytes), and so are 19 more"),
    ("B8 beam: bz2 named .xml", lambda t, f: beam_cli(t, "--input", dump(t, "c.xml", bz2.compress(PAGE))),
     SystemExit, "is bz2-compressed but not named .bz2"),
    ("B8 beam: a truncated .xml.bz2", lambda t, f: beam_cli(t, "--input", dump(t, "c.xml.bz2",
     bz2.compress(PAGE)[:30])), SystemExit, "the .bz2 is truncated"),
    # --- environment variables ---
    ("E2 pretrain: CUDA asked for, none here", lambda t, f: (f["monkeypatch"].setenv("LLM_TUTORIAL_DEVICE", "cuda"),
     pretrain_cli(t)), SystemExit, "but no cuda device is available here"),
    ("E7 notebook 3: an output folder that cannot be written", lambda t, f: (f["monkeypatch"].setenv(
        "LLM_TUTORIAL_OUTPUT", str(write(t / "file") / "out")), profiles.choose_profile(profiles.PRETRAINING)),
     ValueError, "$LLM_TUTORIAL_OUTPUT="),
    ("E8 every notebook: widgets maybe", lambda t, f: (f["monkeypatch"].setenv("LLM_TUTORIAL_WIDGETS", "maybe"),
     profiles.choose_profile(profiles.CAUSAL_LM)), ValueError, "$LLM_TUTORIAL_WIDGETS='maybe': use on or off."),
    # --- python -m utils.tools.pretrain ---
    ("P22 pretrain: --save-every 2.5", lambda t, f: pretrain_cli(t, "--save-every", "2.5"), SystemExit,
     "must be a whole number above 0 (e.g. 50), got '2.5'"),
    ("P25 pretrain: --profile ''", lambda t, f: pretrain_module.main(["--profile", "", "--output-dir", str(t)]),
     SystemExit, "--profile is empty"),
    ("P26 pretrain: --output-dir ''", lambda t, f: pretrain_module.main(["--profile", "smoke", "--output-dir", ""]),
     SystemExit, "--output-dir is empty"),
]
CASES += ROUND_3


def live_plot_with(tokenizer, history):
    plot = LiveLossPlot(tokenizer, [1], live=False)
    plot.on_train_begin(None, None, None)
    plot._show = lambda: None
    plot.draw(SimpleNamespace(per_device_train_batch_size=1, world_size=1),
              SimpleNamespace(log_history=history, max_steps=4, global_step=2, epoch=1.0))
    return plot.ax.get_ylim()


def cache_with_manifest(t, manifest):
    write(t / "c" / "x" / "manifest.json", json.dumps(manifest))
    return cache.cached_folder("x", root=t / "c")


def parse_on_a_full_disk(t, f):
    f["monkeypatch"].setattr(Dataset, "to_parquet", no_space)
    return parsed_articles(dump(t, "d.xml", PAGE), cache=t / "parsed")


def beam_run(t, f, *args):
    f["monkeypatch"].setattr(tempfile, "tempdir", str((t / "tmp").resolve()))
    (t / "tmp").mkdir()
    code = beam_module.main(["--output", str(t / "out"), *args])
    return code, sorted(p.name for p in (t / "out").glob("*.parquet")), list((t / "tmp").iterdir()), \
        f["capsys"].readouterr().out


# Round 3 cases whose right answer is a result, not an error: (name, what to run, a check of what it returned)
HANDLED = [
    ("S4 filter: temperature as np.float32", lambda t, f: sampling.filtered_probabilities(torch.zeros(5),
     temperature=np.float32(0.7)), lambda r, t: torch.allclose(r, torch.full((5,), 0.2))),
    ("S9 filter: logits as a list", lambda t, f: sampling.filtered_probabilities([1.0, 2.0, 3.0], top_k=2),
     lambda r, t: torch.allclose(r, sampling.filtered_probabilities(torch.tensor([1.0, 2.0, 3.0]), top_k=2))),
    ("S13 explore: a numpy seed", lambda t, f: [sampling.explore(*f["lm"][:2], "Hi", seed=seed, new_tokens=4)
     .continuation for seed in (np.int64(3), 3)], lambda r, t: r[0] == r[1]),
    ("G2 decode: a numpy count", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hello", np.int64(2)),
     lambda r, t: len(r.steps) == 2),
    ("G4 decode: top_k past the vocabulary", lambda t, f: generation.greedy_decode(*f["lm"][:2], "Hello", 1,
     top_k=10**6), lambda r, t: len(r.steps[0].candidates) == r.tokenizer_size),
    ("N9 rank_of: a 100,000-letter word", lambda t, f: rank_of(f["mlm"][1], torch.full((len(f["mlm"][1]),), 1e-5),
     "paris" * 20000), lambda r, t: "is not in this model's vocabulary (it reads as [UNK])" in r),
    ("V2 live plot: an infinite validation loss", lambda t, f: live_plot_with(f["lm"][2], [
        {"step": 1, "loss": float("nan")}, {"step": 1, "eval_loss": float("inf")}, {"step": 2, "loss": 5.0}]),
     lambda r, t: r == (0, 5.0 * 1.08)),
    ("A3 parse cache on a full disk", parse_on_a_full_disk,
     lambda r, t: r["title"] == ["A"] and not list((t / "parsed").rglob("*.parquet"))),
    ("A7 manifest without files", lambda t, f: cache_with_manifest(t, {"format": cache.BUILD_FORMAT}),
     lambda r, t: r is None),
    ("A8 manifest files as a list", lambda t, f: cache_with_manifest(t, {"format": cache.BUILD_FORMAT,
     "files": ["tokenizer.json"]}), lambda r, t: r is None),
    ("B10 beam: more shards than articles", lambda t, f: beam_run(t, f, "--input", dump(t, "d.xml", PAGE),
     "--num-shards", "30"), lambda r, t: r[0] == 0 and len(r[1]) == 1 and "1 articles" in r[3]),
    ("B11 beam: no temporary folders left", lambda t, f: beam_run(t, f, "--input", dump(t, "d.xml", PAGE)),
     lambda r, t: r[0] == 0 and r[2] == []),
]


@pytest.mark.parametrize("name,run,check", HANDLED, ids=[name for name, *_ in HANDLED])
def test_handled_input(name, run, check, tmp_path, monkeypatch, capsys, request):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fixtures = {"lm": request.getfixturevalue("lm"), "mlm": request.getfixturevalue("mlm"),
                "monkeypatch": monkeypatch, "capsys": capsys}
    assert check(run(tmp_path, fixtures), tmp_path), name

NAMES = [name for name, *_ in CASES]


def test_the_table_is_large_and_unique():
    assert len(CASES) >= 40 and len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name,run,kind,fragment", CASES, ids=NAMES)
def test_bad_input(name, run, kind, fragment, tmp_path, monkeypatch, capsys, request):
    for var in ("LLM_TUTORIAL_PROFILE", "LLM_TUTORIAL_DEVICE", "LLM_TUTORIAL_WIDGETS", "LLM_TUTORIAL_CACHE"):
        present = var in os.environ
        monkeypatch.setenv(var, os.environ.get(var, ""))  # restored (or removed again) after the case
        if not present:
            monkeypatch.delenv(var)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fixtures = {"lm": request.getfixturevalue("lm"), "mlm": request.getfixturevalue("mlm"),  # loaded once
                "monkeypatch": monkeypatch}
    before = set(tmp_path.rglob("*"))
    with pytest.raises(kind) as raised:
        run(tmp_path, fixtures)
    err = capsys.readouterr().err
    message = err if kind is SystemExit else str(raised.value)
    if kind is SystemExit:
        assert raised.value.code not in (0, None), f"{name}: exited with success"
        lines = [line for line in err.strip().splitlines() if not line.startswith(("usage:", "  ", "WARNING:"))]
        assert len(lines) == 1, f"{name}: expected one error line, got {err!r}"
    assert fragment in message, f"{name}: {message!r}"
    left = {p for p in set(tmp_path.rglob("*")) - before if p.name != "f" and p.name != "file"
            and "in" not in p.relative_to(tmp_path).parts}
    written = [p for p in left if p.is_file() and p.parent.name not in ("tok",) and p.suffix not in (".xml", ".bz2")]
    assert not written, f"{name}: left {written}"
