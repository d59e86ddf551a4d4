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


def test_pick_device_leaves_the_allocator_alone():
    """Choosing a device has no side effect on malloc: training tunes it, where it starts."""
    code = ("from utils import device; from utils.support import allocator; device.pick_device(); "
            "print(allocator._malloc_tuned)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False" and "malloc" not in out
