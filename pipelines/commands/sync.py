"""`cdp sync`: send each CRM target the golden profiles that changed since its last sync."""
from __future__ import annotations

import argparse
import json
import sys

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="sync changed golden profiles to the CRM targets of config/sync.yaml",
        description="Compute each target's change feed (new, updated, deleted since its last sync, by a "
        "checksum of the mapped fields) and send it: a file drop under HOME/exports/sync/<target>/, a SQL "
        "table (upserts), or an HTTP API (batches with retries). Failed rows are retried next run. "
        "Marketing targets only receive customers who consented.",
    )
    add_home_argument(parser)
    parser.add_argument("--target", action="append", metavar="NAME",
                        help="sync only this target (repeatable; default: every enabled target)")
    parser.add_argument("--no-flow", action="store_true",
                        help="call the sync directly instead of through the Prefect flow (no local server start)")
    parser.add_argument("--lock-wait", type=float, default=600.0,
                        help="seconds to wait for another cdp run holding the home folder (default 600)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=run)


def _run_direct(home, targets: list[str]) -> list[dict]:
    from profiles.consent import build_consent
    from profiles.crm_sync import sync_connection
    from warehouse.connection import connect_home

    con = connect_home(home)
    try:
        build_consent(con)
        results = []
        for target in targets:
            r = sync_connection(con, target, home=home)
            results.append({"target": r.target, "run_id": r.run_id, "new": r.new, "updated": r.updated,
                            "deleted": r.deleted, "failed": r.failed, "unchanged": r.unchanged,
                            "batches": r.batches, "errors": r.errors, "files": r.files})
        return results
    finally:
        con.close()


def run(args: argparse.Namespace) -> int:
    from config.sync import load_sync_settings
    from warehouse.lock import HomeLockedError, home_lock

    home = resolve_home(args)
    settings = load_sync_settings()
    targets = args.target or [name for name, t in settings.targets.items() if t.enabled]
    unknown = [t for t in targets if t not in settings.targets]
    if unknown:
        raise ValueError(f"unknown sync target(s) {', '.join(unknown)}; configured: "
                         f"{', '.join(sorted(settings.targets)) or 'none'} (config/sync.yaml)")
    if not targets:
        print("cdp sync: no enabled targets in config/sync.yaml; nothing to do")
        return 0
    if not (home / "warehouse.duckdb").exists():
        raise FileNotFoundError(f"no warehouse at {home / 'warehouse.duckdb'}: run `cdp ingest`, "
                                "`cdp resolve` and `cdp profiles` first")
    try:
        with home_lock(home, wait_seconds=args.lock_wait, command="cdp sync"):
            if args.no_flow:
                results = _run_direct(home, targets)
            else:
                from pipelines.flows.sync import sync_flow

                results = sync_flow(str(home), targets)
    except HomeLockedError as exc:
        print(f"cdp sync: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'target':<16} {'new':>7} {'updated':>8} {'deleted':>8} {'failed':>7} {'unchanged':>10}")
        for r in results:
            print(f"{r['target']:<16} {r['new']:>7} {r['updated']:>8} {r['deleted']:>8} {r['failed']:>7} "
                  f"{r['unchanged']:>10}")
            for error in r["errors"]:
                print(f"  {r['target']}: {error}")
    return 1 if any(r["failed"] for r in results) else 0
