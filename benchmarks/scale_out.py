"""Scale-out, measured on this machine: the same work on every engine the tests use, with its workers, wall time
and rate, and what the rates project for the full English dump (~6.8 M articles).

Rows (each run once, one after the other):
- the Wikipedia sample (106 articles) cleaned by plain Python, by Beam's DirectRunner in process and with
  2 worker processes, by the portable runner with a worker pool of separate SDK workers, and by Beam's DaskRunner
  on a ``dask.distributed.LocalCluster`` of 2 worker processes;
- the pretraining script (smoke profile, 24 epochs): one process, ``torchrun`` with 2 processes on one node, and
  two ``torchrun`` nodes of one process each joined by a c10d rendezvous.
The rates on 106 articles include each engine's start-up (seconds); the projection takes the plain parse's
articles/s/core, which is what a long run on any engine approaches.
Run: .venv/bin/python benchmarks/scale_out.py
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FULL_DUMP_ARTICLES = 6.8e6
ENV = dict(os.environ, HF_HUB_OFFLINE="1", LLM_TUTORIAL_DEVICE="cpu", OMP_NUM_THREADS="1",
           PYTHONWARNINGS="ignore")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(command: list[str], **kwargs) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, **kwargs)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{run.stderr[-2000:]}")
    return time.perf_counter() - started, run.stdout


def beam(out: Path, *options: str) -> list[str]:
    from utils import wikipedia

    return [PY, "-m", "utils.data.wikipedia_beam", "--input", str(wikipedia.sample_dump()), "--output", str(out),
            *options]


def wait_for_port(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def pretrain(out: Path, *extra: str) -> list[str]:
    return ["-m", "utils.tools.pretrain", "--profile", "smoke", "--output-dir", str(out), "--epochs", "24", *extra]


def samples_per_s(stdout: str) -> float:
    return float([line for line in stdout.splitlines() if line.startswith("Done in ")][0]
                 .split(" samples/s")[0].rsplit(" ", 1)[1])


def main() -> None:
    from utils import wikipedia
    from utils.data.mediawiki import parse_dump

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        articles = len(parse_dump(wikipedia.sample_dump()))
        seconds = time.perf_counter() - started
        per_core = articles / seconds
        rows.append(("plain Python parse", 1, seconds, f"{per_core:.1f} articles/s", "the reference records"))
        seconds, _ = timed(beam(tmp / "direct", "--runner", "DirectRunner"))
        rows.append(("Beam DirectRunner, in process", 1, seconds, f"{articles / seconds:.1f} articles/s",
                     "the pipeline's logic"))
        seconds, _ = timed(beam(tmp / "multi", "--num-shards", "2", "--runner", "DirectRunner",
                                "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"))
        rows.append(("Beam DirectRunner, multi_processing", 2, seconds, f"{articles / seconds:.1f} articles/s",
                     "pickling across processes"))
        port = free_port()
        pool = subprocess.Popen([PY, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(port)],
                                cwd=ROOT, env=dict(ENV, PATH=f"{Path(PY).parent}{os.pathsep}{ENV['PATH']}"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(port)
            seconds, _ = timed(beam(tmp / "portable", "--num-shards", "2", "--runner", "PortableRunner",
                                    "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
                                    "--environment_config", f"localhost:{port}"))
        finally:
            os.killpg(pool.pid, 15)
            pool.wait()
        rows.append(("Beam PortableRunner, worker pool", 1, seconds, f"{articles / seconds:.1f} articles/s",
                     "job service + separate SDK workers (Flink/Spark/Dataflow's path)"))
        dask_run = ("import sys; from dask.distributed import LocalCluster\n"
                    "from utils.data.wikipedia_beam import main\n"
                    "with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:\n"
                    "    sys.exit(main(sys.argv[1:] + ['--dask_client_address', c.scheduler_address]))")
        seconds, _ = timed([PY, "-c", dask_run, *beam(tmp / "dask", "--num-shards", "2", "--runner",
                                                     "apache_beam.runners.dask.dask_runner.DaskRunner")[3:]])
        rows.append(("Beam DaskRunner, LocalCluster", 2, seconds, f"{articles / seconds:.1f} articles/s",
                     "a scheduler and worker processes (one partition per dump file)"))

        seconds, out = timed([PY, *pretrain(tmp / "one")])
        rows.append(("pretrain, 1 process", 1, seconds, f"{samples_per_s(out):.1f} samples/s", "the reference run"))
        seconds, out = timed([PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                              *pretrain(tmp / "torchrun")])
        rows.append(("torchrun, 1 node x 2 processes", 2, seconds, f"{samples_per_s(out):.1f} samples/s",
                     "DDP (gloo), half the steps"))
        port = free_port()
        node = [PY, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "bench", *pretrain(tmp / "nodes")]
        started = time.perf_counter()
        first = subprocess.Popen(node, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_port(port)
        second = subprocess.Popen(node, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = first.communicate()[0] + second.communicate()[0]
        seconds = time.perf_counter() - started
        rows.append(("torchrun, 2 nodes x 1 process", 2, seconds, f"{samples_per_s(out):.1f} samples/s",
                     "c10d rendezvous, as a second machine joins"))

    print(f"Scale-out on this machine ({os.cpu_count()} cores), {datetime.now():%Y-%m-%d}; the sample's "
          f"{articles} articles, the smoke profile's 24 epochs")
    print(f"{'run':38s} {'workers':>7s} {'wall':>7s}  {'rate':>18s}  proves")
    for name, workers, seconds, rate, proves in rows:
        print(f"{name:38s} {workers:7d} {seconds:6.1f}s  {rate:>18s}  {proves}")
    core_hours = FULL_DUMP_ARTICLES / per_core / 3600
    print(f"Full dump projection: {FULL_DUMP_ARTICLES / 1e6:.1f} M articles at {per_core:.1f} articles/s/core = "
          f"{core_hours:.0f} core-hours; on 32 four-core workers ~{core_hours / 128 * 60:.0f} min of cleaning.")


if __name__ == "__main__":
    main()
