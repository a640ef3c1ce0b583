"""`cdp forget`: remove one person from every layer of the home folder (a deletion request)."""
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note

DESCRIPTION = (
    "Find the person by email (normalized) or customer id, remove their records from raw Parquet, every "
    "warehouse table (quarantine payloads too), exports and reports, queue a delete for every CRM sync "
    "target (sent by the next `cdp sync`), keep hashed suppressions so late events are quarantined, write "
    "an audit row, then rewrite the database file and republish snapshots. Never runs as a Prefect flow: "
    "the email must not land in Prefect's run-parameter store.")


def register(app: typer.Typer) -> None:
    @command(app, "forget", help="delete a person everywhere (raw files, tables, exports, snapshots) and suppress them",
             description=DESCRIPTION)
    def forget_cmd(
        opts,
        email: Annotated[Optional[str], typer.Option(help="the person's email address (any spelling: it is normalized)")] = None,
        customer_id: Annotated[Optional[str], typer.Option("--customer-id", help="a customer id (cus_...)")] = None,
        request_id: Annotated[Optional[str], typer.Option(help="your ticket id for the audit trail (default: generated)")] = None,
    ):
        from dataclasses import asdict

        from profiles.privacy import forget
        from warehouse.lock import home_lock

        if bool(email) == bool(customer_id):
            raise typer.BadParameter("give exactly one of --email or --customer-id")
        read_only_note(opts, "keeps personal data out of Prefect")
        # The lock file records the command line: never the email.
        with home_lock(opts.home, wait_seconds=opts.lock_wait_seconds, command="cdp forget"):
            result = forget(opts.home, email=email, customer_id=customer_id, request_id=request_id)
        if opts.json:
            emit_json(asdict(result))
            return 0
        _ui.console().print(result.summary(), markup=False)
        if result.customers == 0 and result.records == 0:
            _ui.note("no customer matched; the identifier is suppressed for future ingests anyway", "forget")
        return 0
