"""A forgotten person stays forgotten on every path: the step commands, not only `cdp run`.

ingest -> resolve -> profiles -> sync, then `forget`, then late records of the same person arrive
(another spelling of the email; the phone in US national format) and the same steps run again:
nothing of theirs reaches raw Parquet, staging, a golden profile or the CRM drop.
"""
from __future__ import annotations

import json
from pathlib import Path

from connectors import ingest_all
from identity import resolve
from profiles._steps import build_profiles
from profiles.crm_sync import sync
from profiles.privacy import forget
from tests.connectors.conftest import query

EMAIL = "maria.garcia@gmail.com"
PHONE_E164 = "+15123544173"


def _event(message_id: str, ts: str, **traits) -> dict:
    event = {"messageId": message_id, "type": "identify", "timestamp": ts, "anonymousId": f"anon-{message_id}"}
    if traits:
        event["traits"] = traits
    return event


def _write_web(src: Path, name: str, events: list[dict]) -> None:
    folder = src / "web"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def _write_leads(src: Path, name: str, rows: list[list[str]]) -> None:
    folder = src / "social"
    folder.mkdir(parents=True, exist_ok=True)
    header = "lead_id,form_id,profile_id,handle,submitted_at,full_name,email,phone,city,country,consent_marketing\n"
    (folder / name).write_text(header + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")


def _steps(home: Path, src: Path) -> list:
    loads = ingest_all(home, src, ["web", "social"])
    resolve(home, mode="incremental")
    build_profiles(home)
    sync(home, "crm_file")
    return loads


def _crm_lines(home: Path) -> list[str]:
    return [line for p in sorted((home / "exports" / "sync").rglob("*.ndjson")) for line in p.read_text().splitlines()]


def _everything_text(home: Path) -> str:
    """Every value of every staging/identity/profile/raw row, as text."""
    tables = query(home, "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name <> 'ops'")
    texts = []
    for schema, table in tables:
        texts += [str(r) for r in query(home, f'SELECT * FROM "{schema}"."{table}"')]
    for view in ("web_events", "social_leads"):
        texts += [str(r) for r in query(home, f"SELECT * FROM raw.{view}")]
    return "\n".join(texts).lower()


def test_forgotten_person_is_not_rebuilt_by_the_step_commands(tmp_path):
    home, src = tmp_path / "home", tmp_path / "src"
    _write_web(src, "events_2026-01-01.ndjson", [
        _event("m-1", "2026-01-01T10:00:00Z", email=EMAIL, phone="+1 512-354-4173", firstName="Maria",
               lastName="Garcia", address={"city": "Austin", "country": "US"}),
        _event("j-1", "2026-01-01T11:00:00Z", email="john.smith@acme-corp.com", firstName="John",
               lastName="Smith", address={"city": "Boston", "country": "US"}),
    ])
    _steps(home, src)
    assert any("mariagarcia@gmail.com" in line and PHONE_E164 in line for line in _crm_lines(home))

    forget(home, email="Maria.Garcia@GMAIL.com", request_id="req-e2e")

    # Late records: another spelling of the email; the phone alone in US national format, on the web
    # and in a lead form.
    _write_web(src, "events_2026-01-02.ndjson", [
        _event("m-2", "2026-01-02T10:00:00Z", email=" Maria.Garcia+late@GMAIL.com ", firstName="Maria"),
        _event("m-3", "2026-01-02T10:05:00Z", phone="(512) 354-4173", firstName="Maria", address={"country": "US"}),
        _event("k-1", "2026-01-02T11:00:00Z", email="kim.lee@korea-mail.kr", firstName="Kim"),
    ])
    _write_leads(src, "leads_2026-01-02.csv", [
        ["L-late", "form_a", "", "@maria", "2026-01-02T12:00:00Z", "Maria G", "", "(512) 354-4173", "Austin",
         "US", "true"],
        ["L-other", "form_a", "", "@kim", "2026-01-02T12:00:00Z", "Kim Lee", "kim.lee@korea-mail.kr", "", "Seoul",
         "KR", "true"],
    ])
    loads = _steps(home, src)

    by_stream = {(r.stream, r.status): r for r in loads}
    web = by_stream[("web_events", "ok")]
    leads = by_stream[("social_leads", "ok")]
    assert (web.rows_read, web.rows_loaded, web.rows_quarantined) == (3, 1, 2)
    assert (leads.rows_read, leads.rows_loaded, leads.rows_quarantined) == (2, 1, 1)
    suppressed = query(home, "SELECT record_id, payload FROM raw.quarantine WHERE reason = 'suppressed' ORDER BY 1")
    assert suppressed == [("L-late", None), ("m-2", None), ("m-3", None)]

    text = _everything_text(home)
    for value in ("maria.garcia", "mariagarcia", "354-4173", "3544173"):
        assert value not in text, value
    golden = query(home, "SELECT count(*), count(*) FILTER (WHERE first_name = 'Maria') FROM profiles.golden")
    assert golden[0][1] == 0
    late_lines = _crm_lines(home)
    assert not any("maria" in line.lower() or "4173" in line for line in late_lines)
    assert any("kim.lee@korea-mail.kr" in line for line in late_lines)


def test_no_ghost_profile_for_a_customer_without_records(profile_warehouse):
    """A customer whose records are all gone (suppressed, erased) gets no empty golden row."""
    from config.profiles import load_profiles_config
    from profiles.golden import build_golden
    from warehouse.connection import connect_home

    con = connect_home(profile_warehouse)
    try:
        con.execute("DELETE FROM identity.normalized_records WHERE source = 'web' AND record_id = 'w-a1'")
        build_golden(con, load_profiles_config().golden)
        ids = {r[0] for r in con.execute("SELECT customer_id FROM profiles.golden").fetchall()}
    finally:
        con.close()
    assert "cus_anon" not in ids and "cus_maria" in ids


def test_forget_redacts_the_homes_prefect_database(profile_warehouse):
    """Run parameters, logs and state messages Prefect kept before values were kept out of them."""
    import sqlite3

    from tests.profiles._sync_helpers import build_golden
    from warehouse.connection import connect_home

    con = connect_home(profile_warehouse)
    build_golden(con)
    con.close()
    db = profile_warehouse / ".prefect" / "prefect.db"
    db.parent.mkdir()
    lite = sqlite3.connect(db)
    lite.execute("CREATE TABLE log (id INTEGER, message TEXT, level INTEGER)")
    lite.executemany("INSERT INTO log VALUES (?, ?, 40)", [
        (1, "Conversion Error: Could not convert string 'maria.garcia@gmail.com' to INT32"),
        (2, "step profiles done for john.smith@acme-corp.com's team")])
    lite.commit()
    lite.close()
    forget(profile_warehouse, email="maria.garcia@gmail.com", republish_snapshot=False)
    lite = sqlite3.connect(db)
    messages = [r[0] for r in lite.execute("SELECT message FROM log ORDER BY id").fetchall()]
    lite.close()
    assert "maria.garcia@gmail.com" not in messages[0] and "[forgotten]" in messages[0]
    assert "john.smith@acme-corp.com" in messages[1]
    assert b"maria.garcia@gmail.com" not in db.read_bytes()
