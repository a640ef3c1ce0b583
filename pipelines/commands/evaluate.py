"""`cdp evaluate`: score the warehouse's identity resolution against a ground-truth file."""
from pathlib import Path
from typing import Annotated

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note


def read_record_map(home: Path):
    """identity.record_map of the warehouse at `home`; a clear error when resolution has not run."""
    import polars as pl

    from warehouse.connection import connect_home

    con = connect_home(home, read_only=True)
    try:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'identity' AND table_name = 'record_map'"
        ).fetchall()[0][0]
        if not exists:
            raise ValueError(
                f"the warehouse at {home} has no identity.record_map yet: run `cdp resolve --home {home}` first"
            )
        table = con.sql("SELECT source, record_id, customer_id FROM identity.record_map").to_arrow_table()
        return pl.from_arrow(table)
    finally:
        con.close()


def read_truth(path: Path):
    import polars as pl

    if not path.exists():
        raise FileNotFoundError(
            f"truth file {path} not found: pass the truth.parquet written by `cdp generate --out SRC`"
        )
    try:
        return pl.read_parquet(path, columns=["source", "record_id", "person_id"])
    except Exception as exc:  # polars raises several kinds for a bad file or missing column
        raise ValueError(
            f"cannot read {path} as a truth file with columns source, record_id, person_id: "
            f"{type(exc).__name__}"
        ) from None


def register(app: typer.Typer) -> None:
    @command(app, "evaluate", help="pairwise precision/recall/F1 of identity resolution against a truth file",
             description="Compare identity.record_map (record -> customer) with a truth Parquet file "
             "(source, record_id, person_id), e.g. the truth.parquet written by `cdp generate`.")
    def evaluate_cmd(
        opts,
        truth: Annotated[Path, typer.Option(help="truth Parquet file (SRC/truth.parquet)")],
    ):
        from identity.evaluation import evaluate, format_report

        read_only_note(opts)
        truth_frame = read_truth(truth)
        result = evaluate(read_record_map(opts.home), truth_frame)
        if opts.json:
            emit_json(result)
        else:
            out = _ui.console()
            out.print(f"identity resolution in {opts.home} against {truth}", markup=False)
            out.print(format_report(result), markup=False, highlight=False)
        return 0
