"""The Segment spec as Segment defines it, and the schema contract for fields we do not declare."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from connectors import ingest_all
from tests.connectors.conftest import query

CALLS = ("page", "screen", "track", "identify", "group", "alias")


def _event(mid: str, kind: str, **more) -> dict:
    event = {"messageId": mid, "type": kind, "anonymousId": "anon-1", "timestamp": "2026-01-01T10:00:00Z"}
    if kind == "track":
        event["event"] = "Product Viewed"
    if kind == "alias":
        event.update(previousId="anon-0", userId="u-1")
    if kind == "group":
        event.update(groupId="acme", traits={"name": "Acme Inc", "email": "billing@acme.example.es",
                                             "employees": 120})
    event.update(more)
    return event


def _write(src: Path, source: str, name: str, events: list) -> None:
    folder = src / source
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))


@pytest.mark.parametrize("source", ["web", "app"])
def test_all_six_call_types_load_on_web_and_app(src, home, source):
    _write(src, source, "events_2026-01-01.ndjson", [_event(f"{source}-{k}", k) for k in CALLS])
    [r] = ingest_all(home, src, [source])
    assert (r.rows_loaded, r.rows_quarantined) == (6, 0), query(home, "SELECT reason, detail FROM raw.quarantine")
    assert {t for (t,) in query(home, f"SELECT type FROM raw.{source}_events")} == set(CALLS)
    group = query(home, f"SELECT groupId FROM raw.{source}_events WHERE type = 'group'")
    assert group == [("acme",)]
    # A group call's traits are the account's: they never become the person's email in staging.
    assert query(home, "SELECT count(*) FROM staging.customer_records WHERE email IS NOT NULL")[0][0] == 0


def test_a_group_call_needs_its_group_id(src, home):
    bad = _event("g-1", "group")
    del bad["groupId"]
    _write(src, "web", "events_2026-01-01.ndjson", [bad])
    ingest_all(home, src, ["web"])
    assert query(home, "SELECT reason, detail FROM raw.quarantine") == [("missing_field", "groupId")]


def test_times_are_kept_and_skew_corrected_when_timestamp_is_absent(src, home):
    skewed = _event("t-1", "page", sentAt="2026-01-02T10:00:10Z", receivedAt="2026-01-02T12:00:00Z",
                    originalTimestamp="2026-01-02T10:00:00Z")
    del skewed["timestamp"]
    received_only = _event("t-2", "page", receivedAt="2026-01-03T08:00:00Z")
    del received_only["timestamp"]
    kept = _event("t-3", "page", sentAt="2026-01-01T10:00:01Z", receivedAt="2026-01-01T10:00:02Z",
                  originalTimestamp="2026-01-01T09:59:59Z")
    nothing = _event("t-4", "page")
    del nothing["timestamp"]
    _write(src, "web", "events_2026-01-01.ndjson", [skewed, received_only, kept, nothing])
    [r] = ingest_all(home, src, ["web"])
    assert (r.rows_loaded, r.rows_quarantined) == (3, 1)
    rows = query(home, 'SELECT messageId, event_time, "sentAt", "receivedAt", "originalTimestamp" '
                       "FROM raw.web_events ORDER BY 1")
    # receivedAt - (sentAt - originalTimestamp) = 12:00:00 - 10 s
    assert rows[0] == ("t-1", datetime(2026, 1, 2, 11, 59, 50), "2026-01-02T10:00:10Z", "2026-01-02T12:00:00Z",
                       "2026-01-02T10:00:00Z")
    assert rows[1][:2] == ("t-2", datetime(2026, 1, 3, 8, 0))
    assert rows[2][:2] == ("t-3", datetime(2026, 1, 1, 10, 0))  # timestamp wins when present
    assert query(home, "SELECT record_id, reason, detail FROM raw.quarantine") == [
        ("t-4", "missing_field", "timestamp")]


def test_context_traits_integrations_and_numeric_ids(src, home):
    track = _event("c-1", "track", userId=12345, context={"traits": {"email": "ana@mail.example.es",
                                                                      "firstName": "Ana"}},
                   integrations={"All": False, "Mixpanel": True})
    del track["anonymousId"]  # a numeric userId alone identifies the person
    numeric_key = _event(987654321, "page")
    _write(src, "web", "events_2026-01-01.ndjson", [track, numeric_key])
    [r] = ingest_all(home, src, ["web"])
    assert (r.rows_loaded, r.rows_quarantined) == (2, 0)
    row = query(home, "SELECT userId, email, first_name, integrations FROM raw.web_events WHERE messageId = 'c-1'")[0]
    assert row[:3] == ("12345", "ana@mail.example.es", "Ana")
    assert json.loads(row[3]) == {"All": False, "Mixpanel": True}
    staged = query(home, "SELECT record_id, user_id, email FROM staging.customer_records ORDER BY 1")
    assert staged == [("987654321", None, None), ("c-1", "12345", "ana@mail.example.es")]


def _contract_run(src: Path, home: Path, monkeypatch, mode: str):
    monkeypatch.setenv("CDP_SOURCES__LOADING__SCHEMA_CONTRACT", json.dumps({"web_events": mode}))
    _write(src, "web", "events_2026-01-01.ndjson", [
        _event("x-1", "page", _metadata={"bundled": ["Segment.io"]}, version=2),
        _event("x-2", "page")])
    [r] = ingest_all(home, src, ["web"])
    return r


def test_schema_contract_evolve_keeps_unknown_fields_in_extra(src, home, monkeypatch):
    r = _contract_run(src, home, monkeypatch, "evolve")
    assert (r.rows_loaded, r.values_discarded) == (2, 0)
    extra = dict(query(home, "SELECT messageId, extra FROM raw.web_events"))
    assert json.loads(extra["x-1"]) == {"_metadata": {"bundled": ["Segment.io"]}, "version": 2}
    assert extra["x-2"] is None


def test_schema_contract_discard_drops_and_counts(src, home, monkeypatch):
    r = _contract_run(src, home, monkeypatch, "discard")
    assert (r.rows_loaded, r.values_discarded) == (2, 1)
    assert query(home, "SELECT count(extra) FROM raw.web_events") == [(0,)]
    assert query(home, "SELECT values_discarded FROM ops.loads WHERE stream = 'web_events'") == [(1,)]


def test_schema_contract_freeze_quarantines(src, home, monkeypatch):
    r = _contract_run(src, home, monkeypatch, "freeze")
    assert (r.rows_loaded, r.rows_quarantined) == (1, 1)
    assert query(home, "SELECT record_id, reason FROM raw.quarantine") == [("x-1", "unexpected_field")]


def test_extra_csv_columns_are_kept(src, home):
    folder = src / "social"
    folder.mkdir()
    (folder / "leads_2026-01-01.csv").write_text(
        "lead_id,form_id,submitted_at,email,utm_source,campaign\n"
        "L1,f,2026-01-01T10:00:00Z,a@mail.example.es,instagram,spring\n")
    results = {r.stream: r for r in ingest_all(home, src, ["social"])}
    assert results["social_leads"].rows_loaded == 1
    [(extra,)] = query(home, "SELECT extra FROM raw.social_leads")
    assert json.loads(extra) == {"utm_source": "instagram", "campaign": "spring"}


def test_a_newer_social_profile_replaces_the_old_one(src, home):
    folder = src / "social"
    folder.mkdir()
    old = {"profile_id": "P1", "handle": "@ana", "display_name": "Ana", "followers": 10,
           "updated_at": "2026-01-01T10:00:00Z"}
    (folder / "profiles_2026-01-01.ndjson").write_text(json.dumps(old) + "\n")
    ingest_all(home, src, ["social"])
    new = {**old, "display_name": "Ana García", "followers": 12, "updated_at": "2026-01-05T10:00:00Z"}
    stale = {**old, "display_name": "Ana G.", "updated_at": "2025-12-01T10:00:00Z"}
    (folder / "profiles_2026-01-05.ndjson").write_text(json.dumps(new) + "\n" + json.dumps(stale) + "\n")
    results = {r.stream: r for r in ingest_all(home, src, ["social"])}
    r = results["social_profiles"]
    assert (r.rows_loaded, r.rows_duplicate) == (1, 1)
    assert query(home, "SELECT display_name, followers FROM raw.social_profiles") == [("Ana García", 12)]
    assert query(home, "SELECT full_name FROM staging.customer_records WHERE stream = 'social_profiles'") == [
        ("Ana García",)]
