"""Erasure: remove the subject's rows and lines from every store of the home folder.

- raw Parquet: every file rewritten without their rows (their record keys, or any value equal to
  one of their identifiers: quarantined lines of theirs are found that way), temp file + rename;
- DuckDB tables: rows with their (source, record_id), customer id or any identifier deleted
  (quarantine payloads included); the file then rewritten from scratch (`rewrite_database`) so
  deleted rows do not linger in free blocks;
- other files (exports, reports): rows/lines dropped, other text redacted.

Matching is exact on value boundaries (`maria@x.com` does not match `amaria@x.com`).
"""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import duckdb

from profiles.crm_sync._sql import columns_of, qualified, quote_ident
from profiles.privacy.subject import python_needle_regex
from warehouse.sql import quote_literal

# Raw stream folder -> its record key column (the record_id of record_map).
STREAM_KEYS = {
    "web_events": ("web", "messageId"),
    "app_events": ("app", "messageId"),
    "social_profiles": ("social", "profile_id"),
    "social_interactions": ("social", "interaction_id"),
    "social_leads": ("social", "lead_id"),
    "orders": ("transactions", "order_id"),
}

# Tables the request handles itself (they hold hashes by design, or a queue to keep).
PRIVACY_TABLES = {("ops", "suppressions"), ("ops", "privacy_audit"), ("ops", "sync_state")}

_TEXT_LINE_SUFFIXES = {".csv", ".tsv", ".ndjson", ".jsonl", ".txt", ".log"}
_TEXT_REDACT_SUFFIXES = {".json", ".html", ".htm", ".md", ".xml", ".yaml", ".yml", ".svg"}

_quote_literal = quote_literal


def _stream_of(path: Path, raw_root: Path) -> str | None:
    try:
        return path.relative_to(raw_root).parts[0]
    except (ValueError, IndexError):
        return None


_quote_literal = quote_literal


def _parquet_match_rows(con, path: Path, key: str | None, source: str | None, pattern: str | None) -> list[int]:
    """Row numbers in one Parquet file that belong to the subject."""
    columns = {r[0] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({_quote_literal(str(path))}, hive_partitioning = false)").fetchall()}
    conditions = []
    params: list = []
    if key and key in columns and source:
        conditions.append(f"CAST(t.{quote_ident(key)} AS VARCHAR) IN "
                          "(SELECT record_id FROM forget_records WHERE source = ?)")
        params.append(source)
    for column in ("customer_id", "old_customer_id", "new_customer_id"):
        if column in columns:
            conditions.append(f"CAST(t.{quote_ident(column)} AS VARCHAR) IN (SELECT customer_id FROM forget_customers)")
    if pattern:
        conditions.append("regexp_matches(lower(CAST(to_json(t) AS VARCHAR)), ?)")
        params.append(pattern)
    if not conditions:
        return []
    rows = con.execute(
        f"SELECT file_row_number FROM read_parquet({_quote_literal(str(path))}, hive_partitioning = false, "
        f"file_row_number = true) t WHERE {' OR '.join(conditions)}", params).fetchall()
    return [r[0] for r in rows]


def _rewrite_parquet_without(path: Path, row_numbers: list[int]) -> None:
    """Same schema and metadata, minus the given rows; temp file then atomic rename."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    table = source.read()
    keep = pc.invert(pc.is_in(pa.array(range(table.num_rows), pa.int64()), pa.array(row_numbers, pa.int64())))
    tmp = path.with_name(f".{path.name}.forget.tmp")
    compression = source.metadata.row_group(0).column(0).compression.lower() if source.metadata.num_row_groups and source.metadata.num_columns else "zstd"
    pq.write_table(table.filter(keep), tmp, compression=None if compression == "uncompressed" else compression)
    os.replace(tmp, path)


def clean_parquet_files(con, files: list[Path], raw_root: Path | None, pattern: str | None) -> tuple[int, int]:
    """(rows removed, files rewritten) over Parquet files, rows chosen by key, customer id or value."""
    removed = rewritten = 0
    for path in files:
        stream = _stream_of(path, raw_root) if raw_root else None
        source, key = STREAM_KEYS.get(stream, (None, None))
        rows = _parquet_match_rows(con, path, key, source, pattern)
        if rows:
            _rewrite_parquet_without(path, rows)
            removed += len(rows)
            rewritten += 1
    return removed, rewritten


# ---------------------------------------------------------------- DuckDB tables

def _base_tables(con) -> list[tuple[str, str]]:
    return [tuple(r) for r in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary ORDER BY schema_name, table_name").fetchall()]


def delete_from_tables(con, pattern: str | None, skip: set[tuple[str, str]] = frozenset()) -> dict[str, int]:
    """Delete the subject's rows from every table; returns rows removed per `schema.table`."""
    removed: dict[str, int] = {}
    for schema, table in _base_tables(con):
        if (schema, table) in PRIVACY_TABLES or (schema, table) in skip:
            continue
        columns = columns_of(con, schema, table)
        conditions, params = [], []
        for prefix in ("", "left_", "right_"):
            src, rid = f"{prefix}source", f"{prefix}record_id"
            if src in columns and rid in columns:
                conditions.append(f"EXISTS (SELECT 1 FROM forget_records f WHERE f.source = t.{quote_ident(src)} "
                                  f"AND f.record_id = CAST(t.{quote_ident(rid)} AS VARCHAR))")
        for column in columns:
            if column == "customer_id" or column.endswith("_customer_id"):
                conditions.append(f"CAST(t.{quote_ident(column)} AS VARCHAR) IN "
                                  "(SELECT customer_id FROM forget_customers)")
        if pattern:
            conditions.append("regexp_matches(lower(CAST(to_json(t) AS VARCHAR)), ?)")
            params.append(pattern)
        if not conditions:
            continue
        # DELETE answers with the number of rows it removed: one scan per table.
        count = con.execute(f"DELETE FROM {qualified(schema, table)} AS t WHERE {' OR '.join(conditions)}",
                            params).fetchall()[0][0]
        if count:
            removed[f"{schema}.{table}"] = count
    return removed


# ---------------------------------------------------------------- other files of the home folder

def _open_text(path: Path) -> tuple[str, bool] | None:
    data = path.read_bytes()
    gz = data[:2] == b"\x1f\x8b"
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    try:
        return data.decode("utf-8"), gz
    except UnicodeDecodeError:
        return None


def _drop_matching_lines(text: str, regex: re.Pattern) -> tuple[str, int]:
    """The text without every line that holds a match; one regex pass over the whole text."""
    spans: list[tuple[int, int]] = []
    for match in regex.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end + 1
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    pieces, previous = [], 0
    for start, end in spans:
        pieces.append(text[previous:start])
        previous = end
    pieces.append(text[previous:])
    return "".join(pieces), len(spans)


def _write_text(path: Path, text: str, gz: bool) -> None:
    tmp = path.with_name(f".{path.name}.forget.tmp")
    data = text.encode("utf-8")
    tmp.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    os.replace(tmp, path)


def clean_files(con, root: Path, pattern: str | None, needles: list[str], exclude: set[Path]) -> tuple[int, int]:
    """(files changed, lines/rows removed) under `root`: Parquet rows dropped, text lines dropped,
    other text redacted; an unreadable binary file that holds an identifier is deleted."""
    if not root.exists() or not pattern:
        return 0, 0
    regex = python_needle_regex(needles)
    files_changed = lines_removed = 0
    candidates = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    for path in sorted(p for p in candidates if p not in exclude):
        suffixes = [s.lower() for s in path.suffixes]
        base_suffix = suffixes[-2] if suffixes and suffixes[-1] == ".gz" and len(suffixes) > 1 else (
            suffixes[-1] if suffixes else "")
        if base_suffix == ".parquet":
            removed, rewritten = clean_parquet_files(con, [path], None, pattern)
            files_changed += rewritten
            lines_removed += removed
            continue
        if base_suffix == ".duckdb" or path.name.endswith(".wal"):
            continue  # databases are handled by the caller
        opened = _open_text(path)
        if opened is None:
            data = path.read_bytes().lower()
            if any(n.encode() in data for n in needles):
                path.unlink()
                files_changed += 1
            continue
        text, gz = opened
        if not regex.search(text):
            continue
        if base_suffix in _TEXT_REDACT_SUFFIXES:
            new_text = regex.sub("[forgotten]", text)
        else:
            new_text, removed_here = _drop_matching_lines(text, regex)
            lines_removed += removed_here
        _write_text(path, new_text, gz)
        files_changed += 1
    return files_changed, lines_removed


# ---------------------------------------------------------------- Prefect's state (SQLite)

def clean_sqlite(path: Path, needles: list[str]) -> int:
    """Redact every text value holding one of `needles` in a SQLite database (Prefect's state under
    HOME/.prefect: run parameters, log lines, state messages written before this version kept
    values out of them), then VACUUM so no free page keeps the old text. Returns values redacted;
    a database another process holds is left as it is (-1)."""
    import sqlite3

    regex = python_needle_regex(needles)
    if regex is None:
        return 0
    try:
        con = sqlite3.connect(str(path), timeout=2)
    except sqlite3.Error:
        return -1
    redacted = 0
    try:
        con.create_function("cdp_redact", 1, lambda v: regex.sub("[forgotten]", v) if isinstance(v, str) else v,
                            deterministic=True)
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%'").fetchall()]
        for table in tables:
            columns = [r[1] for r in con.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()]
            for column in columns:
                col = quote_ident(column)
                redacted += con.execute(
                    f"UPDATE {quote_ident(table)} SET {col} = cdp_redact({col}) "
                    f"WHERE typeof({col}) = 'text' AND cdp_redact({col}) <> {col}").rowcount
        con.commit()
        if redacted:
            con.execute("VACUUM")
    except sqlite3.Error:
        return -1
    finally:
        con.close()
    return redacted


# ---------------------------------------------------------------- database rewrite

def rewrite_database(database: Path) -> None:
    """Copy every object into a fresh file and swap it in: deleted rows leave no free blocks behind."""
    database = Path(database)
    fresh = database.with_name(f".{database.name}.forget.tmp")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    try:
        con.execute(f"ATTACH {_quote_literal(str(database))} AS forget_old")
        con.execute("CHECKPOINT forget_old")
        con.execute(f"ATTACH {_quote_literal(str(fresh))} AS forget_new")
        con.execute("COPY FROM DATABASE forget_old TO forget_new")
        con.execute("DETACH forget_new")
        con.execute("DETACH forget_old")
    finally:
        con.close()
    os.replace(fresh, database)
    Path(f"{database}.wal").unlink(missing_ok=True)
    Path(f"{fresh}.wal").unlink(missing_ok=True)

