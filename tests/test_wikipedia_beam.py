"""The Beam pipeline gives the plain parser's records on every engine it is run on, and fails in one line.

Engines: the DirectRunner (in process, and 2 worker processes), the portable runner with a worker pool of
separate SDK worker processes (the path Flink, Spark and Dataflow take), and Dask's distributed scheduler.
"""

import glob
import hashlib
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from datasets import load_dataset

from utils import wikipedia as wiki
from utils.data.wikipedia_beam import main

ROOT = Path(__file__).resolve().parent.parent
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


@pytest.fixture(scope="module")
def articles():
    return wiki.sample_articles()


def fingerprints(rows) -> dict[str, str]:
    """id -> sha256 of the whole record, so two outputs compare by id and content."""
    return {r["id"]: hashlib.sha256(repr(sorted(r.items())).encode()).hexdigest() for r in rows}


def written(folder: Path, tmp_path: Path) -> dict[str, str]:
    shards = glob.glob(str(folder / "wikipedia-*.parquet"))
    assert shards, f"no shard in {folder}"
    return fingerprints(load_dataset("parquet", data_files=shards, split="train",
                                     cache_dir=str(tmp_path / "hf")).to_list())


def leftovers(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if ".part-" in p.name or "beam-temp" in p.name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_direct_runner_matches_plain_python(tmp_path, articles):
    assert main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path / "out"),
                 "--runner", "DirectRunner"]) == 0
    assert written(tmp_path / "out", tmp_path) == fingerprints(articles)
    assert not leftovers(tmp_path)


def test_multi_processing_with_two_workers_matches_plain_python(tmp_path, articles):
    """The DirectRunner's multi-processing mode: 2 worker processes, 3 shards, the same records."""
    assert main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path / "out"), "--num-shards", "3",
                 "--runner", "DirectRunner", "--direct_running_mode", "multi_processing",
                 "--direct_num_workers", "2"]) == 0
    assert written(tmp_path / "out", tmp_path) == fingerprints(articles)
    assert len(list((tmp_path / "out").glob("wikipedia-*-of-00003.parquet"))) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "out"]  # no staging or beam-temp folder left


# --------------------------------------------------------------------------------------------
# The portable runner: a job service, and SDK workers in separate processes started by a worker pool
# --------------------------------------------------------------------------------------------

def start_worker_pool(port: int, python_dir: Path) -> subprocess.Popen:
    """Beam's worker pool on ``port``; it starts each SDK worker as ``python`` from ``python_dir``."""
    env = dict(os.environ, PATH=f"{python_dir}{os.pathsep}{os.environ['PATH']}")
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port",
                             str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            return pool
        except OSError:
            assert pool.poll() is None, "the worker pool exited at start"
            time.sleep(0.2)
    pool.kill()
    raise AssertionError("the worker pool did not listen within 30 s")


def stop(pool: subprocess.Popen) -> None:
    os.killpg(pool.pid, 15)  # the pool and the SDK workers it started
    pool.wait(timeout=30)


def portable(port: int, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "utils.data.wikipedia_beam", "--input", str(wiki.sample_dump()), "--output", str(out),
            "--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
            "--environment_config", f"localhost:{port}", *extra]


def test_portable_runner_with_separate_sdk_workers_matches_plain_python(tmp_path, articles):
    """The pipeline is serialised and run by SDK worker processes that share nothing with this one."""
    port = free_port()
    pool = start_worker_pool(port, Path(sys.executable).parent)
    try:
        run = subprocess.run(portable(port, tmp_path / "out", "--num-shards", "4"), cwd=tmp_path, capture_output=True,
                             text=True, timeout=240)
    finally:
        stop(pool)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith(f"106 articles from 1 dump file(s) in 4 shard(s) under {tmp_path / 'out'}")
    assert written(tmp_path / "out", tmp_path) == fingerprints(articles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "out"]


def test_portable_runner_whose_workers_cannot_start_stops_in_one_line(tmp_path):
    """A worker pool whose ``python`` lacks apache_beam: the run stops within the start timeout (instead of waiting
    forever) and says why in one line."""
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "python").write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'apache_beam'\" >&2\n"
                                   "exit 1\n")
    (broken / "python").chmod(0o755)
    port = free_port()
    pool = start_worker_pool(port, broken)
    started = time.monotonic()
    try:
        run = subprocess.run(portable(port, tmp_path / "out", "--worker-start-timeout", "3"), cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    finally:
        stop(pool)
    assert time.monotonic() - started < 60
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no SDK worker started within 3 s: the worker pool at localhost:")
    assert "must import apache_beam" in last and last.endswith(f"nothing was written to {tmp_path / 'out'}.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_portable_runner_without_a_worker_pool_is_one_line(tmp_path, capsys):
    port = free_port()  # nothing listens there
    assert main(portable(port, tmp_path / "out")[3:]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: no Beam worker pool answers at localhost:{port}; start one with `python -m "
                   f"apache_beam.runners.worker.worker_pool_main --service_port {port}`; nothing was written to "
                   f"{tmp_path / 'out'}.")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------
# Dask: a scheduler and 2 worker processes
# --------------------------------------------------------------------------------------------

def test_dask_runner_on_a_local_cluster_matches_plain_python(tmp_path, articles):
    """Beam's DaskRunner drops what a DoFn emits in finish_bundle, which Beam's own file sinks rely on (0 rows
    written); the pipeline writes each shard where it is made, and the records arrive."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        cluster.wait_for_workers(2, timeout=60)  # a busy machine registers the second one a moment later
        assert len(cluster.scheduler_info["workers"]) == 2
        code = main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path / "out"), "--num-shards", "2",
                     "--runner", DASK_RUNNER, "--dask_client_address", cluster.scheduler_address])
    assert code == 0
    assert written(tmp_path / "out", tmp_path) == fingerprints(articles)
    assert not leftovers(tmp_path)


# --------------------------------------------------------------------------------------------
# What Dataflow's workers install: this package, with what the pipeline imports
# --------------------------------------------------------------------------------------------

def test_the_staged_package_holds_the_pipeline_and_its_pinned_needs(tmp_path):
    """--setup_file pyproject.toml: Beam builds this source package and every worker pip-installs it."""
    from apache_beam.runners.portability.stager import Stager

    project = tmp_path / "project"  # a copy, so the build leaves nothing in the checkout
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (project / name).write_bytes((ROOT / name).read_bytes())
    for module in (ROOT / "utils").rglob("*.py"):  # the whole package, its subpackages too
        copy = project / module.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(module.read_bytes())
    (tmp_path / "staging").mkdir()
    tarball = Stager._build_setup_package(str(project / "pyproject.toml"), str(tmp_path / "staging"))
    with tarfile.open(tarball) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
        info = archive.extractfile(next(n for n in archive.getnames() if n.endswith("/PKG-INFO"))).read().decode()
    assert {"utils/data/wikipedia_beam.py", "utils/data/beam_workers.py", "utils/data/mediawiki.py",
            "utils/offline/cache.py", "utils/support/files.py", "utils/__init__.py"} <= names
    pins = {line.split("==")[0]: line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text()
            .splitlines() if "==" in line}
    required = [line.split(": ", 1)[1] for line in info.splitlines() if line.startswith("Requires-Dist: ")]
    assert required, "the package declares nothing for the workers to install"
    assert all(r.replace(" ", "") == pins[r.split("==")[0]] for r in required), (required, pins)
    assert {r.split("==")[0] for r in required} >= {"mwparserfromhell", "tqdm"}


@pytest.mark.parametrize("make_input,message", [
    (lambda tmp: str(tmp / "nothing-*.xml.bz2"), "matches no file"),
    (lambda tmp: str(tmp / "missing.xml.bz2"), "matches no file"),
    (lambda tmp: (tmp / "bad.xml").write_text("<mediawiki>broken") and str(tmp / "bad.xml"), "not a valid MediaWiki"),
    (lambda tmp: (tmp / "empty.xml").write_text("<mediawiki></mediawiki>") and str(tmp / "empty.xml"),
     "hold no main-namespace articles"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make_input, message):
    source = make_input(tmp_path)
    try:
        code = main(["--input", source, "--output", str(tmp_path / "out")])
    except SystemExit as exit_:
        code = exit_.code
    assert code != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert not leftovers(tmp_path)


# --------------------------------------------------------------------------------------------
# A worker lost mid-run, the final move, what killed runs leave, and odd paths
# --------------------------------------------------------------------------------------------

def test_a_worker_pool_lost_mid_run_stops_the_run_in_one_line(tmp_path):
    """Killing the worker pool and its SDK workers mid-run stops the run within the timeout, with one line."""
    for copy in range(6):  # six copies of the sample: a run long enough to be cut short
        (tmp_path / f"dump-{copy}.xml.bz2").write_bytes(wiki.sample_dump().read_bytes())
    port = free_port()
    pool = start_worker_pool(port, Path(sys.executable).parent)
    command = portable(port, tmp_path / "out", "--worker-start-timeout", "60")
    command[command.index("--input") + 1] = str(tmp_path / "dump-*.xml.bz2")
    run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not list(tmp_path.glob("out.part-*")) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the staging folder appears once the workers answered: the run itself begins
        time.sleep(2)
        os.killpg(pool.pid, 9)  # the pool and every SDK worker it started
        lost_at = time.monotonic()
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
        pool.wait(timeout=30)
    assert time.monotonic() - lost_at < 70  # within --worker-start-timeout of the loss
    assert run.returncode == 1
    assert err.strip().splitlines()[-1] == (
        "error: an SDK worker was lost mid-run (its connection to this job closed: the worker, or the pool that "
        f"started it, stopped); nothing was written to {tmp_path / 'out'}. Start the workers again, then run again.")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


def test_a_folder_named_like_a_shard_in_the_output_is_refused_before_the_run(tmp_path, capsys):
    (tmp_path / "out" / "wikipedia-00001-of-00002.parquet").mkdir(parents=True)
    with pytest.raises(SystemExit):
        main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path / "out"), "--num-shards", "2"])
    assert "already holds wikipedia-*.parquet shards; choose an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["wikipedia-00001-of-00002.parquet"]


def staged(tmp_path, count=3) -> list[str]:
    (tmp_path / "staging").mkdir()
    (tmp_path / "out").mkdir()
    for shard in range(count):
        (tmp_path / "staging" / f"wikipedia-{shard:05d}-of-{count:05d}.parquet").write_text(f"shard {shard}")
    return sorted(str(p) for p in (tmp_path / "staging").iterdir())


def test_the_final_move_is_all_or_nothing_when_a_shard_name_is_taken(tmp_path):
    from utils.data.wikipedia_beam import move_shards

    shards = staged(tmp_path)
    (tmp_path / "out" / "wikipedia-00001-of-00003.parquet").mkdir()  # appeared while the pipeline ran
    said = move_shards(shards, str(tmp_path / "out"), str(tmp_path / "staging"))
    assert said.endswith(f"nothing was moved into {tmp_path / 'out'}: all 3 shards are kept in "
                         f"{tmp_path / 'staging'}. Move them into {tmp_path / 'out'} once it is out of the way.")
    assert len(list((tmp_path / "staging").iterdir())) == 3
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["wikipedia-00001-of-00003.parquet"]


def test_a_move_that_fails_half_way_is_undone(tmp_path, monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    from utils.data.wikipedia_beam import move_shards

    shards = staged(tmp_path)
    rename, moves = FileSystems.rename, []

    def fails_on_the_third(sources, destinations):
        moves.append(sources)
        if len(moves) == 3:
            raise OSError(28, "No space left on device")
        rename(sources, destinations)

    monkeypatch.setattr(FileSystems, "rename", fails_on_the_third)
    said = move_shards(shards, str(tmp_path / "out"), str(tmp_path / "staging"))
    assert said.startswith(f"could not move the shards into {tmp_path / 'out'} (")
    assert said.endswith(f"nothing was moved: all 3 shards are kept in {tmp_path / 'staging'}.")
    assert not list((tmp_path / "out").iterdir()) and len(list((tmp_path / "staging").iterdir())) == 3


def test_what_a_killed_run_left_is_removed_by_the_next_run(tmp_path, monkeypatch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = dead.stdout.strip()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    left = [tmp_path / f"out.part-{pid}-abcd1234", tmp_path / "tmp" / f"wikipedia-beam-{pid}-xyz"]
    alive = tmp_path / f"out.part-{os.getpid()}-live0000"  # a run still going (this process): kept
    for folder in (*left, alive):
        (folder / "beam-temp").mkdir(parents=True)
    assert main(["--input", str(wiki.sample_dump()), "--output", str(tmp_path / "out")]) == 0
    assert not any(folder.exists() for folder in left) and alive.exists()


@pytest.mark.parametrize("argv,said", [
    (lambda t: ["--input", str(wiki.sample_dump()), "--output", "/"], "--output / is the root of a file system"),
    (lambda t: ["--input", str(t), "--output", str(t / "out")], "is a folder; give the dump files in it"),
    (lambda t: ["--input", "gs://no-such-bucket/enwiki/*.bz2", "--output", str(t / "out")],
     "cannot be read here (Unable to get filesystem"),
], ids=["output the root", "input a folder", "a bucket without Beam's GCP extra"])
def test_an_odd_path_is_one_line(tmp_path, capsys, argv, said):
    with pytest.raises(SystemExit) as stop:
        main(argv(tmp_path))
    assert stop.value.code == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines()
           if not line.startswith(("usage:", "  ", "WARNING:"))]
    assert len(err) == 1 and said in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_page_without_an_id_is_our_one_line(tmp_path, capsys):
    dump = tmp_path / "noid.xml"
    dump.write_text("<mediawiki><page><title>A</title><ns>0</ns><revision><id>2</id><text>Words.</text></revision>"
                    "</page></mediawiki>")
    assert main(["--input", str(dump), "--output", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {dump}: the page 'A' has no <id> (every page of a MediaWiki dump has one); is this a complete "
        f"pages-articles dump? Nothing was written to {tmp_path / 'out'}.")
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


def test_a_home_folder_output_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["--input", str(wiki.sample_dump()), "--output=~/beam"]) == 0  # bash leaves this ~ alone
    assert list((tmp_path / "beam").glob("wikipedia-*.parquet")) and not (tmp_path / "~").exists()
