"""Apache Beam pipeline: MediaWiki XML dump(s) -> clean articles -> Parquet shards.

The same extraction and cleaning as :mod:`utils.wikitext`, written so a distributed runner can
process the full English dump (dozens of ``pages-articles*.xml*.bz2`` parts, ~6.8 M articles).
Each input file is streamed by one worker; the pages are then reshuffled so the expensive
wikitext cleaning spreads over all workers. Run it with::

    python -m utils.wikipedia_beam --input 'DUMP_OR_GLOB' --output DIR [--runner DirectRunner] [beam options]

and read the result with ``datasets.load_dataset("parquet", data_files="DIR/*.parquet")``.
"""

from __future__ import annotations

import argparse
import sys
import uuid

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from utils.wikitext import iter_pages, to_record

SCHEMA = pa.schema([("id", pa.string()), ("url", pa.string()), ("title", pa.string()), ("text", pa.string())])


def _pages_of(readable: fileio.ReadableFile):
    """Stream the main-namespace articles of one dump file (bz2 decompressed by its extension)."""
    with readable.open(compression_type=CompressionTypes.AUTO) as stream:
        yield from iter_pages(stream, source=readable.metadata.path)


def build_pipeline(pipeline: beam.Pipeline, input_pattern: str, output_dir: str, num_shards: int = 0) -> None:
    """Add the read -> clean -> write steps to ``pipeline``."""
    _ = (
        pipeline
        | "Match dump files" >> fileio.MatchFiles(input_pattern)
        | "Open" >> fileio.ReadMatches()
        | "Stream pages" >> beam.FlatMap(_pages_of)
        | "Spread over workers" >> beam.Reshuffle()
        | "Clean wikitext" >> beam.Map(to_record)
        | "Write Parquet" >> beam.io.WriteToParquet(
            output_dir.rstrip("/") + "/wikipedia", SCHEMA, file_name_suffix=".parquet", num_shards=num_shards)
    )


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; the shards appear in the output folder only when every step succeeded."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Any other option is passed to Beam (e.g. --runner, --project).")
    parser.add_argument("--input", required=True, help="dump file or glob (.xml or .xml.bz2; local, gs://, s3://)")
    parser.add_argument("--output", required=True, help="folder for the Parquet shards")
    parser.add_argument("--num-shards", type=int, default=0, help="output shards (0: let the runner decide)")
    args, beam_args = parser.parse_known_args(argv)
    if args.num_shards < 0:
        parser.error(f"--num-shards must be 0 (the runner decides) or more, got {args.num_shards}.")
    matched = [m.path for r in FileSystems.match([args.input]) for m in r.metadata_list]
    if not matched:
        parser.error(f"--input {args.input!r} matches no file. Give the path (or a glob) of pages-articles "
                     ".xml or .xml.bz2 dump files.")
    output = args.output.rstrip("/")
    if FileSystems.exists(output) and FileSystems.match([output + "/wikipedia-*.parquet"])[0].metadata_list:
        parser.error(f"--output {output} already holds wikipedia-*.parquet shards; choose an empty folder.")
    staging = f"{output}.part-{uuid.uuid4().hex[:8]}"  # the shards and Beam's temp files, until success
    try:
        with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
            build_pipeline(pipeline, args.input, staging, args.num_shards)
        shards = [m.path for m in FileSystems.match([staging + "/wikipedia-*.parquet"])[0].metadata_list]
        rows = sum(pq.ParquetFile(FileSystems.open(path)).metadata.num_rows for path in shards)
        if rows == 0:
            print(f"error: {', '.join(matched)} hold no main-namespace articles; nothing was written.",
                  file=sys.stderr)
            return 1
        if not FileSystems.exists(output):
            FileSystems.mkdirs(output)
        FileSystems.rename(shards, [output + "/" + path.rsplit("/", 1)[1] for path in shards])
    except Exception as exc:  # a runner wraps the worker's error; report it in one line
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        print(f"error: the pipeline failed ({type(exc).__name__}: {reason}); nothing was written to {output}.",
              file=sys.stderr)
        return 1
    finally:
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
    print(f"{rows:,} articles from {len(matched)} dump file(s) in {len(shards)} shard(s) under {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
