"""`cdp profiles`: build golden profiles (survivorship + provenance) and computed traits."""
from __future__ import annotations

import argparse
import json

from pipelines.commands._common import add_home_argument, resolve_home
from pipelines.commands._profile_cli import add_flow_arguments, home_run_lock, locked_error_exit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profiles",
        help="build golden profiles and computed traits from resolved identities",
        description="Rebuild profiles.golden (one row per customer, each attribute chosen by the survivorship "
        "rules of config/profiles.yaml, with its source record) and profiles.traits (activity, orders, "
        "revenue, RFM, declared traits), plus the profiles.customer_360 view segments read.",
    )
    add_home_argument(parser)
    add_flow_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=run)


def format_summary(result: dict) -> str:
    g, t = result["golden"], result["traits"]
    lines = [
        f"golden profiles: {g['profiles']}  (with email {g['with_email']}, phone {g['with_phone']}, "
        f"name {g['with_name']}; changed this run {g['changed']})",
        f"traits: {t['customers']} customers, {t['buyers']} buyers, revenue {t['revenue']} (base currency), "
        f"run date {t['run_date']}",
        "RFM segments: " + ", ".join(f"{k} {v}" for k, v in t["rfm_segments"].items()),
        f"declared traits: {t['custom_traits']}"
        + (f" (no data yet for: {', '.join(t['custom_traits_without_data'])})" if t["custom_traits_without_data"] else ""),
    ]
    if t["orders_unconverted"]:
        lines.append(f"warning: {t['orders_unconverted']} orders in a currency without a rate in "
                     "config/profiles.yaml (traits.currency_rates): their revenue is not counted")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    home = resolve_home(args)
    try:
        with home_run_lock(home, args.lock_wait, "cdp profiles"):
            if args.no_flow:
                from profiles._steps import build_profiles

                result = build_profiles(home)
            else:
                from pipelines.flows.profiles import profiles_flow

                result = profiles_flow(str(home))
    except RuntimeError as exc:
        if type(exc).__name__ == "HomeLockedError":
            return locked_error_exit(exc, "profiles")
        raise
    print(json.dumps(result, default=str) if args.json else format_summary(result))
    return 0
