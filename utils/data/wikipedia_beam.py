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
import glob
import math
import os
import shutil
import sys
import tempfile
import uuid
import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from utils.data.beam_workers import (
    WORKER_START_SECONDS,
    answers,
    last_line,
    lost_a_worker,
    lost_worker_line,
    pool_endpoint,
    stop_when_workers_are_lost,
    stuck,
    watched_run,
    workers_answer,
)
from utils.data.mediawiki import WikipediaError, iter_pages, to_record
from utils.support.files import user_path

SCHEMA = pa.schema([("id", pa.string()), ("url", pa.string()), ("title", pa.string()), ("text", pa.string())])
COMPRESSED_BYTES_PER_SHARD = 32 * 2**20  # --num-shards 0: one shard per 32 MB of dump (~10 k articles, bz2)


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


def _dead(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        pass
    return False


def remove_abandoned(output: str) -> None:
    """Delete what killed runs into the local ``output`` left behind: staging folders (``<output>.part-<pid>-*``)
    and scratch folders (``$TMPDIR/wikipedia-beam-<pid>-*``) of processes that are gone."""
    if "://" in output:
        return  # a bucket: its staging folder may belong to a launcher on another machine
    for path in glob.glob(glob.escape(output) + ".part-*-*") + glob.glob(
            os.path.join(glob.escape(tempfile.gettempdir()), "wikipedia-beam-*-*")):
        if _dead(path.rsplit(".part-", 1)[-1].rsplit("wikipedia-beam-", 1)[-1].split("-")[0]):
            shutil.rmtree(path, ignore_errors=True)


def _local_entries(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _checked_output(parser: argparse.ArgumentParser, output: str) -> str:
    """``--output`` without a trailing slash, or argparse's one-line error: the root of a file system, a file, a
    folder that already holds shards (or anything named like one), a file system Beam cannot write here."""
    output = output.rstrip("/") or output
    if output == os.path.abspath(os.sep) or output.endswith(":"):  # "/", or "gs://" with nothing after it
        parser.error(f"--output {output} is the root of a file system; give a folder for the shards, e.g. "
                     "--output build/wikipedia.")
    if os.path.isfile(output):  # a local file (a bucket has no such thing)
        parser.error(f"--output {output} is a file; give a folder for the Parquet shards.")
    named_like_shards = [n for n in _local_entries(output) if n.startswith("wikipedia-") and n.endswith(".parquet")]
    try:
        shards = named_like_shards or FileSystems.exists(output) and \
            FileSystems.match([f"{output}/wikipedia-*.parquet"])[0].metadata_list
    except ValueError as exc:  # no file system for the scheme
        parser.error(f"--output {output!r} cannot be written here ({last_line(exc)[:160]}).")
    if shards:
        parser.error(f"--output {output} already holds wikipedia-*.parquet shards; choose an empty folder.")
    return output


def parse_args(argv: list[str] | None):
    """(the script's own arguments, Beam's arguments, the matched dump files' metadata); argparse's one-line error
    for a bad option, no input, an empty input or an output that is a file or already holds shards. Local paths
    have ``~`` expanded and are made absolute, once."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Any other option is passed to Beam (e.g. --runner, --project).")
    parser.add_argument("--input", required=True, help="dump file or glob (.xml or .xml.bz2; local, gs://, s3://)")
    parser.add_argument("--output", required=True, help="folder for the Parquet shards")
    parser.add_argument("--num-shards", type=int, default=0,
                        help="output shards (0: one per 32 MB of compressed input)")
    parser.add_argument("--worker-start-timeout", type=float, default=WORKER_START_SECONDS,
                        help="portable runners: seconds the SDK workers have to answer before the run stops, and "
                             "to stop once one is lost mid-run")
    args, beam_args = parser.parse_known_args(argv)
    if args.num_shards < 0:
        parser.error(f"--num-shards must be 0 (one per 32 MB of input) or more, got {args.num_shards}.")
    if not 0 < args.worker_start_timeout <= 24 * 3600:
        parser.error(f"--worker-start-timeout must be a positive number of seconds, at most a day (86400), got "
                     f"{args.worker_start_timeout}.")
    args.input, args.output = (value if "://" in value else str(user_path(value)) for value in (args.input,
                                                                                                 args.output))
    if os.path.isdir(args.input):
        parser.error(f"--input {args.input} is a folder; give the dump files in it, e.g. --input "
                     f"'{args.input}/*.xml.bz2'.")
    try:
        found = [m for r in FileSystems.match([args.input]) for m in r.metadata_list]
    except ValueError as exc:  # no file system for the scheme, e.g. gs:// without apache-beam[gcp]
        parser.error(f"--input {args.input!r} cannot be read here ({last_line(exc)[:160]}).")
    if not found:
        parser.error(f"--input {args.input!r} matches no file. Give the path (or a glob) of pages-articles "
                     ".xml or .xml.bz2 dump files.")
    empty = [m.path for m in found if m.size_in_bytes == 0]
    if empty:
        parser.error(f"{empty[0]} is empty (0 bytes)" + (f", and so are {len(empty) - 1} more" if len(empty) > 1
                     else "") + ": give pages-articles .xml or .xml.bz2 dump files.")
    args.output = _checked_output(parser, args.output)
    return args, beam_args, found


def _failure(exc: BaseException, output: str, endpoint: str | None) -> str:
    """The one line for a failed run: a lost worker (or worker pool), our own message where a worker raised one,
    else the runner's last line."""
    if lost_a_worker() or endpoint and not answers(endpoint):
        return lost_worker_line(output)
    text = last_line(exc)
    if isinstance(exc, WikipediaError) or "WikipediaError: " in text:  # utils.data.mediawiki's, raised on a worker
        ours = str(exc) if isinstance(exc, WikipediaError) else text.split("WikipediaError: ", 1)[1]
        return f"{ours.split(' [while running', 1)[0]} Nothing was written to {output}."
    return f"the pipeline failed ({type(exc).__name__}: {text}); nothing was written to {output}."


def move_shards(shards: list[str], output: str, staging: str) -> str | None:
    """Move every shard from ``staging`` into ``output``, all or nothing: None once all moved; else one line saying
    what is where (the shards stay together in ``staging``, which is then kept)."""
    targets = [f"{output}/{path.rsplit('/', 1)[1]}" for path in shards]
    taken = [target for target in targets if FileSystems.exists(target)]
    if taken:
        return (f"{taken[0]} appeared while the pipeline ran; nothing was moved into {output}: all {len(shards)} "
                f"shards are kept in {staging}. Move them into {output} once it is out of the way.")
    moved: list[tuple[str, str]] = []
    try:
        for source, target in zip(shards, targets):
            FileSystems.rename([source], [target])
            moved.append((source, target))
    except Exception as exc:  # noqa: BLE001 (any file system's error: reported in one line, and undone)
        cause = last_line(exc)[:160]
        try:
            for source, target in reversed(moved):
                FileSystems.rename([target], [source])
        except Exception:  # noqa: BLE001
            return (f"could not move the shards into {output} ({cause}), nor back: {len(moved)} of {len(shards)} "
                    f"are in {output}, the rest in {staging}.")
        return (f"could not move the shards into {output} ({cause}); nothing was moved: all {len(shards)} shards "
                f"are kept in {staging}.")
    return None


def run_pipeline(beam_args: list[str], matched: list[str], output: str, num_shards: int,
                 lost_after: float = WORKER_START_SECONDS) -> tuple[int, int] | str:
    """Run the pipeline into a staging folder and move its shards into ``output`` once all are written, all or
    nothing; (articles, shards), or one line saying why nothing was written (or, for a failed move, what is where).
    A run whose SDK worker is lost stops within ``lost_after`` seconds."""
    remove_abandoned(output)
    staging = f"{output}.part-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # the shards, until every one of them is written
    scratch = tempfile.TemporaryDirectory(prefix=f"wikipedia-beam-{os.getpid()}-")  # the runner's temporary folders
    tempfile.tempdir, previous_tempdir = scratch.name, tempfile.tempdir
    keep = False
    try:
        FileSystems.mkdirs(staging)
        with watched_run(lost_after, output, staging, pool_endpoint(beam_args)):
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
        problem = move_shards(shards, output, staging)
        keep = problem is not None
        if problem:
            return problem
    except Exception as exc:  # noqa: BLE001 (a runner wraps the worker's error; report it in one line)
        return _failure(exc, output, pool_endpoint(beam_args))
    finally:
        tempfile.tempdir = previous_tempdir
        scratch.cleanup()
        if not keep and FileSystems.exists(staging):
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
    stop_when_workers_are_lost()
    result = run_pipeline(beam_args, matched, args.output, num_shards, lost_after=args.worker_start_timeout)
    if isinstance(result, str):
        print(f"error: {result}", file=sys.stderr)
        return 1
    rows, shards = result
    print(f"{rows:,} articles from {len(matched)} dump file(s) in {shards} shard(s) under {args.output}")
    return 0


if __name__ == "__main__":
    code = main()
    if stuck():  # the runner's threads wait forever for the workers; leave without joining them
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
