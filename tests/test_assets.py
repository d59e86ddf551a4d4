"""The offline assets reproduce the real tokenizers' ids, and the cache refuses damaged files."""

import bz2
import json
import shutil

import pytest

from utils.offline import assets
from utils.wikipedia import sample_articles

# Figures printed by the original tutorial with the Hub's gpt2 / bert-base-uncased tokenizers.
SWIMMING = "Swimming at the beach is"
SWIMMING_IDS = [10462, 27428, 379, 262, 10481, 318]
LINCOLN = "Abraham Lincoln ( ; February 12, 1809\u00a0– April 15, 1865"
LINCOLN_IDS = [4826, 13220, 12406, 357, 2162, 3945, 1105, 11, 1248, 2931, 1849, 1906, 3035, 1315, 11, 47801]
CHOCOLATES_IDS = [101, 2166, 2003, 2066, 1037, 103, 1997, 7967, 2015, 1012, 102]


def test_gpt2_tokenizer_reproduces_the_hub_ids(gpt2_tokenizer):
    assert gpt2_tokenizer(SWIMMING)["input_ids"] == SWIMMING_IDS
    assert gpt2_tokenizer(LINCOLN)["input_ids"] == LINCOLN_IDS
    assert gpt2_tokenizer.decode([257]) == " a"


def test_gpt2_tokenizer_sizes(gpt2_tokenizer):
    assert len(gpt2_tokenizer) == 50257
    assert gpt2_tokenizer.eos_token_id == gpt2_tokenizer.bos_token_id == 50256
    assert gpt2_tokenizer.model_max_length == 1024
    merges = (assets.asset_dir("gpt2-tokenizer") / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0].startswith("#version") and len(merges) - 1 == 50000
    vocab = json.loads((assets.asset_dir("gpt2-tokenizer") / "vocab.json").read_text())
    assert len(vocab) == 50257 and vocab["<|endoftext|>"] == 50256


def test_bert_tokenizer_reproduces_the_hub_ids(bert_tokenizer):
    text = f"Life is like a {bert_tokenizer.mask_token} of chocolates."
    enc = bert_tokenizer(text)
    assert enc["input_ids"] == CHOCOLATES_IDS
    assert enc["token_type_ids"] == [0] * 11 and enc["attention_mask"] == [1] * 11
    assert bert_tokenizer.decode([7967]) == "chocolate"
    assert len(bert_tokenizer) == 30522 and bert_tokenizer.model_max_length == 512


def test_bert_tokenizer_has_no_baked_in_truncation_or_padding(bert_tokenizer):
    ids = bert_tokenizer("word " * 300)["input_ids"]
    assert len(ids) == 302  # [CLS] + 300 + [SEP]: the packaged tokenizer.json cut at 128 and padded


@pytest.fixture(scope="module")
def wiki_text():
    path = assets.asset_dir("wikipedia-sample") / assets.WIKI_SAMPLE.name
    with bz2.open(path, "rt", encoding="utf-8") as f:
        return f.read(300_000)


@pytest.fixture(scope="module")
def articles():
    return sample_articles()["text"][:20]


def test_gpt2_decode_round_trips_on_wikipedia(gpt2_tokenizer, articles):
    for text in articles:
        assert gpt2_tokenizer.decode(gpt2_tokenizer(text, verbose=False)["input_ids"]) == text


def test_bert_decode_round_trips_on_wikipedia(bert_tokenizer, articles):
    normalize = bert_tokenizer.backend_tokenizer.normalizer.normalize_str  # lower-case, strip accents
    checked = 0
    for text in articles:
        ids = bert_tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        if bert_tokenizer.unk_token_id in ids:  # a character outside the vocabulary: not reversible
            continue
        # WordPiece decoding re-spaces punctuation, so compare with whitespace removed
        assert "".join(bert_tokenizer.decode(ids).split()) == "".join(normalize(text).split())
        checked += 1
    assert checked >= 0.9 * len(articles)


def test_smollm2_is_saved_as_safetensors_with_its_metadata():
    info = assets.manifest("smollm2-135m")
    assert "model.safetensors" in info["files"]
    assert not any(f.endswith((".bin", ".gguf", ".pt")) for f in info["files"])
    assert 130e6 < info["meta"]["parameters"] < 140e6
    config = json.loads((assets.asset_dir("smollm2-135m") / "config.json").read_text())
    assert config.get("quantization_config") is None


def test_wikipedia_sample_is_the_raw_dump(wiki_text):
    assert wiki_text.lstrip().startswith("<mediawiki")
    assert "<page>" in wiki_text


# ---- the cache -----------------------------------------------------------------------------


@pytest.fixture
def cache_copy(tmp_path):
    """A private cache holding a copy of the built gpt2 tokenizer."""
    shutil.copytree(assets.asset_dir("gpt2-tokenizer"), tmp_path / "gpt2-tokenizer")
    return tmp_path


def test_a_corrupted_file_of_the_same_size_is_detected(cache_copy):
    vocab = cache_copy / "gpt2-tokenizer" / "vocab.json"
    data = bytearray(vocab.read_bytes())
    data[100] ^= 1
    vocab.write_bytes(bytes(data))
    with pytest.raises(assets.AssetError, match="corrupted.*vocab.json.*rebuild"):
        assets.verify("gpt2-tokenizer", root=cache_copy)


def test_a_truncated_file_is_detected_on_use(cache_copy):
    merges = cache_copy / "gpt2-tokenizer" / "merges.txt"
    merges.write_bytes(merges.read_bytes()[:1000])
    with pytest.raises(assets.AssetError, match="corrupted"):
        assets.asset_dir("gpt2-tokenizer", root=cache_copy)


def test_a_tokenizer_edited_together_with_its_manifest_is_caught(cache_copy):
    """A merge rule changed and the manifest re-hashed to match: the checksums pinned in code still differ."""
    import json

    from utils.offline.cache import sha256_of

    folder = cache_copy / "gpt2-tokenizer"
    merges = folder / "merges.txt"
    lines = merges.read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    merges.write_text("".join(lines))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["merges.txt"] = {"size": merges.stat().st_size, "sha256": sha256_of(merges)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for use in (lambda: assets.asset_dir("gpt2-tokenizer", root=cache_copy),
                lambda: assets.verify("gpt2-tokenizer", root=cache_copy)):
        with pytest.raises(assets.AssetError, match="does not match the checksums pinned in utils/offline/assets.py"):
            use()


def test_every_deterministic_asset_matches_its_pinned_checksums():
    for name, pinned in assets.PINNED_FILES.items():
        assert {rel: info["sha256"] for rel, info in assets.manifest(name)["files"].items()} == pinned, name


def test_a_verified_asset_is_not_rebuilt(cache_copy, monkeypatch, capsys):
    monkeypatch.setattr(assets, "build", lambda *a, **k: pytest.fail("rebuilt a verified asset"))
    assets.ensure_all(["gpt2-tokenizer"], root=cache_copy)
    assert "verified" in capsys.readouterr().out


def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    def half_build(src, out):
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(assets, "fetch", lambda specs, work: {})
    monkeypatch.setitem(assets.ASSETS, "broken", assets.Asset("broken", (), half_build))
    with pytest.raises(RuntimeError, match="interrupted"):
        assets.build("broken", root=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [".broken.lock"]  # the build's lock file, empty and unlocked
    with pytest.raises(assets.AssetError, match="not built yet"):
        assets.asset_dir("broken", root=tmp_path, build_missing=False)


def test_an_asset_built_by_an_older_recipe_is_rebuilt(tmp_path, monkeypatch, capsys):
    builds = []

    def make(src, out):
        builds.append(1)
        (out / "weights.txt").write_text(f"build {len(builds)}")
        return {"size": 1}

    monkeypatch.setattr(assets, "fetch", lambda specs, work: {})
    monkeypatch.setitem(assets.ASSETS, "toy", assets.Asset("toy", (), make))
    first = assets.asset_dir("toy", root=tmp_path)
    assert assets.manifest("toy", root=tmp_path)["meta"] == {"size": 1, "recipe_version": 1}
    assert assets.asset_dir("toy", root=tmp_path) == first and len(builds) == 1  # same recipe: kept
    monkeypatch.setitem(assets.ASSETS, "toy", assets.Asset("toy", (), make, recipe=2))
    with pytest.raises(assets.AssetError, match="built by an older recipe"):
        assets.asset_dir("toy", root=tmp_path, build_missing=False)
    capsys.readouterr()
    assert (assets.asset_dir("toy", root=tmp_path) / "weights.txt").read_text() == "build 2"
    assert "built by an older recipe of this project; rebuilding it" in capsys.readouterr().out
    assert assets.manifest("toy", root=tmp_path)["meta"]["recipe_version"] == 2 and len(builds) == 2
    assets.ensure_all(["toy"], root=tmp_path)  # now current: verified, not rebuilt
    assert len(builds) == 2


def test_unknown_asset_lists_the_known_ones():
    with pytest.raises(assets.AssetError, match="Unknown asset 'nope'. Available: .*gpt2-tokenizer"):
        assets.asset_dir("nope")


def test_the_masked_lm_stand_in_says_how_long_it_takes_here_after_its_first_steps(monkeypatch, capsys):
    """Its build is minutes on a laptop CPU, and how many depends on the CPU: after its first steps it says how
    long the rest takes on this machine (its progress bar keeps that estimate up to date)."""
    from types import SimpleNamespace

    from utils.offline import masked_lm_stand_in as stand_in

    clock = iter([100.0, 100.0 + 5 * 2.0])  # the first timed step starts at 100 s; five steps of 2 s follow
    monkeypatch.setattr(stand_in, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    progress = stand_in._Progress()
    state = SimpleNamespace(max_steps=stand_in.STEPS, global_step=0)
    progress.on_train_begin(None, state, None)
    for step in range(1, 2 + stand_in.TIMED_STEPS):
        state.global_step = step
        progress.on_step_end(None, state, None)
    progress.on_train_end(None, state, None)
    left = stand_in.time_left(2.0, stand_in.STEPS - 1 - stand_in.TIMED_STEPS)
    assert f"takes {stand_in.about(left)} more here: its first steps took 2.0 s each" in capsys.readouterr().out
    assert stand_in.about(left) == "about 10 minutes"  # 294 steps and the scoring, at 2 s a step
    assert stand_in.about(30) == "under a minute" and stand_in.about(61) == "about 1 minute"


def test_ctrl_c_during_a_build_is_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(assets, "ensure_all", interrupted)
    assert assets.main([]) == 130
    assert capsys.readouterr().err.strip() == assets.INTERRUPTED
