"""The resolution recipe on a frame of normalized records: one engine for the warehouse and for files.

    deterministic graph  -> signatures -> comparisons chosen from the fields present
    -> u (random pairs) -> m and prior (EM, or labels from deterministic clusters)
    -> blocking (counted first) -> comparison vectors -> scores (DuckDB)
    -> guards (evidence rules) -> constrained clustering

Records carry `rec` = 0..n-1; the result labels every rec with a cluster (its smallest rec).
Pairs, vectors and scores live in DuckDB temp tables (memory-limited, spilling to disk); only
pairs at or above the threshold come back to Polars.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import polars as pl

from config.identity import IdentitySettings
from identity.blocking import BROAD_PAIRS_PER_RECORD, StoredBlocking, block, rules_from_config
from identity.comparisons import NAMED_COLUMNS, Comparison, comparison_columns, comparisons_for
from identity.components import constrained_components
from identity.graph import IdentifierKeys, deterministic_graph, identifier_keys_sql, screen_sql
from identity.guards import apply_guards, compile_guards
from identity.model import MatchModel
from identity.scoring import ScoreParts, score, score_in_parts
from identity.steps import StepRunner
from identity.training import estimate_u, train_em, train_from_clusters, vectors_sql
from warehouse.connection import connect

# Records with none of these carry nothing a person can be matched on (a cookie's page views).
PERSON_FIELDS = ("first_name_key", "last_name_key", "email", "phone", "national_id", "birth_date")


@dataclass
class EngineResult:
    labels: pl.Series                      # final cluster label per rec
    deterministic_edges: pl.DataFrame      # rec_left, rec_right, identifier_type
    probabilistic_edges: pl.DataFrame      # rec_left, rec_right, match_probability, match_weight, <codes>, w_*
    rejected: pl.DataFrame                 # rec_left, rec_right, edge_kind, identifier_type, value, match_probability, reason
    model: MatchModel | None
    comparisons: tuple[Comparison, ...] = ()
    stats: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    histogram: pl.DataFrame | None = None  # bin_low, bin_high, pairs: every scored pair's weight
    guards: dict = field(default_factory=dict)   # guard -> "active" / why it is off


def _comparable(columns) -> list[str]:
    return [c for c in columns if c in NAMED_COLUMNS or c.startswith("text__") or c.startswith("id__")]


def match_columns(records: pl.DataFrame) -> list[str]:
    """Columns the comparisons can read that hold at least one value."""
    candidates = _comparable(records.columns)
    counts = records.select(pl.col(c).is_not_null().sum() for c in candidates).row(0) if candidates else ()
    return [c for c, n in zip(candidates, counts) if n]


def match_columns_sql(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """`match_columns` of a DuckDB relation."""
    candidates = _comparable(r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall())
    if not candidates:
        return []
    counts = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in candidates) + f" FROM {relation}").fetchall()[0]
    return [c for c, n in zip(candidates, counts) if n]


def term_frequencies(con: duckdb.DuckDBPyConnection, relation: str,
                     comparisons: tuple[Comparison, ...]) -> dict[str, pl.DataFrame]:
    """Share of records carrying each value of every term-frequency column, over `relation`.

    The one definition for files, full runs and incremental runs (which pass every stored record,
    so a name weighs the same whichever run scores it).
    """
    cols = {r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()}
    out = {}
    for col in sorted({c.tf_column for c in comparisons if c.tf_column and c.tf_column in cols}):
        out[col] = pl.from_arrow(con.sql(f"""
            SELECT {col} AS value, count(*) / sum(count(*)) OVER () AS tf FROM {relation}
            WHERE {col} IS NOT NULL GROUP BY {col}
        """).to_arrow_table())
    return out


def _has_info(columns: list[str]) -> str:
    """SQL: the signature carries a field a person can be matched on (a cookie's page view does not)."""
    person = [c for c in PERSON_FIELDS if c in columns] or columns
    return " OR ".join(f'r."{c}" IS NOT NULL' for c in person)


def signatures(con: duckdb.DuckDBPyConnection, relation: str, labels: pl.Series, columns: list[str],
               tf: dict[str, pl.DataFrame], out: str = "_id_sig") -> int:
    """Temp table `out`: the distinct matching attributes per deterministic cluster (sig, cluster,
    rep: its smallest rec, columns...), numbered by rep, with load_signatures' derived columns.
    `relation` holds the records (rec, columns); `labels` their clusters, by rec.

    Grouped in DuckDB, not Polars: the signatures are never a Polars frame (at 1M generated
    customers, 3.3M signatures beside 7.7M identity rows). Returns the number of signatures."""
    con.register("_sig_labels", pl.DataFrame({"rec": pl.int_range(0, labels.len(), dtype=pl.UInt32, eager=True),
                                              "cluster": labels}).to_arrow())
    quoted = ", ".join(f'r."{c}"' for c in columns)
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _sig_grouped AS
            SELECT (row_number() OVER (ORDER BY rep) - 1)::UINTEGER AS sig, cluster, {", ".join(f'"{c}"' for c in columns)}, rep
            FROM (SELECT l.cluster, {quoted}, min(r.rec) AS rep FROM {relation} r JOIN _sig_labels l USING (rec)
                  WHERE {_has_info(columns)} GROUP BY ALL)
        """)
    finally:
        con.unregister("_sig_labels")
    try:
        load_signatures(con, "_sig_grouped", tf, out)
    finally:
        con.execute("DROP TABLE IF EXISTS _sig_grouped")
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]


def load_signatures(con: duckdb.DuckDBPyConnection, sigs: pl.DataFrame | str, tf: dict[str, pl.DataFrame],
                    out: str = "_id_sig") -> None:
    """Temp table `out`: signatures (a frame, or a relation's name) + derived email parts + the tf
    share of each value."""
    source = sigs
    if isinstance(sigs, pl.DataFrame):
        con.register("_sig_frame", sigs.to_arrow(compat_level=pl.CompatLevel.newest()))
        source = "_sig_frame"
    present = {r[0] for r in con.execute(f"DESCRIBE {source}").fetchall()}
    joins, cols = [], []
    for i, (col, frame) in enumerate(tf.items()):
        con.register(f"_tf_{i}", frame.to_arrow())
        joins.append(f"LEFT JOIN _tf_{i} t{i} ON t{i}.value = s.{col}")
        cols.append(f't{i}.tf AS "tf__{col}"')
    email = ("regexp_replace(s.email, '[^0-9]', '', 'g') AS email_digits, "
             "regexp_replace(s.email, '[._-]', '', 'g') AS email_squashed, "
             "split_part(s.email, '@', 1) AS email_local, ") if "email" in present else ""
    if "birth_date" in present:
        email += "strftime(s.birth_date, '%Y%m%d') AS birth_date_digits, "
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT s.*, {email}{', '.join(cols) or 'NULL AS _none'} "
                    f"FROM {source} s {' '.join(joins)} ORDER BY s.sig")
    finally:
        if source == "_sig_frame":
            con.unregister("_sig_frame")
        for i in range(len(tf)):
            con.unregister(f"_tf_{i}")


def _empty_edges() -> pl.DataFrame:
    return pl.DataFrame(schema={"rec_left": pl.UInt32, "rec_right": pl.UInt32,
                                "match_probability": pl.Float64, "match_weight": pl.Float64})


def run_engine(
    records: pl.DataFrame,
    settings: IdentitySettings,
    model: MatchModel | None = None,
    screened: pl.DataFrame | None = None,
    tf_tables: dict[str, pl.DataFrame] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    m_training: str | None = None,
    link_types: list[str] | None = None,
    score_parts: ScoreParts | None = None,
    identifiers: IdentifierKeys | None = None,
    relation: str | None = None,
    stored_blocking: StoredBlocking | None = None,
    record_blocking: bool = False,
) -> EngineResult:
    """Resolve `records` (normalized, rec 0..n-1). A given model/screen/tf is reused (incremental),
    and so are a full run's blocking decisions (`stored_blocking`); with `record_blocking` the
    blocks skipped are left in temp table `_id_skipped_blocks` (rule, key_hash) for the caller to store.

    With `score_parts` (a scale-out executor), comparison vectors and scores are computed in parts
    on its workers (`identity.scoring.score_in_parts`); the pairs above the threshold are the same.
    `relation` names a DuckDB relation holding the records with every column (then `records`
    needs only `rec`); otherwise `records` is the whole frame and goes to DuckDB as Arrow views.
    Identifier keys and the merge-protection screen are built in DuckDB over that relation unless
    the caller has them (identity.rows), so files and warehouses go through one path."""
    own_con = con is None
    con = con or connect()
    runner = StepRunner(con, settings.debug)
    if settings.debug:
        con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    if relation is None:
        relation = "_id_engine_records"
        con.register(relation, records.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        if identifiers is None:  # a file's records: their identifier keys and screen, as identity.rows makes them
            identifiers = identifier_keys_sql(con, relation, link_types or settings.deterministic.priority)
            link_types = None
        if screened is None:
            screened = screen_sql(con, relation, identifiers, settings.deterministic)
        return _run(records, settings, model, screened, tf_tables, con, runner, m_training, link_types, score_parts,
                    identifiers, relation, stored_blocking, record_blocking)
    finally:
        if relation == "_id_engine_records":
            con.unregister(relation)
        for t in ("_id_sig", "_id_pairs", "_id_vectors", "_id_scored", "_id_histogram"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        if own_con:
            con.close()


def _run(records, settings, model, screened, tf_tables, con, runner, m_training, link_types,
         score_parts, identifiers, relation, stored_blocking, record_blocking) -> EngineResult:
    stats: dict = {}
    det = runner.run("deterministic_graph", deterministic_graph, records, settings.deterministic, screened,
                     link_types, identifiers)
    stats["violating_components"] = det.violating_components
    labels = det.labels
    rejected = det.rejected.with_columns(
        pl.lit("deterministic").alias("edge_kind"), pl.lit(None, pl.Float64).alias("match_probability"))
    result = EngineResult(labels, det.edges, _empty_edges(), rejected, model, steps=runner.seconds, stats=stats)
    stats["deterministic_edges"] = det.edges.height
    columns = match_columns_sql(con, relation)
    comparisons = comparisons_for(columns)
    if model is not None:
        comparisons = tuple(c for c in comparisons if c.name in model.m)
    result.comparisons = comparisons
    if not settings.match.enabled or records.height < 2 or not comparisons:
        stats["rejected_edges"] = rejected.height
        return result
    ms = settings.match
    cols = comparison_columns(comparisons)
    tf = tf_tables if tf_tables is not None else (
        term_frequencies(con, relation, comparisons) if ms.term_frequency_adjustment else {})
    n_sigs = runner.run("signatures", signatures, con, relation, labels, cols, tf, output="_id_sig")
    stats["signatures"] = n_sigs

    if model is None:
        u = runner.run("estimate_u", estimate_u, con, "_id_sig", comparisons, ms.u_sample_pairs, ms.random_seed)
        method = m_training or ms.m_training
        if method in ("auto", "clusters"):
            model = runner.run("train_from_clusters", train_from_clusters, con, "_id_sig", comparisons, u, ms)
        if model is None:
            model = runner.run("train_em", train_em, con, "_id_sig", comparisons, u, ms)
    result.model = model

    rules = rules_from_config(ms.blocking_rules, set(cols))
    budget = min(ms.max_pairs_per_rule, max(int(ms.max_pairs_per_record * n_sigs), 100_000))
    broad = min(budget, max(int(BROAD_PAIRS_PER_RECORD * n_sigs), 100_000))
    blocking = runner.run("blocking", block, con, "_id_sig", "_id_pairs", rules, max_block_size=ms.max_block_size,
                          max_pairs_per_rule=budget, max_pairs_broad=broad, stored=stored_blocking,
                          skipped_out="_id_skipped_blocks" if record_blocking else None, output="_id_pairs")
    stats.update(candidate_pairs=blocking["candidate_pairs"], skipped_blocks=blocking["skipped_blocks"],
                 blocking_rules=blocking["rules"])
    if score_parts is None:
        runner.run("comparisons", con.execute,
                   f"CREATE OR REPLACE TEMP TABLE _id_vectors AS {vectors_sql(comparisons, '_id_pairs', '_id_sig', tf=True)}",
                   output="_id_vectors")
        con.execute("DROP TABLE IF EXISTS _id_pairs")  # (kept as identity.debug_blocking with --debug)
        scored_stats = runner.run("scoring", score, con, "_id_vectors", "_id_scored", comparisons, model,
                                  ms.threshold, bool(tf), histogram="_id_histogram", output="_id_scored")
        con.execute("DROP TABLE IF EXISTS _id_vectors")
    else:  # vectors and weights on the workers, part by part (no _id_vectors table to keep)
        scored_stats = runner.run("scoring", score_in_parts, con, "_id_pairs", "_id_sig", "_id_scored",
                                  comparisons, model, ms.threshold, bool(tf), score_parts,
                                  histogram="_id_histogram", output="_id_scored")
        con.execute("DROP TABLE IF EXISTS _id_pairs")
    stats.update(scored_stats)
    result.histogram = pl.from_arrow(con.execute("SELECT * FROM _id_histogram").to_arrow_table())
    above = pl.from_arrow(con.execute(
        "SELECT s.*, l.cluster AS cl, r.cluster AS cr, l.rep AS rec_left, r.rep AS rec_right "
        "FROM _id_scored s JOIN _id_sig l ON l.sig = s.sl JOIN _id_sig r ON r.sig = s.sr").to_arrow_table())
    compiled = compile_guards(settings.guards, comparisons, model)
    accepted, refused = runner.run("guards", apply_guards, above, compiled)
    result.guards = {g.name: g.note for g in compiled}  # after: a veto settles on the scored pairs

    def clustering():
        nonlocal labels
        best = accepted.sort(["match_probability", "sl", "sr"], descending=[True, False, False]).unique(
            subset=["cl", "cr"], keep="first", maintain_order=True).with_row_index("link_id")
        links = pl.concat([
            best.select("link_id", pl.col("cl").alias("node"), pl.col("link_id").alias("rank")),
            best.select("link_id", pl.col("cr").alias("node"), pl.col("link_id").alias("rank")),
        ]).with_columns(pl.col("node").cast(pl.UInt32))
        limited = det.limited.select(pl.Series("node", labels.gather(det.limited["rec"])), "id_type", "value").unique()
        clustered = constrained_components(records.height, links, limited, settings.deterministic.limits)
        refused_ids = pl.DataFrame(clustered.rejected, schema={"link_id": pl.UInt32, "reason": pl.Utf8}, orient="row")
        labels = clustered.labels.gather(labels)
        return best.join(refused_ids, on="link_id", how="anti"), best.join(refused_ids, on="link_id")

    linked, limit_refused = runner.run("clustering", clustering)
    result.labels = labels
    result.probabilistic_edges = linked.drop("link_id", "sl", "sr", "cl", "cr")
    extra = [
        frame.select("rec_left", "rec_right", pl.lit("probabilistic").alias("edge_kind"),
                     pl.lit(None, pl.Utf8).alias("identifier_type"), pl.lit(None, pl.Utf8).alias("value"),
                     "match_probability", "reason")
        for frame in (limit_refused, refused) if frame.height
    ]
    if extra:
        result.rejected = pl.concat([rejected.select(extra[0].columns), *extra], how="vertical_relaxed")
    stats["probabilistic_links"] = linked.height
    stats["rejected_edges"] = result.rejected.height
    stats["refused_by_guard"] = dict(refused.group_by("reason").len().iter_rows()) if refused.height else {}
    return result


__all__ = ["EngineResult", "run_engine", "signatures", "match_columns", "match_columns_sql", "term_frequencies"]
