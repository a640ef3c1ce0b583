"""`cdp segments`: materialize segment membership and print sizes with who entered and left."""
from __future__ import annotations

import argparse
import json

from pipelines.commands._common import add_home_argument, resolve_home
from pipelines.commands._profile_cli import add_flow_arguments, home_run_lock, locked_error_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segments",
        help="evaluate the segments of config/segments.yaml and record enter/exit changes",
        description="Evaluate every segment of config/segments.yaml over profiles.customer_360, update "
        "segments.membership (entered_at / exited_at) and segments.runs, and print each segment's size and "
        "how many customers entered and left since the previous run.",
    )
    add_home_argument(parser)
    add_flow_arguments(parser)
    parser.add_argument("--segment", action="append", dest="only", metavar="NAME",
                        help="only this segment (repeatable); default: all")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def format_table(result: dict) -> str:
    rows = result["segments"]
    width = max([len("segment")] + [len(name) for name in rows])
    lines = [f"segments run {result['run_id']}",
             f"{'segment':<{width}}  {'size':>8}  {'entered':>8}  {'exited':>8}"]
    for name, r in rows.items():
        lines.append(f"{name:<{width}}  {r['size']:>8}  {r['entered']:>8}  {r['exited']:>8}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    home = resolve_home(args)
    try:
        with home_run_lock(home, args.lock_wait, "cdp segments"):
            if args.no_flow:
                from profiles._steps import materialize_segments

                result = materialize_segments(home, only=args.only)
            else:
                from pipelines.flows.profiles import segments_flow

                result = segments_flow(str(home), args.only)
    except RuntimeError as exc:
        if type(exc).__name__ == "HomeLockedError":
            return locked_error_exit(exc, "segments")
        raise
    print(json.dumps(result, default=str) if args.json else format_table(result))
    return 0
