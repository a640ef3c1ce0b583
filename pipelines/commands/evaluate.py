"""`cdp evaluate`: score the warehouse's identity resolution against a ground-truth file."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from identity.evaluation import evaluate, format_report
from pipelines.commands._common import add_home_argument, resolve_home
from warehouse.connection import connect_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="pairwise precision/recall/F1 of identity resolution against a truth file",
        description="Compare identity.record_map (record -> customer) with a truth Parquet file "
        "(source, record_id, person_id), e.g. the truth.parquet written by `cdp generate`.",
    )
    add_home_argument(parser)
    parser.add_argument("--truth", type=Path, required=True, help="truth Parquet file (SRC/truth.parquet)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def read_record_map(home: Path) -> pl.DataFrame:
    """identity.record_map of the warehouse at `home`; a clear error when resolution has not run."""
    con = connect_home(home, read_only=True)
    try:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'identity' AND table_name = 'record_map'"
        ).fetchall()[0][0]
        if not exists:
            raise ValueError(
                f"the warehouse at {home} has no identity.record_map yet: run `cdp resolve --home {home}` first"
            )
        table = con.sql("SELECT source, record_id, customer_id FROM identity.record_map").to_arrow_table()
        return pl.from_arrow(table)
    finally:
        con.close()


def read_truth(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise FileNotFoundError(
            f"truth file {path} not found: pass the truth.parquet written by `cdp generate --out SRC`"
        )
    try:
        return pl.read_parquet(path, columns=["source", "record_id", "person_id"])
    except Exception as exc:  # polars raises several kinds for a bad file or missing column
        raise ValueError(
            f"cannot read {path} as a truth file with columns source, record_id, person_id: "
            f"{type(exc).__name__}"
        ) from None


def run(args: argparse.Namespace) -> int:
    home = resolve_home(args)
    truth = read_truth(args.truth)
    record_map = read_record_map(home)
    result = evaluate(record_map, truth)
    if args.json:
        print(json.dumps(result, sort_keys=False))
    else:
        print(f"identity resolution in {home} against {args.truth}")
        print(format_report(result))
    return 0
