"""Accounts (B2B): what Segment `group` calls say about the companies customers belong to.

A group call ties the person who sent it (through identity: its record maps to a customer) to an
account (`groupId`) and carries the account's traits (name, industry, employees...). From
`staging.account_memberships`:
- `profiles.accounts`: one row per account: its latest traits (`traits`, JSON, and `name`), when
  it was first and last seen, how many customers belong to it;
- `profiles.account_members`: one row per (account, customer): since when and the latest call.
The latest call wins (ties by source and record id, so rebuilds are identical).
"""
from __future__ import annotations

import duckdb

from profiles.crm_sync._sql import relation_exists
from warehouse.sql import transaction

ACCOUNTS_TABLE = "profiles.accounts"
MEMBERS_TABLE = "profiles.account_members"


def build_accounts(con: duckdb.DuckDBPyConnection) -> dict:
    """Rebuild the two account tables; returns their sizes."""
    if not relation_exists(con, "staging", "account_memberships") or not relation_exists(con, "identity", "record_map"):
        return {"accounts": 0, "members": 0}
    with transaction(con):
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {MEMBERS_TABLE} AS
            SELECT a.group_id, m.customer_id, min(a.event_time) AS first_seen, max(a.event_time) AS last_seen
            FROM staging.account_memberships a
            JOIN identity.record_map m ON m.source = a.source AND m.record_id = a.record_id
            WHERE a.group_id IS NOT NULL
            GROUP BY ALL ORDER BY 1, 2
            """)
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {ACCOUNTS_TABLE} AS
            WITH latest AS (
                SELECT group_id, traits, event_time FROM staging.account_memberships WHERE group_id IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY group_id
                                           ORDER BY event_time DESC NULLS LAST, source DESC, record_id DESC) = 1
            ), seen AS (
                SELECT group_id, min(event_time) AS first_seen, max(event_time) AS last_seen
                FROM staging.account_memberships WHERE group_id IS NOT NULL GROUP BY ALL
            )
            SELECT l.group_id, json_extract_string(l.traits, '$.name') AS name, l.traits,
                   s.first_seen, s.last_seen,
                   (SELECT count(DISTINCT customer_id) FROM {MEMBERS_TABLE} x WHERE x.group_id = l.group_id) AS members
            FROM latest l JOIN seen s USING (group_id)
            ORDER BY 1
            """)
    accounts, members = con.execute(
        f"SELECT (SELECT count(*) FROM {ACCOUNTS_TABLE}), (SELECT count(*) FROM {MEMBERS_TABLE})").fetchone()
    return {"accounts": accounts, "members": members}


__all__ = ["ACCOUNTS_TABLE", "MEMBERS_TABLE", "build_accounts"]
