"""The live view redraws one figure in place and the script prints one line per evaluation."""

import base64
import types

import pytest
import torch
from datasets import Dataset, DatasetDict, concatenate_datasets

from utils import pretraining, training_view
from utils.profiles import PRETRAINING, choose_profile


def test_loss_curves_split_the_log():
    history = [{"loss": 9.0, "step": 2}, {"eval_loss": 9.5, "step": 2}, {"loss": 8.0, "step": 4},
               {"eval_loss": 9.7, "step": 4}, {"train_loss": 8.5, "step": 4}]
    assert training_view.loss_curves(history) == ([(2, 9.0), (4, 8.0)], [(2, 9.5), (4, 9.7)])


def test_summary_line_reports_losses_throughput_and_time_left(monkeypatch):
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(training_view.time, "perf_counter", lambda: next(clock))
    progress = training_view._Progress()
    progress.begin()
    args = types.SimpleNamespace(per_device_train_batch_size=8, world_size=1)
    state = types.SimpleNamespace(global_step=20, max_steps=120, log_history=[
        {"loss": 9.0, "step": 10}, {"eval_loss": 9.1, "step": 10}, {"loss": 4.25, "step": 20},
        {"eval_loss": 9.4, "step": 20}])
    assert progress.line(args, state) == ("step  20/120  train 4.250  valid 9.40 (best 9.10 at 10)  "
                                          "16.0 samples/s  ETA 0:50")


def test_after_a_resume_throughput_and_time_left_count_only_this_sessions_steps(monkeypatch):
    """A run resumed at step 16 counts the 4 steps of this session over this session's time, not all 20 (which
    would show 5x the real samples/s)."""
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(training_view.time, "perf_counter", lambda: next(clock))
    progress = training_view._Progress()
    progress.begin(None, types.SimpleNamespace(global_step=16, epoch=8.0))
    args = types.SimpleNamespace(per_device_train_batch_size=8, world_size=1)
    state = types.SimpleNamespace(global_step=20, max_steps=24, epoch=10.0, log_history=[])
    assert progress.line(args, state) == "step 20/24  3.2 samples/s  ETA 0:10"  # 4 steps x 8 chunks in 10 s


@pytest.mark.parametrize("history,problem", [(None, "got NoneType"), ([{"loss": 1.0}], "this entry has no 'step'"),
                                             ("loss", "got str")])
def test_loss_curves_refuse_a_history_that_is_not_one(history, problem):
    with pytest.raises(ValueError, match=problem):
        training_view.loss_curves(history)


@pytest.fixture
def tiny_run(gpt2_tokenizer, tmp_path):
    """A 2-layer, 64-wide GPT-2 and 16 chunks of repeated text: 8 steps, evaluated every 2."""
    _, profile = choose_profile(PRETRAINING, "smoke")
    profile |= {"epochs": 4, "eval_every": 2}
    text = "The quick brown fox jumps over the lazy dog. " * 400
    ids = gpt2_tokenizer(text)["input_ids"]
    chunks = Dataset.from_dict({"input_ids": [ids[i:i + 128] for i in range(0, 128 * 16, 128)]})
    gpt2_tokenizer.pad_token = gpt2_tokenizer.eos_token
    torch.manual_seed(0)
    model = pretraining.new_gpt2(pretraining.gpt2_config(gpt2_tokenizer, profile))
    args = pretraining.training_arguments(profile, tmp_path, "cpu", use_cpu=True, bf16=False)
    return model, args, DatasetDict(train=chunks, valid=chunks.select(range(4))), gpt2_tokenizer, ids


class FakeDisplay:
    """Stands in for IPython's display(data, raw=True, display_id=True): counts new outputs and in-place updates, and
    checks each is a PNG with the same picture in an HTML image that has alt text."""

    def __init__(self):
        self.shown, self.updates, self.alts = 0, 0, []

    def check(self, data, raw):
        assert raw is True and base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
        assert data["text/html"].startswith(f'<img src="data:image/png;base64,{data["image/png"]}" alt="')
        self.alts.append(data["text/plain"])

    def __call__(self, data, raw=False, display_id=False):
        assert display_id is True
        self.check(data, raw)
        self.shown += 1
        return types.SimpleNamespace(update=lambda data, raw=False: (self.check(data, raw),
                                                                     setattr(self, "updates", self.updates + 1)))


@pytest.mark.parametrize("live", [True, False])
def test_live_plot_redraws_one_figure_in_place(tiny_run, monkeypatch, live):
    import IPython.display

    model, args, chunks, tokenizer, ids = tiny_run
    fake = FakeDisplay()
    monkeypatch.setattr(IPython.display, "display", fake)
    view = training_view.LiveLossPlot(tokenizer, ids[:8], title="test", sample_tokens=4, baseline=10.8, live=live)
    trainer = pretraining.make_trainer(model, args, chunks, tokenizer, [view])
    trainer.train()
    evaluations = len([h for h in trainer.state.log_history if "eval_loss" in h])
    assert evaluations == 5  # the untrained model, then every 2 steps
    assert fake.shown == 1  # one output, ever
    assert fake.updates == (evaluations if live else 0)  # redrawn at each evaluation, then once more at the end
    assert [step for step, _ in view.samples] == [0, 2, 4, 6, 8]  # a greedy sample at each evaluation
    assert all(isinstance(text, str) and text for _, text in view.samples)
    ax = view.ax
    assert [line.get_label() for line in ax.get_lines()][:2] == ["train loss", "validation loss"]
    _, valid = training_view.loss_curves(trainer.state.log_history)
    best = min(valid, key=lambda sl: sl[1])
    assert tuple(ax.collections[0].get_offsets()[0]) == pytest.approx(best)  # the minimum is marked
    assert "step 8/8" in view.figure.texts[0].get_text()
    train, _ = training_view.loss_curves(trainer.state.log_history)
    verb = "falls" if train[-1][1] < train[0][1] else "rises"
    last = f"{train[-1][1]:.3f}" if train[-1][1] < 0.1 else f"{train[-1][1]:.2f}"  # three decimals only under 0.1
    assert fake.alts[-1].startswith(f"Loss curves of test: training loss {verb} from {train[0][1]:.2f} to "
                                    f"{last} by step 8; validation loss is lowest, {best[1]:.2f}, at step "
                                    f"{best[0]}")
    assert "the dotted grey line is the loss of a uniform guess, 10.80." in fake.alts[-1]
    step, sample = view.samples[-1]
    assert fake.alts[-1].endswith(f"the greedy continuation of the training prompt at step {step}: {sample!r}.")
    rates = training_view.learning_rates(trainer.state.log_history)  # under the losses, from the same log
    assert view.rate_ax.get_lines()[0].get_xydata().tolist() == [list(point) for point in rates]
    assert "Under the losses, the learning rate" in fake.alts[-1]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(view.figure).get_renderer()  # the legend sits right of the curves, not on them
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_script_prints_a_summary_line_per_evaluation(tiny_run, capsys):
    model, args, chunks, tokenizer, _ = tiny_run
    trainer = pretraining.make_trainer(model, args, chunks, tokenizer, [training_view.SummaryLine()])
    trainer.train()
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["0/8", "2/8", "4/8", "6/8", "8/8"]
    assert lines[0].split("  ")[1:] == [lines[0].split("  ")[1]] and "valid " in lines[0]  # untrained: no step yet
    assert all("train " in line and "valid " in line and "samples/s" in line and "ETA" in line for line in lines[1:])
    assert not any("{" in line for line in lines)  # no raw log dicts


def test_samples_per_second_counts_the_chunks_trained_on_like_the_trainer(tiny_run, capsys):
    """With 19 chunks and batches of 8, each epoch's last batch holds 3, and the live line counts 3 for it,
    so its samples/s matches the Trainer's own figure (counting 8 would show about 1.26x as many)."""
    model, args, chunks, tokenizer, _ = tiny_run
    chunks["train"] = concatenate_datasets([chunks["train"], chunks["train"].select(range(3))])  # 19 chunks
    trainer = pretraining.make_trainer(model, args, chunks, tokenizer, [training_view.SummaryLine()])
    result = trainer.train()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    shown = float(last.split(" samples/s")[0].rsplit(" ", 1)[1])
    # the line is printed at the last evaluation, a moment before the Trainer stops its clock
    # (counting 8 chunks a step would give 96 / 76 = 1.26x the Trainer's figure)
    assert shown == pytest.approx(result.metrics["train_samples_per_second"], rel=0.15)


def _history(losses, valid, rates, every=10):
    """A log_history as the Trainer writes it: a training loss and learning rate, then an evaluation, every step."""
    history = []
    for i, (loss, eval_loss, rate) in enumerate(zip(losses, valid, rates), start=1):
        history += [{"loss": loss, "learning_rate": rate, "step": i * every},
                    {"eval_loss": eval_loss, "step": i * every}]
    return history


def test_the_learning_rate_is_described_from_its_points():
    assert training_view.describe_learning_rate([(5, 0.0), (30, 2e-3), (120, 0.0)]) == (
        "the learning rate rises from 0 at step 5 to its peak 0.002 by step 30 and falls to 0 at step 120")
    assert training_view.describe_learning_rate([(10, 1e-3), (20, 5e-4)]) == (
        "the learning rate starts at its peak 0.001 at step 10 and falls to 0.0005 at step 20")


def test_two_runs_side_by_side_share_the_loss_axis_and_draw_their_learning_rates():
    memorising = _history([9.0, 3.0, 0.5], [9.5, 9.0, 10.0], [1e-3, 2e-3, 0.0])
    learning = _history([9.0, 8.0, 7.5], [8.9, 8.0, 7.6], [2e-3, 1e-3, 0.0], every=100)
    figure, alt = training_view.plot_runs({"first": memorising, "second": learning}, {"uniform guess": 10.82},
                                          {"second": {"unigram model": 7.85}})
    (loss_a, loss_b), (_, rate_b) = figure.axes[:2], figure.axes[2:]  # row by row
    # one range: from half a nat under the lowest line of either panel (rounded down, 0 here), to past the highest
    assert loss_a.get_ylim() == loss_b.get_ylim() == (0.0, pytest.approx(10.82 * 1.08))
    # the unigram line is the second run's text's: drawn in its panel only, and in the one legend
    assert [line.get_label() for line in loss_a.get_lines()].count("unigram model (7.85)") == 0
    assert [line.get_label() for line in loss_b.get_lines()].count("unigram model (7.85)") == 1
    assert "unigram model (7.85)" in [t.get_text() for t in figure.legends[0].get_texts()]
    figure.canvas.draw()  # the learning rate reads as itself, with no "1e-3" offset for students to miss
    assert "0.002" in [label.get_text() for label in rate_b.get_yticklabels()]
    assert rate_b.yaxis.get_offset_text().get_text() == ""
    assert [tuple(xy) for xy in rate_b.get_lines()[0].get_xydata()] == [(100, 2e-3), (200, 1e-3), (300, 0.0)]
    assert loss_a.get_legend() is None and loss_b.get_legend() is None and len(figure.legends) == 1  # one, below
    assert [t.get_text() for t in figure.legends[0].get_texts()][2] == "validation minimum"  # true for both panels
    assert [t.get_text() for t in loss_a.texts] == ["9.00 at step 20"]  # each panel writes its own minimum
    assert "first: training loss falls from 9.00 to 0.50 by step 30; validation loss is lowest, 9.00, at step 20 " \
           "and rises to 10.00 at step 30" in alt
    assert "second: training loss falls from 9.00 to 7.50 by step 300; validation loss is lowest, 7.60, at step " \
           "300 and ends there" in alt
    assert alt.endswith("the same in every panel: the uniform guess, 10.82. Only in the panel 'second': the unigram "
                        "model, 7.85.")


def test_runs_in_different_units_each_get_their_own_loss_scale_and_no_shared_line():
    per_token = _history([9.0, 3.0, 0.5], [9.5, 9.0, 10.0], [1e-3, 2e-3, 0.0])
    per_byte = _history([5.0, 3.0, 2.2], [4.9, 3.1, 2.3], [2e-3, 1e-3, 0.0], every=100)
    figure, alt = training_view.plot_runs({"tokens": per_token, "bytes": per_byte}, {},
                                          {"tokens": {"uniform guess": 10.82}, "bytes": {"uniform guess": 5.55}},
                                          same_scale=False, units={"bytes": "nats per byte"})
    loss_a, loss_b = figure.axes[:2]
    assert loss_a.get_ylabel() == "cross-entropy loss (nats)"  # no unit given: the default
    assert loss_b.get_ylabel() == "loss (nats per byte)"
    assert loss_a.get_ylim()[1] == pytest.approx(10.82 * 1.08) and loss_b.get_ylim()[1] == pytest.approx(5.55 * 1.08)
    assert "each panel's losses on its own scale" in alt and "the same in every panel" not in alt
    assert alt.endswith("Only in the panel 'bytes': the uniform guess, 5.55.")


def test_the_live_plot_draws_the_unigram_and_bigram_lines_and_names_its_prompt(gpt2_tokenizer):
    view = training_view.LiveLossPlot(gpt2_tokenizer, [464, 3290], title="t", baseline=10.82, unigram=7.85,
                                      prompt_name="unseen prompt", live=False, bigram=7.15)
    view.on_train_begin(None, types.SimpleNamespace(global_step=0, epoch=0.0), None)
    view.samples.append((300, " the the"))
    args = types.SimpleNamespace(per_device_train_batch_size=4, world_size=1)
    state = types.SimpleNamespace(global_step=300, max_steps=300, epoch=1.0,
                                  log_history=_history([9.0, 8.0, 7.5], [8.9, 8.0, 7.6], [2e-3, 1e-3, 0.0], 100))
    view._draw(args, state)
    labels = [line.get_label() for line in view.ax.get_lines()]
    assert {"unigram model (7.85)", "uniform guess (10.82)", "bigram model (7.15)"} <= set(labels)
    # the axis starts half a nat under the lowest line, rounded down: the gap to the bigram line stays visible
    assert view.ax.get_ylim()[0] == 6.0
    assert "the dash-dotted grey line is the loss of the unigram model, 7.85" in view.alt
    assert "the dash-dot-dotted black line is the loss of the bigram model, 7.15" in view.alt
    assert view.alt.endswith("the greedy continuation of the unseen prompt at step 300: ' the the'.")
    with pytest.raises(ValueError, match="unigram must be a number"):
        training_view.LiveLossPlot(gpt2_tokenizer, [1], unigram="7.8")
    with pytest.raises(ValueError, match="bigram must be a number"):
        training_view.LiveLossPlot(gpt2_tokenizer, [1], bigram=float("nan"))


def test_alt_text_gives_losses_to_two_decimals_and_three_under_a_tenth():
    describe = training_view.describe_curves
    assert describe([(0, 10.714), (120, 0.0812)], []) == ["training loss falls from 10.71 to 0.081 by step 120"]
    assert describe([(0, 4.6), (1420, 2.0204)], []) == ["training loss falls from 4.60 to 2.02 by step 1420"]


def test_the_alt_text_calls_a_run_overfitting_only_past_a_tenth_of_a_nat(gpt2_tokenizer):
    view = training_view.LiveLossPlot(gpt2_tokenizer, [464], live=False)
    train = [(0, 5.5), (1400, 2.02)]
    assert "overfitting" not in view.describe(train, [(0, 5.5), (1200, 2.03), (1433, 2.04)])  # noise, not a rise
    said = view.describe([(0, 10.7), (120, 0.08)], [(0, 10.7), (20, 8.94), (120, 10.44)])
    assert said.endswith("has turned up by more than 0.1 nats: the model is overfitting.")


def test_the_alt_text_says_rises_only_past_the_overfitting_margin():
    flat = training_view.describe_curves([(0, 4.6), (100, 2.0)], [(0, 4.6), (90, 2.031), (100, 2.034)])
    risen = training_view.describe_curves([(0, 4.6), (100, 2.0)], [(0, 4.6), (90, 2.031), (100, 2.2)])
    assert flat[1] == "validation loss is lowest, 2.03, at step 90 and ends at 2.03 at step 100"
    assert risen[1] == "validation loss is lowest, 2.03, at step 90 and rises to 2.20 at step 100"
