"""`cdp explain CUSTOMER_ID`: the records of one customer and every edge that joined them."""
from __future__ import annotations

import argparse

from pipelines.commands._common import add_home_argument, resolve_home


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain", help="show why records were resolved into one customer",
        description="List a customer's records (identifiers masked) and every edge that joined them: "
        "the shared identifier, or the match probability with each field's contribution.",
    )
    parser.add_argument("customer_id", help="a customer id (cus_...); a merged-away id is followed")
    add_home_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from identity.explain import explain_customer, format_explanation
    from warehouse.connection import connect_home

    con = connect_home(resolve_home(args), read_only=True)
    try:
        print(format_explanation(explain_customer(con, args.customer_id)))
    finally:
        con.close()
    return 0
