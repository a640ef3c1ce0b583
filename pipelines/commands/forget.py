"""`cdp forget`: remove one person from every layer of the home folder (a deletion request)."""
from __future__ import annotations

import argparse
import json
import sys

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forget",
        help="delete a person everywhere (raw files, tables, exports, snapshots) and suppress them",
        description="Find the person by email (normalized) or customer id, remove their records from raw "
        "Parquet, every warehouse table (quarantine payloads too), exports and reports, queue a delete "
        "for every CRM sync target (sent by the next `cdp sync`), keep hashed suppressions so late events "
        "are quarantined, write an audit row, then rewrite the database file and republish snapshots.",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email address (any spelling: it is normalized)")
    who.add_argument("--customer-id", help="a customer id (cus_...)")
    add_home_argument(parser)
    parser.add_argument("--request-id", help="your ticket id for the audit trail (default: generated)")
    parser.add_argument("--lock-wait", type=float, default=600.0,
                        help="seconds to wait for another cdp run holding the home folder (default 600)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiles.privacy import forget
    from warehouse.lock import HomeLockedError, home_lock

    home = resolve_home(args)
    try:
        # The lock file records the command line: never the email.
        with home_lock(home, wait_seconds=args.lock_wait, command="cdp forget"):
            result = forget(home, email=args.email, customer_id=args.customer_id, request_id=args.request_id)
    except HomeLockedError as exc:
        print(f"cdp forget: {exc}", file=sys.stderr)
        return 3
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(result)))
    else:
        print(result.summary())
        if result.customers == 0 and result.records == 0:
            print("no customer matched; the identifier is suppressed for future ingests anyway")
    return 0
