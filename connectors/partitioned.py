"""One stream's load with its files read and checked in parallel parts (`map_parts`), committed once.

The costly half of a load is reading files and running the stream's checks over them (parse,
types, rules): that is per record, so it parts cleanly by file. Each part (a group of small files,
or one big file) is read and checked by `check_part` in a process of its own, with an in-memory
DuckDB, and its checked rows are written as Parquet under `raw/_tmp/<load_id>.checked/`. The
coordinating process then feeds those rows, part by part and in input order, to the stream's
`LoadWriter` exactly as an embedded load feeds its own batches: the duplicate screen against
stored keys, quarantine, the suppression screen, the final raw Parquet files, and the one
transaction of `ops.loads`, quarantine rows, loaded files, cursors and staging rows. So a load is
still all or nothing, and a killed part leaves only temporary files the next load sweeps.

Inputs are taken in the order an embedded load takes them (small files of one format grouped,
flushed when a group is full or at the end; big files and SQL tables in their place), so the same
record wins a duplicate either way. SQL tables (with a cursor) and inputs that could not even be
listed are read here, as in an embedded load.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Sequence

import duckdb
import pyarrow as pa

from connectors import readers
from connectors.base import Connector, PendingInput, Stream
from connectors.readers import UnreadableInputError
from warehouse.layout import HomeLayout
from warehouse.loads import LoadResult, new_load_id, utcnow
from warehouse.partitions import MapParts, local_map, part_connection
from warehouse.raw_store import sql_literal, tmp_root


@dataclass(frozen=True)
class FileRead:
    """How to read one file, in any process (picklable: paths and names only)."""

    path: str
    label: str
    format: str
    columns: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckPart:
    """Files to read and check in one process; `streamed`: one big file, batch by batch."""

    number: int
    files: tuple[FileRead, ...]
    streamed: bool
    check_sql: str
    batch_bytes: int
    out_dir: str
    memory_limit: str | None = None


@dataclass
class CheckedPart:
    """What a part left: checked Parquet files in order, the labels read whole, the ones refused."""

    number: int
    outputs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    # (label, message, transient) of files that could not be read; a streamed file failing
    # part-way is one of these too, and nothing of it is kept.
    refused: list[tuple[str, str, bool]] = field(default_factory=list)


def _batches(read: FileRead, batch_bytes: int):
    path = Path(read.path)
    if read.format == "ndjson":
        return readers.read_ndjson(path, read.label, batch_bytes)
    return readers.read_csv(path, read.label, list(read.columns), list(read.required), batch_bytes)


def _write_checked(con: duckdb.DuckDBPyConnection, batch: pa.Table, check_sql: str, out: Path) -> str:
    from connectors.runner import _check_batch

    _check_batch(con, batch, check_sql)
    tmp = out.with_suffix(".parquet.tmp")
    con.execute(f"COPY _checked TO {sql_literal(str(tmp))} (FORMAT parquet)")
    con.execute("DROP TABLE _checked")
    os.replace(tmp, out)  # a part run twice (its worker died) writes the same file again
    return str(out)


def check_part(part: CheckPart) -> CheckedPart:
    """Read and check one part's files (module-level and pure: any worker can run it)."""
    out_dir = Path(part.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = CheckedPart(part.number)
    con = part_connection(part.memory_limit)
    try:
        if part.streamed:
            (read,) = part.files
            outputs = []
            try:
                for index, batch in enumerate(_batches(read, part.batch_bytes)):
                    outputs.append(_write_checked(con, batch, part.check_sql,
                                                  out_dir / f"part{part.number}-{index}.parquet"))
            except UnreadableInputError as exc:
                done.refused.append((read.label, str(exc), exc.transient))
                return done
            done.outputs, done.labels = outputs, [read.label]
            return done
        tables = []
        for read in part.files:
            try:
                tables.extend(_batches(read, part.batch_bytes))
            except UnreadableInputError as exc:
                done.refused.append((read.label, str(exc), exc.transient))
                continue
            done.labels.append(read.label)
        if tables:
            done.outputs.append(_write_checked(con, pa.concat_tables(tables, promote_options="permissive"),
                                               part.check_sql, out_dir / f"part{part.number}.parquet"))
        return done
    finally:
        con.close()


def _text_size(pending: PendingInput) -> int:
    from connectors.runner import _text_size as size

    return size(pending)


def plan_parts(pending: Sequence[PendingInput], stream: Stream, batch_bytes: int, parts: int | None,
               checks: dict[str, str], out_dir: Path, memory_limit: str | None) -> list[CheckPart | PendingInput]:
    """The inputs in the order an embedded load takes them: CheckParts for files, and the
    PendingInputs (SQL tables, inputs that could not be listed) this process reads itself.
    Small files group up to `batch_bytes` of text, and to about 1/`parts` of the stream's small
    files, so there are parts enough for every worker."""
    small = [p for p in pending if p.fingerprint is not None and _text_size(p) * 2 <= batch_bytes]
    total_small = sum(_text_size(p) for p in small)
    group_bytes = min(batch_bytes, max(1, -(-total_small // max(parts or 1, 1))))
    small_ids = {id(p) for p in small}
    plan: list[CheckPart | PendingInput] = []
    groups: dict[str, list[PendingInput]] = {}
    sizes: dict[str, int] = {}

    def read_of(p: PendingInput) -> FileRead:
        return FileRead(str(p.fingerprint.path), p.label, p.format, tuple(stream.spec.source_columns),
                        (stream.primary_key,))

    def part(files: list[PendingInput], streamed: bool) -> CheckPart:
        return CheckPart(len(plan), tuple(read_of(p) for p in files), streamed, checks[files[0].format],
                         batch_bytes, str(out_dir), memory_limit)

    for p in pending:
        if id(p) in small_ids:
            group = groups.setdefault(p.format, [])
            group.append(p)
            sizes[p.format] = sizes.get(p.format, 0) + _text_size(p)
            if sizes[p.format] >= group_bytes:
                plan.append(part(groups.pop(p.format), streamed=False))
                sizes.pop(p.format)
        elif p.fingerprint is not None and p.format != "sql":
            plan.append(part([p], streamed=True))
        else:
            plan.append(p)
    for fmt, group in groups.items():
        plan.append(part(group, streamed=False))
    return plan


@dataclass
class _StreamPlan:
    stream: Stream
    steps: list[CheckPart | PendingInput]
    by_label: dict[str, PendingInput]
    checks: dict[str, str]


def load_source_in_parts(con: duckdb.DuckDBPyConnection, layout: HomeLayout, connector: Connector,
                         streams: Sequence[Stream], future_tolerance: timedelta, map_parts: MapParts = local_map,
                         parts: int | None = None) -> list[LoadResult]:
    """`connectors.runner.load_stream` for each of `streams`, with their files read and checked by
    `map_parts` in one round (every stream's parts at once, so workers are never idle between
    streams); then each stream's load commits in turn. The future-time limit of the checks is taken
    when the parts are planned. If the mapper fails, every stream's load fails (nothing commits)."""
    from connectors.runner import check_queries

    future_limit = utcnow() + future_tolerance
    out_dir = tmp_root(layout) / f"{new_load_id()}.checked"
    plans = []
    for stream in streams:
        checks = check_queries(connector, stream, future_limit)
        pending = list(connector.pending_inputs(con, stream))
        steps = plan_parts(pending, stream, connector.loading.batch_bytes, parts, checks, out_dir / stream.name,
                           connector.loading.memory_limit)
        plans.append(_StreamPlan(stream, steps, {p.label: p for p in pending if p.fingerprint is not None}, checks))
    try:
        failure: Exception | None = None
        try:
            checked = map_parts(check_part, [s for plan in plans for s in plan.steps if isinstance(s, CheckPart)])
        except Exception as exc:  # a part failed past its retries: no stream of this source commits
            failure, checked = exc, []
        results, outcomes = [], iter(checked)
        for plan in plans:
            results.append(_commit_stream(con, layout, connector, plan, outcomes, failure))
        return results
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _commit_stream(con: duckdb.DuckDBPyConnection, layout: HomeLayout, connector: Connector, plan: _StreamPlan,
                   outcomes, failure: Exception | None) -> LoadResult:
    """Feed one stream's checked parts, in input order, to its LoadWriter and commit once."""
    from connectors.runner import _drop_unparseable_files, _stream_input, _Transient, failed_load, new_writer

    writer = new_writer(con, layout, connector, plan.stream)
    transient = False
    try:
        if failure is not None:
            raise failure
        for step in plan.steps:
            if not isinstance(step, CheckPart):
                try:
                    _stream_input(con, writer, step, plan.checks[step.format])
                except _Transient:
                    transient = True
                continue
            result = next(outcomes)
            for label, message, is_transient in result.refused:
                if step.streamed:
                    writer.begin_input()
                    writer.abort_input(message)
                else:
                    writer.record_error(message)
                transient = transient or is_transient
            if not result.labels:
                continue  # every file of the part was refused: no input joined the load
            writer.begin_input()
            bad: set[str] = set()
            for output in result.outputs:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS SELECT * FROM read_parquet({sql_literal(output)})")
                if not step.streamed and step.files[0].format == "ndjson":
                    bad = _drop_unparseable_files(con, writer)
                writer.add_checked("_checked")
                con.execute("DROP TABLE _checked")
            if step.streamed:
                label = result.labels[0]
                if step.files[0].format == "ndjson" and writer.input_is_all(reason="invalid_json"):
                    writer.abort_input(f"{label}: no line is a JSON object (not an NDJSON file?); nothing of it "
                                       "was loaded: fix or move the file and rerun")
                    continue
                writer.end_input([plan.by_label[label].fingerprint], None, labels=[label])
                continue
            done = [plan.by_label[label] for label in result.labels if label not in bad]
            writer.end_input([p.fingerprint for p in done], labels=[p.label for p in done])
        result = writer.commit()
    except Exception as exc:
        return failed_load(con, writer, exc)
    result.retryable = transient
    return result
