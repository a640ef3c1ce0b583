"""Deterministic, append-only file writers: same calls, same bytes.

Each chunk's part of a `.gz` file arrives as its own gzip member (no file name, mtime 0),
compressed by the worker that made it; a gzip file of several members is one stream to every
reader (Python, Arrow, DuckDB). SQLite gets its rows in a fixed order; Parquet row groups are
one per chunk.
"""
from __future__ import annotations

import csv
import gzip
import io
import sqlite3
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

ORDER_COLUMNS = (
    "order_id", "channel", "created_at", "updated_at", "status", "amount", "currency", "items",
    "customer_account_id", "email", "phone", "first_name", "last_name", "billing_street",
    "billing_city", "billing_postcode", "billing_region", "billing_country",
)
LEAD_COLUMNS = (
    "lead_id", "form_id", "profile_id", "handle", "submitted_at", "full_name", "email", "phone",
    "city", "country", "consent_marketing",
)
TRUTH_SCHEMA = pa.schema([
    ("source", pa.string()), ("stream", pa.string()), ("record_id", pa.string()),
    ("person_id", pa.string()), ("household_id", pa.string()), ("file", pa.string()),
    ("broken", pa.string()),
])


class FileSet:
    """Open per-day files by relative path; counts lines so truth can cite `file:line`."""

    def __init__(self, root: Path, compress_level: int):
        self.root = root
        self.compress_level = compress_level
        self._handles: dict[str, IO[bytes]] = {}
        self.lines: dict[str, int] = {}

    def append(self, rel: str, data: bytes, records: int, header: tuple[str, ...] | None) -> int:
        """Append `records` lines (gzip-compressed already when `rel` ends in .gz); return the
        number of lines before them. A new CSV file first gets its header as line 1."""
        handle = self._handles.get(rel)
        if handle is None:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._handles[rel] = open(path, "wb")
            self.lines[rel] = 0
            if header:
                head = csv_blob([], header)
                handle.write(gzip_member(head, self.compress_level) if rel.endswith(".gz") else head)
                self.lines[rel] = 1
        handle.write(data)
        before = self.lines[rel]
        self.lines[rel] = before + records
        return before

    def close(self) -> None:
        for rel in sorted(self._handles):
            self._handles[rel].close()
        self._handles.clear()


def gzip_member(data: bytes, level: int) -> bytes:
    """One gzip member with a fixed header (mtime 0, no name): same input, same bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def csv_blob(rows: list[list[str]], header: tuple[str, ...] | None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


class ShopDatabase:
    """The web shop's SQLite database; rows inserted in generation order for fixed bytes.

    Rows are never deleted, so `rowid` is the insertion number that truth cites for a row
    whose `order_id` is missing (no VACUUM: it could renumber rowids).
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        self.path = path
        self.con = sqlite3.connect(path)
        self.con.execute("PRAGMA journal_mode=MEMORY")
        self.con.execute("PRAGMA synchronous=OFF")  # a generated file: rerun rather than fsync
        columns = ", ".join(
            f"{c} NUMERIC" if c == "amount" else f"{c} TEXT" for c in ORDER_COLUMNS
        )
        # No PRIMARY KEY on purpose: a real shop export can carry a row without order_id, and
        # the generator must be able to write one for the quarantine path to be exercised.
        self.con.execute(f"CREATE TABLE orders ({columns})")
        self.rows = 0

    def insert(self, rows: list[tuple]) -> None:
        placeholders = ", ".join("?" for _ in ORDER_COLUMNS)
        self.con.executemany(f"INSERT INTO orders VALUES ({placeholders})", rows)
        self.con.commit()

    def close(self) -> None:
        self.con.execute("CREATE INDEX orders_updated_at ON orders (updated_at)")
        self.con.commit()
        self.con.close()


class TruthWriter:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(path, TRUTH_SCHEMA, compression="zstd")

    def write_table(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
