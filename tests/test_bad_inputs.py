"""Every public entry point answers bad input with one error of our own: what is wrong and what to do.

``CASES`` holds one ``pytest.param(run, exception type, message fragment, id=...)`` per bad input, grouped by the
module that answers it; adding a case is one more ``pytest.param``. ``run(t, f)`` gets the case's temporary folder
``t`` and its fixtures ``f`` (a ``Fixtures``: ``f.causal_lm``, ``f.masked_lm``, ``f.gpt2_tokenizer``,
``f.monkeypatch``, ``f.capsys``) and returns nothing. Command-line cases call the script's ``main`` and count as
raising SystemExit with the message as the one line on stderr. After each case the temporary folder holds nothing
the case half-wrote; a case's input files go under ``t / "in"``, so they do not count as written.

``HANDLED`` holds the inputs whose right answer is a result, not an error: ``pytest.param(run, check, id=...)``,
where ``check(result, t)`` is true for the right result.
"""

import bz2
import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from utils import attention, generation, profiles, sampling, settings
from utils import device as device_module
from utils import models as models_module
from utils.chunking import chunk_dataset
from utils.data import wikipedia_beam as beam_module
from utils.data.mediawiki import WikipediaError, parsed_articles
from utils.fill_mask import fill_mask, rank_of
from utils.offline import assets, cache, packages
from utils.offline.cache import AssetError
from utils.offline.hub import HubError
from utils.support.validation import (
    check_batch_size,
    check_causal_lm,
    check_live_prompt,
    check_pair,
    check_rank_request,
)
from utils.tools import prepare, slides
from utils.tools import pretrain as pretrain_module
from utils.training_view import LiveLossPlot, loss_curves
from utils.wikipedia import corpus_stats, load_wikipedia_subset

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_1 = ROOT / "notebooks" / "01_masked_lm.ipynb"


@pytest.fixture(scope="module")
def causal_lm() -> models_module.Loaded:
    """The offline causal LM (``.model``) with its own tokenizer (``.tokenizer``)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    return models_module.load_causal_lm("gpt2")


@pytest.fixture(scope="module")
def masked_lm() -> models_module.Loaded:
    """The offline masked LM (``.model``) with its own tokenizer (``.tokenizer``)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    return models_module.load_masked_lm("bert-base-uncased")


@dataclass(frozen=True, repr=False)  # a failing case shows its id, not the models
class Fixtures:
    """What a case's ``run(t, f)`` gets as ``f``."""

    causal_lm: models_module.Loaded
    masked_lm: models_module.Loaded
    gpt2_tokenizer: PreTrainedTokenizerBase  # GPT-2's vocabulary: the tokenizer of neither model above
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture


@pytest.fixture
def fixtures(causal_lm, masked_lm, gpt2_tokenizer, monkeypatch, capsys) -> Fixtures:
    return Fixtures(causal_lm, masked_lm, gpt2_tokenizer, monkeypatch, capsys)


# ---- inputs the cases build --------------------------------------------------------------------------------------

def write(path, text="", mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if "b" in mode else path.write_text)(text)
    return path


def dump(t, name, content: bytes):
    """A dump file under the case's input folder."""
    return str(write(t / "in" / name, content, "wb"))


PAGE = (b"<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><id>2</id><text>Some words here."
        b"</text></revision></page></mediawiki>")


def empty_dumps(t, count):
    """A glob matching ``count`` empty .xml files."""
    for i in range(count):
        dump(t, f"e{i}.xml", b"")
    return str(t / "in" / "e*.xml")


def texts(*values):
    return Dataset.from_dict({"text": list(values)})


def notebook_file(t, mutate):
    """A copy of notebook 1, changed by ``mutate`` (a function of its JSON text, or bytes to write instead)."""
    text = NOTEBOOK_1.read_text()
    changed = mutate(text) if callable(mutate) else mutate
    return write(t / "in" / "nb.ipynb", changed, "wb" if isinstance(changed, bytes) else "w")


def without_slides(text):
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        cell["metadata"].pop("slideshow", None)
    return json.dumps(notebook)


def fake_npm(t, monkeypatch):
    """An npm on the PATH that cannot reach its registry, and an empty asset cache."""
    npm = write(t / "in" / "bin" / "npm", "#!/bin/sh\necho 'npm error code ECONNREFUSED' >&2\n"
                "echo 'npm error A complete log of this run can be found in: /x.log' >&2\nexit 1\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{npm.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("LLM_TUTORIAL_CACHE", str(t / "in" / "cache"))


def tampered_reveal_cache(t, monkeypatch):
    """A cache whose reveal.js differs from the one its manifest lists."""
    copy = t / "in" / "cache" / slides.ASSET
    shutil.copytree(slides.reveal_assets(), copy)
    with open(copy / "reveal.js" / "dist" / "reveal.js", "a") as f:
        f.write("// changed\n")
    monkeypatch.setenv("LLM_TUTORIAL_CACHE", str(copy.parent))


def tiny_gpt2():
    """A one-layer GPT-2 whose context window is 64 tokens."""
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64)).eval()


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


def tokenizers_disk_full(out):
    (out / "tokenizer.json").write_text("{")  # half-written, as a full disk leaves it
    raise Exception("No space left on device (os error 28)")  # how the tokenizers library reports it


# ---- the command-line scripts ------------------------------------------------------------------------------------

def pretrain_cli(t, *args):
    pretrain_module.main(["--profile", "smoke", "--output-dir", str(t / "out"), *args])


def beam_cli(t, *args):
    exit(beam_module.main(["--output", str(t / "out"), *args]))


def slides_cli(t, notebook):
    exit(slides.main([str(notebook), "--output", str(t / "out")]))


# ---- bad input: one error of our own -----------------------------------------------------------------------------

CASES = [
    # --- utils.sampling: filtered_probabilities, explore, decoding_explorer (notebook 2) ---
    pytest.param(lambda t, f: sampling.filtered_probabilities(torch.zeros(5), temperature=0),
                 ValueError, "temperature must be a number above 0", id="filter: temperature 0"),
    pytest.param(lambda t, f: sampling.filtered_probabilities(torch.zeros(5), top_p=2),
                 ValueError, "top_p must be above 0", id="filter: top_p 2"),
    pytest.param(lambda t, f: sampling.filtered_probabilities(torch.tensor([1., float("nan"), .5]), top_p=0.9),
                 ValueError, "logits hold NaN or +inf", id="filter: NaN logits"),
    pytest.param(lambda t, f: sampling.filtered_probabilities(torch.tensor([float("inf"), 1., 2.]), top_k=2),
                 ValueError, "logits hold NaN or +inf", id="filter: +inf logits"),
    pytest.param(lambda t, f: sampling.filtered_probabilities("1 2 3"),
                 ValueError, "logits must be a tensor (or list) of scores", id="filter: logits as text"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", top_k=-1),
                 ValueError, "top_k must be a whole number", id="explore: negative top_k"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "The capital of France is",
                                               temperature=1e-40, new_tokens=3),
                 ValueError, "too small to compute with: use at least 1e-06", id="explore: temperature 1e-40"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", seed=2**64,
                                               new_tokens=3),
                 ValueError, "seed must be a whole number from 0 to 18446744073709551615", id="explore: seed 2**64"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", seed=None,
                                               new_tokens=3),
                 ValueError, "seed must be a whole number", id="explore: seed None"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", seed=1.5,
                                               new_tokens=3),
                 ValueError, "seed must be a whole number", id="explore: seed 1.5"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", new_tokens=0),
                 ValueError, "new_tokens must be a whole number of at least 1, got 0", id="explore: no new tokens"),
    pytest.param(lambda t, f: sampling.decoding_explorer(f.causal_lm.model, f.causal_lm.tokenizer, "Hi",
                                                         new_tokens=-5),
                 ValueError, "new_tokens must be a whole number of at least 1, got -5",
                 id="explorer: negative new tokens"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", new_tokens=2.5),
                 ValueError, "new_tokens must be a whole number", id="explore: 2.5 new tokens"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", new_tokens="3"),
                 ValueError, "new_tokens must be a whole number", id="explore: new tokens as text"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, ""),
                 ValueError, "The prompt is empty", id="explore: empty prompt"),
    pytest.param(lambda t, f: sampling.decoding_explorer(f.causal_lm.model, f.causal_lm.tokenizer, "", new_tokens=3),
                 ValueError, "The prompt is empty", id="explorer: empty prompt"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, None),
                 ValueError, "The prompt must be text (a str in quotes), got NoneType", id="explore: prompt None"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, ["a", "b"]),
                 ValueError, "got list (one text at a time)", id="explore: a list of prompts"),
    pytest.param(lambda t, f: sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", new_tokens=10**6),
                 ValueError, "exceeds the model's context window", id="explore: past the context window"),

    # --- utils.generation: greedy_decode, step_table and the model's sizes (notebook 2) ---
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "  ", 3),
                 ValueError, "The prompt is empty", id="decode: empty prompt"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, b"Hello", 2),
                 ValueError, "The prompt must be text (a str in quotes), got bytes", id="decode: prompt as bytes"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer,
                                                       torch.tensor([[1, 10**7]]), 2),
                 ValueError, "ids must be a list of this model's token ids", id="decode: ids past the vocabulary"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hi\x00 \ud800", 2),
                 ValueError, "'\\ud800' at character 4, which is not a valid Unicode character",
                 id="decode: a lone surrogate"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", 0),
                 ValueError, "max_new_tokens must be", id="decode: zero new tokens"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", 10**6),
                 ValueError, "exceeds the model's context window", id="decode: past the context window"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", 2, repeats=0),
                 ValueError, "repeats must be", id="decode: zero repeats"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hello", 2,
                                                       candidates=0),
                 ValueError, "candidates must be a whole number of at least 1, got 0", id="decode: no candidates"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hello", 2,
                                                       candidates=-1),
                 ValueError, "candidates must be a whole number of at least 1", id="decode: -1 candidates"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.gpt2_tokenizer, "Hi", 2),
                 ValueError, "50,257 entries but the model", id="decode: GPT-2's tokenizer with the stand-in"),
    pytest.param(lambda t, f: generation.step_table(generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer,
                                                                             "Hello", 2), f.masked_lm.tokenizer),
                 ValueError, "decode them with the tokenizer you passed to greedy_decode",
                 id="step table: another model's tokenizer"),
    pytest.param(lambda t, f: generation.step_table(None, f.causal_lm.tokenizer),
                 ValueError, "step_table takes what greedy_decode returned, got NoneType",
                 id="step table: None instead of a decode"),
    pytest.param(lambda t, f: generation.kv_cache_bytes_per_token(f.causal_lm.tokenizer),
                 ValueError, "model must be a loaded model", id="KV cache size: a tokenizer given as the model"),
    pytest.param(lambda t, f: generation.context_window(None),
                 ValueError, "model must be a loaded model (e.g. loaded = load_causal_lm('gpt2'); loaded.model), "
                 "got NoneType", id="context window: model None"),
    pytest.param(lambda t, f: generation.continuation_log_probability(f.causal_lm.model, "1 2", 1),
                 ValueError, "ids must be a list of this model's token ids", id="log-probability: ids as text"),

    # --- utils.support.validation: a model with another model's tokenizer ---
    pytest.param(lambda t, f: check_pair(f.masked_lm.model, f.causal_lm.tokenizer),
                 ValueError, "belong to different models", id="pair: a tokenizer of another model"),

    # --- utils.attention: attention_head's door (notebook 2) ---
    pytest.param(lambda t, f: attention.attention_head(None, torch.tensor([[5, 6]])),
                 ValueError, "model must be a loaded model", id="head: no model"),
    pytest.param(lambda t, f: attention.attention_head(f.causal_lm.model, torch.tensor([[10**6]])),
                 ValueError, "The token id 1,000,000 is not in this model's vocabulary", id="head: an id past the end"),
    pytest.param(lambda t, f: attention.attention_head(f.causal_lm.model, torch.tensor([[-1, 5]])),
                 ValueError, "The token id -1 is not in this model's vocabulary", id="head: a negative id"),
    pytest.param(lambda t, f: attention.attention_head(f.causal_lm.model, torch.tensor([[1.5, 2.0]])),
                 ValueError, "Token ids must be whole numbers, got a tensor of torch.float32", id="head: float ids"),
    pytest.param(lambda t, f: attention.attention_head(tiny_gpt2(), torch.arange(100)[None]),
                 ValueError, "The sequence is 100 tokens; this model reads at most 64", id="head: past the context"),

    # --- a masked LM where a causal LM belongs (notebook 2's helpers) ---
    pytest.param(lambda t, f: generation.greedy_decode(f.masked_lm.model, f.masked_lm.tokenizer, "The capital is", 3),
                 ValueError, "BertForMaskedLM does not write text left to right", id="decode: a masked LM"),
    pytest.param(lambda t, f: sampling.explore(f.masked_lm.model, f.masked_lm.tokenizer, "The capital is",
                                               new_tokens=3),
                 ValueError, "does not write text left to right (a masked LM fills in blanks)",
                 id="explore: a masked LM"),
    pytest.param(lambda t, f: sampling.filtered_probabilities(torch.zeros(5, device="meta")),
                 ValueError, "logits are on the meta device, which holds no values", id="filter: logits on meta"),

    # --- utils.support.validation: the doors rank_of, the live plot, chunk_dataset and kv_cache call ---
    pytest.param(lambda t, f: check_rank_request(f.masked_lm.tokenizer, torch.full((10,), 0.1)),
                 ValueError, "probabilities must be one mask's 30,522 probabilities (one real number per vocabulary "
                 "entry of this tokenizer), got shape (10,)", id="rank door: another size"),
    pytest.param(lambda t, f: check_rank_request(None, torch.full((10,), 0.1)),
                 ValueError, "tokenizer must be a loaded tokenizer", id="rank door: no tokenizer"),
    pytest.param(lambda t, f: check_rank_request(f.masked_lm.tokenizer, torch.full((30522,), float("nan"))),
                 ValueError, "got no real numbers (NaN, infinite", id="rank door: NaN probabilities"),
    pytest.param(lambda t, f: check_live_prompt(tiny_gpt2(), [1] * 5000, 12),
                 ValueError, "The sequence is 5,000 tokens; this model reads at most 64",
                 id="live plot door: a long prompt"),
    pytest.param(lambda t, f: check_batch_size("10"),
                 ValueError, "batch_size must be a whole number", id="chunking door: batch size as text"),
    pytest.param(lambda t, f: check_causal_lm(f.masked_lm.model),
                 ValueError, "does not write text left to right", id="KV cache door: a masked LM"),

    # --- utils.models: the loaders' options ---
    pytest.param(lambda t, f: models_module.load_masked_lm("bert-base-uncased", attn_implementation="nonsense"),
                 ValueError, "attn_implementation='nonsense' is not one transformers runs here; use one of eager, sdpa",
                 id="load: an unknown attention implementation"),

    # --- utils.fill_mask (notebook 1) ---
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, ""),
                 ValueError, "The text is empty", id="fill_mask: empty text"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, ["Paris is the [MASK].",
                                                                                   "A [MASK]."]),
                 ValueError, "The text must be text (a str in quotes), got list (one text at a time)",
                 id="fill_mask: a list of texts"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, b"A [MASK]."),
                 ValueError, "got bytes", id="fill_mask: bytes"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, "No blank here."),
                 ValueError, "has no [MASK]", id="fill_mask: no mask"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, "A <mask> here."),
                 ValueError, "another model's mask token", id="fill_mask: another model's mask"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, "A [MASK] here.", top_k=0),
                 ValueError, "top_k must be", id="fill_mask: top_k 0"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.masked_lm.tokenizer, "word " * 600 + "[MASK]."),
                 ValueError, "reads at most 512", id="fill_mask: text too long"),
    pytest.param(lambda t, f: fill_mask(None, f.masked_lm.tokenizer, "A [MASK]."),
                 ValueError, "model must be a loaded model", id="fill_mask: model None"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, None, "A [MASK]."),
                 ValueError, "tokenizer must be a loaded tokenizer", id="fill_mask: tokenizer None"),
    pytest.param(lambda t, f: fill_mask(f.masked_lm.model, f.gpt2_tokenizer, "A [MASK]."),
                 ValueError, "belong to different models", id="fill_mask: GPT-2's tokenizer with BERT"),

    # --- utils.chunking: chunk_dataset (notebook 3) ---
    pytest.param(lambda t, f: chunk_dataset(texts("a b"), f.gpt2_tokenizer, 1),
                 ValueError, "context_length must be a whole number of at least 2",
                 id="chunks: context of 1 token"),
    pytest.param(lambda t, f: chunk_dataset(texts("hello " * 50), f.gpt2_tokenizer, "128"),
                 ValueError, "context_length must be a whole number of at least 2, got '128'",
                 id="chunks: context length as text"),
    pytest.param(lambda t, f: chunk_dataset(texts("hello " * 50), f.gpt2_tokenizer, 128.5),
                 ValueError, "got 128.5", id="chunks: context length 128.5"),
    pytest.param(lambda t, f: chunk_dataset(texts("a b"), f.gpt2_tokenizer, 128, strategy="zip"),
                 ValueError, "Unknown chunking strategy", id="chunks: unknown strategy"),
    pytest.param(lambda t, f: chunk_dataset(texts("a b c d e f", None), f.gpt2_tokenizer, 2),
                 ValueError, "1 row(s) of the 'text' column are None", id="chunks: a None text"),
    pytest.param(lambda t, f: chunk_dataset(texts(1, 2), f.gpt2_tokenizer, 2),
                 ValueError, "The 'text' column must hold text, but holds int64", id="chunks: a number column"),
    pytest.param(lambda t, f: chunk_dataset({"train": []}, f.gpt2_tokenizer, 2),
                 ValueError, "chunk_dataset takes one datasets.Dataset split", id="chunks: a DatasetDict"),

    # --- utils.wikipedia: load_wikipedia_subset and corpus_stats (notebook 3) ---
    pytest.param(lambda t, f: load_wikipedia_subset(0, 5),
                 ValueError, "n_train must be a whole", id="subset: no training articles"),
    pytest.param(lambda t, f: load_wikipedia_subset(-3, 5),
                 ValueError, "n_train must be", id="subset: negative training articles"),
    pytest.param(lambda t, f: load_wikipedia_subset("50", 5),
                 ValueError, "got '50'", id="subset: article count as text"),
    pytest.param(lambda t, f: load_wikipedia_subset(True, 5),
                 ValueError, "n_train must be", id="subset: article count True"),
    pytest.param(lambda t, f: load_wikipedia_subset(5, -1),
                 ValueError, "n_valid must be", id="subset: negative validation"),
    pytest.param(lambda t, f: load_wikipedia_subset(5, 2.5),
                 ValueError, "n_valid must be", id="subset: fractional validation"),
    pytest.param(lambda t, f: load_wikipedia_subset(5, 5, seed=-1),
                 ValueError, "seed must be", id="subset: negative seed"),
    pytest.param(lambda t, f: load_wikipedia_subset(100, 50, source="sample"),
                 ValueError, "holds only 106", id="subset: more than the sample holds"),
    pytest.param(lambda t, f: load_wikipedia_subset(2, 2, source=" "),
                 ValueError, "source must be", id="subset: empty source"),
    pytest.param(lambda t, f: corpus_stats(None),
                 ValueError, "corpus_stats takes a list of texts", id="corpus_stats: None"),
    pytest.param(lambda t, f: corpus_stats([None]),
                 ValueError, "Text 0 is a NoneType", id="corpus_stats: a None text"),
    pytest.param(lambda t, f: corpus_stats("one article"),
                 ValueError, "got str", id="corpus_stats: one str"),

    # --- utils.data.mediawiki: damaged dumps, read by load_wikipedia_subset ---
    pytest.param(lambda t, f: load_wikipedia_subset(1, 0, source=dump(t, "noid.xml", PAGE.replace(b"<id>1</id>", b""))),
                 WikipediaError, "the page 'A' has no <id>", id="subset: a dump page without an id"),
    pytest.param(lambda t, f: load_wikipedia_subset(1, 0, source=dump(t, "emptyid.xml",
                                                                      PAGE.replace(b"<id>1</id>", b"<id></id>"))),
                 WikipediaError, "the page 'A' has no <id>", id="subset: a dump page with an empty id"),
    pytest.param(lambda t, f: load_wikipedia_subset(2, 2, source=str(t / "no.xml.bz2")),
                 WikipediaError, "No dump at", id="subset: missing dump file"),
    pytest.param(lambda t, f: load_wikipedia_subset(2, 2, source=str(write(t / "d.xml", "hello"))),
                 WikipediaError, "not a valid MediaWiki XML dump", id="subset: not XML"),
    pytest.param(lambda t, f: load_wikipedia_subset(2, 2, source=str(write(
                     t / "d.xml.bz2", bz2.compress(b"<mediawiki>" + b"<page>x</page>" * 500)[:-40], "wb"))),
                 WikipediaError, "the .bz2 is truncated", id="subset: truncated .bz2"),
    pytest.param(lambda t, f: load_wikipedia_subset(2, 2, source=str(write(t / "d.xml.bz2", b"plain text", "wb"))),
                 WikipediaError, "could not be decompressed", id="subset: not bz2 at all"),
    pytest.param(lambda t, f: load_wikipedia_subset(1, 0, source=str(write(t / "d.xml", "<mediawiki></mediawiki>"))),
                 WikipediaError, "holds no main-namespace articles", id="subset: a dump with no articles"),

    # --- utils.models: loading models and tokenizers ---
    pytest.param(lambda t, f: models_module.load_tokenizer(""),
                 ValueError, "Give a Hub model name", id="load: empty name"),
    pytest.param(lambda t, f: models_module.load_causal_lm(None),
                 ValueError, "Give a Hub model name", id="load: name None"),
    pytest.param(lambda t, f: models_module.load_tokenizer(str(t)),
                 HubError, "lacks a vocabulary", id="load: empty folder as tokenizer"),
    pytest.param(lambda t, f: (f.causal_lm.tokenizer.save_pretrained(t / "tok"),
                               models_module.load_causal_lm(str(t / "tok"))),
                 HubError, "lacks config.json, model.safetensors", id="load: tokenizer-only folder as model"),
    pytest.param(lambda t, f: models_module.load_masked_lm("gpt2"),
                 ValueError, "No masked lm called 'gpt2'", id="load: a masked LM named gpt2"),
    pytest.param(lambda t, f: models_module.load_causal_lm("no-such/model"),
                 ValueError, "has no offline stand-in", id="load: unknown model offline"),

    # --- utils.offline.assets and utils.offline.cache: the asset cache ---
    pytest.param(lambda t, f: assets.asset_dir("no-such-asset"),
                 AssetError, "Unknown asset", id="assets: unknown asset"),
    pytest.param(lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_CACHE", str(write(t / "f"))),
                               assets.asset_dir("gpt2-tokenizer")),
                 AssetError, "is a file, not a folder", id="env: cache is a file"),
    pytest.param(lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_CACHE", str(write(t / "f") / "c")),
                               assets.build("wikipedia-sample")),
                 AssetError, "Cannot create the asset cache", id="env: cache under a file"),
    pytest.param(lambda t, f: (f.monkeypatch.setattr(packages, "find_archive",
                                                     lambda archive: (str(write(t / "in" / "a.whl", "x")), None)),
                               f.monkeypatch.setattr(packages, "_copy_at_most", no_space),
                               packages.download(assets.WIKI_SAMPLE.archive, t / "dl")),
                 AssetError, "No space left in", id="download: no space left"),
    pytest.param(lambda t, f: cache.build_folder("x", tokenizers_disk_full, root=t / "cache"),
                 AssetError, "Could not build 'x' in", id="build: the disk fills while building"),
    pytest.param(lambda t, f: (f.monkeypatch.setattr(cache.tempfile, "mkdtemp", read_only),
                               cache.build_folder("x", tokenizers_disk_full, root=t / "cache")),
                 AssetError, "(Read-only file system)", id="build: a read-only cache"),
    pytest.param(lambda t, f: exit(assets.main(["no-such-asset"])),
                 SystemExit, "Unknown asset", id="assets CLI: unknown asset"),
    pytest.param(lambda t, f: (f.monkeypatch.setenv("LLM_TUTORIAL_CACHE", str(t / "c")),
                               f.monkeypatch.setattr(cache.tempfile, "mkdtemp", read_only),
                               exit(assets.main(["gpt2-tokenizer"]))),
                 SystemExit, "Read-only file system", id="assets CLI: a read-only cache"),

    # --- utils.settings, utils.profiles, utils.device: settings and environment variables ---
    pytest.param(lambda t, f: settings.setting("PROFILES"),
                 KeyError, "Unknown setting 'PROFILES'", id="setting: unknown name"),
    pytest.param(lambda t, f: profiles.choose_profile(profiles.PRETRAINING, "huge"),
                 ValueError, "Unknown profile 'huge'", id="profile: unknown name"),
    pytest.param(lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_PROFILE", " huge "),
                               profiles.choose_profile(profiles.PRETRAINING)),
                 ValueError, "(from $LLM_TUTORIAL_PROFILE)", id="env: unknown profile"),
    pytest.param(lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_DEVICE", "tpu"), device_module.pick_device()),
                 ValueError, "is not a device", id="env: a device that does not exist"),
    pytest.param(lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_DEVICE", "cuda:0"), device_module.pick_device()),
                 ValueError, "no cuda device is available", id="env: CUDA on a machine without it"),
    pytest.param(lambda t, f: (os.environ.__setitem__("LLM_TUTORIAL_WIDGETS", "maybe"), settings.widgets_on()),
                 ValueError, "use on or off", id="env: widgets maybe"),
    pytest.param(lambda t, f: (f.monkeypatch.setenv("LLM_TUTORIAL_WIDGETS", "maybe"),
                               profiles.choose_profile(profiles.CAUSAL_LM)),
                 ValueError, "$LLM_TUTORIAL_WIDGETS='maybe': use on or off.",
                 id="env: widgets maybe, read by every notebook's profile"),
    pytest.param(lambda t, f: (f.monkeypatch.setenv("LLM_TUTORIAL_OUTPUT", str(write(t / "file") / "out")),
                               profiles.choose_profile(profiles.PRETRAINING)),
                 ValueError, "$LLM_TUTORIAL_OUTPUT=", id="env: notebook 3's output folder cannot be written"),

    # --- utils.training_view: the live loss plot and loss_curves (notebook 3) ---
    pytest.param(lambda t, f: LiveLossPlot(f.gpt2_tokenizer, "hello"),
                 ValueError, "prompt_ids must be a non-empty list of token ids", id="live plot: prompt as text"),
    pytest.param(lambda t, f: LiveLossPlot(f.gpt2_tokenizer, []),
                 ValueError, "prompt_ids must be", id="live plot: empty prompt"),
    pytest.param(lambda t, f: LiveLossPlot(f.gpt2_tokenizer, [10**6]).on_train_begin(None, None, None,
                                                                                     model=f.causal_lm.model),
                 ValueError, "encode the prompt with the model's own tokenizer",
                 id="live plot: an id past the vocabulary"),
    pytest.param(lambda t, f: LiveLossPlot(f.gpt2_tokenizer, [1] * 5000).on_train_begin(None, None, None,
                                                                                        model=tiny_gpt2()),
                 ValueError, "The sequence is 5,000 tokens; this model reads at most 64",
                 id="live plot: a prompt longer than the model's context, refused as training begins"),
    pytest.param(lambda t, f: LiveLossPlot(f.gpt2_tokenizer, [1] * 60, sample_tokens=12).on_train_begin(
                     None, None, None, model=tiny_gpt2()),
                 ValueError, "with 12 new tokens that exceeds the model's context window of 64",
                 id="live plot: a prompt and its sample past the model's context, refused as training begins"),
    pytest.param(lambda t, f: LiveLossPlot(f.gpt2_tokenizer, [1], baseline="10.8"),
                 ValueError, "baseline must be a number", id="live plot: baseline as text"),
    pytest.param(lambda t, f: loss_curves(None),
                 ValueError, "loss_curves takes trainer.state.log_history", id="loss curves: None"),
    pytest.param(lambda t, f: loss_curves([{"loss": 1.0}]),
                 ValueError, "this entry has no 'step'", id="loss curves: no step"),

    # --- python -m utils.tools.pretrain ---
    pytest.param(lambda t, f: pretrain_cli(t, "--epochs", "0"),
                 SystemExit, "must be a number above 0", id="pretrain: --epochs 0"),
    pytest.param(lambda t, f: pretrain_cli(t, "--epochs=-1"),
                 SystemExit, "got '-1'", id="pretrain: --epochs -1"),
    pytest.param(lambda t, f: pretrain_cli(t, "--epochs", "inf"),
                 SystemExit, "got 'inf'", id="pretrain: --epochs inf"),
    pytest.param(lambda t, f: pretrain_cli(t, "--epochs", "nan"),
                 SystemExit, "got 'nan'", id="pretrain: --epochs nan"),
    pytest.param(lambda t, f: pretrain_cli(t, "--epochs", "two"),
                 SystemExit, "got 'two'", id="pretrain: --epochs two"),
    pytest.param(lambda t, f: pretrain_cli(t, "--save-every", "0"),
                 SystemExit, "got '0'", id="pretrain: --save-every 0"),
    pytest.param(lambda t, f: pretrain_cli(t, "--save-every", "2.5"),
                 SystemExit, "must be a whole number above 0 (e.g. 50), got '2.5'", id="pretrain: --save-every 2.5"),
    pytest.param(lambda t, f: pretrain_module.main(["--profile", "huge"]),
                 SystemExit, "Unknown profile 'huge'", id="pretrain: unknown profile"),
    pytest.param(lambda t, f: pretrain_module.main(["--profile", "", "--output-dir", str(t)]),
                 SystemExit, "--profile is empty", id="pretrain: --profile ''"),
    pytest.param(lambda t, f: pretrain_module.main(["--profile", "smoke", "--output-dir", ""]),
                 SystemExit, "--output-dir is empty", id="pretrain: --output-dir ''"),
    pytest.param(lambda t, f: pretrain_module.main(["--profile", "smoke",
                                                    "--output-dir", str(write(t / "file") / "x")]),
                 SystemExit, "cannot write to", id="pretrain: output under a file"),
    pytest.param(lambda t, f: pretrain_cli(t, "--resume"),
                 SystemExit, "holds no complete checkpoint", id="pretrain: --resume with nothing to resume"),
    pytest.param(lambda t, f: (f.monkeypatch.setenv("LLM_TUTORIAL_DEVICE", "cuda"), pretrain_cli(t)),
                 SystemExit, "but no cuda device is available here", id="pretrain: CUDA asked for, none here"),

    pytest.param(lambda t, f: (f.monkeypatch.setenv("WORLD_SIZE", "abc"), pretrain_cli(t)),
                 SystemExit, "$WORLD_SIZE='abc' is not a whole number", id="pretrain: WORLD_SIZE not a number"),
    pytest.param(lambda t, f: pretrain_cli(t, "--epochs", "1e300"),
                 SystemExit, "at most 10,000", id="pretrain: --epochs 1e300"),
    pytest.param(lambda t, f: pretrain_cli(t, "--batch-size", "100000000000000000000"),
                 SystemExit, "at most 1,048,576", id="pretrain: --batch-size 10**20"),
    pytest.param(lambda t, f: ((t / "out" / "smoke" / ".lock").mkdir(parents=True), pretrain_cli(t)),
                 SystemExit, ".lock is a folder, not a file the project wrote", id="pretrain: the lock is a folder"),
    pytest.param(lambda t, f: ((t / "out" / "smoke").mkdir(parents=True),
                               (t / "out" / "smoke" / ".lock").symlink_to(write(t / "in" / "victim", "keep")),
                               pretrain_cli(t)),
                 SystemExit, ".lock is a symbolic link", id="pretrain: the lock is a link"),
    pytest.param(lambda t, f: exit(prepare.main(["--rebuild-everything"])),
                 SystemExit, "unrecognized arguments: --rebuild-everything", id="prepare: an unknown flag"),

    # --- python -m utils.tools.slides ---
    pytest.param(lambda t, f: slides_cli(t, notebook_file(t, without_slides)),
                 SystemExit, "has no slide structure", id="slides: a notebook without slide metadata"),
    pytest.param(lambda t, f: slides_cli(t, notebook_file(t, lambda s: s[:5000])),
                 SystemExit, "is not a valid notebook (NotJSONError", id="slides: a truncated notebook"),
    pytest.param(lambda t, f: slides_cli(t, notebook_file(t, "{}")),
                 SystemExit, "is not a valid notebook", id="slides: a notebook holding {}"),
    pytest.param(lambda t, f: slides_cli(t, notebook_file(t, b"\x89PNG\r\n\x1a\n\x00\xff")),
                 SystemExit, "is not a valid notebook", id="slides: a binary notebook"),
    pytest.param(lambda t, f: slides_cli(t, notebook_file(t, lambda s: s.replace('"cell_type": "markdown"',
                                                                                 '"cell_type": "poem"', 1))),
                 SystemExit, "is not a valid notebook", id="slides: an unknown cell type"),
    pytest.param(lambda t, f: (fake_npm(t, f.monkeypatch), slides_cli(t, NOTEBOOK_1)),
                 SystemExit, "failed (code ECONNREFUSED)", id="slides: npm cannot reach its registry"),
    pytest.param(lambda t, f: exit(slides.main([str(NOTEBOOK_1), "--output", str(write(t / "file"))])),
                 SystemExit, "cannot create the output folder", id="slides: output is a file"),
    pytest.param(lambda t, f: (tampered_reveal_cache(t, f.monkeypatch), slides_cli(t, NOTEBOOK_1)),
                 SystemExit, "`make slides` (or python -m utils.tools.slides) then builds it again",
                 id="slides: cached reveal.js tampered with"),

    # --- python -m utils.data.wikipedia_beam ---
    pytest.param(lambda t, f: beam_cli(t, "--input", str(t / "none-*.xml.bz2")),
                 SystemExit, "matches no file", id="beam: a glob that matches nothing"),
    pytest.param(lambda t, f: beam_cli(t, "--input", str(t / "missing.xml.bz2")),
                 SystemExit, "matches no file", id="beam: a missing file"),
    pytest.param(lambda t, f: beam_cli(t, "--input", "x", "--num-shards", "-1"),
                 SystemExit, "--num-shards must be 0", id="beam: negative shards"),
    pytest.param(lambda t, f: beam_cli(t, "--input", dump(t, "bad.xml", PAGE.replace(b"Some", b"S\xff\xfeme"))),
                 SystemExit, "is not a valid MediaWiki XML dump", id="beam: a dump with invalid UTF-8"),
    pytest.param(lambda t, f: beam_cli(t, "--input", dump(t, "d.xml", PAGE), "--output", str(t / "in" / "d.xml")),
                 SystemExit, "is a file; give a folder", id="beam: output is the input file"),
    pytest.param(lambda t, f: beam_cli(t, "--input", empty_dumps(t, 20)),
                 SystemExit, "is empty (0 bytes), and so are 19 more", id="beam: empty input files"),
    pytest.param(lambda t, f: beam_cli(t, "--input", dump(t, "c.xml", bz2.compress(PAGE))),
                 SystemExit, "is bz2-compressed but not named .bz2", id="beam: bz2 named .xml"),
    pytest.param(lambda t, f: beam_cli(t, "--input", dump(t, "c.xml.bz2", bz2.compress(PAGE)[:30])),
                 SystemExit, "the .bz2 is truncated", id="beam: a truncated .xml.bz2"),
]


def test_the_table_is_large_and_unique():
    ids = [case.id for case in CASES]
    assert len(CASES) >= 40 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("run,kind,fragment", CASES)
def test_bad_input(run, kind, fragment, tmp_path, fixtures, monkeypatch, capsys):
    for var in ("LLM_TUTORIAL_PROFILE", "LLM_TUTORIAL_DEVICE", "LLM_TUTORIAL_WIDGETS", "LLM_TUTORIAL_CACHE"):
        present = var in os.environ
        monkeypatch.setenv(var, os.environ.get(var, ""))  # restored (or removed again) after the case
        if not present:
            monkeypatch.delenv(var)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    before = set(tmp_path.rglob("*"))
    with pytest.raises(kind) as raised:
        run(tmp_path, fixtures)
    err = capsys.readouterr().err
    message = err if kind is SystemExit else str(raised.value)
    if kind is SystemExit:
        assert raised.value.code not in (0, None), "exited with success"
        lines = [line for line in err.strip().splitlines() if not line.startswith(("usage:", "  ", "WARNING:"))]
        assert len(lines) == 1, f"expected one error line, got {err!r}"
    assert fragment in message, message
    left = {p for p in set(tmp_path.rglob("*")) - before if p.name != "f" and p.name != "file"
            and "in" not in p.relative_to(tmp_path).parts}
    written = [p for p in left if p.is_file() and p.parent.name not in ("tok",)
               and p.suffix not in (".xml", ".bz2") and not p.name.endswith(".lock")]  # a lock stays, empty
    assert not written, f"left {written}"


# ---- weak input: the right result ----------------------------------------------------------------------------------

def live_plot_with(tokenizer, history):
    """The y-range the live plot draws for ``history``."""
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
    f.monkeypatch.setattr(Dataset, "to_parquet", no_space)
    return parsed_articles(dump(t, "d.xml", PAGE), cache=t / "parsed")


def beam_run(t, f, *args):
    """(exit code, the parquet files written, what is left in the temporary folder, stdout)."""
    f.monkeypatch.setattr(tempfile, "tempdir", str((t / "tmp").resolve()))
    (t / "tmp").mkdir()
    code = beam_module.main(["--output", str(t / "out"), *args])
    return code, sorted(p.name for p in (t / "out").glob("*.parquet")), list((t / "tmp").iterdir()), \
        f.capsys.readouterr().out


HANDLED = [
    # --- utils.sampling ---
    pytest.param(lambda t, f: sampling.filtered_probabilities(torch.zeros(5), temperature=np.float32(0.7)),
                 lambda r, t: torch.allclose(r, torch.full((5,), 0.2)), id="filter: temperature as np.float32"),
    pytest.param(lambda t, f: sampling.filtered_probabilities([1.0, 2.0, 3.0], top_k=2),
                 lambda r, t: torch.allclose(r, sampling.filtered_probabilities(torch.tensor([1.0, 2.0, 3.0]),
                                                                                top_k=2)),
                 id="filter: logits as a list"),
    pytest.param(lambda t, f: [sampling.explore(f.causal_lm.model, f.causal_lm.tokenizer, "Hi", seed=seed,
                                                new_tokens=4).continuation for seed in (np.int64(3), 3)],
                 lambda r, t: r[0] == r[1], id="explore: a numpy seed samples as its int"),
    # --- utils.generation ---
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hello",
                                                       np.int64(2)),
                 lambda r, t: len(r.steps) == 2, id="decode: a numpy count"),
    pytest.param(lambda t, f: generation.greedy_decode(f.causal_lm.model, f.causal_lm.tokenizer, "Hello", 1,
                                                       candidates=10**6),
                 lambda r, t: len(r.steps[0].candidates) == r.tokenizer_size,
                 id="decode: more candidates than the vocabulary shows every token"),
    # --- numbers as numpy or exact arithmetic ---
    pytest.param(lambda t, f: [generation.continuation_log_probability(f.causal_lm.model, ids, 1)
                               for ids in ([np.int64(1), np.int64(2), np.int64(3)], [1, 2, 3])],
                 lambda r, t: r[0] == r[1], id="log-probability: numpy ids"),
    pytest.param(lambda t, f: sampling.check_settings(Decimal("0.5"), np.int64(0), Fraction(1, 1)),
                 lambda r, t: r == (0.5, 0, 1), id="settings: a Decimal temperature"),
    # --- utils.fill_mask ---
    pytest.param(lambda t, f: rank_of(f.masked_lm.tokenizer, torch.full((len(f.masked_lm.tokenizer),), 1e-5),
                                      "paris" * 20000),
                 lambda r, t: "is not in this model's vocabulary (it reads as [UNK])" in r,
                 id="rank_of: a 100,000-letter word"),
    # --- utils.training_view ---
    pytest.param(lambda t, f: live_plot_with(f.gpt2_tokenizer, [{"step": 1, "loss": float("nan")},
                                                                {"step": 1, "eval_loss": float("inf")},
                                                                {"step": 2, "loss": 5.0}]),
                 # from half a nat under the lowest finite loss, rounded down, to 8% over the highest
                 lambda r, t: r == (4.0, 5.0 * 1.08),
                 id="live plot: NaN and infinite losses are left out of the range"),
    # --- utils.data.mediawiki ---
    pytest.param(parse_on_a_full_disk,
                 lambda r, t: r["title"] == ["A"] and not list((t / "parsed").rglob("*.parquet")),
                 id="parse cache: a full disk gives the articles and caches nothing"),
    # --- utils.offline.cache ---
    pytest.param(lambda t, f: cache_with_manifest(t, {"format": cache.BUILD_FORMAT}),
                 lambda r, t: r is None, id="cached folder: a manifest without files is not cached"),
    pytest.param(lambda t, f: cache_with_manifest(t, {"format": cache.BUILD_FORMAT, "files": ["tokenizer.json"]}),
                 lambda r, t: r is None, id="cached folder: a manifest with its files as a list is not cached"),
    # --- python -m utils.data.wikipedia_beam ---
    pytest.param(lambda t, f: beam_run(t, f, "--input", dump(t, "d.xml", PAGE), "--num-shards", "30"),
                 lambda r, t: r[0] == 0 and len(r[1]) == 1 and "1 articles" in r[3],
                 id="beam: more shards than articles writes one shard"),
    pytest.param(lambda t, f: beam_run(t, f, "--input", dump(t, "d.xml", PAGE)),
                 lambda r, t: r[0] == 0 and r[2] == [], id="beam: no temporary folders left"),
]


@pytest.mark.parametrize("run,check", HANDLED)
def test_handled_input(run, check, tmp_path, fixtures, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert check(run(tmp_path, fixtures), tmp_path)
