"""Stable customer ids: heirs, merges, splits and collisions, the same over frames and over DuckDB."""
from datetime import datetime

import duckdb
import polars as pl

from identity.stable_ids import assign_customer_ids, assign_customer_ids_sql, hashed_id, hashed_id_sql


def _assignment(clusters: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame({"source": ["web"] * len(clusters), "record_id": list(clusters),
                         "cluster": list(clusters.values())})


def _previous(ids: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"source": ["web"] * len(ids), "record_id": list(ids), "customer_id": list(ids.values()),
                         "first_assigned_at": [datetime(2026, 1, 1)] * len(ids)})


def _both(assignment: pl.DataFrame, previous: pl.DataFrame, used: set[str]) -> list[tuple]:
    """Each record's id and the history, by the frame path and by the DuckDB path (asserted equal)."""
    con = duckdb.connect()
    con.register("a", assignment.to_arrow())
    con.register("p", previous.to_arrow())
    con.register("u", pl.DataFrame({"customer_id": sorted(used)}, schema={"customer_id": pl.Utf8}).to_arrow())
    results = []
    for mapping, history in (assign_customer_ids(assignment, previous, used),
                             assign_customer_ids_sql(con, "a", "p", "SELECT customer_id FROM u")):
        ids = assignment.join(mapping, on="cluster").sort("record_id").select("record_id", "customer_id").rows()
        results.append((ids, sorted(history.rows())))
    assert results[0] == results[1]
    return results[0]


def test_heirs_merges_splits_and_a_fresh_id_that_collides():
    previous = _previous({"r1": "cus_a", "r2": "cus_a", "r3": "cus_a", "r4": "cus_b", "r5": "cus_c"})
    # r1-r2 keep cus_a's majority; r3 splits off with r6; cus_b and cus_c merge into one cluster
    # (cus_b is older by nothing, bigger by nothing: the smaller id wins the tie); r7 is new and its
    # hashed id was issued before (an id in the history), so it is salted
    assignment = _assignment({"r1": 1, "r2": 1, "r3": 2, "r6": 2, "r4": 3, "r5": 3, "r7": 4})
    ids, history = _both(assignment, previous, used={hashed_id("web", "r7"), "cus_x"})
    by_record = dict(ids)
    assert by_record["r1"] == by_record["r2"] == "cus_a"
    assert by_record["r4"] == by_record["r5"] == "cus_b"
    assert by_record["r3"] == by_record["r6"] == hashed_id("web", "r3")
    assert by_record["r7"] == hashed_id("web", "r7", 1)
    assert history == [("cus_a", hashed_id("web", "r3"), "split"), ("cus_c", "cus_b", "merge")]


def test_the_sql_hash_is_the_python_hash():
    con = duckdb.connect()
    for source, record_id in (("web", "r1"), ("tiendá", "José Ñúñez 1"), ("app", "")):
        sql = hashed_id_sql("?", "?").replace("?", "$1", 1).replace("?", "$2", 1)
        assert con.execute(f"SELECT {sql}", [source, record_id]).fetchall()[0][0] == hashed_id(source, record_id)
