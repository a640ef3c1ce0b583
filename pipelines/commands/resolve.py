"""`cdp resolve`: run the identity resolution flow and print what it did."""
from __future__ import annotations

import argparse

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resolve", help="resolve staging records into customers (identity graph + matching)",
        description="Resolve staging.customer_records into customers: deterministic identifiers under "
        "merge protection, then Fellegi-Sunter matching, clustering and stable customer ids. "
        "Incremental by default (only new records and the customers they touch).",
    )
    add_home_argument(parser)
    parser.add_argument("--full", action="store_true", help="re-resolve every record and retrain the model")
    parser.add_argument("--debug", action="store_true", default=None,
                        help="materialize each step's table as identity.debug_* (Splink-style inspection)")
    parser.add_argument("--no-prefect", action="store_true",
                        help="call the plain function without starting a Prefect flow run")
    parser.add_argument("--lock-wait", type=float, default=600.0,
                        help="seconds to wait for another cdp run holding the home folder (default 600)")
    parser.set_defaults(func=run)


def format_summary(summary: dict) -> str:
    lines = [
        f"resolve run {summary['run_id']} ({summary['mode']})",
        f"  records            {summary['records']:>10,}  (new: {summary['new_records']:,})",
        f"  customers          {summary['customers']:>10,}",
        f"  edges              {summary['deterministic_edges']:>10,} deterministic, "
        f"{summary['probabilistic_edges']:,} probabilistic",
        f"  rejected edges     {summary['rejected_edges']:>10,}"
        + (" (" + ", ".join(f"{k}: {v:,}" for k, v in summary['rejected_by_reason'].items()) + ")"
           if summary['rejected_by_reason'] else ""),
        f"  signatures         {summary['signatures']:>10,}   candidate pairs {summary['candidate_pairs']:,}"
        f"   skipped blocks {summary['skipped_blocks']:,}",
        f"  id history         {summary['merges']:>10,} merges, {summary['splits']:,} splits",
        "  seconds per step:",
    ]
    for step, seconds in summary["step_seconds"].items():
        lines.append(f"    {step:<22} {seconds:>8.3f}")
    lines.append(f"    {'total':<22} {sum(summary['step_seconds'].values()):>8.3f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from warehouse.lock import home_lock

    home = resolve_home(args)
    with home_lock(home, wait_seconds=args.lock_wait, command="cdp resolve"):
        summary = _resolve(home, args)
    print(format_summary(summary))
    return 0


def _resolve(home, args: argparse.Namespace) -> dict:
    if args.no_prefect:
        from dataclasses import asdict

        from identity import resolve

        summary = asdict(resolve(home, mode="full" if args.full else "incremental", debug=args.debug))
    else:
        from pipelines.flows.resolve import resolve_flow

        summary = resolve_flow(str(home), full=args.full, debug=args.debug)
    return summary
