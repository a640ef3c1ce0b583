"""Segments: materialize membership from config conditions and keep who entered and who left.

Each run evaluates every configured segment against `profiles.customer_360` (golden fields and
traits), then, in one transaction: closes the open memberships of customers no longer matching
(`exited_at`, `exited_run_id`), opens one for each new match (`entered_at`, `run_id`) and records
the run's sizes in `segments.runs`. A customer who leaves and comes back gets a new membership row,
so the table is the full history and `segments.changes` (a view) lists every enter/exit event.

Tables:
- `segments.membership`: segment, customer_id, entered_at, exited_at (null while a member), run_id
  (the run that saw them enter), exited_run_id, entered_run_seq, exited_run_seq.
- `segments.runs`: run_id, run_seq, run_at, segment, size, entered, exited.
- `segments.changes` (view): segment, customer_id, change (entered|exited), changed_at, run_id, run_seq.

Segments removed from the config keep their history untouched (nothing is evaluated for them).
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb

from config.loader import ConfigError, config_path
from config.segments import SegmentsConfig
from profiles.expressions import (
    ExpressionError, compile_condition, evaluation_failure, fields_used, relation_catalog,
)
from profiles.golden import _existing_columns, require_tables
from profiles.traits import CUSTOMER_VIEW

log = logging.getLogger(__name__)

MEMBERSHIP = "segments.membership"
RUNS = "segments.runs"
CHANGES = "segments.changes"


def ensure_segment_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {MEMBERSHIP} (
            segment VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, entered_at TIMESTAMP NOT NULL,
            exited_at TIMESTAMP, run_id VARCHAR NOT NULL, exited_run_id VARCHAR,
            entered_run_seq INTEGER NOT NULL, exited_run_seq INTEGER)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {RUNS} (
            run_id VARCHAR NOT NULL, run_seq INTEGER NOT NULL, run_at TIMESTAMP NOT NULL,
            segment VARCHAR NOT NULL, size BIGINT NOT NULL, entered BIGINT NOT NULL, exited BIGINT NOT NULL)"""
    )
    con.execute(
        f"""CREATE OR REPLACE VIEW {CHANGES} AS
            SELECT segment, customer_id, 'entered' AS change, entered_at AS changed_at, run_id,
                   entered_run_seq AS run_seq
            FROM {MEMBERSHIP}
            UNION ALL
            SELECT segment, customer_id, 'exited' AS change, exited_at AS changed_at, exited_run_id AS run_id,
                   exited_run_seq AS run_seq
            FROM {MEMBERSHIP} WHERE exited_at IS NOT NULL"""
    )


def compile_segments(con: duckdb.DuckDBPyConnection, config: SegmentsConfig,
                     config_file: str | Path | None = None) -> dict[str, tuple[str, list]]:
    """Each segment's SQL predicate over the customer view; ConfigError lists every problem at once."""
    require_tables(con, [CUSTOMER_VIEW], "run `cdp profiles --home HOME` first")
    config_file = str(config_file or config_path("segments"))
    catalog = relation_catalog(con, CUSTOMER_VIEW)
    compiled, problems = {}, []
    for name, definition in config.segments.items():
        try:
            compiled[name] = compile_condition(definition.where, catalog)
        except ExpressionError as exc:
            problems.append((config_file, f"segments.{name}.{exc.path}", exc.message))
    if problems:
        raise ConfigError(problems)
    return compiled


def run_segments(con: duckdb.DuckDBPyConnection, config: SegmentsConfig, config_file: str | Path | None = None,
                 now: dt.datetime | None = None, only: list[str] | None = None) -> dict:
    """Materialize membership for the configured segments (or `only` these); return sizes and changes."""
    compiled = compile_segments(con, config, config_file)
    if only:
        unknown = sorted(set(only) - set(compiled))
        if unknown:
            raise ValueError(f"unknown segment(s) {unknown}; configured: {', '.join(sorted(compiled))}")
        compiled = {k: v for k, v in compiled.items() if k in only}
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ensure_segment_tables(con)
    run_seq = con.execute(f"SELECT coalesce(max(run_seq), 0) + 1 FROM {RUNS}").fetchone()[0]
    run_id = f"segrun-{run_seq:06d}-{now:%Y%m%dT%H%M%S}"

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _segment_current (segment VARCHAR, customer_id VARCHAR)")
        for name, (predicate, params) in compiled.items():
            failure = None
            try:
                con.execute(
                    f"INSERT INTO _segment_current SELECT DISTINCT CAST(? AS VARCHAR), customer_id "
                    f"FROM {CUSTOMER_VIEW} WHERE {predicate}",
                    [name, *params],
                )
            except duckdb.Error as exc:
                failure = type(exc).__name__
            if failure is not None:
                # Raised outside the except block: DuckDB's message (and the chained error) may
                # quote a customer's value; ours names the segment and its fields only.
                raise ConfigError([(str(config_file or config_path("segments")), f"segments.{name}.where",
                                    evaluation_failure(failure, sorted(fields_used(config.segments[name].where))))])
        con.execute("CREATE OR REPLACE TEMP TABLE _segment_evaluated (segment VARCHAR)")
        con.executemany("INSERT INTO _segment_evaluated VALUES (?)", [[n] for n in compiled])
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _segment_exits AS
            SELECT m.segment, m.customer_id FROM {MEMBERSHIP} m
            WHERE m.exited_at IS NULL AND m.segment IN (SELECT segment FROM _segment_evaluated)
              AND NOT EXISTS (SELECT 1 FROM _segment_current c WHERE c.segment = m.segment
                              AND c.customer_id = m.customer_id)
            """
        )
        con.execute(
            f"""
            UPDATE {MEMBERSHIP} m SET exited_at = CAST(? AS TIMESTAMP), exited_run_id = ?, exited_run_seq = ?
            FROM _segment_exits x
            WHERE m.segment = x.segment AND m.customer_id = x.customer_id AND m.exited_at IS NULL
            """,
            [now, run_id, run_seq],
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _segment_enters AS
            SELECT c.segment, c.customer_id FROM _segment_current c
            WHERE NOT EXISTS (SELECT 1 FROM {MEMBERSHIP} m WHERE m.segment = c.segment
                              AND m.customer_id = c.customer_id AND m.exited_at IS NULL)
            """
        )
        con.execute(
            f"INSERT INTO {MEMBERSHIP} SELECT segment, customer_id, CAST(? AS TIMESTAMP), NULL, ?, NULL, ?, NULL "
            "FROM _segment_enters ORDER BY segment, customer_id",
            [now, run_id, run_seq],
        )
        con.execute(
            f"""
            INSERT INTO {RUNS}
            SELECT ?, ?, CAST(? AS TIMESTAMP), e.segment,
                   (SELECT count(*) FROM _segment_current c WHERE c.segment = e.segment),
                   (SELECT count(*) FROM _segment_enters n WHERE n.segment = e.segment),
                   (SELECT count(*) FROM _segment_exits x WHERE x.segment = e.segment)
            FROM _segment_evaluated e ORDER BY e.segment
            """,
            [run_id, run_seq, now],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for table in ("_segment_current", "_segment_evaluated", "_segment_exits", "_segment_enters"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    rows = con.execute(
        f"SELECT segment, size, entered, exited FROM {RUNS} WHERE run_id = ? ORDER BY segment", [run_id]
    ).fetchall()
    sizes = {seg: {"size": size, "entered": entered, "exited": exited} for seg, size, entered, exited in rows}
    log.info("segments run %s: %d segments", run_id, len(sizes))
    return {"run_id": run_id, "run_seq": run_seq, "segments": sizes}


def segment_members_sql(segment_param: bool = True) -> str:
    """Current members of one segment (`?` = segment name)."""
    return f"SELECT customer_id FROM {MEMBERSHIP} WHERE segment = ? AND exited_at IS NULL"


def has_runs(con: duckdb.DuckDBPyConnection, segment: str) -> bool:
    if not _existing_columns(con, RUNS):
        return False
    return con.execute(f"SELECT count(*) FROM {RUNS} WHERE segment = ?", [segment]).fetchone()[0] > 0
