"""Notebook 3's result printouts, kept out of the cells' sight: the first run's validation table, the two token runs
side by side, your loop's byte run, the byte run's numbers and what it wrote as it learnt, one table in nats per byte,
and where context pays. Each prints what its cell shows and returns what later cells read; the cells keep the
mechanism (the runs, the optimizer, the comparisons)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch.utils.data import DataLoader

from utils import baselines
from utils.chunking import chunk_articles
from utils.figures import own_loop_figure, show
from utils.generation import talk_numbers
from utils.pretraining import pretrained_apart
from utils.support.allocator import release_freed_memory
from utils.training_view import loss_curves

LEVEL = 0.1  # nats: a validation loss this far past its lowest has risen (less is evaluation noise)


def first_run_table(valid_log: list, train_log: list, unigram: float, warmup_steps: int) -> None:
    """The first run's validation losses (about six evaluations, the minimum and the last), its training loss from
    first to last, and where its minimum and last validation loss stand against the unigram count."""
    best_step, best_loss = min(valid_log, key=lambda sl: sl[1])
    last = valid_log[-1][1]
    shown = sorted({*[s for s, _ in valid_log[:: max(1, len(valid_log) // 6)]], best_step, valid_log[-1][0]})
    print("step   valid loss")
    for step, loss in valid_log:
        if step in shown:
            print(f"{step:>4}   {loss:10.2f}{'   <- minimum' if step == best_step else ''}")
    print(f"train loss:      {train_log[0][1]:.2f} -> {train_log[-1][1]:.3f}")
    print(f"validation loss: minimum {best_loss:.2f} at step {best_step}, last {last:.2f}")
    side = f"{abs(unigram - best_loss):.2f} {'under' if best_loss < unigram else 'over'} it"  # as measured: no verdict
    print(f"a unigram count of the training text's tokens scores {unigram:.2f} on the same chunks: the minimum is "
          f"{side}, the last {abs(last - unigram):.2f} {'over' if last > unigram else 'under'} it (one run, no error "
          "bar: exercise 6 gives the next run one)")
    print(f"the lowest of its {len(valid_log)} evaluations, at step {best_step}, falls "
          f"{'inside' if best_step <= warmup_steps else 'after'} the {warmup_steps}-step warm-up")


TOKENS_A_PARAMETER = 20  # Chinchilla's rule of thumb (Hoffmann et al., 2022): training tokens per parameter


def two_runs_table(parameters: int, context_length: int, runs: dict[str, dict]) -> None:
    """The token runs side by side, one row each (``runs``: name -> chunks, reads (chunks read in training), train
    (the last training loss), lowest and last (validation loss), unigram and, where counted, bigram), then the tokens
    they read against what a model of ``parameters`` would want, and what the rows say."""
    print(f"{'':18}{'training':>9}{'chunks':>8}{'tokens':>10}{'tokens read':>13}{'train':>7}"
          f"{'validation':>14}{'unigram':>9}{'bigram':>8}")
    print(f"{'run':18}{'chunks':>9}{'read':>8}{'read':>10}{'a parameter':>13}{'loss':>7}"
          f"{'lowest':>8}{'last':>6}{'count':>9}{'count':>8}")
    for name, run in runs.items():
        tokens = run["reads"] * context_length
        bigram = f"{run['bigram']:8.2f}" if run.get("bigram") is not None else f"{'-':>8}"
        print(f"{name:18}{run['chunks']:>9,}{run['reads']:>8,}{tokens:>10,}{tokens / parameters:>13.4f}"
              f"{run['train']:>7.2f}{run['lowest']:>8.2f}{run['last']:>6.2f}{run['unigram']:>9.2f}{bigram}")
    most = max(run["reads"] for run in runs.values()) * context_length
    print(f"{parameters / 1e6:.1f} M parameters. Chinchilla's rule of thumb, about {TOKENS_A_PARAMETER} training "
          f"tokens a parameter, asks for {TOKENS_A_PARAMETER * parameters / 1e6:,.0f} M tokens:")
    print(f"  {TOKENS_A_PARAMETER * parameters / most:,.0f} times the most either run read")
    for name, run in runs.items():
        repeats, rose = run["reads"] / run["chunks"], run["last"] - run["lowest"]
        lines = {"its unigram count": run["unigram"]} | (
            {"its bigram count": run["bigram"]} if run.get("bigram") is not None else {})
        print(f"{name}: " + (f"each chunk read about {repeats:.0f} times" if repeats >= 1.5 else
                             "no chunk read twice" if repeats <= 1 else "some chunks read twice")
              + (f"; validation loss rose {rose:.2f} past its lowest" if rose > LEVEL else "; validation loss at its "
                 "lowest") + f", {run['last'] - run['train']:.2f} above its training loss")
        print(f"  last validation loss {baselines.against(run['last'], lines)}")  # exercise 6 judges the margin


def own_loop_batches(chunks, steps: int, chunks_a_step: int, collator) -> tuple[list, list]:
    """(training batches, validation batches) for your loop: the first ``steps`` x ``chunks_a_step`` training chunks
    in order (fewer steps if there are not that many), and every validation chunk, 4 a batch."""
    steps = min(steps, len(chunks["train"]) // chunks_a_step)
    train = DataLoader(chunks["train"].select(range(steps * chunks_a_step)), batch_size=chunks_a_step,
                       collate_fn=collator)
    return list(train), list(DataLoader(chunks["valid"], batch_size=4, collate_fn=collator))


def own_loop_report(losses, evaluations, uniform: float, vocab_size: int, lines: dict[str, float],
                    whose: str = "your loop") -> None:
    """The loop's figure (every step's loss and its evaluations, under the uniform guess and ``lines``) and where its
    last evaluation ends against the lines, or what is missing; ``whose`` names the loop that ran."""
    if not losses:
        print("Write exercise 2b's loop first (it returned no losses); this cell then trains with it.")
        return
    show(*own_loop_figure(losses, uniform, vocab_size, evaluations or (), lines, whose))
    if not evaluations:
        print(f"{whose} returned no evaluations")
        return
    step, loss = evaluations[-1]
    place = baselines.against(loss, {f"the {name}": line for name, line in lines.items()})
    print(f"{whose}: validation loss at step {step}, {loss:.2f} nats per byte, {place}")


def byte_run_numbers(trainer, result, chunks, texts, byte_tokenizer, uniform: float, unigram: float,
                     bigram: float) -> SimpleNamespace:
    """The byte run in numbers: its time, the three lines, its best and last validation loss, the margin to the bigram
    line with its standard error (the validation chunks grouped by article), whether it still fell over its last
    ``eval_steps`` steps, and what that says. Returns (train, valid) curves, last, error, ln_p (the model's ln p of
    every true next byte of the validation chunks) and pair_p (the bigram model's p of the same bytes)."""
    train, valid = loss_curves(trainer.state.log_history)
    best_step, best = min(valid, key=lambda sl: sl[1])
    last_step, last = valid[-1]
    # "still falling": against the evaluation at least eval_steps before the last (or the first)
    before_step, before = max((sv for sv in valid if sv[0] <= last_step - trainer.args.eval_steps), default=valid[0])
    ln_p = baselines.true_token_log_probs(trainer.model, chunks["valid"])  # chunks x positions
    context = len(chunks["valid"][0]["input_ids"])
    sources = chunk_articles(chunks["valid"], texts["valid"], byte_tokenizer, context)
    pair_p = baselines.bigram_probabilities(chunks["train"], chunks["valid"], len(byte_tokenizer))  # the same bytes
    error, articles = baselines.error_by_article(ln_p, pair_p.log(), sources)  # how sure the margin to the bigram is
    print(f"{result.metrics['train_runtime']:.0f} s for {trainer.state.global_step} steps")
    print(f"uniform guess             {uniform:.2f} nats per byte")
    print(f"unigram model             {unigram:.2f} nats")
    print(f"bigram model              {bigram:.2f} nats")
    print(f"best validation loss      {best:.2f} (step {best_step})")
    lines = {"the uniform guess": uniform, "the unigram model": unigram, "the bigram model": bigram}
    print(f"last validation loss      {last:.2f} (step {last_step}): {baselines.against(last, lines)}; ± {error:.2f} "
          f"against the bigram model (one standard error, the {len(sources)} chunks grouped by their {articles} "
          "articles)")
    print(f"over its last {last_step - before_step} steps the validation loss "
          f"{'fell' if last < before else 'rose'} by {abs(before - last):.2f}")
    print(f"final training loss       {train[-1][1]:.2f}")
    print("so: " + ("it has learnt more about context than counting pairs of bytes gives" if last < bigram else
                    "it has learnt something about context, beyond how common each byte is, but less than counting "
                    "pairs of bytes gives" if last < unigram else
                    "not yet under the unigram line: in these steps it learnt little beyond how common each byte is"))
    release_freed_memory()  # scoring every validation chunk freed what it used: the open kernel gives it back
    return SimpleNamespace(train=train, valid=valid, last=last, error=error, ln_p=ln_p, pair_p=pair_p)


def samples_table(samples: list[tuple[int, str]], valid: list[tuple[int, float]], prompt: str) -> None:
    """What a run wrote as it learnt: at each evaluation (``LiveLossPlot.samples``: step, greedy continuation of
    ``prompt``) its validation loss then (``valid``: (step, loss)) and the continuation."""
    losses = dict(valid)
    width = max(4, *(len(str(step)) for step, _ in samples))
    print(f"prompt: {prompt!r}")
    print(f"{'step':>{width}}   valid loss   greedy continuation")
    for step, text in samples:
        loss = f"{losses[step]:10.2f}" if step in losses else " " * 10
        print(f"{step:>{width}}   {loss}   {text!r}")


def per_byte_table(byte_model, tokenizer, byte_tokenizer, token_chunks, byte_train_chunks, runs: dict[str, float],
                   token_count: float) -> None:
    """Every model on one scale, nats per byte of the first run's validation text, best first: ``runs`` (name -> a
    loss per GPT-2 token on ``token_chunks``) and ``token_count`` (a unigram count of GPT-2 tokens) divided by the
    bytes a scored token holds; the byte model and a bigram count of bytes on those very bytes; a pretrained model
    in its own tokens. Then whether the byte model beats the count of GPT-2 tokens."""
    same = baselines.on_the_same_bytes(byte_model, tokenizer, byte_tokenizer, token_chunks, byte_train_chunks)
    bytes_per_token = same["bytes"] / same["tokens"]  # of the tokens a run scores: all but each chunk's first
    count = token_count / bytes_per_token
    per_byte = {name: loss / bytes_per_token for name, loss in runs.items()}
    per_byte |= {"a unigram count of GPT-2 tokens, of the chunks the every-article run read": count,
                 "the byte run, at its end": same["byte model"], "a bigram count of bytes": same["bigram"]}
    pretrained = pretrained_apart("gpt2", tokenizer, token_chunks)  # gpt2, or its offline stand-in
    per_byte["a pretrained model, in its own tokens (named below)"] = pretrained["nats per byte"]
    print(f"the first run's {len(token_chunks)} validation chunks: {same['tokens']:,} scored GPT-2 tokens, "
          f"{same['bytes']:,} bytes ({bytes_per_token:.2f} a token); in nats per byte of that text:")
    for name, loss in sorted(per_byte.items(), key=lambda item: item[1]):
        print(f"  {loss:.2f}  {name}")
    print(f"the pretrained model, scored on {pretrained['bytes']:,} of those bytes, as its loader said:")
    print(f"  {pretrained['model']}")
    print(f"per byte, the byte model is {'better' if same['byte model'] < count else 'worse'} than a count of "
          f"GPT-2's tokens, by {abs(count - same['byte model']):.2f} nats")


def context_gains(gain: torch.Tensor, ln_p: torch.Tensor, pair_p: torch.Tensor, valid_chunks, byte_tokenizer,
                  n: int = 5) -> None:
    """Where context pays: the share of unseen positions where the byte model beat the bigram model (``gain``, its
    probability of the true byte less the bigram model's, chunks x positions), and the largest gain for each of ``n``
    different next bytes, with the bytes read before it; bytes inside a character of several bytes are skipped."""
    print(f"better than the bigram model at {(gain > 0).float().mean():.0%} of {gain.numel():,} unseen positions")
    print(f"the largest gain for each of {n} bytes (the bytes before -> the true next byte):")
    best = {}  # next byte -> (validation chunk, position) of its largest gain
    for row, at in (divmod(i, gain.shape[1]) for i in gain.flatten().argsort(descending=True).tolist()):
        ids = valid_chunks[row]["input_ids"]
        if "\ufffd" in byte_tokenizer.decode(ids[max(0, at - 15):at + 2]):
            continue  # part of a character of several bytes (an accent, a dash): it prints as a replacement mark
        best.setdefault(ids[at + 1], (row, at))
        if len(best) == n:
            break
    for row, at in best.values():
        ids = valid_chunks[row]["input_ids"]
        read_so_far = byte_tokenizer.decode(ids[max(0, at - 15):at + 1])
        true_next = byte_tokenizer.decode([ids[at + 1]])
        print(f"{read_so_far!r:>20} -> {true_next!r:<5} p {ln_p[row, at].exp():.3f}, bigram {pair_p[row, at]:.3f}")


def talks_compared(models: dict[str, object], ids: list[int], tokenizer, prompt: int = 16, new: int = 8) -> str:
    """One line on two models' step tables after the same first ``prompt`` of ``ids`` (``utils.generation.talk``):
    which is surer of its own choices, and which gives the text's own next ``new`` tokens more probability."""
    (first, (p_first, loss_first)), (second, (p_second, loss_second)) = (
        (name, talk_numbers(model, ids, tokenizer, prompt, new)) for name, model in models.items())
    surer, (p_high, p_low) = (first, (p_first, p_second)) if p_first >= p_second else (second, (p_second, p_first))
    closer, (low, high) = ((first, (loss_first, loss_second)) if loss_first <= loss_second
                           else (second, (loss_second, loss_first)))
    return (f"surer of its own choices: {surer} (the chosen tokens' mean probability {p_high:.2f} against "
            f"{p_low:.2f})\nmore probability on the text's own next {new} tokens: {closer} (loss {low:.2f} against "
            f"{high:.2f} nats)")
