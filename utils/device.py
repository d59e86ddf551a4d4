"""Where the tensors live, which precision to train in, and reproducible seeds."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

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
    allocator = "; malloc reuses freed memory" if keep_freed_memory() else ""
    if verbose:
        print(f"Device: {device} ({why}); precision: {precision_name(device)}{allocator}")
    return device


# glibc's mallopt() parameters (malloc.h): never mmap a block; trim the heap's free top only past a threshold
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
KEPT_FOR_REUSE = 128 * 2**20  # bytes of freed memory the heap keeps outside training: small blocks, not a peak
_KEEP_EVERYTHING = 2**31 - 1  # the largest threshold mallopt takes: never trim (what reuse_freed_memory sets)
_malloc_tuned = False


def _libc():
    """glibc, or None (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both exist only in glibc)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed memory instead of handing every large block back to the OS; True if it did.

    By default each large tensor of a training step is mmap-ed and unmapped again, and every step pays for fresh,
    zeroed pages in kernel time. Here nothing is mmap-ed, and up to ``KEPT_FOR_REUSE`` (128 MB) of freed memory at
    the top of the heap stays for reuse; anything beyond goes back at once, so a one-off peak is not kept. During
    training (``reuse_freed_memory``) everything freed is kept for the next step, and given back when it ends.
    ``mallopt`` is glibc's runtime form of ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=``,
    so it works in any Jupyter kernel already running. README *Performance* has the measurements. Elsewhere
    (macOS, Windows, musl) it does nothing.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return True
    libc = _libc()
    if libc is None:
        return False
    _malloc_tuned = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, KEPT_FOR_REUSE))
    return _malloc_tuned


@contextlib.contextmanager
def reuse_freed_memory():
    """While training: keep every freed block for the next step (no trimming at all), then hand everything freed
    back to the OS. A training step frees and allocates the same few hundred MB each time; trimming them in between
    costs fresh, zeroed pages every step (the step ran 1.35x slower with only ``KEPT_FOR_REUSE`` kept). Outside
    this window the bound holds again. Does nothing where ``keep_freed_memory`` does nothing."""
    release_freed_memory()  # start from what the process really uses, not what earlier work left free
    libc = _libc() if _malloc_tuned else None
    if libc is not None:
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_EVERYTHING)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_TRIM_THRESHOLD, KEPT_FOR_REUSE)
        release_freed_memory()


def release_freed_memory() -> bool:
    """Hand every freed page of the heap back to the OS (glibc's ``malloc_trim``), e.g. when training ends and the
    kernel stays open; True if anything was released."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


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
