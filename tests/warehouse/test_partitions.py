"""The neutral mapping hook and partition helpers (no Dask, no Prefect)."""
import subprocess
import sys

import duckdb
import pytest

from warehouse.partitions import (group_by_weight, local_map, partition_count, partition_of,
                                  partition_sql, split_evenly)


def test_local_map_keeps_order_and_runs_each_part_once():
    seen = []

    def part(x):
        seen.append(x)
        return x * 10

    assert local_map(part, [3, 1, 2]) == [30, 10, 20]
    assert seen == [3, 1, 2]
    assert local_map(part, []) == []


def test_partition_of_is_stable_across_processes_and_in_range():
    keys = [f"cust-{i}" for i in range(200)]
    here = [partition_of(k, 7) for k in keys]
    assert all(0 <= p < 7 for p in here)
    assert len(set(here)) == 7  # 200 keys reach every partition
    code = ("from warehouse.partitions import partition_of; "
            f"print([partition_of(k, 7) for k in {keys!r}])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert eval(other.stdout) == here  # not Python's per-process salted hash()
    assert partition_of(b"cust-1", 7) == partition_of("cust-1", 7)


def test_partition_sql_covers_every_row_once():
    con = duckdb.connect()
    rows = con.sql(f"SELECT {partition_sql('k', 4)} AS p, count(*) AS n FROM "
                   "(SELECT 'id' || i::VARCHAR AS k FROM range(1000) t(i)) GROUP BY p ORDER BY p").fetchall()
    assert [p for p, _ in rows] == [0, 1, 2, 3]
    assert sum(n for _, n in rows) == 1000


def test_partition_count_and_split_evenly():
    assert partition_count(0, 100) == 1
    assert partition_count(1001, 100) == 11
    assert partition_count(1001, 100, max_parts=4) == 4
    assert split_evenly(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split_evenly([1, 2], 5) == [[1], [2]]
    assert split_evenly([], 3) == []


def test_group_by_weight_balances_and_loses_nothing():
    files = [("a", 100), ("b", 10), ("c", 60), ("d", 50), ("e", 1)]
    groups = group_by_weight(files, 2)
    assert sorted(x for g in groups for x in g) == ["a", "b", "c", "d", "e"]
    weights = [sum(dict(files)[x] for x in g) for g in groups]
    assert max(weights) - min(weights) <= 20
    assert group_by_weight(files, 2) == groups  # deterministic
    assert group_by_weight([("only", 5)], 4) == [["only"]]


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_part_counts_are_refused(bad):
    with pytest.raises(ValueError, match="at least 1"):
        partition_of("x", bad)
    with pytest.raises(ValueError, match="at least 1"):
        split_evenly([1], bad)
    with pytest.raises(ValueError, match="at least 1"):
        group_by_weight([("x", 1)], bad)
