"""`kill -9` of a collector under load, a restart, an ingest: nothing acknowledged is lost, no half
line is misread, and a retried (unacknowledged) batch counts as duplicates, not as new rows."""
from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson

from tests.connectors.collector_helpers import (WEB_KEY, APP_KEY, collected_events, ingest_collected,
                                                spooled_files, start_collector_process)
from tests.connectors.conftest import query


def _batch(source: str, size: int = 50) -> list[dict]:
    return [{"messageId": f"{source}-{uuid.uuid4()}", "type": "track", "event": "Product Viewed",
             "userId": f"user-{i}", "timestamp": "2026-03-01T10:00:00.000Z",
             "properties": {"sku": f"sku-{i}", "blob": "x" * 400}} for i in range(size)]


def _load(port: int, stop: threading.Event, acked: dict, attempted: dict, lock: threading.Lock) -> None:
    """Send batches until told to stop or the collector dies; note what was acknowledged."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        while not stop.is_set():
            source = "web" if len(attempted["web"]) <= len(attempted["app"]) else "app"
            batch = _batch(source)
            ids = [e["messageId"] for e in batch]
            with lock:
                attempted[source].update(ids)
            try:
                response = client.post("/v1/batch", auth=(WEB_KEY if source == "web" else APP_KEY, ""),
                                       content=orjson.dumps({"batch": batch}))
            except httpx.HTTPError:
                return  # the collector is gone: this batch is unacknowledged
            if response.status_code == 200:
                with lock:
                    acked[source].update(ids)


def test_kill_9_mid_load_loses_nothing_acknowledged(tmp_path: Path):
    home = tmp_path / "home"
    proc, port = start_collector_process(home)
    acked = {"web": set(), "app": set()}
    attempted = {"web": set(), "app": set()}
    lock, stop = threading.Lock(), threading.Event()
    senders = [threading.Thread(target=_load, args=(port, stop, acked, attempted, lock)) for _ in range(4)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while len(acked["web"]) + len(acked["app"]) < 5000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
    proc.wait(10)
    stop.set()
    for sender in senders:
        sender.join(30)
    acknowledged = {s: set(ids) for s, ids in acked.items()}
    assert sum(map(len, acknowledged.values())) >= 5000
    assert any(spooled_files(home, s) for s in ("web", "app"))  # it died with open segments

    # Restart: the spooled segments are recovered (torn tails cut) and rotated; a client retries the
    # batch it got no answer for, and sends one more.
    proc, port = start_collector_process(home)
    retried = sorted(attempted["web"] - acked["web"])[:50]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            if retried:
                batch = [{"messageId": m, "type": "track", "event": "Product Viewed", "userId": "user-r",
                          "timestamp": "2026-03-01T10:00:00.000Z"} for m in retried]
                assert client.post("/v1/batch", auth=(WEB_KEY, ""), json={"batch": batch}).status_code == 200
                acknowledged["web"].update(retried)
            after = _batch("app", 10)
            assert client.post("/v1/batch", auth=(APP_KEY, ""), json={"batch": after}).status_code == 200
            acknowledged["app"].update(e["messageId"] for e in after)
    finally:
        proc.send_signal(signal.SIGTERM)  # a clean stop rotates the open segments
        assert proc.wait(30) == 0
    assert not spooled_files(home, "web") and not spooled_files(home, "app")

    results = {r.stream: r for r in ingest_collected(home, tmp_path)}
    for source in ("web", "app"):
        landed = [e["messageId"] for e in collected_events(home, source)]  # every line parses
        stored = {r[0] for r in query(home, f"SELECT messageId FROM raw.{source}_events")}
        result = results[f"{source}_events"]
        assert acknowledged[source] <= set(landed)  # acknowledged = landed ...
        assert acknowledged[source] <= stored  # ... = ingested
        assert stored <= attempted[source] | acknowledged[source]  # nothing invented
        assert result.rows_quarantined == 0 and not result.errors  # no torn line reached ingest
        assert result.rows_loaded == len(stored) == len(set(landed))
        assert result.rows_duplicate == len(landed) - len(set(landed))  # the retried batch
        assert query(home, f"SELECT count(*) - count(DISTINCT messageId) FROM raw.{source}_events")[0][0] == 0
    assert query(home, "SELECT count(*) FROM raw.quarantine")[0][0] == 0


def test_restart_recovers_a_torn_segment_before_serving(tmp_path: Path):
    """A segment left with a half-written last line (the write a kill interrupted) is cut and rotated."""
    home = tmp_path / "home"
    spool = home / "collected" / ".spool" / "web"
    spool.mkdir(parents=True)
    good = [{"messageId": f"m{i}", "type": "track", "event": "E", "userId": "u",
             "timestamp": "2026-03-01T10:00:00.000Z"} for i in range(3)]
    (spool / "events_2026-03-01T10-00-00Z_000001.ndjson").write_bytes(
        b"".join(orjson.dumps(e) + b"\n" for e in good) + b'{"messageId": "m3", "type": "tr')
    proc, port = start_collector_process(home)
    try:
        assert any("recovered 1 segment(s)" in line and "torn byte(s)" in line for line in proc.output_lines)
        assert not spooled_files(home, "web")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    result = {r.stream: r for r in ingest_collected(home, tmp_path, ["web"])}["web_events"]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 3, 0)
