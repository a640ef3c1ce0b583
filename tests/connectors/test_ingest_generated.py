"""The generated sample end to end: every broken record quarantined with its reason, loads reconcile,
reruns load nothing, a new file loads alone, a changed SQL row replaces the stored version."""
from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest

from connectors import ingest_all
from tests.connectors.conftest import query

STREAMS = ("web_events", "app_events", "social_profiles", "social_interactions", "social_leads", "orders")


@pytest.fixture(scope="module")
def ingested(generated_sample: Path, tmp_path_factory) -> tuple[Path, Path, list]:
    """The generated sample ingested once (read-only for the tests that use it)."""
    home = tmp_path_factory.mktemp("ingested") / "home"
    return generated_sample, home, ingest_all(home, generated_sample)


def test_every_broken_record_is_quarantined_with_its_reason(ingested):
    generated_copy, home, results = ingested
    assert {r.stream for r in results} == set(STREAMS)
    assert all(r.status == "ok" and r.reconciles for r in results), [r.errors for r in results]
    truth = str(generated_copy / "truth.parquet")
    # Per stream and reason: the broken records of truth are exactly the quarantined ones.
    expected = query(home, f"SELECT stream, broken, count(*) FROM '{truth}' WHERE broken IS NOT NULL "
                           "GROUP BY ALL ORDER BY ALL")
    got = query(home, "SELECT stream, reason, count(*) FROM raw.quarantine GROUP BY ALL ORDER BY ALL")
    assert got == expected
    assert {kind for _, kind, _ in expected} == {"invalid_json", "missing_field", "wrong_type", "future_timestamp"}
    # Record by record (truth names a record without a usable id by `<file>:<line>`).
    unmatched = query(home, f"""SELECT count(*) FROM '{truth}' t WHERE t.broken IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM raw.quarantine q WHERE q.stream = t.stream AND q.record_id = t.record_id
        AND q.reason = t.broken)""")[0][0]
    assert unmatched == 0
    # Every good record is loaded once: truth's good records per stream = rows in the raw views.
    good = dict(query(home, f"SELECT stream, count(*) FROM '{truth}' WHERE broken IS NULL GROUP BY ALL"))
    for stream in STREAMS:
        assert query(home, f"SELECT count(*) FROM raw.{stream}")[0][0] == good[stream], stream
    # ops.loads reconciles and sums to the sample.
    loads = query(home, "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined), sum(rows_duplicate), "
                        "bool_and(rows_read = rows_loaded + rows_quarantined + rows_duplicate) FROM ops.loads")[0]
    total = query(home, f"SELECT count(*), count(*) FILTER (broken IS NULL) FROM '{truth}'")[0]
    assert loads == (total[0], total[1], total[0] - total[1], 0, True)
    # staging: one row per valid identity-bearing record, every one with a load id that exists.
    assert query(home, "SELECT count(*) FROM staging.customer_records")[0][0] == total[1]
    assert query(home, "SELECT count(*) FROM staging.customer_records s ANTI JOIN ops.loads l "
                       "ON s.load_id = l.load_id")[0][0] == 0


def test_staging_maps_identifiers_and_pii(ingested):
    _, home, _ = ingested
    by_stream = {row[0]: row[1:] for row in query(home, """
        SELECT stream, count(email), count(phone), count(user_id), count(device_id), count(order_id),
               count(social_handle), count(full_name), count(anonymous_id), count(*)
        FROM staging.customer_records GROUP BY stream""")}
    email, phone, user, device, order, handle, full_name, anon, total = by_stream["web_events"]
    assert email and phone and user and order and anon == total and device == 0 and handle == 0
    assert by_stream["app_events"][3] == by_stream["app_events"][8]  # every app event has its device id
    assert by_stream["social_profiles"][5] == by_stream["social_profiles"][8]
    assert by_stream["social_profiles"][6] > 0  # display_name -> full_name
    assert by_stream["social_leads"][0] > 0 and by_stream["social_leads"][5] > 0
    assert by_stream["orders"][4] == by_stream["orders"][8] and by_stream["orders"][2] > 0
    # The order a web visitor completed is the order the shop recorded.
    linked = query(home, """SELECT count(*) FROM staging.customer_records w JOIN staging.customer_records o
        ON o.stream = 'orders' AND o.order_id = w.order_id WHERE w.stream = 'web_events'""")[0][0]
    assert linked > 0
    types = {r[0] for r in query(home, "SELECT DISTINCT record_type FROM staging.customer_records")}
    assert {"identify", "track", "page", "profile", "lead", "order"} <= types


def test_rerun_loads_nothing_and_a_new_file_loads_alone(generated_copy: Path, home: Path):
    ingest_all(home, generated_copy)
    before = query(home, "SELECT count(*) FROM staging.customer_records")[0][0]
    again = ingest_all(home, generated_copy)
    assert sum(r.rows_loaded for r in again) == 0 and sum(r.rows_quarantined for r in again) == 0
    assert query(home, "SELECT count(*) FROM staging.customer_records")[0][0] == before

    # A new day's web file: a copy of one day's events with fresh message ids.
    first = sorted((generated_copy / "web").glob("events_*"))[0]
    lines = gzip.decompress(first.read_bytes()).decode().splitlines()
    new_lines = [line.replace('"messageId":"', '"messageId":"new-') for line in lines]
    (generated_copy / "web" / "events_2099-12-31.ndjson").write_text("\n".join(new_lines) + "\n")
    loaded = {r.stream: r for r in ingest_all(home, generated_copy, ["web"])}["web_events"]
    assert loaded.files == 1
    assert loaded.rows_read == len(lines)
    # Everything with a fresh id loads as new; a broken line whose content was quarantined before
    # (one without a messageId, unchanged by the rename) is a duplicate of that quarantine row.
    assert loaded.rows_loaded + loaded.rows_quarantined + loaded.rows_duplicate == len(lines)
    assert loaded.rows_loaded > 0 and loaded.reconciles

    # A re-delivered file under a new name (same events): every event is a duplicate, none stored twice.
    (generated_copy / "web" / "events_2100-01-01.ndjson").write_text("\n".join(new_lines) + "\n")
    redelivered = {r.stream: r for r in ingest_all(home, generated_copy, ["web"])}["web_events"]
    assert redelivered.rows_loaded == 0 and redelivered.reconciles
    # Bad events are duplicates too, keyed or not: a bad record is known by its content.
    renamed = query(home, "SELECT count(*) FROM raw.quarantine WHERE file LIKE '%2100-01-01%'")[0][0]
    assert redelivered.rows_quarantined == renamed == 0
    assert redelivered.rows_duplicate == len(lines)
    assert query(home, "SELECT count(*) - count(DISTINCT messageId) FROM raw.web_events")[0][0] == 0


def test_sql_rows_with_newer_updated_at_replace_the_stored_version(generated_copy: Path, home: Path):
    ingest_all(home, generated_copy, ["transactions"])
    db = generated_copy / "transactions" / "shop.sqlite"
    con = sqlite3.connect(db)
    order_id, status = con.execute(
        "SELECT order_id, status FROM orders WHERE status = 'completed' AND order_id IS NOT NULL "
        "AND created_at < '2027' ORDER BY order_id LIMIT 1").fetchone()
    con.execute("UPDATE orders SET status = 'refunded', updated_at = '2026-03-30T09:00:00.000Z', "
                "email = 'changed@mail.test' WHERE order_id = ?", [order_id])
    con.commit()
    con.close()
    orders_before = query(home, "SELECT count(*) FROM raw.orders")[0][0]

    result = {r.stream: r for r in ingest_all(home, generated_copy, ["transactions"])}["orders"]
    assert result.rows_loaded == 1 and result.reconciles
    assert query(home, "SELECT status, updated_at FROM raw.orders WHERE order_id = ?", [order_id]) == [
        ("refunded", "2026-03-30T09:00:00.000Z")]
    assert query(home, "SELECT count(*) FROM raw.orders")[0][0] == orders_before  # replaced, not added
    assert query(home, "SELECT email FROM staging.customer_records WHERE stream = 'orders' AND record_id = ?",
                 [order_id]) == [("changed@mail.test",)]
    cursor = query(home, "SELECT cursor_value FROM ops.cursors WHERE stream = 'orders'")[0][0]
    assert cursor == "2026-03-30T09:00:00.000Z"
    # And once more: nothing new.
    again = {r.stream: r for r in ingest_all(home, generated_copy, ["transactions"])}["orders"]
    assert again.rows_loaded == 0 and again.rows_quarantined == 0
