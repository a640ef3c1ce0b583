"""The vectorized checks give the reason a pydantic model of the spec would: one case per rule."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from connectors.readers import read_ndjson
from connectors.segment import event_spec
from connectors.transactions import ORDERS
from connectors.validation import ndjson_check_sql, tabular_check_sql
from connectors.web import WEB_TYPES

NOW = datetime(2026, 6, 1)
BASE = {"messageId": "m", "type": "page", "timestamp": "2026-01-01T10:00:00.000Z", "anonymousId": "a"}


def check_events(tmp_path: Path, lines: list[str]) -> list[dict]:
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("_raw_batch", pa.concat_tables(list(read_ndjson(path, "web/events.ndjson", 1 << 20))))
    cur = con.execute(ndjson_check_sql(event_spec(WEB_TYPES), "_raw_batch", NOW) + " ORDER BY _line")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


@pytest.mark.parametrize("change, reason, detail", [
    ({}, None, None),
    ({"messageId": 17}, None, None),  # a numeric id is an id (kept as its text)
    ({"messageId": {"id": 17}}, "wrong_type", "messageId"),
    ({"messageId": " \t"}, "missing_field", "messageId"),
    ({"messageId": ""}, "missing_field", "messageId"),
    ({"timestamp": None}, "missing_field", "timestamp"),
    ({"timestamp": 1767261600}, "wrong_type", "timestamp"),
    ({"timestamp": "yesterday"}, "wrong_type", "timestamp"),
    ({"timestamp": "2031-01-01T00:00:00Z"}, "future_timestamp", "timestamp"),
    ({"type": "teleport"}, "invalid_value", "type"),
    ({"type": "track"}, "missing_field", "event"),
    ({"type": "alias", "userId": "u1"}, "missing_field", "previousId"),
    ({"anonymousId": None}, "missing_field", "anonymousId"),
    ({"anonymousId": None, "userId": "u1"}, None, None),
    ({"properties": "not an object"}, "wrong_type", "properties"),
    ({"traits": "not an object"}, "wrong_type", "traits"),
    # A stray type inside a checked object is taken as found, not a reason to drop the event.
    ({"traits": {"email": 12}}, None, None),
    ({"context": {"consent": {"categoryPreferences": {"marketing": "maybe"}}}}, None, None),
])
def test_event_rules(tmp_path: Path, change: dict, reason: str | None, detail: str | None):
    event = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    row = check_events(tmp_path, [json.dumps(event)])[0]
    assert (row["_reason"], row["_detail"]) == (reason, detail)
    assert (row["_payload"] is None) == (reason is None)


def test_values_are_typed_and_flattened(tmp_path: Path):
    event = {**BASE, "type": "identify", "timestamp": "2026-01-01T12:00:00+02:00",
             "traits": {"email": "a@b.c", "firstName": "Zoë", "lastName": "O\"Brien \\ Jr", "name": "é\u00e9",
                        "address": {"city": "Madrid", "postalCode": "28001", "country": "ES"}},
             "properties": {"order_id": "W1", "revenue": 12.5},
             "context": {"consent": {"categoryPreferences": {"marketing": True, "analytics": False}}}}
    row = check_events(tmp_path, [json.dumps(event, ensure_ascii=False)])[0]
    assert row["_reason"] is None
    assert row["event_time"] == datetime(2026, 1, 1, 10, 0)  # UTC
    assert row["timestamp"] == "2026-01-01T12:00:00+02:00"  # as found
    assert (row["email"], row["first_name"], row["last_name"], row["full_name"]) == (
        "a@b.c", "Zoë", 'O"Brien \\ Jr', "éé")
    assert (row["city"], row["postcode"], row["country"], row["order_id"]) == ("Madrid", "28001", "ES", "W1")
    assert float(row["revenue"]) == 12.5
    assert (row["consent_marketing"], row["consent_analytics"]) == (True, False)
    assert json.loads(row["traits"])["address"]["city"] == "Madrid"


def test_lines_that_are_not_json_objects(tmp_path: Path):
    rows = check_events(tmp_path, ['{"messageId": "cut', "[1, 2]", '"just a string"', json.dumps(BASE)])
    assert [(r["_reason"], r["_record_id"]) for r in rows] == [
        ("invalid_json", "web/events.ndjson:1"), ("invalid_json", "web/events.ndjson:2"),
        ("invalid_json", "web/events.ndjson:3"), (None, "m")]
    assert rows[0]["_payload"] == '{"messageId": "cut'


def test_order_rules_on_text_rows():
    good = {"order_id": "S1", "channel": "store", "created_at": "2026-01-01T10:00:00Z", "updated_at": "",
            "status": "completed", "amount": "10.50", "currency": "EUR", "items": "[]"}
    cases = [({}, None, None), ({"amount": "abc"}, "wrong_type", "amount"), ({"order_id": " "}, "missing_field", "order_id"),
             ({"currency": "euro"}, "invalid_value", "currency"), ({"status": "lost"}, "invalid_value", "status"),
             ({"items": "[{"}, "wrong_type", "items"), ({"created_at": "01/02/2026"}, "wrong_type", "created_at"),
             ({"created_at": "2030-01-01T00:00:00Z"}, "future_timestamp", "created_at")]
    columns = ORDERS.source_columns
    rows = [{c: {**good, **change}.get(c) for c in columns} for change, _, _ in cases]
    batch = pa.table({"_file": ["transactions/o.csv"] * len(rows), "_line": list(range(2, 2 + len(rows))),
                      "_payload": [None] * len(rows), "_malformed": [False] * len(rows),
                      "_bad_encoding": [False] * len(rows), "_extra": pa.nulls(len(rows), pa.string()),
                      **{c: pa.array([r[c] for r in rows], pa.string()) for c in columns}})
    con = duckdb.connect()
    con.register("_raw_batch", batch)
    got = con.execute(f"SELECT _reason, _detail, version_time, amount FROM ({tabular_check_sql(ORDERS, '_raw_batch', NOW)}) "
                      "ORDER BY _line").fetchall()
    assert [(r, d) for r, d, _, _ in got] == [(r, d) for _, r, d in cases]
    assert got[0][2] == datetime(2026, 1, 1, 10, 0) and float(got[0][3]) == 10.5  # version falls back to created_at
