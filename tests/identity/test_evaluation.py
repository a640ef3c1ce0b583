"""evaluate(): pairwise figures on hand-made frames whose answers are known exactly."""
from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest

from identity.evaluation import evaluate, format_report


def frames(assignments: list[tuple[str, str | None]]):
    """[(customer_id, person_id)] -> (record_map, truth) with one record each."""
    ids = [f"r{i}" for i in range(len(assignments))]
    record_map = pl.DataFrame({"source": ["web"] * len(ids), "record_id": ids,
                               "customer_id": [c for c, _ in assignments]})
    truth = pl.DataFrame({"source": ["web"] * len(ids), "record_id": ids,
                          "person_id": [p for _, p in assignments]}, schema_overrides={"person_id": pl.String})
    return record_map, truth


def test_perfect_resolution():
    result = evaluate(*frames([("c1", "p1"), ("c1", "p1"), ("c2", "p2"), ("c3", "p3")]))
    assert (result["precision"], result["recall"], result["f1"]) == (1.0, 1.0, 1.0)
    assert result["customers"] == 3 and result["true_persons"] == 3
    assert result["split_persons_share"] == 0.0 and result["fused_customers"] == 0


def test_split_and_fused_figures():
    # p1 has 4 records split 3+1 over c1/c2; c1 also holds p2's single record (fused).
    # true pairs: p1 C(4,2)=6; predicted: c1 C(4,2)=6; correct: (c1,p1) C(3,2)=3.
    result = evaluate(*frames([("c1", "p1"), ("c1", "p1"), ("c1", "p1"), ("c2", "p1"), ("c1", "p2")]))
    assert result["true_pairs"] == 6 and result["predicted_pairs"] == 6 and result["correct_pairs"] == 3
    assert result["precision"] == pytest.approx(0.5)
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(0.5)
    assert result["true_persons"] == 2 and result["customers"] == 2
    assert result["split_persons_share"] == pytest.approx(0.5)  # p1 of {p1, p2}
    assert result["fused_customers"] == 1
    assert result["fused_customers_share"] == pytest.approx(0.5)  # c1 of {c1, c2}


def test_everything_in_one_customer():
    # 2 persons of 2 records each, all fused: predicted C(4,2)=6, true 2, correct 2.
    result = evaluate(*frames([("c", "a"), ("c", "a"), ("c", "b"), ("c", "b")]))
    assert result["precision"] == pytest.approx(2 / 6)
    assert result["recall"] == 1.0
    assert result["f1"] == pytest.approx(2 * (1 / 3) / (1 / 3 + 1))


def test_records_of_nobody_and_without_truth_are_reported_not_paired():
    record_map, truth = frames([("c1", "p1"), ("c1", "p1"), ("c1", None), ("c1", None)])
    record_map = pl.concat([record_map, pl.DataFrame(
        {"source": ["app"], "record_id": ["x"], "customer_id": ["c1"]})])
    truth = pl.concat([truth, pl.DataFrame(
        {"source": ["social"], "record_id": ["lost"], "person_id": ["p9"]})])
    result = evaluate(record_map, truth)
    assert result["records_evaluated"] == 2
    assert result["records_without_person"] == 2
    assert result["records_without_truth"] == 1
    assert result["truth_records_not_mapped"] == 1
    assert (result["precision"], result["recall"]) == (1.0, 1.0)


def test_same_record_id_in_two_sources_is_two_records():
    record_map = pl.DataFrame({"source": ["web", "app"], "record_id": ["1", "1"], "customer_id": ["a", "b"]})
    truth = pl.DataFrame({"source": ["web", "app"], "record_id": ["1", "1"], "person_id": ["p", "p"]})
    result = evaluate(record_map, truth)
    assert result["recall"] == 0.0 and result["split_persons_share"] == 1.0


def test_duplicate_records_and_missing_columns_are_refused():
    record_map, truth = frames([("c1", "p1")])
    with pytest.raises(ValueError, match="duplicate"):
        evaluate(pl.concat([record_map, record_map]), truth)
    with pytest.raises(ValueError, match="person_id"):
        evaluate(record_map, truth.drop("person_id"))


def test_report_lists_the_figures():
    text = format_report(evaluate(*frames([("c1", "p1"), ("c1", "p1")])))
    assert "pairwise precision" in text and "1.0000" in text


# --- the `cdp evaluate` command over a real warehouse file ---------------------------------

def make_home(tmp_path, with_record_map: bool):
    home = tmp_path / "home"
    home.mkdir()
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA identity")
    if with_record_map:
        con.execute("CREATE TABLE identity.record_map (source VARCHAR, record_id VARCHAR, customer_id VARCHAR)")
        con.execute("INSERT INTO identity.record_map VALUES ('web','1','c1'),('web','2','c1'),('app','3','c2')")
    con.close()
    truth = tmp_path / "truth.parquet"
    pl.DataFrame({"source": ["web", "web", "app"], "record_id": ["1", "2", "3"],
                  "person_id": ["p1", "p1", "p1"]}).write_parquet(truth)
    return home, truth


def test_cli_prints_json(tmp_path, capsys):
    from pipelines.cli import main

    home, truth = make_home(tmp_path, with_record_map=True)
    assert main(["evaluate", "--home", str(home), "--truth", str(truth), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == 1.0
    assert result["recall"] == pytest.approx(1 / 3)  # 1 correct of C(3,2)=3 true pairs


def test_cli_explains_missing_record_map_and_truth(tmp_path, capsys):
    from pipelines.cli import main

    home, truth = make_home(tmp_path, with_record_map=False)
    assert main(["evaluate", "--home", str(home), "--truth", str(truth)]) == 2
    assert "cdp resolve --home" in capsys.readouterr().err
    assert main(["evaluate", "--home", str(home), "--truth", str(tmp_path / "nope.parquet")]) == 2
    assert "truth file" in capsys.readouterr().err
