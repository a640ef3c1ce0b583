"""One contract, every connector (Singer SDK style): streams, keys and cursor are declared; loads are
incremental and idempotent; gzip and plain files read alike; bad records land in quarantine."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.sources import load_sources_config
from connectors import SOURCE_NAMES, build_connector, ingest_all
from connectors.validation import REASONS
from tests.connectors.conftest import query
from tests.connectors.samples import WRITERS

RAW_STREAMS = {"web_events", "app_events", "social_profiles", "social_interactions", "social_leads", "orders"}


def _by_stream(results):
    return {r.stream: r for r in results}


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_declares_streams_keys_and_cursor(name: str, src: Path):
    WRITERS[name](src, 1)  # so the transactions connector finds its database too
    connector = build_connector(name, load_sources_config(), src)
    streams = connector.streams()
    assert streams and connector.name == name
    for stream in streams:
        assert stream.name in RAW_STREAMS
        columns = dict(stream.spec.columns())
        assert stream.primary_key in columns and "event_time" in columns
        assert stream.disposition in ("append", "merge")
        assert stream.cursor.startswith("files:") or "sql:" in stream.cursor
        table = stream.raw_table()
        assert table.primary_key == stream.primary_key
        if stream.disposition == "merge":
            assert stream.version in columns
    if name == "transactions":
        assert "sql:updated_at" in streams[0].cursor and streams[0].disposition == "merge"


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_bad_records_are_quarantined_with_their_reason(name: str, src: Path, home: Path):
    written = WRITERS[name](src, 1)
    results = _by_stream(ingest_all(home, src, [name]))
    assert set(results) == set(written)
    for stream, w in written.items():
        r = results[stream]
        assert r.status == "ok", r.errors
        assert (r.rows_loaded, r.rows_quarantined, r.rows_duplicate) == (w.good, len(w.bad), 0)
        assert r.reconciles
        got = dict(query(home, "SELECT record_id, reason FROM raw.quarantine WHERE stream = ?", [stream]))
        assert got == w.bad
        assert query(home, f"SELECT count(*) FROM raw.{stream}")[0][0] == w.good
        rows = query(home, "SELECT reason, detail, payload, file, load_id FROM raw.quarantine WHERE stream = ?", [stream])
        assert all(reason in REASONS and payload and file and load_id == r.load_id
                   for reason, detail, payload, file, load_id in rows)


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_incremental_and_idempotent(name: str, src: Path, home: Path):
    day1 = WRITERS[name](src, 1)
    first = _by_stream(ingest_all(home, src, [name]))
    staged = query(home, "SELECT count(*) FROM staging.customer_records")[0][0]
    assert staged == sum(w.good for w in day1.values())

    again = _by_stream(ingest_all(home, src, [name]))
    for stream, r in again.items():
        assert (r.rows_loaded, r.rows_quarantined) == (0, 0), stream
        assert r.reconciles and r.status == "ok"
        # Only a SQL table is re-read (at its cursor boundary); files are skipped whole.
        assert r.files == (1 if name == "transactions" else 0)
    assert query(home, "SELECT count(*) FROM staging.customer_records")[0][0] == staged

    day2 = WRITERS[name](src, 2)
    later = _by_stream(ingest_all(home, src, [name]))
    for stream, w in day2.items():
        r = later[stream]
        assert r.rows_loaded == w.good and r.rows_quarantined == len(w.bad)
        assert r.reconciles
        stored = query(home, f"SELECT count(*) FROM raw.{stream}")[0][0]
        assert stored == day1[stream].good + w.good
    assert query(home, "SELECT count(*) FROM staging.customer_records")[0][0] == staged + sum(
        w.good for w in day2.values())
    loads = query(home, "SELECT count(*) FROM ops.loads WHERE source = ? AND rows_read = rows_loaded + "
                        "rows_quarantined + rows_duplicate", [name])[0][0]
    assert loads == 3 * len(first)


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_gzip_and_plain_files_read_alike(name: str, tmp_path: Path):
    plain_src, gz_src = tmp_path / "plain", tmp_path / "gz"
    WRITERS[name](plain_src, 3, gz=False)
    WRITERS[name](gz_src, 3, gz=True)
    assert any(p.suffix == ".gz" for p in gz_src.rglob("*"))
    ingest_all(tmp_path / "h1", plain_src, [name])
    ingest_all(tmp_path / "h2", gz_src, [name])
    for stream in WRITERS[name](tmp_path / "scratch", 3):
        sql = (f"SELECT * EXCLUDE (_load_id, _file) FROM raw.{stream} ORDER BY ALL")
        plain = query(tmp_path / "h1", sql)
        assert plain and plain == query(tmp_path / "h2", sql)
