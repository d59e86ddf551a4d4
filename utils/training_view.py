"""Watching a Trainer run: a live loss figure in a notebook, one summary line per evaluation in a terminal. Both
read what the Trainer already records (``state.log_history``), through ``TrainerCallback`` hooks:

- ``LiveLossPlot`` redraws one figure in place at each evaluation: the train and validation curves, the
  validation minimum so far, the learning rate under them, and a short greedy sample of a training prompt
  (``$LLM_TUTORIAL_WIDGETS=off``, in CI and ``make record``: only the final figure, so a saved notebook holds one).
- ``SummaryLine`` prints ``step 40/120  train 4.278  valid 6.31 (best 6.20 at 30)  21.3 samples/s  ETA 0:29``.
- ``plot_runs`` draws finished runs side by side, each with its learning rate under it.
"""

from __future__ import annotations

import math
import textwrap
import time

import torch
from transformers import TrainerCallback

from utils.settings import widgets_on
from utils.support.validation import check_live_prompt, check_tokenizer, plain_number, whole_number

TURNED_UP = 0.1  # nats above its minimum: a validation loss that has turned up, not rounding or noise


def loss_curves(log_history: list[dict]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, validation): the (step, loss) points a Trainer logged, in order."""
    shape = "trainer.state.log_history (a list of dicts, each with a 'step' and a 'loss' or 'eval_loss')"
    if not isinstance(log_history, (list, tuple)) or not all(isinstance(h, dict) for h in log_history):
        raise ValueError(f"loss_curves takes {shape}, got {type(log_history).__name__}.")
    for h in log_history:
        if ("loss" in h or "eval_loss" in h) and "step" not in h:
            raise ValueError(f"loss_curves takes {shape}; this entry has no 'step': {h!r}.")
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    valid = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    return train, valid


def learning_rates(log_history: list[dict]) -> list[tuple[int, float]]:
    """The (step, learning rate) points a Trainer logged with the training loss: the rate each logged step used."""
    return [(h["step"], h["learning_rate"]) for h in log_history if "learning_rate" in h]


def describe_learning_rate(rates: list[tuple[int, float]]) -> str:
    """One sentence of alt text for a learning-rate curve, from its points."""
    if not rates:
        return "no learning rate logged yet"
    (peak_step, peak), (last_step, last) = max(rates, key=lambda sr: sr[1]), rates[-1]
    # a rate logged every few steps: the peak is reached by the first logged step at it, maybe a little before
    rise, at = ((f"rises from {rates[0][1]:.2g} at step {rates[0][0]} to ", "by") if peak_step > rates[0][0]
                else ("starts at ", "at"))
    return (f"the learning rate {rise}its peak {peak:.2g} {at} step {peak_step}"
            + (f" and falls to {last:.2g} at step {last_step}" if last_step > peak_step else ""))


def draw_losses(ax, train, valid, baselines: dict[str, float], title: str, steps: int, top: float | None = None,
                legend: bool = True, units: str = "nats", bottom: float | None = None):
    """Train and validation curves on ``ax`` (the loss in ``units``, from ``bottom`` to ``top`` where given), the
    validation minimum marked with its value, one horizontal line per baseline (label -> loss), each in its own style,
    and the legend outside the axes, to the right, so that it covers no curve."""
    if train:  # told apart by line style and markers, not colour alone
        ax.plot(*zip(*train), label="train loss", linestyle="-")
    if valid:
        ax.plot(*zip(*valid), label="validation loss", linestyle="--", marker="o", markersize=5)
        best_step, best = min(valid, key=lambda sl: sl[1])
        ax.scatter([best_step], [best], color="black", marker="D", s=60, zorder=3, label="validation minimum")
    # dotted grey, dash-dotted grey, then dash-dot-dotted black: a third line stays apart from the first two
    for (label, value), (style, colour) in zip(baselines.items(), ((":", "grey"), ("-.", "grey"),
                                                                   ((0, (4, 2, 1, 2, 1, 2)), "black"))):
        ax.axhline(value, color=colour, linestyle=style, linewidth=1.5, label=f"{label} ({value:.2f})")
    drawn = [*baselines.values()] + [v for _, v in train + valid if math.isfinite(v)]
    top, bottom = top or max([*drawn, 0]) * 1.08 or 1, _bottom(drawn) if bottom is None else bottom
    ax.set(xlim=(0, max(steps, 1) * 1.03), ylim=(bottom, top), ylabel=f"cross-entropy loss ({units})",
           title=title)  # 3% past the last step: a minimum there stays whole
    if valid:  # the minimum's value beside it, where its label crosses no line and no curve
        label = f"{best:.2f} at step {best_step}"
        late = best_step > 0.6 * max(steps, 1)  # a late minimum's label goes left of it, an early one's right
        rise = _free_rise(ax, (best_step, best), label, -1 if late else 1, [*baselines.values()], [train, valid])
        ax.annotate(label, (best_step, best), textcoords="offset points", xytext=(-10 if late else 10, rise),
                    ha="right" if late else "left", va="bottom" if rise > 0 else "top",
                    arrowprops=dict(arrowstyle="-", color="black", lw=0.8) if abs(rise) > 12 else None,
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    _readable_ticks(ax)


def _bottom(drawn: list[float]) -> float:
    """Half a nat under the lowest line, rounded down (0 if that is near): from 0, gaps of tenths would be slivers."""
    return max(0.0, math.floor(min(drawn, default=0.0) - 0.5))


def _free_rise(ax, point, label: str, side: int, lines: list[float], curves: list[list[tuple[int, float]]]) -> int:
    """How far above (> 0) or below the ``point`` its ``label`` goes, in points, on ``side`` (1: right, -1: left):
    the nearest of 12, 30 and 48 points, below first on the right, above first on the left, whose box (its size
    estimated from the font) no horizontal line and no curve crosses; 12 above or below where none is free."""
    from utils.figures import MIN_FONT_PT

    (x0, x1), (y0, y1), box = ax.get_xlim(), ax.get_ylim(), ax.get_position()
    width_in, height_in = ax.figure.get_size_inches()
    per_x, per_y = (x1 - x0) / (box.width * width_in * 72), (y1 - y0) / (box.height * height_in * 72)
    wide, high = 0.6 * MIN_FONT_PT * len(label) * per_x, 1.4 * MIN_FONT_PT * per_y
    near = point[0] + side * 10 * per_x
    xs = [near + side * wide * i / 20 for i in range(21)]
    order = (12, -12, 30, -30, 48, -48) if side < 0 else (-12, 12, -30, 30, -48, 48)
    for rise in order:
        low = point[1] + rise * per_y - (high if rise < 0 else 0)
        crossed = any(low <= y <= low + high for y in lines) or any(low <= y <= low + high for curve in curves if curve
            for y in _interpolate(curve, [x for x in xs if curve[0][0] <= x <= curve[-1][0]]))
        if not crossed:
            return rise
    return order[0]


def _interpolate(curve: list[tuple[int, float]], xs: list[float]) -> list[float]:
    """The piecewise-linear ``curve`` (step, value) read at each of ``xs`` (within its steps)."""
    import numpy as np

    steps, values = zip(*curve)
    return list(np.interp(xs, steps, values)) if xs else []


def draw_learning_rate(ax, rates, steps: int):
    """The learning rate each logged step used, on ``ax`` (under the loss curves)."""
    if rates:
        ax.plot(*zip(*rates), color="#009E73", label="learning rate")
    ax.set(xlim=(0, max(steps, 1) * 1.03), xlabel="optimizer step", ylabel="learning rate")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:g}")  # 0.002, not "2" under a small "1e-3"
    _readable_ticks(ax)


def _readable_ticks(ax):
    """A grid, and tick labels (made when the figure is drawn, maybe outside ``STYLE``) in the style's size."""
    from utils.figures import MIN_FONT_PT

    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=MIN_FONT_PT)
    ax.yaxis.get_offset_text().set_fontsize(MIN_FONT_PT)


def plot_runs(runs: dict[str, list[dict]], baselines: dict[str, float],
              own_baselines: dict[str, dict[str, float]] | None = None, same_scale: bool = True,
              units: dict[str, str] | None = None):
    """(figure, alt text): finished runs side by side, each its ``trainer.state.log_history`` under its title, on one
    loss axis (``same_scale=False``: each its own, for other units), the ``baselines`` (label -> loss) on each, a run's
    ``own_baselines`` (title -> label -> loss) on its panel only, its ``units`` (title -> e.g. "nats per byte") on its
    loss axis where given, and its learning rate under it."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from utils.figures import STYLE

    own_baselines, curves = own_baselines or {}, {title: loss_curves(history) for title, history in runs.items()}

    lines = [*baselines.values()] + [v for title in runs for v in own_baselines.get(title, {}).values()]
    drawn = lines + [v for train, valid in curves.values() for _, v in train + valid if math.isfinite(v)]
    # one loss range for all, so the panels compare at a glance; in other units, each panel sets its own
    bottom, top = (_bottom(drawn), max(drawn) * 1.08) if same_scale else (None, None)
    alt = [f"{len(runs)} training runs side by side, losses above and learning rates below"
           + ("." if same_scale else ", each panel's losses on its own scale.")]
    with plt.rc_context(STYLE):
        figure = Figure(figsize=(6 * len(runs), 6.8), layout="constrained")
        axes = figure.subplots(2, len(runs), squeeze=False, height_ratios=(3, 1), sharex="col")
        for column, (title, history) in enumerate(runs.items()):
            train, valid = curves[title]
            steps = max((s for s, _ in train + valid), default=1)
            draw_losses(axes[0, column], train, valid, baselines | own_baselines.get(title, {}), title, steps, top,
                        legend=False, bottom=bottom)
            if (units or {}).get(title):
                axes[0, column].set_ylabel(f"loss ({units[title]})")
            draw_learning_rate(axes[1, column], learning_rates(history), steps)
            alt.append(f"{title}: " + "; ".join(describe_curves(train, valid)) + "; "
                       + describe_learning_rate(learning_rates(history)) + ".")
        merged = _merged_legend(axes[0])
        figure.legend(list(merged.values()), list(merged), loc="outside lower center", ncols=3)  # one for all panels
    if baselines:
        alt.append("The baseline lines, the same in every panel: " + ", ".join(f"the {label}, {value:.2f}"
                                                                           for label, value in baselines.items()) + ".")
    for title, extra in own_baselines.items():
        alt.append(f"Only in the panel {title!r}: " + ", ".join(f"the {label}, {value:.2f}"
                                                             for label, value in extra.items()) + ".")
    return figure, " ".join(alt)


def _merged_legend(axes) -> dict:
    """label -> handle over the panels, in order, each label once (a line drawn in one panel only is there too)."""
    merged = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            merged.setdefault(label, handle)
    return merged


def _nats(loss: float) -> str:
    """A loss for the alt text: two decimals, three under 0.1 (where two would say 0.08 for 0.081 and 0.075)."""
    return f"{loss:.3f}" if abs(loss) < 0.1 else f"{loss:.2f}"


def describe_curves(train, valid) -> list[str]:
    """Alt-text phrases for a training and a validation curve, from their points."""
    parts = []
    if train:
        verb = "falls" if train[-1][1] < train[0][1] else "rises"
        parts.append(f"training loss {verb} from {train[0][1]:.2f} to {_nats(train[-1][1])} by step {train[-1][0]}")
    if valid:
        best_step, best = min(valid, key=lambda sl: sl[1])
        verb = "rises to" if valid[-1][1] > best + TURNED_UP else "ends at"  # as the overfitting sentence judges it
        ends = "ends there" if best_step == valid[-1][0] else f"{verb} {valid[-1][1]:.2f} at step {valid[-1][0]}"
        parts.append(f"validation loss is lowest, {best:.2f}, at step {best_step} and {ends}")
    return parts


class _Progress:
    """Steps, throughput and time left, from the wall clock since training began. Throughput counts the chunks
    trained on (epochs done x chunks in the training set), as the Trainer's own ``train_samples_per_second``
    does: an epoch's last batch is often smaller than ``batch_size``."""

    def __init__(self):
        self.started = None
        self.per_epoch = None  # chunks in the training set, when the Trainer says
        self.first_step, self.first_epoch = 0, 0.0  # where this session began (a resumed run starts part-way)

    def begin(self, train_dataloader=None, state=None):
        self.started = time.perf_counter()
        self.first_step = getattr(state, "global_step", 0) or 0
        self.first_epoch = getattr(state, "epoch", 0.0) or 0.0
        try:
            self.per_epoch = len(train_dataloader.dataset)
        except (AttributeError, TypeError):
            self.per_epoch = None

    def line(self, args, state) -> str:
        elapsed = time.perf_counter() - (self.started or time.perf_counter())
        train, valid = loss_curves(state.log_history)
        parts = [f"step {state.global_step:>{len(str(state.max_steps))}}/{state.max_steps}"]
        if train:
            parts.append(f"train {train[-1][1]:.3f}")
        if valid:
            best_step, best = min(valid, key=lambda sl: sl[1])
            parts.append(f"valid {valid[-1][1]:.2f} (best {best:.2f} at {best_step})")
        taken = state.global_step - self.first_step  # the steps this session took, and so timed
        if taken > 0 and elapsed > 0:
            samples = ((state.epoch - self.first_epoch) * self.per_epoch if self.per_epoch and state.epoch else
                       taken * args.per_device_train_batch_size * args.world_size)
            left = elapsed / taken * (state.max_steps - state.global_step)
            parts.append(f"{samples / elapsed:.1f} samples/s")
            parts.append(f"ETA {int(left // 60)}:{int(left % 60):02d}")
        return "  ".join(parts)


class SummaryLine(TrainerCallback):
    """Prints one line per evaluation (and one at the end) on the main process, instead of raw log dicts."""

    def __init__(self, print_fn=print):
        self.progress = _Progress()
        self.print = print_fn

    def on_train_begin(self, args, state, control, **kwargs):
        self.progress.begin(kwargs.get("train_dataloader"), state)

    def on_evaluate(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.print(self.progress.line(args, state), flush=True)


class LiveLossPlot(TrainerCallback):
    """One figure, redrawn in place at each evaluation: loss curves, the validation minimum, a greedy sample.

    ``prompt_ids`` is a prompt (``prompt_name`` says which: a training prompt by default); at each evaluation the
    model continues it greedily by ``sample_tokens`` tokens, shown under the curves (memorisation, or what the
    model has learnt, becomes visible as it happens).
    ``baseline`` (e.g. ln of the vocabulary size) is drawn as a dotted line: the loss of a uniform guess;
    ``unigram`` (``utils.baselines.unigram_loss``) as a dash-dotted one: the loss of guessing by token frequency;
    ``bigram`` (``utils.baselines.bigram_loss``) as a dash-dot-dotted one: guessing from the token before. The
    learning rate each logged step used is drawn under the losses. ``units``: the loss axis's ("nats per byte").
    """

    def __init__(self, tokenizer, prompt_ids: list[int], title: str = "", sample_tokens: int = 12,
                 baseline: float | None = None, live: bool | None = None, unigram: float | None = None,
                 prompt_name: str = "training prompt", bigram: float | None = None, units: str = "nats"):
        check_tokenizer(tokenizer)
        if isinstance(prompt_ids, torch.Tensor):
            prompt_ids = prompt_ids.reshape(-1).tolist()
        if isinstance(prompt_ids, (str, bytes)) or not isinstance(prompt_ids, (list, tuple)) or not prompt_ids \
                or not all(type(plain_number(i)) is int and plain_number(i) >= 0 for i in prompt_ids):
            raise ValueError("prompt_ids must be a non-empty list of token ids (e.g. tokenizer(text)['input_ids']), "
                             f"got {prompt_ids!r:.60}.")
        baseline, unigram, bigram = plain_number(baseline), plain_number(unigram), plain_number(bigram)
        for name, value in (("baseline", baseline), ("unigram", unigram), ("bigram", bigram)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ValueError(f"{name} must be a number (e.g. math.log(len(tokenizer))) or None, got {value!r}.")
        self.tokenizer, self.prompt_ids, self.title = tokenizer, [plain_number(i) for i in prompt_ids], title
        self.sample_tokens, self.baseline = whole_number(sample_tokens, "sample_tokens"), baseline
        self.prompt_name, self.units = str(prompt_name), str(units)
        self.baselines = {label: value for label, value in (("uniform guess", baseline), ("unigram model", unigram),
                                                            ("bigram model", bigram)) if value is not None}
        self.live = widgets_on() if live is None else live
        self.progress = _Progress()
        self.samples: list[tuple[int, str]] = []  # (step, greedy continuation) at each evaluation
        self.handle = None
        self.figure = None

    # ----- Trainer hooks -----
    def on_train_begin(self, args, state, control, **kwargs):
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        from utils.figures import STYLE

        self.progress.begin(kwargs.get("train_dataloader"), state)
        model = kwargs.get("model")
        if model is not None:  # the prompt's ids are the model's, and the prompt and its sample fit its context
            check_live_prompt(model, self.prompt_ids, self.sample_tokens)
        with plt.rc_context(STYLE):
            self.figure = Figure(figsize=(11, 6.8), layout="constrained")
            self.ax, self.rate_ax = self.figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if model is not None:
            self.samples.append((state.global_step, self.sample(model)))
        if self.live:
            self.draw(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self.draw(args, state)

    # ----- what is shown -----
    @torch.no_grad()
    def sample(self, model) -> str:
        """The model's greedy continuation of the prompt, decoded."""
        was_training = model.training
        model.eval()
        prompt = torch.tensor([self.prompt_ids], device=model.device)
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=self.sample_tokens,
                             do_sample=False, pad_token_id=self.tokenizer.eos_token_id)
        model.train(was_training)
        return self.tokenizer.decode(out[0, len(self.prompt_ids):])

    def draw(self, args, state) -> None:
        import matplotlib.pyplot as plt

        from utils.figures import STYLE

        with plt.rc_context(STYLE):
            self._draw(args, state)
        self._show()

    def _draw(self, args, state) -> None:
        train, valid = loss_curves(state.log_history)
        rates = learning_rates(state.log_history)
        self.ax.clear()
        self.rate_ax.clear()
        draw_losses(self.ax, train, valid, self.baselines, self.title, state.max_steps, units=self.units)
        draw_learning_rate(self.rate_ax, rates, state.max_steps)
        for text in list(self.figure.texts):
            text.remove()
        status = self.progress.line(args, state)
        if self.samples:
            step, continuation = self.samples[-1]
            status += (f"\ngreedy continuation of the {self.prompt_name} at step {step}:\n"
                       + textwrap.shorten(repr(continuation), 90, placeholder="..."))
        self.figure.get_layout_engine().set(rect=(0, 0.13, 1, 0.87))
        self.figure.text(0.01, 0.01, status, family="monospace", va="bottom")
        self.alt = self.describe(train, valid, rates)

    def describe(self, train, valid, rates=()) -> str:
        """The figure's alt text, from the numbers it plots."""
        if not train and not valid:
            return f"Loss curves{' of ' + self.title if self.title else ''}: no step logged yet."
        parts = describe_curves(train, valid)
        if self.baseline:
            parts.append(f"the dotted grey line is the loss of a uniform guess, {self.baseline:.2f}")
        if "unigram model" in self.baselines:
            unigram = self.baselines["unigram model"]
            parts.append(f"the dash-dotted grey line is the loss of the unigram model, {unigram:.2f}")
        if "bigram model" in self.baselines:
            parts.append(f"the dash-dot-dotted black line is the loss of the bigram model, "
                         f"{self.baselines['bigram model']:.2f}")
        text = f"Loss curves{' of ' + self.title if self.title else ''}: " + "; ".join(parts) + "."
        if train and valid and train[-1][1] < train[0][1] and valid[-1][1] > min(v for _, v in valid) + TURNED_UP:
            text += (" Training loss keeps falling after validation loss has turned up by more than 0.1 nats: the "
                     "model is overfitting.")
        if rates:
            text += f" Under the losses, {describe_learning_rate(rates)}."
        if self.samples:
            step, continuation = self.samples[-1]
            text += (f" Under the plot, the greedy continuation of the {self.prompt_name} at step {step}: "
                     f"{continuation!r}.")
        return text

    def _show(self) -> None:
        from utils.figures import figure_output, show

        if self.handle is None:
            self.handle = show(self.figure, self.alt, display_id=True)
        else:
            self.handle.update(figure_output(self.figure, self.alt), raw=True)
