"""Request bodies of Segment's HTTP Tracking API -> the NDJSON lines the connectors read.

The collector checks only what it must to land a request whole or not at all: the size limits
(Segment's 32 KB per event, 500 KB per request, measured after gzip decoding), that the body is
a JSON object, and that a batch is a list of objects. Everything else (types, required fields,
timestamps) is the connectors' job: an odd event lands and is quarantined at ingest with its
reason, never dropped here.

Each landed event gets:
- `receivedAt`: when the collector received it (UTC, ms);
- `sentAt`: kept as sent, the batch's own `sentAt` given to events that carry none;
- `messageId`: kept; when missing or blank, `cdp-` + 32 hex of the SHA-256 of the event's content
  (without `sentAt`/`receivedAt`, which change between a client's retries), so a retried event
  keeps its id and ingest counts it as a duplicate;
- the batch's `context` and `integrations` under its own (Segment's batch semantics);
- no `writeKey` (it names the source; it is not event data).

Error messages name the limit, the event's index and sizes, never the content (personal data).
"""
from __future__ import annotations

import hashlib
import zlib
from datetime import datetime, timezone
from typing import Any

import orjson

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# The collector's own stamps (receivedAt, a filled messageId) do not count against the client's limit.
STAMP_ALLOWANCE = 160


class BadRequest(Exception):
    """A request refused whole: `status` (400, 401, 413, 415) and a `code` SDKs log."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def gunzip_bounded(body: bytes, limit: int) -> bytes:
    """Decode a gzip body (any number of members) into at most `limit` bytes; 413 past it.

    The bound holds while decoding, so a small body that inflates to gigabytes (a gzip bomb)
    costs at most `limit` bytes of memory before it is refused.
    """
    out: list[bytes] = []
    total = 0
    data = body
    while True:
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = decoder.decompress(data, limit - total + 1)
        except zlib.error:
            raise BadRequest(400, "invalid_gzip", "the body is not valid gzip data "
                             "(Content-Encoding: gzip)") from None
        total += len(chunk)
        if total > limit or decoder.unconsumed_tail:
            raise BadRequest(413, "payload_too_large",
                             f"the gzip body decodes to more than {limit} bytes (the limit per request)")
        out.append(chunk)
        if not decoder.eof:
            raise BadRequest(400, "invalid_gzip", "the gzip body is truncated")
        data = decoder.unused_data
        if not data.strip(b"\x00"):  # trailing padding some writers leave
            return b"".join(out)


def decode_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gunzip_bounded(body, limit)
    raise BadRequest(415, "unsupported_encoding", "Content-Encoding must be gzip or none")


def parse_json_object(text: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "invalid_json", f"the body is not valid JSON (at byte {exc.pos})") from None
    if not isinstance(value, dict):
        raise BadRequest(400, "invalid_json", "the body must be a JSON object")
    return value


def received_at_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stable_message_id(event: dict[str, Any]) -> str:
    content = {k: v for k, v in event.items() if k not in ("sentAt", "receivedAt", "messageId", "writeKey")}
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    return "cdp-" + digest.hexdigest()[:32]


def _merged(outer: Any, inner: Any) -> Any:
    """The batch's `context`/`integrations` with the event's own keys over them."""
    if isinstance(outer, dict) and isinstance(inner, dict):
        return {**outer, **inner}
    return inner if inner is not None else outer


def event_lines(body: dict[str, Any], route_type: str | None, received_at: str, max_event_bytes: int) -> tuple[bytes, int]:
    """The NDJSON lines of a request and how many events they hold.

    `route_type` None: a `/v1/batch` body (`batch` list, plus shared `context`, `integrations`,
    `sentAt`); else the body is one event of that type.
    """
    if route_type is None:
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise BadRequest(400, "invalid_batch", "a batch request needs a `batch` list of events")
        events = batch
        shared_context, shared_integrations = body.get("context"), body.get("integrations")
    else:
        events = [body]
        shared_context = shared_integrations = None
    sent_at = body.get("sentAt")
    lines = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadRequest(400, "invalid_event", f"event {index} of the batch is not a JSON object")
        event = dict(event)
        event.pop("writeKey", None)
        if route_type is not None:
            sent_type = event.get("type")
            if sent_type is None:
                event["type"] = route_type
            elif sent_type != route_type:
                raise BadRequest(400, "invalid_type", f"an event of type {str(sent_type)[:20]!r} was sent to "
                                 f"/v1/{route_type}; send it to its own route or to /v1/batch")
        else:
            if shared_context is not None:
                event["context"] = _merged(shared_context, event.get("context"))
            if shared_integrations is not None:
                event["integrations"] = _merged(shared_integrations, event.get("integrations"))
        if sent_at is not None and event.get("sentAt") is None:
            event["sentAt"] = sent_at
        message_id = event.get("messageId")
        if message_id is None or (isinstance(message_id, str) and not message_id.strip()):
            event["messageId"] = stable_message_id(event)
        event["receivedAt"] = received_at
        try:
            line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson refuses integers beyond 64 bits
            raise BadRequest(400, "invalid_event", f"event {index} holds a number JSON cannot carry "
                             "exactly (beyond 64 bits); send it as a string") from None
        if len(line) > max_event_bytes + STAMP_ALLOWANCE:
            where = f"event {index} of the batch" if route_type is None else "the event"
            raise BadRequest(413 if route_type is not None else 400, "event_too_large",
                             f"{where} is {len(line)} bytes; the limit is {max_event_bytes} bytes per event")
        lines.append(line)
    return b"".join(lines), len(lines)


__all__ = ["BadRequest", "EVENT_TYPES", "decode_body", "event_lines", "gunzip_bounded", "parse_json_object",
           "received_at_now", "stable_message_id"]
