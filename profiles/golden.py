"""Golden profiles: one row per customer, each attribute chosen by a survivorship rule, with provenance.

Why SQL window functions: every rule is a ranking of a customer's records (`ORDER BY` terms), so the
whole table is one `QUALIFY row_number() = 1` per selection unit, computed by DuckDB over all
customers at once; no per-customer Python.

Rules (chains, later ones break ties): `most_recent` (latest event_time), `most_frequent` (value
seen on most records), `source_priority` (config order of sources), `most_complete` (most attributes
of the unit filled; the longest values settle what the chain leaves tied). Remaining ties go to the most recent record, then
(source, record_id), so reruns pick the same winner. Attributes of a group (name, address) come
from one winning record, so an address never mixes two homes.

Provenance: `<attr>_source` and `<attr>_record_id` name the record each value came from.
`profile_checksum` is a SHA-256 over the profile fields (not provenance, not timestamps);
`updated_at` only moves when the checksum changes, so rebuilding unchanged data changes nothing.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb

from config.profiles import GOLDEN_ATTRIBUTES, GoldenConfig
from profiles.expressions import quote_identifier as q
from warehouse.partitions import MapParts, SqlPart, run_sql_part, write_partitions
from warehouse.sql import quote_literal, transaction

log = logging.getLogger(__name__)

IDENTIFIER_LISTS = {
    "emails": "email",
    "phones": "phone",
    "user_ids": "user_id",
    "device_ids": "device_id",
    "anonymous_ids": "anonymous_id",
    "social_handles": "social_handle",
    "order_ids": "order_id",
}
GOLDEN_TABLE = "profiles.golden"


def _rank_terms(rule_chain: list[str]) -> list[str]:
    terms = {
        "most_recent": "event_time DESC NULLS LAST",
        "most_frequent": "_freq DESC",
        "source_priority": "_source_rank ASC",
        "most_complete": "_filled DESC",
    }
    # Longer values (a full "Maria Jose" over "Maria") only settle ties left by the whole chain, so a
    # longer typo never beats the spelling seen most often.
    fuller = ["_length DESC"] if "most_complete" in rule_chain else []
    return [terms[r] for r in rule_chain] + fuller + ["event_time DESC NULLS LAST", "source", "record_id"]


def _unit_sql(unit: str, attrs: list[str], rule_chain: list[str]) -> str:
    cols = ", ".join(q(a) for a in attrs)
    any_filled = " OR ".join(f"{q(a)} IS NOT NULL" for a in attrs)
    filled = " + ".join(f"CAST({q(a)} IS NOT NULL AS INTEGER)" for a in attrs)
    length = " + ".join(f"coalesce(length(CAST({q(a)} AS VARCHAR)), 0)" for a in attrs)
    return f"""
        SELECT customer_id, source AS _src, record_id AS _rid, {cols}
        FROM (
            SELECT customer_id, source, record_id, event_time, {cols},
                   count(*) OVER (PARTITION BY customer_id, {cols}) AS _freq,
                   {filled} AS _filled, {length} AS _length, _source_rank
            FROM _golden_records WHERE {any_filled}
        )
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY {', '.join(_rank_terms(rule_chain))}) = 1
    """


def _existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return {r[0] for r in rows}


def require_tables(con: duckdb.DuckDBPyConnection, tables: list[str], hint: str) -> None:
    missing = [t for t in tables if not _existing_columns(con, t)]
    if missing:
        raise FileNotFoundError(f"the warehouse has no {', '.join(missing)} yet: {hint}")


def _golden_in_parts(con: duckdb.DuckDBPyConnection, map_parts: MapParts, parts: int, work: Path,
                     staging_city: bool, statements: tuple[str, ...]) -> None:
    """`_golden_new` from per-partition parts: each part gets its customers' records (with the
    display spelling of their city), runs the same statements, and writes its rows."""
    city = "d.city_display" if staging_city else "CAST(NULL AS VARCHAR)"
    city_join = "LEFT JOIN _golden_city_display d USING (source, record_id)" if staging_city else ""
    inputs = write_partitions(con, f"SELECT g.*, {city} AS _city_display FROM _golden_records g {city_join}",
                              "customer_id", parts, work / "in")
    setup = ["CREATE TEMP TABLE _golden_records AS SELECT * EXCLUDE (_city_display) FROM _part_input"]
    if staging_city:
        setup.append("CREATE TEMP TABLE _golden_city_display AS SELECT source, record_id, _city_display AS "
                     "city_display FROM _part_input WHERE city IS NOT NULL")
    jobs = [SqlPart(path, (*setup, *statements), "_golden_new", str(work / "out" / f"part{i}.parquet"))
            for i, path in enumerate(inputs)]
    outputs = map_parts(run_sql_part, jobs)
    if not outputs:  # no customer at all: the statements over the (empty) records
        for statement in statements:
            con.execute(statement)
        return
    files = "[" + ", ".join(quote_literal(o) for o in outputs) + "]"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _golden_new AS SELECT * FROM read_parquet({files})")


def build_golden(con: duckdb.DuckDBPyConnection, config: GoldenConfig, now: dt.datetime | None = None,
                 map_parts: MapParts | None = None, parts: int | None = None,
                 work: Path | None = None) -> dict:
    """Rebuild `profiles.golden` from `identity.record_map` + `identity.normalized_records`.

    With `map_parts`, a customer's survivorship and identifier lists are computed in one of `parts`
    customer-id hash partitions (written under `work` as Parquet, one part each); the rows are the
    same as the embedded build's, which the previous checksums and the table write here meet."""
    require_tables(con, ["identity.record_map", "identity.normalized_records"],
                   "run `cdp resolve --home HOME` first")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    normalized = _existing_columns(con, "identity.normalized_records")
    staging_city = "city" in _existing_columns(con, "staging.customer_records")

    def col(name: str, cast: str = "VARCHAR") -> str:
        # Missing columns become NULL so an older normalizer output still builds.
        return f"CAST(n.{q(name)} AS {cast}) AS {q(name)}" if name in normalized else f"CAST(NULL AS {cast}) AS {q(name)}"

    attr_cols = [col(a, "DATE" if a == "birth_date" else "VARCHAR") for a in GOLDEN_ATTRIBUTES]
    id_cols = [col(c) for c in sorted(set(IDENTIFIER_LISTS.values()) - set(GOLDEN_ATTRIBUTES))]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _golden_records AS
        SELECT m.customer_id, n.source, n.record_id, CAST(n.event_time AS TIMESTAMP) AS event_time,
               {', '.join(attr_cols)}, {', '.join(id_cols)},
               coalesce(list_position(CAST(? AS VARCHAR[]), n.source), 1000) AS _source_rank
        FROM identity.record_map m
        JOIN identity.normalized_records n ON n.source = m.source AND n.record_id = m.record_id
        """,
        [config.source_priority],
    )
    if staging_city:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _golden_city_display AS
            SELECT s.source, s.record_id, min(nullif(trim(s.city), '')) AS city_display
            FROM staging.customer_records s
            JOIN _golden_records g ON g.source = s.source AND g.record_id = s.record_id
            WHERE g.city IS NOT NULL GROUP BY ALL
            """
        )

    units = config.selection_units()
    selects, joins = [], []
    for i, (unit, attrs, chain) in enumerate(units):
        alias = f"u{i}"
        joins.append(f"LEFT JOIN ({_unit_sql(unit, attrs, chain)}) {alias} ON {alias}.customer_id = c.customer_id")
        for attr in attrs:
            value = f"{alias}.{q(attr)}"
            if attr == "city" and staging_city:
                # Matched in its key form ("malaga"); shown as the winning record spelled it ("Málaga").
                joins.append(f"LEFT JOIN _golden_city_display d{i} ON d{i}.source = {alias}._src "
                             f"AND d{i}.record_id = {alias}._rid")
                value = f"coalesce(d{i}.city_display, {alias}.{q(attr)})"
            selects.append(f"{value} AS {q(attr)}")
            selects.append(f"CASE WHEN {alias}.{q(attr)} IS NOT NULL THEN {alias}._src END AS {q(attr + '_source')}")
            selects.append(f"CASE WHEN {alias}.{q(attr)} IS NOT NULL THEN {alias}._rid END AS {q(attr + '_record_id')}")
    # list_distinct drops NULLs; sorting after the distinct is far cheaper than an ordered aggregate.
    lists = [
        f"list_sort(list_distinct(list({q(col_name)}))) AS {q(list_name)}"
        for list_name, col_name in IDENTIFIER_LISTS.items()
    ]
    ids_sql = f"""
        CREATE OR REPLACE TEMP TABLE _golden_ids AS
        SELECT customer_id, count(*) AS record_count,
               list_sort(list_distinct(list(source))) AS sources, {', '.join(lists)}
        FROM _golden_records GROUP BY customer_id
        """
    new_sql = f"""
        CREATE OR REPLACE TEMP TABLE _golden_new AS
        WITH chosen AS (
            SELECT c.customer_id, {', '.join(selects)}
            -- Only customers with at least one record left: a customer whose records were all
            -- suppressed or erased must not come back as an empty "ghost" profile.
            FROM (SELECT DISTINCT customer_id FROM _golden_records) c
            {' '.join(joins)}
        )
        SELECT chosen.*, i.record_count, i.sources, {', '.join('i.' + q(n) for n in IDENTIFIER_LISTS)}
        FROM chosen LEFT JOIN _golden_ids i USING (customer_id)
        """
    if map_parts is None or work is None:
        con.execute(ids_sql)
        con.execute(new_sql)
    else:
        _golden_in_parts(con, map_parts, parts or 1, work, staging_city, (ids_sql, new_sql))
    checksum_fields = [a for a in GOLDEN_ATTRIBUTES] + list(IDENTIFIER_LISTS)
    checksum = "sha256(CAST(to_json(struct_pack(" + ", ".join(f"{q(f)} := {q(f)}" for f in checksum_fields) + ")) AS VARCHAR))"
    had_previous = bool(_existing_columns(con, GOLDEN_TABLE))
    previous = (
        f"LEFT JOIN (SELECT customer_id, profile_checksum AS _prev_sum, updated_at AS _prev_at FROM {GOLDEN_TABLE}) p "
        "USING (customer_id)" if had_previous else ""
    )
    kept_at = "CASE WHEN p._prev_sum = g.profile_checksum THEN p._prev_at ELSE CAST(? AS TIMESTAMP) END" if had_previous \
        else "CAST(? AS TIMESTAMP)"
    with transaction(con):
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {GOLDEN_TABLE} AS
            SELECT g.* EXCLUDE (record_count, profile_checksum), g.record_count, g.profile_checksum, {kept_at} AS updated_at
            FROM (SELECT *, {checksum} AS profile_checksum FROM _golden_new) g {previous}
            ORDER BY g.customer_id
            """,
            [now],
        )
    stats = con.execute(
        f"SELECT count(*), count(email), count(phone), count(full_name), "
        f"count(*) FILTER (WHERE updated_at = CAST(? AS TIMESTAMP)) FROM {GOLDEN_TABLE}",
        [now],
    ).fetchone()
    for table in ("_golden_records", "_golden_ids", "_golden_new", "_golden_city_display"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    result = {"profiles": stats[0], "with_email": stats[1], "with_phone": stats[2], "with_name": stats[3],
              "changed": stats[4]}
    log.info("golden profiles built: %s", result)
    return result
