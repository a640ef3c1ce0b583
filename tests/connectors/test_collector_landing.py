"""Segment files: group commit, rotation by size and age, names that sort, recovery after a crash,
disk errors, one collector per home; and the collector's settings and command line."""
from __future__ import annotations

import asyncio
import errno
import gzip
import os
import time
from pathlib import Path

import orjson
import pytest

import connectors.collector.landing as landing_mod
from config.collector import CollectorSettings, load_collector_settings
from config.loader import ConfigError
from connectors.collector.events import event_lines, stable_message_id
from connectors.collector.landing import CollectorRunningError, Landing, LandingError
from tests.connectors.collector_helpers import collected_events, collected_files, ingest_collected, settings, spooled_files
from tests.connectors.conftest import query


def _line(i: int, source: str = "web") -> bytes:
    event = {"messageId": f"m-{source}-{i}", "type": "track", "event": "Product Viewed", "userId": f"u{i}",
             "timestamp": "2026-03-01T10:00:00.000Z"}
    return orjson.dumps(event) + b"\n"


def _append_all(landing: Landing, lines: list[bytes], source: str = "web") -> None:
    async def main():
        await asyncio.gather(*(landing.append(source, line) for line in lines))
    asyncio.run(main())


def _wait_rotated(home: Path, source: str = "web", timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while spooled_files(home, source) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_group_commit_acknowledges_many_requests_per_fsync(tmp_path: Path, monkeypatch):
    syncs = []
    real = landing_mod._sync
    monkeypatch.setattr(landing_mod, "_sync", lambda fd: (syncs.append(fd), real(fd)))
    landing = Landing(tmp_path, settings())
    landing.open()
    try:
        _append_all(landing, [_line(i) for i in range(500)])
        # every append has returned, so every line is already fsynced, before any rotation
        assert sum(p.read_bytes().count(b"\n") for p in spooled_files(tmp_path, "web")) == 500
    finally:
        landing.close()
    assert 1 <= len(syncs) < 100  # 500 requests, a handful of fsyncs
    assert [e["messageId"] for e in collected_events(tmp_path, "web")] == [f"m-web-{i}" for i in range(500)]


def test_rotation_by_size_keeps_whole_lines_and_names_sort_in_order(tmp_path: Path):
    landing = Landing(tmp_path, settings(segments={"max_bytes": 2048}))
    landing.open()
    try:
        for i in range(120):
            _append_all(landing, [_line(i)])
    finally:
        landing.close()
    files = collected_files(tmp_path, "web")
    assert len(files) >= 6  # ~15 KB of lines in 2 KB segments
    assert [p.name for p in files] == sorted(p.name for p in files)
    assert all(p.read_bytes().endswith(b"\n") and p.stat().st_size <= 2048 + 200 for p in files)
    # read in name order, the events come back in the order they were acknowledged
    assert [e["messageId"] for e in collected_events(tmp_path, "web")] == [f"m-web-{i}" for i in range(120)]


def test_rotation_by_age_without_new_traffic(tmp_path: Path):
    landing = Landing(tmp_path, settings(segments={"max_age_seconds": 0.2}))
    landing.open()
    try:
        _append_all(landing, [_line(1)])
        assert spooled_files(tmp_path, "web") and not collected_files(tmp_path, "web")
        _wait_rotated(tmp_path)
        assert len(collected_files(tmp_path, "web")) == 1 and not spooled_files(tmp_path, "web")
    finally:
        landing.close()


def test_names_never_go_back_in_time(tmp_path: Path):
    """A file from a clock that ran ahead (or a restored backup): later files still sort after it."""
    folder = tmp_path / "collected" / "web"
    folder.mkdir(parents=True)
    ahead = folder / "events_2099-01-01T00-00-00Z_000041.ndjson"
    ahead.write_bytes(_line(0))
    landing = Landing(tmp_path, settings())
    landing.open()
    try:
        _append_all(landing, [_line(1)])
    finally:
        landing.close()
    names = [p.name for p in collected_files(tmp_path, "web")]
    assert names[0] == ahead.name and names[1] > ahead.name and names[1].endswith("_000042.ndjson")


def test_gzip_rotation_is_read_by_ingest(tmp_path: Path):
    home = tmp_path / "home"
    landing = Landing(home, settings(segments={"gzip": True}))
    landing.open()
    try:
        _append_all(landing, [_line(i) for i in range(30)])
    finally:
        landing.close()
    files = collected_files(home, "web")
    assert len(files) == 1 and files[0].name.endswith(".ndjson.gz")
    assert len(gzip.decompress(files[0].read_bytes()).splitlines()) == 30
    assert not list(files[0].parent.glob(".*.tmp"))
    result = {r.stream: r for r in ingest_collected(home, tmp_path, ["web"])}["web_events"]
    assert (result.files, result.rows_loaded) == (1, 30)


def test_ingest_never_reads_an_open_segment(tmp_path: Path):
    home = tmp_path / "home"
    landing = Landing(home, settings())
    landing.open()
    try:
        _append_all(landing, [_line(i) for i in range(10)])
        first = {r.stream: r for r in ingest_collected(home, tmp_path, ["web"])}["web_events"]
        assert (first.files, first.rows_read, first.errors) == (0, 0, [])
        landing.rotate_all()
        _wait_rotated(home)
        second = {r.stream: r for r in ingest_collected(home, tmp_path, ["web"])}["web_events"]
        assert (second.files, second.rows_loaded) == (1, 10)
    finally:
        landing.close()
    third = {r.stream: r for r in ingest_collected(home, tmp_path, ["web"])}["web_events"]
    assert third.files == 0  # close() rotated nothing new: the segment was empty
    assert query(home, "SELECT file_path FROM ops.loaded_files")[0][0].startswith(str(home / "collected" / "web"))


def test_recovery_cuts_a_torn_last_line_and_rotates(tmp_path: Path):
    spool = tmp_path / "collected" / ".spool" / "web"
    spool.mkdir(parents=True)
    segment = spool / "events_2026-03-01T10-00-00Z_000003.ndjson"
    torn = b'{"messageId": "m-torn", "type": "tra'
    segment.write_bytes(_line(1) + _line(2) + _line(3) + torn)
    only_torn = tmp_path / "collected" / ".spool" / "app" / "events_2026-03-01T10-00-00Z_000001.ndjson"
    only_torn.parent.mkdir(parents=True)
    only_torn.write_bytes(b'{"messageId": "half')
    landing = Landing(tmp_path, settings())
    reports = {r.source: r for r in landing.open()}
    try:
        assert (reports["web"].segments, reports["web"].rotated, reports["web"].torn_bytes) == (1, 1, len(torn))
        assert (reports["app"].segments, reports["app"].rotated) == (1, 0)
        assert not segment.exists() and not only_torn.exists()
        assert [e["messageId"] for e in collected_events(tmp_path, "web")] == ["m-web-1", "m-web-2", "m-web-3"]
        assert collected_events(tmp_path, "app") == []
        _append_all(landing, [_line(4)])  # numbering goes on after the recovered segment
    finally:
        landing.close()
    assert collected_files(tmp_path, "web")[-1].name.endswith("_000004.ndjson")


def test_recovery_after_a_crash_mid_compression(tmp_path: Path):
    """Killed after the .gz was renamed into place but before the spooled copy was removed."""
    spool = tmp_path / "collected" / ".spool" / "web"
    out = tmp_path / "collected" / "web"
    spool.mkdir(parents=True)
    out.mkdir(parents=True)
    name = "events_2026-03-01T10-00-00Z_000001.ndjson"
    (spool / name).write_bytes(_line(1))
    (out / f"{name}.gz").write_bytes(gzip.compress(_line(1)))
    (out / f".events_2026-03-01T10-00-01Z_000002.ndjson.gz.tmp").write_bytes(b"\x1f\x8b partial")
    landing = Landing(tmp_path, settings(segments={"gzip": True}))
    landing.open()
    landing.close()
    assert not (spool / name).exists() and not list(out.glob(".*.tmp"))
    assert [p.name for p in out.iterdir()] == [f"{name}.gz"]


def test_a_failed_write_is_cut_back_and_refused(tmp_path: Path, monkeypatch):
    landing = Landing(tmp_path, settings())
    landing.open()
    try:
        _append_all(landing, [_line(1)])
        real = landing_mod._write_all

        def half_then_enospc(fd, data):
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(landing_mod, "_write_all", half_then_enospc)
        with pytest.raises(LandingError, match="errno 28"):
            _append_all(landing, [_line(2)])
        monkeypatch.setattr(landing_mod, "_write_all", real)
        [segment] = spooled_files(tmp_path, "web")
        assert segment.read_bytes() == _line(1)  # no half line left behind
        _append_all(landing, [_line(3)])
    finally:
        landing.close()
    assert [e["messageId"] for e in collected_events(tmp_path, "web")] == ["m-web-1", "m-web-3"]


def test_one_collector_per_home(tmp_path: Path):
    first = Landing(tmp_path, settings())
    first.open()
    try:
        with pytest.raises(CollectorRunningError, match="one collector per home"):
            Landing(tmp_path, settings()).open()
    finally:
        first.close()
    again = Landing(tmp_path, settings())
    again.open()
    again.close()


def test_stamps_and_stable_message_ids():
    body = {"batch": [{"type": "track", "event": "A", "userId": "u1", "context": {"ip": "1.2.3.4"}},
                      {"type": "identify", "userId": "u1", "messageId": "keep-me", "sentAt": "own"}],
            "context": {"library": {"name": "x"}, "ip": "9.9.9.9"}, "integrations": {"All": True},
            "sentAt": "2026-03-01T10:00:00.000Z", "writeKey": "k"}
    lines, count = event_lines(body, None, "2026-03-01T10:00:01.000Z", 32768)
    first, second = [orjson.loads(line) for line in lines.splitlines()]
    assert count == 2
    assert first["context"] == {"library": {"name": "x"}, "ip": "1.2.3.4"}  # the event's own keys win
    assert first["integrations"] == {"All": True} and "writeKey" not in first
    assert first["sentAt"] == "2026-03-01T10:00:00.000Z" and first["receivedAt"] == "2026-03-01T10:00:01.000Z"
    assert first["messageId"].startswith("cdp-") and second["messageId"] == "keep-me" and second["sentAt"] == "own"
    # a retry (new sentAt, later receivedAt) gets the same id; other content a different one
    retry, _ = event_lines({**body, "sentAt": "2026-03-01T10:05:00.000Z"}, None, "2026-03-01T10:05:01.000Z", 32768)
    assert orjson.loads(retry.splitlines()[0])["messageId"] == first["messageId"]
    assert stable_message_id({"type": "track", "event": "B"}) != stable_message_id({"type": "track", "event": "A"})
    # a single call gets its route's type; a blank messageId is filled as a missing one
    single, _ = event_lines({"event": "A", "userId": "u", "messageId": " "}, "track", "t", 32768)
    single = orjson.loads(single)
    assert single["type"] == "track" and single["messageId"].startswith("cdp-")


def test_settings_from_file_env_and_command_line(monkeypatch):
    assert load_collector_settings().write_keys == {}
    monkeypatch.setenv("CDP_COLLECTOR__PORT", "9101")
    monkeypatch.setenv("CDP_COLLECTOR__WRITE_KEYS", "{envkey: app}")
    loaded = load_collector_settings()
    assert loaded.port == 9101 and loaded.write_keys == {"envkey": "app"}
    both = loaded.with_write_keys(["clikey=web"])
    assert both.write_keys == {"envkey": "app", "clikey": "web"}
    with pytest.raises(ValueError, match="KEY=SOURCE"):
        loaded.with_write_keys(["no-source"])
    with pytest.raises(ValueError):
        loaded.with_write_keys(["k=social"])
    monkeypatch.setenv("CDP_COLLECTOR__WRITE_KEYS", "{'bad:key': web}")
    with pytest.raises(ConfigError, match="write_keys"):
        load_collector_settings()
    with pytest.raises(ValueError, match="max_batch_bytes"):
        CollectorSettings.model_validate({"limits": {"max_event_bytes": 65536, "max_batch_bytes": 32768}})


def test_cdp_collect_refuses_to_start_without_write_keys(tmp_path: Path, capsys, monkeypatch):
    """The command's plain function, and the CLI passing its options through to it."""
    from pipelines import cli
    from pipelines.commands import collect as collect_cmd

    with pytest.raises(ValueError, match="no write keys"):
        collect_cmd.collect(tmp_path / "h")
    assert collect_cmd.collect(tmp_path / "h", write_keys=["k=crm"]) == 2
    assert "write_keys" in capsys.readouterr().err
    seen = []
    monkeypatch.setattr(collect_cmd, "collect", lambda home, host, port, keys: seen.append((home, port, keys)) or 0)
    assert cli.main(["collect", "--home", "h", "--port", "0", "--write-key", "a=web", "--write-key", "b=app"]) == 0
    assert seen == [(Path("h"), 0, ["a=web", "b=app"])]
