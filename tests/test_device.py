"""Device choice follows availability (mocked here) and the override; precision follows the device."""

import subprocess
import sys

import pytest
import torch

from utils import device as dev


@pytest.fixture
def machine(monkeypatch):
    """Pretend which accelerators exist."""
    for var in ("LLM_TUTORIAL_DEVICE", "TUTORIAL_DEVICE"):
        monkeypatch.delenv(var, raising=False)

    def set_available(cuda=False, mps=False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Mock GPU")
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_available


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_best_available_device_wins(machine, cuda, mps, expected, capsys, monkeypatch):
    machine(cuda=cuda, mps=mps)
    monkeypatch.setattr(dev, "bf16_supported", lambda d: False)
    assert dev.pick_device().type == expected
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"Device: {expected} (") and "\n" not in line


def test_env_var_overrides_the_choice(machine, monkeypatch, capsys):
    machine(cuda=True)
    monkeypatch.setenv("LLM_TUTORIAL_DEVICE", "cpu")
    assert dev.pick_device().type == "cpu"
    assert "set by $LLM_TUTORIAL_DEVICE" in capsys.readouterr().out


def test_bad_override_is_a_clear_error(machine, monkeypatch):
    monkeypatch.setenv("LLM_TUTORIAL_DEVICE", "tpu")
    with pytest.raises(ValueError, match="not a device; use one of cuda, mps, cpu"):
        dev.pick_device()
    monkeypatch.setenv("LLM_TUTORIAL_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no cuda device is available"):
        dev.pick_device()


def test_dtype_policy(monkeypatch):
    monkeypatch.setattr(dev, "bf16_supported", lambda d: torch.device(d).type == "cpu")
    assert dev.autocast_dtype("cpu") is torch.bfloat16 and dev.trainer_kwargs("cpu") == {"use_cpu": True, "bf16": True}
    assert dev.autocast_dtype("cuda") is torch.float16 and dev.trainer_kwargs("cuda") == {"fp16": True}
    assert dev.autocast_dtype("mps") is None and dev.trainer_kwargs("mps") == {}
    monkeypatch.setattr(dev, "bf16_supported", lambda d: False)
    assert dev.autocast_dtype("cpu") is None and dev.precision_name("cpu") == "fp32"
    assert dev.trainer_kwargs("cpu") == {"use_cpu": True}


def test_cpu_bf16_detection_matches_torch():
    expected = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert dev.bf16_supported("cpu") == expected
    assert dev.bf16_supported("mps") is False


def test_seeding_repeats_random_draws():
    dev.seed_everything(3)
    first = torch.rand(4)
    dev.seed_everything(3)
    assert torch.equal(first, torch.rand(4))
    dev.seed_everything(4)
    assert not torch.equal(first, torch.rand(4))


MEASURE_RSS = """
import sys
import numpy as np
from utils import device

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if sys.argv[1] in ("tuned", "training"):
    assert device.keep_freed_memory() and device.keep_freed_memory()  # idempotent
if sys.argv[1] == "training":
    with device.reuse_freed_memory():
        block = np.ones(int(sys.argv[2]) * 2**17)
        del block
        kept = rss_mb()
else:
    block = np.ones(int(sys.argv[2]) * 2**17)  # MB: above 32 MB glibc's defaults would mmap it
    del block
    kept = rss_mb()
    device.release_freed_memory()
print(round(kept), round(rss_mb()))
"""


def rss_after_free(mode: str, megabytes: int) -> tuple[int, int]:
    """(resident MB after freeing a block of ``megabytes``, and after release_freed_memory())."""
    out = subprocess.run([sys.executable, "-c", MEASURE_RSS, mode, str(megabytes)], capture_output=True, text=True,
                         check=True)
    kept, released = out.stdout.split()[-2:]
    return int(kept), int(released)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is a Linux matter")
def test_keep_freed_memory_keeps_a_steps_blocks_for_reuse_but_not_a_peak():
    """glibc's defaults give a freed 100 MB block back at once; tuned, the process keeps it for reuse, until
    release_freed_memory(). A freed 400 MB block (past the 128 MB kept for reuse) goes back even when tuned."""
    default_kept, _ = rss_after_free("default", 100)
    tuned_kept, tuned_released = rss_after_free("tuned", 100)
    assert tuned_kept - default_kept > 80
    assert tuned_kept - tuned_released > 80
    peak_kept, _ = rss_after_free("tuned", 400)
    assert peak_kept - default_kept < dev.KEPT_FOR_REUSE / 2**20 + 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is a Linux matter")
def test_while_training_everything_freed_is_kept_and_given_back_at_the_end():
    """Inside reuse_freed_memory() even a freed 400 MB block stays for the next step; leaving it gives it back."""
    default_kept, _ = rss_after_free("default", 400)
    kept, after = rss_after_free("training", 400)
    assert kept - default_kept > 350
    assert kept - after > 350


def test_pick_device_says_when_the_allocator_is_tuned(machine, capsys, monkeypatch):
    machine()
    monkeypatch.setattr(dev, "keep_freed_memory", lambda: True)
    dev.pick_device()
    assert capsys.readouterr().out.rstrip().endswith("; malloc reuses freed memory")
