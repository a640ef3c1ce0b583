"""The figures behind the run report, read defensively from whatever tables the warehouse has.

Each figure is None when its table does not exist yet (a warehouse that was only ingested has no
customers): the report then says "no data yet" with the command that produces it, instead of failing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import duckdb

# Customer sizes in records: one bucket per order of magnitude-ish, since web events make big clusters.
CLUSTER_BUCKETS = [(1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 250),
                   (251, 1000), (1001, None)]
PROBABILITY_BINS = 20
MAX_DAYS = 400
MAX_COMBINATIONS = 15


@dataclass
class Series:
    """An x axis and one list of values per named series."""

    x: list[str]
    series: dict[str, list[float]]


@dataclass
class Bars:
    labels: list[str]
    values: list[float]


@dataclass
class ReportData:
    headline: dict[str, float | None] = field(default_factory=dict)
    loads: list[dict] | None = None  # per source/stream sums of ops.loads
    events_per_day: Series | None = None
    quarantine_reasons: Bars | None = None
    cluster_sizes: Bars | None = None
    match_probabilities: Bars | None = None
    source_overlap: Bars | None = None
    rejected_links: Bars | None = None
    segment_sizes: Series | None = None  # over runs; None when there are no runs yet
    segment_current: Bars | None = None  # latest sizes, shown when there is a single run
    evaluation: dict | None = None


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Column names of a table or view of the current database ([] when it does not exist)."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _has(con, schema: str, table: str, *needed: str) -> bool:
    cols = {c.lower() for c in _columns(con, schema, table)}
    return bool(cols) and all(n.lower() in cols for n in needed)


def _first_present(con, schema: str, table: str, candidates: tuple[str, ...]) -> str | None:
    cols = {c.lower(): c for c in _columns(con, schema, table)}
    return next((cols[c] for c in candidates if c in cols), None)


def _scalar(con, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()[0]


def _safe(func, con):
    """A figure whose source view cannot be read (e.g. Parquet files gone) becomes 'no data'."""
    try:
        return func(con)
    except duckdb.Error:
        return None


def headline(con) -> dict[str, float | None]:
    figures: dict[str, float | None] = {}
    if _has(con, "ops", "loads", "rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate"):
        row = con.execute(
            "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined), sum(rows_duplicate), "
            "count(*) FROM ops.loads").fetchone()
        figures.update(events_read=row[0], events_loaded=row[1], events_quarantined=row[2],
                       events_duplicate=row[3], loads=row[4])
    if _has(con, "staging", "customer_records", "record_id"):
        figures["records"] = _scalar(con, "SELECT count(*) FROM staging.customer_records")
    if _has(con, "identity", "customers", "customer_id"):
        figures["customers"] = _scalar(con, "SELECT count(*) FROM identity.customers")
    elif _has(con, "identity", "record_map", "customer_id"):
        figures["customers"] = _scalar(con, "SELECT count(DISTINCT customer_id) FROM identity.record_map")
    if _has(con, "profiles", "golden", "customer_id"):
        figures["profiles"] = _scalar(con, "SELECT count(*) FROM profiles.golden")
    if _has(con, "segments", "membership", "segment", "exited_at"):
        figures["segments"] = _scalar(
            con, "SELECT count(DISTINCT segment) FROM segments.membership WHERE exited_at IS NULL")
    return figures


def loads_by_stream(con) -> list[dict] | None:
    if not _has(con, "ops", "loads", "source", "stream", "rows_read", "rows_loaded",
                "rows_quarantined", "rows_duplicate"):
        return None
    rows = con.execute(
        "SELECT source, stream, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined), "
        "sum(rows_duplicate) FROM ops.loads GROUP BY ALL ORDER BY source, stream").fetchall()
    keys = ("source", "stream", "loads", "read", "loaded", "quarantined", "duplicate")
    return [dict(zip(keys, r)) for r in rows] or None


def events_per_day(con) -> Series | None:
    """Records per source per day, from staging (every valid event, profile, lead and order)."""
    if not _has(con, "staging", "customer_records", "source", "event_time"):
        return None
    rows = con.execute(
        """SELECT source, CAST(TRY_CAST(event_time AS TIMESTAMP) AS DATE) AS day, count(*) AS n
           FROM staging.customer_records WHERE TRY_CAST(event_time AS TIMESTAMP) IS NOT NULL
           GROUP BY ALL"""
    ).fetchall()
    if not rows:
        return None
    last = max(r[1] for r in rows)
    first = max(min(r[1] for r in rows), last - timedelta(days=MAX_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    sources = sorted({r[0] or "unknown" for r in rows})
    series = {s: [0.0] * len(days) for s in sources}
    for source, day, n in rows:
        if day in index:
            series[source or "unknown"][index[day]] += n
    return Series([d.isoformat() for d in days], series)


def quarantine_reasons(con) -> Bars | None:
    if not _has(con, "raw", "quarantine", "reason"):
        return None
    source = "source" if _has(con, "raw", "quarantine", "source") else "NULL"
    rows = con.execute(
        f"""SELECT coalesce(reason, 'unknown') || coalesce(' (' || {source} || ')', '') AS label,
                   count(*) AS n FROM raw.quarantine GROUP BY ALL ORDER BY n DESC, label LIMIT 25"""
    ).fetchall()
    return Bars([r[0] for r in rows], [r[1] for r in rows]) if rows else None


def cluster_sizes(con) -> Bars | None:
    if _has(con, "identity", "customers", "record_count"):
        sizes = "SELECT record_count AS size FROM identity.customers"
    elif _has(con, "identity", "record_map", "customer_id"):
        sizes = "SELECT count(*) AS size FROM identity.record_map GROUP BY customer_id"
    else:
        return None
    cases = " ".join(
        f"WHEN size BETWEEN {lo} AND {hi} THEN {i}" if hi else f"WHEN size >= {lo} THEN {i}"
        for i, (lo, hi) in enumerate(CLUSTER_BUCKETS))
    rows = dict(con.execute(
        f"SELECT CASE {cases} END AS bucket, count(*) FROM ({sizes}) WHERE size >= 1 GROUP BY 1").fetchall())
    if not rows:
        return None
    labels = [str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+") for lo, hi in CLUSTER_BUCKETS]
    return Bars(labels, [rows.get(i, 0) for i in range(len(CLUSTER_BUCKETS))])


def match_probabilities(con) -> Bars | None:
    if not _has(con, "identity", "edges", "match_probability"):
        return None
    kind = "AND edge_kind = 'probabilistic'" if _has(con, "identity", "edges", "edge_kind") else ""
    rows = dict(con.execute(
        f"""SELECT least(CAST(floor(match_probability * {PROBABILITY_BINS}) AS INTEGER),
                         {PROBABILITY_BINS - 1}) AS bin, count(*)
            FROM identity.edges WHERE match_probability BETWEEN 0 AND 1 {kind} GROUP BY 1"""
    ).fetchall())
    if not rows:
        return None
    width = 1 / PROBABILITY_BINS
    labels = [f"{i * width:.2f}" for i in range(PROBABILITY_BINS)]
    return Bars(labels, [rows.get(i, 0) for i in range(PROBABILITY_BINS)])


def source_overlap(con) -> Bars | None:
    if not _has(con, "identity", "record_map", "customer_id", "source"):
        return None
    rows = con.execute(
        f"""WITH per_customer AS (
                SELECT customer_id, array_to_string(list_sort(list(DISTINCT source)), ' + ') AS sources
                FROM identity.record_map GROUP BY customer_id)
            SELECT sources, count(*) AS n FROM per_customer GROUP BY sources
            ORDER BY n DESC, sources LIMIT {MAX_COMBINATIONS}"""
    ).fetchall()
    return Bars([r[0] for r in rows], [r[1] for r in rows]) if rows else None


def rejected_links(con) -> Bars | None:
    """Links merge protection refused, by reason (placeholder values, shared devices, limits...)."""
    if not _has(con, "identity", "rejected_edges", "reason"):
        return None
    rows = con.execute(
        """SELECT coalesce(reason, 'unknown') AS reason, count(*) AS n FROM identity.rejected_edges
           GROUP BY ALL ORDER BY n DESC, reason LIMIT 20""").fetchall()
    return Bars([r[0] for r in rows], [r[1] for r in rows]) if rows else None


def segment_sizes(con) -> tuple[Series | None, Bars | None]:
    """Segment sizes per run (segments.runs), or the current sizes when there is one run."""
    segment = _first_present(con, "segments", "runs", ("segment", "segment_name", "name"))
    size = _first_present(con, "segments", "runs", ("size", "members", "member_count", "members_count"))
    order = _first_present(con, "segments", "runs",
                           ("run_at", "finished_at", "started_at", "created_at", "ran_at", "run_id"))
    if segment and size and order:
        rows = con.execute(
            f"""SELECT CAST({order} AS VARCHAR) AS run, {segment} AS seg, max({size}) AS n
                FROM segments.runs GROUP BY ALL ORDER BY run""").fetchall()
        runs = sorted({r[0] for r in rows})
        if len(runs) >= 2:
            index = {r: i for i, r in enumerate(runs)}
            segments = sorted({r[1] for r in rows})
            series = {s: [0.0] * len(runs) for s in segments}
            for run, seg, n in rows:
                series[seg][index[run]] = n
            return Series([r[:16] for r in runs], series), None
        if rows:
            rows.sort(key=lambda r: (-r[2], r[1]))
            return None, Bars([r[1] for r in rows], [r[2] for r in rows])
    if _has(con, "segments", "membership", "segment", "exited_at"):
        rows = con.execute(
            "SELECT segment, count(*) AS n FROM segments.membership WHERE exited_at IS NULL "
            "GROUP BY ALL ORDER BY n DESC, segment").fetchall()
        if rows:
            return None, Bars([r[0] for r in rows], [r[1] for r in rows])
    return None, None


def evaluation(con) -> dict | None:
    """The latest stored evaluation against ground truth (ops.evaluations), if any."""
    cols = {c.lower(): c for c in _columns(con, "ops", "evaluations")}
    if "f1" not in cols:
        return None
    order = next((cols[c] for c in ("evaluated_at", "created_at", "run_at", "started_at") if c in cols), None)
    wanted = [cols[c] for c in ("precision", "recall", "f1") if c in cols]
    sql = f"SELECT {', '.join(f'CAST({w} AS DOUBLE)' for w in wanted)} FROM ops.evaluations"
    if order:
        sql += f" ORDER BY {order} DESC"
    row = con.execute(sql + " LIMIT 1").fetchone()
    return dict(zip([w.lower() for w in wanted], row)) if row else None


def collect(con: duckdb.DuckDBPyConnection) -> ReportData:
    data = ReportData()
    data.headline = _safe(headline, con) or {}
    data.loads = _safe(loads_by_stream, con)
    data.events_per_day = _safe(events_per_day, con)
    data.quarantine_reasons = _safe(quarantine_reasons, con)
    data.cluster_sizes = _safe(cluster_sizes, con)
    data.match_probabilities = _safe(match_probabilities, con)
    data.source_overlap = _safe(source_overlap, con)
    data.rejected_links = _safe(rejected_links, con)
    data.segment_sizes, data.segment_current = _safe(segment_sizes, con) or (None, None)
    data.evaluation = _safe(evaluation, con)
    return data
