"""Evaluate a resolution (record -> customer) against ground truth (record -> person).

Pairwise precision and recall are counted, never enumerated: a group of n records holds
n*(n-1)/2 pairs, so the predicted pairs are summed over customers, the true pairs over persons,
and the correctly linked pairs over (customer, person) intersections. This stays linear in the
number of records however large the clusters are.

The counting runs in DuckDB (`evaluate_relations`), so it spills to disk under the connection's
memory limit instead of holding the records in memory: the pipeline evaluates the warehouse's
identity.record_map against a truth Parquet file without either becoming a frame. `evaluate`
takes two frames and runs the same SQL over them.
"""
from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

KEY = ("source", "record_id")


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]


def _require(con: duckdb.DuckDBPyConnection, relation: str, columns: tuple[str, ...], what: str) -> None:
    present = _columns(con, relation)
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(present)}")


def _strings(relation: str, value: str) -> str:
    """`relation` as (source, record_id, value) strings, whatever types its columns have."""
    return (f'SELECT CAST("source" AS VARCHAR) AS source, CAST("record_id" AS VARCHAR) AS record_id, '
            f'CAST("{value}" AS VARCHAR) AS {value} FROM {relation}')


def _check(con: duckdb.DuckDBPyConnection, rows: str, value: str, what: str) -> int:
    """Refuse duplicate (source, record_id) rows; the number of rows whose `value` is null."""
    duplicates, nulls = con.execute(f"""
        SELECT coalesce(sum(n - 1), 0), coalesce(sum(nulls), 0) FROM (
            SELECT count(*) AS n, count(*) FILTER (WHERE {value} IS NULL) AS nulls
            FROM ({rows}) GROUP BY source, record_id)""").fetchone()
    if duplicates:
        raise ValueError(f"{what} has {duplicates} duplicate (source, record_id) rows; each record must appear once")
    return int(nulls)


def _ratio(numerator: int, denominator: int) -> float:
    """numerator/denominator; an empty denominator means nothing could be wrong, so 1.0."""
    return numerator / denominator if denominator else 1.0


def _pairs(n: str) -> str:
    """SQL summing n*(n-1)/2 over groups of size `n`, in HUGEINT (0 over no groups)."""
    return f"coalesce(sum(CAST({n} AS HUGEINT) * ({n} - 1) // 2), 0)"


def evaluate_relations(con: duckdb.DuckDBPyConnection, record_map: str, truth: str) -> dict[str, Any]:
    """Pairwise precision/recall/F1 and split/fusion figures of `record_map` against `truth`.

    Both are DuckDB relations readable on `con`: a table or view name, a table function such as
    `read_parquet('truth.parquet')`, or a parenthesized subquery. record_map: `source`,
    `record_id`, `customer_id`. truth: `source`, `record_id`, `person_id` (null for records of
    nobody, e.g. placeholder test traffic). Only mapped records whose truth person is known enter
    the pair counts; the others are counted and reported.
    """
    _require(con, record_map, (*KEY, "customer_id"), "record map")
    _require(con, truth, (*KEY, "person_id"), "truth")
    mapped = _strings(record_map, "customer_id")
    known = _strings(truth, "person_id")
    unmapped_customer = _check(con, mapped, "customer_id", "record map")
    _check(con, known, "person_id", "truth")
    if unmapped_customer:
        raise ValueError(f"record map has {unmapped_customer} rows with a null customer_id")

    # One join of the records, reduced to (customer, person) intersections and the counts of the
    # records left out; every figure below is a sum over those few rows. Keys never match a null.
    (records_evaluated, records_without_truth, records_without_person, truth_records_not_mapped,
     predicted_pairs, true_pairs, correct_pairs, customers, true_persons, split_persons,
     fused_customers) = con.execute(f"""
        WITH cells AS MATERIALIZED (
            SELECT m.customer_id, t.person_id, m.in_map, t.in_truth, count(*) AS n
            FROM (SELECT *, true AS in_map FROM ({mapped})) AS m
            FULL OUTER JOIN (SELECT *, true AS in_truth FROM ({known})) AS t
              ON m.source = t.source AND m.record_id = t.record_id
            GROUP BY ALL
        ),
        evaluated AS (
            SELECT customer_id, person_id, n FROM cells WHERE in_map AND in_truth AND person_id IS NOT NULL
        ),
        by_customer AS (SELECT sum(n) AS n, count(*) AS persons FROM evaluated GROUP BY customer_id),
        by_person AS (SELECT sum(n) AS n, count(*) AS customers FROM evaluated GROUP BY person_id),
        counts AS (SELECT
            coalesce(sum(n) FILTER (WHERE in_map AND in_truth AND person_id IS NOT NULL), 0) AS evaluated,
            coalesce(sum(n) FILTER (WHERE in_map AND in_truth IS NULL), 0) AS without_truth,
            coalesce(sum(n) FILTER (WHERE in_map AND in_truth AND person_id IS NULL), 0) AS without_person,
            coalesce(sum(n) FILTER (WHERE in_map IS NULL), 0) AS not_mapped
            FROM cells)
        SELECT counts.*,
            (SELECT {_pairs("n")} FROM by_customer),
            (SELECT {_pairs("n")} FROM by_person),
            (SELECT {_pairs("n")} FROM evaluated),
            (SELECT count(*) FROM by_customer),
            (SELECT count(*) FROM by_person),
            (SELECT count(*) FILTER (WHERE customers > 1) FROM by_person),
            (SELECT count(*) FILTER (WHERE persons > 1) FROM by_customer)
        FROM counts""").fetchone()
    predicted_pairs, true_pairs, correct_pairs = int(predicted_pairs), int(true_pairs), int(correct_pairs)
    precision = _ratio(correct_pairs, predicted_pairs)
    recall = _ratio(correct_pairs, true_pairs)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "records_evaluated": int(records_evaluated),
        "customers": customers,
        "true_persons": true_persons,
        "split_persons": split_persons,
        "split_persons_share": _ratio(split_persons, true_persons) if true_persons else 0.0,
        "fused_customers": fused_customers,
        "fused_customers_share": _ratio(fused_customers, customers) if customers else 0.0,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "correct_pairs": correct_pairs,
        "records_without_truth": int(records_without_truth),
        "records_without_person": int(records_without_person),
        "truth_records_not_mapped": int(truth_records_not_mapped),
    }


def evaluate(record_map: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """`evaluate_relations` over two frames (record_map: `source`, `record_id`, `customer_id`;
    truth: `source`, `record_id`, `person_id`), in an in-memory DuckDB connection."""
    from warehouse.connection import connect

    con = connect(":memory:")
    try:
        con.register("evaluation_record_map", record_map)
        con.register("evaluation_truth", truth)
        return evaluate_relations(con, "evaluation_record_map", "evaluation_truth")
    finally:
        con.close()


def format_report(result: dict[str, Any]) -> str:
    """A readable two-column table of an `evaluate` result."""
    labels = {
        "precision": "pairwise precision", "recall": "pairwise recall", "f1": "pairwise F1",
        "records_evaluated": "records evaluated", "customers": "customers (resolved)",
        "true_persons": "persons (truth)", "split_persons": "persons split over >1 customer",
        "split_persons_share": "  share of persons", "fused_customers": "customers fusing >1 person",
        "fused_customers_share": "  share of customers", "predicted_pairs": "predicted pairs",
        "true_pairs": "true pairs", "correct_pairs": "correct pairs",
        "records_without_truth": "records without a truth row",
        "records_without_person": "records of nobody (truth person null)",
        "truth_records_not_mapped": "truth records not in the record map",
    }
    width = max(len(v) for v in labels.values())
    lines = []
    for key, label in labels.items():
        value = result[key]
        shown = f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
        lines.append(f"{label:<{width}}  {shown:>12}")
    return "\n".join(lines)
