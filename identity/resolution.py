"""`identity.resolve(home_or_con, mode=...)`: staging.customer_records -> identity.* tables.

full: normalize every staging record, rebuild the graph, retrain the model, re-cluster, and map
clusters to the previous customer ids (stable ids, merge/split history).
incremental: normalize only records not yet in identity.record_map, and re-resolve only the part
of the graph they touch (the customers sharing an identifier or a blocking key with them), with the
stored model; everything else keeps its assignment untouched.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from config.identity import IdentitySettings, load_identity_settings
from identity import incremental
from identity.comparisons import NAMED_COLUMNS, comparisons_for
from identity.engine import frame_term_frequencies, match_columns, run_engine, term_frequencies
from identity.graph import identifier_table, screen_values
from identity.model import MatchModel
from identity.parallel_normalize import normalize_groups
from identity.protection import mask_identifier
from identity.schema import ensure_identity_tables, table_exists
from identity.stable_ids import assign_customer_ids
from warehouse.connection import connect_home


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


def normalize_staging(staging: pl.DataFrame, settings: IdentitySettings) -> pl.DataFrame:
    """normalize_frame per default phone region (from config, per source), on every core when large."""
    by_region: dict[str | None, list[str]] = {}
    for source in staging["source"].unique().sort().to_list():
        by_region.setdefault(settings.default_region.get(source), []).append(source)
    groups = [(staging.filter(pl.col("source").is_in(sources)), region) for region, sources in by_region.items()]
    return normalize_groups(groups)


def _read_staging(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not table_exists(con, "staging", "customer_records"):
        raise FileNotFoundError(
            "no staging.customer_records in this warehouse: run `cdp ingest --home HOME` first"
        )
    return pl.from_arrow(con.execute("SELECT * FROM staging.customer_records").to_arrow_table())


def _replace(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("_frame", frame.to_arrow())
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _frame")
    con.unregister("_frame")


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    con.register("_frame", frame.to_arrow())
    cols = ", ".join(frame.columns)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _frame")
    con.unregister("_frame")


def _keyed(records: pl.DataFrame, recs: pl.Series, prefix: str) -> pl.DataFrame:
    keys = records.select("source", "record_id")
    return keys.gather(recs).rename({"source": f"{prefix}_source", "record_id": f"{prefix}_record_id"})


def resolve(
    home_or_con: str | Path | duckdb.DuckDBPyConnection,
    mode: str = "incremental",
    settings: IdentitySettings | None = None,
    debug: bool | None = None,
) -> ResolveSummary:
    """Resolve staging records into customers; `mode` is "full" or "incremental".

    An incremental run on a warehouse that was never resolved is a full run.
    """
    if mode not in ("full", "incremental"):
        raise ValueError(f"mode must be 'full' or 'incremental', not {mode!r}")
    settings = settings or load_identity_settings()
    if debug is not None:
        settings = settings.model_copy(update={"debug": debug})
    own = not isinstance(home_or_con, duckdb.DuckDBPyConnection)
    con = connect_home(home_or_con) if own else home_or_con
    try:
        return _resolve(con, mode, settings)
    finally:
        if own:
            con.close()


def _resolve(con: duckdb.DuckDBPyConnection, mode: str, settings: IdentitySettings) -> ResolveSummary:
    run_id = _new_run_id()
    started = _now()
    steps: dict[str, float] = {}
    ensure_identity_tables(con)
    t = time.perf_counter()
    if not table_exists(con, "staging", "customer_records"):
        _read_staging(con)  # raises the "run cdp ingest first" error
    resolved_before = con.execute("SELECT count(*) FROM identity.record_map").fetchall()[0][0]
    if resolved_before == 0 or not table_exists(con, "identity", "normalized_records"):
        mode = "full"
    model = None
    screened = None
    if mode == "full":
        staging = _read_staging(con).unique(subset=["source", "record_id"], keep="last", maintain_order=True)
        previous = pl.from_arrow(con.sql(
            "SELECT source, record_id, customer_id, first_assigned_at FROM identity.record_map").to_arrow_table())
        steps["read_staging"] = time.perf_counter() - t
        t = time.perf_counter()
        normalized = normalize_staging(staging, settings).sort("source", "record_id")
        new_count = staging.join(previous, on=["source", "record_id"], how="anti").height
        del staging
        steps["normalize"] = time.perf_counter() - t
        # the customer id joined on the keys alone, then added as a column: the record columns are
        # shared with `normalized`, not copied (a full join held every record twice)
        ids = normalized.select("source", "record_id").join(
            previous.select("source", "record_id", "customer_id"), on=["source", "record_id"], how="left",
            maintain_order="left")
        subset = normalized.with_columns(ids["customer_id"]).with_row_index("rec")
        del ids
        if not settings.match.retrain:
            model = _stored_model(con)
        # value frequencies over every record, so full and incremental runs weigh a name alike
        tf_tables = (frame_term_frequencies(con, normalized, comparisons_for(match_columns(normalized)))
                     if settings.match.term_frequency_adjustment else {})
        fresh = None
    else:
        # only the new staging rows are read and normalized; what they touch is found in SQL
        fresh_staging = pl.from_arrow(con.sql(
            "SELECT s.* FROM staging.customer_records s ANTI JOIN identity.record_map m USING (source, record_id)"
        ).to_arrow_table()).unique(subset=["source", "record_id"], keep="last", maintain_order=True)
        new_count = fresh_staging.height
        steps["read_staging"] = time.perf_counter() - t
        if new_count == 0:
            return _finish_noop(con, run_id, started, steps)
        t = time.perf_counter()
        fresh = normalize_staging(fresh_staging, settings).sort("source", "record_id")
        steps["normalize"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            incremental.register_records(con, fresh)
            cols = incremental.match_columns_sql(con, [c for c in fresh.columns if c in NAMED_COLUMNS])
            subset, carriers = incremental.affected(con, fresh, settings, cols)
            utc = [pl.col("event_time").dt.convert_time_zone("UTC")]
            subset = subset.with_columns(utc).sort("source", "record_id").with_row_index("rec")
            carriers = carriers.with_columns(utc).with_row_index("rec")
            screened = screen_values(identifier_table(carriers, settings.deterministic.priority), carriers,
                                     settings.deterministic)
            tf_tables = (term_frequencies(con, incremental.ALL_RECORDS, comparisons_for(cols))
                         if settings.match.term_frequency_adjustment else {})
        finally:
            incremental.cleanup(con)
        previous = pl.from_arrow(con.sql(
            "SELECT source, record_id, customer_id, first_assigned_at FROM identity.record_map "
            "WHERE customer_id IS NOT NULL").to_arrow_table()).join(
            subset.select("source", "record_id"), on=["source", "record_id"], how="semi")
        model = _stored_model(con)
        steps["affected_set"] = time.perf_counter() - t
    local = subset.drop("rec").with_row_index("rec")
    result = run_engine(local, settings, model=model, screened=screened, tf_tables=tf_tables, con=con)
    steps.update(result.steps)

    t = time.perf_counter()
    assignment = local.select("source", "record_id", pl.Series("cluster", result.labels).cast(pl.Int64))
    prev_subset = previous.join(local.select("source", "record_id"), on=["source", "record_id"], how="semi")
    used = set(pl.from_arrow(con.execute(
        "SELECT customer_id FROM identity.customers UNION SELECT old_customer_id FROM identity.id_history "
        "UNION SELECT new_customer_id FROM identity.id_history"
    ).to_arrow_table())["customer_id"].to_list())
    mapping, history = assign_customer_ids(assignment, prev_subset, used)
    now = _now()
    record_map = (
        assignment.join(mapping, on="cluster")
        .join(prev_subset.select("source", "record_id", "first_assigned_at"), on=["source", "record_id"], how="left")
        .select("source", "record_id", "customer_id",
                pl.col("first_assigned_at").fill_null(pl.lit(now)), pl.lit(run_id).alias("run_id"))
    )
    steps["stable_ids"] = time.perf_counter() - t

    t = time.perf_counter()
    det_edges = pl.concat([
        _keyed(local, result.deterministic_edges["rec_left"], "left"),
        _keyed(local, result.deterministic_edges["rec_right"], "right"),
    ], how="horizontal").with_columns(
        pl.lit("deterministic").alias("edge_kind"), result.deterministic_edges["identifier_type"],
        pl.lit(None, pl.Float64).alias("match_probability"), pl.lit(None, pl.Float64).alias("match_weight"),
        pl.lit(run_id).alias("run_id"),
    )
    pe = result.probabilistic_edges
    prob_edges = pl.concat([
        _keyed(local, pe["rec_left"], "left"), _keyed(local, pe["rec_right"], "right"),
    ], how="horizontal").with_columns(
        pl.lit("probabilistic").alias("edge_kind"), pl.lit(None, pl.Utf8).alias("identifier_type"),
        pe["match_probability"], pe["match_weight"], pl.lit(run_id).alias("run_id"),
    )
    comparisons = _edge_comparisons(local, pe, result.comparisons, run_id)
    rj = result.rejected
    rejected = pl.concat([
        _keyed(local, rj["rec_left"], "left"), _keyed(local, rj["rec_right"], "right"),
    ], how="horizontal").with_columns(
        rj["edge_kind"], rj["identifier_type"],
        rj["value"].map_elements(mask_identifier, return_dtype=pl.Utf8).alias("masked_value"),
        rj["match_probability"], rj["reason"], pl.lit(run_id).alias("run_id"),
    )
    steps["edge_tables"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        if mode == "full":
            _replace(con, "identity.normalized_records", normalized)
        else:
            con.register("_fresh_keys", fresh.select("source", "record_id").to_arrow())
            con.execute("DELETE FROM identity.normalized_records WHERE (source, record_id) IN "
                        "(SELECT (source, record_id) FROM _fresh_keys)")
            con.unregister("_fresh_keys")
            _insert(con, "identity.normalized_records", fresh)
        if mode == "full":
            for table, frame in (("identity.record_map", record_map), ("identity.edges", det_edges),
                                 ("identity.rejected_edges", rejected), ("identity.edge_comparisons", comparisons)):
                con.execute(f"DELETE FROM {table}")
                _insert(con, table, frame)
            _insert(con, "identity.edges", prob_edges)
        else:
            con.register("_touched", local.select("source", "record_id").to_arrow())
            con.execute("DELETE FROM identity.record_map WHERE (source, record_id) IN (SELECT (source, record_id) FROM _touched)")
            for table in ("identity.edges", "identity.rejected_edges", "identity.edge_comparisons"):
                con.execute(f"DELETE FROM {table} WHERE (left_source, left_record_id) IN "
                            f"(SELECT (source, record_id) FROM _touched)")
            con.unregister("_touched")
            _insert(con, "identity.record_map", record_map)
            _insert(con, "identity.edges", det_edges)
            _insert(con, "identity.edges", prob_edges)
            _insert(con, "identity.rejected_edges", rejected)
            _insert(con, "identity.edge_comparisons", comparisons)
        _insert(con, "identity.id_history", history.with_columns(
            pl.lit(now).alias("changed_at"), pl.lit(run_id).alias("run_id")))
        _rebuild_customers(con, run_id)
        if mode == "full" and result.model is not None and settings.match.retrain:
            _insert(con, "identity.match_weights", result.model.to_frame(run_id))
        if result.histogram is not None and result.histogram.height:
            _insert(con, "identity.match_weight_histogram", result.histogram.with_columns(
                pl.lit(run_id).alias("run_id"), pl.lit(settings.match.threshold).alias("threshold")))
        steps["write_tables"] = time.perf_counter() - t
        summary = ResolveSummary(
            run_id=run_id, mode=mode,
            records=con.execute("SELECT count(*) FROM identity.normalized_records").fetchall()[0][0],
            new_records=new_count,
            customers=con.execute("SELECT count(*) FROM identity.customers").fetchall()[0][0],
            deterministic_edges=det_edges.height, probabilistic_edges=prob_edges.height,
            rejected_edges=rejected.height, signatures=result.stats.get("signatures", 0),
            candidate_pairs=result.stats.get("candidate_pairs", 0),
            skipped_blocks=result.stats.get("skipped_blocks", 0),
            merges=history.filter(pl.col("reason") == "merge").height,
            splits=history.filter(pl.col("reason") == "split").height,
            rejected_by_reason=dict(rejected.group_by("reason").len().sort("reason").iter_rows()),
            step_seconds={k: round(v, 3) for k, v in steps.items()},
        )
        _record_run(con, summary, started, "ok")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return summary


def _stored_model(con: duckdb.DuckDBPyConnection) -> MatchModel | None:
    """The m/u weights of the last run that trained them."""
    weights = pl.from_arrow(con.execute(
        "SELECT * FROM identity.match_weights WHERE run_id = (SELECT w.run_id FROM identity.match_weights w "
        "JOIN identity.runs r USING (run_id) ORDER BY r.started_at DESC LIMIT 1)"
    ).to_arrow_table())
    return MatchModel.from_frame(weights) if weights.height else None


def _edge_comparisons(local: pl.DataFrame, pe: pl.DataFrame, compared, run_id: str) -> pl.DataFrame:
    schema = {"left_source": pl.Utf8, "left_record_id": pl.Utf8, "right_source": pl.Utf8,
              "right_record_id": pl.Utf8, "comparison": pl.Utf8, "level": pl.Int8,
              "level_name": pl.Utf8, "weight": pl.Float64, "run_id": pl.Utf8}
    if pe.height == 0:
        return pl.DataFrame(schema=schema)
    keyed = pl.concat([_keyed(local, pe["rec_left"], "left"), _keyed(local, pe["rec_right"], "right")],
                      how="horizontal")
    parts = []
    for comp in compared:
        if f"w_{comp.name}" not in pe.columns:
            continue
        parts.append(keyed.with_columns(
            pl.lit(comp.name).alias("comparison"), pe[comp.name].cast(pl.Int8).alias("level"),
            pe[comp.name].cast(pl.Int64).replace_strict(comp.names, default="?", return_dtype=pl.Utf8).alias("level_name"),
            pe[f"w_{comp.name}"].alias("weight"), pl.lit(run_id).alias("run_id"),
        ))
    return pl.concat(parts).select(list(schema)) if parts else pl.DataFrame(schema=schema)


def _rebuild_customers(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _new_customers AS
        SELECT m.customer_id, count(*) AS record_count,
               CAST(min(n.event_time) AS TIMESTAMP) AS first_seen,
               CAST(max(n.event_time) AS TIMESTAMP) AS last_seen,
               coalesce(any_value(c.created_run_id), ?) AS created_run_id
        FROM identity.record_map m
        LEFT JOIN identity.normalized_records n USING (source, record_id)
        LEFT JOIN identity.customers c USING (customer_id)
        GROUP BY m.customer_id
    """, [run_id])
    con.execute("DELETE FROM identity.customers")
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
