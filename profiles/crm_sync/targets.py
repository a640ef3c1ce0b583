"""Where a change feed goes: a file drop, a SQL table (upserts), or a CRM-style REST API.

Every target takes one batch at a time (`send(upserts, deletes) -> BatchOutcome`) and reports
which customer ids failed; the runner leaves those un-synced in state so the next run retries
them. Error texts name the target, batch and error class, never a row's values (a database error
message can quote the row).
"""
from __future__ import annotations

import csv
import email.utils
import gzip
import hashlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from config.sync import TargetSettings

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    failed_ids: set[str] = field(default_factory=set)
    error: str | None = None
    attempts: int = 1


def _all_ids(upserts: list[dict], deletes: list[dict]) -> set[str]:
    return {row["customer_id"] for row in upserts} | {row["customer_id"] for row in deletes}


def idempotency_key(target: str, upserts: list[dict], deletes: list[dict]) -> str:
    """Same batch content -> same key, so a retried batch (this run or the next) is applied once."""
    body = json.dumps(
        {"target": target, "upserts": [[r["customer_id"], r["fields"]] for r in upserts],
         "deletes": [[r["customer_id"], r["reason"]] for r in deletes]},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:32]


class FileTarget:
    """Writes one file per run under HOME/exports/sync/<target>/ (temp name, then renamed)."""

    batch_size = None  # the whole feed is one file

    def __init__(self, name: str, settings: TargetSettings, home: Path, run_id: str, now: datetime):
        self.name, self.settings = name, settings
        self.folder = Path(home) / "exports" / "sync" / name
        self.stem = f"{now.strftime('%Y%m%dT%H%M%S')}-{run_id}"
        self.written: list[Path] = []

    def _write(self, path: Path, text: str) -> None:
        gz = self.settings.file.gzip
        final = path.with_name(path.name + (".gz" if gz else ""))
        tmp = final.with_name(final.name + ".tmp")
        data = text.encode("utf-8")
        tmp.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        os.replace(tmp, final)
        self.written.append(final)

    def send(self, upserts: list[dict], deletes: list[dict]) -> BatchOutcome:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            if self.settings.file.format == "ndjson":
                lines = [json.dumps({"op": "upsert", "customer_id": r["customer_id"], **r["fields"]},
                                    ensure_ascii=False, default=str) for r in upserts]
                lines += [json.dumps({"op": "delete", **r}, ensure_ascii=False) for r in deletes]
                self._write(self.folder / f"{self.stem}.ndjson", "\n".join(lines) + "\n")
            else:
                if upserts:
                    fields = ["customer_id", *self.settings.mapping]
                    buf = io.StringIO()
                    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
                    writer.writeheader()
                    for r in upserts:
                        writer.writerow({"customer_id": r["customer_id"], **{
                            k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
                            for k, v in r["fields"].items()}})
                    self._write(self.folder / f"{self.stem}-upserts.csv", buf.getvalue())
                if deletes:
                    buf = io.StringIO()
                    writer = csv.DictWriter(buf, fieldnames=["customer_id", "reason", "merged_into"],
                                            lineterminator="\n")
                    writer.writeheader()
                    writer.writerows(deletes)
                    self._write(self.folder / f"{self.stem}-deletes.csv", buf.getvalue())
        except OSError as exc:
            return BatchOutcome(_all_ids(upserts, deletes), f"{type(exc).__name__} writing {self.folder}")
        return BatchOutcome()

    def close(self) -> None:
        pass


def _required_env(variable: str, target: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise ValueError(
            f"sync target {target!r}: environment variable {variable} is not set; export it with the "
            "connection URL (secrets are never kept in config files)"
        )
    return value


class SqlTarget:
    """Upserts into a table by SQLAlchemy URL: ON CONFLICT (SQLite, PostgreSQL), ON DUPLICATE KEY
    (MySQL/MariaDB), delete-then-insert in one transaction elsewhere. One transaction per batch."""

    def __init__(self, name: str, settings: TargetSettings, url: str | None = None):
        import sqlalchemy as sa

        self.name, self.settings = name, settings
        self.batch_size = settings.sql.batch_size
        self.engine = sa.create_engine(url or _required_env(settings.sql.url_env, name))
        key = settings.sql.key_column
        self.table = sa.Table(
            settings.sql.table, sa.MetaData(),
            sa.Column(key, sa.String(64), primary_key=True),
            *[sa.Column(f, sa.Text) for f in settings.mapping],
            sa.Column("synced_at", sa.DateTime),
        )
        self.table.create(self.engine, checkfirst=True)
        existing = {c["name"] for c in sa.inspect(self.engine).get_columns(settings.sql.table)}
        missing = [c.name for c in self.table.columns if c.name not in existing]
        if missing:
            raise ValueError(
                f"sync target {name!r}: table {settings.sql.table} lacks columns {', '.join(missing)}; "
                "add them or map fields to existing columns"
            )

    @staticmethod
    def _cell(value):
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, default=str)

    def _upsert_statement(self, rows: list[dict]):
        dialect = self.engine.dialect.name
        key = self.settings.sql.key_column
        if dialect in ("sqlite", "postgresql"):
            module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
            stmt = module.insert(self.table).values(rows)
            updates = {c.name: stmt.excluded[c.name] for c in self.table.columns if c.name != key}
            return [stmt.on_conflict_do_update(index_elements=[key], set_=updates)]
        if dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert

            stmt = insert(self.table).values(rows)
            updates = {c.name: stmt.inserted[c.name] for c in self.table.columns if c.name != key}
            return [stmt.on_duplicate_key_update(**updates)]
        ids = [r[key] for r in rows]
        return [self.table.delete().where(self.table.c[key].in_(ids)), self.table.insert().values(rows)]

    def send(self, upserts: list[dict], deletes: list[dict]) -> BatchOutcome:
        key = self.settings.sql.key_column
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = [
            {key: r["customer_id"], **{k: self._cell(v) for k, v in r["fields"].items()}, "synced_at": now}
            for r in upserts
        ]
        try:
            with self.engine.begin() as conn:
                if rows:
                    for statement in self._upsert_statement(rows):
                        conn.execute(statement)
                if deletes:
                    ids = [r["customer_id"] for r in deletes]
                    conn.execute(self.table.delete().where(self.table.c[key].in_(ids)))
        except Exception as exc:  # the whole batch rolled back: all of it is retried next run
            return BatchOutcome(_all_ids(upserts, deletes), f"{type(exc).__name__} in table {self.table.name}")
        return BatchOutcome()

    def close(self) -> None:
        self.engine.dispose()


RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class HttpTarget:
    """POSTs `{"batch_id", "upserts": [{"id", "fields"}], "deletes": [{"id", "reason", "merged_into"}]}`
    with an `Idempotency-Key` header; retries 408/425/429/5xx and network errors with exponential
    backoff (honouring `Retry-After`), up to `max_attempts`. A 2xx answer may list per-record
    failures as `{"errors": [{"id": ...}]}` (or `{"failed": [ids]}`): only those stay un-synced."""

    def __init__(self, name: str, settings: TargetSettings, client=None,
                 sleep: Callable[[float], None] = time.sleep):
        import httpx

        self.name, self.settings, self.sleep = name, settings, sleep
        http = settings.http
        self.batch_size = http.batch_size
        base = http.url or _required_env(http.url_env, name)
        headers = {"Content-Type": "application/json", "User-Agent": "cdp-pipeline-sync"}
        if http.token_env:
            headers["Authorization"] = f"Bearer {_required_env(http.token_env, name)}"
        self.url = base.rstrip("/") + "/" + http.path.lstrip("/")
        self.client = client or httpx.Client(headers=headers, timeout=http.timeout_seconds)
        self.waits: list[float] = []

    def _backoff(self, attempt: int) -> float:
        http = self.settings.http
        return min(http.max_backoff_seconds, http.backoff_seconds * (2 ** (attempt - 1)))

    def send(self, upserts: list[dict], deletes: list[dict]) -> BatchOutcome:
        import httpx

        key = idempotency_key(self.name, upserts, deletes)
        body = {
            "batch_id": key,
            "upserts": [{"id": r["customer_id"], "fields": r["fields"]} for r in upserts],
            "deletes": [{"id": r["customer_id"], "reason": r["reason"], "merged_into": r["merged_into"]}
                        for r in deletes],
        }
        content = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        ids = _all_ids(upserts, deletes)
        http = self.settings.http
        last_error = None
        for attempt in range(1, http.max_attempts + 1):
            wait = None
            try:
                response = self.client.post(self.url, content=content, headers={"Idempotency-Key": key})
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__} posting to {self.name}"
            else:
                if 200 <= response.status_code < 300:
                    return BatchOutcome(self._failed_in_answer(response, ids), None, attempt)
                last_error = f"HTTP {response.status_code} from {self.name}"
                if response.status_code not in RETRYABLE_STATUS:
                    return BatchOutcome(ids, last_error, attempt)
                if response.status_code == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if wait is not None:
                        wait = min(wait, http.max_backoff_seconds)
            if attempt < http.max_attempts:
                wait = self._backoff(attempt) if wait is None else wait
                self.waits.append(wait)
                # Ids and counts only: a person watching a slow sync sees why it waits.
                log.warning("%s: %s; retry %d of %d in %.1f s", self.name, last_error, attempt,
                            http.max_attempts - 1, wait)
                self.sleep(wait)
        return BatchOutcome(ids, f"{last_error} after {http.max_attempts} attempts", http.max_attempts)

    @staticmethod
    def _failed_in_answer(response, ids: set[str]) -> set[str]:
        try:
            answer = response.json()
        except ValueError:
            return set()
        if not isinstance(answer, dict):
            return set()
        failed = set()
        for item in answer.get("errors") or []:
            if isinstance(item, dict) and item.get("id") is not None:
                failed.add(str(item["id"]))
        for item in answer.get("failed") or []:
            failed.add(str(item))
        return failed & ids

    def close(self) -> None:
        self.client.close()
