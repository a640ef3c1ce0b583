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


# --- the SQL over the warehouse and a Parquet truth file, the frame wrapper, and pairs enumerated --

def random_case(seed: int):
    """A record map and truth with records of nobody, records without truth and truth not mapped."""
    import random

    rng = random.Random(seed)
    record_map, truth = [], []
    for i in range(300):
        source, record_id = rng.choice(["web", "app", "crm"]), str(i % 250)  # record ids reused across sources
        in_map, in_truth = rng.random() < 0.9, rng.random() < 0.9
        if i < 3:
            in_map, in_truth = True, False  # records without truth
        elif i < 6:
            in_map, in_truth = False, True  # truth records not mapped
        if (source, record_id) in {(s, r) for s, r, _ in record_map + truth}:
            continue
        person = None if i in (6, 7) or rng.random() < 0.05 else f"p{rng.randint(0, 40)}"
        if in_map:
            # Mostly the person's customer, sometimes another (fusion) or its own (a split).
            customer = rng.choice([f"c{person}", f"c{person}", f"c{person}", f"c{rng.randint(0, 40)}", f"own{i}"])
            record_map.append((source, record_id, customer))
        if in_truth or i in (6, 7):
            truth.append((source, record_id, person))
    return (pl.DataFrame(record_map, schema=["source", "record_id", "customer_id"], orient="row"),
            pl.DataFrame(truth, schema={"source": pl.String, "record_id": pl.String, "person_id": pl.String},
                         orient="row"))


def enumerated(record_map: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """The pair figures by listing every pair of evaluated records."""
    from itertools import combinations

    person = {(s, r): p for s, r, p in truth.iter_rows() if p is not None}
    records = [(c, person[(s, r)]) for s, r, c in record_map.iter_rows() if (s, r) in person]
    pairs = list(combinations(records, 2))
    return {"predicted_pairs": sum(a[0] == b[0] for a, b in pairs),
            "true_pairs": sum(a[1] == b[1] for a, b in pairs),
            "correct_pairs": sum(a == b for a, b in pairs),
            "split_persons": sum(len({c for c, q in records if q == p}) > 1 for p in {p for _, p in records}),
            "fused_customers": sum(len({q for d, q in records if d == c}) > 1 for c in {c for c, _ in records})}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_over_the_warehouse_equals_the_frames_and_enumerated_pairs(tmp_path, seed):
    from pipelines.commands.evaluate import evaluate_home, truth_relation
    from pipelines.evaluation_store import evaluate_and_store

    record_map, truth = random_case(seed)
    home = tmp_path / "home"
    home.mkdir()
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA identity")
    con.execute("CREATE TABLE identity.record_map AS SELECT * FROM record_map")
    con.close()
    truth_path = tmp_path / "truth.parquet"
    truth.write_parquet(truth_path)

    from_frames = evaluate(record_map, truth)
    from_sql = evaluate_home(home, truth_relation(truth_path))
    assert from_sql == from_frames
    assert evaluate_and_store(home, truth_path) == from_frames
    assert from_frames["records_without_truth"] >= 3 and from_frames["truth_records_not_mapped"] >= 3
    assert from_frames["records_without_person"] >= 1 and 0 < from_frames["precision"] < 1
    assert {k: from_frames[k] for k in enumerated(record_map, truth)} == enumerated(record_map, truth)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    stored = con.execute("SELECT figures FROM ops.evaluations").fetchall()
    con.close()
    assert [json.loads(f) for (f,) in stored] == [from_frames]


def test_unreadable_truth_file_is_refused_clearly(tmp_path):
    from pipelines.commands.evaluate import truth_relation

    not_parquet = tmp_path / "truth.parquet"
    not_parquet.write_text("source,record_id,person_id\n")
    with pytest.raises(ValueError, match="cannot read .* as a truth file"):
        truth_relation(not_parquet)
    no_person = tmp_path / "no_person.parquet"
    pl.DataFrame({"source": ["web"], "record_id": ["1"]}).write_parquet(no_person)
    with pytest.raises(ValueError, match="lacks person_id"):
        truth_relation(no_person)
