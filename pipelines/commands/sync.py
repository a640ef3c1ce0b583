"""`cdp sync`: send each CRM target the golden profiles that changed since its last sync."""
from typing import Annotated, List, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, run_step, writing

DESCRIPTION = (
    "Compute each target's change feed (new, updated, deleted since its last sync, by a checksum of the "
    "mapped fields) and send it: a file drop under HOME/exports/sync/<target>/, a SQL table (upserts), or "
    "an HTTP API (batches with retries, each retry shown). Failed rows are retried next run. Marketing "
    "targets only receive customers who consented. Exits 1 when rows failed.")


def _as_dict(r) -> dict:
    return {"target": r.target, "run_id": r.run_id, "new": r.new, "updated": r.updated, "deleted": r.deleted,
            "failed": r.failed, "unchanged": r.unchanged, "batches": r.batches, "errors": r.errors,
            "files": r.files}


def sync_with_progress(home, targets: list[str]) -> list[dict]:
    from profiles.consent import build_consent
    from profiles.crm_sync import sync_connection
    from warehouse.connection import connect_home

    con = connect_home(home)
    try:
        with _ui.progress("sync", loggers=["profiles.crm_sync"]) as shown:
            shown.update(task="consent", description="refresh consent", total=1)
            build_consent(con)
            shown.update(task="consent", description="refresh consent", done=True, total=1, completed=1)
            results = []
            for target in targets:
                shown.update(task=target, description=f"sync {target}", total=None)
                r = sync_connection(con, target, home=home)
                results.append(_as_dict(r))
                shown.update(task=target, description=f"sync {target}", done=True, total=max(r.batches, 1),
                             completed=max(r.batches, 1),
                             detail=f"{r.new:,} new, {r.updated:,} updated, {r.deleted:,} deleted, {r.failed:,} failed")
        return results
    finally:
        con.close()


def register(app: typer.Typer) -> None:
    @command(app, "sync", help="sync changed golden profiles to the CRM targets of config/sync.yaml",
             description=DESCRIPTION)
    def sync_cmd(
        opts,
        target: Annotated[Optional[List[str]], typer.Option(
            "--target", metavar="NAME", help="sync only this target (repeatable; default: every enabled target)")] = None,
    ):
        from config.sync import load_sync_settings

        settings = load_sync_settings()
        targets = target or [name for name, t in settings.targets.items() if t.enabled]
        unknown = [t for t in targets if t not in settings.targets]
        if unknown:
            raise ValueError(f"unknown sync target(s) {', '.join(unknown)}; configured: "
                             f"{', '.join(sorted(settings.targets)) or 'none'} (config/sync.yaml)")
        if not targets:
            _ui.note("no enabled targets in config/sync.yaml; nothing to do", "sync")
            return 0
        if not (opts.home / "warehouse.duckdb").exists():
            raise FileNotFoundError(f"no warehouse at {opts.home / 'warehouse.duckdb'}: run `cdp ingest`, "
                                    "`cdp resolve` and `cdp profiles` first")

        def flow():
            from pipelines.flows.sync import sync_flow

            return sync_flow(str(opts.home), targets)

        with writing(opts):
            results = run_step(opts, lambda: sync_with_progress(opts.home, targets), flow, "cdp-sync")
        if opts.json:
            emit_json(results)
        else:
            _ui.print_table(["target", "new", "updated", "deleted", "failed", "unchanged", "batches"],
                            [[r["target"], r["new"], r["updated"], r["deleted"], r["failed"], r["unchanged"],
                              r["batches"]] for r in results], title="CRM syncs")
            for r in results:
                for error in r["errors"]:
                    _ui.error(f"{r['target']}: {error}", "sync")
        return 1 if any(r["failed"] for r in results) else 0
