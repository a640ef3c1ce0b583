"""Small DuckDB catalog helpers shared by CRM sync, consent and privacy (identifiers quoted safely)."""
from __future__ import annotations

import duckdb


from warehouse.sql import qualified, quote_ident  # noqa: F401  (re-exported for the sync modules)


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def columns_of(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, str]:
    """Column name -> DuckDB type name, in table order; empty when the relation does not exist."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def temp_table_from_rows(con: duckdb.DuckDBPyConnection, name: str, columns: list[tuple[str, str]],
                         rows: list[list]) -> None:
    """(Re)create temp table `name` with typed `columns` holding `rows`, in bulk through Arrow.

    DuckDB's executemany inserts row by row (a few thousand rows/s); Arrow moves 100k rows in ms.
    """
    import pyarrow as pa

    types = {"VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "BIGINT": pa.int64()}
    arrays = [pa.array([row[i] for row in rows], type=types[dtype]) for i, (_, dtype) in enumerate(columns)]
    table = pa.Table.from_arrays(arrays, names=[c for c, _ in columns])
    view = f"_arrow_{name}"
    # register() refuses to run while an earlier fetchone() left a result open; a finished query closes it.
    con.execute("SELECT 1").fetchall()
    con.register(view, table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS SELECT * FROM {quote_ident(view)}")
    finally:
        con.unregister(view)
