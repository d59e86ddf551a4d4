"""Memory like time: each notebook kernel's peak resident memory, and the three kernels open together.

A student runs notebook 1, then 2, then 3, and leaves each kernel open. This benchmark does the same, in the
classroom profile, offline: the three kernels stay alive side by side while it samples their resident memory every
50 ms. It prints each kernel's own peak (``ru_maxrss``, read inside the kernel at the end), what each still holds
when its notebook is done, and the peak of the three together: the physical memory they occupy (the sum of their
PSS, each shared page counted once) and, for comparison, the sum of their RSS (torch's libraries counted once per
kernel). Targets: notebook 3 (both of its runs, with the stock Trainer) at most 2.0 GB, the three together at most
3.5 GB of PSS.

Side by side in one run: the same measurement for an earlier commit (``--before``, default: the last commit whose
notebook 3 trained with the chunked loss, one run), checked out into a temporary git worktree with its own ``utils``.
The asset cache is shared (same assets).

Run: .venv/bin/python benchmarks/memory.py [--before REV] [--only-now]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from utils.tools.record import with_predictions

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "a71eb4b"  # notebook 3 with the chunked loss in its main path, one run (02e3680: before the chunked loss)
NOTEBOOK_3_TARGET_GB, TOGETHER_TARGET_GB = 2.0, 3.5
GB = 1e9

PEAK_CELL = """
import os, resource, utils
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, os.getpid(), utils.__file__)
"""


class Sampler(threading.Thread):
    """Samples the memory of a growing set of processes; keeps the largest sums of their resident memory (RSS) and
    of their proportional set sizes (PSS: a page shared by k of them counts 1/k in each, so the sum is the physical
    memory they occupy together; summed RSS counts the shared pages of torch's libraries once per kernel)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.processes: list[psutil.Process] = []
        self.peak = self.pss_peak = 0
        self.stopped = threading.Event()

    def run(self):
        tick = 0
        while not self.stopped.wait(0.05):
            tick += 1
            full = tick % 5 == 0  # PSS reads /proc/PID/smaps_rollup: every 250 ms, RSS every 50 ms
            rss = pss = 0
            for process in list(self.processes):
                with contextlib.suppress(psutil.Error):
                    info = process.memory_full_info() if full else process.memory_info()
                    rss, pss = rss + info.rss, pss + (info.pss if full else 0)
            self.peak = max(self.peak, rss)
            if full:
                self.pss_peak = max(self.pss_peak, pss)


def measure(root: Path) -> dict:
    """Execute root's three notebooks one after another in kernels that stay open; their memory."""
    env = dict(os.environ, LLM_TUTORIAL_PROFILE="classroom", HF_HUB_OFFLINE="1", LLM_TUTORIAL_WIDGETS="off",
               LLM_TUTORIAL_OUTPUT=tempfile.mkdtemp(prefix="llm-tutorial-memory-"))
    env.pop("GLIBC_TUNABLES", None)
    sampler = Sampler()
    sampler.start()
    rows = {}
    with contextlib.ExitStack() as open_kernels:
        for path in sorted((root / "notebooks").glob("[0-9]*.ipynb")):
            nb = with_predictions(path)  # as make record runs it: the reference predictions written in
            km = KernelManager(kernel_name="python3", transport="ipc", ip=tempfile.mktemp(prefix="kernel-"))
            km.start_kernel(env=env, cwd=str(path.parent))
            open_kernels.callback(km.shutdown_kernel, now=True)
            client = NotebookClient(nb, km=km, timeout=1800, resources={"metadata": {"path": str(path.parent)}})
            started = time.perf_counter()
            with client.setup_kernel():
                pid = km.provisioner.process.pid
                sampler.processes.append(psutil.Process(pid))
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type == "code":
                        client.execute_cell(cell, index)
                probe = nbformat.v4.new_code_cell(PEAK_CELL)
                nb.cells.append(probe)
                client.execute_cell(probe, len(nb.cells) - 1)
                peak, kernel_pid, utils_file = "".join(o.get("text", "") for o in probe.outputs).split()
                assert Path(utils_file).is_relative_to(root), f"{path.name} ran {utils_file}, not {root}'s utils"
                held = psutil.Process(pid).memory_info().rss
                rows[path.name] = dict(peak=int(peak), held=held, seconds=time.perf_counter() - started)
            client.kc.stop_channels()  # the kernel itself stays running (we passed km), as a student leaves it
    sampler.stopped.set()
    sampler.join()
    rows["together"] = dict(peak=sampler.peak, pss=sampler.pss_peak)
    return rows


def worktree(rev: str) -> contextlib.AbstractContextManager[Path]:
    @contextlib.contextmanager
    def checkout():
        folder = Path(tempfile.mkdtemp(prefix="llm-tutorial-before-")) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(folder), rev], check=True)
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=True)
    return checkout()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"earlier commit to compare with (default {BEFORE})")
    parser.add_argument("--only-now", action="store_true", help="measure only the working tree")
    args = parser.parse_args()
    columns = {}
    if not args.only_now:
        with worktree(args.before) as tree:
            columns[f"before ({args.before})"] = measure(tree)
    columns["now"] = measure(ROOT)
    names = list(next(iter(columns.values())))
    print(f"peak resident memory per kernel, classroom profile, offline ({os.cpu_count()} CPUs)")
    print(f"{'kernel':<30}" + "".join(f"{c:>30}" for c in columns))
    for name in names:
        cells = []
        for rows in columns.values():
            row = rows[name]
            extra = (f" (holds {row['held'] / GB:.2f}, {row['seconds']:.0f} s)" if "held" in row else
                     f" RSS, {row['pss'] / GB:.2f} PSS")
            cells.append(f"{row['peak'] / GB:.2f} GB{extra}")
        label = "all three open together" if name == "together" else name
        print(f"{label:<30}" + "".join(f"{c:>30}" for c in cells))
    now = columns["now"]
    nb3 = next(v for k, v in now.items() if k.startswith("03"))
    print(f"targets: notebook 3 {nb3['peak'] / GB:.2f} GB of {NOTEBOOK_3_TARGET_GB} GB; together "
          f"{now['together']['pss'] / GB:.2f} GB of physical memory (PSS) of {TOGETHER_TARGET_GB} GB "
          f"({now['together']['peak'] / GB:.2f} GB if each kernel's shared library pages are counted again)")
    if len(columns) == 2:
        before = columns[next(iter(columns))]
        for name in names:
            print(f"ratio {name}: now {now[name]['peak'] / before[name]['peak']:.2f}x the earlier peak"
                  + (f" (PSS {now[name]['pss'] / before[name]['pss']:.2f}x)" if "pss" in now[name] else ""))


if __name__ == "__main__":
    main()
