"""`cdp generate`: write synthetic sources with ground truth (formats: data/samples/SOURCES.md)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write synthetic web/app/social/transaction sources with ground truth",
        description="Simulate customers and write their traces in every source, laid out as "
        "data/samples/SOURCES.md describes, with truth.parquet mapping every record to its person. "
        "The same seed gives the same bytes.",
    )
    parser.add_argument("--customers", type=int, required=True, help="number of simulated persons")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; earlier generator output in it is replaced)")
    parser.add_argument("--broken-share", type=float, default=0.02,
                        help="share of records damaged on purpose (default 0.02)")
    parser.add_argument("--start", default="2026-01-01", help="first day of events (default 2026-01-01)")
    parser.add_argument("--days", type=int, default=60, help="number of days of events (default 60)")
    parser.add_argument("--no-gzip", action="store_true",
                        help="write plain .ndjson/.csv instead of gzip for web, app and store orders")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes making records (default: one per core, at most 2); "
                        "the output is the same for any number")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.sample_data import generate

    began = time.perf_counter()
    manifest = generate(args.out, args.customers, args.seed, broken_share=args.broken_share,
                        start=args.start, days=args.days, compress=not args.no_gzip,
                        workers=args.workers)
    elapsed = time.perf_counter() - began
    print(f"generated {manifest['persons']} persons, {manifest['records']} records "
          f"({manifest['broken']} broken) in {len(manifest['files'])} files under {args.out} "
          f"in {elapsed:.1f}s")
    for stream, counts in manifest["streams"].items():
        print(f"  {stream:<20} {counts['records']:>10} records {counts['broken']:>8} broken")
    return 0
