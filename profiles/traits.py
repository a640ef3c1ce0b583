"""Computed traits: `profiles.traits`, one row per golden customer, and the `profiles.customer_360` view.

Built-in traits come from the records the identity layer attached to each customer (activity per
channel), from `staging.orders` (orders, revenue in the base currency, RFM) and from the golden profile
(email domain kind, country inferred from the phone prefix when no address gives it). Further
traits are declared in `config/profiles.yaml` (`traits.custom`): an aggregation over a raw stream
with a filter written in the segment condition language and an optional window, compiled to SQL
with quoted identifiers and bound values, so a new trait never needs code.

Days-since figures are relative to `run_date`: the config value, else the latest event date in the
data, so a demo on a fixed sample gives the same numbers any day it is run.
"""
from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from pathlib import Path

import duckdb
import phonenumbers
import pyarrow as pa

from config.loader import ConfigError
from config.profiles import CustomTrait, TraitsConfig
from profiles.expressions import (
    ExpressionError, compile_condition, evaluation_failure, fields_used, quote_identifier as q, relation_catalog,
)
from profiles.golden import GOLDEN_TABLE, _existing_columns, require_tables
from warehouse.partitions import PART_INPUT, MapParts, SqlPart, run_sql_part, write_partitions
from warehouse.sql import quote_literal, transaction

log = logging.getLogger(__name__)

TRAITS_TABLE = "profiles.traits"
CUSTOMER_VIEW = "profiles.customer_360"

# Declared here so custom traits cannot shadow them (they become columns of one view).
BUILTIN_TRAITS = (
    "run_date", "first_seen", "last_seen", "days_since_last_seen", "records", "web_events", "app_events",
    "social_events", "social_interactions", "social_leads", "orders", "completed_orders", "store_orders",
    "web_orders", "revenue", "avg_order_value", "first_order_at", "last_order_at", "days_since_last_order",
    "days_since_first_order",
    "orders_unconverted", "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score", "rfm_segment",
    "preferred_channel", "email_domain", "email_domain_type", "phone_country", "country_inferred",
    "country_inferred_from", "base_currency",
)


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    return bool(_existing_columns(con, relation))


def resolve_run_date(con: duckdb.DuckDBPyConnection, config: TraitsConfig) -> dt.date:
    if config.run_date:
        return config.run_date
    row = con.execute(
        "SELECT max(CAST(n.event_time AS DATE)) FROM identity.normalized_records n "
        "JOIN identity.record_map m ON m.source = n.source AND m.record_id = n.record_id"
    ).fetchone()
    return row[0] or dt.date.today()


@lru_cache(maxsize=200_000)
def _phone_region(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or None
    except phonenumbers.NumberParseException:
        return None


# Per-customer aggregates over row sets ({rows}): the same SQL whole (embedded) or per customer-id
# hash partition (`map_parts`), so both give the same rows.
ACTIVITY_AGGREGATE = """
        SELECT customer_id,
               min(event_time) AS first_seen,
               max(event_time) AS last_seen,
               count(*) AS records,
               count(*) FILTER (WHERE source = 'web') AS web_events,
               count(*) FILTER (WHERE source = 'app') AS app_events,
               count(*) FILTER (WHERE source = 'social') AS social_events,
               count(*) FILTER (WHERE stream = 'social_interactions') AS social_interactions,
               count(*) FILTER (WHERE stream = 'social_leads') AS social_leads
        FROM {rows} GROUP BY customer_id
"""


def _activity_rows_sql(con: duckdb.DuckDBPyConnection) -> str:
    """One row per record of a customer: its source, time and stream."""
    has_stream = "stream" in _existing_columns(con, "staging.customer_records")
    stream_join = (
        "LEFT JOIN staging.customer_records s ON s.source = m.source AND s.record_id = m.record_id"
        if has_stream else ""
    )
    stream = "s.stream" if has_stream else "CAST(NULL AS VARCHAR)"
    return f"""
        SELECT m.customer_id, m.source, CAST(n.event_time AS TIMESTAMP) AS event_time, {stream} AS stream
        FROM identity.record_map m
        LEFT JOIN identity.normalized_records n ON n.source = m.source AND n.record_id = m.record_id
        {stream_join}
    """


def _activity_sql(con: duckdb.DuckDBPyConnection) -> str:
    return ACTIVITY_AGGREGATE.format(rows=f"({_activity_rows_sql(con)})")


def _orders_sql(con: duckdb.DuckDBPyConnection, config: TraitsConfig) -> tuple[str, list]:
    rows, params = _priced_orders_sql(con, config)
    return (ORDERS_AGGREGATE.format(rows=f"({rows})"), params) if rows else ("", [])


def _priced_orders_sql(con: duckdb.DuckDBPyConnection, config: TraitsConfig) -> tuple[str, list]:
    """Order rows from `staging.orders` (one row per order, its latest version: the connector
    stages status, amount, currency and channel with the load that brought them), priced in the
    base currency."""
    spec = config.streams.get("orders")
    if spec is None or not _relation_exists(con, "staging.orders"):
        return "", []
    sql = """
            SELECT m.customer_id, o.created_at AS ordered_at, o.channel,
                   lower(o.status) IN (SELECT unnest(CAST(? AS VARCHAR[]))) AS counts_revenue,
                   CAST(o.amount AS DOUBLE) * r.rate AS amount_base
            FROM staging.orders o
            JOIN identity.record_map m ON m.source = o.source AND m.record_id = o.record_id
            LEFT JOIN _trait_rates r ON r.currency = upper(trim(o.currency))
            -- The latest version per order (staging keeps one; stay safe if it does not).
            QUALIFY row_number() OVER (PARTITION BY o.source, o.record_id
                                       ORDER BY o.updated_at DESC NULLS LAST, o.load_id DESC) = 1
    """
    return sql, [[s.lower() for s in config.revenue_statuses]]


ORDERS_AGGREGATE = """
        SELECT customer_id,
               count(*) AS orders,
               count(*) FILTER (WHERE counts_revenue) AS completed_orders,
               count(*) FILTER (WHERE channel = 'store') AS store_orders,
               count(*) FILTER (WHERE channel = 'web') AS web_orders,
               round(coalesce(sum(amount_base) FILTER (WHERE counts_revenue), 0), 2) AS revenue,
               min(ordered_at) AS first_order_at,
               max(ordered_at) FILTER (WHERE counts_revenue) AS last_order_at,
               count(*) FILTER (WHERE counts_revenue AND amount_base IS NULL) AS orders_unconverted
        FROM {rows} GROUP BY customer_id
"""


def _aggregates_in_parts(con: duckdb.DuckDBPyConnection, config: TraitsConfig, map_parts: MapParts, parts: int,
                         work: Path) -> bool:
    """`_trait_activity` and `_trait_orders` from customer-id hash partitions, one round of parts;
    False when there are no orders to aggregate (the caller makes the empty table)."""
    inputs = {"activity": (write_partitions(con, _activity_rows_sql(con), "customer_id", parts, work / "activity"),
                           ACTIVITY_AGGREGATE)}
    priced, params = _priced_orders_sql(con, config)
    if priced:
        inputs["orders"] = (write_partitions(con, priced, "customer_id", parts, work / "orders", params),
                            ORDERS_AGGREGATE)
    jobs, owners = [], []
    for name, (paths, aggregate) in inputs.items():
        for i, path in enumerate(paths):
            jobs.append(SqlPart(path, (f"CREATE TEMP TABLE _aggregate AS {aggregate.format(rows=PART_INPUT)}",),
                                "_aggregate", str(work / f"{name}-out" / f"part{i}.parquet")))
            owners.append(name)
    outputs = map_parts(run_sql_part, jobs)
    for name, (paths, aggregate) in inputs.items():
        mine = [o for o, owner in zip(outputs, owners) if owner == name]
        if mine:
            files = "[" + ", ".join(quote_literal(o) for o in mine) + "]"
            con.execute(f"CREATE OR REPLACE TEMP TABLE _trait_{name} AS SELECT * FROM read_parquet({files})")
        else:  # no rows at all: the aggregate over the empty row set gives the typed empty table
            rows = _activity_rows_sql(con) if name == "activity" else priced
            con.execute(f"CREATE OR REPLACE TEMP TABLE _trait_{name} AS {aggregate.format(rows=f'({rows})')}",
                        [] if name == "activity" else params)
    return bool(priced)


def _custom_trait_sql(con: duckdb.DuckDBPyConnection, trait: CustomTrait, index: int, config: TraitsConfig,
                      run_date: dt.date, config_file: str) -> tuple[str, list] | None:
    """SELECT customer_id, <value> for one declared trait; None when its stream has no data yet."""
    spec = config.streams[trait.stream]
    relation = f"raw.{trait.stream}"
    if not _relation_exists(con, relation):
        return None
    catalog = relation_catalog(con, relation, alias="r", text_holds_json=True)
    where_key = f"traits.custom[{index}]"
    for role, column in (("key", spec.key), ("time", spec.time)):
        if column not in catalog:
            raise ConfigError([(config_file, f"traits.streams.{trait.stream}.{role}",
                                f"column {column!r} is not in {relation}; its columns: {', '.join(sorted(catalog))}")])
    conditions, params = [], []
    if trait.where is not None:
        try:
            sql, p = compile_condition(trait.where, catalog)
        except ExpressionError as exc:
            raise ConfigError([(config_file, f"{where_key}.{exc.path}", exc.message)]) from None
        conditions.append(sql)
        params += p
    time_expr = f"TRY_CAST({catalog[spec.time].sql} AS TIMESTAMP)"
    if trait.window_days:
        # The last N days up to and including run_date.
        conditions.append(f"{time_expr} >= CAST(? AS TIMESTAMP) AND {time_expr} < CAST(? AS TIMESTAMP)")
        params += [run_date - dt.timedelta(days=trait.window_days - 1), run_date + dt.timedelta(days=1)]
    value_params: list = []
    if trait.field:
        from profiles.expressions import resolve_field

        try:
            field = resolve_field(catalog, trait.field, "")
        except ExpressionError as exc:
            raise ConfigError([(config_file, f"{where_key}.field", exc.message)]) from None
        value_params = list(field.params)
        numeric = field.sql if field.kind == "number" else f"TRY_CAST({field.sql} AS DOUBLE)"
    agg = {
        "count": "count(*)",
        "count_distinct": f"count(DISTINCT {field.sql})" if trait.field else "",
        "sum": f"sum({numeric})" if trait.field else "",
        "avg": f"avg({numeric})" if trait.field else "",
        "min": f"min({numeric})" if trait.field else "",
        "max": f"max({numeric})" if trait.field else "",
        "first_time": f"min({time_expr})",
        "last_time": f"max({time_expr})",
    }[trait.agg]
    where = " AND ".join(conditions) or "TRUE"
    sql = f"""
        SELECT m.customer_id, {agg} AS {q(trait.name)}
        FROM {relation} r
        JOIN identity.record_map m ON m.source = ? AND m.record_id = CAST({catalog[spec.key].sql} AS VARCHAR)
        WHERE {where}
        GROUP BY m.customer_id
    """
    # Parameter order follows the text: aggregate, join, where.
    return sql, value_params + [spec.source] + params


def _first_failing_custom_trait(con: duckdb.DuckDBPyConnection,
                                checks: list[tuple[int, str, list]]) -> tuple[int, str] | None:
    """(index, DuckDB error type) of the first declared trait whose query fails over the data.

    Each runs alone first, so a failure is pinned to its trait and DuckDB's message (which may
    quote a record's value) never leaves this function."""
    for index, sql, params in checks:
        try:
            con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()
        except duckdb.Error as exc:
            return index, type(exc).__name__
    return None


def build_traits(con: duckdb.DuckDBPyConnection, config: TraitsConfig, config_file: str | Path = "config/profiles.yaml",
                 map_parts: MapParts | None = None, parts: int | None = None, work: Path | None = None) -> dict:
    """Rebuild `profiles.traits` and the `profiles.customer_360` view (golden + traits).

    With `map_parts`, the per-customer activity and order aggregates are computed in `parts`
    customer-id hash partitions (Parquet under `work`); what ranks customers against each other
    (RFM quintiles) and the declared traits run here, over every customer at once."""
    require_tables(con, [GOLDEN_TABLE, "identity.record_map", "identity.normalized_records"],
                   "run `cdp profiles --home HOME` (it builds golden profiles first)")
    config_file = str(config_file)
    golden_cols = _existing_columns(con, GOLDEN_TABLE)
    clashes = [t.name for t in config.custom if t.name in BUILTIN_TRAITS or t.name in golden_cols]
    if clashes:
        raise ConfigError([(config_file, "traits.custom", f"trait name(s) {clashes} clash with built-in traits or "
                            "profile fields; choose other names")])
    run_date = resolve_run_date(con, config)

    con.execute("CREATE OR REPLACE TEMP TABLE _trait_rates (currency VARCHAR, rate DOUBLE)")
    con.executemany("INSERT INTO _trait_rates VALUES (?, ?)",
                    [[c.upper(), float(r)] for c, r in sorted(config.currency_rates.items())])
    if map_parts is not None and work is not None:
        have_orders = _aggregates_in_parts(con, config, map_parts, parts or 1, work)
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _trait_activity AS {_activity_sql(con)}")
        orders_sql, orders_params = _orders_sql(con, config)
        if orders_sql:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _trait_orders AS {orders_sql}", orders_params)
        have_orders = bool(orders_sql)
    if not have_orders:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _trait_orders (customer_id VARCHAR, orders BIGINT, completed_orders BIGINT, "
            "store_orders BIGINT, web_orders BIGINT, revenue DOUBLE, first_order_at TIMESTAMP, "
            "last_order_at TIMESTAMP, orders_unconverted BIGINT)"
        )
    # Country from the phone prefix: phonenumbers over DISTINCT phones only.
    phones = [r[0] for r in con.execute(f"SELECT DISTINCT phone FROM {GOLDEN_TABLE} WHERE phone IS NOT NULL").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE _trait_phone_region (phone VARCHAR, region VARCHAR)")
    if phones:
        # One bulk insert from Arrow: executemany would cost a statement per phone.
        regions = pa.table({"phone": phones, "region": [_phone_region(p) for p in phones]})
        con.register("_trait_phone_region_arrow", regions)
        con.execute("INSERT INTO _trait_phone_region SELECT phone, region FROM _trait_phone_region_arrow")
        con.unregister("_trait_phone_region_arrow")

    custom_selects, custom_joins, custom_params, skipped = [], [], [], []
    custom_checks: list[tuple[int, str, list]] = []
    for i, trait in enumerate(config.custom):
        compiled = _custom_trait_sql(con, trait, i, config, run_date, config_file)
        if compiled is None:
            skipped.append(trait.name)
            custom_selects.append(f"CAST(NULL AS BIGINT) AS {q(trait.name)}")
            continue
        sql, params = compiled
        custom_checks.append((i, sql, params))
        alias = f"ct{i}"
        custom_joins.append(f"LEFT JOIN ({sql}) {alias} ON {alias}.customer_id = g.customer_id")
        custom_params += params
        value = f"{alias}.{q(trait.name)}"
        custom_selects.append(f"coalesce({value}, 0) AS {q(trait.name)}" if trait.agg in ("count", "count_distinct")
                              else f"{value} AS {q(trait.name)}")

    rfm_cases, rfm_params = [], []
    for rule in config.rfm_segments:
        rfm_cases.append("WHEN rfm_recency BETWEEN ? AND ? AND rfm_frequency BETWEEN ? AND ? "
                         "AND rfm_monetary BETWEEN ? AND ? THEN ?")
        rfm_params += [*rule.r, *rule.f, *rule.m, rule.name]
    rfm_case = f"CASE WHEN completed_orders = 0 THEN ? {' '.join(rfm_cases)} ELSE 'Other' END"

    custom_cols = "".join(", " + s for s in custom_selects)
    base_params = [run_date, run_date, run_date, run_date, config.base_currency]
    error_type = None
    try:
        with transaction(con):
            con.execute(
                f"""
                CREATE OR REPLACE TABLE {TRAITS_TABLE} AS
                WITH base AS (
                    SELECT g.customer_id,
                           CAST(? AS DATE) AS run_date,
                           a.first_seen, a.last_seen,
                           date_diff('day', CAST(a.last_seen AS DATE), CAST(? AS DATE)) AS days_since_last_seen,
                           coalesce(a.records, 0) AS records,
                           coalesce(a.web_events, 0) AS web_events, coalesce(a.app_events, 0) AS app_events,
                           coalesce(a.social_events, 0) AS social_events,
                           coalesce(a.social_interactions, 0) AS social_interactions,
                           coalesce(a.social_leads, 0) AS social_leads,
                           coalesce(o.orders, 0) AS orders, coalesce(o.completed_orders, 0) AS completed_orders,
                           coalesce(o.store_orders, 0) AS store_orders, coalesce(o.web_orders, 0) AS web_orders,
                           coalesce(o.revenue, 0) AS revenue,
                           CASE WHEN o.completed_orders > 0 THEN round(o.revenue / o.completed_orders, 2) END AS avg_order_value,
                           o.first_order_at, o.last_order_at,
                           date_diff('day', CAST(o.last_order_at AS DATE), CAST(? AS DATE)) AS days_since_last_order,
                           date_diff('day', CAST(o.first_order_at AS DATE), CAST(? AS DATE)) AS days_since_first_order,
                           coalesce(o.orders_unconverted, 0) AS orders_unconverted,
                           CAST(? AS VARCHAR) AS base_currency,
                           lower(split_part(g.email, '@', 2)) AS email_domain,
                           pr.region AS phone_country,
                           g.country AS golden_country
                           {custom_cols}
                    FROM {GOLDEN_TABLE} g
                    LEFT JOIN _trait_activity a ON a.customer_id = g.customer_id
                    LEFT JOIN _trait_orders o ON o.customer_id = g.customer_id
                    LEFT JOIN _trait_phone_region pr ON pr.phone = g.phone
                    {' '.join(custom_joins)}
                ),
                scored AS (
                    -- Quintile scores over buyers: the midpoint of a value's tie group in the ranking
                    -- (mean of percent_rank and cume_dist), so tied customers share a score and a
                    -- crowd of one-order buyers lands low, not high, on frequency.
                    SELECT *,
                        CASE WHEN completed_orders > 0 THEN least(5, 1 + floor(5 * (
                            percent_rank() OVER (PARTITION BY completed_orders > 0 ORDER BY days_since_last_order DESC)
                            + cume_dist() OVER (PARTITION BY completed_orders > 0 ORDER BY days_since_last_order DESC)) / 2))
                        END AS rfm_recency,
                        CASE WHEN completed_orders > 0 THEN least(5, 1 + floor(5 * (
                            percent_rank() OVER (PARTITION BY completed_orders > 0 ORDER BY completed_orders)
                            + cume_dist() OVER (PARTITION BY completed_orders > 0 ORDER BY completed_orders)) / 2))
                        END AS rfm_frequency,
                        CASE WHEN completed_orders > 0 THEN least(5, 1 + floor(5 * (
                            percent_rank() OVER (PARTITION BY completed_orders > 0 ORDER BY revenue)
                            + cume_dist() OVER (PARTITION BY completed_orders > 0 ORDER BY revenue)) / 2))
                        END AS rfm_monetary
                    FROM base
                )
                SELECT * EXCLUDE (golden_country, rfm_recency, rfm_frequency, rfm_monetary),
                       CAST(rfm_recency AS INTEGER) AS rfm_recency, CAST(rfm_frequency AS INTEGER) AS rfm_frequency,
                       CAST(rfm_monetary AS INTEGER) AS rfm_monetary,
                       CAST(CAST(rfm_recency AS INTEGER) AS VARCHAR) || CAST(CAST(rfm_frequency AS INTEGER) AS VARCHAR)
                           || CAST(CAST(rfm_monetary AS INTEGER) AS VARCHAR) AS rfm_score,
                       {rfm_case} AS rfm_segment,
                       CASE WHEN greatest(web_events, app_events, social_events, store_orders) = 0 THEN NULL
                            WHEN web_events >= greatest(app_events, social_events, store_orders) THEN 'web'
                            WHEN app_events >= greatest(social_events, store_orders) THEN 'app'
                            WHEN social_events >= store_orders THEN 'social'
                            ELSE 'store' END AS preferred_channel,
                       CASE WHEN email_domain IS NULL OR email_domain = '' THEN NULL
                            WHEN email_domain IN (SELECT unnest(CAST(? AS VARCHAR[]))) THEN 'free'
                            ELSE 'company' END AS email_domain_type,
                       coalesce(golden_country, phone_country) AS country_inferred,
                       CASE WHEN golden_country IS NOT NULL THEN 'address'
                            WHEN phone_country IS NOT NULL THEN 'phone' END AS country_inferred_from
                FROM scored
                ORDER BY customer_id
                """,
                base_params + custom_params + [config.no_orders_segment] + rfm_params
                + [[d.lower() for d in config.free_mail_domains]],
            )
            # Segments and exports read one relation: every profile field and every trait.
            con.execute(
                f"CREATE OR REPLACE VIEW {CUSTOMER_VIEW} AS SELECT g.*, t.* EXCLUDE (customer_id) "
                f"FROM {GOLDEN_TABLE} g JOIN {TRAITS_TABLE} t USING (customer_id)"
            )
    except duckdb.Error as exc:
        error_type = type(exc).__name__
    if error_type is not None:
        # Outside the except block: DuckDB's message (chained or not) may quote a record's value.
        failure = _first_failing_custom_trait(con, custom_checks)
        if failure is None:
            raise RuntimeError(f"building profiles.traits failed ({error_type}); the database's message is "
                               "withheld because it may quote a customer's value")
        index, error_type = failure
        trait = config.custom[index]
        fields = sorted(({trait.field} if trait.field else set())
                        | (fields_used(trait.where) if trait.where is not None else set()))
        raise ConfigError([(config_file, f"traits.custom[{index}]",
                            f"trait {trait.name!r} " + evaluation_failure(error_type, fields or ["(none)"]))])
    for table in ("_trait_rates", "_trait_activity", "_trait_orders", "_trait_phone_region"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    rows = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE completed_orders > 0), round(sum(revenue), 2), "
        f"sum(orders_unconverted) FROM {TRAITS_TABLE}"
    ).fetchone()
    segments = dict(con.execute(f"SELECT rfm_segment, count(*) FROM {TRAITS_TABLE} GROUP BY 1 ORDER BY 1").fetchall())
    result = {"customers": rows[0], "buyers": rows[1], "revenue": rows[2], "orders_unconverted": int(rows[3] or 0),
              "run_date": run_date.isoformat(), "rfm_segments": segments, "custom_traits": len(config.custom),
              "custom_traits_without_data": skipped}
    log.info("traits built: customers=%s buyers=%s", rows[0], rows[1])
    return result
