"""Publish consistent read-only copies of the warehouse for readers in other processes.

DuckDB lets one process write a database file; nobody else may even open it read-only meanwhile.
So the pipeline publishes a copy after a run: analysts, dashboards and sync jobs open
`HOME/snapshots/latest.duckdb` read-only while the next run writes the main file.

The copy is made with `COPY FROM DATABASE` into a fresh file (one transaction: consistent; compact:
no free blocks carrying deleted rows, which matters after `cdp forget`), written under a temporary
name and renamed into place, then `latest.duckdb` is swapped to it atomically (a hard link renamed
over the old one; a reader that has the old one open keeps reading the old one). Views over raw
Parquet keep reading the Parquet files of the home folder: relative paths in them are made
absolute so they resolve wherever the reader runs.
"""
from __future__ import annotations

import glob
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


def _absolutize_paths(sql: str, bases: list[Path]) -> str:
    """Make relative file paths in a view's string literals absolute, when they name files.

    A literal counts as a path when, joined to one of `bases`, it matches files (globs allowed).
    Other literals (event names, formats) do not match files and are left alone.
    """

    def replace(match: re.Match) -> str:
        text = match.group(1).replace("''", "'")
        if not text or os.path.isabs(text) or "://" in text or "\n" in text or len(text) > 4096:
            return match.group(0)
        for base in bases:
            candidate = (base / text)
            if glob.glob(str(candidate), recursive=True) or candidate.exists():
                return _quote_literal(str(candidate.resolve()) if "*" not in text else str(base.resolve() / text))
        return match.group(0)

    return _SQL_STRING.sub(replace, sql)


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _copy_database(con: duckdb.DuckDBPyConnection, target: Path, bases: list[Path]) -> None:
    source_db = con.execute("SELECT current_database()").fetchone()[0]
    con.execute(f"ATTACH {_quote_literal(str(target))} AS {_SNAP_ALIAS}")
    try:
        con.execute(f"COPY FROM DATABASE {_quote_ident(source_db)} TO {_SNAP_ALIAS}")
        views = con.execute(
            "SELECT schema_name, view_name, sql FROM duckdb_views() "
            "WHERE database_name = ? AND NOT internal",
            [_SNAP_ALIAS],
        ).fetchall()
        rewrites = [(s, v, _absolutize_paths(sql, bases)) for s, v, sql in views]
        rewrites = [(s, v, new) for (s, v, new), (_, _, old) in zip(rewrites, views) if new != old]
        if rewrites:
            con.execute(f"USE {_SNAP_ALIAS}")
            try:
                for _schema, _view, new_sql in rewrites:
                    con.execute(re.sub(r"^\s*CREATE\s+VIEW", "CREATE OR REPLACE VIEW", new_sql, count=1,
                                       flags=re.I))
            finally:
                con.execute(f"USE {_quote_ident(source_db)}")
    finally:
        con.execute(f"DETACH {_SNAP_ALIAS}")


def _database_home(con: duckdb.DuckDBPyConnection) -> Path:
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
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
        _copy_database(con, temp, [Path.cwd(), home_path])
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
