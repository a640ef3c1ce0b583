"""Staging carries what downstream reads: profiles, traits, consent and accounts are built with the
raw layer gone; the staging contract is declared once and everything else follows it."""
from __future__ import annotations

import json
from pathlib import Path

from config.profiles import load_profiles_config
from connectors import ingest_all
from identity import resolve
from profiles.accounts import build_accounts
from profiles.consent import build_consent
from profiles.golden import build_golden
from profiles.traits import build_traits
from warehouse.connection import connect_home
from warehouse.staging import STAGING_COLUMNS, STAGING_TABLES


def test_profiles_never_read_raw(tmp_path, repo_root: Path):
    home = tmp_path / "home"
    ingest_all(home, repo_root / "data" / "samples" / "small")
    resolve(home, mode="full")
    config = load_profiles_config()
    traits_config = config.traits.model_copy(update={"custom": []})  # declared traits are over raw by design
    con = connect_home(home)
    try:
        for (view,) in con.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'raw'").fetchall():
            con.execute(f'DROP VIEW raw."{view}"')
        golden = build_golden(con, config.golden)
        traits = build_traits(con, traits_config)
        consent = build_consent(con)
        display = con.execute("SELECT count(*) FROM profiles.golden WHERE city <> lower(city)").fetchone()[0]
    finally:
        con.close()
    assert golden["profiles"] > 100 and traits["buyers"] > 50 and traits["revenue"] > 0
    assert consent > 100
    assert display > 0  # cities shown as spelled ("Madrid"), from the staged record


def test_group_calls_feed_account_traits(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    (src / "web").mkdir(parents=True)
    events = [
        {"messageId": "i-1", "type": "identify", "userId": "u-1", "timestamp": "2026-01-01T10:00:00Z",
         "traits": {"email": "ana@mail.example.es", "firstName": "Ana"}},
        {"messageId": "g-1", "type": "group", "userId": "u-1", "groupId": "acme", "timestamp": "2026-01-02T10:00:00Z",
         "traits": {"name": "Acme", "employees": 100}},
        {"messageId": "g-2", "type": "group", "userId": "u-1", "groupId": "acme", "timestamp": "2026-01-05T10:00:00Z",
         "traits": {"name": "Acme Inc", "employees": 120, "industry": "retail"}},
    ]
    (src / "web" / "events_2026-01-01.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))
    ingest_all(home, src, ["web"])
    resolve(home, mode="full")
    con = connect_home(home)
    try:
        assert build_accounts(con) == {"accounts": 1, "members": 1}
        name, traits, members = con.execute("SELECT name, traits, members FROM profiles.accounts").fetchone()
        customer = con.execute("SELECT customer_id FROM identity.record_map WHERE record_id = 'i-1'").fetchone()[0]
        member = con.execute("SELECT group_id, customer_id FROM profiles.account_members").fetchall()
    finally:
        con.close()
    assert (name, members) == ("Acme Inc", 1) and json.loads(traits)["industry"] == "retail"
    assert member == [("acme", customer)]


def test_the_contract_is_declared_once():
    from identity.normalize import INPUT_COLUMNS
    from warehouse.catalog import load_catalog

    assert tuple(INPUT_COLUMNS) == STAGING_COLUMNS
    documented = load_catalog()["staging"].tables
    for table in STAGING_TABLES:
        assert list(documented[table.name].columns) == list(table.column_names), table.name
