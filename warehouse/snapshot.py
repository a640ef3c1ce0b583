"""Publish consistent read-only copies of the warehouse for readers in other processes.

DuckDB lets one process write a database file; nobody else may even open it read-only meanwhile.
So the pipeline publishes a copy after a run: analysts, dashboards and sync jobs open
`HOME/snapshots/latest.duckdb` read-only while the next run writes the main file.

The copy is made with `COPY FROM DATABASE` into a fresh file (one transaction: consistent; compact:
no free blocks carrying deleted rows, which matters after `cdp forget`), written under a temporary
name and renamed into place, then `latest.duckdb` is swapped to it atomically (a hard link renamed
over the old one; a reader that has the old one open keeps reading the old one).

A snapshot is self-contained and portable: views that read files (the `raw.*` views over Parquet)
are materialized into tables of the snapshot, with their comments. A snapshot copied to another
machine, or a home restored to another folder, reads exactly what it read where it was made:
no path, absolute or relative, is left in it. Views over tables (`profiles.customer_360`, ...)
stay views: they name tables of the same file.
"""
from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from warehouse.connection import connect, connect_home
from warehouse.layout import HomeLayout
from warehouse.sql import quote_ident, quote_literal

LATEST_NAME = "latest.duckdb"
POINTER_NAME = "LATEST"  # a text file naming the snapshot latest.duckdb points at
_SNAPSHOT_GLOB = "warehouse-*.duckdb"
_SNAP_ALIAS = "cdp_snapshot_target"
_SQL_STRING = re.compile(r"'((?:[^']|'')*)'")


_quote_ident = quote_ident
_quote_literal = quote_literal


# A view reads files when its SQL calls a file reader (or names a file by a quoted path).
_FILE_READER = re.compile(r"\b(read_parquet|parquet_scan|read_csv(_auto)?|read_json(_auto|_objects)?|read_ndjson"
                          r"(_auto|_objects)?|read_text|read_blob|glob)\s*\(|'[^']*\.(parquet|csv|json|ndjson)(\.gz)?'",
                          re.IGNORECASE)


def reads_files(view_sql: str) -> bool:
    return bool(_FILE_READER.search(view_sql or ""))


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _copy_database(con: duckdb.DuckDBPyConnection, target: Path) -> list[str]:
    """Copy the current database into `target`, materializing views over files; returns those views."""
    source_db = con.execute("SELECT current_database()").fetchall()[0][0]
    file_views = [(schema, view) for schema, view, sql in con.execute(
        "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [source_db]).fetchall() if reads_files(sql)]
    con.execute(f"ATTACH {_quote_literal(str(target))} AS {_SNAP_ALIAS}")
    try:
        con.execute(f"COPY FROM DATABASE {_quote_ident(source_db)} TO {_SNAP_ALIAS}")
        for schema, view in file_views:
            _materialize(con, source_db, schema, view)
    finally:
        con.execute(f"DETACH {_SNAP_ALIAS}")
    return [f"{schema}.{view}" for schema, view in file_views]


def _materialize(con: duckdb.DuckDBPyConnection, source_db: str, schema: str, view: str) -> None:
    """Replace the snapshot's copy of a file-reading view by a table of its rows (and its comments)."""
    src = f"{_quote_ident(source_db)}.{_quote_ident(schema)}.{_quote_ident(view)}"
    dst = f"{_SNAP_ALIAS}.{_quote_ident(schema)}.{_quote_ident(view)}"
    comment = con.execute("SELECT comment FROM duckdb_views() WHERE database_name = ? AND schema_name = ? "
                          "AND view_name = ?", [source_db, schema, view]).fetchall()[0][0]
    columns = con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE database_name = ? "
                          "AND schema_name = ? AND table_name = ? AND comment IS NOT NULL",
                          [source_db, schema, view]).fetchall()
    con.execute(f"DROP VIEW {dst}")
    con.execute(f"CREATE TABLE {dst} AS SELECT * FROM {src}")
    if comment:
        con.execute(f"COMMENT ON TABLE {dst} IS {_quote_literal(comment)}")
    for column, text in columns:
        con.execute(f"COMMENT ON COLUMN {dst}.{_quote_ident(column)} IS {_quote_literal(text)}")


def _database_home(con: duckdb.DuckDBPyConnection) -> Path:
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    row = row[0] if row else None
    if not row or not row[0]:
        raise ValueError("publish_snapshot needs a file-backed warehouse, not an in-memory database")
    return Path(row[0]).resolve().parent


def publish_snapshot(
    con_or_home: duckdb.DuckDBPyConnection | str | Path, keep: int = 3, home: str | Path | None = None
) -> Path:
    """Write a consistent read-only copy of the warehouse and point `latest.duckdb` at it.

    Keeps the newest `keep` snapshots. Returns the path of the new snapshot file.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1 (the snapshot just published)")
    if isinstance(con_or_home, (str, Path)):
        con = connect_home(con_or_home)
        try:
            return publish_snapshot(con, keep=keep, home=con_or_home)
        finally:
            con.close()
    con = con_or_home
    home_path = Path(home).resolve() if home else _database_home(con)
    layout = HomeLayout(home_path)
    layout.snapshots.mkdir(parents=True, exist_ok=True)
    con.execute("CHECKPOINT")

    name = f"warehouse-{_timestamp()}.duckdb"
    final = layout.snapshots / name
    temp = layout.snapshots / f".{name}.tmp"
    temp.unlink(missing_ok=True)
    try:
        _copy_database(con, temp)
        os.chmod(temp, 0o444)
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        Path(f"{temp}.wal").unlink(missing_ok=True)
        raise

    _point_latest_at(layout.snapshots, final)
    _prune(layout.snapshots, keep)
    return final


def _point_latest_at(folder: Path, snapshot: Path) -> None:
    """Swap `latest.duckdb` to `snapshot` in one rename, and update the pointer file."""
    temp_link = folder / f".{LATEST_NAME}.tmp"
    temp_link.unlink(missing_ok=True)
    try:
        os.link(snapshot, temp_link)
    except OSError:  # file systems without hard links: a full copy, still renamed atomically
        shutil.copyfile(snapshot, temp_link)
    os.replace(temp_link, folder / LATEST_NAME)
    temp_pointer = folder / f".{POINTER_NAME}.tmp"
    temp_pointer.write_text(snapshot.name + "\n", encoding="utf-8")
    os.replace(temp_pointer, folder / POINTER_NAME)


def list_snapshots(home: str | Path) -> list[Path]:
    """Published snapshots of a home folder, oldest first."""
    return sorted(HomeLayout(Path(home)).snapshots.glob(_SNAPSHOT_GLOB))


def _prune(folder: Path, keep: int) -> None:
    snapshots = sorted(folder.glob(_SNAPSHOT_GLOB))
    for old in snapshots[:-keep]:
        old.unlink(missing_ok=True)
    for orphan in folder.glob(".warehouse-*.duckdb.tmp*"):  # left by a publisher killed mid-copy
        orphan.unlink(missing_ok=True)


def latest_snapshot_path(home: str | Path) -> Path:
    path = HomeLayout(Path(home)).snapshots / LATEST_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"no published snapshot at {path}: run the pipeline (or `publish_snapshot`) first"
        )
    return path


def open_latest(home: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the latest published snapshot (works while a run writes the main file)."""
    return connect(latest_snapshot_path(home), read_only=True)
