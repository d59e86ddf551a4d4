"""The chunked causal-LM loss equals the model's own loss, with the same gradients, and holds far less."""

import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForLanguageModeling, GPT2Config, Trainer

from utils import pretraining
from utils.chunked_loss import causal_lm_loss, megabytes_kept_for_backward

VOCAB = 1_000


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_layer=2, n_embd=64, n_head=2, bos_token_id=0,
                        eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return pretraining.new_gpt2(config)


def batch(seed: int = 1, ignored: bool = True):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (3, 32), generator=generator)
    labels = ids.clone()
    if ignored:
        labels[0, 5:9] = -100  # as the collator marks padding
    return ids, labels


def both_losses(model, ids, labels, chunk, num_items=None, autocast=False):
    """(model's loss, its gradients), (chunked loss, its gradients)."""
    results = []
    for chunked in (False, True):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            if chunked:
                hidden = model.transformer(ids).last_hidden_state
                loss = causal_lm_loss(hidden, model.lm_head.weight, labels, num_items, chunk=chunk)
            else:
                extra = {} if num_items is None else {"num_items_in_batch": num_items}
                loss = model(input_ids=ids, labels=labels, **extra).loss
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    return results


@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_fp32_loss_and_every_gradient_match_the_models(chunk):
    model = tiny_gpt2()
    (ref, ref_grads), (ours, grads) = both_losses(model, *batch(), chunk)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    assert ref_grads.keys() == grads.keys() and len(grads) > 10
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_bf16_autocast_matches_within_bf16_rounding():
    model = tiny_gpt2()
    (ref, ref_grads), (ours, grads) = both_losses(model, *batch(), chunk=16, autocast=True)
    torch.testing.assert_close(ours, ref, rtol=4e-3, atol=4e-3)
    for name in grads:
        scale = ref_grads[name].abs().max()
        assert (grads[name] - ref_grads[name]).abs().max() <= 2 ** -7 * scale, name  # bf16 keeps 8 bits


def test_num_items_in_batch_divides_the_sum_as_the_model_does():
    model = tiny_gpt2()
    (ref, _), (ours, _) = both_losses(model, *batch(), chunk=10, num_items=torch.tensor(50))
    torch.testing.assert_close(ours, ref)
    (plain, _), _ = both_losses(model, *batch(), chunk=10)
    assert not torch.allclose(ref, plain)  # 50 is not the scored count: the divisor really changed the loss


def test_without_gradients_only_the_loss_is_computed():
    model = tiny_gpt2()
    ids, labels = batch(ignored=False)
    with torch.no_grad():
        ours = causal_lm_loss(model.transformer(ids).last_hidden_state, model.lm_head.weight, labels, chunk=5)
        ref = model(input_ids=ids, labels=labels).loss
    assert not ours.requires_grad
    torch.testing.assert_close(ours, ref)


def test_only_the_two_gradients_are_kept_for_backward():
    model = tiny_gpt2()
    ids, labels = batch()
    params = list(model.parameters())
    hidden, body = megabytes_kept_for_backward(lambda: model.transformer(ids).last_hidden_state, params)
    _, full = megabytes_kept_for_backward(lambda: model(input_ids=ids, labels=labels).loss, params)
    _, chunked = megabytes_kept_for_backward(
        lambda: causal_lm_loss(model.transformer(ids).last_hidden_state, model.lm_head.weight, labels, chunk=8),
        params)
    mb = 4 / 2**20  # per fp32 number
    assert full - body >= ids.numel() * VOCAB * mb  # the model's loss keeps (at least) a tensor as large as the logits
    # the chunked loss keeps the gradients for the hidden state and the output layer, nothing vocabulary x positions
    assert chunked - body == pytest.approx(hidden.numel() * mb + model.lm_head.weight.numel() * mb)


@pytest.mark.parametrize("chunk", [0, -1, 2.5, True, "256"])
def test_a_bad_chunk_is_refused(chunk):
    model = tiny_gpt2()
    ids, labels = batch()
    with pytest.raises(ValueError, match="chunk must be a whole number"):
        causal_lm_loss(model.transformer(ids).last_hidden_state, model.lm_head.weight, labels, chunk=chunk)


def test_mismatched_shapes_are_refused():
    model = tiny_gpt2()
    ids, labels = batch()
    hidden = model.transformer(ids).last_hidden_state
    with pytest.raises(ValueError, match="Expected hidden"):
        causal_lm_loss(hidden, model.lm_head.weight, labels[:, :-1])


def _trainers(tmp_path, gpt2_tokenizer, bf16=False):
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    ids = torch.randint(0, VOCAB, (16, 32), generator=torch.Generator().manual_seed(3)).tolist()
    chunks = DatasetDict(train=Dataset.from_dict({"input_ids": ids}), valid=Dataset.from_dict({"input_ids": ids}))
    profile = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 0, "eval_every": 1}
    made = []
    for kind in (Trainer, pretraining.ChunkedLossTrainer):
        args = pretraining.training_arguments(profile, tmp_path / kind.__name__, "cpu", bf16=bf16)
        made.append(kind(model=tiny_gpt2(), args=args, train_dataset=chunks["train"], eval_dataset=chunks["valid"],
                         data_collator=DataCollatorForLanguageModeling(gpt2_tokenizer, mlm=False)))
    return made


def test_the_trainer_trains_and_evaluates_like_the_plain_trainer(tmp_path, gpt2_tokenizer):
    plain, chunked = _trainers(tmp_path, gpt2_tokenizer)
    assert plain.evaluate()["eval_loss"] == pytest.approx(chunked.evaluate()["eval_loss"], rel=1e-5)
    plain.train(), chunked.train()
    losses = [[h["loss"] for h in t.state.log_history if "loss" in h] for t in (plain, chunked)]
    assert len(losses[0]) == 2 and losses[0] == pytest.approx(losses[1], rel=1e-4)
    for (name, a), b in zip(plain.model.named_parameters(), chunked.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert chunked.model.lm_head.weight is chunked.model.transformer.wte.weight  # still one tied matrix


def test_under_bf16_the_trainer_projects_in_bf16_like_the_models_own_loss(tmp_path, gpt2_tokenizer, monkeypatch):
    """The Trainer autocasts only the model's forward; the chunked loss runs outside it and must be autocast too
    (in fp32 the output layer took twice as long), with a loss within bf16 rounding of the plain Trainer's."""
    seen = []
    real = pretraining.causal_lm_loss

    def recording(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pretraining, "causal_lm_loss", recording)
    plain, chunked = _trainers(tmp_path, gpt2_tokenizer, bf16=True)
    plain.train(), chunked.train()
    assert seen and set(seen) == {torch.bfloat16}
    losses = [[h["loss"] for h in t.state.log_history if "loss" in h] for t in (plain, chunked)]
    assert losses[0] == pytest.approx(losses[1], rel=2e-2)
