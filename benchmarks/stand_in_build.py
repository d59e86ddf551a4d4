"""The masked-LM stand-in's build time on this CPU, as it is and with its instruction sets limited to AVX2.

The stand-in (notebook 1's offline model, ``utils/offline/masked_lm_stand_in.py``) trains 300 steps; most students'
laptops have AVX2 and neither AVX-512 nor bf16, and there a build is several times slower. Each row starts the build
exactly as ``make setup`` does (its data, model, optimizer, masking and Trainer), in a fresh process, times
``STEPS`` training steps after the first, and extrapolates the whole build from their median with the build's own
estimate (``masked_lm_stand_in.time_left``: the steps, then scoring the held-out chunks twice). Rows, alternated
twice so that a slow minute of a shared machine hits each:
- this CPU as it is (bf16 autocast where it has bf16);
- oneDNN and MKL limited to AVX2 (so no bf16: fp32);
- oneDNN, MKL and torch's own kernels limited to AVX2 (nearer a real AVX2 laptop).
A real 2-core AVX2 CPU is slower still than the last row: flags cannot take away AVX-512's wider registers from every
kernel, nor the faster memory of a server. The asset cache must hold the stand-in's inputs (``make setup``).

Run: .venv/bin/python benchmarks/stand_in_build.py [--steps N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NO_BF16 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ALL_AVX2 = NO_BF16 | {"ATEN_CPU_CAPABILITY": "avx2"}
ROWS = {"this CPU as it is": {}, "oneDNN and MKL limited to AVX2 (fp32)": NO_BF16,
        "oneDNN, MKL and torch's own kernels limited to AVX2": ALL_AVX2}
TARGET_S = 8 * 60  # the build on a 2-core AVX2 CPU, at most

BUILD_STEPS = """
import sys, tempfile, time
import torch
from transformers import AutoTokenizer, BertForMaskedLM, TrainerCallback
from utils.offline import masked_lm_stand_in as stand_in
from utils.offline.assets import WIKI_SAMPLE, asset_dir

steps = int(sys.argv[1])
times = []

class Timer(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        times.append(time.perf_counter() - self.started)
        control.should_training_stop = state.global_step > steps  # the first step warms up

stand_in.seed_everything(stand_in.SEED)
tokenizer = AutoTokenizer.from_pretrained(asset_dir("bert-tokenizer", build_missing=False), trust_remote_code=False)
_, train, _ = stand_in._chunks(tokenizer, asset_dir("wikipedia-sample", build_missing=False) / WIKI_SAMPLE.name)
with stand_in._quiet_transformers():
    model = BertForMaskedLM.from_pretrained(asset_dir("minilm-encoder", build_missing=False), use_safetensors=True,
                                            trust_remote_code=False, hidden_dropout_prob=0.0,
                                            attention_probs_dropout_prob=0.0, attn_implementation="eager")
trainer = stand_in._trainer(model, tokenizer, train, __import__("pathlib").Path(tempfile.mkdtemp()))
trainer.remove_callback(stand_in._Progress)
trainer.add_callback(Timer())
trainer.train()
print(" ".join(f"{t:.4f}" for t in times[1:]), trainer.args.bf16)
"""


def step_times(steps: int, env: dict[str, str]) -> tuple[list[float], bool]:
    """(seconds of each timed step, bf16?) in a fresh process with ``env`` added."""
    out = subprocess.run([sys.executable, "-c", BUILD_STEPS, str(steps)], capture_output=True, text=True, cwd=ROOT,
                         env=os.environ | {"HF_HUB_OFFLINE": "1"} | env)
    if out.returncode:
        raise SystemExit(f"error: the build's steps failed:\n{out.stderr[-2000:]}")
    *times, bf16 = out.stdout.split()[-(steps + 1):]
    return [float(t) for t in times], bf16 == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="training steps timed per row (after a warm-up step)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from utils.offline.masked_lm_stand_in import STEPS, about, time_left

    medians: dict[str, list[float]] = {row: [] for row in ROWS}
    precision = {}
    for _ in range(2):
        for row, env in ROWS.items():
            times, precision[row] = step_times(args.steps, env)
            medians[row].append(statistics.median(times))
    print(f"the masked-LM stand-in's training step (batch 32 x 128; the faster of 2 medians of {args.steps} steps), "
          f"and the whole build ({STEPS} steps, then the held-out scoring) extrapolated:")
    for row, values in medians.items():
        per_step = min(values)
        build = time_left(per_step, STEPS)
        print(f"  {row:<54} {'bf16' if precision[row] else 'fp32'}  {per_step:.2f} s a step  -> build {build:4.0f} s "
              f"({about(build)}; {build / TARGET_S:.2f} of the {TARGET_S // 60} min AVX2 target)")


if __name__ == "__main__":
    main()
