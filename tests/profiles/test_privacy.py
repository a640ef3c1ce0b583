"""`forget` leaves no trace of the person in any file of the home folder; suppressions keep them out."""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from profiles.crm_sync import sync
from profiles.privacy import (
    _drop_matching_lines, apply_suppressions, forget, needle_pattern, python_needle_regex, suppressed_hashes,
)
from tests.profiles._sync_helpers import build_golden
from tests.profiles.conftest import build_profile_warehouse
from warehouse.connection import connect_home

FORGOTTEN_EMAIL = "maria.garcia@gmail.com"
FORGOTTEN_PHONE = "+34612345678"
KEPT_EMAIL = "john.smith@acme-corp.com"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _raw_to_parquet(con, home: Path) -> None:
    """Move the fixture's raw tables to Parquet files with views, as the real warehouse has them.

    web events get nested structs (traits, context) so the scan must decode nested values."""
    streams = ["web_events", "app_events", "social_profiles", "social_interactions", "social_leads", "orders"]
    for stream in streams:
        folder = home / "raw" / stream / "event_date=2026-02-20"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "load-1-0.parquet"
        select = f"SELECT * FROM raw.{stream}"
        if stream == "web_events":
            select = ("SELECT * EXCLUDE (traits, context), "
                      "json_transform(traits, '{\"email\":\"VARCHAR\",\"phone\":\"VARCHAR\"}') AS traits, "
                      "json_transform(context, '{\"consent\":{\"categoryPreferences\":{\"marketing\":\"BOOLEAN\"}},"
                      "\"locale\":\"VARCHAR\"}') AS context FROM raw.web_events")
        con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet)")
        con.execute(f"DROP TABLE raw.{stream}")
        con.execute(f"CREATE VIEW raw.{stream} AS SELECT * FROM read_parquet('{home}/raw/{stream}/**/*.parquet', "
                    "hive_partitioning = false)")


def _build_home(home: Path) -> None:
    con = connect_home(home)
    try:
        _raw_to_parquet(con, home)
        build_golden(con)
        con.execute(
            "CREATE TABLE raw.quarantine (load_id VARCHAR, source VARCHAR, stream VARCHAR, file VARCHAR, "
            "line BIGINT, record_id VARCHAR, reason VARCHAR, detail VARCHAR, payload VARCHAR, quarantined_at TIMESTAMP)")
        con.execute(
            "INSERT INTO raw.quarantine VALUES "
            "('load-1', 'web', 'web_events', 'events_2026-02-20.ndjson', 7, NULL, 'invalid_json', NULL, "
            " '{\"type\": \"identify\", \"traits\": {\"email\": \"MARIA.GARCIA@GMAIL.COM\"', now()), "
            "('load-1', 'transactions', 'orders', 'orders.csv', 3, 'o-x', 'wrong_type', 'amount', "
            " 'o-x,store,abc,john.smith@acme-corp.com', now()),"
            "('load-1', 'transactions', 'orders', 'orders.csv', 4, 'o-y', 'wrong_type', 'amount', "
            " 'o-y,store,abc,maria.garcia@gmail.co.uk', now())")
        con.execute("CREATE TABLE segments.membership (segment VARCHAR, customer_id VARCHAR, entered_at TIMESTAMP, "
                    "exited_at TIMESTAMP, run_id VARCHAR)")
        con.execute("INSERT INTO segments.membership SELECT 'everyone', customer_id, now(), NULL, 'r1' "
                    "FROM profiles.golden")
        # A merged-away id of Maria that a CRM still holds.
        con.execute("CREATE TABLE identity.id_history (old_customer_id VARCHAR, new_customer_id VARCHAR, "
                    "reason VARCHAR, changed_at TIMESTAMP, run_id VARCHAR)")
        con.execute("INSERT INTO identity.id_history VALUES ('cus_maria_old', 'cus_maria', 'merge', now(), 'r1')")
        result = sync(con, "crm_file")
        assert result.new == 6
        con.execute("INSERT INTO ops.sync_state VALUES ('crm_file', 'cus_maria_old', 'abc', now(), 'synced')")
    finally:
        con.close()
    exports = home / "exports"
    (exports / "segments").mkdir(parents=True, exist_ok=True)
    (exports / "segments" / "everyone.csv").write_text(
        "customer_id,email,phone\ncus_maria,Maria.Garcia@gmail.com,+34 612 345 678\n"
        f"cus_john,{KEPT_EMAIL},+12025550143\n")
    (exports / "segments" / "everyone_audience.csv").write_text(
        f"email_sha256,phone_sha256\n{_sha('mariagarcia@gmail.com')},{_sha('34612345678')}\n"
        f"{_sha(KEPT_EMAIL)},{_sha('12025550143')}\n")
    with gzip.open(exports / "segments" / "changes.ndjson.gz", "wt") as fh:
        fh.write(json.dumps({"customer_id": "cus_maria", "email": FORGOTTEN_EMAIL}) + "\n")
        fh.write(json.dumps({"customer_id": "cus_john", "email": KEPT_EMAIL}) + "\n")
    pq.write_table(pa.table({"customer_id": ["cus_maria", "cus_john"],
                             "emails": [[FORGOTTEN_EMAIL], [KEPT_EMAIL]]}), exports / "segments" / "everyone.parquet")
    (home / "reports").mkdir(exist_ok=True)
    (home / "reports" / "report.html").write_text(f"<html><td>{FORGOTTEN_EMAIL}</td><td>{KEPT_EMAIL}</td></html>")
    from warehouse.snapshot import publish_snapshot

    publish_snapshot(home)


def _parquet_values(path: Path):
    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from walk(v)
        elif value is not None:
            yield str(value)

    for row in pq.ParquetFile(path).read().to_pylist():
        yield from walk(row)


def _duckdb_text(path: Path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT database_name, schema_name, table_name FROM duckdb_tables() "
                             "WHERE NOT temporary").fetchall()
        for db, schema, table in tables:
            for (text,) in con.execute(f'SELECT CAST(to_json(t) AS VARCHAR) FROM "{db}"."{schema}"."{table}" t').fetchall():
                yield text
    finally:
        con.close()


def files_containing(home: Path, needle: str) -> list[str]:
    """Every file under home whose decoded content (Parquet values, DuckDB rows, raw bytes, gzip) has needle."""
    needle_l = needle.lower()
    hits = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found = needle_l.encode() in data.lower()
        if data[:2] == b"\x1f\x8b":
            found = found or needle_l.encode() in gzip.decompress(data).lower()
        if path.suffix == ".parquet":
            found = found or any(needle_l in v.lower() for v in _parquet_values(path))
        if data[:16].find(b"DUCK") >= 0 or path.suffix == ".duckdb":
            if path.suffix == ".duckdb":
                found = found or any(needle_l in t.lower() for t in _duckdb_text(path))
        if found:
            hits.append(str(path.relative_to(home)))
    return hits


@pytest.fixture(scope="module")
def _forgotten_once(tmp_path_factory) -> tuple[Path, object]:
    home = build_profile_warehouse(tmp_path_factory.mktemp("privacy") / "home")
    _build_home(home)
    assert files_containing(home, FORGOTTEN_EMAIL), "the fixture must contain the person first"
    result = forget(home, email="Maria.Garcia@GMAIL.com", request_id="req-1")
    return home, result


@pytest.fixture
def forgotten_home(_forgotten_once, tmp_path) -> tuple[Path, object]:
    """A private copy of the forgotten home per test (forget itself runs once per module)."""
    home, result = _forgotten_once
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    return copy, result


def test_forget_leaves_no_trace_of_email_or_phone_in_any_file(forgotten_home):
    home, result = forgotten_home
    assert files_containing(home, FORGOTTEN_EMAIL) == []
    assert files_containing(home, FORGOTTEN_PHONE) == []
    # Hashes stay only in ops.suppressions / ops.privacy_audit (by design), not in exported files.
    assert files_containing(home / "exports", _sha("mariagarcia@gmail.com")) == []
    assert files_containing(home / "exports", _sha("34612345678")) == []
    assert result.customers == 2  # cus_maria and the merged-away cus_maria_old
    assert result.records == 7
    assert result.raw_rows_removed == 7  # 3 web + 1 app + 3 orders


def test_forget_keeps_everyone_else(forgotten_home):
    home, _ = forgotten_home
    con = connect_home(home, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM profiles.golden").fetchone()[0] == 5
        assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] == 4
        assert con.execute("SELECT count(*) FROM raw.web_events").fetchone()[0] == 3
        # The quarantined line of someone whose address merely resembles Maria's is kept.
        assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM segments.membership").fetchone()[0] == 5
    finally:
        con.close()
    assert KEPT_EMAIL in (home / "exports" / "segments" / "everyone.csv").read_text()
    assert _sha(KEPT_EMAIL) in (home / "exports" / "segments" / "everyone_audience.csv").read_text()
    assert KEPT_EMAIL in (home / "reports" / "report.html").read_text()
    assert files_containing(home, KEPT_EMAIL)
    # The snapshot was republished clean and still opens.
    assert (home / "snapshots" / "latest.duckdb").exists()


def test_forget_queues_crm_deletes_and_audits(forgotten_home):
    home, _ = forgotten_home
    con = connect_home(home)
    try:
        state = con.execute("SELECT customer_id, status, checksum FROM ops.sync_state WHERE target = 'crm_file' "
                            "AND status = 'pending_delete' ORDER BY 1").fetchall()
        assert state == [("cus_maria", "pending_delete", None), ("cus_maria_old", "pending_delete", None)]
        audit = con.execute("SELECT request_id, kind, subject_kind, subject_hash, customers, sync_deletes_queued "
                            "FROM ops.privacy_audit").fetchall()
        assert audit[0][:5] == ("req-1", "forget", "email", _sha("mariagarcia@gmail.com"), 2)
        hashes = suppressed_hashes(con)
        assert _sha("mariagarcia@gmail.com") in hashes and _sha(FORGOTTEN_PHONE) in hashes
        assert _sha("u-maria") in hashes
        result = sync(con, "crm_file")
    finally:
        con.close()
    assert result.deleted == 2 and result.new == 0 and result.updated == 0
    drop = Path(result.files[0]).read_text().splitlines()
    assert sorted(json.loads(line)["customer_id"] for line in drop) == ["cus_maria", "cus_maria_old"]
    assert {json.loads(line)["reason"] for line in drop} == {"forgotten"}


def test_late_event_of_forgotten_person_is_quarantined_not_rebuilt(forgotten_home):
    home, _ = forgotten_home
    con = connect_home(home)
    try:
        columns = [r[0] for r in con.execute("DESCRIBE staging.customer_records").fetchall()]
        late = {c: None for c in columns}
        late.update(source="transactions", stream="orders", record_id="o-late", record_type="order",
                    event_time="2026-03-05 10:00:00", load_id="load-2", email=" Maria.Garcia+shop@GMAIL.com",
                    first_name="Maria", country="ES")
        other = dict(late, record_id="o-other", email="someone.else@example.com")
        for row in (late, other):
            con.execute(f"INSERT INTO staging.customer_records ({', '.join(columns)}) VALUES "
                        f"({', '.join('?' * len(columns))})", [row[c] for c in columns])
        assert apply_suppressions(con) == 1
        staged = {r[0] for r in con.execute("SELECT record_id FROM staging.customer_records").fetchall()}
        assert "o-late" not in staged and "o-other" in staged
        assert con.execute("SELECT reason, payload FROM raw.quarantine WHERE record_id = 'o-late'").fetchall() == [
            ("suppressed", None)]
        assert apply_suppressions(con) == 0  # idempotent
    finally:
        con.close()


def test_forget_by_customer_id_and_unknown_subject(profile_warehouse):
    con = connect_home(profile_warehouse)
    build_golden(con)
    con.close()
    result = forget(profile_warehouse, customer_id="cus_budi")
    assert result.records == 4
    assert files_containing(profile_warehouse, "budi.santoso@yahoo.co.id") == []
    assert files_containing(profile_warehouse, "+6281234567890") == []
    nobody = forget(profile_warehouse, email="nobody@example.org")
    assert nobody.customers == 0 and nobody.records == 0
    with pytest.raises(ValueError, match="exactly one"):
        forget(profile_warehouse, email="a@b.co", customer_id="cus_x")


def test_needle_pattern_matches_on_value_boundaries_only():
    import re

    pattern = re.compile(needle_pattern(["maria@x.com", "u-17"]))
    assert pattern.search('{"email":"maria@x.com"}')
    assert pattern.search("id,maria@x.com,34")
    assert not pattern.search("amaria@x.com")
    assert not pattern.search("maria@x.community")
    assert pattern.search('"u-17"') and not pattern.search('"u-170"')
    lines = python_needle_regex(["maria@x.com"])
    text = "header\nb MARIA@x.com\nmaria@x.com\namaria@x.com\nz"
    assert _drop_matching_lines(text, lines) == ("header\namaria@x.com\nz", 2)
