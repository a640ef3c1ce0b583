"""The staging contract, declared once: what identity and profiles read, never raw tables.

- `staging.customer_records`: one row per identity-bearing source record, the input of identity
  (text as found: the display spellings golden profiles and audiences show come from here).
- `staging.consent_statements`: one row per consent statement a record makes (purpose, granted,
  when): what `profiles.consent` is built from.
- `staging.orders`: one row per order, its latest version (status, amount, currency, channel,
  times): what order traits (revenue, RFM) are computed from.
- `staging.account_memberships`: one row per Segment `group` call (the account id and its traits):
  what `profiles.accounts` is built from.

Rows are written by the load that brought the record, in the same transaction, so staging is always
exactly what the committed loads hold (idempotent: a rerun loads nothing new and adds nothing). A
merge stream's newer version replaces the record's rows in every staging table. Connectors say how
their raw rows map to these columns (`select_sql`); nothing else declares staging columns.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.sql import quote_ident


@dataclass(frozen=True)
class StagingTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, DuckDB type)

    @property
    def qualified(self) -> str:
        return f"staging.{quote_ident(self.name)}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def ddl(self) -> str:
        cols = ", ".join(f"{quote_ident(c)} {t}" for c, t in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.qualified} ({cols})"


_TEXT = "VARCHAR"
CUSTOMER_RECORDS = StagingTable("customer_records", tuple(
    (c, "TIMESTAMP" if c == "event_time" else _TEXT) for c in (
        "source", "stream", "record_id", "record_type", "event_time", "load_id", "anonymous_id",
        "previous_id", "user_id", "device_id", "email", "phone", "first_name", "last_name", "full_name",
        "street", "city", "postcode", "region", "country", "birth_date", "social_handle", "order_id",
    )))
CONSENT_STATEMENTS = StagingTable("consent_statements", (
    ("source", _TEXT), ("stream", _TEXT), ("record_id", _TEXT), ("purpose", _TEXT), ("granted", "BOOLEAN"),
    ("stated_at", "TIMESTAMP"), ("load_id", _TEXT)))
ORDERS = StagingTable("orders", (
    ("source", _TEXT), ("stream", _TEXT), ("record_id", _TEXT), ("order_id", _TEXT), ("channel", _TEXT),
    ("status", _TEXT), ("amount", "DECIMAL(18,2)"), ("currency", _TEXT), ("created_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"), ("load_id", _TEXT)))
ACCOUNT_MEMBERSHIPS = StagingTable("account_memberships", (
    ("source", _TEXT), ("stream", _TEXT), ("record_id", _TEXT), ("group_id", _TEXT), ("traits", "JSON"),
    ("event_time", "TIMESTAMP"), ("load_id", _TEXT)))

STAGING_TABLES: tuple[StagingTable, ...] = (CUSTOMER_RECORDS, CONSENT_STATEMENTS, ORDERS, ACCOUNT_MEMBERSHIPS)
TABLES_BY_NAME = {t.name: t for t in STAGING_TABLES}

# The identity input's columns, in order (kept under this name for its readers).
STAGING_COLUMNS: tuple[str, ...] = CUSTOMER_RECORDS.column_names


def staging_ddl() -> str:
    return CUSTOMER_RECORDS.ddl()


def ensure_staging_table(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every staging table that does not exist yet; returns the names it created."""
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'staging'").fetchall()}
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    created = []
    for table in STAGING_TABLES:
        if table.name not in existing:
            con.execute(table.ddl())
            created.append(table.name)
    return created


ensure_staging_tables = ensure_staging_table


def select_sql(table: StagingTable, values: dict[str, str], relation: str = "_new_rows",
               where: str | None = None) -> str:
    """A SELECT of `table`'s columns, in order, over `relation`: `values` maps a column to a SQL
    expression over the relation's columns; an unmapped column is NULL; every one is cast to its type."""
    unknown = sorted(set(values) - set(table.column_names))
    if unknown:
        raise ValueError(f"staging.{table.name} has no column(s) {unknown}")
    exprs = [f"CAST({values[c]} AS {t}) AS {quote_ident(c)}" if c in values else f"CAST(NULL AS {t}) AS {quote_ident(c)}"
             for c, t in table.columns]
    return f"SELECT {', '.join(exprs)} FROM {relation}" + (f" WHERE {where}" if where else "")


def insert_rows(con: duckdb.DuckDBPyConnection, table: StagingTable, rows: list[dict]) -> None:
    """Insert rows given as {column: value} (missing columns NULL): how tests build staging."""
    if not rows:
        return
    names = table.column_names
    marks = ", ".join("?" for _ in names)
    con.executemany(f"INSERT INTO {table.qualified} VALUES ({marks})", [[row.get(c) for c in names] for row in rows])


__all__ = [
    "ACCOUNT_MEMBERSHIPS", "CONSENT_STATEMENTS", "CUSTOMER_RECORDS", "ORDERS", "STAGING_COLUMNS", "STAGING_TABLES",
    "StagingTable", "ensure_staging_table", "ensure_staging_tables", "insert_rows", "select_sql", "staging_ddl",
]
