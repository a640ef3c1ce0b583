"""Consent per customer and purpose, collected from the events themselves.

Web and app events carry Segment's `context.consent.categoryPreferences` (`marketing`,
`analytics`); social lead forms carry `consent_marketing`. The connectors stage each statement
(`staging.consent_statements`); the latest statement per customer and purpose wins (ties broken
by source and record id, so reruns are identical). The result is `profiles.consent` (`customer_id`, `purpose`, `granted`, `updated_at`, `source`, `record_id`).

Segments, exports and sync targets declare the purposes their use needs (`purposes:`); they call
`allowed_sql(con, purposes)`: a customer must have granted every one of them. Customers with no
recorded choice are NOT allowed unless `consent.unknown_allows_<purpose>` says otherwise (GDPR
default).
"""
from __future__ import annotations

import duckdb

from profiles.crm_sync._sql import relation_exists
from warehouse.sql import transaction

PURPOSES = ("marketing", "analytics")

CONSENT_TABLE = "profiles.consent"


def build_consent(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild `profiles.consent` from `staging.consent_statements` and `identity.record_map`;
    returns its row count. (Connectors state what each record says: warehouse.staging.)"""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CONSENT_TABLE} (customer_id VARCHAR, purpose VARCHAR, "
        "granted BOOLEAN, updated_at TIMESTAMP, source VARCHAR, record_id VARCHAR)"
    )
    if not relation_exists(con, "staging", "consent_statements") or not relation_exists(con, "identity", "record_map"):
        con.execute(f"DELETE FROM {CONSENT_TABLE}")
        return 0
    with transaction(con):
        con.execute(f"DELETE FROM {CONSENT_TABLE}")
        con.execute(
            f"""
            INSERT INTO {CONSENT_TABLE}
            SELECT m.customer_id, s.purpose, s.granted, s.stated_at AS updated_at, s.source, s.record_id
            FROM staging.consent_statements s
            JOIN identity.record_map m ON m.source = s.source AND m.record_id = s.record_id
            WHERE s.granted IS NOT NULL AND list_contains(?, s.purpose)
            QUALIFY row_number() OVER (
                PARTITION BY m.customer_id, s.purpose
                ORDER BY s.stated_at DESC NULLS LAST, s.source DESC, s.record_id DESC
            ) = 1
            ORDER BY m.customer_id, s.purpose
            """, [list(PURPOSES)]
        )
    return con.execute(f"SELECT count(*) FROM {CONSENT_TABLE}").fetchone()[0]


def _unknown_allows(purpose: str) -> bool:
    from config.sync import load_sync_settings

    return load_sync_settings().consent.unknown_allows(purpose)


def allowed_sql(con: duckdb.DuckDBPyConnection, purposes: list[str] | tuple[str, ...],
                unknown_allowed: dict[str, bool] | None = None) -> str | None:
    """A SELECT of the `customer_id`s who may be used for EVERY purpose in `purposes`, to join
    against in SQL; None when `purposes` is empty (no consent needed).

    A customer with no recorded statement for a purpose is refused unless `unknown_allowed[purpose]`
    (default: config/sync.yaml `consent.unknown_allows_<purpose>`, false as GDPR asks). Builds
    `profiles.consent` first when it does not exist yet. The text contains no user input.
    """
    purposes = sorted(set(purposes))
    unknown = [p for p in purposes if p not in PURPOSES]
    if unknown:
        raise ValueError(f"unknown consent purpose(s) {unknown}; use {', '.join(PURPOSES)}")
    if not purposes:
        return None
    if not relation_exists(con, "profiles", "consent"):
        build_consent(con)
    universe = (
        "SELECT customer_id FROM profiles.golden"
        if relation_exists(con, "profiles", "golden")
        else "SELECT DISTINCT customer_id FROM identity.record_map"
    )
    parts = []
    for purpose in purposes:
        allows_unknown = (unknown_allowed or {}).get(purpose)
        if allows_unknown is None:
            allows_unknown = _unknown_allows(purpose)
        if allows_unknown:
            parts.append(f"customer_id NOT IN (SELECT customer_id FROM {CONSENT_TABLE} "
                         f"WHERE purpose = '{purpose}' AND NOT granted)")
        else:
            parts.append(f"customer_id IN (SELECT customer_id FROM {CONSENT_TABLE} "
                         f"WHERE purpose = '{purpose}' AND granted)")
    return f"SELECT customer_id FROM ({universe}) WHERE {' AND '.join(parts)}"


def marketing_allowed_sql(con: duckdb.DuckDBPyConnection, unknown_allowed: bool | None = None) -> str:
    """`allowed_sql` for marketing alone (what marketing exports and syncs have always called)."""
    return allowed_sql(con, ["marketing"], None if unknown_allowed is None else {"marketing": unknown_allowed})


def marketing_allowed(con: duckdb.DuckDBPyConnection, unknown_allowed: bool | None = None) -> set[str]:
    """The customer ids that may receive marketing (consent granted; unknown per config, default no)."""
    rows = con.execute(marketing_allowed_sql(con, unknown_allowed)).fetchall()
    return {row[0] for row in rows}


def allowed(con: duckdb.DuckDBPyConnection, purposes: list[str], unknown_allowed: dict[str, bool] | None = None
            ) -> set[str] | None:
    """The customer ids allowed every purpose; None when no purpose is asked."""
    sql = allowed_sql(con, purposes, unknown_allowed)
    return None if sql is None else {row[0] for row in con.execute(sql).fetchall()}
