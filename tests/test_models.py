"""Loaders fall back to the offline stand-ins quickly, say so in one line, and refuse unknown names."""

import time

import pytest
import torch

from utils import models
from utils.offline import hub


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty Hub cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: pytest.fail("asked the Hub while offline"))


def test_tokenizer_falls_back_fast_and_says_so(offline, capsys):
    started = time.perf_counter()
    tok = models.load_tokenizer("gpt2")
    elapsed = time.perf_counter() - started
    assert tok("Swimming at the beach is")["input_ids"] == [10462, 27428, 379, 262, 10481, 318]
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Tokenizer: gpt2 tokenizer (rebuilt offline")
    assert "HF_HUB_OFFLINE=1" in out[0]
    assert elapsed < 5, f"offline fallback took {elapsed:.1f} s"


def test_causal_lm_stand_in_is_a_working_language_model(offline, capsys):
    loaded = models.load_causal_lm("gpt2")
    assert loaded.stand_in and "SmolLM2-135M" in loaded.name
    line = capsys.readouterr().out.strip()
    assert line.startswith("Model: SmolLM2-135M-Instruct") and "offline stand-in for gpt2" in line
    tok, model = loaded.tokenizer, loaded.model
    sentence = tok("The capital of France is Paris, and the capital of Germany is Berlin.", return_tensors="pt")
    ids = sentence["input_ids"]
    shuffled = ids[:, torch.randperm(ids.shape[1], generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        real = model(ids, labels=ids).loss.exp().item()
        scrambled = model(shuffled, labels=shuffled).loss.exp().item()
    assert real < 30 < scrambled, (real, scrambled)  # a working LM finds real English far likelier


def test_unknown_names_list_what_is_available(offline):
    with pytest.raises(ValueError, match="No causal lm called 'bert-base-uncased' here. Available: gpt2"):
        models.load_causal_lm("bert-base-uncased")
    with pytest.raises(ValueError, match="has no offline stand-in. Offline, use one of: bert-base-uncased, gpt2"):
        models.load_causal_lm("no-such-model-xyz")


def test_a_silent_hub_is_decided_within_the_timeout(monkeypatch):
    import socket

    import huggingface_hub

    with socket.socket() as server:  # accepts connections on loopback but never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        started = time.perf_counter()
        assert hub.reachable("gpt2", timeout=1.0) is False
        assert time.perf_counter() - started < 5


def test_masked_lm_stand_in_fills_blanks(offline, capsys):
    from utils.fill_mask import fill_mask
    from utils.offline import assets

    loaded = models.load_masked_lm("bert-base-uncased")
    assert loaded.stand_in and capsys.readouterr().out.startswith("Model: MiniLM-L6 masked-LM stand-in")
    assert loaded.tokenizer("Life is like a [MASK] of chocolates.")["input_ids"][5] == 103
    words = [w for w, _ in fill_mask(loaded.model, loaded.tokenizer, "She poured a cup of [MASK].")[0]]
    assert {"tea", "water", "coffee"} & set(words), words
    # notebook 1's pinned-down blank: offline too, the class sees a confident, right first guess
    (first, p), *_ = fill_mask(loaded.model, loaded.tokenizer, "Paris is the capital of [MASK].")[0]
    assert first == "france" and p > 0.3, (first, p)
    meta = assets.manifest("masked-lm-stand-in")["meta"]
    # the bar set for the stand-in: at least the prototype's 21% top-1 / 39% top-5 on held-out articles
    assert meta["held_out_top1"] >= 0.21 and meta["held_out_top5"] >= 0.39, meta
    # every picked token shown as [MASK] (no answer visible in the input): harder, so lower, and still far from 0
    assert 0.18 <= meta["masked_top1"] <= meta["held_out_top1"] and 0.33 <= meta["masked_top5"], meta


def test_loading_keeps_the_callers_progress_bar_choice(offline):
    """A notebook that turned transformers' progress bars off must not get them back from a load."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        models.load_tokenizer("gpt2")
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()
    models.load_tokenizer("gpt2")
    assert hf_logging.is_progress_bar_enabled()


def test_a_saved_model_folder_loads_back(offline, tmp_path, capsys):
    """What notebook 3's trainer.save_model writes (model + tokenizer) loads by its path, model and tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = models.load_tokenizer("gpt2")
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = models.load_causal_lm(str(tmp_path))
    assert not loaded.stand_in and loaded.model.config.n_layer == 1 and len(loaded.tokenizer) == len(tokenizer)
    assert f"Model: {tmp_path} (from a local folder)" in capsys.readouterr().out


def test_a_saved_run_loads_back_with_its_log_and_a_missing_one_says_what_to_run(tmp_path, capfd):
    """Notebook 3's session 2 reloads the first run: its model (the same weights, eval mode) and its log history."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.trainer_callback import TrainerState

    with pytest.raises(FileNotFoundError, match=r"No first run is saved in .* yet: run the first run.s training "):
        models.load_saved_run(tmp_path, "cpu")
    torch.manual_seed(0)
    saved = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50))
    saved.save_pretrained(tmp_path / "final")
    log = [{"step": 0, "eval_loss": 3.9}, {"step": 5, "loss": 3.2}, {"step": 5, "eval_loss": 3.4}]
    TrainerState(log_history=log).save_to_json(str(tmp_path / "trainer_state.json"))
    capfd.readouterr()
    model, history = models.load_saved_run(tmp_path, "cpu")
    assert capfd.readouterr().err == ""  # no progress bar in the notebook's cell
    assert history == log and not model.training and model.loss_type == "ForCausalLM"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), saved.state_dict().values()))
