"""Consent per customer and purpose from Segment `context.consent` and social lead forms."""
from __future__ import annotations

import json

from profiles.consent import build_consent, marketing_allowed
from tests.profiles._sync_helpers import build_golden
from warehouse.connection import connect_home


def test_latest_statement_wins_and_unknown_is_not_allowed_by_default(profile_warehouse):
    con = connect_home(profile_warehouse)
    try:
        build_golden(con)
        # Maria withdraws marketing on a later web event; an older grant must not win.
        con.execute("INSERT INTO raw.web_events (messageId, type, timestamp, context) VALUES "
                    "('w-m9', 'page', '2026-03-01T08:00:00.000Z', ?), ('w-m0', 'page', '2026-01-01T08:00:00.000Z', ?)",
                    [json.dumps({"consent": {"categoryPreferences": {"marketing": False}}}),
                     json.dumps({"consent": {"categoryPreferences": {"marketing": True}}})])
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
        assert build_consent(con) == 3  # idempotent rebuild
    finally:
        con.close()


def test_struct_shaped_context_is_read_too(profile_warehouse):
    con = connect_home(profile_warehouse)
    try:
        con.execute("CREATE OR REPLACE TABLE raw.app_events AS SELECT 'a-j1' AS messageId, "
                    "'2026-02-15T10:00:00Z' AS timestamp, "
                    "{'consent': {'categoryPreferences': {'marketing': true, 'analytics': false}}} AS context")
        build_consent(con)
        rows = con.execute("SELECT customer_id, purpose, granted FROM profiles.consent WHERE source = 'app' "
                           "ORDER BY 2").fetchall()
        assert rows == [("cus_juan", "analytics", False), ("cus_juan", "marketing", True)]
        assert "cus_juan" in marketing_allowed(con, unknown_allowed=False)
    finally:
        con.close()
