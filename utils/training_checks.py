"""What notebook 3's check cells compare a student's code with, kept out of the check cells' sight.

``cross_entropy_verdict`` judges exercise 1, naming a slip by the loss it would come to on the same logits
(``cross_entropy_slips``); ``unigram_verdict`` judges exercise 1b, the count a trained model must beat, the same way.
``loop_verdict`` runs a student's training loop (exercise 2b) and the Trainer on two copies of the same fresh model
and the same batches, and says in one line whether they agree, and if not, where they part and why; ``loop_to_train``
gives the loop that passed, where the lesson trains with it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import weakref

import torch
import torch.nn.functional as F
from transformers import Trainer

from utils import baselines, pretraining
from utils.exercises import (
    CROSS_ENTROPY_ITSELF,
    NOT_ANSWERED_HINT,
    close,
    describe,
    mismatch,
    number,
    on_its_classes,
    reference,
    without,
)
from utils.pretraining import trainer_log

LOSS_TOLERANCE = dict(atol=1e-4, rtol=1e-5)  # fp32 on the CPU: the Trainer and a loop agree far closer than this
_PASSED = weakref.WeakSet()  # the loops loop_verdict found to be the Trainer's (a loop defined again must pass again)


def loss_itself(model: torch.nn.Module) -> tuple:
    """What exercise 1 rebuilds, as places for ``without``: cross-entropy under every name torch gives it, and the
    model's own ``loss_function`` (which shifts the labels for you)."""
    return (*CROSS_ENTROPY_ITSELF, *on_its_classes(model, "loss_function"))


def top1_accuracy(model: torch.nn.Module, ids: list[int]) -> float:
    """Exercise 4's number: the share of positions of ``ids`` where the model's most likely next token is the true
    one."""
    with torch.no_grad():
        x = torch.tensor([ids], device=model.device)
        return (model(x).logits[0, :-1].argmax(-1) == x[0, 1:]).float().mean().item()


def accuracy_verdict(answer: tuple, model: torch.nn.Module, train_ids: list[int], valid_ids: list[int]) -> str:
    """Exercise 4: ``answer``, the student's (training, unseen) next-token accuracies, against ``top1_accuracy`` on
    ``train_ids`` and ``valid_ids``; percentages get their own advice."""
    expected = top1_accuracy(model, train_ids), top1_accuracy(model, valid_ids)
    if all(a is None for a in answer):
        return NOT_ANSWERED_HINT
    if all(close(a, e, rel=1e-6, abs_tol=1e-6) for a, e in zip(answer, expected)):
        return f"Correct: {expected[0]:.0%} on training text, {expected[1]:.0%} on unseen text."
    if all(close(a, 100 * e, rel=1e-6, abs_tol=1e-4) for a, e in zip(answer, expected)):
        return f"Nearly: {describe(answer[0])} and {describe(answer[1])} are percentages; return the fraction, 0 to 1."
    return (f"Not quite: {describe(answer[0])} and {describe(answer[1])}. Is each position's guess compared with the "
            "token after it, and the matches averaged?")


def cross_entropy_slips(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """(what went wrong -> the loss a hand-written cross-entropy with that slip gives) on these logits and labels."""
    logits = logits.detach().float()
    shifted, targets = logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()
    return {
        "no shift: position t's logits predict token t + 1, so compare logits[:, :-1] with labels[:, 1:]":
            F.cross_entropy(logits.flatten(0, 1), labels.flatten()).item(),
        "the positions labelled -100 are scored too: average only where labels[:, 1:] != -100":
            F.cross_entropy(shifted, targets.clamp(min=0)).item(),
        "a sum, not a mean: divide by the number of scored positions":
            F.cross_entropy(shifted, targets, reduction="sum").item(),
        "log base 2 (bits): the loss is in nats, the natural log":
            F.cross_entropy(shifted, targets).item() / torch.log(torch.tensor(2.0)).item(),
    }


def cross_entropy_verdict(my_cross_entropy, model: torch.nn.Module, sample: dict) -> str:
    """Exercise 1's verdict: ``my_cross_entropy`` on ``sample``'s logits and labels against the model's own loss,
    then on the same logits made 25 times sharper (an untrained model's scores are nearly flat, so some slips land
    near the right loss; sharp scores, a model sure of itself, put every slip nats away). A slip is named."""
    model.eval()
    with torch.no_grad():
        out = model(**sample)
    labels, sharp = sample["labels"], out.logits.float() * 25
    cases = {"the model's scores": (out.logits, out.loss.item()),
             "the same scores made 25 times sharper": (sharp, F.cross_entropy(
                 sharp[:, :-1].flatten(0, 1), labels[:, 1:].flatten()).item())}
    try:
        with without(*loss_itself(model)):  # what the student rebuilds
            mine = {case: my_cross_entropy(logits, labels) for case, (logits, _) in cases.items()}
    except (IndexError, RuntimeError) as error:
        if "-100" not in str(error):
            raise  # verdict() names it
        return ("Not quite: your code used the label -100 as a token id (it is not one: it marks a position that is "
                "not scored). Score only the positions where labels[:, 1:] != -100.")
    if mine["the model's scores"] is None:
        return NOT_ANSWERED_HINT
    wrong = next((case for case, (_, loss) in cases.items() if not close(mine[case], loss)), None)
    if wrong is None:
        model_loss, sharp_loss = (loss for _, loss in cases.values())
        return (f"Correct: {model_loss:.4f} nats, the model's own loss on two unseen chunks, and {sharp_loss:.4f} on "
                "its scores made 25 times sharper.")
    logits, loss = cases[wrong]
    slip = next((what for what, slipped in cross_entropy_slips(logits, labels).items() if close(mine[wrong], slipped)),
                None)
    if slip is not None:
        return f"Not quite: on {wrong}, {describe(mine[wrong])} is what the loss comes to with {slip}."
    if (problem := mismatch(mine[wrong], torch.tensor(loss))) is not None and "shape" in problem:
        return f"Not quite: {problem}: average over the scored positions to get one number."
    return (f"Not quite: on {wrong}, {describe(mine[wrong])}, where the loss is {loss:.4f}. Shifted? Natural log? Only "
            "labels that are not -100, averaged?")


def unigram_slips(train: torch.Tensor, valid: torch.Tensor, vocab_size: int, k: float) -> dict[str, float]:
    """(the loss a unigram model of ``train`` scores on ``valid``, both (chunks, positions) token ids, with each
    ``k`` added to every count) -> its value; then (what went wrong -> the loss with that slip), in float64."""
    def counted(ids: torch.Tensor) -> torch.Tensor:
        return torch.bincount(ids.flatten(), minlength=vocab_size).double()
    counts = counted(train)
    log_p = ((counts + k) / (counts.sum() + k * vocab_size)).log()
    loss = -log_p[valid[:, 1:]].mean().item()
    return {"right": loss,
            "each chunk's first token scored too: a model predicts every token but each chunk's first":
                -log_p[valid].mean().item(),
            "k left out of the total: divide by N + k V, so that the probabilities add up to 1":
                -((counts + k) / counts.sum()).log()[valid[:, 1:]].mean().item(),
            "the validation chunks counted: a baseline counts only the training text":
                -((counted(valid) + k) / (valid.numel() + k * vocab_size)).log()[valid[:, 1:]].mean().item(),
            "the training chunks scored: score the validation chunks": -log_p[train[:, 1:]].mean().item(),
            "log base 2 (bits): the loss is in nats, the natural log": loss / math.log(2),
            "mind the sign: ln p is negative, the loss is -ln p": -loss,
            "that is the perplexity, e to the loss: return the loss itself": math.exp(loss)}


def unigram_verdict(my_unigram_loss, train_chunks, valid_chunks, vocab_size: int, k: float) -> str:
    """Exercise 1b's verdict: ``my_unigram_loss(train_chunks, valid_chunks, vocab_size, k)`` (lists of chunks of token
    ids) against the unigram model's loss, then with the two lists swapped (an answer must be computed from what it
    is given). A slip is named (``unigram_slips``)."""
    train, valid = torch.tensor(list(train_chunks)), torch.tensor(list(valid_chunks))
    cases = {"": (train, valid), " with the training and validation chunks swapped": (valid, train)}
    mine = {}
    with without(*((baselines, name) for name in ("unigram_loss", "unigram_probabilities", "against_unigram",
                                                  "_unigram", "_add_k_unigram"))):
        for case, (a, b) in cases.items():
            mine[case] = my_unigram_loss([row.tolist() for row in a], [row.tolist() for row in b], vocab_size, k)
            if mine[case] is None:
                return NOT_ANSWERED_HINT
    for case, (a, b) in cases.items():
        slips = unigram_slips(a, b, vocab_size, k)
        if number(mine[case]) is None:
            return ("Not quite: return one number, the mean of -ln p over the scored tokens; got "
                    f"{describe(mine[case])}.")
        if not close(mine[case], slips["right"], rel=1e-5):
            slip = next((what for what, loss in slips.items() if what != "right" and close(mine[case], loss, rel=1e-5)),
                        f"the unigram model's loss is {slips['right']:.4f}")
            return f"Not quite{case}: {describe(mine[case])}: {slip}."
    loss, uniform = unigram_slips(train, valid, vocab_size, k)["right"], math.log(vocab_size)
    return (f"Correct: {loss:.4f} nats on the {valid[:, 1:].numel():,} validation tokens a model predicts, against "
            f"ln {vocab_size:,} = {uniform:.2f} for a uniform guess: knowing only how common each token is "
            f"{'saves' if uniform > loss else 'costs'} {abs(uniform - loss):.2f} nats. The training figures below draw "
            "it as the unigram line.")


def _watch_modes(model, eval_batches) -> list[tuple[bool, bool, bool]]:
    """A list that fills, at each forward pass of ``model``, with (is it an evaluation batch, train mode, gradients
    on). Evaluation batches are told by their token ids, so a copy of one (``.clone()``, ``.to()``) counts too."""
    eval_ids = [batch["input_ids"] for batch in eval_batches]
    calls = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        evaluating = isinstance(ids, torch.Tensor) and any(
            ids.shape == e.shape and torch.equal(ids.detach().cpu(), e) for e in eval_ids)
        calls.append((evaluating, module.training, torch.is_grad_enabled()))

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return calls


def _mode_problem(calls: list[tuple[bool, bool, bool]]) -> str | None:
    """What a loop's forward passes got wrong about train and eval mode and gradients, or None."""
    if any(evaluating and grad for evaluating, _, grad in calls):
        return ("Not quite: your evaluation runs with gradients on. The numbers match, but every activation is kept "
                "for a backward pass that never comes: evaluate under `with torch.no_grad():`.")
    if any(evaluating and training for evaluating, training, _ in calls):
        return ("Not quite: your evaluation runs in train mode. Call model.eval() before it: with dropout (GPT-2 "
                "had 0.1) the validation loss would be computed with random activations zeroed.")
    if any(not evaluating and not training for evaluating, training, _ in calls):
        return ("Not quite: after an evaluation your loop goes on training in eval mode. Call model.train() again "
                "after evaluating: with dropout, training would go on without it.")
    return None


def _run_loop(loop, fresh, batches, eval_batches, settings: dict):
    """The student's loop on a copy of ``fresh``: (train losses, evaluations, the trained copy, its forward passes'
    modes), or (None, message). The Trainer's loop (``Trainer.train``, ``pretraining.trainer_log``) is refused."""
    model = copy.deepcopy(fresh).train()
    calls = _watch_modes(model, eval_batches)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"], weight_decay=0.0)
    with without((pretraining, "trainer_log"), (Trainer, "train")):  # the loop the exercise writes out
        result = loop(model, batches, eval_batches, optimizer, settings["warmup_steps"], settings["eval_every"],
                      settings["max_grad_norm"])
    if result is None:
        return None, NOT_ANSWERED_HINT
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return None, f"Not quite: the loop returned {describe(result)}; return (train_losses, evaluations)."
    losses, evaluations = result
    if isinstance(losses, (list, tuple)) and len(losses) == 0:
        return None, NOT_ANSWERED_HINT
    return (losses, evaluations, model, calls), None


def _reference(fresh, examples, eval_examples, data_collator, settings: dict, **change):
    """The Trainer's (train losses, evaluations, trained copy) with ``settings``, changed by ``change``."""
    model = copy.deepcopy(fresh)
    settings = settings | change
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"], weight_decay=0.0)
    losses, evaluations = trainer_log(model, examples, data_collator, settings["batch_size"], optimizer,
                                      settings["warmup_steps"], settings["schedule"], settings["max_grad_norm"],
                                      eval_examples, settings["eval_every"])
    return losses, evaluations, model


def _same(losses, expected) -> bool:
    return mismatch(losses, torch.tensor(expected), **LOSS_TOLERANCE) is None


def _where_losses_part(losses, expected, fresh, examples, eval_examples, data_collator, settings) -> str:
    """Why a loop's training losses differ from the Trainer's: the first one that differs, and the likely slip."""
    problem = mismatch(losses, torch.tensor(expected), **LOSS_TOLERANCE)
    if "values differ" not in problem:
        return f"Not quite, the training losses: {problem}. Append loss.item() once per batch."
    got = [float(x) for x in losses]
    first = next(i for i, (a, b) in enumerate(zip(got, expected))
                 if not abs(a - b) <= LOSS_TOLERANCE["atol"] + LOSS_TOLERANCE["rtol"] * abs(b))
    said = f"Not quite: your loss at step {first + 1} is {got[first]:.4f}, the Trainer's {expected[first]:.4f}"
    if first == 0:
        return f"{said}: the loss of the first batch, before any update. Use model(**batch).loss, in train mode."
    if _same(losses, _reference(fresh, examples, eval_examples, data_collator, settings, max_grad_norm=0.0)[0]):
        return (f"{said}: there is no gradient clipping. After loss.backward(), "
                "torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm), before the optimizer's step.")
    if _same(losses, _reference(fresh, examples, eval_examples, data_collator, settings, learning_rate=0.0)[0]):
        return (f"{said}: the weights never change. With warm-up the schedule starts the learning rate at 0, and "
                "it stays 0 unless you call scheduler.step() once per batch, after optimizer.step().")
    if _same(losses, _reference(fresh, examples, eval_examples, data_collator, settings, warmup_steps=0,
                                schedule="constant")[0]):
        return (f"{said}: the learning rate never changes. Make the schedule with transformers.get_scheduler("
                "'cosine', optimizer, num_warmup_steps=warmup_steps, num_training_steps=len(batches)) and call "
                "scheduler.step() once per batch.")
    if first == 1 and settings["warmup_steps"] > 0:
        return (f"{said}: the first step already moved the weights. With warm-up, the first step's learning rate is "
                "0: call scheduler.step() after optimizer.step(), not before it (the schedule is one step ahead).")
    return (f"{said}. Once per batch: loss.backward(), clip, optimizer.step(), scheduler.step(); and zero the "
            "gradients once per batch too (optimizer.zero_grad(), before the backward pass or after the step), or "
            "they add up from batch to batch.")


def _evaluation_problem(evaluations, expected) -> str | None:
    """Why a loop's evaluations differ from the Trainer's, or None."""
    if not isinstance(evaluations, (list, tuple)) or not all(
            isinstance(e, (list, tuple)) and len(e) == 2 for e in evaluations):
        return (f"Not quite, the evaluations: {describe(evaluations)}; make them a list of (step, validation loss) "
                "pairs.")
    steps, wanted = [e[0] for e in evaluations], [s for s, _ in expected]
    if steps != wanted:
        return (f"Not quite: you evaluated after steps {steps}; the Trainer after steps {wanted} (every eval_every "
                "steps, counting from 1, after that step's update).")
    problem = mismatch([e[1] for e in evaluations], torch.tensor([v for _, v in expected]), **LOSS_TOLERANCE)
    if problem is not None:
        return (f"Not quite, the validation losses: {problem}. Each is the mean of model(**batch).loss over "
                "eval_batches, under torch.no_grad().")
    return None


def loop_verdict(loop, fresh, examples: list[dict], eval_examples: list[dict], data_collator, settings: dict) -> str:
    """One line: does ``loop`` (a student's training loop) train a copy of ``fresh`` as the Trainer does?

    ``settings``: batch_size, learning_rate (AdamW's peak, no weight decay), warmup_steps, schedule (the Trainer's
    ``lr_scheduler_type``), max_grad_norm, eval_every. Both see ``examples`` in order, ``batch_size`` at a time.
    """
    size = settings["batch_size"]
    batches = [data_collator(examples[i:i + size]) for i in range(0, len(examples), size)]
    eval_batches = [data_collator(eval_examples[i:i + size]) for i in range(0, len(eval_examples), size)]
    ran, message = _run_loop(loop, fresh, batches, eval_batches, settings)
    if ran is None:
        return message
    losses, evaluations, trained, calls = ran
    expected, expected_evaluations, reference = _reference(fresh, examples, eval_examples, data_collator, settings)
    if not _same(losses, expected):
        return _where_losses_part(losses, expected, fresh, examples, eval_examples, data_collator, settings)
    problem = _evaluation_problem(evaluations, expected_evaluations)
    if problem is not None:
        return problem
    problem = _mode_problem(calls)
    if problem is not None:
        return problem
    apart = max((a - b).abs().max().item() for a, b in zip(trained.parameters(), reference.parameters()))
    if apart > LOSS_TOLERANCE["atol"]:
        return (f"The losses match, but the weights end up {apart:.2g} apart: every batch, the last one too, must "
                "step the optimizer.")
    with contextlib.suppress(TypeError):  # a callable no weak reference can point at trains as the reference
        _PASSED.add(loop)
    return (f"Correct: your loop is the Trainer's: training losses {', '.join(f'{x:.3f}' for x in expected)}, "
            f"validation {', '.join(f'{v:.3f} (step {s})' for s, v in expected_evaluations)}, and the same weights "
            f"(largest difference {apart:.1g}).")


def loop_to_train(loop) -> tuple:
    """(the loop, whose it is in words) for a cell that trains with the student's ``loop`` (exercise 2b): ``loop``
    once ``loop_verdict`` has passed it, else the reference solution's loop, which says why."""
    if loop in _PASSED:  # False for anything a weak reference cannot point at, such as None
        return loop, "your loop"
    return (reference("my_training_loop", "03_pretraining_gpt2"),
            "the reference loop (yours has not passed exercise 2b's check yet: run the check after your loop's cell)")


def _scheduler_lambda(warmup_steps: int, total_steps: int):
    """The learning-rate factor the Trainer's cosine schedule gives each step (its own function, read off a
    scheduler made for a throwaway optimizer)."""
    from transformers import get_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return get_scheduler("cosine", optimizer, num_warmup_steps=warmup_steps,
                         num_training_steps=total_steps).lr_lambdas[0]


def schedule_itself() -> tuple:
    """What exercise 2a rebuilds, as places for ``without``: the schedule factories and the scheduler class."""
    import transformers
    from transformers import optimization

    return ((transformers, "get_scheduler"), (transformers, "get_cosine_schedule_with_warmup"),
            (optimization, "get_scheduler"), (optimization, "get_cosine_schedule_with_warmup"),
            (optimization, "_get_cosine_schedule_with_warmup_lr_lambda"),
            (torch.optim.lr_scheduler.LambdaLR, "__init__"))


def schedule_verdict(my_lr, settings: list[tuple[int, int, float]]) -> str:
    """A student's ``my_lr(step, warmup_steps, total_steps, peak)`` at every step 0..total of each setting
    (warmup_steps, total_steps, peak), against the Trainer's cosine schedule: one line, naming the usual slips."""
    for warmup, total, peak in settings:
        expected = _scheduler_lambda(warmup, total)
        for step in range(total + 1):
            with without(*schedule_itself()):
                mine = my_lr(step, warmup, total, peak)
            if mine is None:
                return NOT_ANSWERED_HINT
            got, want = number(mine), peak * expected(step)
            if got is None or isinstance(mine, bool):
                return f"Not quite: return the learning rate as a number; got {describe(mine)}."
            if _near(got, want, peak):
                continue
            if step < warmup:
                slip = ("One step ahead: the scheduler counts from 0, and step 0's rate is 0 while it warms up."
                        if _near(got, peak * expected(step + 1), peak) else
                        f"The warm-up climbs in a straight line from 0 to the peak over {warmup} steps.")
            elif _near(got, peak * 0.5 * (1 + math.cos(math.pi * step / total)), peak):
                slip = "The cosine starts where the warm-up ends: measure its progress from step warmup_steps, not 0."
            elif _near(got, peak * (total - step) / max(1, total - warmup), peak):
                slip = "After the warm-up it falls as half a cosine wave, not in a straight line."
            else:
                slip = "From the peak it falls to 0 at total_steps, along half a cosine wave."
            return (f"Not quite: at step {step} (warmup_steps {warmup}, total_steps {total}, peak {peak:g}) you gave "
                    f"{describe(mine)}; the Trainer's schedule gives {want:.6g}. {slip}")
    warmup, total, peak = settings[0]
    return (f"Correct: your schedule equals the Trainer's at every step of {len(settings)} settings. This run's rises "
            f"to {peak:g} by step {warmup} and falls back to 0 at step {total}.")


def _near(got: float, want: float, peak: float) -> bool:
    """Equal to rounding: a millionth of the peak."""
    return abs(got - want) <= 1e-6 * abs(peak) + 1e-12
