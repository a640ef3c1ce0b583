"""`cdp ingest`: load what is new from every source into the warehouse, with a summary per stream."""
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import Common, command, emit_json, run_step, writing

DESCRIPTION = (
    "Read what is new in each source (new files; SQL rows with a newer updated_at), check every record "
    "(bad ones go to raw.quarantine with a reason), store the rest as Parquet under HOME/raw, append "
    "staging.customer_records, and record each load in ops.loads. Calls the loader directly; with "
    "--flow (or a configured Prefect server) it runs as the Prefect flow cdp-ingest. Exits 1 if any "
    "input could not be read.")


def ingest_with_progress(home: Path, source_dir: Path | None, sources: list[str] | None) -> list:
    """`connectors.ingest_all`, source by source, with a progress bar per stream and file."""
    from connectors import SOURCE_NAMES
    from connectors.runner import ingest_source, refresh_raw_views

    names = list(sources) if sources else list(SOURCE_NAMES)
    results = []
    with _ui.progress("ingest", loggers=["warehouse.loads", "connectors"]) as shown:
        for name in names:
            shown.update(task=f"source:{name}", description=f"ingest {name}", total=None)
            loads = ingest_source(home, name, source_dir)
            results.extend(loads)
            read = sum(r.rows_read for r in loads)
            files = sum(r.files for r in loads)
            shown.update(task=f"source:{name}", description=f"ingest {name}", completed=files or 1,
                         total=files or 1, done=True,
                         detail=f"{files:,} input(s), {read:,} read, {sum(r.rows_quarantined for r in loads):,} "
                         "quarantined")
        refresh_raw_views(home)
    return results


def print_summary(results) -> None:
    rows = [[r.source, r.stream, r.status, r.files, r.rows_read, r.rows_loaded, r.rows_quarantined,
             r.rows_duplicate] for r in results]
    totals = [sum(getattr(r, k) for r in results) for k in ("files", "rows_read", "rows_loaded",
                                                            "rows_quarantined", "rows_duplicate")]
    rows.append(["total", "", "", *totals])
    _ui.print_table(["source", "stream", "status", "files", "read", "loaded", "quarantined", "duplicate"],
                    rows, title="Ingest", numeric=[3, 4, 5, 6, 7])
    out = _ui.console()
    for r in results:
        for error in r.errors:
            out.print(f"error: {r.source}/{r.stream}: {error}", style="red", markup=False)
    if any(r.rows_quarantined for r in results):
        out.print("bad records: cdp quarantine list   (or SELECT stream, reason, count(*) FROM raw.quarantine "
                  "GROUP BY ALL)", style="dim", markup=False)


def register(app: typer.Typer) -> None:
    from connectors import SOURCE_NAMES

    @command(app, "ingest", help="load new web, app, social and transaction data into the warehouse",
             description=DESCRIPTION)
    def ingest(
        opts,
        source_dir: Annotated[Optional[Path], typer.Option(
            "--from", metavar="SRC", help="read SRC/<source>/ (the layout `cdp generate --out SRC` writes) "
            "instead of the folders in config/sources.yaml")] = None,
        sources: Annotated[Optional[List[str]], typer.Option(
            "--source", metavar="NAME", help=f"only this source (repeatable): {', '.join(SOURCE_NAMES)}")] = None,
    ):
        unknown = [s for s in sources or [] if s not in SOURCE_NAMES]
        if unknown:
            raise ValueError(f"unknown source {', '.join(unknown)}; choose from {', '.join(SOURCE_NAMES)}")
        if source_dir is not None and not source_dir.is_dir():
            raise FileNotFoundError(f"--from {source_dir}: no such folder")
        results = _ingest(opts, source_dir, sources)
        if opts.json:
            for r in results:
                emit_json({**r.__dict__, "error": r.error})
        else:
            print_summary(results)
        # Any refused input is worth a non-zero exit (a scheduler should notice), even when the rest loaded.
        troubled = [r for r in results if r.errors]
        if troubled:
            _ui.error(f"{len(troubled)} load(s) with errors; see above and ops.loads.error", "ingest")
            return 1
        return 0


def _ingest(opts: Common, source_dir: Path | None, sources: list[str] | None) -> list:
    def flow():
        from pipelines.flows.ingest import ingest_flow

        return ingest_flow(str(opts.home), str(source_dir) if source_dir else None, sources)

    with writing(opts):
        return run_step(opts, lambda: ingest_with_progress(opts.home, source_dir, sources), flow, "cdp-ingest")
