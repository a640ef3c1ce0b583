"""Loads are all or nothing, deduplicate on the key, merge newer versions, and always reconcile."""
from __future__ import annotations

from pathlib import Path

import pytest

import warehouse.loads as loads
from warehouse.connection import connect_home
from warehouse.layout import HomeLayout
from warehouse.loads import LoadWriter, StagingSpec, sweep_orphans
from warehouse.raw_store import RawTable, stream_files

EVENTS = RawTable(name="test_events", columns=(("id", "VARCHAR"), ("value", "BIGINT"), ("event_time", "TIMESTAMP")),
                  primary_key="id")
ORDERS = RawTable(name="test_orders", columns=(("id", "VARCHAR"), ("status", "VARCHAR"), ("event_time", "TIMESTAMP"),
                                                ("version_time", "TIMESTAMP")),
                  primary_key="id", disposition="merge", version_column="version_time")
STAGING = StagingSpec(
    "SELECT 'test', 'test_orders', id, 'order', event_time, _load_id, NULL, NULL, NULL, NULL, status, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, ?, NULL, NULL, id FROM _new_rows", ("ES",))


def checked_events(con, rows: list[tuple]) -> str:
    """rows: (id, value, day, reason) -> a checked relation named _checked."""
    con.execute("CREATE OR REPLACE TEMP TABLE _checked (id VARCHAR, value BIGINT, event_time TIMESTAMP, _file VARCHAR, "
                "_line BIGINT, _record_id VARCHAR, _reason VARCHAR, _detail VARCHAR, _payload VARCHAR)")
    for line, (key, value, day, reason) in enumerate(rows, start=1):
        con.execute("INSERT INTO _checked VALUES (?, ?, ?, 'f.ndjson', ?, ?, ?, ?, ?)",
                    [key, value, f"2026-01-{day:02d} 10:00:00", line, key or f"f.ndjson:{line}", reason,
                     "id" if reason else None, f'{{"id": "{key}"}}' if reason else None])
    return "_checked"


def checked_orders(con, rows: list[tuple]) -> str:
    """rows: (id, status, updated day)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _checked (id VARCHAR, status VARCHAR, event_time TIMESTAMP, "
                "version_time TIMESTAMP, _file VARCHAR, _line BIGINT, _record_id VARCHAR, _reason VARCHAR, "
                "_detail VARCHAR, _payload VARCHAR)")
    for line, (key, status, day) in enumerate(rows, start=1):
        con.execute("INSERT INTO _checked VALUES (?, ?, '2026-01-01 09:00:00', ?, 'o.csv', ?, ?, NULL, NULL, NULL)",
                    [key, status, f"2026-01-{day:02d} 10:00:00", line, key])
    return "_checked"


def run_load(con, layout, table, make, rows, staging=None):
    writer = LoadWriter(con, layout, "test", table, staging)
    writer.begin_input()
    writer.add_checked(make(con, rows))
    writer.end_input()
    return writer.commit()


@pytest.fixture
def con_layout(tmp_path: Path):
    con = connect_home(tmp_path / "home")
    yield con, HomeLayout(tmp_path / "home")
    con.close()


def test_duplicates_within_and_across_loads_are_counted_not_stored(con_layout):
    con, layout = con_layout
    first = run_load(con, layout, EVENTS, checked_events,
                     [("a", 1, 1, None), ("b", 2, 1, None), ("a", 9, 1, None), (None, 3, 2, "missing_field")])
    assert (first.rows_read, first.rows_loaded, first.rows_quarantined, first.rows_duplicate) == (4, 2, 1, 1)
    # The first occurrence wins within a load.
    assert con.execute("SELECT id, value FROM raw.test_events ORDER BY id").fetchall() == [("a", 1), ("b", 2)]
    second = run_load(con, layout, EVENTS, checked_events, [("b", 5, 3, None), ("c", 6, 3, None)])
    assert (second.rows_loaded, second.rows_duplicate) == (1, 1) and second.reconciles
    assert con.execute("SELECT count(*) FROM raw.test_events").fetchall()[0][0] == 3
    # Partitioned by event date, named by load id.
    files = stream_files(layout, "test_events")
    assert {f.parent.name for f in files} == {"event_date=2026-01-01", "event_date=2026-01-03"}
    assert {f.name.rsplit("-", 1)[0] for f in files} == {first.load_id, second.load_id}
    rows = con.execute("SELECT load_id, rows_read, rows_loaded, rows_quarantined, rows_duplicate, status "
                       "FROM ops.loads ORDER BY load_id").fetchall()
    assert rows == [(first.load_id, 4, 2, 1, 1, "ok"), (second.load_id, 2, 1, 0, 1, "ok")]
    assert con.execute("SELECT load_id, reason, line FROM raw.quarantine").fetchall() == [
        (first.load_id, "missing_field", 4)]


def test_merge_keeps_the_newest_version_visible_and_counts_stale_ones(con_layout):
    con, layout = con_layout
    first = run_load(con, layout, ORDERS, checked_orders, [("o1", "completed", 2), ("o2", "completed", 2)], STAGING)
    assert first.rows_loaded == 2
    update = run_load(con, layout, ORDERS, checked_orders,
                      [("o1", "refunded", 5), ("o1", "cancelled", 4), ("o2", "completed", 2), ("o2", "old", 1)],
                      STAGING)
    # o1: newest of the batch loads, the other is a duplicate; o2: same version and an older one: duplicates.
    assert (update.rows_loaded, update.rows_duplicate) == (1, 3)
    assert con.execute("SELECT id, status FROM raw.test_orders ORDER BY id").fetchall() == [
        ("o1", "refunded"), ("o2", "completed")]
    # Staging follows: one row per order, the newest version's values.
    assert con.execute("SELECT record_id, email, country FROM staging.customer_records ORDER BY 1").fetchall() == [
        ("o1", "refunded", "ES"), ("o2", "completed", "ES")]


def test_a_failed_commit_leaves_no_trace_and_the_rerun_repeats_it(con_layout, monkeypatch):
    con, layout = con_layout

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(loads, "record_loaded_file", boom)
    writer = LoadWriter(con, layout, "test", EVENTS)
    writer.begin_input()
    writer.add_checked(checked_events(con, [("a", 1, 1, None), ("x", 1, 1, "wrong_type")]))
    from warehouse.cursors import FileFingerprint

    writer.end_input([FileFingerprint("f.ndjson", Path("f.ndjson"), 10, "00")])
    with pytest.raises(OSError):
        writer.commit()
    assert stream_files(layout, "test_events") == []
    assert not (layout.raw / "_tmp").exists() or not any((layout.raw / "_tmp").rglob("*.parquet"))
    for table in ("ops.loads", "raw.quarantine", "ops.loaded_files"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] == 0
    monkeypatch.undo()
    again = run_load(con, layout, EVENTS, checked_events, [("a", 1, 1, None), ("x", 1, 1, "wrong_type")])
    assert (again.rows_loaded, again.rows_quarantined) == (1, 1)


def test_sweep_removes_files_of_loads_that_never_committed(con_layout):
    con, layout = con_layout
    kept = run_load(con, layout, EVENTS, checked_events, [("a", 1, 1, None)])
    # What a process killed after the rename but before the commit leaves behind:
    orphan = layout.raw / "test_events" / "event_date=2026-01-01" / "20260101T000000000000_dead00-0.parquet"
    orphan.write_bytes(next(iter(stream_files(layout, "test_events"))).read_bytes())
    temp = layout.raw / "_tmp" / "20260101T000000000000_dead01" / "input1" / "batch1" / "event_date=2026-01-01"
    temp.mkdir(parents=True)
    (temp / "data_0.parquet").write_bytes(b"partial")
    assert sweep_orphans(con, layout) == 2
    assert [f.name.rsplit("-", 1)[0] for f in stream_files(layout, "test_events")] == [kept.load_id]
    assert not (layout.raw / "_tmp").exists()


def test_an_aborted_input_is_forgotten_and_reported(con_layout):
    con, layout = con_layout
    writer = LoadWriter(con, layout, "test", EVENTS)
    writer.begin_input()
    writer.add_checked(checked_events(con, [("a", 1, 1, None)]))
    writer.end_input()
    writer.begin_input()
    writer.add_checked(checked_events(con, [("b", 1, 1, None), ("bad", 1, 1, "wrong_type")]))
    writer.abort_input("b.ndjson.gz: corrupt or truncated gzip data")
    result = writer.commit()
    assert result.status == "partial" and result.errors == ["b.ndjson.gz: corrupt or truncated gzip data"]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (1, 1, 0)
    assert con.execute("SELECT id FROM raw.test_events").fetchall() == [("a",)]
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchall()[0][0] == 0
    assert con.execute("SELECT status, error FROM ops.loads").fetchall() == [
        ("partial", "b.ndjson.gz: corrupt or truncated gzip data")]
