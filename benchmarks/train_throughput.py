"""Training throughput: the original tutorial's setup vs ours, same model, data and steps, alternated.

Original: GPT-2 124M as GPT2Config() defines it (dropout 0.1), context 128, Trainer defaults (fp32), batch 8.
Ours:     the `full` profile's GPT-2 124M (utils.tools.pretrain: no dropout) with this device's precision policy
          (bf16 autocast on a bf16 CPU), same batch, same chunks, same seed.
Also reports model FLOP utilisation against a bf16 and an fp32 matmul peak measured in the same run.
Target: ours >= 2x samples/s. Run: .venv/bin/python benchmarks/train_throughput.py
"""

import os
import tempfile
import time

import datasets
import torch
from datasets import Dataset
from transformers import DataCollatorForLanguageModeling, GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from utils import pretraining
from utils.chunking import chunk_dataset
from utils.device import pick_device, trainer_kwargs
from utils.models import load_tokenizer
from utils.profiles import PRETRAINING
from utils.wikipedia import sample_articles

STEPS = int(os.environ.get("BENCH_STEPS", 6))
ROUNDS = 2
BATCH, CONTEXT = 8, 128


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n matmul in ``dtype`` on this CPU (best of ``repeats``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def original_model(tokenizer) -> GPT2LMHeadModel:
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=CONTEXT))
    model.loss_type = "ForCausalLM"  # what transformers falls back to anyway, minus its warning
    return model


def our_model(tokenizer) -> GPT2LMHeadModel:
    return pretraining.new_gpt2(pretraining.gpt2_config(tokenizer, PRETRAINING["full"]))


def run(chunks: Dataset, tokenizer, make_model, precision: dict, seed: int) -> tuple[float, float]:
    """(seconds per optimizer step: median of the steps after the first, mean training loss) for one Trainer run."""
    torch.manual_seed(seed)
    model = make_model(tokenizer)
    step_times = []

    class Timer(Trainer):
        def training_step(self, *args, **kwargs):
            started = time.perf_counter()
            loss = super().training_step(*args, **kwargs)
            step_times.append(time.perf_counter() - started)
            return loss

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(out, max_steps=STEPS, per_device_train_batch_size=BATCH, report_to=[],
                                 save_strategy="no", disable_tqdm=True, seed=seed, **precision)
        trainer = Timer(model=model, args=args, train_dataset=chunks,
                        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
        trainer.remove_callback(PrinterCallback)  # no per-run log dicts between the figures
        result = trainer.train()
    rest = sorted(step_times[1:])
    return rest[len(rest) // 2], result.training_loss


def main() -> None:
    datasets.disable_progress_bars()
    device = pick_device()
    tokenizer = load_tokenizer("gpt2")
    tokenizer.pad_token = tokenizer.eos_token
    chunks, _ = chunk_dataset(sample_articles().select(range(10)), tokenizer, CONTEXT)
    chunks = chunks.select(range(BATCH * STEPS))
    setups = {"original (fp32)": (original_model, {"use_cpu": True} if device.type == "cpu" else {}),
              "ours": (our_model, trainer_kwargs(device))}
    print(f"GPT-2 124M, batch {BATCH} x {CONTEXT} tokens, {STEPS} steps per run, {ROUNDS} alternating rounds; "
          f"ours = {setups['ours'][1]}, dropout {PRETRAINING['full']['dropout']} (original 0.1)")
    seconds = {name: [] for name in setups}
    losses = {name: [] for name in setups}
    for r in range(ROUNDS):
        for name, (make_model, precision) in setups.items():
            step_seconds, loss = run(chunks, tokenizer, make_model, precision, seed=r)
            seconds[name].append(step_seconds)
            losses[name].append(loss)
    n_params = 124.4e6
    flops_per_step = 6 * n_params * BATCH * CONTEXT  # forward + backward, weights only
    peaks = {"original (fp32)": matmul_peak(torch.float32), "ours": matmul_peak(torch.bfloat16)}
    for name, t in seconds.items():
        best = min(t)
        achieved = flops_per_step / best
        print(f"{name:<16} {best:6.2f} s/step  {BATCH / best:6.2f} samples/s  {BATCH * CONTEXT / best:7.0f} tokens/s  "
              f"{achieved / 1e9:6.1f} GFLOP/s = {achieved / peaks[name]:.0%} of a {peaks[name] / 1e9:.0f} GFLOP/s "
              f"{'bf16' if name == 'ours' else 'fp32'} matmul peak; mean train loss {sum(losses[name]) / ROUNDS:.3f}")
    print(f"ratio: ours is {min(seconds['original (fp32)']) / min(seconds['ours']):.2f}x the original's samples/s "
          f"(target >= 2x)")


if __name__ == "__main__":
    main()
