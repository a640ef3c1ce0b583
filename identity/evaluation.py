"""Evaluate a resolution (record -> customer) against ground truth (record -> person).

Pairwise precision and recall are counted, never enumerated: a group of n records holds
n*(n-1)/2 pairs, so the predicted pairs are summed over customers, the true pairs over persons,
and the correctly linked pairs over (customer, person) intersections. This stays linear in the
number of records however large the clusters are.
"""
from __future__ import annotations

from typing import Any

import polars as pl

KEY = ("source", "record_id")


def _pairs(df: pl.DataFrame, by: list[str]) -> int:
    """Sum of n*(n-1)/2 over the groups of `df` by `by`."""
    if df.height == 0:
        return 0
    sizes = df.group_by(by).len().get_column("len").cast(pl.Int64)
    return int((sizes * (sizes - 1) // 2).sum())


def _require(df: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(df.columns)}")


def _check_unique(df: pl.DataFrame, what: str) -> None:
    duplicates = df.height - df.select(KEY).unique().height
    if duplicates:
        raise ValueError(f"{what} has {duplicates} duplicate (source, record_id) rows; each record must appear once")


def _ratio(numerator: int, denominator: int) -> float:
    """numerator/denominator; an empty denominator means nothing could be wrong, so 1.0."""
    return numerator / denominator if denominator else 1.0


def evaluate(record_map: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """Pairwise precision/recall/F1 and split/fusion figures of `record_map` against `truth`.

    record_map: `source`, `record_id`, `customer_id`. truth: `source`, `record_id`, `person_id`
    (null for records of nobody, e.g. placeholder test traffic). Only mapped records whose truth
    person is known enter the pair counts; the others are counted and reported.
    """
    _require(record_map, (*KEY, "customer_id"), "record map")
    _require(truth, (*KEY, "person_id"), "truth")
    mapped = record_map.select(
        pl.col("source").cast(pl.String), pl.col("record_id").cast(pl.String),
        pl.col("customer_id").cast(pl.String),
    )
    known = truth.select(
        pl.col("source").cast(pl.String), pl.col("record_id").cast(pl.String),
        pl.col("person_id").cast(pl.String),
    )
    _check_unique(mapped, "record map")
    _check_unique(known, "truth")
    unmapped_customer = mapped.get_column("customer_id").null_count()
    if unmapped_customer:
        raise ValueError(f"record map has {unmapped_customer} rows with a null customer_id")

    joined = mapped.join(known, on=list(KEY), how="left", maintain_order="left")
    has_truth_row = joined.join(known.select(KEY), on=list(KEY), how="semi")
    records_without_truth = mapped.height - has_truth_row.height
    evaluated = joined.filter(pl.col("person_id").is_not_null())
    records_without_person = has_truth_row.height - evaluated.height
    truth_records_not_mapped = known.join(mapped.select(KEY), on=list(KEY), how="anti").height

    predicted_pairs = _pairs(evaluated, ["customer_id"])
    true_pairs = _pairs(evaluated, ["person_id"])
    correct_pairs = _pairs(evaluated, ["customer_id", "person_id"])
    precision = _ratio(correct_pairs, predicted_pairs)
    recall = _ratio(correct_pairs, true_pairs)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    customers_per_person = evaluated.group_by("person_id").agg(pl.col("customer_id").n_unique().alias("n"))
    persons_per_customer = evaluated.group_by("customer_id").agg(pl.col("person_id").n_unique().alias("n"))
    true_persons = customers_per_person.height
    customers = persons_per_customer.height
    split_persons = customers_per_person.filter(pl.col("n") > 1).height
    fused_customers = persons_per_customer.filter(pl.col("n") > 1).height
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "records_evaluated": evaluated.height,
        "customers": customers,
        "true_persons": true_persons,
        "split_persons": split_persons,
        "split_persons_share": _ratio(split_persons, true_persons) if true_persons else 0.0,
        "fused_customers": fused_customers,
        "fused_customers_share": _ratio(fused_customers, customers) if customers else 0.0,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "correct_pairs": correct_pairs,
        "records_without_truth": records_without_truth,
        "records_without_person": records_without_person,
        "truth_records_not_mapped": truth_records_not_mapped,
    }


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
