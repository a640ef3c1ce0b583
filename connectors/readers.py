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

import csv
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GZIP_MAGIC = b"\x1f\x8b"


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


def _read_chunks(path: Path, label: str, chunk_bytes: int) -> Iterator[bytes]:
    """The file's (decompressed) bytes in chunks of about `chunk_bytes`; any read error names it."""
    try:
        if path.stat().st_size == 0:
            return  # an empty file holds no records: loaded as zero rows, and remembered
        stream = open_input_stream(path, label)
    except UnreadableInputError:
        raise
    except OSError as exc:
        raise unreadable_error(label, exc) from None
    except (pa.ArrowException, EOFError) as exc:
        raise _reraise(path, label, exc) from None
    with stream:
        while True:
            try:
                chunk = stream.read(chunk_bytes)
            except OSError as exc:
                if isinstance(exc, (PermissionError, IsADirectoryError)):
                    raise unreadable_error(label, exc) from None
                raise _reraise(path, label, exc) from None
            except (pa.ArrowException, EOFError) as exc:
                raise _reraise(path, label, exc) from None
            if not chunk:
                return
            yield chunk


def unreadable_error(label: str, exc: OSError) -> UnreadableInputError:
    why = exc.strerror or type(exc).__name__
    return UnreadableInputError(f"{label}: cannot be read ({why}); nothing of this file was loaded, the other "
                                "files were: fix its permissions (or move it away) and rerun")


def _complete_lines(path: Path, label: str, chunk_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, bytes) per chunk, each chunk ending at the end of a line (with its
    LF; the file's last line gets one if it lacks it)."""
    carry = b""
    next_line = 1
    for chunk in _read_chunks(path, label, chunk_bytes):
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1:]
        complete = data[:cut + 1]
        yield next_line, complete
        next_line += complete.count(b"\n")
    if carry:
        yield next_line, carry + b"\n"


def physical_lines(path: Path, label: str, chunk_bytes: int) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, lines) per chunk: the file split on LF only. A lone CR, a 0x01
    or any other byte stays inside its line, so line numbers are those `wc -l` or an editor shows.
    (The CR of a CRLF ending is still on each line: see `_strip_cr`.)"""
    for first, data in _complete_lines(path, label, chunk_bytes):
        yield first, data[:-1].split(b"\n")


def _line_array(data: bytes) -> tuple[pa.Array, np.ndarray]:
    """The lines of `data` (which ends with LF) as one binary Arrow array over the same bytes (no
    Python object per line), the LF and a CR before it dropped; and each line's byte length."""
    buf = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(buf == 10)
    offsets = np.concatenate(([0], newlines + 1)).astype(np.int64)
    lines = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(newlines),
                                             [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    cr = np.zeros(len(newlines), dtype=bool)
    has = newlines > 0
    cr[has] = buf[newlines[has] - 1] == 13
    lengths = np.diff(offsets) - 1 - cr
    if cr.any():
        lines = pc.if_else(pa.array(cr), pc.binary_slice(lines, 0, -2), pc.binary_slice(lines, 0, -1))
    else:
        lines = pc.binary_slice(lines, 0, -1)
    return lines, lengths


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


def _decode_lines(lines: list[bytes]) -> tuple[list[str], list[bool]]:
    """Lines as text and whether each was valid UTF-8 (invalid ones decoded with replacements)."""
    joined = b"\n".join(lines)
    try:
        return joined.decode("utf-8").split("\n"), [False] * len(lines)
    except UnicodeDecodeError:
        texts, bad = [], []
        for raw in lines:
            try:
                texts.append(raw.decode("utf-8"))
                bad.append(False)
            except UnicodeDecodeError:
                # Kept recoverable in the quarantine payload: \xe9 for a byte that is not UTF-8.
                texts.append(raw.decode("utf-8", errors="backslashreplace"))
                bad.append(True)
        return texts, bad


def read_ndjson(path: Path, label: str, batch_bytes: int) -> Iterator[pa.Table]:
    """Lines of an NDJSON file in batches: `_file`, `_line`, `_payload`, `_bad_encoding`.

    Lines are split on LF only (see `physical_lines`). A line that is empty or only whitespace is
    not a record (and not counted), but it keeps its number, so `<file>:<line>` always points at
    the physical line. Every other line is one record: checked, then loaded or quarantined.
    Splitting is vectorized (numpy over the chunk's bytes, no Python object per line).
    """
    for first, data in _complete_lines(path, label, batch_bytes):
        lines, lengths = _line_array(data)
        count = len(lines)
        try:
            payload = lines.cast(pa.large_string())
            bad = None
        except pa.ArrowInvalid:  # some line is not UTF-8: find which, line by line (rare)
            texts, flags = _decode_lines(lines.to_pylist())
            payload, bad = pa.array(texts, pa.large_string()), pa.array(flags, pa.bool_())
        # Blank lines are short: only short lines are looked at one by one.
        short = np.flatnonzero(lengths <= 64)
        blank = np.zeros(count, dtype=bool)
        if len(short):
            values = payload.take(pa.array(short)).to_pylist()
            blank[short] = [not v.strip() for v in values]
        keep = np.flatnonzero(~blank)
        if not len(keep):
            continue
        take = pa.array(keep)
        yield pa.table({
            "_file": pa.array([label] * len(keep), pa.string()),
            "_line": pa.array(keep + first, pa.int64()),
            "_payload": payload.take(take).cast(pa.string()),
            "_bad_encoding": bad.take(take) if bad is not None else pa.array(np.zeros(len(keep), dtype=bool)),
        })


# A record may span lines only inside a quoted value; an open quote that does not close within
# this many lines is a broken line of its own (it must not swallow the rows after it).
MAX_RECORD_LINES = 50
_MAX_RECORD_CHARS = 1 << 20


def _parse_record(text: str) -> list[str] | None:
    """The fields of one CSV record, or None when it is not well formed (strict RFC 4180 quotes)."""
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _csv_records(items: list[tuple[int, str, bool]], width: int, final: bool):
    """Records of physical lines: yields (line, fields | None, text, bad_encoding) and returns the
    lines it could not decide yet (an open quote near the end of the chunk: the next chunk decides).

    A line with balanced quotes is a record by itself. A line that leaves a quote open is joined
    with the next lines until the quotes balance (at most MAX_RECORD_LINES); the joined text is one
    record if it parses strictly to exactly `width` fields, else the first line alone is a
    malformed row and reading goes on at the line after it.
    """
    lines = items
    i, n = 0, len(lines)
    out = []
    while i < n:
        number, text, bad = lines[i]
        if not text.strip():
            i += 1
            continue
        if text.count('"') % 2 == 0:
            out.append((number, _parse_record(text), text, bad))
            i += 1
            continue
        joined, parity, j = text, 1, i + 1
        found = None
        while j < n and j - i < MAX_RECORD_LINES and len(joined) < _MAX_RECORD_CHARS:
            joined += "\n" + lines[j][1]
            parity = (parity + lines[j][1].count('"')) % 2
            j += 1
            if parity == 0:
                fields = _parse_record(joined)
                if fields is not None and len(fields) == width:
                    found = (fields, joined, any(b for _, _, b in lines[i:j]), j)
                break
        if found is None and not final and j >= n and j - i < MAX_RECORD_LINES and parity == 1:
            return out, lines[i:]  # undecided: the quote may close in the next chunk
        if found is None:
            out.append((number, None, text, bad))
            i += 1
        else:
            fields, joined, any_bad, j = found
            out.append((number, fields, joined, any_bad))
            i = j
    return out, []


def read_csv(path: Path, label: str, columns: Sequence[str], required_columns: Sequence[str],
             batch_bytes: int) -> Iterator[pa.Table]:
    """Records of a CSV file with a header, every expected column as text (absent ones NULL).

    Lines are physical (LF-split, see `physical_lines`) and each record carries the number of the
    line it starts on. A quoted value may hold newlines; a quote left open is a malformed row of its
    own. A row with the wrong number of fields, broken quoting or bytes that are not UTF-8 comes back
    flagged `_malformed` (with `_bad_encoding` for the last) and its raw text; a row of empty
    fields (`,,,`) is a record like any other. Only empty or whitespace-only lines are skipped.
    Columns of the header the stream does not declare travel in `_extra` (a JSON object of text).

    A header without the required columns means the file is not what we expect: the whole file
    is refused. An empty file (no header at all) is zero records.
    """
    header: list[str] | None = None
    pending: list[tuple[int, str, bool]] = []
    chunks = physical_lines(path, label, batch_bytes)
    wanted = list(columns)
    positions: list[int | None] = []
    extra_positions: list[int] = []

    def batch(records) -> pa.Table | None:
        if not records:
            return None
        good = [(n, f, b) for n, f, t, b in records if f is not None and len(f) == len(header) and not b]
        bad = [(n, t, b) for n, f, t, b in records if not (f is not None and len(f) == len(header) and not b)]
        data: dict[str, list] = {name: [] for name in wanted}
        extras: list[str | None] = []
        for _, fields, _ in good:
            for name, pos in zip(wanted, positions):
                data[name].append(fields[pos] if pos is not None else None)
            extras.append(json.dumps({header[p]: fields[p] for p in extra_positions}, ensure_ascii=False)
                          if extra_positions else None)
        rows = len(good) + len(bad)
        table = {
            "_file": pa.array([label] * rows, pa.string()),
            "_line": pa.array([n for n, _, _ in good] + [n for n, _, _ in bad], pa.int64()),
            "_payload": pa.array([None] * len(good) + [t for _, t, _ in bad], pa.string()),
            "_malformed": pa.array([False] * len(good) + [True] * len(bad), pa.bool_()),
            "_bad_encoding": pa.array([False] * len(good) + [b for _, _, b in bad], pa.bool_()),
            "_extra": pa.array(extras + [None] * len(bad), pa.string()),
        }
        for name in wanted:
            table[name] = pa.array(data[name] + [None] * len(bad), pa.string())
        return pa.table(table)

    for first, lines in chunks:
        texts, bad = _decode_lines([_strip_cr(line) for line in lines])
        offset = 0
        if header is None:
            # The header is the first line (a UTF-8 byte-order mark dropped); it must be readable.
            head = texts[0].lstrip("\ufeff")
            parsed = _parse_record(head) if not bad[0] else None
            if parsed is None:
                raise UnreadableInputError(f"{label}: the header line is not valid CSV text; fix the file's "
                                           "header or move it out of the source folder")
            header = [h.strip() for h in parsed]
            missing = [c for c in required_columns if c not in header]
            if missing:
                raise UnreadableInputError(
                    f"{label}: not the expected CSV: header lacks column(s) {', '.join(missing)} "
                    f"(found {len(header)} columns); fix the file's header or move it out of the source folder")
            positions = [header.index(c) if c in header else None for c in wanted]
            extra_positions = [i for i, h in enumerate(header) if h not in wanted and h]
            offset = 1
        items = pending + [(first + i, texts[i], bad[i]) for i in range(offset, len(texts))]
        records, pending = _csv_records(items, len(header), final=False)
        table = batch(records)
        if table is not None:
            yield table
    if pending and header is not None:
        records, _ = _csv_records(pending, len(header), final=True)
        table = batch(records)
        if table is not None:
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
            extra_columns = [c for c in sorted(found) if c not in columns]
            if extra_columns:
                query = query.add_columns(*[table.c[c] for c in extra_columns])
            if conn.dialect.name == "sqlite":
                # Text as bytes from here on (the catalog was read above): a value that is not
                # UTF-8 is flagged and quarantined, never garbled, nor does it fail the whole read.
                conn.connection.driver_connection.text_factory = bytes
            for chunk in result_chunks(conn, query, batch_rows):
                count = len(chunk)
                bad = [False] * count
                data: dict[str, pa.Array] = {}
                for name in columns:
                    if name in present:
                        idx = present.index(name) + 1
                        values = []
                        for r, row in enumerate(chunk):
                            text, broken = _as_text(row[idx])
                            values.append(text)
                            bad[r] = bad[r] or broken
                        data[name] = pa.array(values, pa.string())
                    else:
                        data[name] = pa.nulls(count, pa.string())
                extras: list[str | None] = []
                for r, row in enumerate(chunk):
                    if not extra_columns:
                        extras.append(None)
                        continue
                    values = {}
                    for k, name in enumerate(extra_columns):
                        text, broken = _as_text(row[len(present) + 1 + k])
                        values[name] = text
                        bad[r] = bad[r] or broken
                    extras.append(json.dumps(values, ensure_ascii=False))
                payload = [json.dumps({c: data[c][r].as_py() for c in columns}, ensure_ascii=False) if bad[r] else None
                           for r in range(count)]
                yield pa.table({"_file": pa.array([label] * count, pa.string()),
                                "_line": pa.array([row[0] for row in chunk], pa.int64()),
                                "_payload": pa.array(payload, pa.string()),
                                "_malformed": pa.array(bad, pa.bool_()),
                                "_bad_encoding": pa.array(bad, pa.bool_()),
                                "_extra": pa.array(extras, pa.string()),
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


def result_chunks(conn, query, batch_rows: int):
    result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
    yield from result.partitions(batch_rows)


def _as_text(value: Any) -> tuple[str | None, bool]:
    """Database values as the text a CSV drop would carry (so both take the same checks), and
    whether the value was bytes that are not UTF-8 (then shown with \\x escapes, and the row refused)."""
    if value is None:
        return None, False
    if isinstance(value, str):
        return value, False
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8"), False
        except UnicodeDecodeError:
            return bytes(value).decode("utf-8", errors="backslashreplace"), True
    if isinstance(value, bool):
        return ("true" if value else "false"), False
    if hasattr(value, "isoformat"):
        return value.isoformat(), False
    if isinstance(value, (dict, list)):
        return json.dumps(value), False
    return str(value), False


__all__ = ["UnreadableInputError", "read_ndjson", "read_csv", "read_sql", "is_gzip", "open_input_stream"]
