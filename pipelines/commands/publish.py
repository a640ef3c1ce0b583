"""`cdp publish` and `cdp dbt-sources`: what readers open, refreshed on demand.

Every command that writes the warehouse republishes by itself; `cdp publish` is for a home
changed some other way (an analyst's SQL fix, a restored backup).
"""
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note, writing


def register(app: typer.Typer) -> None:
    @command(app, "publish", help="republish the read-only snapshot, analyst views and dbt sources",
             description="Create the analyst views (profiles.customer, segments.current_members), write the "
             "catalog's comments, publish HOME/snapshots/latest.duckdb (self-contained: raw views "
             "materialized, no paths) and HOME/dbt/sources.yml.")
    def publish_cmd(opts):
        from pipelines.publish import publish

        read_only_note(opts, "is a single quick step")
        if not (opts.home / "warehouse.duckdb").exists():
            raise FileNotFoundError(f"no warehouse at {opts.home / 'warehouse.duckdb'}: run `cdp ingest` first")
        with writing(opts, publish=False):
            result = publish(opts.home)
        if opts.json:
            emit_json({"snapshot": str(result.snapshot), "dbt_sources": str(result.dbt_sources),
                       "columns_documented": result.columns_documented})
        else:
            _ui.console().print(f"snapshot: {result.snapshot}\ndbt sources: {result.dbt_sources}", markup=False)
        return 0

    @command(app, "dbt-sources", help="print (or write) a dbt sources.yml for the snapshot, from the catalog",
             description="A dbt `sources.yml` naming every table and view of the warehouse with the "
             "descriptions of warehouse/catalog.yaml. Attach HOME/snapshots/latest.duckdb in your dbt-duckdb "
             "profile under the alias `cdp` (or set the dbt var cdp_database).")
    def dbt_sources_cmd(
        opts,
        out: Annotated[Optional[Path], typer.Option(help="write here instead of printing")] = None,
    ):
        from pipelines.publish import runtime_column_docs
        from warehouse.catalog import dbt_sources, render_dbt_sources
        from warehouse.snapshot import open_latest

        read_only_note(opts)
        con = open_latest(opts.home)
        try:
            if opts.json:
                emit_json(dbt_sources(con, extra=runtime_column_docs()))
                return 0
            text = render_dbt_sources(con, extra=runtime_column_docs())
        finally:
            con.close()
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            _ui.note(f"wrote {out}", "dbt-sources")
        else:
            _ui.console().print(text, markup=False, highlight=False, end="")
        return 0
