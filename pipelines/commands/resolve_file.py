"""`cdp resolve-file INPUT --mapping MAPPING.yaml --out OUT.parquet`: deduplicate any person file."""
from pathlib import Path
from typing import Annotated

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note

DESCRIPTION = (
    "Resolve a CSV or Parquet file of person records that never came through the connectors. MAPPING.yaml "
    "names the id column (`id: COLUMN`) and maps columns to kinds (`attributes: {COLUMN: KIND}`), optional "
    "`default_region`. The model trains itself on the file (EM, no labels). OUT.parquet: record_id, "
    "customer_id, match_probability.")


def register(app: typer.Typer) -> None:
    @command(app, "resolve-file", help="deduplicate a CSV/Parquet file of person records", description=DESCRIPTION)
    def resolve_file_cmd(
        opts,
        input: Annotated[Path, typer.Argument(help="a .csv, .tsv or .parquet file")],
        mapping: Annotated[Path, typer.Option(help="the column mapping YAML")],
        out: Annotated[Path, typer.Option(help="where to write the result (.parquet)")],
    ):
        from identity.resolve_file import resolve_file

        read_only_note(opts, "works on a file, not the warehouse")
        with _ui.progress("resolve file", loggers=["identity"]):
            result = resolve_file(input, mapping, out)
        if opts.json:
            emit_json(result)
            return 0
        _ui.console().print(
            f"resolved {result['records']:,} records into {result['customers']:,} customers "
            f"({result['deterministic_edges']:,} deterministic and {result['probabilistic_edges']:,} "
            f"probabilistic edges, {result['rejected_edges']:,} rejected) -> {result['out']}", markup=False)
        if result.get("kinds_not_compared"):
            _ui.note(f"columns of kind {', '.join(result['kinds_not_compared'])} are read but not compared")
        return 0
