"""glibc's malloc, tuned for training: freed memory is reused between steps and handed back when training ends.

Training calls ``keep_freed_memory()`` once, then runs inside ``reuse_freed_memory()``. Elsewhere (macOS, Windows,
musl) both do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys

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
    so it works in any Jupyter kernel already running. benchmarks/README.md has the measurements. Elsewhere
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
