"""`identity.resolve(home_or_con, mode=...)`: staging.customer_records -> identity.* tables.

full: normalize every staging record, rebuild the graph, retrain the model, re-cluster, and map
clusters to the previous customer ids (stable ids, merge/split history).
incremental: normalize only records not yet in identity.record_map, and re-resolve only the part
of the graph they touch (the customers sharing an identifier or a blocking key with them), with the
stored model; everything else keeps its assignment untouched.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from config.identity import IdentitySettings, load_identity_settings
from identity import incremental
from identity.blocking import StoredBlocking
from identity.comparisons import NAMED_COLUMNS, comparisons_for
from identity import rows as rows_module
from identity.engine import match_columns_sql, run_engine, term_frequencies
from identity.model import MatchModel
from identity.normalize import INPUT_COLUMNS, OUTPUT_SCHEMA, normalize_frame
from identity.parallel_normalize import normalize_groups
from identity.protection import mask_identifier
from identity.schema import ensure_identity_tables, table_exists
from identity.scoring import ScoreParts
from identity.stable_ids import assign_customer_ids_sql
from warehouse.connection import connect_home
from warehouse.partitions import MapParts, work_dir


log = logging.getLogger("identity.resolution")


class _Steps(dict):
    """Seconds per step, each logged as it is recorded (the engine's steps log through StepRunner)."""

    def __setitem__(self, name: str, seconds: float) -> None:
        super().__setitem__(name, seconds)
        log.info("identity step %s: %.2f s", name, seconds)


@dataclass
class ResolveSummary:
    run_id: str
    mode: str
    records: int
    new_records: int
    customers: int
    deterministic_edges: int
    probabilistic_edges: int
    rejected_edges: int
    signatures: int = 0
    candidate_pairs: int = 0
    skipped_blocks: int = 0
    merges: int = 0
    splits: int = 0
    rejected_by_reason: dict = field(default_factory=dict)
    step_seconds: dict = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _new_run_id() -> str:
    return "res_" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "_" + uuid.uuid4().hex[:6]


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    con.register("_frame", frame.to_arrow())
    cols = ", ".join(frame.columns)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _frame")
    con.unregister("_frame")


def normalize_staging(staging: pl.DataFrame, settings: IdentitySettings,
                      map_parts: MapParts | None = None) -> pl.DataFrame:
    """normalize_frame per default phone region (from config, per source), on every core when large.

    With `map_parts` (a scale-out executor's map), each region's records go out in parts of at most
    PART_RECORDS, each normalized where the executor runs it."""
    by_region: dict[str | None, list[str]] = {}
    for source in staging["source"].unique().sort().to_list():
        by_region.setdefault(settings.default_region.get(source), []).append(source)
    groups = [(staging.filter(pl.col("source").is_in(sources)), region) for region, sources in by_region.items()]
    if map_parts is None:
        return normalize_groups(groups)
    items = [(_to_ipc(frame.slice(offset, PART_RECORDS)), region) for frame, region in groups
             for offset in range(0, frame.height, PART_RECORDS)]
    parts = [pl.read_ipc(io.BytesIO(payload)) for payload in map_parts(normalize_part, items)]
    return pl.concat(parts) if parts else pl.DataFrame(schema=OUTPUT_SCHEMA)


PART_RECORDS = 250_000


def _to_ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def normalize_part(item: tuple[bytes, str | None]) -> bytes:
    """One part of `normalize_staging` (Arrow IPC in and out): what a scale-out worker runs."""
    payload, region = item
    return _to_ipc(normalize_frame(pl.read_ipc(io.BytesIO(payload)), default_region=region))


# staging columns normalize_frame reads for a record's identity (the rest: record_id, event_time)
_RAW_COLUMNS = tuple(c for c in INPUT_COLUMNS if c not in ("stream", "record_id", "record_type", "event_time", "load_id"))
_RAW_KEY = ", ".join(f'"{c}"' for c in _RAW_COLUMNS)
_ANY_RAW = ", ".join(f'any_value("{c}") AS "{c}"' for c in _RAW_COLUMNS)


# distinct raw tuples normalized per chunk: the chunk, not the warehouse, bounds the memory this
# step takes (at 1M generated customers, 7.7M tuples in one frame went past 11 GB; chunks of 1M
# still swung the process between 4 and 8 GB)
TUPLES_PER_CHUNK = 250_000
_PII = ("email", "phone", "first_name", "last_name", "full_name", "street", "city", "postcode", "region", "country",
        "birth_date")
_ANY_PII = ", ".join(f'any_value("{c}")' for c in ("source", *_PII))
# tuples sharing their personal fields share a chunk, so each distinct value is still parsed once;
# tuples with none (a visitor's cookies and devices) spread by their key: at 1M generated customers
# 2.9M of them made one chunk of 3M tuples and a 4.8 GB swing of the process
_NO_PII = " AND ".join(f'any_value("{c}") IS NULL' for c in _PII)
_CHUNK_OF = f"CASE WHEN {_NO_PII} THEN k1 ELSE hash({_ANY_PII}) END"


def normalize_into(con: duckdb.DuckDBPyConnection, staging_sql: str, settings: IdentitySettings, out: str,
                   map_parts: MapParts | None = None) -> int:
    """Temp table `out` (identity.normalized_records' columns, sorted by source, record_id): the
    staging rows of `staging_sql`, normalized. Each distinct raw identity tuple is normalized once
    (events repeat their visitor's fields), a chunk of tuples at a time, and joined back to its
    records inside DuckDB, so the records never become a Polars frame. Returns the number of records."""
    key = rows_module.key_sql(_RAW_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _id_raw AS SELECT source, record_id, event_time, {key} FROM ({staging_sql})")
    distinct = con.execute("SELECT count(*) FROM (SELECT DISTINCT k1, k2 FROM _id_raw)").fetchall()[0][0]
    chunks = max(1, -(-distinct // TUPLES_PER_CHUNK))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_raw_tuples AS
        SELECT k1, k2, {_ANY_RAW}, ({_CHUNK_OF}) % {chunks} AS _chunk
        FROM (SELECT {key}, {_RAW_KEY} FROM ({staging_sql})) GROUP BY k1, k2
    """)
    columns = [c for c in OUTPUT_SCHEMA if c not in ("record_id", "event_time")]
    con.execute("CREATE OR REPLACE TEMP TABLE _id_tuples (k1 UBIGINT, k2 UBIGINT, "
                + ", ".join(f'"{c}" {_DUCKDB_TYPE.get(c, "VARCHAR")}' for c in columns) + ")")
    for chunk in range(chunks):
        tuples = pl.from_arrow(con.sql(f"SELECT * EXCLUDE (_chunk) FROM _id_raw_tuples WHERE _chunk = {chunk} "
                                       "ORDER BY k1, k2").to_arrow_table())
        # the tuple's number rides through normalize_frame in record_id, which it passes on untouched
        tuples = tuples.with_row_index("_tuple").with_columns(pl.col("_tuple").cast(pl.Utf8).alias("record_id"))
        normalized = normalize_staging(tuples.drop("k1", "k2", "_tuple"), settings, map_parts)
        normalized = normalized.with_columns(pl.col("record_id").cast(pl.UInt32).alias("_tuple")).join(
            tuples.select("_tuple", "k1", "k2"), on="_tuple").select("k1", "k2", *columns)
        del tuples
        _insert(con, "_id_tuples", normalized)
        del normalized
    cols = ", ".join(f't."{c}"' for c in columns if c != "source")
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out} AS
            SELECT t.source, r.record_id, timezone('UTC', r.event_time) AS event_time, {cols}
            FROM _id_raw r JOIN _id_tuples t USING (k1, k2) ORDER BY t.source, r.record_id
        """)
    finally:
        for table in ("_id_raw", "_id_raw_tuples", "_id_tuples"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]


_DUCKDB_TYPE = {"event_time": "TIMESTAMPTZ", "birth_date": "DATE"}


def _staging_sql(con: duckdb.DuckDBPyConnection, new_only: bool) -> str:
    """SQL of the staging rows to resolve: one per (source, record_id), the latest; only records not
    yet mapped when `new_only`."""
    latest = "QUALIFY row_number() OVER (PARTITION BY source, record_id ORDER BY _rowid DESC) = 1"
    if new_only:  # few rows: deduplicate them unasked
        return (f"SELECT * EXCLUDE (_rowid) FROM (SELECT s.*, s.rowid AS _rowid FROM staging.customer_records s "
                f"ANTI JOIN identity.record_map m USING (source, record_id)) {latest}")
    repeated = con.execute("SELECT count(*) > count(DISTINCT (source, record_id)) FROM staging.customer_records"
                           ).fetchall()[0][0]
    if repeated:  # a window over every record only when some record is there twice
        return f"SELECT * EXCLUDE (_rowid) FROM (SELECT *, rowid AS _rowid FROM staging.customer_records) {latest}"
    return "SELECT * FROM staging.customer_records"


def _insert_sql(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    quoted = ", ".join(f'"{c}"' for c in cols)
    con.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM ({select_sql})")


def resolve(
    home_or_con: str | Path | duckdb.DuckDBPyConnection,
    mode: str = "incremental",
    settings: IdentitySettings | None = None,
    debug: bool | None = None,
    map_parts: MapParts | None = None,
    parts: int | None = None,
) -> ResolveSummary:
    """Resolve staging records into customers; `mode` is "full" or "incremental".

    An incremental run on a warehouse that was never resolved is a full run. `map_parts` is a
    scale-out executor's map (warehouse.partitions): normalization parts, and the scoring of the
    candidate pairs in `parts` hash partitions (default 2), run where it sends them; their files go
    under HOME/_parts/ and are removed at the end.
    """
    if mode not in ("full", "incremental"):
        raise ValueError(f"mode must be 'full' or 'incremental', not {mode!r}")
    settings = settings or load_identity_settings()
    if debug is not None:
        settings = settings.model_copy(update={"debug": debug})
    own = not isinstance(home_or_con, duckdb.DuckDBPyConnection)
    con = connect_home(home_or_con) if own else home_or_con
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    if settings.memory_limit:
        con.execute(f"SET memory_limit = '{settings.memory_limit}'")
    score_parts = None
    if map_parts is not None:
        score_parts = ScoreParts(map_parts, parts or 2, _parts_dir(con))
    try:
        return _resolve(con, mode, settings, map_parts, score_parts)
    finally:
        if score_parts is not None:
            shutil.rmtree(score_parts.work, ignore_errors=True)
        con.execute(f"SET memory_limit = '{limit}'")
        incremental.cleanup(con)
        con.execute("DROP VIEW IF EXISTS _id_prev")
        for table in ("_id_normalized", "_id_subset", "_id_assignment", "_id_new_map", "_id_touched_customers",
                      "_id_prev_customers", "_id_prev_map", "_id_skipped_blocks", "_inc_known", "_inc_seeds",
                      "_inc_fresh", "_inc_staging"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        rows_module.drop(con)
        if own:
            con.close()


@dataclass
class _Scope:
    """What a run resolves: `subset` (normalized records to cluster), `all_records` (every record,
    for term frequencies), the merge-protection screen and model to reuse, and the new records."""
    subset: str
    all_records: str
    new_count: int
    screened: pl.DataFrame | None = None
    model: MatchModel | None = None
    blocking: StoredBlocking | None = None


def _full_scope(con, settings: IdentitySettings, map_parts: MapParts | None, steps: dict) -> _Scope:
    t = time.perf_counter()
    normalize_into(con, _staging_sql(con, new_only=False), settings, "_id_normalized", map_parts)
    new_count = con.execute("SELECT count(*) FROM _id_normalized ANTI JOIN identity.record_map "
                            "USING (source, record_id)").fetchall()[0][0]
    con.execute("CREATE OR REPLACE TEMP VIEW _id_prev AS SELECT source, record_id, customer_id, "
                "first_assigned_at FROM identity.record_map")
    steps["normalize"] = time.perf_counter() - t
    model = None if settings.match.retrain else _stored_model(con)
    return _Scope("_id_normalized", "_id_normalized", new_count, model=model)


def _incremental_scope(con, settings: IdentitySettings, map_parts: MapParts | None, steps: dict) -> _Scope | None:
    """Only the new staging rows are read and normalized; what they touch is found in SQL."""
    t = time.perf_counter()
    # the new staging rows once: normalize_into reads its SQL twice, and each read anti-joined every
    # staging row with the whole record map
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_staging AS {_staging_sql(con, new_only=True)}")
    new_count = normalize_into(con, "SELECT * FROM _inc_staging", settings, "_inc_fresh", map_parts)
    con.execute("DROP TABLE _inc_staging")
    steps["normalize"] = time.perf_counter() - t
    if new_count == 0:
        return None
    t = time.perf_counter()
    incremental.register_records(con, "_inc_fresh")
    blocking = _stored_blocking(con)
    # a new record repeating a row that is one customer by its identifiers goes straight there
    rows_module.known_rows(con, "_inc_fresh", out="_inc_known")
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_seeds AS SELECT * FROM _inc_fresh "
                "ANTI JOIN _inc_known USING (source, record_id)")
    steps["known_rows"] = time.perf_counter() - t
    t = time.perf_counter()
    cols = incremental.match_columns_sql(con, [c for c in OUTPUT_SCHEMA if c in NAMED_COLUMNS])
    incremental.affected(con, settings, cols, seeds="_inc_seeds", known="_inc_known", out="_id_subset",
                         carriers="_inc_carriers", blocking=blocking)
    screen_started = time.perf_counter()
    screened = rows_module.screen_relation(con, "_inc_carriers", settings.deterministic)
    log.info("affected set: merge protection's screen %.1f s", time.perf_counter() - screen_started)
    # a table, not a view: stable ids read it four times, and each read of a view scanned the whole map
    con.execute("CREATE OR REPLACE TEMP TABLE _id_prev_map AS SELECT m.source, m.record_id, m.customer_id, "
                "m.first_assigned_at FROM identity.record_map m SEMI JOIN _id_subset USING (source, record_id) "
                "WHERE m.customer_id IS NOT NULL")
    con.execute("CREATE OR REPLACE TEMP VIEW _id_prev AS SELECT * FROM _id_prev_map")
    steps["affected_set"] = time.perf_counter() - t
    log.info("incremental run: %s new records reach %s records to re-resolve", f"{new_count:,}",
             f"{con.execute('SELECT count(*) FROM _id_subset').fetchall()[0][0]:,}")
    return _Scope("_id_subset", incremental.ALL_RECORDS, new_count, screened, _stored_model(con), blocking)


def _parts_dir(con: duckdb.DuckDBPyConnection) -> Path:
    """A fresh folder for the parts' files: under HOME/_parts/ beside the warehouse file (a remote
    worker sees the home), or a temporary folder for an in-memory database (local mappers only)."""
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][0]
    if not path:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="cdp-identity-parts-"))
    return work_dir(Path(path).parent, "identity")


def _resolve(con: duckdb.DuckDBPyConnection, mode: str, settings: IdentitySettings,
             map_parts: MapParts | None, score_parts: ScoreParts | None) -> ResolveSummary:
    run_id = _new_run_id()
    started = _now()
    steps: dict[str, float] = _Steps()
    ensure_identity_tables(con)
    if not table_exists(con, "staging", "customer_records"):
        raise FileNotFoundError(
            "no staging.customer_records in this warehouse: run `cdp ingest --home HOME` first"
        )
    resolved_before = con.execute("SELECT count(*) FROM identity.record_map").fetchall()[0][0]
    if resolved_before == 0 or not table_exists(con, "identity", "normalized_records"):
        mode = "full"
    scope = (_full_scope if mode == "full" else _incremental_scope)(con, settings, map_parts, steps)
    if scope is None:
        return _finish_noop(con, run_id, started, steps)

    t = time.perf_counter()
    identity_rows = rows_module.collapse(con, scope.subset, settings.deterministic, scope.screened)
    local = identity_rows.rows
    # value frequencies over every record, so full and incremental runs weigh a name alike
    tf_tables = (term_frequencies(con, scope.all_records, comparisons_for(match_columns_sql(con, identity_rows.relation)))
                 if settings.match.term_frequency_adjustment else {})
    steps["identity_rows"] = time.perf_counter() - t
    result = run_engine(local, settings, model=scope.model, screened=identity_rows.screened, tf_tables=tf_tables,
                        con=con, score_parts=score_parts, identifiers=identity_rows.identifiers,
                        relation=identity_rows.relation, stored_blocking=scope.blocking,
                        record_blocking=mode == "full")
    steps.update(result.steps)
    # the identifier keys and term frequencies served the engine; the writes need neither (at 1M
    # generated customers the keys are tens of millions of integers)
    identity_rows.identifiers = None
    del tf_tables

    t = time.perf_counter()
    now = _now()
    mapping, history = _assign_customer_ids(con, local, result.labels, mode, run_id, now)
    steps["stable_ids"] = time.perf_counter() - t
    t = time.perf_counter()
    edges = _edges(con, result, identity_rows, run_id)
    steps["edge_tables"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        _write(con, mode, run_id, now, edges, history)
        if mode == "full":
            _store_blocking(con, result.stats.get("blocking_rules", []), run_id)
        if mode == "full" and result.model is not None and settings.match.retrain:
            _insert(con, "identity.match_weights", result.model.to_frame(run_id))
        if result.histogram is not None and result.histogram.height:
            _insert(con, "identity.match_weight_histogram", result.histogram.with_columns(
                pl.lit(run_id).alias("run_id"), pl.lit(settings.match.threshold).alias("threshold")))
        steps["write_tables"] = time.perf_counter() - t
        summary = _summary(con, run_id, mode, scope.new_count, result, edges, history, steps)
        _record_run(con, summary, started, "ok")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("_id_mapping", *_EDGE_FRAMES):
            con.unregister(name)
    return summary


def _assign_customer_ids(con, local: pl.DataFrame, labels: pl.Series, mode: str, run_id: str,
                         now: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Temp table `_id_new_map` (the record map rows to write) from each row's cluster label; returns
    the cluster -> customer id mapping (registered as `_id_mapping`) and the id history rows."""
    # every record follows its row's cluster; a record of a row that can never link is its own
    con.register("_id_row_labels", pl.DataFrame({"rec": local["rec"], "cluster": labels.cast(pl.Int64)}).to_arrow())
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _id_row_clusters AS SELECT * FROM _id_row_labels")
    finally:
        con.unregister("_id_row_labels")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_assignment AS
        SELECT m.source, m.record_id, l.cluster FROM {rows_module.MEMBERS} m JOIN _id_row_clusters l USING (rec)
        WHERE NOT m.per_record
        UNION ALL
        SELECT source, record_id, {local.height} + row_number() OVER (ORDER BY source, record_id) AS cluster
        FROM {rows_module.MEMBERS} WHERE per_record
    """)
    used = ("SELECT customer_id FROM identity.customers UNION SELECT old_customer_id FROM identity.id_history "
            "UNION SELECT new_customer_id FROM identity.id_history")
    mapping, history = assign_customer_ids_sql(con, "_id_assignment", "_id_prev", used)
    con.register("_id_mapping", mapping.to_arrow())
    # built before the transaction replaces the map it reads the first assignment times from
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_new_map AS
        SELECT a.source, a.record_id, c.customer_id, coalesce(p.first_assigned_at, ?::TIMESTAMP) AS first_assigned_at,
               '{run_id}' AS run_id
        FROM _id_assignment a JOIN _id_mapping c USING (cluster) LEFT JOIN _id_prev p USING (source, record_id)
    """, [now])
    if mode == "incremental":
        # the known records the re-resolved customers did not take in keep the customer they found
        con.execute(f"INSERT INTO _id_new_map SELECT source, record_id, customer_id, ?::TIMESTAMP, '{run_id}' "
                    "FROM _inc_known ANTI JOIN _id_subset USING (source, record_id)", [now])
        con.execute("CREATE OR REPLACE TEMP TABLE _id_prev_customers AS SELECT DISTINCT customer_id FROM _id_prev")
        con.execute("CREATE OR REPLACE TEMP TABLE _id_touched_customers AS SELECT customer_id FROM _id_new_map "
                    "UNION SELECT customer_id FROM _id_prev_customers")
    return mapping, history


# each edge frame of a run, registered in DuckDB as integers (rec_left, rec_right, ...)
_EDGE_FRAMES = ("_id_det_pairs", "_id_prob_pairs", "_id_rejected_pairs", "_id_comparison_pairs", "_id_refused_within")


def _keyed_sql(pairs: str, select: str) -> str:
    """The pairs of rows in `pairs` (rec_left, rec_right) as records: each row's first record,
    from the rows' DuckDB table, so no string column of millions of edges is built in Polars."""
    return f"""
        SELECT l.source AS left_source, l.record_id AS left_record_id, r.source AS right_source,
               r.record_id AS right_record_id, {select}
        FROM {pairs} e JOIN {rows_module.ROWS} l ON l.rec = e.rec_left JOIN {rows_module.ROWS} r ON r.rec = e.rec_right"""


@dataclass
class _Edges:
    """Edge rows of one run as SQL over frames of integers registered in DuckDB (`_EDGE_FRAMES`)
    and the rows' tables: between rows, keyed by each row's first record, and within rows."""
    deterministic_sql: str
    probabilistic_sql: str
    comparisons_sql: str
    rejected_sql: str
    within_rows_sql: str
    refused_within_sql: str
    probabilistic: int


def _masked(frame: pl.DataFrame) -> pl.DataFrame:
    """`value` replaced by `masked_value`, masked once per distinct value."""
    values = frame.select(pl.col("value").unique())
    values = values.with_columns(pl.col("value").map_elements(mask_identifier, return_dtype=pl.Utf8).alias("masked_value"))
    return frame.join(values, on="value", how="left", nulls_equal=True).drop("value")


def _edges(con, result, identity_rows, run_id: str) -> _Edges:
    run = f"'{run_id}' AS run_id"
    con.register("_id_det_pairs", result.deterministic_edges.select("rec_left", "rec_right", "identifier_type").to_arrow())
    deterministic_sql = _keyed_sql("_id_det_pairs", "'deterministic' AS edge_kind, e.identifier_type, "
                                   f"NULL::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight, {run}")
    # the records of one row share its identifiers: a star from its first record, typed by the best one
    within_rows_sql = f"""
        SELECT f.source AS left_source, f.record_id AS left_record_id, m.source AS right_source,
               m.record_id AS right_record_id, 'deterministic' AS edge_kind, f.link_type AS identifier_type,
               NULL::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight, {run}
        FROM {rows_module.MEMBERS} m JOIN {rows_module.ROWS} f USING (rec)
        WHERE f.link_type IS NOT NULL AND f.records > 1 AND NOT (m.source = f.source AND m.record_id = f.record_id)"""
    pe = result.probabilistic_edges
    con.register("_id_prob_pairs", pe.select("rec_left", "rec_right", "match_probability", "match_weight").to_arrow())
    probabilistic_sql = _keyed_sql("_id_prob_pairs", "'probabilistic' AS edge_kind, NULL::VARCHAR AS identifier_type, "
                                   f"e.match_probability, e.match_weight, {run}")
    con.register("_id_rejected_pairs", _masked(result.rejected.select(
        "rec_left", "rec_right", "edge_kind", "identifier_type", "value", "match_probability", "reason")).to_arrow())
    rejected_sql = _keyed_sql("_id_rejected_pairs", "e.edge_kind, e.identifier_type, e.masked_value, "
                              f"e.match_probability, e.reason, {run}")
    # the records of a row that can never link share only refused values: the refusals, as star edges
    con.register("_id_refused_within", _masked(identity_rows.refused_within).to_arrow())
    refused_within_sql = f"""
        SELECT f.source AS left_source, f.record_id AS left_record_id, m.source AS right_source,
               m.record_id AS right_record_id, 'deterministic' AS edge_kind, w.identifier_type, w.masked_value,
               NULL::DOUBLE AS match_probability, w.reason, {run}
        FROM {rows_module.MEMBERS} m JOIN _id_refused_within w USING (rec) JOIN {rows_module.ROWS} f USING (rec)
        WHERE m.per_record AND NOT (m.source = f.source AND m.record_id = f.record_id)"""
    con.register("_id_comparison_pairs", _comparison_levels(pe, result.comparisons).to_arrow())
    comparisons_sql = _keyed_sql("_id_comparison_pairs", f"e.comparison, e.level, e.level_name, e.weight, {run}")
    return _Edges(deterministic_sql, probabilistic_sql, comparisons_sql, rejected_sql, within_rows_sql,
                  refused_within_sql, pe.height)


def _write(con, mode: str, run_id: str, now: datetime, edges: _Edges, history: pl.DataFrame) -> None:
    """Every identity table of the run, inside the caller's transaction."""
    log.info("writing identity tables")
    if mode == "full":
        con.execute("CREATE OR REPLACE TABLE identity.normalized_records AS SELECT * FROM _id_normalized")
        for table in ("identity.record_map", "identity.edges", "identity.rejected_edges",
                      "identity.edge_comparisons", "identity.identity_rows"):
            con.execute(f"DELETE FROM {table}")
    else:
        con.execute("DELETE FROM identity.normalized_records WHERE (source, record_id) IN "
                    "(SELECT (source, record_id) FROM _inc_fresh)")
        _insert_sql(con, "identity.normalized_records", "SELECT * FROM _inc_fresh")
        con.execute("DELETE FROM identity.record_map WHERE (source, record_id) IN "
                    "(SELECT (source, record_id) FROM _id_subset)")
        for table in ("identity.edges", "identity.rejected_edges", "identity.edge_comparisons"):
            con.execute(f"DELETE FROM {table} WHERE (left_source, left_record_id) IN "
                        f"(SELECT (source, record_id) FROM _id_subset)")
        # the re-resolved customers' rows are written anew; a known record adds one to its row
        con.execute("DELETE FROM identity.identity_rows WHERE customer_id IN "
                    "(SELECT customer_id FROM _id_prev_customers)")
        con.execute("""
            UPDATE identity.identity_rows r SET records = r.records + k.n
            FROM (SELECT k1, k2, count(*) AS n FROM _inc_known ANTI JOIN _id_subset USING (source, record_id)
                  GROUP BY k1, k2) k
            WHERE r.k1 = k.k1 AND r.k2 = k.k2""")
        _insert_sql(con, "identity.edges", f"""
            SELECT first_source AS left_source, first_record_id AS left_record_id, source AS right_source,
                   record_id AS right_record_id, 'deterministic' AS edge_kind, link_type AS identifier_type,
                   NULL::DOUBLE AS match_probability, NULL::DOUBLE AS match_weight, '{run_id}' AS run_id
            FROM _inc_known ANTI JOIN _id_subset USING (source, record_id)""")
    log.info("normalized records written")
    con.execute("INSERT INTO identity.record_map SELECT * FROM _id_new_map ORDER BY source, record_id")
    log.info("record map written")
    _insert_sql(con, "identity.identity_rows", rows_module.stored_rows_sql(run_id))
    for table, sql in (("identity.edges", edges.deterministic_sql), ("identity.edges", edges.within_rows_sql),
                       ("identity.edges", edges.probabilistic_sql), ("identity.rejected_edges", edges.rejected_sql),
                       ("identity.rejected_edges", edges.refused_within_sql),
                       ("identity.edge_comparisons", edges.comparisons_sql)):
        _insert_sql(con, table, sql)
    log.info("edges written")
    _insert(con, "identity.id_history", history.with_columns(
        pl.lit(now).alias("changed_at"), pl.lit(run_id).alias("run_id")))
    _rebuild_customers(con, run_id, touched=None if mode == "full" else "_id_touched_customers")


def _summary(con, run_id: str, mode: str, new_count: int, result, edges: _Edges, history: pl.DataFrame,
             steps: dict) -> ResolveSummary:
    def one(sql: str, *params):
        return con.execute(sql, list(params)).fetchall()[0][0]

    return ResolveSummary(
        run_id=run_id, mode=mode,
        records=one("SELECT count(*) FROM identity.normalized_records"),
        new_records=new_count,
        customers=one("SELECT count(*) FROM identity.customers"),
        deterministic_edges=one("SELECT count(*) FROM identity.edges WHERE run_id = ? AND edge_kind = "
                                "'deterministic'", run_id),
        probabilistic_edges=edges.probabilistic,
        rejected_edges=one("SELECT count(*) FROM identity.rejected_edges WHERE run_id = ?", run_id),
        signatures=result.stats.get("signatures", 0),
        candidate_pairs=result.stats.get("candidate_pairs", 0),
        skipped_blocks=result.stats.get("skipped_blocks", 0),
        merges=history.filter(pl.col("reason") == "merge").height,
        splits=history.filter(pl.col("reason") == "split").height,
        rejected_by_reason=dict(con.execute("SELECT reason, count(*) FROM identity.rejected_edges WHERE run_id = ? "
                                            "GROUP BY reason ORDER BY reason", [run_id]).fetchall()),
        step_seconds={k: round(v, 3) for k, v in steps.items()},
    )


def _store_blocking(con: duckdb.DuckDBPyConnection, rules: list[dict], run_id: str) -> None:
    """A full run's blocking decisions (identity.blocking_rules, identity.skipped_blocks), which
    the incremental runs after it keep (blocking.StoredBlocking)."""
    con.execute("DELETE FROM identity.blocking_rules")
    con.execute("DELETE FROM identity.skipped_blocks")
    if not rules:  # matching off or nothing to compare: incremental runs block as a full run would
        return
    _insert(con, "identity.blocking_rules", pl.DataFrame(
        [(r["rule"], r["comparisons"], r["block_size_cap"], r["skipped_blocks"]) for r in rules],
        schema={"rule": pl.Utf8, "comparisons": pl.Int64, "block_size_cap": pl.Int64, "skipped_blocks": pl.Int64},
        orient="row").with_columns(pl.lit(run_id).alias("run_id")))
    con.execute(f"INSERT INTO identity.skipped_blocks SELECT rule, key_hash, '{run_id}' FROM _id_skipped_blocks")


def _stored_blocking(con: duckdb.DuckDBPyConnection) -> StoredBlocking | None:
    caps = dict(con.execute("SELECT rule, block_size_cap FROM identity.blocking_rules").fetchall())
    return StoredBlocking(caps, "identity.skipped_blocks") if caps else None


def _stored_model(con: duckdb.DuckDBPyConnection) -> MatchModel | None:
    """The m/u weights of the last run that trained them."""
    weights = pl.from_arrow(con.execute(
        "SELECT * FROM identity.match_weights WHERE run_id = (SELECT w.run_id FROM identity.match_weights w "
        "JOIN identity.runs r USING (run_id) ORDER BY r.started_at DESC LIMIT 1)"
    ).to_arrow_table())
    return MatchModel.from_frame(weights) if weights.height else None


def _comparison_levels(pe: pl.DataFrame, compared) -> pl.DataFrame:
    """One row per probabilistic edge and comparison: rec_left, rec_right, comparison, level,
    level_name, weight (identity.edge_comparisons once keyed)."""
    schema = {"rec_left": pl.UInt32, "rec_right": pl.UInt32, "comparison": pl.Utf8, "level": pl.Int8,
              "level_name": pl.Utf8, "weight": pl.Float64}
    parts = [pe.select(
        pl.col("rec_left").cast(pl.UInt32), pl.col("rec_right").cast(pl.UInt32), pl.lit(comp.name).alias("comparison"),
        pl.col(comp.name).cast(pl.Int8).alias("level"),
        pl.col(comp.name).cast(pl.Int64).replace_strict(comp.names, default="?", return_dtype=pl.Utf8).alias("level_name"),
        pl.col(f"w_{comp.name}").alias("weight"),
    ) for comp in compared if f"w_{comp.name}" in pe.columns] if pe.height else []
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _rebuild_customers(con: duckdb.DuckDBPyConnection, run_id: str, touched: str | None = None) -> None:
    """identity.customers from the record map: every customer, or only the customer ids `touched`
    lists (an incremental run re-maps whole customers, so no other customer's records changed)."""
    only = f"SEMI JOIN {touched} t USING (customer_id)" if touched else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _new_customers AS
        SELECT m.customer_id, count(*) AS record_count,
               CAST(min(n.event_time) AS TIMESTAMP) AS first_seen,
               CAST(max(n.event_time) AS TIMESTAMP) AS last_seen,
               coalesce(any_value(c.created_run_id), ?) AS created_run_id
        FROM (SELECT * FROM identity.record_map m {only}) m
        LEFT JOIN identity.normalized_records n USING (source, record_id)
        LEFT JOIN identity.customers c USING (customer_id)
        GROUP BY m.customer_id
    """, [run_id])
    con.execute(f"DELETE FROM identity.customers WHERE customer_id IN (SELECT customer_id FROM {touched})"
                if touched else "DELETE FROM identity.customers")
    con.execute("INSERT INTO identity.customers SELECT * FROM _new_customers ORDER BY customer_id")
    con.execute("DROP TABLE _new_customers")


def _record_run(con, summary: ResolveSummary, started: datetime, status: str) -> None:
    con.execute(
        "INSERT INTO identity.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [summary.run_id, summary.mode, started, _now(), status, summary.records, summary.new_records,
         summary.customers, summary.deterministic_edges, summary.probabilistic_edges,
         summary.rejected_edges, summary.signatures, summary.candidate_pairs, summary.skipped_blocks,
         json.dumps(summary.step_seconds)],
    )


def _finish_noop(con, run_id, started, steps) -> ResolveSummary:
    summary = ResolveSummary(
        run_id=run_id, mode="incremental",
        records=con.execute("SELECT count(*) FROM identity.normalized_records").fetchall()[0][0], new_records=0,
        customers=con.execute("SELECT count(*) FROM identity.customers").fetchall()[0][0],
        deterministic_edges=0, probabilistic_edges=0, rejected_edges=0,
        step_seconds={k: round(v, 3) for k, v in steps.items()},
    )
    _record_run(con, summary, started, "ok")
    return summary
