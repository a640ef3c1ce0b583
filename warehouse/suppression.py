"""The suppression list (`ops.suppressions`) and the check every load makes against it.

A forgotten person's identifiers are kept only as SHA-256 hashes of their canonical forms, one row
per (kind, hash). Every load screens its checked rows against the list BEFORE anything is written
(`LoadScreen.screen`, called by `warehouse.loads.LoadWriter` for every batch of every path: `cdp
ingest`, the step commands, the flows, the HTTP collector), so a late event of a forgotten person is
quarantined with reason `suppressed` and no payload instead of reaching raw Parquet, staging, the
profiles or a CRM.

Canonical forms are the ones identity matches on, from `identity.normalize` (the one deliberate
use of identity by the warehouse: the rule "forgotten stays forgotten" must see an address or a
phone exactly as the matcher will, or a national-format phone slips through):
- email: `identity.normalize.normalize_email` (trimmed, lowercased, Gmail dots and `+tags` removed);
- phone: E.164 by `identity.normalize.normalize_phone`, read in the record's country, else the
  source's default phone region (so `(512) 354-4173` in a US record is `+15123544173`);
- user_id, order_id: trimmed, inner whitespace collapsed;
- social_handle: trimmed, `@` dropped, lowercased.
Anonymous ids and device ids are never suppressed: a family tablet is shared.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

import duckdb
import polars as pl

from warehouse.sql import quote_ident, quote_literal

SUPPRESSIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS ops.suppressions (hash VARCHAR NOT NULL, kind VARCHAR NOT NULL, "
    "request_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)"
)

IDENTIFIER_KINDS = ("email", "phone", "user_id", "social_handle", "order_id")

SUPPRESSED_REASON = "suppressed"
SUPPRESSED_DETAIL = "identifier under a deletion request"


def sha256_hex(value: str) -> str:
    """The hash kept for suppressions and audience matching: SHA-256 hex of the UTF-8 value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def ensure_suppression_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(SUPPRESSIONS_DDL)


def has_suppressions(con: duckdb.DuckDBPyConnection) -> bool:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'ops' AND table_name = 'suppressions'").fetchall()[0][0]
    return bool(exists) and con.execute("SELECT count(*) FROM ops.suppressions").fetchall()[0][0] > 0


def add_suppressions(con: duckdb.DuckDBPyConnection, entries: Iterable[tuple[str, str]], request_id: str,
                     created_at) -> int:
    """Keep the hashes of (kind, canonical value) pairs; returns how many were new."""
    ensure_suppression_table(con)
    rows = sorted({(kind, sha256_hex(value)) for kind, value in entries if value})
    added = 0
    for kind, digest in rows:
        added += con.execute(
            "INSERT INTO ops.suppressions SELECT ?, ?, ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM ops.suppressions WHERE hash = ? AND kind = ?)",
            [digest, kind, request_id, created_at, digest, kind]).fetchall()[0][0]
    return added


# ---------------------------------------------------------------- canonical forms

def _squash(s: pl.Series) -> pl.Series:
    s = s.cast(pl.String).str.replace_all(r"\s+", " ").str.strip_chars()
    return s.replace("", None)


def canonical_emails(values: pl.Series) -> pl.Series:
    from identity.normalize import normalize_email

    return normalize_email(values.cast(pl.String)).get_column("email")


def canonical_phones(phones: pl.Series, countries: pl.Series, default_region: str | None) -> pl.Series:
    from identity.normalize import normalize_country, normalize_phone

    region = normalize_country(_squash(countries))
    if default_region:
        region = region.fill_null(default_region.upper())
    return normalize_phone(phones.cast(pl.String), region).get_column("phone")


def canonical_handles(values: pl.Series) -> pl.Series:
    return _squash(values).str.strip_chars_start("@").str.strip_chars().str.to_lowercase().replace("", None)


def canonical_identifiers(frame: pl.DataFrame, default_region: str | None = None) -> pl.DataFrame:
    """Per row of `frame` (any of email, phone, country, user_id, social_handle, order_id), the
    canonical form of each identifier kind (NULL when absent or not valid)."""
    n = frame.height

    def col(name: str) -> pl.Series:
        return frame.get_column(name).cast(pl.String) if name in frame.columns else pl.Series(name, [None] * n,
                                                                                            pl.String)
    out = {
        "email": canonical_emails(col("email")),
        "phone": canonical_phones(col("phone"), col("country"), default_region),
        "user_id": _squash(col("user_id")),
        "social_handle": canonical_handles(col("social_handle")),
        "order_id": _squash(col("order_id")),
    }
    return pl.DataFrame([s.rename(k) for k, s in out.items()])


# ---------------------------------------------------------------- the load-time screen

@dataclass(frozen=True)
class LoadScreen:
    """Screens a load's checked rows against `ops.suppressions`.

    `identifiers_sql` is a SELECT over the relation `_new_rows` (the batch's valid rows) yielding
    `record_id` and any of the identifier columns (email, phone, country, user_id, social_handle,
    order_id); the stream's staging SELECT is exactly that. `params` are its bound parameters.
    """

    identifiers_sql: str
    params: tuple = ()
    default_region: str | None = None

    def screen(self, con: duckdb.DuckDBPyConnection, relation: str, key: str, load_id: str) -> int:
        """Mark the valid rows of `relation` (a temp table with the check columns) that carry a
        suppressed identifier: reason `suppressed`, no payload. Returns how many were marked."""
        if not has_suppressions(con):
            return 0
        con.execute(f"CREATE OR REPLACE TEMP VIEW _new_rows AS SELECT *, {quote_literal(load_id)} AS _load_id "
                    f"FROM {relation} WHERE _reason IS NULL")
        try:
            wanted = ("record_id", "email", "phone", "country", "user_id", "social_handle", "order_id")
            frame = pl.from_arrow(con.execute(
                f"SELECT * FROM ({self.identifiers_sql})", list(self.params)).to_arrow_table())
        finally:
            con.execute("DROP VIEW IF EXISTS _new_rows")
        frame = frame.select([c for c in wanted if c in frame.columns])
        if frame.is_empty():
            return 0
        present = [c for c in ("email", "phone", "user_id", "social_handle", "order_id") if c in frame.columns]
        if not present:
            return 0
        frame = frame.filter(pl.any_horizontal([pl.col(c).is_not_null() for c in present]))
        if frame.is_empty():
            return 0
        canon = canonical_identifiers(frame, self.default_region)
        keys = frame.get_column("record_id")
        pairs = pl.concat([
            pl.DataFrame({"record_id": keys, "kind": pl.Series([kind] * frame.height, dtype=pl.String),
                          "value": canon.get_column(kind)})
            for kind in IDENTIFIER_KINDS]).drop_nulls("value")
        if pairs.is_empty():
            return 0
        distinct = pairs.select("value").unique()
        distinct = distinct.with_columns(
            pl.col("value").map_elements(sha256_hex, return_dtype=pl.String).alias("hash"))
        pairs = pairs.join(distinct, on="value", how="left").select("record_id", "kind", "hash")
        con.register("_screen_pairs_arrow", pairs.to_arrow())
        try:
            hit = con.execute(
                "CREATE OR REPLACE TEMP TABLE _screen_hits AS SELECT DISTINCT p.record_id FROM _screen_pairs_arrow p "
                "SEMI JOIN ops.suppressions s ON s.hash = p.hash AND s.kind = p.kind").fetchall()
        finally:
            con.unregister("_screen_pairs_arrow")
        del hit
        marked = con.execute(
            f"UPDATE {relation} SET _reason = ?, _detail = ?, _payload = NULL "
            f"WHERE _reason IS NULL AND CAST({quote_ident(key)} AS VARCHAR) IN (SELECT record_id FROM _screen_hits)",
            [SUPPRESSED_REASON, SUPPRESSED_DETAIL]).fetchall()[0][0]
        con.execute("DROP TABLE IF EXISTS _screen_hits")
        return int(marked)


__all__ = [
    "IDENTIFIER_KINDS", "LoadScreen", "SUPPRESSED_REASON", "SUPPRESSIONS_DDL", "add_suppressions",
    "canonical_identifiers", "ensure_suppression_table", "has_suppressions", "sha256_hex",
]
