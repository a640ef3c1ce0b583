"""Every line counted: one defect of issue 9 per test, each through `ingest_all`."""
from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from connectors import ingest_all
from tests.connectors.conftest import query
from tests.connectors.samples import ORDER_COLUMNS, order_row

TS = "2026-01-01T10:00:00Z"


def _event(mid: str | None, **more) -> str:
    event = {"type": "page", "anonymousId": "a-1", "timestamp": TS, **more}
    if mid is not None:
        event["messageId"] = mid
    return json.dumps(event)


def _web(src: Path, name: str, data: bytes | str) -> Path:
    folder = src / "web"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _stream(results, stream: str):
    [r] = [r for r in results if r.stream == stream]
    assert r.reconciles, r
    return r


def _quarantine(home: Path, stream: str) -> list[tuple]:
    return query(home, "SELECT line, reason, detail FROM raw.quarantine WHERE stream = ? ORDER BY file, line",
                 [stream])


def test_an_unreadable_file_fails_alone_and_is_named(src, home, monkeypatch):
    import connectors.base as base

    _web(src, "events_2026-01-01.ndjson", _event("m-1") + "\n")
    _web(src, "events_2026-01-02.ndjson", _event("m-2") + "\n")
    _web(src, "events_2026-01-03.ndjson", _event("m-3") + "\n" + _event("m-4") + "\n")
    real = base.fingerprint

    def fingerprint(path):  # as root a chmod 000 file still reads: make this one unreadable
        if path.name == "events_2026-01-02.ndjson":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(base, "fingerprint", fingerprint)
    r = _stream(ingest_all(home, src, ["web"]), "web_events")
    assert (r.status, r.rows_read, r.rows_loaded) == ("partial", 3, 3)
    [error] = query(home, "SELECT error FROM ops.loads WHERE stream = 'web_events'")[0]
    assert "web/events_2026-01-02.ndjson: cannot be read (Permission denied)" in error
    # Fixed: the next run reads it, and only it.
    monkeypatch.setattr(base, "fingerprint", real)
    again = _stream(ingest_all(home, src, ["web"]), "web_events")
    assert (again.status, again.files, again.rows_loaded) == ("ok", 1, 1)


def test_physical_line_numbers_under_cr_crlf_and_0x01(src, home):
    lines = [_event("m-1"), _event("m-2").replace('"page"', '"pa\rge"'),  # a stray CR inside a line
             _event("m-3") + "\r", "", _event("m-4").replace("a-1", "a-\x011"),  # a 0x01 byte in a value
             "   ", _event("m-5")]
    _web(src, "events_2026-01-01.ndjson", "\n".join(lines) + "\n")
    r = _stream(ingest_all(home, src, ["web"]), "web_events")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 3, 2)
    assert _quarantine(home, "web_events") == [(2, "invalid_json", None), (5, "invalid_json", None)]
    assert query(home, "SELECT messageId, _line FROM raw.web_events ORDER BY 2") == [("m-1", 1), ("m-3", 3),
                                                                                     ("m-5", 7)]


def _leads(src: Path, name: str, body: str, encoding: str = "utf-8") -> None:
    folder = src / "social"
    folder.mkdir(parents=True, exist_ok=True)
    header = "lead_id,form_id,profile_id,handle,submitted_at,full_name,email,phone,city,country,consent_marketing\n"
    (folder / name).write_bytes((header + body).encode(encoding))


def _lead(lead_id: str, name: str = "Ana", city: str = "Madrid") -> str:
    return f'{lead_id},f,p,@h,{TS},{name},a@b.es,,{city},ES,true\n'


def test_csv_quoted_newlines_unterminated_quotes_and_all_comma_rows_are_counted(src, home):
    body = (_lead("L1") + _lead("L2", name='"Ana\nMaría"')  # a quoted newline: one record on lines 3-4
            + _lead("L3", city='"Madrid')                   # an open quote: line 5 alone is broken
            + _lead("L4") + ",,,,,,,,,,\n" + "\r\n" + _lead("L5").replace("\n", "\r\n"))
    _leads(src, "leads_2026-01-01.csv", body)
    r = _stream(ingest_all(home, src, ["social"]), "social_leads")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (6, 4, 2)
    assert _quarantine(home, "social_leads") == [(5, "malformed_row", None), (7, "missing_field", "lead_id")]
    assert query(home, "SELECT lead_id, _line, full_name FROM raw.social_leads ORDER BY 2") == [
        ("L1", 2, "Ana"), ("L2", 3, "Ana\nMaría"), ("L4", 6, "Ana"), ("L5", 9, "Ana")]


def test_blank_keys_are_missing_everywhere_and_hide_nothing(src, home):
    _web(src, "events_2026-01-01.ndjson", "\n".join(
        [_event("  "), _event(""), _event("\t"), _event("m-1")]) + "\n")
    r = _stream(ingest_all(home, src, ["web"]), "web_events")
    assert (r.rows_loaded, r.rows_quarantined, r.rows_duplicate) == (1, 3, 0)
    assert {reason for _, reason, _ in _quarantine(home, "web_events")} == {"missing_field"}
    _leads(src, "leads_2026-01-01.csv", _lead("  ") + _lead("L1"))
    leads = _stream(ingest_all(home, src, ["social"]), "social_leads")
    assert (leads.rows_loaded, leads.rows_quarantined) == (1, 1)


def test_latin1_csv_and_sqlite_text_are_quarantined_not_garbled(src, home):
    _leads(src, "leads_2026-01-01.csv", _lead("L1") + _lead("L2", name="José"), encoding="latin-1")
    leads = _stream(ingest_all(home, src, ["social"]), "social_leads")
    assert (leads.rows_loaded, leads.rows_quarantined) == (1, 1)
    assert _quarantine(home, "social_leads") == [(3, "malformed_row", "encoding")]
    # The shop database: one row's text is latin-1 bytes.
    folder = src / "transactions"
    folder.mkdir()
    con = sqlite3.connect(folder / "shop.sqlite")
    con.execute("CREATE TABLE orders (" + ", ".join(f"{c} TEXT" for c in ORDER_COLUMNS) + ")")
    rows = [order_row("W1", "web", TS), order_row("W2", "web", TS)]
    rows[1][ORDER_COLUMNS.index("first_name")] = "José".encode("latin-1")
    con.executemany(f"INSERT INTO orders VALUES ({', '.join('?' * len(ORDER_COLUMNS))})", rows)
    con.commit()
    con.close()
    orders = _stream(ingest_all(home, src, ["transactions"]), "orders")
    assert (orders.rows_loaded, orders.rows_quarantined) == (1, 1)
    assert query(home, "SELECT record_id, reason, detail FROM raw.quarantine WHERE stream = 'orders'") == [
        ("W2", "malformed_row", "encoding")]


def test_out_of_range_numbers_and_dates_are_quarantined_never_nulled(src, home):
    folder = src / "social"
    folder.mkdir(parents=True)
    profile = {"profile_id": "P1", "handle": "@a", "followers": 12, "updated_at": TS}
    lines = [profile, {**profile, "profile_id": "P2", "followers": 2 ** 63},
             {**profile, "profile_id": "P3", "followers": 10 ** 30},
             {**profile, "profile_id": "P4", "updated_at": "0000-12-31T00:00:00Z"},
             {**profile, "profile_id": "P5", "created_at": "-0044-03-15T00:00:00Z"}]
    (folder / "profiles_2026-01-01.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = _stream(ingest_all(home, src, ["social"]), "social_profiles")
    assert (r.rows_loaded, r.rows_quarantined) == (1, 4)
    assert query(home, "SELECT record_id, reason, detail FROM raw.quarantine ORDER BY 1") == [
        ("P2", "wrong_type", "followers"), ("P3", "wrong_type", "followers"),
        ("P4", "wrong_type", "updated_at"), ("P5", "wrong_type", "created_at")]


def test_an_empty_file_loads_as_zero_rows_and_is_remembered(src, home):
    _web(src, "events_2026-01-01.ndjson", b"")
    _web(src, "events_2026-01-02.ndjson.gz", b"")
    _web(src, "events_2026-01-03.ndjson.gz", gzip.compress(b""))
    _leads(src, "leads_2026-01-01.csv", "")
    (src / "social" / "leads_2026-01-02.csv").write_bytes(b"")
    results = ingest_all(home, src, ["web", "social"])
    web, leads = _stream(results, "web_events"), _stream(results, "social_leads")
    assert (web.status, web.files, web.rows_read) == ("ok", 3, 0) and web.errors == []
    assert (leads.status, leads.files, leads.rows_read) == ("ok", 2, 0)
    again = ingest_all(home, src, ["web", "social"])
    assert all(r.files == 0 and not r.errors for r in again)


def test_a_redelivered_file_counts_its_keyless_bad_rows_as_duplicates(src, home):
    body = "\n".join([_event("m-1"), '{"type": "pa', _event(None), "not json", _event("m-2")]) + "\n"
    _web(src, "events_2026-01-01.ndjson", body)
    first = _stream(ingest_all(home, src, ["web"]), "web_events")
    assert (first.rows_loaded, first.rows_quarantined) == (2, 3)
    _web(src, "events_2026-01-01-redelivered.ndjson", body)
    again = _stream(ingest_all(home, src, ["web"]), "web_events")
    assert (again.rows_read, again.rows_loaded, again.rows_quarantined, again.rows_duplicate) == (5, 0, 0, 5)
    assert query(home, "SELECT count(*) FROM raw.quarantine")[0][0] == 3
    per_file = query(home, "SELECT file_name, rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                           "FROM ops.loaded_files ORDER BY 1")
    assert per_file == [("events_2026-01-01-redelivered.ndjson", 5, 0, 0, 5), ("events_2026-01-01.ndjson", 5, 2, 3, 0)]


def test_raw_views_show_only_committed_files(src, home):
    _web(src, "events_2026-01-01.ndjson", _event("m-1") + "\n")
    ingest_all(home, src, ["web"])
    # A load killed after renaming its files into place, before its commit: its file is there.
    [committed] = list((home / "raw" / "web_events").rglob("*.parquet"))
    orphan = committed.with_name("20990101T000000000000_dead00-0.parquet")
    orphan.write_bytes(committed.read_bytes())
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute(f"COPY (SELECT * REPLACE ('20990101T000000000000_dead00' AS _load_id, 'm-9' AS messageId) "
                f"FROM read_parquet('{committed}')) TO '{orphan}' (FORMAT parquet)")
    assert con.execute("SELECT messageId FROM raw.web_events").fetchall() == [("m-1",)]
    con.close()
