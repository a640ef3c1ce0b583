"""`cdp status`: the state of a home at a glance, read-only and quick."""
import os
from datetime import datetime, timezone
from pathlib import Path

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note


def _age(moment) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    seconds = max((datetime.now(timezone.utc).replace(tzinfo=None) - moment).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _has(con, schema: str, table: str, *columns: str) -> bool:
    found = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
        "AND table_name = ?", [schema, table]).fetchall()}
    return bool(found) and set(columns) <= found


def collect_status(home: Path) -> dict:
    """Everything `cdp status` shows, as plain data."""
    import duckdb

    from warehouse.connection import connect
    from warehouse.layout import HomeLayout
    from warehouse.lock import read_holder

    layout = HomeLayout(home)
    status: dict = {"home": str(home), "warehouse": str(layout.database), "exists": layout.database.exists(),
                    "read_from": None, "loads": [], "cursors": [], "last_run": None, "runs": [],
                    "lock_holder": read_holder(home), "snapshot": None, "quarantine_open": [],
                    "quarantine_open_total": 0}
    latest = layout.snapshots / "latest.duckdb"
    if latest.exists():
        pointer = layout.snapshots / "LATEST"
        made = datetime.fromtimestamp(latest.stat().st_mtime, timezone.utc).replace(tzinfo=None)
        status["snapshot"] = {"path": str(latest), "file": pointer.read_text().strip() if pointer.exists() else None,
                              "published_at": made.isoformat(timespec="seconds"), "age": _age(made)}
    if not status["exists"]:
        return status
    try:
        con = connect(layout.database, read_only=True)
        status["read_from"] = str(layout.database)
    except (duckdb.IOException, RuntimeError):  # held by a writer (warehouse.connection says busy)
        if not latest.exists():
            raise
        con = connect(latest, read_only=True)  # a run holds the main file: the snapshot says enough
        status["read_from"] = str(latest)
    try:
        if _has(con, "ops", "loads", "source", "stream", "finished_at", "status"):
            rows = con.execute("""
                SELECT source, stream, arg_max(load_id, started_at), max(finished_at), arg_max(status, started_at),
                       arg_max(rows_read, started_at), arg_max(rows_loaded, started_at),
                       arg_max(rows_quarantined, started_at), count(*)
                FROM ops.loads GROUP BY ALL ORDER BY source, stream""").fetchall()
            status["loads"] = [dict(source=r[0], stream=r[1], last_load_id=r[2], finished_at=r[3], age=_age(r[3]),
                                    status=r[4], read=r[5], loaded=r[6], quarantined=r[7], loads=r[8]) for r in rows]
        if _has(con, "ops", "cursors", "cursor_name", "cursor_value"):
            rows = con.execute("SELECT source, stream, cursor_name, cursor_value, updated_at FROM ops.cursors "
                               "ORDER BY source, stream, cursor_name").fetchall()
            status["cursors"] = [dict(source=r[0], stream=r[1], cursor=r[2], value=r[3], updated_at=r[4],
                                      age=_age(r[4])) for r in rows]
        if _has(con, "ops", "loaded_files", "source", "stream"):
            files = dict(((r[0], r[1]), r[2]) for r in con.execute(
                "SELECT source, stream, count(*) FROM ops.loaded_files GROUP BY ALL").fetchall())
            for c in status["cursors"]:
                c["files_loaded"] = files.pop((c["source"], c["stream"]), None)
            status["cursors"] += [dict(source=s, stream=t, cursor="files", value=f"{n:,} file(s) loaded",
                                       updated_at=None, age="-") for (s, t), n in sorted(files.items())]
        if _has(con, "ops", "runs", "command", "state"):
            rows = con.execute("SELECT command, started_at, finished_at, state, error FROM ops.runs "
                               "ORDER BY finished_at DESC LIMIT 5").fetchall()
            status["runs"] = [dict(command=r[0], started_at=r[1], finished_at=r[2], age=_age(r[2]),
                                   seconds=round((r[2] - r[1]).total_seconds(), 1) if r[1] and r[2] else None,
                                   state=r[3], error=r[4]) for r in rows]
            status["last_run"] = status["runs"][0] if status["runs"] else None
        if _has(con, "identity", "runs", "run_id", "finished_at", "status"):
            row = con.execute("SELECT run_id, mode, finished_at, status, customers FROM identity.runs "
                              "ORDER BY finished_at DESC NULLS LAST LIMIT 1").fetchall()
            row = row[0] if row else None
            if row:
                status["last_resolve"] = dict(run_id=row[0], mode=row[1], finished_at=row[2], age=_age(row[2]),
                                              status=row[3], customers=row[4])
        if _has(con, "raw", "quarantine", "reason", "source"):
            open_filter = "WHERE resolved_at IS NULL" if _has(con, "raw", "quarantine", "resolved_at") else ""
            rows = con.execute(f"SELECT source, reason, count(*) AS n FROM raw.quarantine {open_filter} "
                               "GROUP BY ALL ORDER BY n DESC, source, reason").fetchall()
            status["quarantine_open"] = [dict(source=r[0], reason=r[1], records=r[2]) for r in rows]
            status["quarantine_open_total"] = sum(r[2] for r in rows)
    finally:
        con.close()
    return status


def show(status: dict) -> None:
    out = _ui.console()
    out.print(f"home {status['home']}" + ("" if status["exists"] else "  (no warehouse yet: run `cdp ingest`)"),
              style="bold", markup=False)
    if status["read_from"] and status["read_from"] != status["warehouse"]:
        _ui.note("a run is writing the warehouse: figures from the latest snapshot", "status")
    holder = status["lock_holder"]
    out.print("lock: " + (f"held by pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_at')} "
                          f"(`{holder.get('command')}`)" if holder else "free"), markup=False)
    run = status.get("last_run")
    if run:
        out.print(f"last run: {run['command']} {run['state']} {run['age']}"
                  + (f" after {run['seconds']} s" if run["seconds"] is not None else "")
                  + (f": {run['error']}" if run.get("error") else ""), markup=False,
                  style="red" if run["state"] != "completed" else None)
    resolve = status.get("last_resolve")
    if resolve:
        out.print(f"last resolve: {resolve['run_id']} ({resolve['mode']}) {resolve['status']} {resolve['age']}, "
                  f"{resolve['customers']:,} customers", markup=False)
    snap = status["snapshot"]
    out.print(f"snapshot: {snap['path']} published {snap['age']}" if snap else "snapshot: none yet (`cdp publish`)",
              markup=False)
    if status["loads"]:
        out.print()
        _ui.print_table(["source", "stream", "last load", "age", "status", "read", "loaded", "quarantined", "loads"],
                        [[l["source"], l["stream"], l["last_load_id"], l["age"], l["status"], l["read"], l["loaded"],
                          l["quarantined"], l["loads"]] for l in status["loads"]], title="Last load per stream")
    if status["cursors"]:
        out.print()
        _ui.print_table(["source", "stream", "cursor", "value", "updated"],
                        [[c["source"], c["stream"], c["cursor"], c["value"], c["age"]] for c in status["cursors"]],
                        title="Cursors")
    out.print()
    if status["quarantine_open"]:
        _ui.print_table(["source", "reason", "records"],
                        [[q["source"], q["reason"], q["records"]] for q in status["quarantine_open"]],
                        title=f"Open quarantine: {status['quarantine_open_total']:,} record(s) "
                        "(`cdp quarantine list`)")
    elif status["exists"]:
        out.print("open quarantine: none", markup=False)


def register(app: typer.Typer) -> None:
    @command(app, "status", help="loads per source and their age, cursors, last run, lock, snapshot, open quarantine",
             description="What a home holds now: the last load of each stream and its age, the cursors, the last "
             "command run and its state, who holds the run lock, how old the published snapshot is, and the "
             "quarantine still open by reason. Reads only (the snapshot when a run holds the warehouse).")
    def status_cmd(opts):
        read_only_note(opts)
        status = collect_status(opts.home)
        if opts.json:
            emit_json(status)
        else:
            show(status)
        return 0
