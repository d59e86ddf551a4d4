"""The Beam pipeline's SDK workers, watched: do they start, and does a run that loses one stop?

A portable runner whose SDK workers cannot start (a worker pool whose ``python`` lacks apache_beam or this project)
waits for them forever, and so does one whose worker dies mid-run (Beam's job service keeps waiting for the answers
of a worker whose connection has closed). ``workers_answer`` finds out the first in bounded time before the run;
``stop_when_workers_are_lost`` and ``watched_run`` make the second fail at once, in one line, within a bound.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import threading

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

WORKER_START_SECONDS = 45  # a portable run whose workers have not answered by then stops
_STUCK = False  # a runner thread still waits for workers that never came: the process must not wait for it


def stuck() -> bool:
    """Whether a runner thread still waits for workers that never came (then the process must exit without
    waiting for it)."""
    return _STUCK


def _probe(_):
    """Run on a worker: the modules the pipeline needs import there."""
    import mwparserfromhell  # noqa: F401

    import utils.data.mediawiki  # noqa: F401

    return sys.executable


def pool_endpoint(beam_args: list[str]) -> str | None:
    """The address of the external worker pool these options name (``--environment_type EXTERNAL``), else None."""
    portable = PipelineOptions(beam_args).view_as(PortableOptions)
    return portable.environment_config if (portable.environment_type or "").upper() == "EXTERNAL" else None


def answers(endpoint: str) -> bool:
    """Whether something listens at the worker pool's ``host:port``."""
    host, _, port = endpoint.rpartition(":")
    try:
        socket.create_connection((host or "localhost", int(port)), timeout=5).close()
        return True
    except (OSError, ValueError):
        return False


def workers_answer(beam_args: list[str], seconds: float) -> str | None:
    """None when a one-element pipeline with these options completes within ``seconds``, else the reason.

    A portable runner whose SDK workers cannot start (a worker pool whose ``python`` lacks apache_beam or this
    project) waits for them forever; this finds out first, in bounded time."""
    endpoint = pool_endpoint(beam_args)
    if endpoint:
        if not answers(endpoint):
            return (f"no Beam worker pool answers at {endpoint}; start one with `python -m "
                    f"apache_beam.runners.worker.worker_pool_main --service_port {endpoint.rpartition(':')[2]}`")
    outcome: dict = {}

    def probe():
        try:
            with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
                _ = pipeline | beam.Create([0]) | beam.Map(_probe)
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 (reported below in one line)
            outcome["error"] = last_line(exc)

    thread = threading.Thread(target=probe, daemon=True, name="beam-worker-probe")
    thread.start()
    thread.join(seconds)
    global _STUCK
    _STUCK = thread.is_alive()
    if outcome.get("ok"):
        return None
    if "error" in outcome:
        return f"a one-element test pipeline failed on the workers ({outcome['error']})"
    where = f"the worker pool at {endpoint}" if endpoint else "the runner"
    return (f"no SDK worker started within {seconds:.0f} s: {where} could not start one (its `python` must import "
            "apache_beam, mwparserfromhell and this project: start the pool with this environment's python first "
            "on PATH)")


_LOST = threading.Event()  # set when an SDK worker's connection closed while it still had work to answer


def stop_when_workers_are_lost() -> None:
    """Make Beam's own job service (the portable runner's ``embed`` endpoint, the DirectRunner's worker processes)
    fail a run whose SDK worker goes away mid-run, instead of waiting for its answers forever: when a worker's
    control connection ends while instructions are still unanswered, they fail at once (``_LOST`` is set)."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    connection = worker_handlers.ControlConnection
    if getattr(connection, "stops_when_lost", False):
        return
    read = connection._read

    def read_until_lost(self):
        try:
            read(self)
        except Exception:  # noqa: BLE001,S110 (the stream broke: the worker is gone, handled below)
            pass
        if self._futures_by_id:  # work the worker took and never answered: it will not answer now
            _LOST.set()
            self.abort(RuntimeError("an SDK worker was lost mid-run: its connection to the job closed"))

    connection._read, connection.stops_when_lost = read_until_lost, True


def lost_a_worker() -> bool:
    """Whether the last (or current) run lost an SDK worker mid-run."""
    return _LOST.is_set()


def last_line(exc: BaseException) -> str:
    """The last line of an exception's message (a runner wraps the worker's error in a long report)."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def lost_worker_line(output: str) -> str:
    """The one line for a run that lost an SDK worker."""
    return ("an SDK worker was lost mid-run (its connection to this job closed: the worker, or the pool that started "
            f"it, stopped); nothing was written to {output}. Start the workers again, then run again.")


@contextlib.contextmanager
def watched_run(seconds: float, output: str, staging: str, endpoint: str | None = None):
    """While the pipeline runs: Beam's own logged tracebacks hidden (the raised error becomes one line), and once a
    worker is lost (its connection closed, or the worker pool at ``endpoint`` stopped answering) the run stops
    within ``seconds`` even if the runner still waits for it (staging removed, one line)."""
    loggers = [logging.getLogger(), logging.getLogger("apache_beam")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    _LOST.clear()
    done, hook = threading.Event(), threading.excepthook

    def quiet(args):  # a gRPC stream of Beam's that breaks mid-run is a lost worker, said in one line below
        if _LOST.is_set() or type(args.exc_value).__module__.split(".")[0] == "grpc":
            _LOST.set()
        else:
            hook(args)

    threading.excepthook = quiet

    def bound():
        silent = 0  # checks in a row the worker pool did not answer
        while not done.is_set():
            silent = silent + 1 if endpoint and not answers(endpoint) else 0
            if silent >= 2:
                _LOST.set()
            if _LOST.wait(1) and not done.wait(seconds):
                print(f"error: {lost_worker_line(output)}", file=sys.stderr, flush=True)
                shutil.rmtree(staging, ignore_errors=True)
                os._exit(1)

    threading.Thread(target=bound, daemon=True, name="beam-lost-worker-bound").start()
    try:
        yield
    finally:
        done.set()
        threading.excepthook = hook
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
