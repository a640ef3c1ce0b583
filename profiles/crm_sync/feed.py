"""The change feed of one sync target: which golden profiles are new, updated or deleted since
the target's last successful sync, judged by a checksum over the MAPPED fields only (a change in a
field the CRM does not receive sends nothing).

State lives in the warehouse: `ops.sync_state` (target, customer_id, checksum, synced_at, status)
holds, per target and customer, the checksum the CRM has. `status` is `synced`, `failed` (the last
attempt failed; `checksum` is still what the CRM has, NULL if it never got the customer) or
`pending_delete` (a privacy request queued a delete; no checksum is kept).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from config.sync import TargetSettings
from profiles.crm_sync._sql import columns_of, quote_ident, relation_exists, temp_table_from_rows

STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS ops.sync_state (target VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, "
    "checksum VARCHAR, synced_at TIMESTAMP, status VARCHAR NOT NULL)"
)
RUNS_DDL = (
    "CREATE TABLE IF NOT EXISTS ops.sync_runs (run_id VARCHAR, target VARCHAR, kind VARCHAR, "
    "purpose VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, new_count BIGINT, "
    "updated_count BIGINT, deleted_count BIGINT, failed_count BIGINT, unchanged_count BIGINT, "
    "batches BIGINT, status VARCHAR, error VARCHAR)"
)


def ensure_state_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(STATE_DDL)
    con.execute(RUNS_DDL)


@dataclass
class ChangeFeed:
    """Upserts carry the mapped payload; deletes carry why (gone, merged, forgotten, consent)."""

    target: str
    upserts: list[dict] = field(default_factory=list)  # {customer_id, change, checksum, fields}
    deletes: list[dict] = field(default_factory=list)  # {customer_id, reason, merged_into}
    unchanged: int = 0
    dropped_never_synced: int = 0

    @property
    def new(self) -> int:
        return sum(1 for row in self.upserts if row["change"] == "new")

    @property
    def updated(self) -> int:
        return sum(1 for row in self.upserts if row["change"] == "updated")


def _field_expressions(con: duckdb.DuckDBPyConnection, target: str, mapping: dict[str, str]) -> tuple[list[str], bool]:
    """`"crm_field" := g."column"` per mapping entry, and whether `profiles.traits` is needed."""
    golden = columns_of(con, "profiles", "golden")
    traits = columns_of(con, "profiles", "traits")
    parts, uses_traits = [], False
    for crm_field, source in mapping.items():
        if source.startswith("traits."):
            column, table = source[len("traits."):], "traits"
        elif source in golden:
            column, table = source, "golden"
        elif source in traits:
            column, table = source, "traits"
        else:
            column, table = source, None
        available = golden if table == "golden" else traits
        if table is None or column not in available:
            known = sorted(set(golden) | {f"traits.{c}" for c in traits if c != "customer_id"})
            raise ValueError(
                f"sync target {target!r}: CRM field {crm_field!r} maps to {source!r}, which is neither a "
                f"profiles.golden nor a profiles.traits column; known fields: {', '.join(known) or 'none'} "
                "(fix `mapping` in config/sync.yaml)"
            )
        alias = "g" if table == "golden" else "t"
        uses_traits = uses_traits or table == "traits"
        parts.append(f"{quote_ident(crm_field)} := {alias}.{quote_ident(column)}")
    return parts, uses_traits


def build_current(con: duckdb.DuckDBPyConnection, target: str, settings: TargetSettings) -> None:
    """Temp table `sync_current` (customer_id, payload JSON text, checksum) of what the target should hold."""
    if not relation_exists(con, "profiles", "golden"):
        raise ValueError("no profiles.golden table in this warehouse: run `cdp profiles` before `cdp sync`")
    parts, uses_traits = _field_expressions(con, target, settings.mapping)
    join = "LEFT JOIN profiles.traits t ON t.customer_id = g.customer_id" if uses_traits else ""
    from profiles.consent import allowed_sql

    # A marketing (or analytics) target only holds customers who granted that purpose; one who
    # withdraws it gets a delete (reason consent_withdrawn).
    consented = allowed_sql(con, settings.consent_purposes)
    where = f"WHERE g.customer_id IN ({consented})" if consented else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE sync_current AS
        SELECT customer_id, payload, md5(payload) AS checksum FROM (
            SELECT g.customer_id, CAST(to_json(struct_pack({', '.join(parts)})) AS VARCHAR) AS payload
            FROM profiles.golden g {join} {where}
        )
        """
    )


def compute_change_feed(con: duckdb.DuckDBPyConnection, target: str, settings: TargetSettings) -> ChangeFeed:
    """What must be sent to `target` now. Reads state, writes nothing but the temp table."""
    ensure_state_tables(con)
    build_current(con, target, settings)
    feed = ChangeFeed(target=target)
    upserts = con.execute(
        """
        SELECT c.customer_id, c.payload, c.checksum,
               CASE WHEN s.checksum IS NULL THEN 'new' ELSE 'updated' END AS change
        FROM sync_current c
        LEFT JOIN (SELECT * FROM ops.sync_state WHERE target = ?) s ON s.customer_id = c.customer_id
        WHERE coalesce(s.status, '') <> 'pending_delete' AND s.checksum IS DISTINCT FROM c.checksum
        ORDER BY c.customer_id
        """,
        [target],
    ).fetchall()
    feed.upserts = [
        {"customer_id": cid, "fields": json.loads(payload), "checksum": checksum, "change": change}
        for cid, payload, checksum, change in upserts
    ]
    feed.unchanged = con.execute(
        """
        SELECT count(*) FROM sync_current c
        JOIN ops.sync_state s ON s.target = ? AND s.customer_id = c.customer_id
        WHERE s.status <> 'pending_delete' AND s.checksum = c.checksum
        """,
        [target],
    ).fetchone()[0]
    has_history = relation_exists(con, "identity", "id_history")
    history_join = (
        "LEFT JOIN (SELECT old_customer_id, arg_max(new_customer_id, changed_at) AS merged_into "
        "FROM identity.id_history WHERE reason = 'merge' GROUP BY old_customer_id) h "
        "ON h.old_customer_id = s.customer_id"
        if has_history
        else "LEFT JOIN (SELECT NULL::VARCHAR AS old_customer_id, NULL::VARCHAR AS merged_into) h ON false"
    )
    deletes = con.execute(
        f"""
        SELECT s.customer_id,
               CASE WHEN s.status = 'pending_delete' THEN 'forgotten'
                    WHEN h.merged_into IS NOT NULL THEN 'merged'
                    WHEN s.customer_id IN (SELECT customer_id FROM profiles.golden) THEN 'consent_withdrawn'
                    ELSE 'gone' END AS reason,
               CASE WHEN s.status = 'pending_delete' THEN NULL ELSE h.merged_into END AS merged_into
        FROM ops.sync_state s
        LEFT JOIN sync_current c ON c.customer_id = s.customer_id
        {history_join}
        WHERE s.target = ?
          AND (s.status = 'pending_delete' OR (c.customer_id IS NULL AND s.checksum IS NOT NULL))
        ORDER BY s.customer_id
        """,
        [target],
    ).fetchall()
    feed.deletes = [
        {"customer_id": cid, "reason": reason, "merged_into": merged_into}
        for cid, reason, merged_into in deletes
    ]
    # A customer that failed before ever reaching the CRM and is gone now needs no delete.
    feed.dropped_never_synced = con.execute(
        """
        SELECT count(*) FROM ops.sync_state s LEFT JOIN sync_current c ON c.customer_id = s.customer_id
        WHERE s.target = ? AND s.status <> 'pending_delete' AND s.checksum IS NULL AND c.customer_id IS NULL
        """,
        [target],
    ).fetchone()[0]
    return feed


def queue_deletes(con: duckdb.DuckDBPyConnection, customer_ids: list[str], targets: list[str]) -> int:
    """Mark `customer_ids` for deletion in every target (sent at the next sync); returns rows queued.

    The checksum is dropped at once: only the pseudonymous id stays until the CRM confirms.
    """
    ensure_state_tables(con)
    if not customer_ids or not targets:
        return 0
    temp_table_from_rows(con, "queue_ids", [("customer_id", "VARCHAR")], [[c] for c in sorted(set(customer_ids))])
    temp_table_from_rows(con, "queue_targets", [("target", "VARCHAR")], [[t] for t in sorted(set(targets))])
    con.execute(
        "DELETE FROM ops.sync_state WHERE customer_id IN (SELECT customer_id FROM queue_ids) "
        "AND target IN (SELECT target FROM queue_targets)"
    )
    con.execute(
        "INSERT INTO ops.sync_state SELECT t.target, i.customer_id, NULL, NULL, 'pending_delete' "
        "FROM queue_targets t CROSS JOIN queue_ids i"
    )
    return len(set(customer_ids)) * len(set(targets))
