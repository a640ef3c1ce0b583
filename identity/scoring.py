"""Scoring: every candidate pair's match weight in DuckDB, from its comparison vector and the model.

The weight of a level is a constant from the model, so a pair's weight is one CASE per comparison
summed in SQL: pairs never leave DuckDB (memory-limited, spilling to disk); only the pairs at or
above the threshold come out. Exact agreement on a value seen in a share `tf` of records weighs
log2(m / tf) instead of log2(m / u): a common surname counts less than a rare one (Splink's
term-frequency adjustment), floored at a tenth of the average u so one rare typo cannot dominate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from identity.comparisons import Comparison
from identity.model import FLOOR, MatchModel
from warehouse.partitions import PART_INPUT, MapParts, SqlPart, run_sql_part, write_partitions
from warehouse.sql import quote_literal


def weight_sql(comp: Comparison, model: MatchModel, tf: bool) -> str:
    """SQL for one comparison's weight over a vectors relation (columns "<name>", "tf_<name>")."""
    col = f'"{comp.name}"'
    whens = " ".join(
        f"WHEN {code} THEN {_num(model.weight(comp.name, code))}" for code in sorted(model.m.get(comp.name, {}))
    )
    plain = f"CASE {col} {whens} ELSE 0.0::DOUBLE END"
    exact = comp.exact_code
    if not (tf and comp.tf_column and exact is not None and comp.name in model.m):
        return plain
    m_exact = max(model.m[comp.name].get(exact, FLOOR), FLOOR)
    floor = max(model.u[comp.name].get(exact, FLOOR), FLOOR) / 10
    return (f"CASE WHEN {col} = {exact} AND \"tf_{comp.name}\" IS NOT NULL "
            f"THEN log2({_num(m_exact)} / greatest(\"tf_{comp.name}\", {_num(floor)})) ELSE {plain} END")


def total_weight_sql(comparisons: tuple[Comparison, ...], model: MatchModel, tf: bool) -> str:
    parts = [weight_sql(c, model, tf) for c in comparisons if c.name in model.m]
    return f"({_num(model.prior_weight)} + " + " + ".join(parts or ["0.0::DOUBLE"]) + ")"


def score_statements(vectors: str, out: str, comparisons: tuple[Comparison, ...], model: MatchModel,
                     threshold: float, tf: bool, histogram: str | None = None) -> list[str]:
    """The SQL of `score`, in order: the same statements score all pairs in the warehouse session
    or one part of them in a worker's DuckDB (`score_in_parts`)."""
    total = total_weight_sql(comparisons, model, tf)
    statements = [f"CREATE OR REPLACE TEMP TABLE _id_weights AS SELECT sl, sr, {total} AS match_weight FROM {vectors}"]
    if histogram:
        statements.append(f"""
            CREATE OR REPLACE TEMP TABLE {histogram} AS
            SELECT floor(match_weight) AS bin_low, floor(match_weight) + 1 AS bin_high, count(*) AS pairs
            FROM _id_weights GROUP BY ALL ORDER BY bin_low
        """)
    min_weight = _logit2(threshold)
    w_cols = ", ".join(f"{weight_sql(c, model, tf)} AS \"w_{c.name}\"" for c in comparisons if c.name in model.m)
    statements.append(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT v.*, w.match_weight, 1.0 / (1.0 + pow(2.0, -w.match_weight)) AS match_probability
               {', ' + w_cols if w_cols else ''}
        FROM _id_weights w JOIN {vectors} v USING (sl, sr)
        WHERE w.match_weight >= {_num(min_weight)}
    """)
    return statements


def score(
    con: duckdb.DuckDBPyConnection, vectors: str, out: str, comparisons: tuple[Comparison, ...],
    model: MatchModel, threshold: float, tf: bool, histogram: str | None = None,
) -> dict:
    """Table `out`: pairs of `vectors` at or above `threshold`, with match_weight, match_probability
    and one w_<comparison> column each; optionally a histogram (1-bit bins) of every pair's weight."""
    for statement in score_statements(vectors, out, comparisons, model, threshold, tf, histogram):
        con.execute(statement)
    scored, above = con.execute(
        f"SELECT (SELECT count(*) FROM _id_weights), (SELECT count(*) FROM {out})").fetchall()[0]
    con.execute("DROP TABLE IF EXISTS _id_weights")
    return {"scored_pairs": int(scored), "pairs_above_threshold": int(above)}


@dataclass(frozen=True)
class ScoreParts:
    """Where `score_in_parts` sends its parts: a scale-out executor's `map_parts`, how many parts,
    and a folder every worker can read and write (the parts' Parquet files)."""
    map_parts: MapParts
    parts: int
    work: Path


def score_in_parts(con: duckdb.DuckDBPyConnection, pairs: str, sigs: str, out: str,
                   comparisons: tuple[Comparison, ...], model: MatchModel, threshold: float, tf: bool,
                   where: ScoreParts, histogram: str) -> dict:
    """`out` and `histogram` as `score` makes them from the vectors of `pairs`, but computed in
    parts: the pairs are cut by a hash of their left signature, and each part builds its comparison
    vectors and weights in a fresh DuckDB from Parquet (only its pairs' signatures), on whichever
    worker `where.map_parts` sends it. Every pair is scored by the same SQL as in one session, so
    the rows are the same; the coordinator only unions the pairs above the threshold and adds up
    the histograms."""
    from identity.training import vectors_sql

    work = Path(where.work)
    sig_file = work / "signatures.parquet"
    con.execute(f"COPY {sigs} TO {quote_literal(str(sig_file))} (FORMAT parquet)")
    inputs = write_partitions(con, f"SELECT sl, sr FROM {pairs}", "sl", max(1, where.parts), work / "pairs")
    setup = (
        f"CREATE TEMP TABLE _id_sig AS SELECT * FROM read_parquet({quote_literal(str(sig_file))}) "
        f"WHERE sig IN (SELECT sl FROM {PART_INPUT} UNION SELECT sr FROM {PART_INPUT})",
        f"CREATE TEMP TABLE _id_vectors AS {vectors_sql(comparisons, PART_INPUT, '_id_sig', tf=True)}",
        *score_statements("_id_vectors", "_id_part_scored", comparisons, model, threshold, tf, "_id_part_histogram"),
    )
    jobs = [SqlPart(path, setup, "_id_part_scored", str(work / "scored" / f"part{i}.parquet"),
                    also=(("_id_part_histogram", str(work / "histogram" / f"part{i}.parquet")),))
            for i, path in enumerate(inputs)]
    where.map_parts(run_sql_part, jobs)
    if jobs:
        scored = "[" + ", ".join(quote_literal(j.out) for j in jobs) + "]"
        hist = "[" + ", ".join(quote_literal(j.also[0][1]) for j in jobs) + "]"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM read_parquet({scored}) ORDER BY sl, sr")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {histogram} AS SELECT bin_low, bin_high, sum(pairs)::BIGINT AS pairs "
                    f"FROM read_parquet({hist}) GROUP BY ALL ORDER BY bin_low")
    else:  # no candidate pair: the one-session statements over the empty relation
        con.execute(f"CREATE OR REPLACE TEMP TABLE _id_vectors AS {vectors_sql(comparisons, pairs, sigs, tf=True)}")
        score(con, "_id_vectors", out, comparisons, model, threshold, tf, histogram)
        con.execute("DROP TABLE IF EXISTS _id_vectors")
    scored_pairs, above = con.execute(
        f"SELECT (SELECT coalesce(sum(pairs), 0) FROM {histogram}), (SELECT count(*) FROM {out})").fetchall()[0]
    return {"scored_pairs": int(scored_pairs), "pairs_above_threshold": int(above), "scoring_parts": len(jobs)}


def _num(value: float) -> str:
    """A DOUBLE literal (a bare 6.96 would be a DECIMAL in DuckDB)."""
    return f"{float(value)!r}::DOUBLE"


def _logit2(p: float) -> float:
    import math
    return math.log2(p / (1 - p))
