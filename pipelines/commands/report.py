"""`cdp report`: write the run report, one self-contained HTML file."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write the run report (self-contained HTML with charts)",
        description="Write an HTML report of the warehouse: loads, quarantine reasons, records per "
        "day, customer sizes, match probabilities, source overlap and segment sizes.",
    )
    add_home_argument(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="HTML file to write (default: HOME/reports/report.html)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.report import build_report

    result = build_report(resolve_home(args), args.out)
    print(f"report written to {result.path} ({result.charts_drawn} of "
          f"{result.charts_drawn + len(result.charts_empty)} charts drawn)")
    if result.charts_empty:
        print(f"no data yet for: {', '.join(result.charts_empty)}")
    return 0
