"""Golden profiles: survivorship rules, grouped attributes, provenance, identifier lists, checksums."""
from __future__ import annotations

import datetime as dt

import pytest

from config.profiles import GoldenConfig, ProfilesConfig, load_profiles_config
from profiles.golden import build_golden
from warehouse.connection import connect_home

from _profile_helpers import add_record


def _profile(con, customer_id: str) -> dict:
    cur = con.execute("SELECT * FROM profiles.golden WHERE customer_id = ?", [customer_id])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


@pytest.fixture
def con(profile_warehouse):
    con = connect_home(profile_warehouse)
    yield con
    con.close()


def test_one_row_per_resolved_customer_with_provenance(con):
    result = build_golden(con, load_profiles_config().golden)
    assert result["profiles"] == 6
    ids = [r[0] for r in con.execute("SELECT customer_id FROM profiles.golden ORDER BY 1").fetchall()]
    assert ids == sorted(r[0] for r in con.execute("SELECT DISTINCT customer_id FROM identity.record_map").fetchall())
    maria = _profile(con, "cus_maria")
    # Name group: all three filled everywhere -> most frequent spelling (3 records) beats "María García" (1).
    assert (maria["first_name"], maria["last_name"], maria["full_name"]) == ("Maria", "Garcia", "Maria Garcia")
    assert maria["full_name_record_id"] in {"w-m1", "o-m2", "o-m3"}
    assert maria["first_name_record_id"] == maria["last_name_record_id"] == maria["full_name_record_id"]
    # The provenance points at a record whose value is the chosen one.
    src_value = con.execute(
        "SELECT full_name FROM identity.normalized_records WHERE source = ? AND record_id = ?",
        [maria["full_name_source"], maria["full_name_record_id"]],
    ).fetchone()[0]
    assert src_value == maria["full_name"]
    assert maria["birth_date"] == dt.date(1990, 4, 23)
    assert maria["order_ids"] == ["o-m1", "o-m2", "o-m3"]
    assert maria["user_ids"] == ["u-maria"] and maria["device_ids"] == ["dev-m"]
    assert maria["record_count"] == 7 and maria["sources"] == ["app", "transactions", "web"]
    anon = _profile(con, "cus_anon")
    assert anon["email"] is None and anon["email_source"] is None and anon["anonymous_ids"] == ["anon-x"]


def test_address_comes_from_one_record(con):
    build_golden(con, load_profiles_config().golden)
    maria = _profile(con, "cus_maria")
    # Two complete addresses; the most recent complete one wins as a whole, never a mix.
    assert (maria["street"], maria["house_number"], maria["postcode"]) == ("calle alcala", "10", "28014")
    assert {maria[f"{a}_record_id"] for a in ("street", "house_number", "city", "postcode", "region")} == {"o-m2"}


def test_source_priority_rule_changes_the_winner(con):
    config = GoldenConfig.model_validate({
        "source_priority": ["web", "transactions"],
        "groups": {"address": {"attributes": ["street", "house_number", "city", "postcode", "region"],
                               "rule": ["source_priority"]}},
    })
    build_golden(con, config)
    maria = _profile(con, "cus_maria")
    assert (maria["street"], maria["house_number"], maria["street_source"]) == ("calle mayor", "3", "web")


def test_most_frequent_ties_go_to_the_most_recent(con):
    add_record(con, "cus_john", "web", "w-j-x", "2026-01-01 09:00:00", email="other@acme-corp.com")
    add_record(con, "cus_john", "web", "w-j-y", "2026-01-02 09:00:00", email="other@acme-corp.com")
    add_record(con, "cus_john", "web", "w-j-z", "2026-01-03 09:00:00", email="other@acme-corp.com")
    build_golden(con, GoldenConfig.model_validate({"rules": {"email": "most_frequent"}}))
    # 3 against 3: the address seen last (2026-01-06) wins the tie.
    assert _profile(con, "cus_john")["email"] == "john.smith@acme-corp.com"


def test_most_frequent_versus_most_recent(con):
    add_record(con, "cus_john", "web", "w-j-old1", "2026-01-01 09:00:00", email="js.old@acme-corp.com")
    add_record(con, "cus_john", "web", "w-j-old2", "2026-01-02 09:00:00", email="js.old@acme-corp.com")
    add_record(con, "cus_john", "web", "w-j-old3", "2026-01-03 09:00:00", email="js.old@acme-corp.com")
    add_record(con, "cus_john", "web", "w-j-old4", "2026-01-04 09:00:00", email="js.old@acme-corp.com")
    add_record(con, "cus_john", "web", "w-j-new", "2026-02-20 09:00:00", email="john.new@acme-corp.com")
    build_golden(con, GoldenConfig.model_validate({"rules": {"email": "most_frequent"}}))
    john = _profile(con, "cus_john")
    assert john["email"] == "js.old@acme-corp.com"  # 4 old records beat 3 of the usual address and 1 new
    assert john["emails"] == ["john.new@acme-corp.com", "john.smith@acme-corp.com", "js.old@acme-corp.com"]
    build_golden(con, GoldenConfig.model_validate({"rules": {"email": "most_recent"}}))
    john = _profile(con, "cus_john")
    assert (john["email"], john["email_record_id"]) == ("john.new@acme-corp.com", "w-j-new")


def test_city_is_displayed_as_the_record_spelled_it(con):
    con.execute("UPDATE staging.customer_records SET city = '  Madrid ' WHERE record_id = 'o-m2'")
    build_golden(con, load_profiles_config().golden)
    assert _profile(con, "cus_maria")["city"] == "Madrid"


def test_rebuild_keeps_checksum_and_updated_at_unless_the_profile_changed(con):
    config = load_profiles_config().golden
    first_at = dt.datetime(2026, 3, 1, 8, 0)
    build_golden(con, config, now=first_at)
    before = {r[0]: r[1:] for r in con.execute("SELECT customer_id, profile_checksum, updated_at FROM profiles.golden").fetchall()}
    result = build_golden(con, config, now=dt.datetime(2026, 3, 2, 8, 0))
    assert result["changed"] == 0
    after = {r[0]: r[1:] for r in con.execute("SELECT customer_id, profile_checksum, updated_at FROM profiles.golden").fetchall()}
    assert after == before
    add_record(con, "cus_siti", "app", "a-s1", "2026-02-28 10:00:00", phone="+6281122334455")
    third_at = dt.datetime(2026, 3, 3, 8, 0)
    result = build_golden(con, config, now=third_at)
    assert result["changed"] == 1
    changed = con.execute("SELECT customer_id FROM profiles.golden WHERE updated_at = ?", [third_at]).fetchall()
    assert changed == [("cus_siti",)]
    assert _profile(con, "cus_siti")["phone"] == "+6281122334455"


def test_missing_identity_tables_give_a_clear_error(tmp_path):
    con = connect_home(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="cdp resolve"):
        build_golden(con, ProfilesConfig().golden)
    con.close()


def test_config_rejects_an_attribute_in_two_places():
    with pytest.raises(ValueError, match="email"):
        GoldenConfig.model_validate({"rules": {"email": "most_recent"},
                                     "groups": {"contact": {"attributes": ["email", "phone"]}}})
    with pytest.raises(ValueError, match="unknown attribute"):
        GoldenConfig.model_validate({"groups": {"x": {"attributes": ["shoe_size"]}}})
