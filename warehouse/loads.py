"""Loads: one stream's new input, checked, deduplicated and committed all or nothing.

A `LoadWriter` receives checked batches (every row either valid or carrying a quarantine reason),
drops rows whose key is already stored (counted as duplicates), writes the rest as Parquet under a
temporary folder, and at `commit()`:

1. renames the Parquet files into `raw/<stream>/event_date=.../<load_id>-<n>.parquet`;
2. in ONE DuckDB transaction: the `ops.loads` row, the `raw.quarantine` rows, the files and
   cursor it read (`ops.loaded_files`, `ops.cursors`) and the `staging.customer_records` rows.

A process killed before 2 commits leaves renamed files whose load id is not in `ops.loads`:
`sweep_orphans()` (run before every load) deletes them and any temporary folder, so a rerun
repeats the load exactly. Invariant of every `ops.loads` row: read = loaded + quarantined + duplicate.

Work is per input (a file, a SQL query): an input that cannot be read (corrupt gzip, wrong format)
is rolled back on its own with an error naming it, and the rest of the load goes on.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import duckdb

from warehouse.cursors import FileFingerprint, ensure_cursor_tables, record_loaded_file, set_cursor
from warehouse.layout import HomeLayout
from warehouse.raw_store import (
    PARTITION_COLUMN,
    RawTable,
    committed_scan,
    load_id_of,
    quote_ident,
    refresh_view,
    sql_literal,
    stream_dir,
    stream_files,
    tmp_root,
)
from warehouse.staging import ensure_staging_table
from warehouse.suppression import LoadScreen

log = logging.getLogger(__name__)

LOADS_DDL = """CREATE TABLE IF NOT EXISTS ops.loads (
    load_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, stream VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
    files INTEGER NOT NULL, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL, rows_duplicate BIGINT NOT NULL, error VARCHAR, values_discarded BIGINT)"""

QUARANTINE_DDL = """CREATE TABLE IF NOT EXISTS raw.quarantine (
    load_id VARCHAR NOT NULL, source VARCHAR NOT NULL, stream VARCHAR NOT NULL, file VARCHAR,
    line BIGINT, record_id VARCHAR, reason VARCHAR NOT NULL, detail VARCHAR, payload VARCHAR,
    quarantined_at TIMESTAMP NOT NULL, fixed_payload VARCHAR, resolved_at TIMESTAMP,
    resolved_load_id VARCHAR, resolution VARCHAR)"""
# Added after the first release: a fix the user writes in place, and how a replay resolved the row.
# `fingerprint`: what a bad record is, whatever file brought it (see QUARANTINE_FINGERPRINT).
QUARANTINE_LATER_COLUMNS = (("fixed_payload", "VARCHAR"), ("resolved_at", "TIMESTAMP"),
                            ("resolved_load_id", "VARCHAR"), ("resolution", "VARCHAR"), ("fingerprint", "VARCHAR"))
QUARANTINE_INSERT_COLUMNS = ("load_id, source, stream, file, line, record_id, reason, detail, payload, "
                             "quarantined_at, fingerprint")


def quarantine_fingerprint(reason: str, payload: str, record_id: str) -> str:
    """SQL for the content fingerprint of a quarantined record: its reason and its text (its record
    id when it has no text: a suppressed record). A file delivered again under another name, or the
    same bad line twice, is then a duplicate, not a second quarantine row, keyed or not."""
    return f"md5({reason} || chr(31) || coalesce({payload}, {record_id}))"

LOADS_COLUMNS = ("load_id, source, stream, started_at, finished_at, status, files, rows_read, rows_loaded, "
                 "rows_quarantined, rows_duplicate, error, values_discarded")

# Statuses of ops.loads rows. Only committed loads own files in raw/.
STATUS_OK = "ok"                # every input read
STATUS_PARTIAL = "partial"      # some inputs could not be read (see error); the others committed
STATUS_FAILED = "failed"        # nothing committed (see error)
COMMITTED_STATUSES = (STATUS_OK, STATUS_PARTIAL)

# Columns a checked batch carries besides the table's columns.
CHECK_COLUMNS = ("_file", "_line", "_record_id", "_reason", "_detail", "_payload", "_discarded")


def utcnow() -> datetime:
    """Naive UTC, the convention of every TIMESTAMP in the warehouse."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_load_id(now: datetime | None = None) -> str:
    """Sortable by start time, unique, and free of '-' so `<load_id>-<n>.parquet` splits cleanly."""
    now = now or utcnow()
    return f"{now:%Y%m%dT%H%M%S%f}_{secrets.token_hex(3)}"


def ensure_load_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LOADS_DDL)
    con.execute(QUARANTINE_DDL)
    existing = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'raw' AND table_name = 'quarantine'").fetchall()}
    for name, kind in QUARANTINE_LATER_COLUMNS:
        if name not in existing:
            con.execute(f"ALTER TABLE raw.quarantine ADD COLUMN {name} {kind}")
            if name == "fingerprint":
                con.execute(f"UPDATE raw.quarantine SET fingerprint = "
                            f"{quarantine_fingerprint('reason', 'payload', 'record_id')}")
    con.execute("ALTER TABLE ops.loads ADD COLUMN IF NOT EXISTS values_discarded BIGINT")
    ensure_cursor_tables(con)
    ensure_staging_table(con)


def committed_load_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    placeholders = ", ".join("?" for _ in COMMITTED_STATUSES)
    rows = con.execute(f"SELECT load_id FROM ops.loads WHERE status IN ({placeholders})",
                       list(COMMITTED_STATUSES)).fetchall()
    return {r[0] for r in rows}


def sweep_orphans(con: duckdb.DuckDBPyConnection, layout: HomeLayout) -> int:
    """Delete temporary folders and raw files of loads that never committed; returns files removed."""
    ensure_load_tables(con)
    removed = 0
    tmp = tmp_root(layout)
    if tmp.exists():
        removed += sum(1 for p in tmp.rglob("*.parquet"))
        shutil.rmtree(tmp)
    if not layout.raw.exists():
        return removed
    committed = committed_load_ids(con)
    for path in layout.raw.glob(f"*/{PARTITION_COLUMN}=*/*.parquet"):
        if load_id_of(path) not in committed:
            path.unlink()
            removed += 1
    if removed:
        log.warning("swept %d orphan Parquet file(s) of uncommitted loads under %s", removed, layout.raw)
    return removed


@dataclass
class LoadResult:
    """The outcome of one stream's load, as recorded in `ops.loads`."""

    load_id: str
    source: str
    stream: str
    status: str
    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    errors: list[str] = field(default_factory=list)
    # Records whose undeclared fields the `discard` schema contract dropped.
    values_discarded: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Some input failed for a reason that may pass (e.g. a database briefly away): retry later.
    retryable: bool = False

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_duplicate

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if self.errors else None


@dataclass
class _InputCounts:
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicate: int = 0
    discarded: int = 0

    def add(self, other: "_InputCounts") -> None:
        for name in ("read", "loaded", "quarantined", "duplicate", "discarded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class StagingSpec:
    """How a stream's new raw rows become `staging.customer_records` rows.

    `select` reads the relation `_new_rows` (the load's new Parquet files) and yields the staging
    columns in order; `params` are bound to its `?` placeholders (e.g. the default country).
    """

    select: str
    params: tuple = ()
    # The phone region of a record that names no country (the source's default): how the load-time
    # suppression screen reads a national-format phone, as identity will.
    default_phone_region: str | None = None
    # Rows of the other staging tables (warehouse.staging): (table name, SELECT over `_new_rows`).
    parts: tuple[tuple[str, str], ...] = ()

    def screen(self) -> LoadScreen:
        return LoadScreen(self.select, self.params, self.default_phone_region)


class LoadWriter:
    """Accumulates one stream's load; see the module docstring for the protocol."""

    def __init__(self, con: duckdb.DuckDBPyConnection, layout: HomeLayout, source: str, table: RawTable,
                 staging: StagingSpec | None = None):
        self.con = con
        self.layout = layout
        self.source = source
        self.table = table
        self.staging = staging
        # Every load of a stream with identity-bearing rows is screened against the suppression
        # list, whatever path called it: forgotten people stay forgotten at the layer that writes.
        self.screen = staging.screen() if staging is not None else None
        self.started_at = utcnow()
        self.load_id = new_load_id(self.started_at)
        self.tmp_dir = tmp_root(layout) / self.load_id
        self.errors: list[str] = []
        self._totals = _InputCounts()
        self._files: list[FileFingerprint] = []
        self._cursors: list[tuple[str, str]] = []
        self._input_no = 0
        self._inputs_done = 0
        self._current: _InputCounts | None = None
        # Per file (`_file` label) of the open input, and of the inputs done: the accounting
        # read = loaded + quarantined + duplicate holds for each file, kept in ops.loaded_files.
        self._current_files: dict[str, _InputCounts] = {}
        self.file_counts: dict[str, _InputCounts] = {}
        self._file_labels: dict[int, str] = {}
        self._batch_no = 0
        self._done = False
        ensure_load_tables(con)
        self._create_work_tables()

    # -- work tables -------------------------------------------------------------------------
    def _create_work_tables(self) -> None:
        key = quote_ident(self.table.primary_key)
        key_type = dict(self.table.columns)[self.table.primary_key]
        version_def = ""
        if self.table.disposition == "merge":
            version_def = f", version {dict(self.table.columns)[self.table.version_column]}"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _load_keys (input_no INTEGER, key {key_type}{version_def})")
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _load_quarantine (input_no INTEGER, file VARCHAR, line BIGINT, "
            "record_id VARCHAR, reason VARCHAR, detail VARCHAR, payload VARCHAR, fingerprint VARCHAR)")
        if stream_files(self.layout, self.table.name):
            scan = committed_scan(self.layout, self.table)
            if self.table.disposition == "merge":
                version = quote_ident(self.table.version_column)
                self.con.execute(f"INSERT INTO _load_keys SELECT -1, {key}, max({version}) FROM {scan} GROUP BY ALL")
            else:
                self.con.execute(f"INSERT INTO _load_keys SELECT DISTINCT -1, {key} FROM {scan}")

    # -- inputs --------------------------------------------------------------------------------
    def begin_input(self) -> None:
        if self._current is not None:
            raise RuntimeError("begin_input() while another input is open")
        self._input_no += 1
        self._current = _InputCounts()
        self._current_files = {}

    def add_checked(self, relation: str) -> None:
        """Take a checked batch: a TABLE (its rowid picks rows) with the table's columns plus CHECK_COLUMNS.

        Rows with `_reason` go to quarantine (unless the same bad record was quarantined before:
        then it is a duplicate); valid rows whose key is already stored, or repeated in this load,
        are duplicates; the rest is written to a temporary Parquet folder.
        """
        if self._current is None:
            raise RuntimeError("add_checked() outside begin_input()/end_input()")
        con, n, table = self.con, self._input_no, self.table
        counts = self._current
        if self.screen is not None:
            self.screen.screen(con, relation, table.primary_key, self.load_id)
        has_discarded = "_discarded" in {d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description}
        discarded_sql = "count(*) FILTER (WHERE _discarded)" if has_discarded else "0"
        per_file = con.execute(
            f"SELECT _file, count(*), count(_reason), {discarded_sql} FROM {relation} GROUP BY _file").fetchall()
        total = sum(r[1] for r in per_file)
        bad = sum(r[2] for r in per_file)
        counts.read += total
        counts.discarded += sum(r[3] for r in per_file)
        files = self._current_files
        for label, read, _, discarded in per_file:
            entry = files.setdefault(label, _InputCounts())
            entry.read += read
            entry.discarded += discarded
        if bad:
            self._quarantine(relation)
        key = quote_ident(table.primary_key)
        # Pick the surviving row of each new key by rowid on the narrow key columns only, then
        # copy just those rows: cheaper than a window over the whole wide batch. Keys already stored
        # are found by probing the (growing) key table against the batch's keys: the hash table is
        # built on the small side, so the cost per batch does not grow with the history.
        if table.disposition == "merge":
            version = quote_ident(table.version_column)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _load_batch_keys AS SELECT arg_max(c.rowid, (c.{version}, c._file, "
                f"c._line)) AS rid, c.{key} AS key, max(c.{version}) AS version FROM {relation} c "
                f"WHERE c._reason IS NULL GROUP BY c.{key}")
            keep = ("SELECT b.* FROM _load_batch_keys b LEFT JOIN (SELECT k.key, max(k.version) AS version "
                    "FROM _load_keys k SEMI JOIN _load_batch_keys b ON k.key = b.key GROUP BY k.key) s "
                    "ON s.key = b.key WHERE s.key IS NULL OR b.version > s.version")
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _load_batch_keys AS SELECT arg_min(c.rowid, (c._file, c._line)) AS rid, "
                f"c.{key} AS key FROM {relation} c WHERE c._reason IS NULL GROUP BY c.{key}")
            keep = ("SELECT b.* FROM _load_batch_keys b ANTI JOIN (SELECT k.key FROM _load_keys k "
                    "SEMI JOIN _load_batch_keys b ON k.key = b.key) s ON s.key = b.key")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _load_keep AS {keep}")
        fresh_rows = con.execute("SELECT count(*) FROM _load_keep").fetchall()[0][0]
        counts.loaded += fresh_rows
        counts.duplicate += (total - bad) - fresh_rows
        if fresh_rows == total - bad:
            fresh_per_file = {label: read - nbad for label, read, nbad, _ in per_file}
        else:
            fresh_per_file = dict(con.execute(
                f"SELECT c._file, count(*) FROM {relation} c SEMI JOIN _load_keep k ON c.rowid = k.rid "
                "GROUP BY 1").fetchall())
        for label, read, nbad, _ in per_file:
            entry = files[label]
            fresh = fresh_per_file.get(label, 0)
            entry.loaded += fresh
            entry.duplicate += (read - nbad) - fresh
        if fresh_rows:
            version_col = ", version" if table.disposition == "merge" else ""
            con.execute(f"INSERT INTO _load_keys SELECT {n}, key{version_col} FROM _load_keep")
            cols = ", ".join(f"c.{quote_ident(c)}" for c, _ in table.columns)
            # Every valid row survives (the usual case): a plain filter, no join needed.
            rows = (f"FROM {relation} c WHERE c._reason IS NULL" if fresh_rows == total - bad
                    else f"FROM {relation} c SEMI JOIN _load_keep k ON c.rowid = k.rid")
            fresh = f"SELECT {cols}, {sql_literal(self.load_id)} AS _load_id, c._file, c._line {rows}"
            self._batch_no += 1
            self._write_partitions(fresh, relation, self.tmp_dir / f"input{n}" / f"batch{self._batch_no}")
        con.execute("DROP TABLE _load_keep")
        con.execute("DROP TABLE _load_batch_keys")

    def _write_partitions(self, fresh: str, relation: str, out: Path) -> None:
        """Parquet per event date under `out/event_date=D/`.

        A few dates (daily files): one plain COPY per date, cheaper than PARTITION_BY's writer;
        many dates: PARTITION_BY.
        """
        con = self.con
        day = "strftime(c.event_time, '%Y-%m-%d')"
        dates = [r[0] for r in con.execute(
            f"SELECT DISTINCT {day} FROM {relation} c WHERE c._reason IS NULL ORDER BY 1").fetchall()]
        if len(dates) > 8:
            out.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY (SELECT *, {day} AS {PARTITION_COLUMN} FROM ({fresh}) c) TO {sql_literal(str(out))} "
                        f"(FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}), OVERWRITE_OR_IGNORE)")
            return
        for date in dates:
            folder = out / f"{PARTITION_COLUMN}={date}"
            folder.mkdir(parents=True, exist_ok=True)
            target = sql_literal(str(folder / "data_0.parquet"))
            con.execute(f"COPY (SELECT * FROM ({fresh}) c WHERE {day} = ?) TO {target} (FORMAT parquet)", [date])

    def _quarantine(self, relation: str) -> None:
        counts = self._current
        n = self._input_no
        con = self.con
        # A bad record already quarantined (by an earlier load: a SQL row read again at the cursor
        # boundary, a file delivered again under another name; or earlier in this load) is a
        # duplicate, not a second quarantine row. Same content, same fingerprint, keyed or not.
        fingerprint = quarantine_fingerprint("c._reason", "c._payload", "c._record_id")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _load_quarantine_new AS
                SELECT {n} AS input_no, file, line, record_id, reason, detail, payload, fingerprint FROM (
                    SELECT c._file AS file, c._line AS line, c._record_id AS record_id, c._reason AS reason,
                           c._detail AS detail, c._payload AS payload, {fingerprint} AS fingerprint
                    FROM {relation} c WHERE c._reason IS NOT NULL) b
                WHERE NOT EXISTS (SELECT 1 FROM raw.quarantine q WHERE q.source = ? AND q.stream = ?
                                  AND q.fingerprint = b.fingerprint)
                  AND NOT EXISTS (SELECT 1 FROM _load_quarantine l WHERE l.fingerprint = b.fingerprint)
                QUALIFY row_number() OVER (PARTITION BY fingerprint ORDER BY file, line) = 1""",
            [self.source, self.table.name])
        con.execute("INSERT INTO _load_quarantine SELECT * FROM _load_quarantine_new")
        per_file = dict(con.execute("SELECT file, count(*) FROM _load_quarantine_new GROUP BY file").fetchall())
        con.execute("DROP TABLE _load_quarantine_new")
        bad_per_file = con.execute(f"SELECT _file, count(_reason) FROM {relation} GROUP BY _file").fetchall()
        for label, bad in bad_per_file:
            inserted = per_file.get(label, 0)
            counts.quarantined += inserted
            counts.duplicate += bad - inserted
            entry = self._current_files.setdefault(label, _InputCounts())
            entry.quarantined += inserted
            entry.duplicate += bad - inserted

    def end_input(self, fingerprints: Sequence[FileFingerprint] = (), cursor: tuple[str, str] | None = None,
                  labels: Sequence[str] | None = None) -> None:
        """The input was read to its end: its rows, file records and cursor join the load.

        `labels`: the `_file` label of each fingerprint (its per-file counts land in ops.loaded_files)."""
        counts = self._current
        if counts is None:
            raise RuntimeError("end_input() without begin_input()")
        self._totals.add(counts)
        for label, file_counts in self._current_files.items():
            self.file_counts.setdefault(label, _InputCounts()).add(file_counts)
        for print_, label in zip(fingerprints, labels or [None] * len(fingerprints)):
            if label is not None:
                self._file_labels[id(print_)] = label
        self._files.extend(fingerprints)
        self._inputs_done += 1
        # For whoever shows progress (the `cdp ingest` bar listens): counts and file names only.
        log.debug("%s/%s: input %d read (%d rows)", self.source, self.table.name, self._inputs_done, counts.read,
                  extra={"cdp_progress": {"task": f"{self.source}/{self.table.name}",
                                          "description": f"  {self.source}/{self.table.name}",
                                          "completed": len(self._files) + len(self._cursors) + (1 if cursor else 0),
                                          "detail": f"{self._totals.read:,} records"}})
        if cursor is not None:
            self._cursors.append(cursor)
        self._current = None

    def input_is_all(self, reason: str) -> bool:
        """Whether every record of the open input so far was quarantined for `reason`."""
        counts = self._current
        if counts is None or not counts.read:
            return False
        same = self.con.execute("SELECT count(*) FROM _load_quarantine WHERE input_no = ? AND reason = ?",
                                [self._input_no, reason]).fetchall()[0][0]
        return same == counts.read

    def record_error(self, message: str) -> None:
        """An input that could not be read before any of it reached the load."""
        self.errors.append(message)

    def abort_input(self, message: str) -> None:
        """The input failed part-way: forget its rows, keep the message for the load's result."""
        n = self._input_no
        self.con.execute("DELETE FROM _load_keys WHERE input_no = ?", [n])
        self.con.execute("DELETE FROM _load_quarantine WHERE input_no = ?", [n])
        shutil.rmtree(self.tmp_dir / f"input{n}", ignore_errors=True)
        self.errors.append(message)
        self._current = None
        self._current_files = {}

    # -- commit ---------------------------------------------------------------------------------
    @property
    def files_read(self) -> int:
        return len(self._files) + len(self._cursors)

    def _move_into_place(self) -> list[Path]:
        moved: list[Path] = []
        if not self.tmp_dir.exists():
            return moved
        parts = sorted(self.tmp_dir.rglob("*.parquet"), key=lambda p: (
            int(p.parts[-4].removeprefix("input")), int(p.parts[-3].removeprefix("batch")), p.parts[-2], p.name))
        target_root = stream_dir(self.layout, self.table.name)
        for number, part in enumerate(parts):
            partition = part.parent.name  # event_date=YYYY-MM-DD
            dest = target_root / partition / f"{self.load_id}-{number}.parquet"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
            moved.append(dest)
        return moved

    def commit(self, before_commit=None) -> LoadResult:
        """Publish the load (see module docstring). Returns its result; raises if it could not.

        `before_commit(con, moved_files)` runs inside the load's transaction, after the load's own
        rows: what it writes commits with the load or not at all (a quarantine replay marks the rows
        it loaded as resolved this way).
        """
        if self._current is not None:
            raise RuntimeError("commit() with an input still open")
        if self._done:
            raise RuntimeError("load already finished")
        self._done = True
        totals = self._totals
        status = STATUS_OK if not self.errors else (
            STATUS_PARTIAL if self._inputs_done else STATUS_FAILED)
        result = self._result(status)
        moved = self._move_into_place()
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(
                f"INSERT INTO ops.loads ({LOADS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.load_id, self.source, self.table.name, self.started_at, result.finished_at,
                 status, self.files_read, totals.read, totals.loaded, totals.quarantined,
                 totals.duplicate, result.error, totals.discarded])
            con.execute(
                f"INSERT INTO raw.quarantine ({QUARANTINE_INSERT_COLUMNS}) SELECT ?, ?, ?, file, line, record_id, "
                "reason, detail, payload, ?, fingerprint FROM _load_quarantine ORDER BY input_no, file, line",
                [self.load_id, self.source, self.table.name, result.finished_at])
            for print_ in self._files:
                label = self._file_labels.get(id(print_))
                c = self.file_counts.get(label) if label is not None else None
                if label is not None and c is None:
                    c = _InputCounts()  # an empty file: zero rows, remembered
                record_loaded_file(con, self.source, self.table.name, print_, self.load_id, result.finished_at,
                                   (c.read, c.loaded, c.quarantined, c.duplicate) if c is not None else None)
            for name, value in self._cursors:
                set_cursor(con, self.source, self.table.name, name, value, self.load_id, result.finished_at)
            if moved and self.staging is not None:
                self._stage(moved)
            if before_commit is not None:
                before_commit(con, moved)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            for path in moved:  # the sweep would also remove them; do not wait for it
                path.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self._drop_work_tables()
        refresh_view(con, self.layout, self.table)
        return result

    def _stage(self, moved: list[Path]) -> None:
        files = "[" + ", ".join(sql_literal(str(p)) for p in moved) + "]"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW _new_rows AS SELECT * FROM read_parquet({files}, "
            f"hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': DATE}})")
        targets = ["customer_records", *(name for name, _ in self.staging.parts)]
        if self.table.disposition == "merge":
            # A newer version replaces the record's rows in every staging table it feeds.
            for name in targets:
                self.con.execute(
                    f"DELETE FROM staging.{quote_ident(name)} WHERE source = ? AND stream = ? AND record_id IN "
                    f"(SELECT CAST({quote_ident(self.table.primary_key)} AS VARCHAR) FROM _new_rows)",
                    [self.source, self.table.name])
        self.con.execute(f"INSERT INTO staging.customer_records {self.staging.select}", list(self.staging.params))
        for name, select in self.staging.parts:
            self.con.execute(f"INSERT INTO staging.{quote_ident(name)} {select}")
        self.con.execute("DROP VIEW _new_rows")

    def fail(self, message: str) -> LoadResult:
        """Record the load as failed (nothing of it is kept) and return its result."""
        self._done = True
        self.errors.append(message)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._drop_work_tables()
        result = self._result(STATUS_FAILED, zero=True)
        self.con.execute(
            f"INSERT INTO ops.loads ({LOADS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, ?, 0)",
            [self.load_id, self.source, self.table.name, self.started_at, result.finished_at,
             STATUS_FAILED, result.error])
        return result

    def _result(self, status: str, zero: bool = False) -> LoadResult:
        totals = _InputCounts() if zero else self._totals
        return LoadResult(
            load_id=self.load_id, source=self.source, stream=self.table.name, status=status,
            files=0 if zero else self.files_read, rows_read=totals.read, rows_loaded=totals.loaded,
            rows_quarantined=totals.quarantined, rows_duplicate=totals.duplicate,
            values_discarded=totals.discarded,
            errors=list(self.errors), started_at=self.started_at, finished_at=utcnow())

    def _drop_work_tables(self) -> None:
        for name in ("_load_keys", "_load_quarantine", "_load_keep", "_load_batch_keys", "_load_quarantine_new"):
            self.con.execute(f"DROP TABLE IF EXISTS {name}")
