"""`cdp run`: the whole pipeline as one Prefect flow, then a readable summary."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the whole pipeline: ingest → resolve → profiles → segments → syncs → report",
        description="Run every step as one Prefect flow (`cdp-pipeline`) under the home's run lock. "
        "A second run on the same home waits for the first, then stops with a message if it waited "
        "longer than config/pipeline.yaml lock.wait_seconds.",
    )
    add_home_argument(parser)
    parser.add_argument("--from", dest="source_dir", type=Path, default=None,
                        help="read sources from a folder laid out as `cdp generate` writes it "
                        "(default: the locations in config/sources.yaml)")
    parser.add_argument("--truth", type=Path, default=None,
                        help="truth Parquet to score resolution against (default: SRC/truth.parquet if present)")
    parser.add_argument("--full-resolve", action="store_true", help="re-resolve everything instead of incrementally")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    parser.set_defaults(func=run)


def execute(home: Path, source_dir: Path | None, truth: Path | None = None, full_resolve: bool = False) -> dict:
    from pipelines.flows.run import cdp_pipeline

    if source_dir is not None and not Path(source_dir).is_dir():
        raise FileNotFoundError(f"source folder {source_dir} does not exist")
    return cdp_pipeline(source_dir=str(source_dir) if source_dir else None, home=str(home),
                        truth=str(truth) if truth else None, full_resolve=full_resolve)


def run(args: argparse.Namespace) -> int:
    from pipelines.summary import format_summary, where_to_look

    home = resolve_home(args)
    print(f"cdp run: home {home}", flush=True)
    summary = execute(home, args.source_dir, args.truth, args.full_resolve)
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print()
        print(format_summary(summary))
        print()
        print(where_to_look(summary))
    return 0
