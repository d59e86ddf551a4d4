"""utils.masking, behind notebook 1's exercises 7-9: a corruption is measured exactly, the collator itself passes
the statistical comparison under any seed, the answer's draws are independent of the collator's, each usual slip is
named, the batch loss is compared with the model's; and the doors of the notebook's predict-then-see cells."""

import math
import random

import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    DistilBertConfig,
    DistilBertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    RobertaConfig,
    RobertaForMaskedLM,
)

from utils.exercises import Rebuilt
from utils.masking import (
    COLLATOR_SEED,
    SEED,
    STANDARD_ERRORS,
    Corruption,
    corruption_verdict,
    loss_verdict,
    measure,
    mlm_head_verdict,
    mlm_head_weights,
    tolerances,
    training_the_top,
)

SENTENCES = ["Life is like a box of chocolates.", "You never know what you're gonna get.", "Run, Forrest, run!"]


@pytest.fixture(scope="module")
def batch_ids(bert_tokenizer):
    return bert_tokenizer(SENTENCES, padding=True, return_tensors="pt")["input_ids"]


def collator_with_seed(tokenizer, seed):
    """A right answer: the library's own corruption, under another seed than the check's."""
    collator = DataCollatorForLanguageModeling(tokenizer, seed=seed)

    def my_mask_tokens(input_ids):
        done = collator(input_ids.tolist())
        return done["input_ids"], done["labels"]
    return my_mask_tokens


def test_measure_counts_each_kind_of_position():
    original = torch.tensor([[101, 5, 6, 7, 8, 102, 0]])
    special = torch.tensor([[True, False, False, False, False, True, True]])
    inputs = torch.tensor([[101, 103, 42, 7, 8, 102, 0]])  # 5 -> [MASK], 6 -> random, 7 kept, 8 not picked
    labels = torch.tensor([[-100, 5, 6, 7, -100, -100, -100]])
    counted = measure(original, inputs, labels, special, mask_id=103)
    assert (counted.tokens, counted.picked, counted.masked, counted.random, counted.kept) == (4, 3, 1, 1, 1)
    assert (counted.special_picked, counted.wrong_labels, counted.changed_unpicked) == (0, 0, 0)
    assert counted.rates() == {"picked": 0.75, "mask": 1 / 3, "random": 1 / 3, "unchanged": 1 / 3}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_collator_under_any_seed_is_correct(bert_tokenizer, batch_ids, seed):
    said = corruption_verdict(collator_with_seed(bert_tokenizer, seed), bert_tokenizer, batch_ids, refused=())
    assert said.startswith("Correct: over ") and f"each within {STANDARD_ERRORS} standard errors of chance" in said, \
        said


def test_the_answer_and_the_collator_draw_independently(bert_tokenizer, batch_ids):
    """Under one seed, torch.rand(shape) < 0.15 picks exactly the collator's positions; the check seeds them apart."""
    assert SEED != COLLATOR_SEED
    ids = batch_ids.repeat(50, 1)
    special = torch.isin(ids, torch.tensor(bert_tokenizer.all_special_ids))
    torch.manual_seed(SEED)
    mine = (torch.rand(ids.shape) < 0.15) & ~special
    theirs = DataCollatorForLanguageModeling(bert_tokenizer, seed=COLLATOR_SEED)(ids.tolist())["labels"] != -100
    overlap = int((mine & theirs).sum()) / int(theirs.sum())
    assert 0.1 < overlap < 0.2  # about 15%, as for independent draws (1.0 under one seed)
    same_seed = DataCollatorForLanguageModeling(bert_tokenizer, seed=SEED)(ids.tolist())["labels"] != -100
    assert torch.equal(mine, same_seed)  # what the separate seeds avoid


def test_the_tolerance_is_four_standard_errors_of_two_independent_rates():
    counts = Corruption(tokens=30_000, picked=4_500, masked=3_600, random=450, kept=450, special_picked=0,
                        wrong_labels=0, changed_unpicked=0, random_ids=450)
    bounds = tolerances(counts, counts)
    assert bounds["picked"] == pytest.approx(4 * math.sqrt(0.15 * 0.85 * 2 / 30_000))
    assert bounds["mask"] == pytest.approx(4 * math.sqrt(0.8 * 0.2 * 2 / 4_500))
    assert bounds["random"] == bounds["unchanged"] == pytest.approx(4 * math.sqrt(0.1 * 0.9 * 2 / 4_500))


def test_the_check_leaves_the_callers_generators_as_they_were(bert_tokenizer, batch_ids):
    torch.manual_seed(123)
    random.seed(123)
    expected = (torch.rand(3), random.random())
    torch.manual_seed(123)
    random.seed(123)
    corruption_verdict(collator_with_seed(bert_tokenizer, 1), bert_tokenizer, batch_ids, refused=())
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]


def shifted(tokenizer, change):
    """The collator's answer, then ``change(input_ids, inputs, labels) -> (inputs, labels)``."""
    right = collator_with_seed(tokenizer, 1)
    return lambda input_ids: change(input_ids, *right(input_ids))


@pytest.mark.parametrize("change, said", [
    (lambda ids, inputs, labels: (inputs, ids.clone()), "labels must be -100 wherever a token was not picked"),
    (lambda ids, inputs, labels: (inputs, torch.where(labels == -100, labels, inputs)),
     "the label is not the original token's id"),
    (lambda ids, inputs, labels: (labels, inputs), "return (inputs, labels), in that order"),
    (lambda ids, inputs, labels: (torch.where(labels == -100, ids, 103), labels), "every picked token became [MASK]"),
    (lambda ids, inputs, labels: (inputs.float(), labels), "holds torch.float32 values"),
    (lambda ids, inputs, labels: (inputs[:1], labels), "has the shape (1, "),
    (lambda ids, inputs, labels: (inputs,), "return two tensors, (inputs, labels)"),
    (lambda ids, inputs, labels: None, "Not answered yet."),
    (lambda ids, inputs, labels: ids.fill_(103), "changed the input_ids it was given"),
], ids=["labels not -100", "labels corrupted", "swapped", "always [MASK]", "floats", "one row", "one tensor", "None",
        "in place"])
def test_each_slip_is_named(bert_tokenizer, batch_ids, change, said):
    verdict = corruption_verdict(shifted(bert_tokenizer, change), bert_tokenizer, batch_ids, refused=())
    assert said in verdict, verdict


def test_an_unpicked_token_that_changes_is_named(bert_tokenizer, batch_ids):
    def change(ids, inputs, labels):
        inputs = inputs.clone()
        inputs[(labels == -100) & (ids == bert_tokenizer.convert_tokens_to_ids("life"))] = 42
        return inputs, labels
    verdict = corruption_verdict(shifted(bert_tokenizer, change), bert_tokenizer, batch_ids, refused=())
    assert "tokens that were not picked (label -100) changed" in verdict, verdict


def test_a_rate_off_by_more_than_chance_is_named(bert_tokenizer, batch_ids):
    def too_few(input_ids):  # 12% picked: 3 points off, more than chance allows
        inputs, labels = collator_with_seed(bert_tokenizer, 1)(input_ids)
        labels = torch.where(torch.rand(labels.shape) < 0.2, torch.full_like(labels, -100), labels)
        return torch.where(labels == -100, input_ids, inputs), labels
    verdict = corruption_verdict(too_few, bert_tokenizer, batch_ids, refused=())
    assert "pick each non-special token with probability 0.15" in verdict and "points by chance" in verdict, verdict


def test_rates_two_points_off_are_told_apart_from_the_collator_s(bert_tokenizer, batch_ids):
    special = torch.tensor(bert_tokenizer.all_special_ids)

    def shares(mask, swap):  # 15% picked; of those, shares mask and swap as given, the rest unchanged
        def my_mask_tokens(input_ids):
            picked = (torch.rand(input_ids.shape) < 0.15) & ~torch.isin(input_ids, special)
            draw, inputs = torch.rand(input_ids.shape), input_ids.clone()
            inputs[picked & (draw < mask)] = bert_tokenizer.mask_token_id
            swapped = picked & (draw >= mask) & (draw < mask + swap)
            inputs[swapped] = torch.randint(len(bert_tokenizer), input_ids.shape)[swapped]
            return inputs, torch.where(picked, input_ids, -100)
        return my_mask_tokens

    assert corruption_verdict(shares(0.8, 0.1), bert_tokenizer, batch_ids, refused=()).startswith("Correct")
    for mask, swap in ((0.78, 0.12), (0.82, 0.08)):  # each rate 2 points off; both named, with their bounds
        verdict = corruption_verdict(shares(mask, swap), bert_tokenizer, batch_ids, refused=())
        assert verdict.startswith("Not quite: [MASK] ") and "), random " in verdict, verdict
        assert verdict.count("points by chance") == 2, verdict


@pytest.mark.parametrize("ids, message", [
    (torch.tensor([101, 2166, 102]), "shaped \\(batch, positions\\)"),
    (torch.tensor([[101.0, 2166.0, 102.0]]), "shaped \\(batch, positions\\)"),
    ([[101, 2166, 102]], "shaped \\(batch, positions\\)"),
    (torch.tensor([[101, 102, 0]]), "only special tokens"),
])
def test_a_batch_the_check_cannot_use_is_refused_clearly(bert_tokenizer, ids, message):
    with pytest.raises(ValueError, match=message):
        corruption_verdict(lambda input_ids: None, bert_tokenizer, ids)


def test_a_tokenizer_that_is_not_one_is_refused_clearly(batch_ids):
    with pytest.raises(ValueError, match="must be a loaded tokenizer"):
        corruption_verdict(lambda input_ids: None, "bert-base-uncased", batch_ids)


@pytest.fixture(scope="module")
def scored(bert_tokenizer):
    """A tiny BERT's logits on a corrupted batch, its labels and the model's own loss."""
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    batch = DataCollatorForLanguageModeling(bert_tokenizer, seed=0)([bert_tokenizer(s) for s in SENTENCES * 3])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return logits, batch["labels"], model(**batch).loss.item()


def picked_log_p(logits, labels):
    keep = labels != -100
    return logits[keep].log_softmax(-1).gather(-1, labels[keep][:, None])


@pytest.mark.parametrize("my_mlm_loss, said", [
    (lambda logits, labels: -picked_log_p(logits, labels).mean(), "Correct: "),
    (lambda logits, labels: -picked_log_p(logits, labels).sum(), "the loss is their mean"),
    (lambda logits, labels: picked_log_p(logits, labels).mean(), "mind the sign"),
    (lambda logits, labels: -picked_log_p(logits, labels).mean() / math.log(10), "log base 10"),
    (lambda logits, labels: -logits.log_softmax(-1).gather(-1, labels[..., None]).mean(), "the label -100 as a token"),
    (lambda logits, labels: -logits.log_softmax(-1)[torch.arange(len(labels))[:, None], torch.arange(labels.shape[1]),
                                                    labels].mean(), "reading -100 as a token id"),
    (lambda logits, labels: -picked_log_p(logits, labels), "return one number"),
    (lambda logits, labels: "2.3", "return one number"),
    (lambda logits, labels: None, "Not answered yet."),
], ids=["gather", "sum", "sign", "log10", "gather -100", "index -100", "per position", "str", "None"])
def test_the_batch_loss_and_its_slips(scored, my_mlm_loss, said):
    verdict = loss_verdict(my_mlm_loss, *scored)
    assert said in verdict, verdict


@pytest.mark.parametrize("my_mlm_loss, said, yours", [
    (lambda logits, labels: -picked_log_p(logits, labels).mean(), "train with your my_mlm_loss", True),
    (lambda logits, labels: float(-picked_log_p(logits, labels).mean()), "the right number but no gradient", False),
    (lambda logits, labels: -picked_log_p(logits, labels).sum(), "yours has not passed exercise 13's check", False),
    (lambda logits, labels: 1 / 0, "yours has not passed exercise 13's check", False),
    (None, "yours has not passed exercise 13's check", False),
], ids=["right", "a float", "the sum", "raises", "none"])
def test_the_ten_steps_train_with_the_student_s_loss_once_it_passes_and_keeps_its_gradient(
        bert_tokenizer, capsys, my_mlm_loss, said, yours):
    from utils.mask_checks import loss_in_use
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    batch = DataCollatorForLanguageModeling(bert_tokenizer, seed=0)([bert_tokenizer(s) for s in SENTENCES])
    chosen, line = loss_in_use(my_mlm_loss, model, batch)
    assert said in line and not capsys.readouterr().out
    assert (chosen is my_mlm_loss) if yours else chosen is None
    if yours:  # the loss it hands the steps is the model's own, with a gradient
        out = model(**batch)
        loss = chosen(out.logits, batch["labels"])
        assert torch.allclose(loss, out.loss) and loss.grad_fn is not None


def picks_nothing(input_ids):
    return input_ids.clone(), torch.full_like(input_ids, -100)


def by_hand(tokenizer, seed):
    """A right answer that draws from torch's generator, as a student's does (the collator itself is refused)."""
    def my_mask_tokens(input_ids):
        inputs, labels = input_ids.clone(), input_ids.clone()
        picked = (torch.rand(input_ids.shape) < 0.15) & ~torch.isin(input_ids, torch.tensor(tokenizer.all_special_ids))
        labels[~picked] = -100
        roll = torch.rand(input_ids.shape)
        inputs[picked & (roll < 0.8)] = tokenizer.mask_token_id
        shown_random = picked & (roll >= 0.8) & (roll < 0.9)
        inputs[shown_random] = torch.randint(len(tokenizer), input_ids.shape)[shown_random]
        return inputs, labels
    return my_mask_tokens


@pytest.mark.parametrize("answer, said, yours", [
    (by_hand, "Your my_mask_tokens corrupted this batch", True),
    (collator_with_seed, "has not passed exercise 12's check", False),  # the collator it rebuilds is refused
    (lambda tokenizer, seed: picks_nothing, "has not passed exercise 12's check", False),
    (lambda tokenizer, seed: (lambda ids: 1 / 0), "has not passed exercise 12's check", False),
    (lambda tokenizer, seed: None, "has not passed exercise 12's check", False),
], ids=["right", "the collator itself", "picks nothing", "raises", "none"])
def test_the_batch_is_the_student_s_corruption_once_it_passes(bert_tokenizer, capsys, answer, said, yours):
    from utils.mask_checks import corruption_in_use
    sentences = SENTENCES * 4
    theirs = DataCollatorForLanguageModeling(bert_tokenizer, seed=9)([bert_tokenizer(s) for s in sentences])
    original = bert_tokenizer(sentences, padding=True, return_tensors="pt")["input_ids"]
    given = {key: value.clone() for key, value in theirs.items()}
    batch, line = corruption_in_use(answer(bert_tokenizer, 5), bert_tokenizer, given, seed=3)
    assert said in line and not capsys.readouterr().out
    assert all(torch.equal(given[key], theirs[key]) for key in theirs)  # the collator's batch is left as it was
    assert torch.equal(batch["attention_mask"], theirs["attention_mask"])
    if not yours:
        assert all(torch.equal(batch[key], theirs[key]) for key in theirs)
        return
    picked = batch["labels"] != -100
    assert not torch.equal(picked, theirs["labels"] != -100)  # the student's own draw, not the collator's
    assert torch.equal(batch["labels"][picked], original[picked])  # labels: the original ids where picked
    assert torch.equal(batch["input_ids"][~picked], original[~picked])  # every other token as it was
    again, _ = corruption_in_use(answer(bert_tokenizer, 5), bert_tokenizer, given, seed=3)
    assert torch.equal(again["input_ids"], batch["input_ids"])  # seeded: a rerun draws the same


def test_a_right_batch_loss_is_set_beside_a_uniform_guess(scored):
    logits = scored[0]
    verdict = loss_verdict(lambda logits, labels: -picked_log_p(logits, labels).mean(), *scored)
    assert verdict.endswith(f"a uniform guess over the {logits.shape[-1]:,} entries scores ln {logits.shape[-1]:,} = "
                            f"{math.log(logits.shape[-1]):.2f}."), verdict


def test_a_loss_that_ignores_the_logits_it_is_given_is_refused(scored):
    logits, labels, model_loss = scored
    said = loss_verdict(lambda given, given_labels: torch.tensor(model_loss), *scored)  # the model's loss, recalled
    assert said.startswith("Not quite: right on these logits, but on the same logits times 3 your function gives")
    assert said.endswith("compute it from the logits it is given.")


def test_the_answers_that_call_the_library_itself_are_refused(bert_tokenizer, batch_ids, scored):
    with pytest.raises(Rebuilt, match="your answer calls cross_entropy, the very thing this exercise rebuilds"):
        loss_verdict(lambda logits, labels: torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()),
                     *scored)
    with pytest.raises(Rebuilt, match="your answer calls __call__"):
        corruption_verdict(collator_with_seed(bert_tokenizer, 1), bert_tokenizer, batch_ids)
    assert "Correct:" in corruption_verdict(collator_with_seed(bert_tokenizer, 1), bert_tokenizer, batch_ids,
                                            refused=())  # put back


def test_an_error_that_is_not_about_minus_100_reaches_the_check_cell(scored):
    with pytest.raises(ZeroDivisionError):
        loss_verdict(lambda logits, labels: 1 / 0, *scored)


def test_training_the_top_trains_the_last_layer_and_the_head_alone_and_puts_everything_back(bert_tokenizer):
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    before = {name: weight.detach().clone() for name, weight in model.named_parameters()}
    ids = torch.tensor([bert_tokenizer("Life is like a box of chocolates.")["input_ids"]])
    labels = torch.full_like(ids, -100)
    labels[0, 3] = ids[0, 3]
    with pytest.raises(RuntimeError, match="stopped inside"):
        with training_the_top(model) as weights:
            trained = {name for name, weight in model.named_parameters() if weight.requires_grad}
            assert trained and all(".layer.1." in name or name.startswith("cls.") for name in trained), trained
            assert "bert.embeddings.word_embeddings.weight" not in trained  # the token vectors the head shares
            assert len(weights) == len(trained)
            optimizer = torch.optim.AdamW(weights, lr=1e-2)
            losses = []
            for _ in range(5):
                loss = model(input_ids=ids, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.item())
            assert losses[-1] < losses[0]
            raise RuntimeError("stopped inside")  # an interrupted cell puts everything back too
    assert all(torch.equal(weight, before[name]) and weight.requires_grad and weight.grad is None
               for name, weight in model.named_parameters())
    assert not model.training


def by_hand(h, head):
    """The MLM head written out, as notebook 1's exercise 2a asks."""
    x = head.activation(h @ head.dense_weight.T + head.dense_bias)
    x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + head.norm_eps) * head.norm_weight + head.norm_bias
    return x @ head.decoder_weight.T + head.decoder_bias


SMALL = {"vocab_size": 99, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16}


@pytest.mark.parametrize("model", [
    BertForMaskedLM(BertConfig(hidden_size=16, intermediate_size=32, **SMALL)),
    RobertaForMaskedLM(RobertaConfig(hidden_size=16, intermediate_size=32, pad_token_id=1,
                                     **{**SMALL, "max_position_embeddings": 20})),
    DistilBertForMaskedLM(DistilBertConfig(vocab_size=99, dim=16, hidden_dim=32, n_layers=1, n_heads=2,
                                           max_position_embeddings=16)),
], ids=["BERT", "RoBERTa", "DistilBERT"])
def test_the_mlm_head_written_out_gives_each_family_s_logits(model):
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        for weight in model.parameters():  # biases and norms away from their 0 and 1, so that forgetting one shows
            weight.add_(torch.randn_like(weight) * 0.1)
        out = model(input_ids=torch.tensor([[5, 6, 7, 8, 9]]), output_hidden_states=True)
    head = mlm_head_weights(model)
    assert head is not None and head.tied == (model.get_output_embeddings().weight is
                                              model.get_input_embeddings().weight)
    hidden, logits = out.hidden_states[-1][0], out.logits[0]
    assert torch.allclose(by_hand(hidden[3], head), logits[3], atol=1e-5)
    assert mlm_head_verdict(by_hand, model, hidden, logits, 3).startswith("Correct:")

    def without_bias(h, head):
        return by_hand(h, head) - head.decoder_bias
    assert "decoder_bias) is missing" in mlm_head_verdict(without_bias, model, hidden, logits, 3)


def test_a_head_laid_out_otherwise_is_said_to_be_out_of_the_exercise():
    model = GPT2LMHeadModel(GPT2Config(vocab_size=99, n_embd=16, n_layer=1, n_head=2, n_positions=16))
    assert mlm_head_weights(model) is None
    said = mlm_head_verdict(by_hand, model, torch.zeros(4, 16), torch.zeros(4, 99), 2)
    assert said == "This model's MLM head is laid out otherwise than BERT's: this exercise does not apply to it."
