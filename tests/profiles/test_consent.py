"""Consent per customer and purpose from the statements connectors stage (Segment
`context.consent`, social lead forms): the latest statement wins; unknown is not consent."""
from __future__ import annotations

import json

from connectors import ingest_all
from profiles.consent import allowed, build_consent, marketing_allowed
from tests.connectors.conftest import query
from tests.profiles._sync_helpers import build_golden
from warehouse.connection import connect_home
from warehouse.staging import CONSENT_STATEMENTS, insert_rows


def test_latest_statement_wins_and_unknown_is_not_allowed_by_default(profile_warehouse):
    con = connect_home(profile_warehouse)
    try:
        build_golden(con)
        # Maria withdraws marketing on a later web event; an older grant must not win.
        insert_rows(con, CONSENT_STATEMENTS, [
            dict(source="web", stream="web_events", record_id="w-m9", purpose="marketing", granted=False,
                 stated_at="2026-03-01 08:00:00"),
            dict(source="web", stream="web_events", record_id="w-m0", purpose="marketing", granted=True,
                 stated_at="2026-01-01 08:00:00")])
        con.execute("INSERT INTO identity.record_map VALUES ('web', 'w-m9', 'cus_maria', now(), 'r'), "
                    "('web', 'w-m0', 'cus_maria', now(), 'r')")
        assert build_consent(con) == 3
        rows = con.execute("SELECT customer_id, purpose, granted, source, record_id FROM profiles.consent "
                           "ORDER BY 1, 2").fetchall()
        assert rows == [("cus_budi", "marketing", False, "social", "sl-b"),
                        ("cus_maria", "analytics", True, "web", "w-m3"),
                        ("cus_maria", "marketing", False, "web", "w-m9")]
        assert marketing_allowed(con) == set()
        # Unknown allowed: everyone but those who refused.
        assert marketing_allowed(con, unknown_allowed=True) == {"cus_john", "cus_juan", "cus_siti", "cus_anon"}
        assert allowed(con, ["analytics"]) == {"cus_maria"}
        assert allowed(con, []) is None
        assert build_consent(con) == 3  # idempotent rebuild
    finally:
        con.close()


def test_connectors_stage_every_consent_statement(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    (src / "web").mkdir(parents=True)
    (src / "social").mkdir()
    events = [
        {"messageId": "w-1", "type": "page", "anonymousId": "a", "timestamp": "2026-01-01T10:00:00Z",
         "context": {"consent": {"categoryPreferences": {"marketing": True, "analytics": False}}}},
        {"messageId": "w-2", "type": "page", "anonymousId": "a", "timestamp": "2026-01-02T10:00:00Z"},
        {"messageId": "w-3", "type": "track", "event": "X", "userId": "u", "timestamp": "2026-01-03T10:00:00Z",
         "context": {"consent": {"categoryPreferences": {"analytics": True}}}},
    ]
    (src / "web" / "events_2026-01-01.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))
    (src / "social" / "leads_2026-01-01.csv").write_text(
        "lead_id,form_id,submitted_at,email,consent_marketing\nL1,f,2026-01-04T10:00:00Z,a@mail.example.es,false\n"
        "L2,f,2026-01-04T11:00:00Z,b@mail.example.es,\n")
    ingest_all(home, src, ["web", "social"])
    assert query(home, "SELECT record_id, purpose, granted, CAST(stated_at AS VARCHAR) FROM staging.consent_statements "
                       "ORDER BY 1, 2") == [
        ("L1", "marketing", False, "2026-01-04 10:00:00"), ("w-1", "analytics", False, "2026-01-01 10:00:00"),
        ("w-1", "marketing", True, "2026-01-01 10:00:00"), ("w-3", "analytics", True, "2026-01-03 10:00:00")]
