"""Incremental state, kept in the warehouse itself (as dlt does) so it commits with the data.

- `ops.loaded_files`: every input file a committed load read, by name, size and content hash. A file
  is new when no committed load read the same name with the same size and hash.
- `ops.cursors`: the high-water mark of a SQL source (e.g. the largest `updated_at` read).

Writers here do not commit: the load calls them inside its own transaction.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.loaded_files (
        source VARCHAR NOT NULL, stream VARCHAR NOT NULL, file_name VARCHAR NOT NULL,
        file_path VARCHAR, size_bytes BIGINT NOT NULL, content_sha256 VARCHAR NOT NULL,
        load_id VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL, rows_read BIGINT, rows_loaded BIGINT,
        rows_quarantined BIGINT, rows_duplicate BIGINT)""",
    """CREATE TABLE IF NOT EXISTS ops.cursors (
        source VARCHAR NOT NULL, stream VARCHAR NOT NULL, cursor_name VARCHAR NOT NULL,
        cursor_value VARCHAR, load_id VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (source, stream, cursor_name))""",
)

_HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class FileFingerprint:
    name: str
    path: Path
    size_bytes: int
    content_sha256: str


# Per-file accounting, added after the first release (read = loaded + quarantined + duplicate).
FILE_COUNT_COLUMNS = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")


def ensure_cursor_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)
    for column in FILE_COUNT_COLUMNS:
        con.execute(f"ALTER TABLE ops.loaded_files ADD COLUMN IF NOT EXISTS {column} BIGINT")


def fingerprint(path: Path) -> FileFingerprint:
    """Name, size and SHA-256 of a file (hashing ~1.7 GB/s here: cheap beside parsing)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return FileFingerprint(path.name, path, path.stat().st_size, digest.hexdigest())


def loaded_fingerprints(con: duckdb.DuckDBPyConnection, source: str, stream: str) -> set[tuple[str, int, str]]:
    rows = con.execute(
        "SELECT file_name, size_bytes, content_sha256 FROM ops.loaded_files WHERE source = ? AND stream = ?",
        [source, stream],
    ).fetchall()
    return {(name, int(size), digest) for name, size, digest in rows}


def is_loaded(known: set[tuple[str, int, str]], print_: FileFingerprint) -> bool:
    return (print_.name, print_.size_bytes, print_.content_sha256) in known


def record_loaded_file(con: duckdb.DuckDBPyConnection, source: str, stream: str, print_: FileFingerprint,
                       load_id: str, loaded_at: datetime, counts: tuple[int, int, int, int] | None = None) -> None:
    """One file a load read to its end; `counts`: its rows read, loaded, quarantined, duplicate."""
    con.execute(
        "INSERT INTO ops.loaded_files (source, stream, file_name, file_path, size_bytes, content_sha256, load_id, "
        "loaded_at, rows_read, rows_loaded, rows_quarantined, rows_duplicate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [source, stream, print_.name, str(print_.path), print_.size_bytes, print_.content_sha256,
         load_id, loaded_at, *(counts or (None, None, None, None))],
    )


def get_cursor(con: duckdb.DuckDBPyConnection, source: str, stream: str, cursor_name: str) -> str | None:
    row = con.execute(
        "SELECT cursor_value FROM ops.cursors WHERE source = ? AND stream = ? AND cursor_name = ?",
        [source, stream, cursor_name],
    ).fetchall()
    return row[0][0] if row else None


def set_cursor(con: duckdb.DuckDBPyConnection, source: str, stream: str, cursor_name: str, value: str,
               load_id: str, updated_at: datetime) -> None:
    con.execute(
        "INSERT OR REPLACE INTO ops.cursors VALUES (?, ?, ?, ?, ?, ?)",
        [source, stream, cursor_name, value, load_id, updated_at],
    )
