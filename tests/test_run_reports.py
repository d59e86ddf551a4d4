"""Notebook 3's printouts, on hand-made runs: the first run's table, the two token runs side by side, your loop's
batches and its line, what a run wrote as it learnt, and where context pays. (The byte run's numbers and the per-byte
table print in the executed notebook: test_printed_facts.)"""

import torch
from datasets import Dataset, DatasetDict

from utils import run_reports


def test_the_first_run_table_marks_the_minimum_and_places_it_against_the_count(capsys):
    valid = [(0, 10.9), (5, 10.5), (10, 10.1), (15, 9.5), (20, 8.9), (30, 9.1), (40, 9.4), (50, 9.6), (60, 9.8),
             (80, 10.1), (100, 10.3), (120, 10.4)]  # 12 evaluations: every 12 // 6 = 2nd is shown
    run_reports.first_run_table(valid, [(5, 10.8), (120, 0.075)], unigram=8.2, warmup_steps=30)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step   valid loss"
    rows = [line.split() for line in lines[1:] if line.lstrip()[:1].isdigit()]
    assert [int(row[0]) for row in rows] == [0, 10, 20, 40, 60, 100, 120]  # and the minimum, and the last
    assert rows[2][-2:] == ["<-", "minimum"] and all("<-" not in row for row in rows[:2] + rows[3:])
    assert "train loss:      10.80 -> 0.075" in lines
    assert "validation loss: minimum 8.90 at step 20, last 10.40" in lines
    assert ("a unigram count of the training text's tokens scores 8.20 on the same chunks: the minimum is 0.70 over "
            "it, the last 2.20 over it (one run, no error bar: exercise 6 gives the next run one)") in lines
    assert lines[-1] == "the lowest of its 12 evaluations, at step 20, falls inside the 30-step warm-up"
    run_reports.first_run_table([(0, 10.0), (40, 8.25)], [(5, 9.0), (40, 8.0)], unigram=8.2, warmup_steps=30)
    out = capsys.readouterr().out
    assert "the minimum is 0.05 over it, the last 0.05 over it" in out  # the margins as they are, judged nowhere here
    assert "at step 40, falls after the 30-step warm-up" in out


def test_the_two_runs_table_counts_the_tokens_read_against_the_rule_of_thumb_and_reads_each_row_back(capsys):
    run_reports.two_runs_table(10_000_000, 100, {
        "memorising": dict(chunks=20, reads=800, train=0.08, lowest=8.9, last=10.4, unigram=9.0),
        "more text": dict(chunks=3000, reads=1000, train=7.5, lowest=7.7, last=7.85, unigram=7.9, bigram=7.2)})
    lines = capsys.readouterr().out.splitlines()
    # 800 and 1,000 chunks of 100 tokens read by 10 M parameters; the rule of thumb: 200 M tokens, 2,000 x 100,000
    assert lines[2].split() == ["memorising", "20", "800", "80,000", "0.0080", "0.08", "8.90", "10.40", "9.00", "-"]
    assert lines[3].split() == ["more", "text", "3,000", "1,000", "100,000", "0.0100", "7.50", "7.70", "7.85", "7.90",
                                "7.20"]
    assert lines[4] == ("10.0 M parameters. Chinchilla's rule of thumb, about 20 training tokens a parameter, asks for "
                        "200 M tokens:")
    assert lines[5] == "  2,000 times the most either run read"
    assert lines[6:] == [
        "memorising: each chunk read about 40 times; validation loss rose 1.50 past its lowest, 10.32 above its "
        "training loss",
        "  last validation loss 1.40 above its unigram count (9.00)",
        "more text: no chunk read twice; validation loss rose 0.15 past its lowest, 0.35 above its training loss",
        # a small margin is given as it is: exercise 6's check judges it against its standard error
        "  last validation loss 0.05 under its unigram count (7.90), 0.65 above its bigram count (7.20)"]


def test_the_samples_table_sets_each_evaluations_continuation_beside_its_loss(capsys):
    samples = [(0, "nnnn"), (20, "eeee"), (700, "the the "), (1433, "g the and")]
    run_reports.samples_table(samples, [(0, 5.56), (20, 3.5), (700, 2.31), (1433, 2.03)], "which only")
    assert capsys.readouterr().out.splitlines() == [
        "prompt: 'which only'",
        "step   valid loss   greedy continuation",
        "   0         5.56   'nnnn'",
        "  20         3.50   'eeee'",
        " 700         2.31   'the the '",
        "1433         2.03   'g the and'"]
    run_reports.samples_table([(10000, "x")], [], "p")  # a step with no validation loss, a wider step column
    assert capsys.readouterr().out.splitlines()[1:] == [" step   valid loss   greedy continuation",
                                                        "10000                'x'"]


def test_your_loops_batches_are_the_first_chunks_in_order_and_every_validation_chunk():
    chunks = DatasetDict(train=Dataset.from_dict({"input_ids": [[i, i] for i in range(10)]}),
                         valid=Dataset.from_dict({"input_ids": [[i, i] for i in range(5)]}))

    def collate(rows):
        return {"input_ids": torch.tensor([row["input_ids"] for row in rows])}

    train, valid = run_reports.own_loop_batches(chunks, steps=3, chunks_a_step=2, collator=collate)
    assert [batch["input_ids"][:, 0].tolist() for batch in train] == [[0, 1], [2, 3], [4, 5]]
    assert [batch["input_ids"][:, 0].tolist() for batch in valid] == [[0, 1, 2, 3], [4]]
    train, _ = run_reports.own_loop_batches(chunks, steps=100, chunks_a_step=4, collator=collate)
    assert len(train) == 2  # only as many full steps as there are chunks


def test_your_loops_line_says_where_it_ends_or_what_is_missing(capsys, monkeypatch):
    drawn = []
    monkeypatch.setattr(run_reports, "show", lambda *figure: drawn.append(figure))
    lines = {"unigram count": 3.1, "bigram count": 2.5}
    run_reports.own_loop_report([], [], 5.55, 257, lines)
    assert capsys.readouterr().out == "Write exercise 2b's loop first (it returned no losses); this cell then trains " \
                                      "with it.\n" and not drawn
    run_reports.own_loop_report([5.0, 4.0], [], 5.55, 257, lines)
    assert capsys.readouterr().out == "your loop returned no evaluations\n" and len(drawn) == 1
    run_reports.own_loop_report([5.0, 2.8], [(1, 3.0), (2, 2.8)], 5.55, 257, lines)
    assert capsys.readouterr().out == ("your loop: validation loss at step 2, 2.80 nats per byte, 0.30 under the "
                                       "unigram count (3.10), 0.30 above the bigram count (2.50)\n")
    run_reports.own_loop_report([5.0, 2.8], [(2, 2.8)], 5.55, 257, lines, whose="the reference loop")
    assert capsys.readouterr().out.startswith("the reference loop: validation loss at step 2, 2.80")
    assert drawn[-1][1].startswith("Training loss of the reference loop over 2 steps")  # the figure's alt text


class Bytes:
    """A byte tokenizer's decode: latin letters as themselves, 255 as half of a character of two bytes."""

    @staticmethod
    def decode(ids):
        return "".join("\ufffd" if i == 255 else chr(i) for i in ids)


def test_context_gains_shows_the_largest_gain_for_each_different_byte_and_skips_split_characters(capsys):
    rows = [[ord(c) for c in "abcdefg"], [ord(c) for c in "xyzabcd"], [ord("q"), 255, 255, ord("r"), 97, 98, 99]]
    gain = torch.zeros(3, 6)
    gain[0, 1] = 0.9  # predicting "c" after "ab"
    gain[1, 4] = 0.8  # "c" again, after "xyzab": a smaller gain for the same byte, not shown
    gain[2, 0] = 0.95  # inside a character of two bytes: skipped
    gain[1, 0] = 0.5  # "y" after "x"
    gain[0, 5] = -0.2
    ln_p = torch.full((3, 6), -1.0)
    pair_p = torch.full((3, 6), 0.1)
    run_reports.context_gains(gain, ln_p, pair_p, Dataset.from_dict({"input_ids": rows}), Bytes(), n=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "better than the bigram model at 22% of 18 unseen positions"  # 4 of 18
    assert lines[1] == "the largest gain for each of 2 bytes (the bytes before -> the true next byte):"
    assert lines[2:] == [f"{'ab'!r:>20} -> {'c'!r:<5} p 0.368, bigram 0.100",
                         f"{'x'!r:>20} -> {'y'!r:<5} p 0.368, bigram 0.100"]


def test_two_talks_are_compared_by_how_sure_each_is_and_the_loss_on_the_text_s_own_tokens(gpt2_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    def tiny(scale):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(gpt2_tokenizer), n_positions=32, n_layer=1, n_embd=16,
                                           n_head=2)).eval()
        with torch.no_grad():
            model.transformer.wte.weight.mul_(scale)  # tied to the output layer: sharper probabilities
        return model

    flat, sharp = tiny(1.0), tiny(40.0)
    ids = gpt2_tokenizer("The river flows past the old mill, and the town sleeps under the hill while rain falls "
                         "on the roofs and the fields around it.")["input_ids"][:24]
    line = run_reports.talks_compared({"flat": flat, "sharp": sharp}, ids, gpt2_tokenizer)
    surer, closer = line.splitlines()
    assert surer.startswith("surer of its own choices: sharp (the chosen tokens' mean probability ")
    losses = {}
    for name, model in (("flat", flat), ("sharp", sharp)):
        labels = torch.tensor([[-100] * 16 + ids[16:24]])  # the loss on the 8 tokens after the 16-token prompt
        with torch.no_grad():
            losses[name] = model(input_ids=torch.tensor([ids]), labels=labels).loss.item()
    best, worst = sorted(losses, key=losses.get)
    assert closer == (f"more probability on the text's own next 8 tokens: {best} (loss {losses[best]:.2f} against "
                      f"{losses[worst]:.2f} nats)")
