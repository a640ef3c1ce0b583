"""Figures for CRM sync and forget: `python benchmarks/sync_privacy.py --profiles 200000`.

Builds a synthetic `profiles.golden` (and a staging table of 5 records per profile) in a temp home,
then times: the first full sync to a file target, a no-change sync, a sync after 1% of profiles
changed, and one `forget` (which scans every table and rewrites the database file).
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.sync import SyncSettings  # noqa: E402
from profiles.crm_sync import sync  # noqa: E402
from profiles.privacy import forget  # noqa: E402
from warehouse.connection import connect_home  # noqa: E402


def build(home: Path, n: int) -> None:
    con = connect_home(home)
    con.execute(f"""
        CREATE TABLE profiles.golden AS
        SELECT 'cus_' || lpad(printf('%x', i), 16, '0') AS customer_id,
               'first' || i AS first_name, 'last' || (i % 5000) AS last_name,
               'person' || i || '@example.com' AS email, '+3461' || lpad(CAST(i AS VARCHAR), 7, '0') AS phone,
               'city' || (i % 300) AS city, ['ES', 'MX', 'ID', 'US'][1 + i % 4] AS country,
               ['person' || i || '@example.com'] AS emails, now()::TIMESTAMP AS updated_at
        FROM range({n}) r(i)""")
    con.execute(f"""
        CREATE TABLE staging.customer_records AS
        SELECT CASE WHEN j = 0 THEN 'transactions' ELSE 'web' END AS source, 'rec-' || i || '-' || j AS record_id,
               CASE WHEN j < 2 THEN 'person' || i || '@example.com' END AS email,
               CASE WHEN j = 0 THEN '+3461' || lpad(CAST(i AS VARCHAR), 7, '0') END AS phone, 'ES' AS country,
               'anon-' || i AS anonymous_id, NULL::VARCHAR AS user_id, NULL::VARCHAR AS social_handle,
               NULL::VARCHAR AS order_id
        FROM range({n}) r(i), range(5) s(j)""")
    con.execute("""CREATE TABLE identity.record_map AS SELECT source, record_id,
                   'cus_' || lpad(printf('%x', CAST(split_part(record_id, '-', 2) AS BIGINT)), 16, '0') AS customer_id
                   FROM staging.customer_records""")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=200_000)
    args = parser.parse_args()
    settings = SyncSettings.model_validate({"targets": {"crm": {"kind": "file", "mapping": {
        "email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
        "city": "city", "country": "country"}}}})
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        build(home, args.profiles)
        figures = []
        con = connect_home(home)
        for label, change in (("first sync (all new)", None), ("no-change sync", None),
                              ("sync after 1% changed", "UPDATE profiles.golden SET city = 'moved' "
                                                        "WHERE hash(customer_id) % 100 = 0")):
            if change:
                con.execute(change)
            start = time.perf_counter()
            result = sync(con, "crm", settings)
            seconds = time.perf_counter() - start
            figures.append((label, seconds, result.summary()))
        con.close()
        start = time.perf_counter()
        result = forget(home, email="Person12345@example.com")
        figures.append(("forget one person", time.perf_counter() - start, result.summary()))
    print(f"profiles: {args.profiles:,} (staging records: {5 * args.profiles:,})")
    for label, seconds, summary in figures:
        rate = f"{args.profiles / seconds:,.0f} profiles/s" if "sync" in label else ""
        print(f"{label:<24} {seconds:7.2f} s  {rate:>20}  | {summary}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
