"""`cdp resolve`: identity resolution (deterministic graph + matching) and what it did."""
from typing import Annotated

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, run_step, writing

DESCRIPTION = (
    "Resolve staging.customer_records into customers: deterministic identifiers under merge protection, "
    "then Fellegi-Sunter matching, clustering and stable customer ids. Incremental by default (only new "
    "records and the customers they touch).")


def resolve_with_progress(home, full: bool, debug: bool | None) -> dict:
    from dataclasses import asdict

    from identity import resolve

    with _ui.progress("identity resolution", loggers=["identity"]):
        return asdict(resolve(home, mode="full" if full else "incremental", debug=debug))


def print_summary(summary: dict) -> None:
    rejected = summary.get("rejected_by_reason") or {}
    rows = [
        ["records", summary["records"]],
        ["  new this run", summary["new_records"]],
        ["customers", summary["customers"]],
        ["deterministic edges", summary["deterministic_edges"]],
        ["probabilistic edges", summary["probabilistic_edges"]],
        ["edges refused by merge protection", summary["rejected_edges"]],
        *[[f"  {reason}", count] for reason, count in rejected.items()],
        ["signatures", summary.get("signatures")],
        ["candidate pairs", summary.get("candidate_pairs")],
        ["skipped blocks", summary.get("skipped_blocks")],
        ["merges (id history)", summary.get("merges")],
        ["splits (id history)", summary.get("splits")],
    ]
    _ui.print_table(["", "count"], rows, title=f"resolve run {summary['run_id']} ({summary['mode']})",
                    numeric=[1])
    steps = summary.get("step_seconds") or {}
    if steps:
        _ui.print_table(["step", "seconds"], [[k, round(v, 3)] for k, v in steps.items()]
                        + [["total", round(sum(steps.values()), 3)]], title="Seconds per step", numeric=[1])


def register(app: typer.Typer) -> None:
    @command(app, "resolve", help="resolve staging records into customers (identity graph + matching)",
             description=DESCRIPTION)
    def resolve_cmd(
        opts,
        full: Annotated[bool, typer.Option("--full", help="re-resolve every record and retrain the model")] = False,
        debug: Annotated[bool, typer.Option(
            "--debug", help="materialize each step's table as identity.debug_* (Splink-style inspection)")] = False,
    ):
        def flow():
            from pipelines.flows.resolve import resolve_flow

            return resolve_flow(str(opts.home), full=full, debug=debug or None)

        with writing(opts):
            summary = run_step(opts, lambda: resolve_with_progress(opts.home, full, debug or None), flow,
                               "cdp-resolve")
        if opts.json:
            emit_json(summary)
        else:
            print_summary(summary)
        return 0
