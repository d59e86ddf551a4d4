"""glibc's malloc, tuned for training: a step's freed blocks are kept for the next one, a one-off peak is not,
and everything goes back when training ends."""

import subprocess
import sys

import pytest

from utils.support import allocator

MEASURE_RSS = """
import sys
import numpy as np
from utils.support import allocator

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if sys.argv[1] in ("tuned", "training"):
    assert allocator.keep_freed_memory() and allocator.keep_freed_memory()  # idempotent
if sys.argv[1] == "training":
    with allocator.reuse_freed_memory():
        block = np.ones(int(sys.argv[2]) * 2**17)
        del block
        kept = rss_mb()
else:
    block = np.ones(int(sys.argv[2]) * 2**17)  # MB: above 32 MB glibc's defaults would mmap it
    del block
    kept = rss_mb()
    allocator.release_freed_memory()
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
    assert peak_kept - default_kept < allocator.KEPT_FOR_REUSE / 2**20 + 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is a Linux matter")
def test_while_training_everything_freed_is_kept_and_given_back_at_the_end():
    """Inside reuse_freed_memory() even a freed 400 MB block stays for the next step; leaving it gives it back."""
    default_kept, _ = rss_after_free("default", 400)
    kept, after = rss_after_free("training", 400)
    assert kept - default_kept > 350
    assert kept - after > 350
