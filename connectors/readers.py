"""Shared readers: NDJSON and CSV files (plain or gzip) and SQL tables, as Arrow batches.

Every reader yields `pyarrow.Table` batches with lineage columns `_file` (name of the input) and
`_line` (1-based line in the file; NULL for SQL rows), plus:

- NDJSON: `_payload` (the line's text) and `_bad_encoding` (the line was not UTF-8). Parsing and
  checks happen in DuckDB, on the whole batch at once (see `connectors.validation`).
- CSV: one text column per expected field (absent columns are NULL), `_payload` (NULL for a good
  row, the raw text of a malformed row) and `_malformed` (wrong number of fields).
- SQL: one text column per expected field, values as text (the same checks as a CSV then apply).

Batches hold at most about `batch_bytes` of input, so memory stays flat however big a file is.
A file that cannot be read at all raises `UnreadableInputError` naming it and what to do.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

GZIP_MAGIC = b"\x1f\x8b"
# A delimiter byte that never occurs in text, so the CSV reader returns whole lines.
_NO_DELIMITER = "\x01"


class UnreadableInputError(Exception):
    """An input that cannot be read at all (corrupt gzip, wrong format, database unreachable).

    `transient`: the cause may pass by itself (a database briefly away), so a retry is worth it.
    """

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_input_stream(path: Path, label: str | None = None) -> pa.NativeFile:
    """The file's bytes, decompressed when it is gzip (by content, so a misnamed file still reads)."""
    compressed = is_gzip(path)
    if path.name.endswith(".gz") and not compressed:
        raise UnreadableInputError(f"{label or path.name}: named .gz but is not gzip data; rename or recompress it")
    return pa.input_stream(str(path), compression="gzip" if compressed else None)


def _reraise(path: Path, label: str, exc: Exception) -> UnreadableInputError:
    kind = "corrupt or truncated gzip data" if is_gzip(path) else "unreadable data"
    return UnreadableInputError(
        f"{label}: {kind} ({type(exc).__name__}); nothing of this file was loaded: "
        "replace it with a good copy and rerun")


def _decode(binary: pa.Array) -> tuple[pa.Array, pa.Array]:
    """UTF-8 text of a binary column and a flag for values that were not UTF-8 (replaced)."""
    try:
        return binary.cast(pa.string()), pa.nulls(len(binary), pa.bool_()).fill_null(False)
    except pa.ArrowInvalid:
        # Rare: decode value by value so one bad line does not sink the batch.
        values, bad = [], []
        for raw in binary.to_pylist():
            if raw is None:
                values.append(None)
                bad.append(False)
                continue
            try:
                values.append(raw.decode("utf-8"))
                bad.append(False)
            except UnicodeDecodeError:
                values.append(raw.decode("utf-8", errors="replace"))
                bad.append(True)
        return pa.array(values, pa.string()), pa.array(bad, pa.bool_())


def _line_numbers(first: int, count: int) -> pa.Array:
    return pa.array(range(first, first + count), pa.int64())


def _batches(reader, path: Path, label: str) -> Iterator[pa.RecordBatch]:
    """Batches of an Arrow CSV reader; a read error (corrupt gzip, bad bytes) names the file."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, OSError, EOFError) as exc:
            raise _reraise(path, label, exc) from None
        yield batch


def read_ndjson(path: Path, label: str, batch_bytes: int) -> Iterator[pa.Table]:
    """Lines of an NDJSON file in batches: `_file`, `_line`, `_payload`, `_bad_encoding`.

    Empty lines are skipped (they are not records) but still counted for line numbers.
    """
    options = pacsv.ReadOptions(column_names=["_payload"], block_size=batch_bytes, use_threads=True)
    parse = pacsv.ParseOptions(delimiter=_NO_DELIMITER, quote_char=False, escape_char=False,
                               newlines_in_values=False, ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(column_types={"_payload": pa.binary()}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    try:
        stream = open_input_stream(path, label)
        reader = pacsv.open_csv(stream, read_options=options, parse_options=parse, convert_options=convert)
    except UnreadableInputError:
        raise
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise _reraise(path, label, exc) from None
    next_line = 1
    for batch in _batches(reader, path, label):
        count = batch.num_rows
        if not count:
            continue
        payload, bad = _decode(batch.column(0))
        table = pa.table({
            "_file": pa.array([label] * count, pa.string()),
            "_line": _line_numbers(next_line, count),
            "_payload": payload,
            "_bad_encoding": bad,
        })
        next_line += count
        yield table


def read_csv(path: Path, label: str, columns: Sequence[str], required_columns: Sequence[str],
             batch_bytes: int) -> Iterator[pa.Table]:
    """Rows of a CSV file with a header, every expected column as text (absent ones NULL).

    A header without the required columns means the file is not what we expect: the whole file
    is refused. Rows with the wrong number of fields come back flagged `_malformed` with their text.
    """
    malformed: list[tuple[int | None, str]] = []

    def on_invalid_row(row: Any) -> str:
        malformed.append((row.number, row.text))
        return "skip"

    options = pacsv.ReadOptions(block_size=batch_bytes, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False, invalid_row_handler=on_invalid_row)
    try:
        stream = open_input_stream(path, label)
        # Header first: every column read as bytes (decoded below), none inferred.
        header_reader = pacsv.open_csv(open_input_stream(path, label), read_options=pacsv.ReadOptions(block_size=1 << 16),
                                       parse_options=parse)
        header = header_reader.schema.names
        header_reader.close()
    except UnreadableInputError:
        raise
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise _reraise(path, label, exc) from None
    missing = [c for c in required_columns if c not in header]
    if missing:
        raise UnreadableInputError(
            f"{label}: not the expected CSV: header lacks column(s) {', '.join(missing)} "
            f"(found {len(header)} columns); fix the file's header or move it out of the source folder")
    malformed.clear()
    convert = pacsv.ConvertOptions(column_types={c: pa.binary() for c in header}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    reader = pacsv.open_csv(stream, read_options=options, parse_options=parse, convert_options=convert)
    next_line = 2  # line 1 is the header
    for batch in _batches(reader, path, label):
        bad_rows = sorted((n, text) for n, text in malformed if n is not None)
        malformed.clear()
        good = batch.num_rows
        # Line numbers of the good rows: consecutive lines, skipping those reported malformed.
        bad_numbers = {n for n, _ in bad_rows}
        lines = []
        line = next_line
        while len(lines) < good:
            if line not in bad_numbers:
                lines.append(line)
            line += 1
        next_line = max([line] + [n + 1 for n in bad_numbers])
        data: dict[str, pa.Array] = {}
        for name in columns:
            if name in header:
                data[name] = _decode(batch.column(header.index(name)))[0]
            else:
                data[name] = pa.nulls(good, pa.string())
        table = pa.table({"_file": pa.array([label] * good, pa.string()),
                          "_line": pa.array(lines, pa.int64()),
                          "_payload": pa.nulls(good, pa.string()),
                          "_malformed": pa.array([False] * good, pa.bool_()),
                          **data})
        # A row that is entirely empty is a blank line, not a record.
        if good and len(header) > 1:
            blank = None
            for name in header:
                empty = pc.equal(pc.binary_length(batch.column(header.index(name))), 0)
                blank = empty if blank is None else pc.and_(blank, empty)
            table = table.filter(pc.invert(blank))
        if bad_rows:
            extra = pa.table({"_file": pa.array([label] * len(bad_rows), pa.string()),
                              "_line": pa.array([n for n, _ in bad_rows], pa.int64()),
                              "_payload": pa.array([t for _, t in bad_rows], pa.string()),
                              "_malformed": pa.array([True] * len(bad_rows), pa.bool_()),
                              **{name: pa.nulls(len(bad_rows), pa.string()) for name in columns}})
            table = pa.concat_tables([table, extra])
        if table.num_rows:
            yield table


def read_sql(url: str, query_table: str, columns: Sequence[str], cursor_column: str, cursor_value: str | None,
             label: str, batch_rows: int) -> Iterator[pa.Table]:
    """Rows of a SQL table changed since the cursor (`cursor_column >= cursor_value`), as text.

    `>=` rather than `>`: a row written in the same instant as the last one read is not missed;
    reading the boundary rows again is harmless (they are counted as duplicates).
    The query is built with SQLAlchemy Core (identifiers quoted by the dialect, the cursor bound
    as a parameter). Rows are streamed in `batch_rows` chunks.
    """
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # a malformed URL or missing driver
        raise UnreadableInputError(f"{label}: cannot use the database URL ({type(exc).__name__}); "
                                   "check the environment variable named in config/sources.yaml") from None
    try:
        with engine.connect() as conn:
            schema, _, name = query_table.rpartition(".")
            inspector = sa.inspect(conn)
            if not inspector.has_table(name, schema=schema or None):
                raise UnreadableInputError(f"{label}: table {query_table} not found in the database")
            reflected = {c["name"]: c["type"] for c in inspector.get_columns(name, schema=schema or None)}
            found = set(reflected)
            present = [c for c in columns if c in found]
            if cursor_column not in found:
                raise UnreadableInputError(f"{label}: table {query_table} has no cursor column {cursor_column}")
            # Untyped columns: values come back as the driver gives them, never coerced (a text
            # 'abc' in a NUMERIC column must reach the checks, not crash a Decimal conversion).
            table = sa.table(name, *[sa.column(c) for c in sorted(found)], schema=schema or None)
            # SQLite's rowid is the row's stable number: it names rows that lack their key.
            line = sa.literal_column("rowid") if conn.dialect.name == "sqlite" else sa.null()
            query = sa.select(line, *[table.c[c] for c in present])
            if cursor_value is not None:
                # The cursor is kept as text; the database compares it in the column's own type
                # (a timestamptz column is not comparable with a varchar parameter).
                bound = sa.cast(sa.literal(cursor_value, sa.String), reflected[cursor_column])
                query = query.where(table.c[cursor_column] >= bound)
            query = query.order_by(table.c[cursor_column])
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
            for chunk in result.partitions(batch_rows):
                count = len(chunk)
                data: dict[str, pa.Array] = {}
                for name in columns:
                    if name in present:
                        idx = present.index(name) + 1
                        data[name] = pa.array([_as_text(row[idx]) for row in chunk], pa.string())
                    else:
                        data[name] = pa.nulls(count, pa.string())
                yield pa.table({"_file": pa.array([label] * count, pa.string()),
                                "_line": pa.array([row[0] for row in chunk], pa.int64()),
                                "_payload": pa.nulls(count, pa.string()),
                                "_malformed": pa.array([False] * count, pa.bool_()),
                                **data})
    except UnreadableInputError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        transient = isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError))
        raise UnreadableInputError(
            f"{label}: database error ({type(exc).__name__}); check the database is reachable and the "
            "URL in the environment variable named in config/sources.yaml", transient=transient) from None
    finally:
        engine.dispose()


def _as_text(value: Any) -> str | None:
    """Database values as the text a CSV drop would carry (so both take the same checks)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


__all__ = ["UnreadableInputError", "read_ndjson", "read_csv", "read_sql", "is_gzip", "open_input_stream"]
