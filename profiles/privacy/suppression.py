"""Keeping them forgotten: the sweep of records already staged that carry a suppressed identifier.

New input is screened at load time (`warehouse.suppression.LoadScreen`, in every load). What was
staged BEFORE a forget and never linked to the person by identity (a phone typed in national format
on an unresolved record, say) is swept here: `apply_suppressions(con)` quarantines those records as
`suppressed` (no payload) and removes them from staging, identity's normalized records and record
map (so no golden "ghost" profile is rebuilt from them) and from raw Parquet. `forget` runs it after
its erasure; `cdp run` runs it before resolution.
"""
from __future__ import annotations

import duckdb
import polars as pl

from profiles.crm_sync._sql import columns_of, qualified, quote_ident, relation_exists, temp_table_from_rows
from profiles.privacy.subject import RECORD_COLUMNS
from warehouse.layout import HomeLayout
from warehouse.suppression import (
    IDENTIFIER_KINDS, SUPPRESSED_DETAIL, SUPPRESSED_REASON, canonical_identifiers, sha256_hex,
)


def suppressed_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    """SHA-256 hex of every suppressed canonical identifier (see warehouse.suppression)."""
    if not relation_exists(con, "ops", "suppressions"):
        return set()
    return {r[0] for r in con.execute("SELECT hash FROM ops.suppressions").fetchall()}


def suppressed_records(con: duckdb.DuckDBPyConnection,
                       phone_regions: dict[str, str | None] | None = None) -> list[tuple[str, str]]:
    """(source, record_id) of staging rows that carry a suppressed identifier of any kind."""
    if not relation_exists(con, "ops", "suppressions") or not relation_exists(con, "staging", "customer_records"):
        return []
    if not con.execute("SELECT count(*) FROM ops.suppressions").fetchall()[0][0]:
        return []
    phone_regions = phone_regions or {}
    frame = pl.from_arrow(con.execute(
        "SELECT DISTINCT source, email, phone, country, user_id, social_handle, order_id "
        "FROM staging.customer_records WHERE email IS NOT NULL OR phone IS NOT NULL OR user_id IS NOT NULL "
        "OR social_handle IS NOT NULL OR order_id IS NOT NULL").to_arrow_table())
    if frame.is_empty():
        return []
    parts = []
    for (source,), rows in frame.group_by(["source"], maintain_order=True):
        canon = canonical_identifiers(rows, phone_regions.get(source))
        parts.append(pl.concat([rows.select(pl.all().cast(pl.String)), canon.rename(
            {k: f"c_{k}" for k in canon.columns})], how="horizontal"))
    frame = pl.concat(parts)
    pairs = pl.concat([
        frame.select(pl.col("source"), pl.col(k).alias("raw"), pl.lit(k).alias("kind"),
                     pl.col("country"), pl.col(f"c_{k}").alias("value"))
        for k in IDENTIFIER_KINDS]).drop_nulls("value")
    distinct = pairs.select("value").unique().with_columns(
        pl.col("value").map_elements(sha256_hex, return_dtype=pl.String).alias("hash"))
    pairs = pairs.join(distinct, on="value").select("source", "kind", "raw", "country", "hash")
    con.register("_suppress_pairs_arrow", pairs.to_arrow())
    try:
        hits = con.execute(
            """
            WITH p AS (SELECT * FROM _suppress_pairs_arrow SEMI JOIN ops.suppressions s
                       ON s.hash = _suppress_pairs_arrow.hash AND s.kind = _suppress_pairs_arrow.kind)
            SELECT DISTINCT s.source, s.record_id FROM staging.customer_records s JOIN p ON p.source = s.source
              AND p.raw = CASE p.kind WHEN 'email' THEN s.email WHEN 'phone' THEN s.phone
                                      WHEN 'user_id' THEN s.user_id WHEN 'social_handle' THEN s.social_handle
                                      ELSE s.order_id END
              AND (p.kind <> 'phone' OR p.country IS NOT DISTINCT FROM s.country)
            ORDER BY 1, 2
            """).fetchall()
    finally:
        con.unregister("_suppress_pairs_arrow")
    return [tuple(r) for r in hits]


def _record_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every staging table, and identity's per-record tables, keyed by (source, record_id)."""
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND NOT temporary AND (schema_name = 'staging' OR (schema_name = 'identity' AND table_name IN "
        "('normalized_records', 'record_map'))) ORDER BY 1, 2").fetchall()
    return [(s, t) for s, t in rows if {"source", "record_id"} <= set(columns_of(con, s, t))]


def apply_suppressions(con: duckdb.DuckDBPyConnection, phone_regions: dict[str, str | None] | None = None) -> int:
    """Quarantine (reason `suppressed`, no payload) and remove staged records of forgotten people,
    with their identity rows and raw Parquet rows. Returns the number of records suppressed."""
    from profiles.privacy.erasure import clean_parquet_files

    records = suppressed_records(con, phone_regions)
    if not records:
        return 0
    temp_table_from_rows(con, "forget_records", RECORD_COLUMNS, [list(r) for r in records])
    temp_table_from_rows(con, "forget_customers", [("customer_id", "VARCHAR")], [])
    from profiles.crm_sync.runner import home_of

    home = home_of(con)
    if home is not None and HomeLayout(home).raw.exists():
        raw = HomeLayout(home).raw
        clean_parquet_files(con, sorted(raw.rglob("*.parquet")), raw, None)
    if relation_exists(con, "raw", "quarantine"):
        quarantine = columns_of(con, "raw", "quarantine")
        values = {
            "load_id": "s.load_id", "source": "s.source", "stream": "s.stream", "record_id": "s.record_id",
            "reason": f"'{SUPPRESSED_REASON}'", "detail": f"'{SUPPRESSED_DETAIL}'",
            "quarantined_at": "now()::TIMESTAMP",
            "fingerprint": f"md5('{SUPPRESSED_REASON}' || chr(31) || s.record_id)",
        }
        chosen = [(c, e) for c, e in values.items() if c in quarantine]
        con.execute(
            f"INSERT INTO raw.quarantine ({', '.join(quote_ident(c) for c, _ in chosen)}) "
            f"SELECT {', '.join(e for _, e in chosen)} FROM staging.customer_records s "
            "JOIN forget_records f USING (source, record_id)")
    for schema, table in _record_tables(con):
        con.execute(f"DELETE FROM {qualified(schema, table)} AS t WHERE EXISTS (SELECT 1 FROM forget_records f "
                    "WHERE f.source = t.source AND f.record_id = CAST(t.record_id AS VARCHAR))")
    return len(records)


__all__ = ["apply_suppressions", "suppressed_hashes", "suppressed_records"]
