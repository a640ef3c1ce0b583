"""The collector's HTTP app: Segment's Tracking API routes on FastAPI.

Routes: `POST /v1/batch` (and `/v1/import`), `/v1/track`, `/v1/identify`, `/v1/page`,
`/v1/screen`, `/v1/group`, `/v1/alias`, the one-letter paths analytics.js posts to (`/v1/t`,
`/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`, `/v1/a`, `/v1/b`), and `GET /health`.

Answers (the JSON SDKs log: `{"success": false, "code": ..., "message": ...}`):
- 200 `{"success": true}`: every event of the request is on disk (appended and fsynced);
- 400 malformed JSON, a batch that is not a list of objects, an event over 32 KB inside a batch,
  bad gzip; 401 a missing or unknown write key; 413 a request over its limit (500 KB for a batch,
  32 KB for a single call, after gzip decoding; a gzip bomb stops at the limit); 415 an encoding
  other than gzip;
- 429 with `Retry-After` when the write queue or the landing disk is full; 503 with `Retry-After`
  when the disk failed. SDKs retry 429 and 5xx, and ingest dedupes the retries on `messageId`.
A request is landed whole or not at all.
"""
from __future__ import annotations

import base64
import binascii
import logging
import time
from collections import Counter, deque
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware

import orjson

from config.collector import CollectorSettings
from connectors.collector.events import BadRequest, decode_body, event_lines, parse_json_object, received_at_now
from connectors.collector.landing import Landing, LandingBusy, LandingError

log = logging.getLogger(__name__)

SINGLE_ROUTES = {"track": "track", "identify": "identify", "page": "page", "screen": "screen",
                 "group": "group", "alias": "alias",
                 # analytics.js (analytics-next) posts each call to the first letter of its type.
                 "t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias"}
BATCH_ROUTES = ("batch", "import", "b")

_OK = b'{"success":true}'
ACK_WINDOW = 10_000


def _error(status: int, code: str, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(orjson.dumps({"success": False, "code": code, "message": message}), status_code=status,
                    media_type="application/json", headers=headers)


def header_write_key(authorization: str | None) -> str | None:
    """The write key of `Authorization: Basic base64(writeKey:)`; "" for a header that is not one."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes: never read whole first."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, "payload_too_large", f"the body is {declared} bytes; the limit is {limit}")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BadRequest(413, "payload_too_large", f"the body is over {limit} bytes (the limit)")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(home: str | Path, settings: CollectorSettings, landing: Landing | None = None) -> FastAPI:
    """The collector app for `home`; it opens (and at shutdown closes) its own `Landing` unless given one."""
    own_landing = landing is None
    landing = landing or Landing(home, settings)
    keys = dict(settings.write_keys)
    limits = settings.limits
    retry_after = settings.backpressure.retry_after_seconds
    stats: Counter = Counter()
    # Seconds from a request's arrival in the app to its 200 (body read, parse, fsync), recent ones.
    ack_seconds: deque[float] = deque(maxlen=ACK_WINDOW)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if own_landing:
            for report in landing.open():
                if report.segments:
                    log.warning("collector %s: recovered %d spooled segment(s), rotated %d, removed %d torn "
                                "byte(s)", report.source, report.segments, report.rotated, report.torn_bytes)
        try:
            yield
        finally:
            if own_landing:
                landing.close()

    app = FastAPI(title="cdp collector", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.landing = landing
    app.state.stats = stats
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors.allow_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"],
                       max_age=settings.cors.max_age_seconds)

    async def collect(request: Request, route_type: str | None) -> Response:
        started = time.perf_counter()
        stats["requests"] += 1
        try:
            key = header_write_key(request.headers.get("authorization"))
            if key is not None and key not in keys:
                raise BadRequest(401, "invalid_write_key", "unknown write key")
            limit = limits.max_batch_bytes if route_type is None else limits.max_event_bytes
            body = await read_body(request, limit)
            body = decode_body(body, request.headers.get("content-encoding"), limit)
            payload = parse_json_object(body)
            if key is None:
                key = payload.get("writeKey")
                if not isinstance(key, str) or not key:
                    raise BadRequest(401, "missing_write_key", "send the write key as Basic auth "
                                     "(writeKey:) or as `writeKey` in the body")
                if key not in keys:
                    raise BadRequest(401, "invalid_write_key", "unknown write key")
            lines, count = event_lines(payload, route_type, received_at_now(), limits.max_event_bytes)
            if count:
                await landing.append(keys[key], lines)
        except BadRequest as exc:
            stats[f"refused_{exc.status}"] += 1
            return _error(exc.status, exc.code, exc.message)
        except LandingBusy as exc:
            stats["refused_429"] += 1
            return _error(429, "busy", f"{exc}; retry later", retry_after)
        except LandingError as exc:
            stats["refused_503"] += 1
            return _error(503, "unavailable", str(exc), retry_after)
        stats["events"] += count
        ack_seconds.append(time.perf_counter() - started)
        return Response(_OK, media_type="application/json")

    def route(route_type: str | None):
        async def endpoint(request: Request) -> Response:
            return await collect(request, route_type)
        return endpoint

    for path in BATCH_ROUTES:
        app.add_api_route(f"/v1/{path}", route(None), methods=["POST"], include_in_schema=False)
    for path, route_type in SINGLE_ROUTES.items():
        app.add_api_route(f"/v1/{path}", route(route_type), methods=["POST"], include_in_schema=False)

    @app.get("/health")
    async def health(window: int = ACK_WINDOW, fsync_window: int | None = None) -> Response:
        """Liveness, what landed, what was refused, the time to acknowledge the last `window`
        requests and the last `window` fsyncs (p50/p99/max in ms, measured inside the collector: a
        load generator on the same machine adds its own waits to what it sees)."""
        broken = [w.source for w in landing.writers.values() if w.failed]
        def summary(seconds: list[float], last: int) -> dict:
            ordered = sorted(seconds[-max(1, min(last, ACK_WINDOW)):])

            def ms(q: float) -> float | None:
                return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3, 2) if ordered else None

            return {"count": len(ordered), "p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0)}

        body = {"status": "failing" if broken else "ok",
                "pending_bytes": landing.pending_bytes,
                "landed_events": {w.source: w.landed_lines for w in landing.writers.values()},
                "rotated_files": {w.source: w.rotated_files for w in landing.writers.values()},
                "requests": stats["requests"], "events": stats["events"],
                "refused": {k[len("refused_"):]: v for k, v in stats.items() if k.startswith("refused_")},
                "fsyncs": sum(w.fsyncs for w in landing.writers.values()),
                "ack_ms": summary(list(ack_seconds), window),
                "fsync_ms": summary(list(landing.sync_seconds), fsync_window or window)}
        return Response(orjson.dumps(body), status_code=503 if broken else 200, media_type="application/json")

    return app


__all__ = ["create_app", "header_write_key", "read_body", "SINGLE_ROUTES", "BATCH_ROUTES"]
