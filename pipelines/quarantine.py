"""Quarantine you can act on: list what was refused, look at one record, replay after a fix.

A replay re-checks stored payloads with the stream's own checks (the same SQL ingest runs) and
hands those that now pass to the normal load path (`warehouse.loads.LoadWriter`): a new load with
its `ops.loads` row (files 0; read = loaded + duplicate), Parquet under raw/, staging rows for the
next `cdp resolve`. In the same transaction the replayed quarantine rows are marked resolved with
that load's id (`resolved_load_id`, `resolved_at`, `resolution` = loaded | duplicate). Rows that
still fail stay open, with the reason they fail for now.

Fixing a payload never means pasting SQL text into ours. Two documented ways:
- in place, with your own SQL client: `UPDATE raw.quarantine SET fixed_payload = ... WHERE ...`
  (the original `payload` stays for the record; a replay reads `fixed_payload` when it is set);
- `--patch '{"timestamp": "2026-02-01T10:00:00Z"}'`: a JSON merge patch (RFC 7396) applied to the
  JSON payload of every selected row, parsed by us and bound as a parameter.

Records quarantined as `suppressed` (a forgotten person's late events) are never replayed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.sql import quote_ident

NEVER_REPLAYED = ("suppressed",)
# A stable id per quarantine row: the row's own coordinates, hashed (no id column needed).
QID_SQL = ("'q_' || substr(md5(concat_ws('|', load_id, source, stream, coalesce(file, ''), "
           "coalesce(CAST(line AS VARCHAR), ''), coalesce(record_id, ''), reason)), 1, 12)")


@dataclass
class Selection:
    """Which quarantine rows: every filter given must hold (bound parameters only)."""

    ids: list[str] = field(default_factory=list)
    source: str | None = None
    stream: str | None = None
    reason: str | None = None
    load_id: str | None = None
    include_resolved: bool = False

    def where(self, has_resolution: bool) -> tuple[str, list]:
        clauses, params = [], []
        if self.ids:
            clauses.append(f"{QID_SQL} IN ({', '.join('?' for _ in self.ids)})")
            params += list(self.ids)
        for column in ("source", "stream", "reason", "load_id"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if has_resolution and not self.include_resolved:
            clauses.append("resolved_at IS NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'raw' AND table_name = 'quarantine'").fetchall()}


def summary(con: duckdb.DuckDBPyConnection, selection: Selection | None = None) -> list[dict]:
    """Open (and resolved) counts per source, stream, reason and detail."""
    cols = _columns(con)
    if not cols:
        return []
    selection = selection or Selection()
    has_res = "resolved_at" in cols
    where, params = Selection(**{**selection.__dict__, "include_resolved": True}).where(has_res)
    resolved = "count(resolved_at)" if has_res else "0"
    open_ = "count(*) - count(resolved_at)" if has_res else "count(*)"
    rows = con.execute(f"""
        SELECT source, stream, reason, coalesce(detail, '') AS detail, {open_} AS open, {resolved} AS resolved,
               min(quarantined_at), max(quarantined_at)
        FROM raw.quarantine{where} GROUP BY ALL
        HAVING {open_} > 0 OR {'TRUE' if selection.include_resolved else 'FALSE'}
        ORDER BY open DESC, source, stream, reason, detail""", params).fetchall()
    keys = ("source", "stream", "reason", "detail", "open", "resolved", "first_at", "last_at")
    return [dict(zip(keys, r)) for r in rows]


def rows(con: duckdb.DuckDBPyConnection, selection: Selection, limit: int = 50) -> list[dict]:
    """Quarantine rows without their payload (personal data stays out of listings)."""
    cols = _columns(con)
    if not cols:
        return []
    has_res = "resolved_at" in cols
    where, params = selection.where(has_res)
    extra = ", resolved_at, resolved_load_id, resolution" if has_res else ", NULL, NULL, NULL"
    fixed = ", fixed_payload IS NOT NULL" if "fixed_payload" in cols else ", FALSE"
    result = con.execute(f"""
        SELECT {QID_SQL} AS id, source, stream, file, line, record_id, reason, detail, quarantined_at, load_id
               {extra}{fixed}
        FROM raw.quarantine{where} ORDER BY quarantined_at, source, stream, file, line LIMIT ?""",
                         params + [limit]).fetchall()
    keys = ("id", "source", "stream", "file", "line", "record_id", "reason", "detail", "quarantined_at", "load_id",
            "resolved_at", "resolved_load_id", "resolution", "fixed")
    return [dict(zip(keys, r)) for r in result]


def show(con: duckdb.DuckDBPyConnection, quarantine_id: str) -> dict:
    """One quarantine row with its payload (and fixed payload): what you need to write a fix."""
    cols = _columns(con)
    if not cols:
        raise ValueError("this warehouse has no raw.quarantine yet: nothing was refused")
    fixed = "fixed_payload" if "fixed_payload" in cols else "NULL"
    res = "resolved_at, resolved_load_id, resolution" if "resolved_at" in cols else "NULL, NULL, NULL"
    found = con.execute(f"""
        SELECT {QID_SQL}, source, stream, file, line, record_id, reason, detail, quarantined_at, load_id,
               payload, {fixed}, {res}
        FROM raw.quarantine WHERE {QID_SQL} = ?""", [quarantine_id]).fetchall()
    if not found:
        raise ValueError(f"no quarantine row {quarantine_id!r}: `cdp quarantine list --rows` shows the ids")
    keys = ("id", "source", "stream", "file", "line", "record_id", "reason", "detail", "quarantined_at", "load_id",
            "payload", "fixed_payload", "resolved_at", "resolved_load_id", "resolution")
    return dict(zip(keys, found[0]))


@dataclass
class ReplayResult:
    load_id: str | None
    source: str
    stream: str
    replayed: int = 0          # rows re-checked
    loaded: int = 0            # now in raw (new rows)
    duplicate: int = 0         # passed, but the record was already stored (resolved all the same)
    still_failing: dict[str, int] = field(default_factory=dict)  # reason now -> rows (left open)
    skipped_suppressed: int = 0
    dry_run: bool = False


def _parse_patch(patch: str | None) -> str | None:
    if patch is None:
        return None
    try:
        value = json.loads(patch)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--patch is not JSON ({exc.msg} at character {exc.pos}); give an object like "
                         "'{\"timestamp\": \"2026-02-01T10:00:00Z\"}'") from None
    if not isinstance(value, dict) or not value:
        raise ValueError("--patch must be a non-empty JSON object (a JSON merge patch, RFC 7396)")
    return json.dumps(value)


def _stream_of(source: str, stream_name: str):
    from config.sources import load_sources_config
    from connectors.runner import build_connector

    connector = build_connector(source, load_sources_config())
    for stream in connector.streams():
        if stream.name == stream_name:
            return connector, stream
    raise ValueError(f"source {source} has no stream {stream_name!r} any more: its quarantine cannot be replayed")


def _is_ndjson(stream) -> bool:
    from connectors.base import FileInput

    return bool(stream.inputs) and all(isinstance(i, FileInput) and i.format == "ndjson" for i in stream.inputs)


def _batch(con: duckdb.DuckDBPyConnection, stream, ndjson: bool) -> pa.Table:
    """The replayed payloads shaped as the stream's reader shapes input (`_file` carries the row id)."""
    if ndjson:
        return con.sql("SELECT qid AS _file, n AS _line, text AS _payload, FALSE AS _bad_encoding "
                       "FROM _replay ORDER BY n").to_arrow_table()
    # Tabular streams (CSV, SQL) store a refused row as a JSON object of its text values; a malformed
    # CSV row keeps its raw text (it stays malformed until fixed into such an object).
    fields = [f.path for f in stream.spec.fields]
    declared = set(fields)
    columns: dict[str, list] = {"_file": [], "_line": [], "_payload": [], "_malformed": [], "_bad_encoding": [],
                                "_extra": [], **{f: [] for f in fields}}
    for qid, n, text in con.execute("SELECT qid, n, text FROM _replay ORDER BY n").fetchall():
        try:
            obj = json.loads(text) if text is not None else None
        except ValueError:
            obj = None
        ok = isinstance(obj, dict)
        columns["_file"].append(qid)
        columns["_line"].append(n)
        columns["_payload"].append(None if ok else text)
        columns["_malformed"].append(not ok)
        columns["_bad_encoding"].append(False)
        extra = {k: v for k, v in obj.items() if k not in declared} if ok else {}
        columns["_extra"].append(json.dumps(extra, ensure_ascii=False) if extra else None)
        for f in fields:
            value = obj.get(f) if ok else None
            columns[f].append(value if value is None or isinstance(value, str) else json.dumps(value))
    types = {"_line": pa.int64(), "_malformed": pa.bool_(), "_bad_encoding": pa.bool_()}
    return pa.table({name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()})


def replay(home: str | Path, selection: Selection, patch: str | None = None, dry_run: bool = False) -> list[ReplayResult]:
    """Re-check the selected open quarantine rows; load those that pass (see module docstring)."""
    from config.sources import load_sources_config
    from connectors.validation import ndjson_check_sql, tabular_check_sql
    from warehouse.connection import connect_home
    from warehouse.layout import HomeLayout
    from warehouse.loads import LoadWriter, ensure_load_tables, utcnow

    patch_json = _parse_patch(patch)
    home = Path(home)
    layout = HomeLayout(home)
    con = connect_home(home)
    results: list[ReplayResult] = []
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not _columns(con):
            return []
        ensure_load_tables(con)  # adds the fix and resolution columns to an older warehouse
        where, params = Selection(**{**selection.__dict__, "include_resolved": False}).where(True)
        groups = con.execute(f"SELECT source, stream, reason IN ({', '.join('?' for _ in NEVER_REPLAYED)}), count(*) "
                             f"FROM raw.quarantine{where} GROUP BY ALL ORDER BY 1, 2",
                             list(NEVER_REPLAYED) + params).fetchall()
        tolerance = timedelta(minutes=load_sources_config().loading.future_tolerance_minutes)
        skipped: dict[tuple[str, str], int] = {}
        for source, stream_name, never, count in groups:
            if never:
                skipped[(source, stream_name)] = skipped.get((source, stream_name), 0) + count
        for source, stream_name in sorted({(g[0], g[1]) for g in groups if not g[2]}):
            connector, stream = _stream_of(source, stream_name)
            ndjson = _is_ndjson(stream)
            text = "coalesce(fixed_payload, payload)"
            if patch_json is not None:
                text = (f"CASE WHEN json_valid({text}) AND json_type({text}) = 'OBJECT' "
                        f"THEN CAST(json_merge_patch({text}, ?) AS VARCHAR) ELSE {text} END")
            extra_where = (" AND " if where else " WHERE ") + "source = ? AND stream = ? AND reason NOT IN (" + \
                ", ".join("?" for _ in NEVER_REPLAYED) + ")"
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _replay AS
                SELECT {QID_SQL} AS qid, row_number() OVER (ORDER BY quarantined_at, file, line) AS n,
                       file, line, {text} AS text
                FROM raw.quarantine{where}{extra_where}""",
                        ([patch_json] if patch_json is not None else []) + params
                        + [source, stream_name, *NEVER_REPLAYED])
            result = ReplayResult(None, source, stream_name, dry_run=dry_run,
                                  skipped_suppressed=skipped.pop((source, stream_name), 0))
            result.replayed = con.execute("SELECT count(*) FROM _replay").fetchall()[0][0]
            check = (ndjson_check_sql if ndjson else tabular_check_sql)(stream.spec, "_raw_batch",
                                                                        utcnow() + tolerance)
            con.register("_raw_batch", _batch(con, stream, ndjson))
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {check}")
            finally:
                con.unregister("_raw_batch")
            result.still_failing = dict(con.execute(
                "SELECT _reason, count(*) FROM _checked WHERE _reason IS NOT NULL GROUP BY ALL ORDER BY 2 DESC"
            ).fetchall())
            passing = result.replayed - sum(result.still_failing.values())
            if dry_run or passing == 0:
                result.loaded = passing if dry_run else 0
                results.append(result)
                continue
            writer = LoadWriter(con, layout, source, stream.raw_table(), stream.staging)
            # The load keeps the records' own lineage: their original file and line.
            con.execute("CREATE OR REPLACE TEMP TABLE _replay_ok AS SELECT _file AS qid FROM _checked "
                        "WHERE _reason IS NULL")
            con.execute("DELETE FROM _checked WHERE _reason IS NOT NULL")
            con.execute("UPDATE _checked SET _file = r.file, _line = r.line FROM _replay r WHERE _checked._file = r.qid")
            writer.begin_input()
            writer.add_checked("_checked")
            writer.end_input()

            def mark_resolved(tx: duckdb.DuckDBPyConnection, moved: list[Path], load_id=writer.load_id) -> None:
                loaded_lines = "SELECT NULL AS file, NULL AS line WHERE FALSE"
                if moved:
                    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in moved) + "]"
                    loaded_lines = f"SELECT _file AS file, _line AS line FROM read_parquet({files})"
                tx.execute(f"""UPDATE raw.quarantine SET resolved_at = ?, resolved_load_id = ?,
                        resolution = CASE WHEN EXISTS (SELECT 1 FROM ({loaded_lines}) l
                            WHERE l.file IS NOT DISTINCT FROM raw.quarantine.file
                            AND l.line IS NOT DISTINCT FROM raw.quarantine.line) THEN 'loaded' ELSE 'duplicate' END
                    WHERE {QID_SQL} IN (SELECT qid FROM _replay_ok) AND resolved_at IS NULL""",
                           [utcnow(), load_id])

            load = writer.commit(before_commit=mark_resolved)
            result.load_id = load.load_id
            result.loaded, result.duplicate = load.rows_loaded, load.rows_duplicate
            con.execute("DROP TABLE IF EXISTS _replay_ok")
            results.append(result)
        for (source, stream_name), count in skipped.items():
            results.append(ReplayResult(None, source, stream_name, skipped_suppressed=count, dry_run=dry_run))
        con.execute("DROP TABLE IF EXISTS _replay")
        con.execute("DROP TABLE IF EXISTS _checked")
    finally:
        con.close()
    return results


def as_dicts(results: list[ReplayResult]) -> list[dict[str, Any]]:
    return [r.__dict__ for r in results]


def age(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = (datetime.now(timezone.utc).replace(tzinfo=None) - moment).total_seconds()
    return f"{seconds / 86400:.0f} d" if seconds >= 86400 else f"{seconds / 3600:.0f} h" if seconds >= 3600 \
        else f"{seconds / 60:.0f} min"
