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
        show_model: Annotated[bool, typer.Option(
            "--show-model", help="print the trained model (m, u, weight of every level), the blocking "
            "rules with their pair counts and the guards")] = False,
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
        _ui.console().print(f"compared: {', '.join(result['comparisons'])}", markup=False)
        if show_model:
            _ui.print_table(
                ["blocking rule", "pairs", "blocks up to", "larger blocks skipped"],
                [[r["rule"], r["comparisons"], r["block_size_cap"], r["skipped_blocks"]] for r in result["blocking_rules"]],
                title="Blocking (pairs counted before they are made)", numeric=[1, 2, 3])
            _ui.print_table(["guard", "state"], [[k, v] for k, v in result["guards"].items()], title="Guards")
            if result["model"]:
                _ui.console().print(result["model"], markup=False)
        return 0
