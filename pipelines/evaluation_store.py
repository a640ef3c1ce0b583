"""Score the warehouse's resolution against a truth file and keep the figures in `ops.evaluations`,
so the run report and later runs can show how quality moves."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from pipelines.commands.evaluate import evaluate_home, truth_relation
from warehouse.connection import connect_home

_DDL = """
CREATE TABLE IF NOT EXISTS ops.evaluations (
    evaluated_at TIMESTAMP, truth_file VARCHAR, precision DOUBLE, recall DOUBLE, f1 DOUBLE,
    records_evaluated BIGINT, customers BIGINT, true_persons BIGINT,
    split_persons_share DOUBLE, fused_customers_share DOUBLE, figures JSON
)"""


def evaluate_and_store(home: str | Path, truth_path: Path) -> dict:
    result = evaluate_home(Path(home), truth_relation(truth_path))
    con = connect_home(home)
    try:
        con.execute(_DDL)
        con.execute(
            "INSERT INTO ops.evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [datetime.now(timezone.utc).replace(tzinfo=None), str(truth_path), result["precision"],
             result["recall"], result["f1"], result["records_evaluated"], result["customers"],
             result["true_persons"], result["split_persons_share"], result["fused_customers_share"],
             json.dumps(result)],
        )
    finally:
        con.close()
    return result
