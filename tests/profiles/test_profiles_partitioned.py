"""Profiles built in customer-id hash partitions (map_parts) are the embedded build's rows, byte for
byte: golden records (values, provenance, checksums, updated_at), traits (activity and order
aggregates per partition, RFM over everyone) and the 360 view."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from config.profiles import load_profiles_config
from profiles.golden import build_golden
from warehouse.connection import connect_home
from warehouse.partitions import local_map

NOW = dt.datetime(2026, 3, 2, 12, 0)


def _rows(con, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY customer_id").fetchall()


@pytest.fixture
def two_homes(profile_warehouse, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(profile_warehouse, other)
    return profile_warehouse, other


@pytest.mark.parametrize("parts", [1, 3, 16])
def test_partitioned_golden_rows_equal_the_embedded_ones(two_homes, tmp_path, parts):
    embedded, parted = two_homes
    config = load_profiles_config().golden
    calls = []

    def counting_map(fn, items):
        calls.append(len(items))
        return local_map(fn, items)

    with connect_home(embedded) as con:
        first = build_golden(con, config, now=NOW)
        want = _rows(con, "profiles.golden")
        columns = [d[0] for d in con.execute("SELECT * FROM profiles.golden LIMIT 0").description]
    with connect_home(parted) as con:
        got_result = build_golden(con, config, now=NOW, map_parts=counting_map, parts=parts, work=tmp_path / "w")
        got = _rows(con, "profiles.golden")
        assert [d[0] for d in con.execute("SELECT * FROM profiles.golden LIMIT 0").description] == columns
    assert got_result == first
    assert got == want and len(want) == 6
    assert calls and 1 <= calls[0] <= min(parts, 6)
    if parts > 1:
        assert calls[0] > 1  # six customers spread over several partitions


def test_partitioned_rebuild_keeps_updated_at_of_unchanged_profiles(profile_warehouse, tmp_path):
    config = load_profiles_config().golden
    with connect_home(profile_warehouse) as con:
        build_golden(con, config, now=NOW)
        before = _rows(con, "profiles.golden")
        result = build_golden(con, config, now=NOW + dt.timedelta(days=1), map_parts=local_map, parts=4,
                              work=tmp_path / "w")
        assert result["changed"] == 0
        assert _rows(con, "profiles.golden") == before


def test_build_profiles_in_parts_equals_embedded(two_homes):
    from profiles._steps import build_profiles

    embedded, parted = two_homes
    rounds = []

    def counting_map(fn, items):
        rounds.append(len(items))
        return local_map(fn, items)

    a = build_profiles(embedded)
    b = build_profiles(parted, map_parts=counting_map, parts=3)
    # Golden survivorship in one round; activity and order aggregates together in a second one.
    assert len(rounds) == 2 and rounds[1] > rounds[0]
    assert {k: v for k, v in a["golden"].items() if k != "changed"} == \
        {k: v for k, v in b["golden"].items() if k != "changed"}
    assert a["traits"] == b["traits"]
    with connect_home(embedded) as ca, connect_home(parted) as cb:
        for table in ("profiles.traits",):
            assert _rows(ca, table) == _rows(cb, table)
        cols = "* EXCLUDE (updated_at)"
        assert ca.execute(f"SELECT {cols} FROM profiles.customer_360 ORDER BY customer_id").fetchall() == \
            cb.execute(f"SELECT {cols} FROM profiles.customer_360 ORDER BY customer_id").fetchall()
    assert not list((parted / "_parts").glob("*"))  # part files removed
