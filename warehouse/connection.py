"""The one place DuckDB connections are made.

Extension auto-install is off: only the built-in json, parquet and icu extensions exist on the
machines we run on, and anything else would try to download at run time.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.layout import HomeLayout

LAYERS = ("raw", "staging", "identity", "profiles", "segments", "ops")

_CONFIG = {
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "true",
}


def connect(database: str | Path = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with extension auto-install off and the layer schemas present (when writable)."""
    con = duckdb.connect(str(database), read_only=read_only, config=dict(_CONFIG))
    if not read_only:
        for layer in LAYERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
    return con


def connect_home(home: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the warehouse file of a home folder, creating the folder when writable."""
    layout = HomeLayout(Path(home))
    if not read_only:
        layout.ensure()
    elif not layout.database.exists():
        raise FileNotFoundError(
            f"no warehouse at {layout.database}: run `cdp ingest --home {layout.root}` first"
        )
    return connect(layout.database, read_only=read_only)
