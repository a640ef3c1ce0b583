"""CRM sync: change feed by checksum of mapped fields, file/SQL/HTTP targets, retries, consent."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from config.sync import SyncSettings
from profiles.crm_sync import HttpTarget, sync
from profiles.crm_sync.targets import retry_after_seconds
from tests.profiles._sync_helpers import build_golden
from warehouse.connection import connect_home

MAPPING = {"email": "email", "phone": "phone", "first_name": "first_name", "country": "country",
           "records": "traits.record_count"}


def settings(**targets) -> SyncSettings:
    return SyncSettings.model_validate({"targets": targets})


@pytest.fixture
def con(profile_warehouse: Path):
    connection = connect_home(profile_warehouse)
    build_golden(connection)
    yield connection
    connection.close()


def _drop_lines(result) -> list[dict]:
    return [json.loads(line) for path in result.files for line in Path(path).read_text().splitlines()]


def test_file_target_sends_only_changes_and_deletes(con):
    cfg = settings(crm=dict(kind="file", mapping=MAPPING))
    first = sync(con, "crm", cfg)
    assert (first.new, first.updated, first.deleted, first.failed) == (6, 0, 0, 0)
    rows = {r["customer_id"]: r for r in _drop_lines(first)}
    assert rows["cus_maria"]["email"] == "maria.garcia@gmail.com" and rows["cus_maria"]["records"] == 7
    assert rows["cus_maria"]["op"] == "upsert"

    second = sync(con, "crm", cfg)
    assert (second.new, second.updated, second.deleted, second.unchanged, second.batches) == (0, 0, 0, 6, 0)
    assert second.files == []

    # A change in a mapped field is sent; a change in an unmapped field (street) is not.
    con.execute("UPDATE profiles.golden SET phone = '+34600000000' WHERE customer_id = 'cus_maria'")
    con.execute("UPDATE profiles.golden SET street = 'elsewhere' WHERE customer_id = 'cus_john'")
    con.execute("DELETE FROM profiles.golden WHERE customer_id = 'cus_siti'")
    third = sync(con, "crm", cfg)
    assert (third.new, third.updated, third.deleted, third.unchanged) == (0, 1, 1, 4)
    lines = _drop_lines(third)
    assert [(r["op"], r["customer_id"]) for r in lines] == [("upsert", "cus_maria"), ("delete", "cus_siti")]
    assert lines[1]["reason"] == "gone"
    runs = con.execute("SELECT new_count, updated_count, deleted_count FROM ops.sync_runs ORDER BY started_at").fetchall()
    assert runs == [(6, 0, 0), (0, 0, 0), (0, 1, 1)]


def test_merged_customer_becomes_delete_of_old_id(con):
    cfg = settings(crm=dict(kind="file", file={"format": "csv"}, mapping=MAPPING))
    sync(con, "crm", cfg)
    # Siti's records were merged into Maria's customer: the old id disappears from golden.
    con.execute("CREATE TABLE identity.id_history (old_customer_id VARCHAR, new_customer_id VARCHAR, "
                "reason VARCHAR, changed_at TIMESTAMP, run_id VARCHAR)")
    con.execute("INSERT INTO identity.id_history VALUES ('cus_siti', 'cus_maria', 'merge', now(), 'r2')")
    con.execute("DELETE FROM profiles.golden WHERE customer_id = 'cus_siti'")
    result = sync(con, "crm", cfg)
    deletes = [p for p in result.files if p.endswith("-deletes.csv")]
    assert result.deleted == 1 and len(deletes) == 1
    assert Path(deletes[0]).read_text().splitlines() == ["customer_id,reason,merged_into", "cus_siti,merged,cus_maria"]


def test_marketing_target_honours_consent(con):
    cfg = settings(ads=dict(kind="file", purpose="marketing", mapping=MAPPING))
    first = sync(con, "ads", cfg)
    # Only Maria granted marketing; Budi refused on his lead form; the rest never said.
    assert [r["customer_id"] for r in _drop_lines(first)] == ["cus_maria"]
    con.execute("UPDATE profiles.consent SET granted = false WHERE customer_id = 'cus_maria'")
    second = sync(con, "ads", cfg)
    assert [(r["op"], r["customer_id"], r["reason"]) for r in _drop_lines(second)] == [
        ("delete", "cus_maria", "consent_withdrawn")]


def test_unknown_mapping_field_is_a_clear_error(con):
    cfg = settings(crm=dict(kind="file", mapping={"email": "e_mail"}))
    with pytest.raises(ValueError, match="'email' maps to 'e_mail'.*config/sync.yaml"):
        sync(con, "crm", cfg)
    with pytest.raises(ValueError, match="unknown sync target 'nope'"):
        sync(con, "nope", cfg)


def _sql_roundtrip(con, url: str, table: str) -> None:
    cfg = settings(db=dict(kind="sql", sql={"url_env": "CRM_TEST_URL", "table": table, "batch_size": 2},
                           mapping=MAPPING))
    first = sync(con, "db", cfg)
    assert (first.new, first.failed, first.batches) == (6, 0, 3)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text(f"SELECT customer_id, email FROM {table}")).fetchall())
    assert rows["cus_maria"] == "maria.garcia@gmail.com" and len(rows) == 6
    con.execute("UPDATE profiles.golden SET email = 'new@example.com' WHERE customer_id = 'cus_maria'")
    con.execute("DELETE FROM profiles.golden WHERE customer_id = 'cus_anon'")
    second = sync(con, "db", cfg)
    assert (second.new, second.updated, second.deleted) == (0, 1, 1)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text(f"SELECT customer_id, email FROM {table}")).fetchall())
        records = conn.execute(sa.text(f"SELECT records FROM {table} WHERE customer_id = 'cus_maria'")).scalar()
    engine.dispose()
    assert rows["cus_maria"] == "new@example.com" and "cus_anon" not in rows and len(rows) == 5
    assert records == "7"


def test_sql_target_upserts_into_sqlite(con, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    monkeypatch.setenv("CRM_TEST_URL", url)
    _sql_roundtrip(con, url, "crm_contacts")


def test_sql_target_upserts_into_postgres(con, monkeypatch):
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS cdp_sync_test_contacts"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection problem means: no server here
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 db test is unreachable ({type(exc).__name__})")
    monkeypatch.setenv("CRM_TEST_URL", url)
    try:
        _sql_roundtrip(con, url, "cdp_sync_test_contacts")
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS cdp_sync_test_contacts"))
        engine.dispose()


def test_sql_target_without_url_env_names_the_variable(con, monkeypatch):
    monkeypatch.delenv("CRM_MISSING_URL", raising=False)
    cfg = settings(db=dict(kind="sql", sql={"url_env": "CRM_MISSING_URL"}, mapping=MAPPING))
    with pytest.raises(ValueError, match="CRM_MISSING_URL is not set"):
        sync(con, "db", cfg)


class FlakyCrm:
    """A local CRM batch endpoint: the scripted statuses are answered first, then 200.

    It records every request (idempotency key, ids) and applies a batch once per key."""

    def __init__(self, script: list[tuple[int, dict]], reject_ids: set[str] = frozenset()):
        self.script, self.reject_ids = list(script), set(reject_ids)
        self.requests: list[dict] = []
        self.contacts: dict[str, dict] = {}
        self.applied_keys: set[str] = set()
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key")
                crm.requests.append({"key": key, "path": self.path, "auth": self.headers.get("Authorization"),
                                     "upserts": [u["id"] for u in body["upserts"]],
                                     "deletes": [d["id"] for d in body["deletes"]]})
                if crm.script:
                    status, headers = crm.script.pop(0)
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    return
                errors = [{"id": u["id"], "message": "rejected"} for u in body["upserts"] if u["id"] in crm.reject_ids]
                if key not in crm.applied_keys:
                    crm.applied_keys.add(key)
                    for item in body["upserts"]:
                        if item["id"] not in crm.reject_ids:
                            crm.contacts[item["id"]] = item["fields"]
                    for item in body["deletes"]:
                        crm.contacts.pop(item["id"], None)
                answer = json.dumps({"errors": errors}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _http_settings(url: str, **http) -> SyncSettings:
    block = {"url": url, "batch_size": 3, "max_attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}
    block.update(http)
    return settings(api=dict(kind="http", http=block, mapping=MAPPING))


def test_http_target_retries_500_and_429_with_same_idempotency_key(con, monkeypatch):
    monkeypatch.setenv("CRM_TEST_TOKEN", "s3cret")
    script = [(500, {}), (429, {"Retry-After": "0"})]
    with FlakyCrm(script) as crm:
        cfg = _http_settings(crm.url, token_env="CRM_TEST_TOKEN")
        result = sync(con, "api", cfg)
    assert (result.new, result.failed, result.batches) == (6, 0, 2)
    assert len(crm.requests) == 4  # batch 1 three times (500, 429, ok), batch 2 once
    assert crm.requests[0]["key"] == crm.requests[1]["key"] == crm.requests[2]["key"] != crm.requests[3]["key"]
    assert crm.requests[0]["path"] == "/contacts/batch" and crm.requests[0]["auth"] == "Bearer s3cret"
    assert sorted(crm.contacts) == ["cus_anon", "cus_budi", "cus_john", "cus_juan", "cus_maria", "cus_siti"]


def test_http_failures_are_left_unsynced_and_retried_next_run(con):
    # Batch 1 fails all 3 attempts (500s); in batch 2 the CRM rejects one record.
    with FlakyCrm([(500, {})] * 3, reject_ids={"cus_maria"}) as crm:
        cfg = _http_settings(crm.url)
        first = sync(con, "api", cfg)
        assert (first.new, first.failed) == (2, 4)  # batch 1: anon, budi, john; batch 2: juan, maria, siti
        assert "HTTP 500" in first.errors[0] and "after 3 attempts" in first.errors[0]
        failed = con.execute("SELECT customer_id FROM ops.sync_state WHERE status = 'failed' ORDER BY 1").fetchall()
        assert [f[0] for f in failed] == ["cus_anon", "cus_budi", "cus_john", "cus_maria"]
        crm.reject_ids.clear()
        second = sync(con, "api", cfg)
        assert (second.new, second.updated, second.failed) == (4, 0, 0)
        assert sorted(i for r in crm.requests[-2:] for i in r["upserts"]) == [
            "cus_anon", "cus_budi", "cus_john", "cus_maria"]
        third = sync(con, "api", cfg)
        assert third.batches == 0 and third.unchanged == 6
    assert len(crm.contacts) == 6


def test_http_client_error_is_not_retried(con):
    with FlakyCrm([(400, {})]) as crm:
        result = sync(con, "api", _http_settings(crm.url, batch_size=10))
    assert result.failed == 6 and len(crm.requests) == 1 and "HTTP 400" in result.errors[0]


def test_backoff_grows_exponentially_and_honours_retry_after():
    waits = []
    cfg = _http_settings("http://127.0.0.1:9", max_attempts=4, backoff_seconds=1, max_backoff_seconds=3)

    class Client:
        def __init__(self, statuses):
            self.statuses = statuses

        def post(self, *args, **kwargs):
            import httpx

            status, headers = self.statuses.pop(0)
            return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://x"))

        def close(self):
            pass

    target = HttpTarget("api", cfg.targets["api"], client=Client([(503, {}), (503, {}), (503, {}), (503, {})]),
                        sleep=waits.append)
    outcome = target.send([{"customer_id": "c1", "fields": {}, "checksum": "x", "change": "new"}], [])
    assert outcome.failed_ids == {"c1"} and waits == [1, 2, 3]
    waits.clear()
    target = HttpTarget("api", cfg.targets["api"], client=Client([(429, {"Retry-After": "2"}), (200, {})]),
                        sleep=waits.append)
    assert target.send([{"customer_id": "c1", "fields": {}, "checksum": "x", "change": "new"}], []).failed_ids == set()
    assert waits == [2.0]
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None
