"""Run connectors: new input -> checked batches -> one committed load per stream.

`ingest_all(home, source_dir=None, sources=None)` is the plain function behind `cdp ingest` and the
Prefect ingest flow (which calls `ingest_source` once per connector, as a task with retries).
"""
from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Sequence

import duckdb
import pyarrow as pa

from config.sources import SourcesConfig, load_sources_config
from connectors.app import AppConnector
from connectors.base import Connector, PendingInput, SqlInput, Stream
from connectors.readers import UnreadableInputError
from connectors.social import SocialConnector
from connectors.transactions import TransactionsConnector
from connectors.validation import ndjson_check_sql, tabular_check_sql
from connectors.web import WebConnector
from warehouse.connection import connect_home
from warehouse.layout import HomeLayout
from warehouse.loads import LoadResult, LoadWriter, ensure_load_tables, sweep_orphans
from warehouse.partitions import MapParts
from warehouse.raw_store import refresh_view, stream_files, view_select
from warehouse.staging import ensure_staging_table
from warehouse.sql import describe_error, quote_ident

log = logging.getLogger(__name__)

CONNECTORS: dict[str, type[Connector]] = {
    c.name: c for c in (WebConnector, AppConnector, SocialConnector, TransactionsConnector)
}
SOURCE_NAMES: tuple[str, ...] = tuple(CONNECTORS)


class TransientIngestError(RuntimeError):
    """Some input failed for a reason that may pass (a database briefly away): worth a retry.

    Whatever else the run read is committed; a retry reads only what is still new.
    """

    def __init__(self, results: list[LoadResult]):
        self.results = results
        failed = [e for r in results for e in r.errors]
        super().__init__("transient source error(s): " + "; ".join(failed))


def build_connector(name: str, config: SourcesConfig, source_dir: Path | None = None,
                    home: str | Path | None = None) -> Connector:
    """The connector `name`, reading `source_dir/<name>` when given, else its configured folder;
    with `home`, also `HOME/collected/<name>` (what `cdp collect` landed)."""
    if name not in CONNECTORS:
        raise ValueError(f"unknown source {name!r}; choose from {', '.join(SOURCE_NAMES)}")
    settings = getattr(config, name)
    folder = Path(source_dir) / name if source_dir is not None else Path(settings.path)
    connector = CONNECTORS[name](settings, config.loading, folder)
    if home is not None:
        connector.extra_folders = (HomeLayout(Path(home)).collected / name,)
    return connector


def _prepare(con: duckdb.DuckDBPyConnection, config: SourcesConfig) -> None:
    # Timestamps are compared and stored in UTC whatever the machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if config.loading.memory_limit:
        con.execute("SET memory_limit = ?", [config.loading.memory_limit])


def _check_sql(stream: Stream, fmt: str, future_limit: datetime, contract: str = "evolve") -> str:
    if fmt == "ndjson":
        return ndjson_check_sql(stream.spec, "_raw_batch", future_limit, contract)
    return tabular_check_sql(stream.spec, "_raw_batch", future_limit, contract)


def _check_batch(con: duckdb.DuckDBPyConnection, batch: pa.Table, check_sql: str) -> None:
    """Run the stream's checks over an Arrow batch into the temp table `_checked`."""
    # Several record batches, so DuckDB scans the batch on all its threads (one chunk = one thread).
    con.register("_raw_batch", pa.Table.from_batches(batch.to_batches(max_chunksize=32768)))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {check_sql}")
    finally:
        con.unregister("_raw_batch")


def _max_cursor(con: duckdb.DuckDBPyConnection, column: str, current: str | None) -> str | None:
    """The new high-water mark: the latest cursor value of a VALID row of `_checked` (text as written).

    Quarantined rows do not move it: a bad row dated 2099 must not hide every row written until then.
    """
    col = f'"{column}"'
    rows = con.execute(
        f"SELECT {col} FROM _checked WHERE _reason IS NULL AND {col} IS NOT NULL "
        f"ORDER BY TRY_CAST({col} AS TIMESTAMPTZ) DESC NULLS LAST, {col} DESC LIMIT 1").fetchall()
    if rows and (current is None or _later(con, rows[0][0], current)):
        return rows[0][0]
    return current


def _later(con: duckdb.DuckDBPyConnection, a: str, b: str) -> bool:
    return bool(con.execute(
        "SELECT coalesce(TRY_CAST(? AS TIMESTAMPTZ) > TRY_CAST(? AS TIMESTAMPTZ), ? > ?)", [a, b, a, b]).fetchall()[0][0])


def _drop_unparseable_files(con: duckdb.DuckDBPyConnection, writer: LoadWriter) -> set[str]:
    """Files of `_checked` in which not one line parsed as JSON: the wrong format, refused whole."""
    rows = con.execute(
        "SELECT _file FROM _checked GROUP BY _file HAVING count(*) = count(*) FILTER (_reason = 'invalid_json')"
    ).fetchall()
    bad = {r[0] for r in rows}
    for label in sorted(bad):
        con.execute("DELETE FROM _checked WHERE _file = ?", [label])
        writer.record_error(f"{label}: no line is a JSON object (not an NDJSON file?); nothing of it was "
                            "loaded: fix or move the file and rerun")
    return bad


def _text_size(pending: PendingInput) -> int:
    """About how many bytes of text a file holds (gzip text shrinks ~8x)."""
    size = pending.fingerprint.size_bytes
    return size * 8 if pending.label.endswith(".gz") else size


class _Group:
    """Small files read whole and checked together: one query per ~batch_bytes, not per file."""

    def __init__(self) -> None:
        self.members: list[tuple[PendingInput, list[pa.Table]]] = []
        self.nbytes = 0

    def add(self, pending: PendingInput, tables: list[pa.Table]) -> None:
        self.members.append((pending, tables))
        self.nbytes += sum(t.nbytes for t in tables)


def _flush_group(con: duckdb.DuckDBPyConnection, writer: LoadWriter, group: _Group, fmt: str,
                 check_sql: str) -> None:
    tables = [t for _, ts in group.members for t in ts]
    if not group.members:
        return
    writer.begin_input()
    if tables:
        _check_batch(con, pa.concat_tables(tables, promote_options="permissive"), check_sql)
        bad = _drop_unparseable_files(con, writer) if fmt == "ndjson" else set()
        writer.add_checked("_checked")
        con.execute("DROP TABLE _checked")
    else:
        bad = set()
    done = [p for p, _ in group.members if p.label not in bad and p.fingerprint]
    writer.end_input([p.fingerprint for p in done], labels=[p.label for p in done])


def _stream_input(con: duckdb.DuckDBPyConnection, writer: LoadWriter, pending: PendingInput, check_sql: str) -> None:
    """A big file or a SQL table: batch by batch; a failure part-way forgets all of this input."""
    writer.begin_input()
    cursor_value = None
    try:
        for batch in pending.batches():
            _check_batch(con, batch, check_sql)
            writer.add_checked("_checked")
            if pending.cursor_column:
                cursor_value = _max_cursor(con, pending.cursor_column, cursor_value)
            con.execute("DROP TABLE _checked")
    except UnreadableInputError as exc:
        writer.abort_input(str(exc))
        if exc.transient:
            raise _Transient() from None
        return
    if pending.format == "ndjson" and writer.input_is_all(reason="invalid_json"):
        writer.abort_input(f"{pending.label}: no line is a JSON object (not an NDJSON file?); nothing of it "
                           "was loaded: fix or move the file and rerun")
        return
    cursor = (pending.cursor_column, cursor_value) if cursor_value is not None else None
    writer.end_input([pending.fingerprint] if pending.fingerprint else [], cursor,
                     labels=[pending.label] if pending.fingerprint else None)


class _Transient(Exception):
    """Internal: an input failed transiently (already recorded on the writer)."""


def check_queries(connector: Connector, stream: Stream, future_limit: datetime) -> dict[str, str]:
    """The stream's check query per input format (records dated after `future_limit` are refused)."""
    contract = connector.loading.contract(stream.name)
    return {fmt: _check_sql(stream, fmt, future_limit, contract) for fmt in ("ndjson", "csv", "sql")}


def new_writer(con: duckdb.DuckDBPyConnection, layout: HomeLayout, connector: Connector, stream: Stream) -> LoadWriter:
    """A stream's load writer; a missing source folder is the load's first error."""
    writer = LoadWriter(con, layout, connector.name, stream.raw_table(), stream.staging)
    folders = (connector.folder, *connector.extra_folders)
    if not any(f.is_dir() for f in folders) and not any(isinstance(i, SqlInput) for i in stream.inputs):
        writer.record_error(f"{connector.name}: source folder {connector.folder} does not exist: set "
                            f"{connector.name}.path in config/sources.yaml, or use --from SRC with SRC/{connector.name}/")
    return writer


def failed_load(con: duckdb.DuckDBPyConnection, writer: LoadWriter, exc: Exception) -> LoadResult:
    """The load rolled back and recorded as failed. The exception's text may quote a record's value
    (DuckDB conversion errors do): the log and ops.loads.error get its type and where it happened only."""
    message = describe_error(exc)
    log.error("load of %s/%s failed: %s", writer.source, writer.table.name, message)
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass
    return writer.fail(message)


def load_stream(con: duckdb.DuckDBPyConnection, layout: HomeLayout, connector: Connector, stream: Stream,
                future_tolerance: timedelta, map_parts: MapParts | None = None,
                parts: int | None = None) -> LoadResult:
    """One load of one stream: every new input, committed together (see warehouse.loads).

    With `map_parts`, files are read and checked in about `parts` parts by that mapper (see
    connectors.partitioned); the load commits here all the same.

    Files up to half of `batch_bytes` (of text) are read whole and checked in groups of about
    `batch_bytes`: one query per group, as per-file queries cost more than the checking itself for
    many small daily files, and a bigger query runs on more threads. A bigger file or a SQL table is
    checked batch by batch, so memory stays flat whatever the input size.
    """
    if map_parts is not None:
        from connectors.partitioned import load_source_in_parts

        return load_source_in_parts(con, layout, connector, [stream], future_tolerance, map_parts, parts)[0]
    writer = new_writer(con, layout, connector, stream)
    checks = check_queries(connector, stream, writer.started_at + future_tolerance)
    batch_bytes = connector.loading.batch_bytes
    transient = False
    # The next small file is read (pyarrow, off the GIL) on a helper thread while DuckDB checks
    # and writes the previous group: reading was ~15% of a 1M-event ingest, all of it serial.
    # At most one file is read ahead, so memory stays bounded by about one more file.
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cdp-read")
    ahead: deque[tuple[PendingInput, Future]] = deque()
    groups: dict[str, _Group] = {}

    def take_next() -> None:
        nonlocal transient
        pending, future = ahead.popleft()
        try:
            tables = future.result()
        except UnreadableInputError as exc:
            writer.record_error(str(exc))
            transient = transient or exc.transient
            return
        group = groups.setdefault(pending.format, _Group())
        group.add(pending, tables)
        if group.nbytes >= batch_bytes:
            _flush_group(con, writer, groups.pop(pending.format), pending.format, checks[pending.format])

    try:
        for pending in connector.pending_inputs(con, stream):
            small = pending.fingerprint is not None and _text_size(pending) * 2 <= batch_bytes
            if not small:
                while ahead:  # inputs are taken in order
                    take_next()
                try:
                    _stream_input(con, writer, pending, checks[pending.format])
                except _Transient:
                    transient = True
                continue
            ahead.append((pending, reader.submit(lambda p=pending: list(p.batches()))))
            while len(ahead) > 1:
                take_next()
        while ahead:
            take_next()
        for fmt, group in groups.items():
            _flush_group(con, writer, group, fmt, checks[fmt])
        result = writer.commit()
    except Exception as exc:
        return failed_load(con, writer, exc)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
    result.retryable = transient
    return result


def ingest_source(home: str | Path, name: str, source_dir: str | Path | None = None,
                  config: SourcesConfig | None = None, map_parts: MapParts | None = None,
                  parts: int | None = None) -> list[LoadResult]:
    """Load every stream of one source into the warehouse at `home` (files read and checked by
    `map_parts` in about `parts` parts when given; see `load_stream`)."""
    config = config or load_sources_config()
    connector = build_connector(name, config, Path(source_dir) if source_dir is not None else None, home)
    layout = HomeLayout(Path(home))
    con = connect_home(home)
    try:
        _prepare(con, config)
        created = ensure_staging_table(con)
        ensure_load_tables(con)
        sweep_orphans(con, layout)
        if created:
            _backfill_staging(con, layout, connector, set(created))
        tolerance = timedelta(minutes=config.loading.future_tolerance_minutes)
        if map_parts is not None:
            # Every stream's files in one round of parts, then one commit per stream.
            from connectors.partitioned import load_source_in_parts

            streams = connector.streams()
            for stream in streams:
                refresh_view(con, layout, stream.raw_table())
            return load_source_in_parts(con, layout, connector, streams, tolerance, map_parts, parts)
        results = []
        for stream in connector.streams():
            refresh_view(con, layout, stream.raw_table())
            results.append(load_stream(con, layout, connector, stream, tolerance))
        return results
    finally:
        con.close()


def _backfill_staging(con: duckdb.DuckDBPyConnection, layout: HomeLayout, connector: Connector,
                      created: set[str]) -> None:
    """A staging table new to this warehouse (added by an upgrade) gets the rows the committed raw
    data already holds, once: the same SELECT a load runs, over the stream's raw view."""
    for stream in connector.streams():
        parts = [(name, select) for name, select in (stream.staging.parts if stream.staging else ()) if name in created]
        if not parts or not stream_files(layout, stream.name):
            continue
        con.execute(f"CREATE OR REPLACE TEMP VIEW _new_rows AS {view_select(layout, stream.raw_table())}")
        try:
            for name, select in parts:
                con.execute(f"INSERT INTO staging.{quote_ident(name)} {select}")
        finally:
            con.execute("DROP VIEW IF EXISTS _new_rows")


def ingest_all(home: str | Path, source_dir: str | Path | None = None,
               sources: Sequence[str] | None = None) -> list[LoadResult]:
    """Load every (or the named) source; returns one LoadResult per stream.

    With `source_dir`, each source reads `source_dir/<source>` (the layout `cdp generate` writes);
    without, the folders of `config/sources.yaml`.
    """
    config = load_sources_config()
    names = list(sources) if sources else list(SOURCE_NAMES)
    for name in names:
        if name not in CONNECTORS:
            raise ValueError(f"unknown source {name!r}; choose from {', '.join(SOURCE_NAMES)}")
    if source_dir is not None and not Path(source_dir).is_dir():
        raise FileNotFoundError(f"source folder {source_dir} does not exist")
    results: list[LoadResult] = []
    for name in names:
        results.extend(ingest_source(home, name, source_dir, config))
    refresh_raw_views(home, config)
    return results


def refresh_raw_views(home: str | Path, config: SourcesConfig | None = None) -> None:
    """(Re)create every `raw.<stream>` view, typed and empty for a stream never loaded, so readers
    can always query all six."""
    config = config or load_sources_config()
    layout = HomeLayout(Path(home))
    con = connect_home(home)
    try:
        for name in SOURCE_NAMES:
            for stream in build_connector(name, config).streams():
                refresh_view(con, layout, stream.raw_table())
    finally:
        con.close()


def all_streams(config: SourcesConfig | None = None, source_dir: Path | None = None) -> Iterable[tuple[Connector, Stream]]:
    """Every (connector, stream) pair: for docs, views and the conformance suite."""
    config = config or load_sources_config()
    for name in SOURCE_NAMES:
        connector = build_connector(name, config, source_dir)
        for stream in connector.streams():
            yield connector, stream
