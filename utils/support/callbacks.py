"""The callbacks notebook 3's runs add to the stock Trainer (``utils.pretraining.support_callbacks``): each changes
when a run evaluates or stops, or what it leaves behind, never a training step's arithmetic."""

from __future__ import annotations

import contextlib
import gc
import math

from accelerate.utils import extract_model_from_parallel
from transformers import TrainerCallback

from utils.support.allocator import keep_freed_memory, reuse_freed_memory


class StopOnNonFiniteLoss(TrainerCallback):
    """Stops training with one clear error when the logged training loss is NaN or infinite: from there on the
    weights are garbage, and a figure would show nothing, or an average that hides it."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise FloatingPointError(f"The training loss became {loss} by step {state.global_step}: training stopped, "
                                     "the weights are no longer usable. Lower the learning rate (or turn bf16 off) "
                                     "and train again from the start or from an earlier checkpoint.")


class ReuseFreedMemory(TrainerCallback):
    """While a Trainer trains, glibc's malloc keeps every freed block for the next step, and hands it all back when
    training ends (``utils.support.allocator``): a training step reuses the last one's memory instead of paying for
    fresh, zeroed pages (2.4x faster steps for the classroom model on a 2-core CPU, benchmarks/README.md). It
    changes nothing in the Trainer's steps; elsewhere than glibc it does nothing. A run starts by collecting what
    earlier runs left behind, and ends by dropping the optimizer's moments (two numbers a weight): a kernel left open
    holds the trained model, not its training state. A checkpoint keeps them, so ``resume_from_checkpoint`` still
    continues where training stopped."""

    def __init__(self):
        self._reusing = contextlib.ExitStack()

    def on_train_begin(self, args, state, control, **kwargs):
        self._reusing.close()  # an interrupted run never reached on_train_end
        gc.collect()  # an earlier run's model and optimizer (`del trainer`) sit in reference cycles until collected
        keep_freed_memory()
        self._reusing.enter_context(reuse_freed_memory())

    def on_train_end(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None:  # checkpoints are written by now; the moments go before the memory is handed back
            optimizer.state.clear()
        self._reusing.close()


class EvaluateAlsoAt(TrainerCallback):
    """Evaluates after the given optimizer steps too, besides every ``eval_steps``: a run whose loss falls fastest
    early gets points where it falls, without evaluating that often all the way through."""

    def __init__(self, steps=()):
        self.steps = frozenset(steps)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            control.should_evaluate = True


class PlainForwardAfterTraining(TrainerCallback):
    """Gives the trained model its own ``forward`` back when training ends. For bf16 mixed precision, accelerate wraps
    ``model.forward`` in autocast and leaves the wrapper on after training, so the model in the kernel would go on
    answering in bf16, and the same model reloaded from its saved weights in fp32: two slightly different numbers for
    one model. Without mixed precision there is no wrapper and nothing changes."""

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if model is not None:
            extract_model_from_parallel(model, keep_fp32_wrapper=False)  # in place: the wrapper comes off
