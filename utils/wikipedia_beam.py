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

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Any other option is passed to Beam (e.g. --runner, --project).")
    parser.add_argument("--input", required=True, help="dump file or glob (.xml or .xml.bz2; local, gs://, s3://)")
    parser.add_argument("--output", required=True, help="folder for the Parquet shards")
    parser.add_argument("--num-shards", type=int, default=0, help="output shards (0: let the runner decide)")
    args, beam_args = parser.parse_known_args(argv)
    options = PipelineOptions(beam_args)
    with beam.Pipeline(options=options) as pipeline:
        build_pipeline(pipeline, args.input, args.output, args.num_shards)
    return 0


if __name__ == "__main__":
    sys.exit(main())
