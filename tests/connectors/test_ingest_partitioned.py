"""Ingest with its files read and checked in parts (connectors.partitioned) stores exactly what the
embedded load stores: the same raw rows, quarantine, staging rows, per-file counts and load totals;
a rerun loads nothing; a part that dies leaves the warehouse as it was."""
from __future__ import annotations

from pathlib import Path

import pytest

from connectors.runner import SOURCE_NAMES, ingest_source, refresh_raw_views
from tests.connectors.conftest import query
from warehouse.partitions import local_map

# Load ids and times differ between two runs by construction; everything else must not.
TABLES = {
    "raw.web_events": "* EXCLUDE (_load_id)", "raw.app_events": "* EXCLUDE (_load_id)",
    "raw.social_profiles": "* EXCLUDE (_load_id)", "raw.social_interactions": "* EXCLUDE (_load_id)",
    "raw.social_leads": "* EXCLUDE (_load_id)", "raw.orders": "* EXCLUDE (_load_id)",
    "raw.quarantine": "* EXCLUDE (load_id, quarantined_at)",
    "staging.customer_records": "* EXCLUDE (load_id)",
    "ops.loaded_files": "source, stream, file_name, size_bytes, content_sha256, rows_read, rows_loaded, "
                        "rows_quarantined, rows_duplicate",
}


def _ingest(home: Path, src: Path, **options) -> list:
    results = [r for name in SOURCE_NAMES for r in ingest_source(home, name, src, **options)]
    refresh_raw_views(home)
    return results


def _contents(home: Path) -> dict[str, list]:
    return {table: query(home, f"SELECT {cols} FROM {table} ORDER BY ALL") for table, cols in TABLES.items()}


def _totals(results: list) -> list[tuple]:
    return [(r.source, r.stream, r.status, r.files, r.rows_read, r.rows_loaded, r.rows_quarantined,
             r.rows_duplicate) for r in results]


@pytest.fixture(scope="module")
def embedded(generated_sample: Path, tmp_path_factory) -> tuple[Path, list]:
    home = tmp_path_factory.mktemp("embedded") / "home"
    return home, _ingest(home, generated_sample)


def test_parts_store_what_the_embedded_load_stores(embedded, generated_sample, tmp_path):
    home, results = embedded
    calls = []

    def counting_map(fn, items):
        calls.append(len(items))
        return local_map(fn, items)

    parted = _ingest(tmp_path / "home", generated_sample, map_parts=counting_map, parts=4)
    assert _totals(parted) == _totals(results)
    assert all(r.reconciles and r.status == "ok" for r in parted)
    assert sum(r.rows_quarantined for r in parted) > 0
    assert max(calls) >= 4  # the files really were cut into parts
    assert _contents(tmp_path / "home") == _contents(home)
    assert not list((tmp_path / "home" / "raw").glob("_tmp/*.checked"))  # part files cleaned up
    # A rerun loads nothing new (the SQL table's rows at the cursor are read again, as duplicates).
    again = _ingest(tmp_path / "home", generated_sample, map_parts=local_map, parts=4)
    assert sum(r.rows_loaded + r.rows_quarantined for r in again) == 0
    assert all(r.reconciles for r in again)
    assert _contents(tmp_path / "home") == _contents(home)


def test_a_part_that_dies_commits_nothing_and_the_rerun_loads_all(embedded, generated_sample, tmp_path):
    home, _ = embedded
    target = tmp_path / "home"

    def dying_map(fn, items):
        fn(items[0])  # one part done, then the worker is lost
        raise RuntimeError("worker lost")

    failed = _ingest(target, generated_sample, map_parts=dying_map, parts=3)
    assert all(r.status == "failed" and r.rows_loaded == 0 for r in failed)
    assert query(target, "SELECT count(*) FROM raw.web_events")[0][0] == 0
    assert query(target, "SELECT count(*) FROM raw.quarantine")[0][0] == 0
    _ingest(target, generated_sample, map_parts=local_map, parts=3)
    assert _contents(target) == _contents(home)


def test_an_unreadable_file_is_named_and_the_rest_loads(generated_copy, tmp_path):
    broken = sorted((generated_copy / "web").glob("*.ndjson.gz"))[0]
    broken.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    embedded = _ingest(tmp_path / "a", generated_copy)
    parted = _ingest(tmp_path / "b", generated_copy, map_parts=local_map, parts=4)
    web_e = next(r for r in embedded if r.stream == "web_events")
    web_p = next(r for r in parted if r.stream == "web_events")
    assert web_p.status == web_e.status == "partial"
    assert broken.name in web_p.error and web_p.rows_loaded == web_e.rows_loaded
    assert _contents(tmp_path / "b") == _contents(tmp_path / "a")
