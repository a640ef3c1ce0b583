"""Readers and failure handling: unreadable files are refused with a clear error while the rest
loads; SQL tables read in batches from SQLite and PostgreSQL with the same checks as CSV drops."""
from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from connectors import ingest_all
from connectors.readers import UnreadableInputError, read_csv, read_ndjson, read_sql
from tests.connectors.conftest import query
from tests.connectors.samples import ORDER_COLUMNS, order_row, shop_insert, write_events


def test_ndjson_lines_keep_their_numbers_across_batches_and_blank_lines(tmp_path: Path):
    path = tmp_path / "events.ndjson.gz"
    lines = [f'{{"n": {i}, "pad": "{"x" * 200}"}}' for i in range(3000)]
    lines[10] = ""  # a blank line is no record but still a line
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    batches = list(read_ndjson(path, "web/events.ndjson.gz", batch_bytes=1 << 16))
    assert len(batches) > 1
    table = pa.concat_tables(batches)
    numbers = table.column("_line").to_pylist()
    payloads = table.column("_payload").to_pylist()
    # The blank line 11 is no record; the lines after it keep their physical numbers.
    assert numbers[:11] == list(range(1, 11)) + [12] and numbers[-1] == 3000 and len(numbers) == 2999
    assert payloads[10] == lines[11]


def test_invalid_utf8_line_is_invalid_json_not_a_crash(src: Path, home: Path):
    (src / "web").mkdir()
    good = b'{"messageId":"m1","type":"page","timestamp":"2026-01-01T00:00:00Z","anonymousId":"a"}\n'
    (src / "web" / "events_2026-01-01.ndjson").write_bytes(good + b'{"messageId":"m2\xff\xfe"}\n')
    result = ingest_all(home, src, ["web"])[0]
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert query(home, "SELECT reason, detail, line FROM raw.quarantine") == [("invalid_json", "encoding", 2)]


def test_csv_malformed_rows_are_quarantined_with_their_line(tmp_path: Path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,email\nL1,a@b.c\nL2\nL3,c@d.e,extra\n\nL4,\"x,y\"\n")
    table = pa.concat_tables(list(read_csv(path, "social/leads.csv", ["lead_id", "email", "phone"], ["lead_id"],
                                           batch_bytes=1 << 16)))
    rows = sorted(zip(table.column("_line").to_pylist(), table.column("lead_id").to_pylist(),
                      table.column("_malformed").to_pylist(), table.column("phone").to_pylist()))
    assert rows == [(2, "L1", False, None), (3, None, True, None), (4, None, True, None), (6, "L4", False, None)]


def test_csv_without_its_key_column_is_refused(tmp_path: Path):
    path = tmp_path / "leads.csv"
    path.write_text('{"this": "is json"}\n')
    with pytest.raises(UnreadableInputError, match="header lacks column"):
        list(read_csv(path, "social/leads.csv", ["lead_id"], ["lead_id"], batch_bytes=1 << 16))


def test_unreadable_files_are_reported_and_the_rest_still_loads(src: Path, home: Path):
    write_events(src, "web", 1)
    good = write_events(src, "web", 2, gz=True)["web_events"]
    corrupt = src / "web" / "events_2026-01-03.ndjson.gz"
    varied = "".join(f'{{"messageId": "{i}", "anonymousId": "{uuid.uuid4()}"}}\n' for i in range(3000))
    whole = gzip.compress(varied.encode())
    corrupt.write_bytes(whole[: len(whole) // 2])  # truncated
    (src / "web" / "events_2026-01-04.ndjson.gz").write_bytes(b"plain text, not gzip\n")
    (src / "web" / "events_2026-01-05.ndjson").write_text("date,amount\n2026-01-01,10\n")  # a CSV
    result = ingest_all(home, src, ["web"])[0]
    assert result.status == "partial" and result.reconciles
    assert result.files == 2 and result.rows_loaded == 2 * good.good
    errors = " | ".join(result.errors)
    assert "web/events_2026-01-03.ndjson.gz: corrupt or truncated gzip" in errors
    assert "web/events_2026-01-04.ndjson.gz: named .gz but is not gzip" in errors
    assert "web/events_2026-01-05.ndjson: no line is a JSON object" in errors
    assert query(home, "SELECT status, error IS NOT NULL FROM ops.loads") == [("partial", True)]
    # Nothing of the refused files is recorded as loaded: fixing one and rerunning loads it.
    corrupt.write_bytes(gzip.compress(b'{"messageId":"fixed","type":"page","timestamp":"2026-01-03T00:00:00Z",'
                                      b'"anonymousId":"a"}\n'))
    rerun = ingest_all(home, src, ["web"])[0]
    assert rerun.rows_loaded == 1 and rerun.files == 1


def test_sqlite_table_is_read_in_batches_from_its_cursor(tmp_path: Path):
    root = tmp_path / "src"
    shop_insert(root, [order_row(f"W{i:03d}", "web", f"2026-01-01T10:00:{i:02d}.000Z", amount=1.5 * i)
                       for i in range(25)])
    url = f"sqlite:///{root / 'transactions' / 'shop.sqlite'}"
    batches = list(read_sql(url, "orders", ORDER_COLUMNS + ["missing_col"], "updated_at", None, "shop", 10))
    assert [b.num_rows for b in batches] == [10, 10, 5]
    table = pa.concat_tables(batches)
    assert table.column("_line").to_pylist() == list(range(1, 26))  # SQLite rowid
    assert table.column("amount").to_pylist()[3] == "4.5" and table.column("missing_col").null_count == 25
    later = list(read_sql(url, "orders", ORDER_COLUMNS, "updated_at", "2026-01-01T10:00:20.000Z", "shop", 10))
    assert sum(b.num_rows for b in later) == 5


def test_unreachable_database_is_a_transient_error(tmp_path: Path):
    with pytest.raises(UnreadableInputError) as info:
        list(read_sql("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2", "orders",
                      ORDER_COLUMNS, "updated_at", None, "sql:orders", 10))
    assert info.value.transient and "password" not in str(info.value)


def _postgres_url() -> str:
    try:
        import psycopg

        psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test against
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 db test is unreachable ({type(exc).__name__})")
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_postgres_orders_by_url_incremental_and_merged(tmp_path: Path, home: Path, monkeypatch):
    url = _postgres_url()
    import psycopg

    schema = f"cdp_test_{uuid.uuid4().hex[:8]}"
    pg = psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True)
    try:
        pg.execute(f"CREATE SCHEMA {schema}")
        cols = ", ".join(
            f"{c} NUMERIC" if c == "amount" else f"{c} TIMESTAMPTZ" if c in ("created_at", "updated_at")
            else f"{c} TEXT" for c in ORDER_COLUMNS)
        pg.execute(f"CREATE TABLE {schema}.orders ({cols})")
        insert = f"INSERT INTO {schema}.orders VALUES ({', '.join(['%s'] * len(ORDER_COLUMNS))})"
        for i in range(5):
            pg.execute(insert, order_row(f"PG{i}", "web", f"2026-01-0{i + 1}T10:00:00Z", amount=10 + i))
        monkeypatch.setenv("CDP_SHOP_DATABASE_URL", url)
        monkeypatch.setenv("CDP_SOURCES__TRANSACTIONS__TABLE", f"{schema}.orders")
        src = tmp_path / "src"
        (src / "transactions").mkdir(parents=True)

        first = ingest_all(home, src, ["transactions"])[0]
        assert (first.status, first.rows_loaded, first.rows_quarantined) == ("ok", 5, 0), first.errors
        pg.execute(f"UPDATE {schema}.orders SET status = 'refunded', updated_at = '2026-02-01T00:00:00Z' "
                   "WHERE order_id = 'PG1'")
        second = ingest_all(home, src, ["transactions"])[0]
        assert second.rows_loaded == 1 and second.reconciles
        assert query(home, "SELECT status FROM raw.orders WHERE order_id = 'PG1'") == [("refunded",)]
        assert query(home, "SELECT count(*) FROM raw.orders") == [(5,)]
        assert query(home, "SELECT amount FROM raw.orders WHERE order_id = 'PG3'")[0][0] == 13
    finally:
        pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        pg.close()
