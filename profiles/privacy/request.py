"""A deletion request, start to end: `forget(home, email=... | customer_id=...)`.

Following Segment's deletion regulations:
1. find the person (`subject.find_subject`);
2. erase their raw Parquet rows, table rows, export and report lines (`erasure`), including every
   export file the warehouse logged (`segments.exports.file`), wherever it was written, and
   Prefect's state database of the home (HOME/.prefect);
3. queue a delete for every sync target (sent by the next `cdp sync`);
4. keep `ops.suppressions` (SHA-256 of canonical identifiers, never the clear value) so every later
   load quarantines their records as `suppressed`, and sweep records already staged that carry one
   of them (`suppression.apply_suppressions`); write an audit row in `ops.privacy_audit`;
5. rewrite the DuckDB file from scratch and republish the snapshots clean.

Runs without Prefect on purpose: the email never lands in Prefect's run-parameter store.
"""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from profiles.crm_sync._sql import relation_exists
from profiles.privacy.erasure import (
    clean_files, clean_parquet_files, clean_sqlite, delete_from_tables, rewrite_database,
)
from profiles.privacy.subject import find_subject, needle_pattern, normalize_emails
from profiles.privacy.suppression import apply_suppressions
from warehouse.layout import HomeLayout
from warehouse.suppression import add_suppressions, ensure_suppression_table, sha256_hex

AUDIT_DDL = (
    "CREATE TABLE IF NOT EXISTS ops.privacy_audit (request_id VARCHAR, kind VARCHAR, subject_kind VARCHAR, "
    "subject_hash VARCHAR, customers BIGINT, records BIGINT, raw_rows_removed BIGINT, "
    "table_rows_removed BIGINT, files_cleaned BIGINT, file_rows_removed BIGINT, sync_deletes_queued BIGINT, "
    "suppressions_added BIGINT, snapshots_removed BIGINT, requested_at TIMESTAMP, completed_at TIMESTAMP)"
)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class ForgetResult:
    request_id: str
    customers: int = 0
    records: int = 0
    raw_rows_removed: int = 0
    raw_files_rewritten: int = 0
    table_rows_removed: dict[str, int] = field(default_factory=dict)
    files_cleaned: int = 0
    file_rows_removed: int = 0
    sync_deletes_queued: int = 0
    suppressions_added: int = 0
    staged_records_suppressed: int = 0
    snapshots_removed: int = 0

    def summary(self) -> str:
        return (f"request {self.request_id}: customers={self.customers} records={self.records} "
                f"raw_rows_removed={self.raw_rows_removed} (files {self.raw_files_rewritten}) "
                f"table_rows_removed={sum(self.table_rows_removed.values())} files_cleaned={self.files_cleaned} "
                f"file_rows_removed={self.file_rows_removed} sync_deletes_queued={self.sync_deletes_queued} "
                f"suppressions={self.suppressions_added} staged_records_suppressed={self.staged_records_suppressed} "
                f"snapshots_removed={self.snapshots_removed}")


def ensure_privacy_tables(con) -> None:
    ensure_suppression_table(con)
    con.execute(AUDIT_DDL)


def _sync_target_names(con) -> list[str]:
    names: set[str] = set()
    try:
        from config.sync import load_sync_settings

        names |= set(load_sync_settings().targets)
    except Exception:  # a broken sync config must not block a deletion request; state still counts
        pass
    if relation_exists(con, "ops", "sync_state"):
        names |= {r[0] for r in con.execute("SELECT DISTINCT target FROM ops.sync_state").fetchall()}
    return sorted(names)


def default_phone_regions() -> dict[str, str | None]:
    """source -> default phone region from config/sources.yaml ({} when the file cannot be read)."""
    try:
        from config.sources import load_sources_config

        config = load_sources_config()
    except Exception:  # a broken sources config must not block a deletion request
        return {}
    return {name: getattr(config, name).default_phone_region for name in ("web", "app", "social", "transactions")}


def logged_export_files(con: duckdb.DuckDBPyConnection, layout: HomeLayout) -> list[Path]:
    """Every export file the warehouse logged that still exists, inside the home or not."""
    if not relation_exists(con, "segments", "exports"):
        return []
    files = {Path(r[0]) for r in con.execute("SELECT DISTINCT file FROM segments.exports WHERE file IS NOT NULL")
             .fetchall()}
    return sorted(p for p in files if p.is_file())


def forget(home: str | Path, email: str | None = None, customer_id: str | None = None,
           request_id: str | None = None, republish_snapshot: bool = True,
           phone_regions: dict[str, str | None] | None = None) -> ForgetResult:
    """Remove one person from every layer of `home` (see the module docstring)."""
    if bool(email) == bool(customer_id):
        raise ValueError("give exactly one of --email or --customer-id")
    from warehouse.connection import connect_home

    layout = HomeLayout(Path(home))
    if not layout.database.exists():
        raise FileNotFoundError(f"no warehouse at {layout.database}: nothing to forget there")
    if phone_regions is None:
        phone_regions = default_phone_regions()
    request_id = request_id or "del_" + uuid.uuid4().hex[:16]
    result = ForgetResult(request_id=request_id)
    requested_at = _now()
    con = connect_home(layout.root)
    try:
        ensure_privacy_tables(con)
        subject = find_subject(con, email=email, customer_id=customer_id, phone_regions=phone_regions)
        needles = subject.needles()
        pattern = needle_pattern(needles)
        result.customers, result.records = len(subject.customer_ids), len(subject.records)

        raw_files = sorted(layout.raw.rglob("*.parquet")) if layout.raw.exists() else []
        result.raw_rows_removed, result.raw_files_rewritten = clean_parquet_files(con, raw_files, layout.raw, pattern)

        from profiles.crm_sync.feed import queue_deletes

        queued_ids = set(subject.customer_ids)
        if relation_exists(con, "ops", "sync_state") and subject.customer_ids:
            queued_ids |= {r[0] for r in con.execute(
                "SELECT customer_id FROM ops.sync_state WHERE customer_id IN "
                "(SELECT customer_id FROM forget_customers)").fetchall()}
        result.sync_deletes_queued = queue_deletes(con, sorted(queued_ids), _sync_target_names(con))
        exports_outside = [p for p in logged_export_files(con, layout)
                           if not p.resolve().is_relative_to(layout.exports.resolve())]
        result.table_rows_removed = delete_from_tables(con, pattern)

        result.suppressions_added = add_suppressions(con, subject.suppression_entries(), request_id, requested_at)
        # Records staged before this request that carry one of their identifiers but were never
        # linked to them (not resolved yet): quarantined now, never rebuilt.
        result.staged_records_suppressed = apply_suppressions(con, phone_regions)

        exclude = {layout.database, Path(f"{layout.database}.wal"), layout.lock_file}
        for folder in (layout.exports, layout.reports):
            changed, rows = clean_files(con, folder, pattern, needles, exclude)
            result.files_cleaned += changed
            result.file_rows_removed += rows
        for path in exports_outside:  # written by an older version outside the home: cleaned too
            changed, rows = clean_files(con, path, pattern, needles, exclude)
            result.files_cleaned += changed
            result.file_rows_removed += rows
        # Prefect's state of this home (its temporary server's SQLite database).
        prefect = layout.root / ".prefect"
        for path in sorted(prefect.rglob("*.db")) if prefect.is_dir() else []:
            redacted = clean_sqlite(path, needles)
            if redacted > 0:
                result.files_cleaned += 1
                result.file_rows_removed += redacted

        if email:
            subject_kind, subject_hash = "email", sha256_hex(next(iter(normalize_emails([email]).values()))
                                                             or email.strip().lower())
        else:
            subject_kind, subject_hash = "customer_id", sha256_hex(customer_id)
        con.execute(
            "INSERT INTO ops.privacy_audit VALUES (?, 'forget', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL)",
            [request_id, subject_kind, subject_hash, result.customers, result.records, result.raw_rows_removed,
             sum(result.table_rows_removed.values()), result.files_cleaned, result.file_rows_removed,
             result.sync_deletes_queued, result.suppressions_added, requested_at])
        con.execute("CHECKPOINT")
    finally:
        con.close()

    rewrite_database(layout.database)

    had_snapshots = False
    if layout.snapshots.exists():
        for path in sorted(layout.snapshots.iterdir()):
            had_snapshots = True
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            result.snapshots_removed += 1
    con = connect_home(layout.root)
    try:
        con.execute("UPDATE ops.privacy_audit SET snapshots_removed = ?, completed_at = ? WHERE request_id = ?",
                    [result.snapshots_removed, _now(), request_id])
        con.execute("CHECKPOINT")
        if had_snapshots and republish_snapshot:
            from warehouse.snapshot import publish_snapshot

            publish_snapshot(con, home=layout.root)
    finally:
        con.close()
    return result


def audit_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    if not relation_exists(con, "ops", "privacy_audit"):
        return []
    cursor = con.execute("SELECT * FROM ops.privacy_audit ORDER BY requested_at")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


__all__ = ["AUDIT_DDL", "ForgetResult", "audit_rows", "ensure_privacy_tables", "forget"]
