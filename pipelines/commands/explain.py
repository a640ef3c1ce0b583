"""`cdp explain CUSTOMER_ID`: why these records are one customer (Splink-style waterfall)."""
from typing import Annotated

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note


def register(app: typer.Typer) -> None:
    @command(app, "explain", help="show why records were resolved into one customer",
             description="A customer's records (every identifier masked the same way) and every link that "
             "joined them: deterministic links with the identifier type and which records share it; "
             "probabilistic links as a waterfall (prior + each field's weight = the match weight); links "
             "that merge protection or the clustering guards refused, with their reason.")
    def explain_cmd(
        opts,
        customer_id: Annotated[str, typer.Argument(help="a customer id (cus_...); a merged-away id is followed")],
    ):
        from identity.explain import explain_customer, explanation_json, format_explanation
        from warehouse.connection import connect_home

        read_only_note(opts)
        con = connect_home(opts.home, read_only=True)
        try:
            result = explain_customer(con, customer_id)
        finally:
            con.close()
        if opts.json:
            emit_json(explanation_json(result))
        else:
            _ui.console().print(format_explanation(result), markup=False, highlight=False)
        return 0
