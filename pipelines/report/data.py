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
    match_weights: dict | None = None     # {"bins": [(low, high, pairs)], "threshold": w, "scope": str}
    m_u: list[dict] | None = None         # per comparison level: comparison, level, level_name, m, u, weight
    prior_weight: float | None = None
    runs: list[dict] | None = None        # resolve runs: label, customers, records, step_seconds
    evaluations: list[dict] | None = None  # evaluations against truth over time
    freshness: list[dict] | None = None   # per source: last event, last load, hours since
    consent: list[dict] | None = None     # per purpose: granted, refused, unknown customers
    syncs: list[dict] | None = None       # per target: latest run's outcome and status


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
    return con.execute(sql, params or []).fetchall()[0][0]


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
            "count(*) FROM ops.loads").fetchall()[0]
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
            return Series(_segment_run_labels(runs), series), None
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


def _segment_run_labels(runs: list[str]) -> list[str]:
    """Run labels that stay distinct within one minute: seconds when needed, and the run's number."""
    minutes = [r[:16] for r in runs]
    return [f"{i + 1}: {(r[5:16] if minutes.count(r[:16]) == 1 else r[5:19])}" for i, r in enumerate(runs)]


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
    row = (con.execute(sql + " LIMIT 1").fetchall() or [None])[0]
    return dict(zip([w.lower() for w in wanted], row)) if row else None


def _weight(probability: float) -> float:
    import math

    probability = min(max(probability, 1e-12), 1 - 1e-12)
    return math.log2(probability / (1 - probability))


def match_weights(con, threshold_probability: float | None = None) -> dict | None:
    """Match weights of scored pairs: identity.match_weight_histogram (every scored pair of the latest
    run) when identity keeps one, else the weights of the links made and refused (what is stored)."""
    threshold = _weight(threshold_probability) if threshold_probability else None
    if _has(con, "identity", "match_weight_histogram", "bin_low", "bin_high", "pairs"):
        has_run = _has(con, "identity", "match_weight_histogram", "run_id")
        latest = ("WHERE run_id = (SELECT max(run_id) FROM identity.match_weight_histogram)" if has_run else "")
        has_t = _has(con, "identity", "match_weight_histogram", "threshold")
        rows = con.execute(
            f"SELECT bin_low, bin_high, sum(pairs), {'max(threshold)' if has_t else 'NULL'} "
            f"FROM identity.match_weight_histogram {latest} GROUP BY ALL ORDER BY 1").fetchall()
        if rows and sum(r[2] or 0 for r in rows):
            stored = next((r[3] for r in rows if r[3] is not None), None)
            if stored is not None:  # stored as a weight, or as a probability (0..1)
                threshold = stored if not 0 < stored < 1 else _weight(stored)
            return {"bins": [(r[0], r[1], r[2]) for r in rows], "threshold": threshold,
                    "scope": "every scored candidate pair of the latest resolve run"}
    if not _has(con, "identity", "edges", "match_weight"):
        return None
    kind = "AND edge_kind = 'probabilistic'" if _has(con, "identity", "edges", "edge_kind") else ""
    weights = [r[0] for r in con.execute(
        f"SELECT match_weight FROM identity.edges WHERE match_weight IS NOT NULL AND isfinite(match_weight) {kind}"
    ).fetchall()]
    if _has(con, "identity", "rejected_edges", "match_probability"):
        weights += [_weight(r[0]) for r in con.execute(
            "SELECT match_probability FROM identity.rejected_edges WHERE match_probability BETWEEN 0 AND 1"
        ).fetchall()]
    if not weights:
        return None
    import math

    low, high = math.floor(min(weights)), math.floor(max(weights))
    counts: dict[int, int] = {}
    for w in weights:
        counts[math.floor(w)] = counts.get(math.floor(w), 0) + 1
    return {"bins": [(b, b + 1, counts.get(b, 0)) for b in range(low, high + 1)], "threshold": threshold,
            "scope": "links made and refused (identity does not store every scored pair)"}


def m_u(con) -> tuple[list[dict] | None, float | None]:
    """m and u per comparison level of the latest model (identity.match_weights), and the prior's weight."""
    if not _has(con, "identity", "match_weights", "comparison", "level_name", "m_probability", "u_probability"):
        return None, None
    latest = ("WHERE run_id = (SELECT max(run_id) FROM identity.match_weights)"
              if _has(con, "identity", "match_weights", "run_id") else "")
    rows = con.execute(
        f"SELECT comparison, level, level_name, CAST(m_probability AS DOUBLE), CAST(u_probability AS DOUBLE), "
        f"CAST(match_weight AS DOUBLE) "
        f"FROM identity.match_weights {latest} ORDER BY comparison, level DESC").fetchall()
    prior = next((r[5] for r in rows if r[0] == "_prior"), None)
    levels = [dict(comparison=r[0], level=r[1], level_name=r[2], m=r[3], u=r[4], weight=r[5]) for r in rows
              if r[0] != "_prior" and r[3] is not None and r[4] is not None]
    return (levels or None), prior


def _run_labels(moments: list) -> list[str]:
    """Labels for runs that stay distinct when several fall in the same minute (then seconds are shown)."""
    minutes = [m.strftime("%m-%d %H:%M") if m else "?" for m in moments]
    labels = []
    for i, (moment, minute) in enumerate(zip(moments, minutes)):
        label = minute if minutes.count(minute) == 1 else (moment.strftime("%m-%d %H:%M:%S") if moment else "?")
        labels.append(f"{i + 1}: {label}")
    if len(set(labels)) < len(labels):  # same second: the sequence number still tells them apart
        labels = [f"{i + 1}: {m.strftime('%m-%d %H:%M:%S.%f')[:-3] if m else '?'}" for i, m in enumerate(moments)]
    return labels


def resolve_runs(con) -> list[dict] | None:
    if not _has(con, "identity", "runs", "run_id", "customers"):
        return None
    order = "finished_at" if _has(con, "identity", "runs", "finished_at") else "run_id"
    steps = "step_seconds" if _has(con, "identity", "runs", "step_seconds") else "NULL"
    rows = con.execute(f"SELECT run_id, {order}, customers, records, CAST({steps} AS VARCHAR) FROM identity.runs "
                       f"ORDER BY {order}").fetchall()
    if not rows:
        return None
    import json

    labels = _run_labels([r[1] if hasattr(r[1], "strftime") else None for r in rows])
    out = []
    for label, r in zip(labels, rows):
        try:
            seconds = json.loads(r[4]) if r[4] else {}
        except ValueError:
            seconds = {}
        out.append(dict(run_id=r[0], label=label, customers=r[2], records=r[3],
                        step_seconds={k: float(v) for k, v in seconds.items() if isinstance(v, (int, float))}))
    return out


def evaluations(con) -> list[dict] | None:
    cols = {c.lower() for c in _columns(con, "ops", "evaluations")}
    if not {"f1", "evaluated_at"} <= cols:
        return None
    wanted = [c for c in ("precision", "recall", "f1") if c in cols]
    rows = con.execute(f"SELECT evaluated_at, {', '.join(f'CAST({w} AS DOUBLE)' for w in wanted)} FROM ops.evaluations "
                       "ORDER BY evaluated_at").fetchall()
    if not rows:
        return None
    labels = _run_labels([r[0] for r in rows])
    return [dict(label=label, **dict(zip(wanted, r[1:]))) for label, r in zip(labels, rows)]


def freshness(con) -> list[dict] | None:
    """Per source: the latest event seen and the latest load that brought rows, in hours before now."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    out: dict[str, dict] = {}
    if _has(con, "ops", "loads", "source", "finished_at", "rows_loaded"):
        for source, last_load, last_data in con.execute(
                "SELECT source, max(finished_at), max(finished_at) FILTER (WHERE rows_loaded > 0) "
                "FROM ops.loads GROUP BY ALL").fetchall():
            out.setdefault(source, {"source": source})
            out[source]["last_load"] = last_load
            out[source]["last_data_load"] = last_data
    if _has(con, "staging", "customer_records", "source", "event_time"):
        for source, last_event in con.execute(
                "SELECT source, max(TRY_CAST(event_time AS TIMESTAMP)) FROM staging.customer_records "
                "GROUP BY ALL").fetchall():
            out.setdefault(source, {"source": source})["last_event"] = last_event
    if not out:
        return None
    for row in out.values():
        for key in ("last_load", "last_data_load", "last_event"):
            moment = row.get(key)
            if moment is not None and getattr(moment, "tzinfo", None) is not None:
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
                row[key] = moment
            row[f"{key}_hours"] = round((now - moment).total_seconds() / 3600, 1) if moment else None
    return sorted(out.values(), key=lambda r: r["source"])


def consent(con) -> list[dict] | None:
    """Customers per consent purpose: granted, refused, or never stated."""
    if not _has(con, "profiles", "consent", "customer_id", "purpose", "granted"):
        return None
    total = _scalar(con, "SELECT count(*) FROM profiles.golden") if _has(con, "profiles", "golden", "customer_id") \
        else None
    rows = con.execute("SELECT purpose, count(DISTINCT customer_id) FILTER (WHERE granted), "
                       "count(DISTINCT customer_id) FILTER (WHERE NOT granted) FROM profiles.consent "
                       "GROUP BY ALL ORDER BY 1").fetchall()
    if not rows:
        return None
    return [dict(purpose=r[0], granted=r[1], refused=r[2],
                 unknown=max((total or 0) - r[1] - r[2], 0) if total is not None else 0) for r in rows]


def syncs(con) -> list[dict] | None:
    """Each sync target's latest run: what it sent, what failed, its status and age."""
    if not _has(con, "ops", "sync_runs", "target", "finished_at", "status"):
        return None
    rows = con.execute("""
        SELECT target, arg_max(kind, finished_at), max(finished_at), arg_max(status, finished_at),
               arg_max(new_count, finished_at), arg_max(updated_count, finished_at),
               arg_max(deleted_count, finished_at), arg_max(failed_count, finished_at),
               arg_max(unchanged_count, finished_at), count(*), count(*) FILTER (WHERE failed_count > 0)
        FROM ops.sync_runs GROUP BY target ORDER BY target""").fetchall()
    keys = ("target", "kind", "finished_at", "status", "new", "updated", "deleted", "failed", "unchanged", "runs",
            "runs_with_failures")
    return [dict(zip(keys, r)) for r in rows] or None


def collect(con: duckdb.DuckDBPyConnection, threshold_probability: float | None = None) -> ReportData:
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
    data.match_weights = _safe(lambda c: match_weights(c, threshold_probability), con)
    data.m_u, data.prior_weight = _safe(m_u, con) or (None, None)
    data.runs = _safe(resolve_runs, con)
    data.evaluations = _safe(evaluations, con)
    data.freshness = _safe(freshness, con)
    data.consent = _safe(consent, con)
    data.syncs = _safe(syncs, con)
    return data
