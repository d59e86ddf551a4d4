"""Apache Beam pipeline: MediaWiki XML dump(s) -> clean articles -> Parquet shards.

The same extraction and cleaning as :mod:`utils.data.mediawiki`, written so a distributed runner can
process the full English dump (dozens of ``pages-articles*.xml*.bz2`` parts, ~6.8 M articles).
Each input file is streamed by one worker; every page is then sent to one of ``--num-shards`` shards
(by a stable hash of its id), and each shard is cleaned and written by one worker. Run it with::

    python -m utils.data.wikipedia_beam --input 'DUMP_OR_GLOB' --output DIR [--runner DirectRunner] [beam options]

and read the result with ``datasets.load_dataset("parquet", data_files="DIR/*.parquet")``.

Written for separate SDK workers (Dataflow, Flink, Spark, the portable runner, Dask): every step is a
module-level function of this module, nothing depends on the launching process's globals, and the workers
need only ``apache_beam``, ``mwparserfromhell`` and this package (``--setup_file pyproject.toml`` ships it).
Each shard is written inside the step that makes it, not in a ``finish_bundle``: Beam's DaskRunner drops
whatever a DoFn emits from ``finish_bundle`` (docs/scale.md).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import socket
import sys
import tempfile
import threading
import uuid
import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from utils.data.mediawiki import WikipediaError, iter_pages, to_record

SCHEMA = pa.schema([("id", pa.string()), ("url", pa.string()), ("title", pa.string()), ("text", pa.string())])
COMPRESSED_BYTES_PER_SHARD = 32 * 2**20  # --num-shards 0: one shard per 32 MB of dump (~10 k articles, bz2)
WORKER_START_SECONDS = 45  # a portable run whose workers have not answered by then stops
_STUCK = False  # a runner thread still waits for workers that never came: the process must not wait for it


def _pages_of(readable: fileio.ReadableFile):
    """Stream the main-namespace articles of one dump file (bz2 decompressed by its extension)."""
    path = readable.metadata.path
    with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if raw.read(3) == b"BZh" and not path.endswith(".bz2"):
            raise WikipediaError(f"{path} is bz2-compressed but not named .bz2; rename it to end in .xml.bz2.")
    with readable.open(compression_type=CompressionTypes.AUTO) as stream:
        yield from iter_pages(stream, source=readable.metadata.path)


def shard_of(page: dict, num_shards: int) -> tuple[int, dict]:
    """(the shard this page goes to, the page): a hash of its id that every worker computes alike (Python's
    own ``hash`` of a string differs from process to process)."""
    return zlib.crc32(page["id"].encode()) % num_shards, page


def write_shard(keyed_pages: tuple[int, object], output_dir: str, num_shards: int):
    """Clean one shard's pages and write them, sorted by id, as ``wikipedia-SSSSS-of-NNNNN.parquet``; yields
    (file name, articles). The file appears whole or not at all (written under a temporary name, then renamed),
    so a retried worker overwrites it with the same content."""
    shard, pages = keyed_pages
    records = sorted((to_record(page) for page in pages), key=lambda record: (len(record["id"]), record["id"]))
    name = f"wikipedia-{shard:05d}-of-{num_shards:05d}.parquet"
    final = f"{output_dir}/{name}"
    temporary = f"{output_dir}/.{name}.{uuid.uuid4().hex[:8]}"
    with FileSystems.create(temporary) as sink:
        pq.write_table(pa.Table.from_pylist(records, schema=SCHEMA), sink)
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([temporary], [final])
    yield name, len(records)


def build_pipeline(pipeline: beam.Pipeline, dump_files: list[str], output_dir: str, num_shards: int) -> None:
    """Add the read -> shard -> clean and write steps to ``pipeline``: one element per dump file, so a runner
    that splits its input by elements (Dask: ``--dask_npartitions``) can read several files at once."""
    _ = (
        pipeline
        | "Dump files" >> beam.Create(dump_files)
        | "Match dump files" >> fileio.MatchAll()
        | "Open" >> fileio.ReadMatches()
        | "Stream pages" >> beam.FlatMap(_pages_of)
        | "Pick a shard" >> beam.Map(shard_of, num_shards)
        | "Gather each shard" >> beam.GroupByKey()
        | "Clean and write each shard" >> beam.FlatMap(write_shard, output_dir, num_shards)
    )


def _probe(_):
    """Run on a worker: the modules the pipeline needs import there."""
    import mwparserfromhell  # noqa: F401

    import utils.data.mediawiki  # noqa: F401

    return sys.executable


def workers_answer(beam_args: list[str], seconds: float) -> str | None:
    """None when a one-element pipeline with these options completes within ``seconds``, else the reason.

    A portable runner whose SDK workers cannot start (a worker pool whose ``python`` lacks apache_beam or this
    project) waits for them forever; this finds out first, in bounded time."""
    options = PipelineOptions(beam_args)
    portable = options.view_as(PortableOptions)
    endpoint = portable.environment_config if (portable.environment_type or "").upper() == "EXTERNAL" else None
    if endpoint:
        host, _, port = endpoint.rpartition(":")
        try:
            socket.create_connection((host or "localhost", int(port)), timeout=5).close()
        except (OSError, ValueError):
            return (f"no Beam worker pool answers at {endpoint}; start one with `python -m "
                    f"apache_beam.runners.worker.worker_pool_main --service_port {port}`")
    outcome: dict = {}

    def probe():
        try:
            with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
                _ = pipeline | beam.Create([0]) | beam.Map(_probe)
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 (reported below in one line)
            outcome["error"] = _last_line(exc)

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


def _close_dask_client() -> None:
    """Beam's DaskRunner opens a client to the Dask scheduler and never closes it (``dask_runner.py``,
    ``run_pipeline``); close it, so the scheduler can shut down without the client retrying."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return
    try:
        distributed.Client.current().close()
    except ValueError:  # no client: another runner ran
        pass


def _last_line(exc: BaseException) -> str:
    """The last line of an exception's message (a runner wraps the worker's error in a long report)."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def parse_args(argv: list[str] | None):
    """(the script's own arguments, Beam's arguments, the matched dump files' metadata); argparse's one-line error
    for a bad option, no input, an empty input or an output that is a file or already holds shards."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Any other option is passed to Beam (e.g. --runner, --project).")
    parser.add_argument("--input", required=True, help="dump file or glob (.xml or .xml.bz2; local, gs://, s3://)")
    parser.add_argument("--output", required=True, help="folder for the Parquet shards")
    parser.add_argument("--num-shards", type=int, default=0,
                        help="output shards (0: one per 32 MB of compressed input)")
    parser.add_argument("--worker-start-timeout", type=float, default=WORKER_START_SECONDS,
                        help="portable runners: seconds the SDK workers have to answer before the run stops")
    args, beam_args = parser.parse_known_args(argv)
    if args.num_shards < 0:
        parser.error(f"--num-shards must be 0 (one per 32 MB of input) or more, got {args.num_shards}.")
    if not args.worker_start_timeout > 0:
        parser.error(f"--worker-start-timeout must be a positive number of seconds, got {args.worker_start_timeout}.")
    found = [m for r in FileSystems.match([args.input]) for m in r.metadata_list]
    if not found:
        parser.error(f"--input {args.input!r} matches no file. Give the path (or a glob) of pages-articles "
                     ".xml or .xml.bz2 dump files.")
    empty = [m.path for m in found if m.size_in_bytes == 0]
    if empty:
        parser.error(f"{empty[0]} is empty (0 bytes)" + (f", and so are {len(empty) - 1} more" if len(empty) > 1
                     else "") + ": give pages-articles .xml or .xml.bz2 dump files.")
    args.output = args.output.rstrip("/")
    if os.path.isfile(args.output):  # a local file (a bucket has no such thing)
        parser.error(f"--output {args.output} is a file; give a folder for the Parquet shards.")
    if FileSystems.exists(args.output) and FileSystems.match([args.output + "/wikipedia-*.parquet"])[0].metadata_list:
        parser.error(f"--output {args.output} already holds wikipedia-*.parquet shards; choose an empty folder.")
    return args, beam_args, found


def run_pipeline(beam_args: list[str], matched: list[str], output: str, num_shards: int) -> tuple[int, int] | str:
    """Run the pipeline into a staging folder and move its shards into ``output`` once all are written;
    (articles, shards), or one line saying why nothing was written."""
    staging = f"{output}.part-{uuid.uuid4().hex[:8]}"  # the shards, until every one of them is written
    # a failing step's traceback is logged by Beam as well as raised: the raised one becomes our one line below
    step_log = logging.getLogger("apache_beam.runners.common")
    level, step_log.level = step_log.level, logging.CRITICAL
    scratch = tempfile.TemporaryDirectory(prefix="wikipedia-beam-")  # the runner's own temporary folders go here
    tempfile.tempdir, previous_tempdir = scratch.name, tempfile.tempdir
    try:
        FileSystems.mkdirs(staging)
        try:
            with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
                build_pipeline(pipeline, matched, staging, num_shards)
        finally:
            _close_dask_client()
        shards = sorted(m.path for m in FileSystems.match([staging + "/wikipedia-*.parquet"])[0].metadata_list)
        rows = sum(pq.ParquetFile(FileSystems.open(path)).metadata.num_rows for path in shards)
        if rows == 0:
            return f"{', '.join(matched)} hold no main-namespace articles; nothing was written."
        if not FileSystems.exists(output):
            FileSystems.mkdirs(output)
        FileSystems.rename(shards, [output + "/" + path.rsplit("/", 1)[1] for path in shards])
    except Exception as exc:  # a runner wraps the worker's error; report it in one line
        return f"the pipeline failed ({type(exc).__name__}: {_last_line(exc)}); nothing was written to {output}."
    finally:
        step_log.setLevel(level)
        tempfile.tempdir = previous_tempdir
        scratch.cleanup()
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
    return rows, len(shards)


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; the shards appear in the output folder only when every step succeeded."""
    args, beam_args, found = parse_args(argv)
    matched = [m.path for m in found]
    # --num-shards 0: one shard per COMPRESSED_BYTES_PER_SHARD of input
    num_shards = args.num_shards or max(1, math.ceil(sum(m.size_in_bytes for m in found) / COMPRESSED_BYTES_PER_SHARD))
    environment = (PipelineOptions(beam_args).view_as(PortableOptions).environment_type or "").upper()
    if environment and environment != "LOOPBACK":  # separate SDK workers (LOOPBACK's run in this process)
        problem = workers_answer(beam_args, args.worker_start_timeout)
        if problem:
            print(f"error: {problem}; nothing was written to {args.output}.", file=sys.stderr)
            return 1
    result = run_pipeline(beam_args, matched, args.output, num_shards)
    if isinstance(result, str):
        print(f"error: {result}", file=sys.stderr)
        return 1
    rows, shards = result
    print(f"{rows:,} articles from {len(matched)} dump file(s) in {shards} shard(s) under {args.output}")
    return 0


if __name__ == "__main__":
    code = main()
    if _STUCK:  # the runner's threads wait forever for the workers; leave without joining them
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
