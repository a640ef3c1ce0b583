"""Deterministic, append-only file writers: same calls, same bytes.

Gzip members carry no file name and mtime 0; SQLite gets its rows in a fixed order; Parquet
row groups are one per chunk. Compression runs on a background thread (zlib releases the GIL)
so it overlaps with record generation on a second core.
"""
from __future__ import annotations

import csv
import gzip
import io
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
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
        self._handles: dict[str, tuple[IO[bytes], IO[bytes] | None]] = {}
        self.lines: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdp-generate-writer")
        self._pending: Future | None = None

    def line_count(self, rel: str, header: str | None = None) -> int:
        """Lines already in `rel` (a CSV header counts as line 1)."""
        if rel not in self.lines:
            self.lines[rel] = 1 if header else 0
        return self.lines[rel]

    def _open(self, rel: str) -> IO[bytes]:
        entry = self._handles.get(rel)
        if entry is None:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = open(path, "wb")
            if rel.endswith(".gz"):
                zipped = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                       compresslevel=self.compress_level)
                entry = (zipped, raw)
            else:
                entry = (raw, None)
            self._handles[rel] = entry
        return entry[0]

    def write_chunk(self, blobs: dict[str, bytes]) -> None:
        """Queue one chunk's bytes; waits for the previous chunk so memory stays bounded."""
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._write_all, blobs)

    def _write_all(self, blobs: dict[str, bytes]) -> None:
        for rel in sorted(blobs):
            self._open(rel).write(blobs[rel])

    def close(self) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pool.shutdown(wait=True)
        for rel in sorted(self._handles):
            outer, raw = self._handles[rel]
            outer.close()
            if raw is not None:
                raw.close()
        self._handles.clear()


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

    def write(self, columns: dict[str, list]) -> None:
        if columns["record_id"]:
            self._writer.write_table(pa.table(columns, schema=TRUTH_SCHEMA))

    def close(self) -> None:
        self._writer.close()
