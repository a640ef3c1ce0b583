"""One sync run of one target: change feed -> batches -> target -> state, with a run record.

State is only advanced for rows the target confirmed; a failed row keeps the checksum the CRM
really has (status `failed`), so the next run sends it again. Nothing is lost, nothing is sent twice
when nothing changed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from config.sync import SyncSettings, TargetSettings, load_sync_settings
from profiles.crm_sync._sql import temp_table_from_rows
from profiles.crm_sync.feed import ChangeFeed, compute_change_feed, ensure_state_tables
from profiles.crm_sync.targets import FileTarget, HttpTarget, SqlTarget
from warehouse.sql import transaction


@dataclass
class SyncResult:
    target: str
    run_id: str
    new: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    unchanged: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if not self.failed else "partial"

    def summary(self) -> str:
        return (f"{self.target}: new={self.new} updated={self.updated} deleted={self.deleted} "
                f"failed={self.failed} unchanged={self.unchanged} batches={self.batches}")


def home_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The home folder of a connection opened on HOME/warehouse.duckdb (None for in-memory)."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(row[0]).resolve().parent if row and row[0] else None


def make_target(name: str, settings: TargetSettings, home: Path | None, run_id: str, now: datetime):
    if settings.kind == "file":
        if home is None:
            raise ValueError(f"sync target {name!r} writes files: give a home folder, not an in-memory database")
        return FileTarget(name, settings, home, run_id, now)
    if settings.kind == "sql":
        return SqlTarget(name, settings)
    return HttpTarget(name, settings)


def _batches(feed: ChangeFeed, size: int | None):
    """Upserts first, then deletes, in batches of `size` rows (one batch when size is None)."""
    rows = [("u", r) for r in feed.upserts] + [("d", r) for r in feed.deletes]
    size = size or max(1, len(rows))
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        yield [r for kind, r in chunk if kind == "u"], [r for kind, r in chunk if kind == "d"]


def _apply_outcomes(con, target: str, upserts_ok: list[dict], upserts_failed: list[dict],
                    deletes_ok: list[str], deletes_failed: list[str], now: datetime) -> None:
    with transaction(con):
        rows = [[r["customer_id"], r["checksum"], True] for r in upserts_ok]
        rows += [[r["customer_id"], None, False] for r in upserts_failed]
        temp_table_from_rows(con, "sync_done", [("customer_id", "VARCHAR"), ("checksum", "VARCHAR"),
                                                ("ok", "BOOLEAN")], rows)
        # Succeeded upserts: the CRM now holds this checksum.
        con.execute(
            "DELETE FROM ops.sync_state WHERE target = ? AND customer_id IN "
            "(SELECT customer_id FROM sync_done WHERE ok)", [target])
        con.execute(
            "INSERT INTO ops.sync_state SELECT ?, customer_id, checksum, ?, 'synced' FROM sync_done WHERE ok",
            [target, now])
        # Failed upserts: keep what the CRM has (or NULL), mark failed, retried next run.
        con.execute(
            "UPDATE ops.sync_state SET status = 'failed' WHERE target = ? AND customer_id IN "
            "(SELECT customer_id FROM sync_done WHERE NOT ok)", [target])
        con.execute(
            "INSERT INTO ops.sync_state SELECT ?, d.customer_id, NULL, NULL, 'failed' FROM sync_done d "
            "WHERE NOT d.ok AND d.customer_id NOT IN (SELECT customer_id FROM ops.sync_state WHERE target = ?)",
            [target, target])
        rows = [[cid, True] for cid in deletes_ok] + [[cid, False] for cid in deletes_failed]
        temp_table_from_rows(con, "sync_deleted", [("customer_id", "VARCHAR"), ("ok", "BOOLEAN")], rows)
        con.execute(
            "DELETE FROM ops.sync_state WHERE target = ? AND customer_id IN "
            "(SELECT customer_id FROM sync_deleted WHERE ok)", [target])
        con.execute(
            "UPDATE ops.sync_state SET status = 'failed' WHERE target = ? AND status <> 'pending_delete' "
            "AND customer_id IN (SELECT customer_id FROM sync_deleted WHERE NOT ok)", [target])
        # Rows that failed before ever reaching the CRM and whose customer is gone: nothing to delete.
        con.execute(
            "DELETE FROM ops.sync_state WHERE target = ? AND status = 'failed' AND checksum IS NULL "
            "AND customer_id NOT IN (SELECT customer_id FROM sync_current) "
            "AND customer_id NOT IN (SELECT customer_id FROM sync_done)", [target])


def sync_connection(con: duckdb.DuckDBPyConnection, target_name: str, settings: SyncSettings | None = None,
                    home: Path | None = None, target=None, now: datetime | None = None) -> SyncResult:
    """Sync one target over an open warehouse connection. `target` may be injected (tests)."""
    settings = settings or load_sync_settings()
    if target_name not in settings.targets:
        known = ", ".join(sorted(settings.targets)) or "none"
        raise ValueError(f"unknown sync target {target_name!r}; targets in config/sync.yaml: {known}")
    target_settings = settings.targets[target_name]
    ensure_state_tables(con)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    run_id = "syn_" + uuid.uuid4().hex[:12]
    result = SyncResult(target=target_name, run_id=run_id)
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    feed = compute_change_feed(con, target_name, target_settings)
    result.unchanged = feed.unchanged
    upserts_ok, upserts_failed, deletes_ok, deletes_failed = [], [], [], []
    if feed.upserts or feed.deletes:
        sender = target or make_target(target_name, target_settings, home or home_of(con), run_id, now)
        try:
            for upserts, deletes in _batches(feed, sender.batch_size):
                outcome = sender.send(upserts, deletes)
                result.batches += 1
                if outcome.error:
                    result.errors.append(f"batch {result.batches}: {outcome.error}")
                for row in upserts:
                    (upserts_failed if row["customer_id"] in outcome.failed_ids else upserts_ok).append(row)
                for row in deletes:
                    cid = row["customer_id"]
                    (deletes_failed if cid in outcome.failed_ids else deletes_ok).append(cid)
        finally:
            sender.close()
        result.files = [str(p) for p in getattr(sender, "written", [])]
    _apply_outcomes(con, target_name, upserts_ok, upserts_failed, deletes_ok, deletes_failed, now)
    result.new = sum(1 for r in upserts_ok if r["change"] == "new")
    result.updated = sum(1 for r in upserts_ok if r["change"] == "updated")
    result.deleted = len(deletes_ok)
    result.failed = len(upserts_failed) + len(deletes_failed)
    con.execute(
        "INSERT INTO ops.sync_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, target_name, target_settings.kind, "+".join(target_settings.consent_purposes) or target_settings.purpose, started,
         datetime.now(timezone.utc).replace(tzinfo=None), result.new, result.updated, result.deleted,
         result.failed, result.unchanged, result.batches, result.status,
         "; ".join(result.errors) or None],
    )
    return result


def sync(con_or_home, target_name: str, settings: SyncSettings | None = None, target=None,
         now: datetime | None = None) -> SyncResult:
    """Send `target_name` the profiles that changed since its last sync (see module docstring)."""
    if isinstance(con_or_home, duckdb.DuckDBPyConnection):
        return sync_connection(con_or_home, target_name, settings, target=target, now=now)
    from warehouse.connection import connect_home

    home = Path(con_or_home)
    con = connect_home(home)
    try:
        return sync_connection(con, target_name, settings, home=home, target=target, now=now)
    finally:
        con.close()


def enabled_targets(settings: SyncSettings | None = None) -> list[str]:
    settings = settings or load_sync_settings()
    return [name for name, target in settings.targets.items() if target.enabled]
