"""`cdp export SEGMENT`: write a segment's members as CSV, Parquet or a hashed ad-platform audience."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.commands._common import add_home_argument, resolve_home
from pipelines.commands._profile_cli import home_run_lock, locked_error_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a segment (csv, parquet, or a hashed audience for Google/Meta customer match)",
        description="Export the current members of SEGMENT. `audience` files hold only SHA-256 hashes of the "
        "normalized email and phone (Google: E.164 phone with '+'; Meta: digits without '+'). With --changes, "
        "only customers who entered or left since the last export of SEGMENT to the same destination are "
        "written, with a `change` column. Marketing segments keep only customers with marketing consent.",
    )
    parser.add_argument("segment", metavar="SEGMENT", help="segment name from config/segments.yaml")
    parser.add_argument("--format", dest="fmt", choices=("csv", "parquet", "audience"), default="csv")
    parser.add_argument("--fields", help="comma-separated profile fields/traits for csv/parquet "
                        "(default: customer_id, names, email, phone, country_inferred, rfm_segment, revenue, orders)")
    parser.add_argument("--platform", choices=("google", "meta"), default="google",
                        help="audience format: google (Email/Phone, phone with +) or meta (email/phone, digits only)")
    parser.add_argument("--changes", action="store_true", help="only members who entered/exited since the last export")
    parser.add_argument("--destination", help="name of the export state to diff against (default: the format, "
                        "or audience-PLATFORM)")
    parser.add_argument("--out", type=Path, help="output file (default: HOME/exports/segments/SEGMENT/...)")
    parser.add_argument("--lock-wait", type=float, default=600.0, help="seconds to wait for another cdp run")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_home_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiles._steps import export

    home = resolve_home(args)
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
    try:
        with home_run_lock(home, args.lock_wait, "cdp export"):
            result = export(home, args.segment, fmt=args.fmt, fields=fields, changes=args.changes, out=args.out,
                            platform=args.platform, destination=args.destination)
    except RuntimeError as exc:
        if type(exc).__name__ == "HomeLockedError":
            return locked_error_exit(exc, "export")
        raise
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"wrote {result['rows']} rows to {result['file']}")
    print(f"segment {result['segment']}: {result['members']} members; destination {result['destination']}")
    if args.changes:
        print(f"changes since last export: {result['entered']} entered, {result['exited']} exited")
    if result["consent_applied"]:
        print(f"marketing consent: {result['consent_excluded']} members left out (no consent)")
    else:
        print("marketing consent: not applied (segment not marked marketing, or no consent module)")
    if result["without_identifier"]:
        print(f"{result['without_identifier']} members without email or phone left out of the audience")
    return 0
