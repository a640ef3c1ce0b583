"""`cdp ingest`: load what is new from every source into the warehouse, with a summary per stream."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    from connectors import SOURCE_NAMES

    parser = subparsers.add_parser(
        "ingest",
        help="load new web, app, social and transaction data into the warehouse",
        description="Read what is new in each source (new files; SQL rows with a newer updated_at), check "
        "every record (bad ones go to raw.quarantine with a reason), store the rest as Parquet under "
        "HOME/raw, append staging.customer_records, and record each load in ops.loads. Runs the Prefect "
        "flow cdp-ingest (a temporary local server starts, ~10 s) unless --no-flow.",
    )
    add_home_argument(parser)
    parser.add_argument("--from", dest="source_dir", type=Path, default=None, metavar="SRC",
                        help="read SRC/<source>/ (the layout `cdp generate --out SRC` writes) instead of the "
                        "folders in config/sources.yaml")
    parser.add_argument("--source", dest="sources", action="append", choices=SOURCE_NAMES, metavar="NAME",
                        help=f"only this source (repeatable): {', '.join(SOURCE_NAMES)}")
    parser.add_argument("--no-flow", action="store_true",
                        help="call the loader directly instead of through the Prefect flow")
    parser.add_argument("--lock-wait", type=float, default=600.0,
                        help="seconds to wait for another cdp run holding the home folder (default 600)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per load instead of a table")
    parser.set_defaults(func=run)


def format_summary(results) -> str:
    header = f"{'source':<13}{'stream':<21}{'status':<9}{'files':>6}{'read':>10}{'loaded':>10}{'quarant.':>10}{'dupl.':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r.source:<13}{r.stream:<21}{r.status:<9}{r.files:>6}{r.rows_read:>10}{r.rows_loaded:>10}"
                     f"{r.rows_quarantined:>10}{r.rows_duplicate:>8}")
    total = [sum(getattr(r, k) for r in results) for k in ("files", "rows_read", "rows_loaded", "rows_quarantined",
                                                            "rows_duplicate")]
    lines.append("-" * len(header))
    lines.append(f"{'total':<43}{total[0]:>6}{total[1]:>10}{total[2]:>10}{total[3]:>10}{total[4]:>8}")
    for r in results:
        for error in r.errors:
            lines.append(f"error: {r.source}/{r.stream}: {error}")
    if any(r.rows_quarantined for r in results):
        lines.append("bad records: SELECT stream, reason, detail, count(*) FROM raw.quarantine GROUP BY ALL")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pipelines.commands._profile_cli import home_run_lock, locked_error_exit

    home = resolve_home(args)
    if args.source_dir is not None and not args.source_dir.is_dir():
        raise FileNotFoundError(f"--from {args.source_dir}: no such folder")
    try:
        with home_run_lock(home, args.lock_wait, "cdp ingest"):
            if args.no_flow:
                from connectors import ingest_all

                results = ingest_all(home, args.source_dir, args.sources)
            else:
                from pipelines.flows.ingest import ingest_flow

                results = ingest_flow(str(home), str(args.source_dir) if args.source_dir else None, args.sources)
    except RuntimeError as exc:
        if type(exc).__name__ == "HomeLockedError":
            return locked_error_exit(exc, "ingest")
        raise
    if args.json:
        for r in results:
            print(json.dumps({**r.__dict__, "error": r.error}, default=str))
    else:
        print(format_summary(results))
    # Any refused input is worth a non-zero exit (a scheduler should notice), even when the rest loaded.
    troubled = [r for r in results if r.errors]
    if troubled:
        print(f"cdp ingest: {len(troubled)} load(s) with errors; see above and ops.loads.error", file=sys.stderr)
        return 1
    return 0
