"""Where the tensors live, which precision to train in, and reproducible seeds."""

from __future__ import annotations

import torch
import transformers

from utils.settings import setting, source

_KNOWN = ("cuda", "mps", "cpu")


def pick_device(verbose: bool = True) -> torch.device:
    """The best available device (cuda > mps > cpu), or $LLM_TUTORIAL_DEVICE; prints one line saying why."""
    wanted = (setting("DEVICE") or "").lower()
    env = source("DEVICE")
    if wanted:
        if wanted.split(":")[0] not in _KNOWN:
            raise ValueError(f"{env}={wanted!r} is not a device; use one of {', '.join(_KNOWN)}.")
        if not _available(wanted.split(":")[0]):
            raise ValueError(f"{env}={wanted!r} but no {wanted.split(':')[0]} device is available here; "
                             f"unset {env} to pick automatically.")
        device, why = torch.device(wanted), f"set by {env}"
    elif _available("cuda"):
        device, why = torch.device("cuda"), f"CUDA GPU: {torch.cuda.get_device_name(0)}"
    elif _available("mps"):
        device, why = torch.device("mps"), "Apple GPU (MPS)"
    else:
        device, why = torch.device("cpu"), f"no CUDA or MPS GPU found; {torch.get_num_threads()} CPU threads"
    if verbose:
        print(f"Device: {device} ({why}); precision: {precision_name(device)}")
    return device


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


def bf16_supported(device: torch.device | str) -> bool:
    """True where bfloat16 runs natively: CUDA with bf16, or a CPU whose oneDNN has bf16 kernels."""
    kind = torch.device(device).type
    if kind == "cuda":
        return transformers.utils.is_torch_bf16_gpu_available()
    if kind == "cpu":
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """Mixed-precision dtype for this device: bf16 where native, fp16 on CUDA without bf16, else None (fp32)."""
    if bf16_supported(device):
        return torch.bfloat16
    if torch.device(device).type == "cuda":
        return torch.float16
    return None


def precision_name(device: torch.device | str) -> str:
    """'bf16 autocast', 'fp16 autocast' or 'fp32', for printing."""
    dtype = autocast_dtype(device)
    return {torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}.get(dtype, "fp32")


def trainer_kwargs(device: torch.device | str) -> dict[str, bool]:
    """TrainingArguments keywords for this device and the dtype policy, e.g. {'use_cpu': True, 'bf16': True}."""
    dtype = autocast_dtype(device)
    kwargs = {"use_cpu": True} if torch.device(device).type == "cpu" else {}
    kwargs.update({torch.bfloat16: {"bf16": True}, torch.float16: {"fp16": True}}.get(dtype, {}))
    return kwargs


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so runs repeat."""
    transformers.set_seed(seed)
