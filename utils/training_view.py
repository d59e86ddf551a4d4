"""Watching a Trainer run: a live loss figure in a notebook, one summary line per evaluation in a terminal.

Both read what the Trainer already records (``state.log_history``), through ``TrainerCallback`` hooks:

- ``LiveLossPlot`` redraws one figure in place at each evaluation: the train and validation curves, the
  validation minimum so far, and a short greedy sample of a training prompt. With ``$LLM_TUTORIAL_WIDGETS=off``
  (CI, ``make record``) it draws only the final figure, so a saved notebook holds exactly one.
- ``SummaryLine`` prints ``step 40/120  train 4.278  valid 9.45 (best 8.95 at 20)  21.3 samples/s  ETA 0:29``.
"""

from __future__ import annotations

import math
import textwrap
import time

import torch
from transformers import TrainerCallback

from utils.settings import widgets_on
from utils.support.validation import check_tokenizer, plain_number, whole_number


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

    ``prompt_ids`` is a training prompt; at each evaluation the model continues it greedily by
    ``sample_tokens`` tokens, shown under the curves (memorisation becomes visible as it happens).
    ``baseline`` (e.g. ln of the vocabulary size) is drawn as a dashed line: the loss of a uniform guess.
    """

    def __init__(self, tokenizer, prompt_ids: list[int], title: str = "", sample_tokens: int = 12,
                 baseline: float | None = None, live: bool | None = None):
        check_tokenizer(tokenizer)
        if isinstance(prompt_ids, torch.Tensor):
            prompt_ids = prompt_ids.reshape(-1).tolist()
        if isinstance(prompt_ids, (str, bytes)) or not isinstance(prompt_ids, (list, tuple)) or not prompt_ids \
                or not all(type(plain_number(i)) is int and plain_number(i) >= 0 for i in prompt_ids):
            raise ValueError("prompt_ids must be a non-empty list of token ids (e.g. tokenizer(text)['input_ids']), "
                             f"got {prompt_ids!r:.60}.")
        baseline = plain_number(baseline)
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, (int, float))
                                     or not math.isfinite(baseline)):
            raise ValueError(f"baseline must be a number (e.g. math.log(len(tokenizer))) or None, got {baseline!r}.")
        self.tokenizer, self.prompt_ids, self.title = tokenizer, [plain_number(i) for i in prompt_ids], title
        self.sample_tokens, self.baseline = whole_number(sample_tokens, "sample_tokens"), baseline
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
        rows = getattr(getattr(model, "config", None), "vocab_size", None)
        if rows is not None and max(self.prompt_ids) >= rows:
            raise ValueError(f"prompt_ids holds the id {max(self.prompt_ids):,}, but this model has {rows:,} tokens "
                             f"(ids 0 to {rows - 1:,}): encode the prompt with the model's own tokenizer.")
        with plt.rc_context(STYLE):
            self.figure = Figure(figsize=(11, 5.4), layout="constrained")
            self.ax = self.figure.add_subplot()

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
        """The model's greedy continuation of the training prompt, decoded."""
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
        ax = self.ax
        ax.clear()
        if train:  # told apart by line style and markers, not colour alone
            ax.plot(*zip(*train), label="train loss", linestyle="-")
        if valid:
            ax.plot(*zip(*valid), label="validation loss", linestyle="--", marker="o", markersize=5)
            best_step, best = min(valid, key=lambda sl: sl[1])
            ax.scatter([best_step], [best], color="black", marker="D", s=60, zorder=3,
                       label=f"validation minimum so far ({best:.2f} at step {best_step})")
        if self.baseline:
            ax.axhline(self.baseline, color="grey", linestyle=":", linewidth=1.5,
                       label=f"uniform guess (ln vocabulary = {self.baseline:.2f})")
        top = max([self.baseline or 0] + [v for _, v in train + valid if math.isfinite(v)]) * 1.08 or 1
        ax.set(xlim=(0, max(state.max_steps, 1)), ylim=(0, top), xlabel="optimizer step",
               ylabel="cross-entropy loss (nats)", title=self.title)
        ax.legend(loc="lower left")
        ax.grid(alpha=0.3)
        for text in list(self.figure.texts):
            text.remove()
        status = self.progress.line(args, state)
        if self.samples:
            step, continuation = self.samples[-1]
            status += (f"\ngreedy continuation of the training prompt at step {step}:\n"
                       + textwrap.shorten(repr(continuation), 90, placeholder="..."))
        self.figure.get_layout_engine().set(rect=(0, 0.16, 1, 0.84))
        self.figure.text(0.01, 0.01, status, family="monospace", va="bottom")
        self.alt = self.describe(train, valid)

    def describe(self, train, valid) -> str:
        """The figure's alt text, from the numbers it plots."""
        if not train and not valid:
            return f"Loss curves{' of ' + self.title if self.title else ''}: no step logged yet."
        parts = []
        if train:
            verb = "falls" if train[-1][1] < train[0][1] else "rises"
            parts.append(f"training loss {verb} from {train[0][1]:.2f} to {train[-1][1]:.3f} by step {train[-1][0]}")
        if valid:
            best_step, best = min(valid, key=lambda sl: sl[1])
            ends = ("ends there" if best_step == valid[-1][0] else
                    f"{'rises to' if valid[-1][1] > best else 'ends at'} {valid[-1][1]:.2f} at step {valid[-1][0]}")
            parts.append(f"validation loss is lowest, {best:.2f}, at step {best_step} and {ends}")
        if self.baseline:
            parts.append(f"the dotted grey line is the loss of a uniform guess, {self.baseline:.2f}")
        text = f"Loss curves{' of ' + self.title if self.title else ''}: " + "; ".join(parts) + "."
        if train and valid and train[-1][1] < train[0][1] and valid[-1][1] > min(v for _, v in valid):
            text += " Training loss keeps falling after validation loss has turned up: the model is overfitting."
        if self.samples:
            step, continuation = self.samples[-1]
            text += f" Under the plot, the greedy continuation of the training prompt at step {step}: {continuation!r}."
        return text

    def _show(self) -> None:
        from utils.figures import figure_output, show

        if self.handle is None:
            self.handle = show(self.figure, self.alt, display_id=True)
        else:
            self.handle.update(figure_output(self.figure, self.alt), raw=True)
