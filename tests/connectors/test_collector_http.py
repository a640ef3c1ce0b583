"""The collector's answers to bad input: 401, 400, 413, 415, a gzip bomb, CORS, 429; nothing stored
for a refused request, and no event content in any answer."""
from __future__ import annotations

import gzip
import time
import zlib
from pathlib import Path

import httpx
import orjson
import pytest

from tests.connectors.collector_helpers import (WEB_KEY, ThreadedCollector, collected_events, spooled_files)

SECRET = "maria.secret@example.com"  # personal data that must never be echoed back


def _event(i: int = 0, **extra) -> dict:
    return {"type": "track", "userId": f"u{i}", "event": "Product Viewed", "timestamp": "2026-03-01T10:00:00.000Z",
            "properties": {"email": SECRET}, **extra}


def _landed(home: Path) -> int:
    """Lines on disk, open segment or rotated."""
    total = len(collected_events(home, "web")) + len(collected_events(home, "app"))
    for source in ("web", "app"):
        total += sum(p.read_bytes().count(b"\n") for p in spooled_files(home, source))
    return total


@pytest.fixture
def collector(tmp_path: Path):
    with ThreadedCollector(tmp_path / "home") as running:
        yield running


def _post(collector, path: str, body: bytes | dict, auth=(WEB_KEY, ""), **headers) -> httpx.Response:
    content = orjson.dumps(body) if isinstance(body, dict) else body
    return httpx.post(f"{collector.url}{path}", content=content, auth=auth, headers=headers, timeout=30)


def _refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["message"]
    assert SECRET not in response.text
    return body["message"]


def test_write_keys_basic_auth_or_body(collector):
    home = collector.home
    _refused(_post(collector, "/v1/track", _event(), auth=("wrong", "")), 401, "invalid_write_key")
    _refused(_post(collector, "/v1/track", _event(writeKey="wrong"), auth=None), 401, "invalid_write_key")
    _refused(_post(collector, "/v1/track", _event(), auth=None), 401, "missing_write_key")
    _refused(_post(collector, "/v1/batch", {"batch": [_event()]}, auth=None,
                   Authorization="Bearer x"), 401, "invalid_write_key")
    assert _landed(home) == 0  # nothing of a refused request is stored
    assert _post(collector, "/v1/track", _event(writeKey=WEB_KEY), auth=None).json() == {"success": True}
    assert _post(collector, "/v1/track", _event(1)).status_code == 200
    assert _landed(home) == 2
    assert collector.app.state.stats["refused_401"] == 4


def test_malformed_bodies_get_400_and_store_nothing(collector):
    _refused(_post(collector, "/v1/batch", b'{"batch": [{"type": "track", '), 400, "invalid_json")
    _refused(_post(collector, "/v1/batch", b"[1, 2]"), 400, "invalid_json")
    _refused(_post(collector, "/v1/batch", {"batch": {"type": "track"}}), 400, "invalid_batch")
    message = _refused(_post(collector, "/v1/batch", {"batch": [_event(), "not an event"]}), 400, "invalid_event")
    assert "event 1" in message
    _refused(_post(collector, "/v1/track", {**_event(), "type": "identify"}), 400, "invalid_type")
    _refused(_post(collector, "/v1/batch", b"\x1f\x8b\x08garbage", **{"Content-Encoding": "gzip"}), 400, "invalid_gzip")
    truncated = gzip.compress(orjson.dumps({"batch": [_event()]}))[:-12]
    _refused(_post(collector, "/v1/batch", truncated, **{"Content-Encoding": "gzip"}), 400, "invalid_gzip")
    _refused(_post(collector, "/v1/batch", orjson.dumps({"batch": []}), **{"Content-Encoding": "br"}), 415,
             "unsupported_encoding")
    assert _landed(collector.home) == 0


def test_segment_size_limits(collector):
    big = "x" * (33 << 10)
    # an event over 32 KB inside a batch: 400 naming its index; the whole batch is refused
    message = _refused(_post(collector, "/v1/batch", {"batch": [_event(0), _event(1, properties={"blob": big})]}),
                       400, "event_too_large")
    assert "event 1" in message and "32768" in message
    # a single call over 32 KB: 413
    _refused(_post(collector, "/v1/track", _event(properties={"blob": big})), 413, "payload_too_large")
    # a batch over 500 KB: 413, refused from its Content-Length before it is read
    many = {"batch": [_event(i, properties={"blob": "y" * 20_000}) for i in range(30)]}
    _refused(_post(collector, "/v1/batch", many), 413, "payload_too_large")
    # the same without a Content-Length (chunked): refused once the limit is passed
    chunks = (orjson.dumps(many)[i:i + 65536] for i in range(0, len(orjson.dumps(many)), 65536))
    response = httpx.post(f"{collector.url}/v1/batch", content=chunks, auth=(WEB_KEY, ""))
    _refused(response, 413, "payload_too_large")
    assert _landed(collector.home) == 0
    # just under the limits: accepted
    fits = {"batch": [_event(i, properties={"blob": "y" * 20_000}) for i in range(24)]}
    assert _post(collector, "/v1/batch", fits).status_code == 200
    assert _landed(collector.home) == 24


def test_gzip_bodies_and_a_gzip_bomb(collector):
    body = gzip.compress(orjson.dumps({"batch": [_event(i) for i in range(50)]}))
    assert _post(collector, "/v1/batch", body, **{"Content-Encoding": "gzip"}).status_code == 200
    # two gzip members are one stream (as Arrow and DuckDB read them)
    half = orjson.dumps({"batch": [_event(99)]})
    two = gzip.compress(half[:10]) + gzip.compress(half[10:])
    assert _post(collector, "/v1/batch", two, **{"Content-Encoding": "gzip"}).status_code == 200
    assert _landed(collector.home) == 51
    # 400 MB of blanks in ~400 KB of gzip (within the body limit): refused at 500 KB decoded, never inflated
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = compressor.compress(b'{"batch": [') + b"".join(
        compressor.compress(b" " * (1 << 20)) for _ in range(400)) + compressor.flush()
    assert len(bomb) < 500 << 10
    started = time.perf_counter()
    _refused(_post(collector, "/v1/batch", bomb, **{"Content-Encoding": "gzip"}), 413, "payload_too_large")
    assert time.perf_counter() - started < 5
    assert _landed(collector.home) == 51


def test_cors_preflight_and_simple_browser_posts(collector):
    origin = "https://shop.example.com"
    response = httpx.options(f"{collector.url}/v1/t", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", origin)
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    # analytics.js posts text/plain with the write key in the body to /v1/<first letter of the type>
    body = orjson.dumps({**_event(), "writeKey": WEB_KEY})
    response = httpx.post(f"{collector.url}/v1/t", content=body,
                          headers={"Origin": origin, "Content-Type": "text/plain"})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] in ("*", origin)
    response = httpx.post(f"{collector.url}/v1/b", headers={"Origin": origin, "Content-Type": "text/plain"},
                          content=orjson.dumps({"batch": [_event(1), _event(2)], "writeKey": WEB_KEY}))
    assert response.status_code == 200
    assert _landed(collector.home) == 3


def test_health(collector):
    assert _post(collector, "/v1/batch", {"batch": [_event(i) for i in range(3)]}).status_code == 200
    health = httpx.get(f"{collector.url}/health").json()
    assert health["status"] == "ok" and health["landed_events"]["web"] == 3 and health["pending_bytes"] == 0
    assert health["ack_ms"]["count"] == 1 and 0 < health["ack_ms"]["p50"] <= health["ack_ms"]["max"]
    assert health["fsync_ms"]["count"] == 1 and health["fsync_ms"]["max"] <= health["ack_ms"]["max"]
    assert httpx.get(f"{collector.url}/health", params={"window": 5}).json()["ack_ms"]["count"] == 1


def test_429_with_retry_after_when_the_disk_floor_is_reached(tmp_path: Path):
    with ThreadedCollector(tmp_path / "home", backpressure={"min_free_bytes": 1 << 60}) as collector:
        response = _post(collector, "/v1/batch", {"batch": [_event()]})
        _refused(response, 429, "busy")
        assert response.headers["retry-after"] == "5"
        assert "disk" in response.json()["message"]
        assert _landed(collector.home) == 0


def test_429_when_the_write_queue_is_full(tmp_path: Path):
    with ThreadedCollector(tmp_path / "home", backpressure={"max_pending_bytes": 65536,
                                                            "retry_after_seconds": 2}) as collector:
        big = {"batch": [_event(i, properties={"blob": "z" * 20_000}) for i in range(5)]}  # ~100 KB of lines
        response = _post(collector, "/v1/batch", big)
        _refused(response, 429, "busy")
        assert response.headers["retry-after"] == "2" and "queue" in response.json()["message"]
        assert _post(collector, "/v1/batch", {"batch": [_event()]}).status_code == 200
        assert _landed(collector.home) == 1


def test_segment_sdk_retries_a_429_and_delivers(tmp_path: Path):
    """The SDK honours Retry-After; once the floor clears, the batch lands (never a silent drop)."""
    from segment.analytics import Client

    from connectors.collector.landing import Landing

    with ThreadedCollector(tmp_path / "home", backpressure={"retry_after_seconds": 1}) as collector:
        landing: Landing = collector.landing
        refusals = iter([True, True])
        original = landing.refusal
        landing.refusal = lambda size: ("the landing disk is below its free-space floor"
                                        if next(refusals, False) else original(size))
        errors = []
        client = Client(WEB_KEY, host=collector.url, upload_interval=0.05, max_retries=3,
                        on_error=lambda e, batch: errors.append(repr(e)))
        ok, msg = client.track(user_id="u-retry", event="Signed Up")
        client.flush()
        client.shutdown()
        assert errors == [] and collector.app.state.stats["refused_429"] == 2
    assert [e["messageId"] for e in collected_events(collector.home, "web")] == [msg["messageId"]]
