"""`cdp evaluate`: score the warehouse's identity resolution against a ground-truth file."""
from pathlib import Path
from typing import Annotated

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note


def record_map_relation(con, home: Path) -> str:
    """identity.record_map of the warehouse at `home`, open on `con`, as a relation name for
    `evaluate_relations`; a clear error when resolution has not run."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'identity' AND table_name = 'record_map'"
    ).fetchall()[0][0]
    if not exists:
        raise ValueError(
            f"the warehouse at {home} has no identity.record_map yet: run `cdp resolve --home {home}` first"
        )
    return "identity.record_map"


def truth_relation(path: Path) -> str:
    """The truth Parquet file as a relation for `evaluate_relations` on any connection: DuckDB reads
    it where it lies (only its footer here), so its records never become a frame."""
    import duckdb

    from warehouse.connection import connect

    if not path.exists():
        raise FileNotFoundError(
            f"truth file {path} not found: pass the truth.parquet written by `cdp generate --out SRC`"
        )
    relation = "read_parquet('{}')".format(str(path).replace("'", "''"))
    wanted = ("source", "record_id", "person_id")
    con = connect(":memory:")
    try:
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    except duckdb.Error as exc:  # not Parquet, truncated, unreadable
        problem = type(exc).__name__
    else:
        missing = [c for c in wanted if c not in columns]
        if not missing:
            return f"(SELECT source, record_id, person_id FROM {relation})"
        problem = f"it lacks {', '.join(missing)}"
    finally:
        con.close()
    raise ValueError(f"cannot read {path} as a truth file with columns {', '.join(wanted)}: {problem}")


def evaluate_home(home: Path, truth: str) -> dict:
    """`evaluate_relations` of the warehouse's identity.record_map against a truth relation (see
    `truth_relation`), in DuckDB over a read-only connection: spills under its memory limit."""
    from identity.evaluation import evaluate_relations
    from warehouse.connection import connect_home

    con = connect_home(home, read_only=True)
    try:
        return evaluate_relations(con, record_map_relation(con, home), truth)
    finally:
        con.close()


def register(app: typer.Typer) -> None:
    @command(app, "evaluate", help="pairwise precision/recall/F1 of identity resolution against a truth file",
             description="Compare identity.record_map (record -> customer) with a truth Parquet file "
             "(source, record_id, person_id), e.g. the truth.parquet written by `cdp generate`.")
    def evaluate_cmd(
        opts,
        truth: Annotated[Path, typer.Option(help="truth Parquet file (SRC/truth.parquet)")],
    ):
        from identity.evaluation import format_report

        read_only_note(opts)
        result = evaluate_home(opts.home, truth_relation(truth))
        if opts.json:
            emit_json(result)
        else:
            out = _ui.console()
            out.print(f"identity resolution in {opts.home} against {truth}", markup=False)
            out.print(format_report(result), markup=False, highlight=False)
        return 0
