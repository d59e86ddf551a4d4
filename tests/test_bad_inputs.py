"""Every public entry point answers bad input with one error of our own: what is wrong and what to do.

One row per case: (name, what to run, the exception type, a fragment of its message). ``run`` gets a
per-case temporary folder and returns nothing; command-line cases call the script's ``main`` and count as
raising SystemExit with the message on stderr. After each case the temporary folder must hold nothing the
case half-wrote. Adding a case is one line.
"""

import bz2
import os

import pytest
import torch
from datasets import Dataset

from utils import assets, generation, profiles, sampling, settings
from utils import device as device_module
from utils import models as models_module
from utils import pretrain as pretrain_module
from utils import wikipedia_beam as beam_module
from utils.cache import AssetError
from utils.checks import check_pair
from utils.fill_mask import fill_mask
from utils.hub import HubError
from utils.tokenization import chunk_dataset
from utils.wikipedia import load_wikipedia_subset
from utils.wikitext import WikipediaError


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
    beam_module.main(["--output", str(tmp / "out"), *args])


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
     "context_length must be at least 2"),
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
    # --- python -m utils.pretrain ---
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
    # --- python -m utils.wikipedia_beam ---
    ("beam: a glob that matches nothing", lambda t, f: beam_cli(t, "--input", str(t / "none-*.xml.bz2")),
     SystemExit, "matches no file"),
    ("beam: a missing file", lambda t, f: beam_cli(t, "--input", str(t / "missing.xml.bz2")), SystemExit,
     "matches no file"),
    ("beam: negative shards", lambda t, f: beam_cli(t, "--input", "x", "--num-shards", "-1"), SystemExit,
     "--num-shards must be 0"),
    # --- python -m utils.assets ---
    ("assets CLI: unknown asset", lambda t, f: exit(assets.main(["no-such-asset"])), SystemExit, "Unknown asset"),
]

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
    fixtures = {"lm": request.getfixturevalue("lm"), "mlm": request.getfixturevalue("mlm")}  # loaded once
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
    left = {p for p in set(tmp_path.rglob("*")) - before if p.name != "f" and p.name != "file"}
    written = [p for p in left if p.is_file() and p.parent.name not in ("tok",) and p.suffix not in (".xml", ".bz2")]
    assert not written, f"{name}: left {written}"
