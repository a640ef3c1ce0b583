"""Benchmark the profile layer: golden profiles, traits and segments over synthetic resolved records.

    .venv/bin/python benchmarks/profiles.py --customers 100000 1000000

For each size it writes a warehouse with `identity.normalized_records`, `identity.record_map`,
`staging.customer_records` (stream only), `raw.web_events`, `raw.app_events` and `raw.orders`
(about 16 records per customer: 10 web events, 3 app events, 3 orders), then times
`build_golden`, `build_traits` (default config, its declared traits included) and `run_segments`
(default segments, twice: the second run sees no change), and prints rows/s and peak RSS.
The data is synthesized in DuckDB (no identity resolution): this measures the profile layer alone.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.profiles import load_profiles_config  # noqa: E402
from config.segments import load_segments_config  # noqa: E402
from profiles.golden import build_golden  # noqa: E402
from profiles.segments import run_segments  # noqa: E402
from profiles.traits import build_traits  # noqa: E402
from warehouse.connection import connect_home  # noqa: E402

FIRST = ["Maria", "Jose", "Juan", "Siti", "Budi", "John", "Emily", "Lucia", "Ahmad", "Carmen"]
LAST = ["Garcia", "Lopez", "Santoso", "Smith", "Hernandez", "Wijaya", "Martinez", "Johnson"]
COUNTRIES = ["ES", "MX", "ID", "US"]


def synthesize(con, customers: int) -> int:
    con.execute("BEGIN TRANSACTION")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _people AS
        SELECT i, 'cus_' || lpad(CAST(i AS VARCHAR), 16, '0') AS customer_id,
               list_extract(CAST(? AS VARCHAR[]), 1 + i % 10) AS first_name,
               list_extract(CAST(? AS VARCHAR[]), 1 + (i // 10) % 8) AS last_name,
               list_extract(CAST(? AS VARCHAR[]), 1 + (i // 7) % 4) AS country
        FROM range({customers}) t(i)
        """,
        [FIRST, LAST, COUNTRIES],
    )
    # 16 records per person: k 0-9 web, 10-12 app, 13-15 orders (some people have no orders).
    con.execute(
        """
        CREATE OR REPLACE TABLE identity.normalized_records AS
        SELECT CASE WHEN k < 10 THEN 'web' WHEN k < 13 THEN 'app' ELSE 'transactions' END AS source,
               CASE WHEN k < 13 THEN 'm-' || i || '-' || k ELSE 'o-' || i || '-' || k END AS record_id,
               TIMESTAMP '2026-01-01' + to_minutes(CAST((i * 7919 + k * 104729) % 86400 AS BIGINT)) AS event_time,
               CASE WHEN k < 10 THEN 'anon-' || i END AS anonymous_id, NULL AS previous_id,
               CASE WHEN k >= 10 THEN 'u-' || i END AS user_id,
               CASE WHEN k BETWEEN 10 AND 12 THEN 'dev-' || i END AS device_id,
               CASE WHEN k >= 13 THEN 'o-' || i || '-' || k END AS order_id, NULL AS social_handle,
               CASE WHEN k IN (0, 13, 14) THEN lower(first_name || '.' || last_name || i) || '@gmail.com' END AS email,
               NULL AS email_invalid_reason,
               CASE WHEN k IN (0, 13) THEN '+34' || (600000000 + i) END AS phone, NULL AS phone_invalid_reason,
               CASE WHEN k IN (0, 13, 14, 15) THEN first_name END AS first_name,
               CASE WHEN k IN (0, 13, 14, 15) THEN last_name END AS last_name,
               CASE WHEN k IN (0, 13, 14, 15) THEN first_name || ' ' || last_name END AS full_name,
               NULL AS first_name_key, NULL AS last_name_key, NULL AS full_name_key,
               CASE WHEN k IN (13, 14) THEN 'calle mayor' END AS street,
               CASE WHEN k IN (13, 14) THEN CAST(1 + i % 200 AS VARCHAR) END AS house_number,
               CASE WHEN k IN (13, 14) THEN 'madrid' END AS city,
               CASE WHEN k IN (13, 14) THEN '28013' END AS postcode, NULL AS region,
               CASE WHEN k >= 13 THEN country END AS country,
               CASE WHEN k = 0 THEN DATE '1970-01-01' + CAST(i % 15000 AS INTEGER) END AS birth_date,
               customer_id, k, i
        FROM _people, range(16) r(k)
        WHERE k < 13 OR i % 3 <> 0
        """
    )
    con.execute("CREATE OR REPLACE TABLE identity.record_map AS SELECT source, record_id, customer_id "
                "FROM identity.normalized_records")
    con.execute(
        "CREATE OR REPLACE TABLE staging.customer_records AS SELECT source, CASE source WHEN 'web' THEN 'web_events' "
        "WHEN 'app' THEN 'app_events' ELSE 'orders' END AS stream, record_id, CAST(NULL AS VARCHAR) AS city "
        "FROM identity.normalized_records"
    )
    for stream, source in (("web_events", "web"), ("app_events", "app")):
        con.execute(
            f"""
            CREATE OR REPLACE TABLE raw.{stream} AS
            SELECT record_id AS messageId, CASE WHEN k % 3 = 0 THEN 'page' ELSE 'track' END AS type,
                   CASE WHEN k % 3 = 1 THEN 'Product Viewed' END AS event,
                   strftime(event_time, '%Y-%m-%dT%H:%M:%S.000Z') AS timestamp,
                   CAST('{{"locale": "es-ES"}}' AS JSON) AS context, CAST('{{}}' AS JSON) AS properties
            FROM identity.normalized_records WHERE source = '{source}'
            """
        )
    con.execute(
        """
        CREATE OR REPLACE TABLE raw.orders AS
        SELECT record_id AS order_id, CASE WHEN k = 15 THEN 'store' ELSE 'web' END AS channel,
               strftime(event_time, '%Y-%m-%dT%H:%M:%S.000Z') AS created_at,
               strftime(event_time, '%Y-%m-%dT%H:%M:%S.000Z') AS updated_at,
               CASE WHEN (i + k) % 17 = 0 THEN 'refunded' ELSE 'completed' END AS status,
               CAST(10 + (i * 31 + k * 17) % 400 AS DECIMAL(18, 2)) AS amount,
               list_extract(['EUR', 'USD', 'MXN', 'IDR'], 1 + i % 4) AS currency
        FROM identity.normalized_records WHERE source = 'transactions'
        """
    )
    records = con.execute("SELECT count(*) FROM identity.record_map").fetchone()[0]
    con.execute("DROP TABLE _people")
    con.execute("COMMIT")
    return records


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(customers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        con = connect_home(Path(tmp) / "home")
        t0 = time.perf_counter()
        records = synthesize(con, customers)
        t_syn = time.perf_counter() - t0
        profiles_cfg, segments_cfg = load_profiles_config(), load_segments_config()
        timings = {}
        t = time.perf_counter()
        build_golden(con, profiles_cfg.golden)
        timings["golden"] = time.perf_counter() - t
        t = time.perf_counter()
        build_traits(con, profiles_cfg.traits)
        timings["traits"] = time.perf_counter() - t
        t = time.perf_counter()
        first = run_segments(con, segments_cfg)
        timings["segments (first run)"] = time.perf_counter() - t
        t = time.perf_counter()
        run_segments(con, segments_cfg)
        timings["segments (no change)"] = time.perf_counter() - t
        members = sum(s["size"] for s in first["segments"].values())
        con.close()
    print(f"customers {customers:,}  records {records:,}  (synthesized in {t_syn:.1f} s)")
    for step, seconds in timings.items():
        print(f"  {step:<22} {seconds:7.2f} s   {records / seconds:>12,.0f} records/s")
    print(f"  memberships {members:,}   peak RSS {peak_rss_mb():,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    for n in args.customers:
        run(n)


if __name__ == "__main__":
    main()
