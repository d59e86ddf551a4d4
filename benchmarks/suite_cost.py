"""The test suite's own cost: make test's pytest run, wall time and CPU time, for an earlier commit and now.

This machine's speed drifts by up to a third from hour to hour, so a suite time measured today cannot be set against
one measured yesterday. Here both run in one go, one after the other (``--rounds 2``: before, now, before, now),
each exactly as ``make test`` runs its tests: the same pytest command, workers and environment, with the earlier
commit checked out into a temporary git worktree whose own ``utils`` every kernel and script imports. The venv and
the asset cache are this checkout's. Printed: tests passed, wall seconds, CPU seconds of the whole process tree
(user + sys, every worker, kernel and script the suite waited for; steadier than wall time on a busy machine), and
worker-seconds per test file (pytest's durations of setup, call and teardown, summed).

Run: .venv/bin/python benchmarks/suite_cost.py [--before REV] [--rounds N] [--only-now]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from memory import worktree

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "7d9bb25"  # main before make test ran on two workers (benchmarks/README.md)
MAKE_VARIABLES = {"HF_HUB_OFFLINE": "1", "LLM_TUTORIAL_PROFILE": "smoke", "LLM_TUTORIAL_WIDGETS": "off"}
DURATION = re.compile(r"^\s*([\d.]+)s (?:setup|call|teardown)\s+(\S+?)(?:::|\s|$)")


def pytest_command(tree: Path) -> list[str]:
    """make test's pytest line, as that commit's Makefile writes it (its workers, if it has any)."""
    makefile = (tree / "Makefile").read_text()
    workers = re.search(r"^WORKERS := (.*)$", makefile, re.MULTILINE)
    notebooks = sorted(str(p.relative_to(tree)) for p in (tree / "notebooks").glob("*.ipynb"))
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests", *notebooks, "--nbval-lax",
            "--nbval-current-env", *(shlex.split(workers.group(1)) if workers else []), "--durations=0"]


def run_suite(tree: Path) -> dict:
    env = {**os.environ, **MAKE_VARIABLES, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(pytest_command(tree), cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-300:]
    per_file: Counter[str] = Counter()
    for line in proc.stdout.splitlines():
        if match := DURATION.match(line):
            per_file[match.group(2)] += float(match.group(1))
    passed = re.search(r"(\d+) passed", summary)
    return {"wall": wall, "cpu": cpu, "passed": int(passed.group(1)) if passed else 0,
            "failed": proc.returncode != 0, "summary": summary.strip("= "), "files": per_file}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"earlier commit to compare with (default {BEFORE})")
    parser.add_argument("--rounds", type=int, default=1, help="before/now pairs, interleaved (default 1)")
    parser.add_argument("--only-now", action="store_true", help="measure only the working tree")
    args = parser.parse_args()
    # a background job's shell hands SIGINT down ignored; the suite's Ctrl-C tests need its default action
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        if not args.only_now:
            with worktree(args.before) as tree:
                runs.setdefault(f"before ({args.before})", []).append(run_suite(tree))
        runs.setdefault("now", []).append(run_suite(ROOT))
    print(f"make test's pytest run, {os.cpu_count()} CPUs, {args.rounds} round(s), best of each:")
    best = {name: min(results, key=lambda r: r["wall"]) for name, results in runs.items()}
    for name, results in runs.items():
        walls = ", ".join(f"{r['wall']:.0f}" for r in results)
        cpus = ", ".join(f"{r['cpu']:.0f}" for r in results)
        print(f"  {name:<22} {walls} s wall, {cpus} s CPU; {results[-1]['summary']}")
    largest = {f: max(b["files"][f] for b in best.values()) for b in best.values() for f in b["files"]}
    print(f"\nworker-seconds per test file{'':<26}" + "".join(f"{n:>22}" for n in best))
    for file in sorted(largest, key=largest.get, reverse=True):
        if largest[file] >= 1.0:
            print(f"  {file:<52}" + "".join(f"{b['files'][file]:>22.1f}" for b in best.values()))
    print(f"  {'all':<52}" + "".join(f"{sum(b['files'].values()):>22.1f}" for b in best.values()))
    if len(best) == 2:
        old, new = best.values()
        print(f"\nratio: now takes {new['wall'] / old['wall']:.2f}x the wall time and {new['cpu'] / old['cpu']:.2f}x "
              f"the CPU time of before, for {new['passed']} tests against {old['passed']}")
    if any(r["failed"] for results in runs.values() for r in results):
        sys.exit("a suite failed (see its summary above)")


if __name__ == "__main__":
    main()
