"""Consent per customer and purpose, collected from the events themselves.

Web and app events carry Segment's `context.consent.categoryPreferences` (`marketing`,
`analytics`); social lead forms carry `consent_marketing`. The latest statement per customer and
purpose wins (ties broken by source and record id, so reruns are identical). The result is
`profiles.consent` (`customer_id`, `purpose`, `granted`, `updated_at`, `source`, `record_id`).

Segments, exports and sync targets declare the purposes their use needs (`purposes:`); they call
`allowed_sql(con, purposes)`: a customer must have granted every one of them. Customers with no
recorded choice are NOT allowed unless `consent.unknown_allows_<purpose>` says otherwise (GDPR
default).
"""
from __future__ import annotations

import re

import duckdb

from profiles.crm_sync._sql import columns_of, quote_ident, relation_exists
from warehouse.sql import transaction

PURPOSES = ("marketing", "analytics")

CONSENT_TABLE = "profiles.consent"

# Raw event streams that carry Segment consent, with the `source` value used in record_map.
_EVENT_STREAMS = (("web", "web_events"), ("app", "app_events"))


def _first_present(columns: dict[str, str], *candidates: str) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for candidate in candidates:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def _time_expr(columns: dict[str, str], *candidates: str) -> str:
    """A TIMESTAMP expression over the first time column present (text or typed)."""
    name = _first_present(columns, *candidates)
    if name is None:
        return "CAST(NULL AS TIMESTAMP)"
    col = quote_ident(name)
    dtype = columns[name].upper()
    if dtype.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(timezone('UTC', {col}) AS TIMESTAMP)"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    # ISO text such as 2026-03-01T10:15:00.123Z: parse as UTC, drop the zone.
    return f"CAST(timezone('UTC', TRY_CAST({col} AS TIMESTAMPTZ)) AS TIMESTAMP)"


def _bool_expr(sql: str) -> str:
    """true/false from a JSON/text/bool expression; anything else is NULL (no statement)."""
    return (
        f"CASE lower(trim(CAST({sql} AS VARCHAR), ' \"')) "
        "WHEN 'true' THEN true WHEN '1' THEN true WHEN 'yes' THEN true "
        "WHEN 'false' THEN false WHEN '0' THEN false WHEN 'no' THEN false END"
    )


def _event_purpose_expr(columns: dict[str, str], purpose: str) -> str | None:
    """Where this stream keeps `context.consent.categoryPreferences.<purpose>`, whatever its shape."""
    # Flattened by the connector, e.g. consent_marketing / context_consent_category_preferences_marketing.
    pattern = re.compile(rf"consent.*{purpose}$", re.IGNORECASE)
    for name in columns:
        if pattern.search(name):
            return _bool_expr(quote_ident(name))
    context = _first_present(columns, "context")
    if context is None:
        return None
    dtype = columns[context].upper()
    as_json = f"to_json({quote_ident(context)})" if dtype.startswith(("STRUCT", "MAP")) else (
        f"TRY_CAST({quote_ident(context)} AS JSON)"
    )
    return _bool_expr(f"json_extract_string({as_json}, '$.consent.categoryPreferences.{purpose}')")


def _statement_queries(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One SELECT per raw stream: (source, record_id, purpose, granted, stated_at)."""
    queries = []
    for source, stream in _EVENT_STREAMS:
        columns = columns_of(con, "raw", stream)
        record_id = _first_present(columns, "messageId", "message_id", "record_id")
        if record_id is None:
            continue
        stated_at = _time_expr(columns, "timestamp", "event_time", "originalTimestamp")
        for purpose in PURPOSES:
            granted = _event_purpose_expr(columns, purpose)
            if granted is None:
                continue
            queries.append(
                f"SELECT '{source}' AS source, CAST({quote_ident(record_id)} AS VARCHAR) AS record_id, "
                f"'{purpose}' AS purpose, {granted} AS granted, {stated_at} AS stated_at "
                f"FROM raw.{quote_ident(stream)}"
            )
    leads = columns_of(con, "raw", "social_leads")
    lead_id = _first_present(leads, "lead_id", "record_id")
    consent_col = _first_present(leads, "consent_marketing")
    if lead_id and consent_col:
        queries.append(
            f"SELECT 'social' AS source, CAST({quote_ident(lead_id)} AS VARCHAR) AS record_id, "
            f"'marketing' AS purpose, {_bool_expr(quote_ident(consent_col))} AS granted, "
            f"{_time_expr(leads, 'submitted_at', 'event_time')} AS stated_at "
            f"FROM raw.social_leads"
        )
    return queries


def build_consent(con: duckdb.DuckDBPyConnection) -> int:
    """Rebuild `profiles.consent` from the raw events and `identity.record_map`; returns its row count."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CONSENT_TABLE} (customer_id VARCHAR, purpose VARCHAR, "
        "granted BOOLEAN, updated_at TIMESTAMP, source VARCHAR, record_id VARCHAR)"
    )
    queries = _statement_queries(con)
    if not queries or not relation_exists(con, "identity", "record_map"):
        con.execute(f"DELETE FROM {CONSENT_TABLE}")
        return 0
    statements = " UNION ALL ".join(queries)
    with transaction(con):
        con.execute(f"DELETE FROM {CONSENT_TABLE}")
        con.execute(
            f"""
            INSERT INTO {CONSENT_TABLE}
            SELECT m.customer_id, s.purpose, s.granted, s.stated_at AS updated_at, s.source, s.record_id
            FROM ({statements}) s
            JOIN identity.record_map m ON m.source = s.source AND m.record_id = s.record_id
            WHERE s.granted IS NOT NULL
            QUALIFY row_number() OVER (
                PARTITION BY m.customer_id, s.purpose
                ORDER BY s.stated_at DESC NULLS LAST, s.source DESC, s.record_id DESC
            ) = 1
            ORDER BY m.customer_id, s.purpose
            """
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
