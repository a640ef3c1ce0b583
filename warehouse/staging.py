"""`staging.customer_records`: one row per identity-bearing source record, the input of identity.

Rows are appended by the load that brought the record, in the same transaction, so the table is
always exactly what the committed loads hold (idempotent: a rerun loads nothing new and adds
nothing). A merge stream's newer version replaces the record's row.
"""
from __future__ import annotations

import duckdb

STAGING_COLUMNS: tuple[str, ...] = (
    "source", "stream", "record_id", "record_type", "event_time", "load_id", "anonymous_id",
    "previous_id", "user_id", "device_id", "email", "phone", "first_name", "last_name", "full_name",
    "street", "city", "postcode", "region", "country", "birth_date", "social_handle", "order_id",
)


def staging_ddl() -> str:
    cols = ", ".join(f"{c} TIMESTAMP" if c == "event_time" else f"{c} VARCHAR" for c in STAGING_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS staging.customer_records ({cols})"


def ensure_staging_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(staging_ddl())
