"""Scoring: every candidate pair's match weight in DuckDB, from its comparison vector and the model.

The weight of a level is a constant from the model, so a pair's weight is one CASE per comparison
summed in SQL: pairs never leave DuckDB (memory-limited, spilling to disk); only the pairs at or
above the threshold come out. Exact agreement on a value seen in a share `tf` of records weighs
log2(m / tf) instead of log2(m / u): a common surname counts less than a rare one (Splink's
term-frequency adjustment), floored at a tenth of the average u so one rare typo cannot dominate.
"""
from __future__ import annotations

import duckdb

from identity.comparisons import Comparison
from identity.model import FLOOR, MatchModel


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


def score(
    con: duckdb.DuckDBPyConnection, vectors: str, out: str, comparisons: tuple[Comparison, ...],
    model: MatchModel, threshold: float, tf: bool, histogram: str | None = None,
) -> dict:
    """Table `out`: pairs of `vectors` at or above `threshold`, with match_weight, match_probability
    and one w_<comparison> column each; optionally a histogram (1-bit bins) of every pair's weight."""
    total = total_weight_sql(comparisons, model, tf)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _id_weights AS SELECT sl, sr, {total} AS match_weight FROM {vectors}")
    if histogram:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {histogram} AS
            SELECT floor(match_weight) AS bin_low, floor(match_weight) + 1 AS bin_high, count(*) AS pairs
            FROM _id_weights GROUP BY ALL ORDER BY bin_low
        """)
    min_weight = _logit2(threshold)
    w_cols = ", ".join(f"{weight_sql(c, model, tf)} AS \"w_{c.name}\"" for c in comparisons if c.name in model.m)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT v.*, w.match_weight, 1.0 / (1.0 + pow(2.0, -w.match_weight)) AS match_probability
               {', ' + w_cols if w_cols else ''}
        FROM _id_weights w JOIN {vectors} v USING (sl, sr)
        WHERE w.match_weight >= {_num(min_weight)}
    """)
    scored, above = con.execute(
        f"SELECT (SELECT count(*) FROM _id_weights), (SELECT count(*) FROM {out})").fetchall()[0]
    con.execute("DROP TABLE IF EXISTS _id_weights")
    return {"scored_pairs": int(scored), "pairs_above_threshold": int(above)}


def _num(value: float) -> str:
    """A DOUBLE literal (a bare 6.96 would be a DECIMAL in DuckDB)."""
    return f"{float(value)!r}::DOUBLE"


def _logit2(p: float) -> float:
    import math
    return math.log2(p / (1 - p))
