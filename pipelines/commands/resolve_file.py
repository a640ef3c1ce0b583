"""`cdp resolve-file INPUT --mapping MAPPING.yaml --out OUT.parquet`: deduplicate any person file."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resolve-file", help="deduplicate a CSV/Parquet file of person records",
        description="Resolve a CSV or Parquet file of person records that never came through the "
        "connectors. MAPPING.yaml names the id column (`id: COLUMN`) and maps columns to kinds "
        "(`attributes: {COLUMN: KIND}`), optional `default_region`. The model trains itself on the "
        "file (EM, no labels). OUT.parquet: record_id, customer_id, match_probability.",
    )
    parser.add_argument("input", type=Path, help="a .csv, .tsv or .parquet file")
    parser.add_argument("--mapping", type=Path, required=True, help="the column mapping YAML")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result (.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from identity.resolve_file import resolve_file

    result = resolve_file(args.input, args.mapping, args.out)
    print(f"resolved {result['records']:,} records into {result['customers']:,} customers "
          f"({result['deterministic_edges']:,} deterministic and {result['probabilistic_edges']:,} "
          f"probabilistic edges, {result['rejected_edges']:,} rejected) -> {result['out']}")
    if result["kinds_not_compared"]:
        print(f"note: columns of kind {', '.join(result['kinds_not_compared'])} are read but not compared")
    return 0
