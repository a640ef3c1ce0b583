"""Privacy requests: forget a person everywhere in the home folder, and keep them forgotten.

`forget(home, email=... | customer_id=...)` follows Segment's deletion regulations:
1. find the person: the normalized email -> their records (`identity.normalized_records`,
   `staging.customer_records`, `profiles.golden`) -> customer ids (+ ids merged into them);
2. gather their identifiers (emails, phones as found and E.164, user ids, cookies, social handles,
   order ids) and the SHA-256 of the email/phones (audience files carry those hashes);
3. rewrite every raw Parquet file without their rows (their record keys, or any value equal to one
   of their identifiers: quarantined lines of theirs are found that way), temp file + rename;
4. delete from every DuckDB table the rows with their (source, record_id), customer id or any of
   their identifiers (quarantine payloads included); queue a delete for every sync target;
5. clean files under HOME/exports and HOME/reports (rows/lines removed, other text redacted);
6. keep `ops.suppressions` (SHA-256 of the normalized identifiers, never the clear value) so a late
   event of theirs is quarantined as `suppressed`, and an audit row in `ops.privacy_audit`;
7. rewrite the DuckDB file from scratch (deleted rows linger in free blocks otherwise) and drop
   the snapshots (republished clean).

Identifier matching is exact on value boundaries (`maria@x.com` does not match `amaria@x.com`);
device and anonymous ids are NOT used (a family tablet is shared by several people), nor are
names (not unique):
records of the person are reached through identity resolution instead.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from profiles.crm_sync._sql import columns_of, qualified, quote_ident, relation_exists, temp_table_from_rows
from warehouse.layout import HomeLayout
from warehouse.sql import quote_literal

# Raw stream folder -> its record key column (the record_id of record_map).
STREAM_KEYS = {
    "web_events": ("web", "messageId"),
    "app_events": ("app", "messageId"),
    "social_profiles": ("social", "profile_id"),
    "social_interactions": ("social", "interaction_id"),
    "social_leads": ("social", "lead_id"),
    "orders": ("transactions", "order_id"),
}

_RECORD_COLUMNS = [("source", "VARCHAR"), ("record_id", "VARCHAR")]

# Tables forget handles itself (they hold hashes by design, or a queue to keep).
_PRIVACY_TABLES = {("ops", "suppressions"), ("ops", "privacy_audit"), ("ops", "sync_state")}

# Identifiers shorter than this are never searched as free values (too likely to collide).
_MIN_NEEDLE = 6

SUPPRESSIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS ops.suppressions (hash VARCHAR NOT NULL, kind VARCHAR NOT NULL, "
    "request_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)"
)
AUDIT_DDL = (
    "CREATE TABLE IF NOT EXISTS ops.privacy_audit (request_id VARCHAR, kind VARCHAR, subject_kind VARCHAR, "
    "subject_hash VARCHAR, customers BIGINT, records BIGINT, raw_rows_removed BIGINT, "
    "table_rows_removed BIGINT, files_cleaned BIGINT, file_rows_removed BIGINT, sync_deletes_queued BIGINT, "
    "suppressions_added BIGINT, snapshots_removed BIGINT, requested_at TIMESTAMP, completed_at TIMESTAMP)"
)

_TEXT_LINE_SUFFIXES = {".csv", ".tsv", ".ndjson", ".jsonl", ".txt", ".log"}
_TEXT_REDACT_SUFFIXES = {".json", ".html", ".htm", ".md", ".xml", ".yaml", ".yml", ".svg"}


def sha256_hex(value: str) -> str:
    """The hash kept for suppressions and audience matching: SHA-256 hex of the UTF-8 value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# ---------------------------------------------------------------- normalization (identity.normalize)

def normalize_emails(values: list[str]) -> dict[str, str | None]:
    """Raw email -> normalized email (identity.normalize rules; lowercase/trim if unavailable)."""
    values = [v for v in dict.fromkeys(values) if v is not None]
    if not values:
        return {}
    try:
        import polars as pl

        from identity.normalize import normalize_email

        normalized = normalize_email(pl.Series(values, dtype=pl.Utf8))["email"].to_list()
    except ImportError:
        normalized = [v.strip().lower() or None for v in values]
    return dict(zip(values, normalized))


def normalize_phones(pairs: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], str | None]:
    """(raw phone, region) -> E.164, or None; digits-only fallback if identity.normalize is missing."""
    pairs = [p for p in dict.fromkeys(pairs) if p[0] is not None]
    if not pairs:
        return {}
    try:
        import polars as pl

        from identity.normalize import normalize_phone

        phones = pl.Series([p[0] for p in pairs], dtype=pl.Utf8)
        regions = pl.Series([p[1] for p in pairs], dtype=pl.Utf8)
        normalized = normalize_phone(phones, regions)["phone"].to_list()
    except ImportError:
        normalized = [("+" + re.sub(r"\D", "", p[0])) if p[0].strip().startswith("+") else None for p in pairs]
    return dict(zip(pairs, normalized))


# ---------------------------------------------------------------- the subject

@dataclass
class Subject:
    """Everything that identifies the person, gathered once."""

    customer_ids: set[str] = field(default_factory=set)
    records: set[tuple[str, str]] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)       # normalized
    phones: set[str] = field(default_factory=set)       # E.164
    user_ids: set[str] = field(default_factory=set)
    anonymous_ids: set[str] = field(default_factory=set)
    social_handles: set[str] = field(default_factory=set)  # lowercase, no @
    order_ids: set[str] = field(default_factory=set)
    raw_spellings: set[str] = field(default_factory=set)  # emails/phones as typed in the sources

    def suppression_entries(self) -> list[tuple[str, str]]:
        """(kind, normalized value) pairs whose hashes are kept."""
        entries = [("email", e) for e in self.emails] + [("phone", p) for p in self.phones]
        entries += [("user_id", u) for u in self.user_ids]
        entries += [("social_handle", h) for h in self.social_handles]
        return sorted(set(entries))

    def needles(self) -> list[str]:
        """Lowercased values searched for anywhere (raw rows, payloads, files)."""
        # Not anonymous ids: an app install id or a browser cookie on a family tablet is shared by the
        # household (measured on the generated sample: a sister's app events matched). The person's own
        # events are reached through record_map instead.
        values = set(self.emails) | set(self.phones) | self.user_ids | self.order_ids
        values |= {p.lstrip("+") for p in self.phones}
        values |= {h for h in self.social_handles} | {"@" + h for h in self.social_handles}
        values |= {s.strip() for s in self.raw_spellings}
        values |= self.customer_ids
        values |= {sha256_hex(v) for v in set(self.emails) | set(self.phones)}
        values |= {sha256_hex(p.lstrip("+")) for p in self.phones}
        return sorted({v.lower() for v in values if v and len(v.strip()) >= _MIN_NEEDLE})


def needle_pattern(needles: list[str]) -> str | None:
    """One regex (RE2 and Python compatible) matching any needle on value boundaries."""
    if not needles:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return rf"(^|[^a-z0-9._%+@-])({alternatives})($|[^a-z0-9_@-])"


def python_needle_regex(needles: list[str]) -> re.Pattern | None:
    """The same boundaries as `needle_pattern`, as lookarounds (RE2 has none) so that adjacent
    matches (two lines in a row) are all found and a match is just the identifier itself."""
    if not needles:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9._%+@-])(?:{alternatives})(?![a-z0-9_@-])", re.IGNORECASE)


def _fetch_set(con, sql: str, params: list | None = None) -> set:
    return {row[0] for row in con.execute(sql, params or []).fetchall() if row[0] is not None}


def find_subject(con: duckdb.DuckDBPyConnection, email: str | None = None,
                 customer_id: str | None = None) -> Subject:
    subject = Subject()
    has_norm = relation_exists(con, "identity", "normalized_records")
    has_map = relation_exists(con, "identity", "record_map")
    has_staging = relation_exists(con, "staging", "customer_records")
    has_golden = relation_exists(con, "profiles", "golden")
    if customer_id:
        subject.customer_ids.add(customer_id)
    if email:
        normalized = normalize_emails([email]).get(email) or email.strip().lower()
        subject.emails.add(normalized)
        subject.raw_spellings.add(email.strip())
        direct: set[tuple[str, str]] = set()
        if has_norm:
            direct |= set(con.execute(
                "SELECT source, record_id FROM identity.normalized_records WHERE email = ?", [normalized]
            ).fetchall())
        if has_staging:
            # Raw spellings that normalize to the same address (case, Gmail dots, +tags).
            local, _, domain = normalized.partition("@")
            domains = ["gmail.com", "googlemail.com"] if domain in ("gmail.com", "googlemail.com") else [domain]
            raw = _fetch_set(
                con, "SELECT DISTINCT email FROM staging.customer_records WHERE email IS NOT NULL "
                     "AND list_contains(?, split_part(lower(trim(email)), '@', 2)) "
                     "AND regexp_replace(split_part(lower(trim(email)), '@', 1), '[+].*$|[.]', '', 'g') = ?",
                [domains, re.sub(r"\+.*$|\.", "", local)])
            same = [r for r, n in normalize_emails(sorted(raw)).items() if n == normalized]
            if same:
                direct |= set(con.execute(
                    "SELECT source, record_id FROM staging.customer_records WHERE list_contains(?, email)", [same]
                ).fetchall())
        subject.records |= direct
        if has_map and direct:
            temp_table_from_rows(con, "forget_direct", _RECORD_COLUMNS, [list(r) for r in direct])
            subject.customer_ids |= _fetch_set(
                con, "SELECT DISTINCT m.customer_id FROM identity.record_map m "
                     "JOIN forget_direct d USING (source, record_id)")
        if has_golden:
            golden = columns_of(con, "profiles", "golden")
            conditions = ["email = ?"] if "email" in golden else []
            if "emails" in golden:
                conditions.append("list_contains(emails, ?)")
            if conditions:
                subject.customer_ids |= _fetch_set(
                    con, f"SELECT customer_id FROM profiles.golden WHERE {' OR '.join(conditions)}",
                    [normalized] * len(conditions))
    if relation_exists(con, "identity", "id_history") and subject.customer_ids:
        # Old ids merged into (or split from) the person's current ids: CRMs may still hold them.
        for _ in range(5):
            ids = sorted(subject.customer_ids)
            more = _fetch_set(con, "SELECT old_customer_id FROM identity.id_history "
                                   "WHERE list_contains(?, new_customer_id)", [ids])
            if more <= subject.customer_ids:
                break
            subject.customer_ids |= more
    if has_map and subject.customer_ids:
        subject.records |= set(con.execute(
            "SELECT source, record_id FROM identity.record_map WHERE list_contains(?, customer_id)",
            [sorted(subject.customer_ids)]).fetchall())
    temp_table_from_rows(con, "forget_records", _RECORD_COLUMNS, [list(r) for r in sorted(subject.records)])
    if has_norm and subject.records:
        rows = con.execute(
            "SELECT n.email, n.phone, n.user_id, n.anonymous_id, n.social_handle, n.order_id "
            "FROM identity.normalized_records n JOIN forget_records f USING (source, record_id)").fetchall()
        for email_n, phone, user_id, anon, handle, order_id in rows:
            _add(subject.emails, email_n)
            _add(subject.phones, phone)
            _add(subject.user_ids, user_id)
            _add(subject.anonymous_ids, anon)
            _add(subject.social_handles, handle.lstrip("@").lower() if handle else None)
            _add(subject.order_ids, order_id)
    if has_staging and subject.records:
        rows = con.execute(
            "SELECT s.email, s.phone, s.country, s.user_id, s.anonymous_id, s.social_handle, s.order_id "
            "FROM staging.customer_records s JOIN forget_records f USING (source, record_id)").fetchall()
        emails = normalize_emails([r[0] for r in rows if r[0]])
        phones = normalize_phones([(r[1], r[2]) for r in rows if r[1]])
        for raw_email, raw_phone, country, user_id, anon, handle, order_id in rows:
            if raw_email and emails.get(raw_email):
                subject.raw_spellings.add(raw_email)
                subject.emails.add(emails[raw_email])
            if raw_phone and phones.get((raw_phone, country)):
                subject.raw_spellings.add(raw_phone)
                subject.phones.add(phones[(raw_phone, country)])
            _add(subject.user_ids, user_id)
            _add(subject.anonymous_ids, anon)
            _add(subject.social_handles, handle.lstrip("@").lower() if handle else None)
            _add(subject.order_ids, order_id)
    if has_golden and subject.customer_ids:
        golden = columns_of(con, "profiles", "golden")
        for column, target in (("emails", subject.emails), ("phones", subject.phones),
                               ("user_ids", subject.user_ids), ("anonymous_ids", subject.anonymous_ids),
                               ("order_ids", subject.order_ids)):
            if column in golden:
                target |= _fetch_set(con, f"SELECT DISTINCT unnest({quote_ident(column)}) FROM profiles.golden "
                                          "WHERE list_contains(?, customer_id)", [sorted(subject.customer_ids)])
    temp_table_from_rows(con, "forget_customers", [("customer_id", "VARCHAR")],
                         [[c] for c in sorted(subject.customer_ids)])
    return subject


def _add(target: set, value) -> None:
    if value is not None and str(value).strip():
        target.add(str(value))


# ---------------------------------------------------------------- raw Parquet

def _stream_of(path: Path, raw_root: Path) -> str | None:
    try:
        return path.relative_to(raw_root).parts[0]
    except (ValueError, IndexError):
        return None


_quote_literal = quote_literal


def _parquet_match_rows(con, path: Path, key: str | None, source: str | None, pattern: str | None) -> list[int]:
    """Row numbers in one Parquet file that belong to the subject."""
    columns = {r[0] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({_quote_literal(str(path))}, hive_partitioning = false)").fetchall()}
    conditions = []
    params: list = []
    if key and key in columns and source:
        conditions.append(f"CAST(t.{quote_ident(key)} AS VARCHAR) IN "
                          "(SELECT record_id FROM forget_records WHERE source = ?)")
        params.append(source)
    for column in ("customer_id", "old_customer_id", "new_customer_id"):
        if column in columns:
            conditions.append(f"CAST(t.{quote_ident(column)} AS VARCHAR) IN (SELECT customer_id FROM forget_customers)")
    if pattern:
        conditions.append("regexp_matches(lower(CAST(to_json(t) AS VARCHAR)), ?)")
        params.append(pattern)
    if not conditions:
        return []
    rows = con.execute(
        f"SELECT file_row_number FROM read_parquet({_quote_literal(str(path))}, hive_partitioning = false, "
        f"file_row_number = true) t WHERE {' OR '.join(conditions)}", params).fetchall()
    return [r[0] for r in rows]


def _rewrite_parquet_without(path: Path, row_numbers: list[int]) -> None:
    """Same schema and metadata, minus the given rows; temp file then atomic rename."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    table = source.read()
    keep = pc.invert(pc.is_in(pa.array(range(table.num_rows), pa.int64()), pa.array(row_numbers, pa.int64())))
    tmp = path.with_name(f".{path.name}.forget.tmp")
    compression = source.metadata.row_group(0).column(0).compression.lower() if source.metadata.num_row_groups and source.metadata.num_columns else "zstd"
    pq.write_table(table.filter(keep), tmp, compression=None if compression == "uncompressed" else compression)
    os.replace(tmp, path)


def clean_parquet_files(con, files: list[Path], raw_root: Path | None, pattern: str | None) -> tuple[int, int]:
    """(rows removed, files rewritten) over Parquet files, rows chosen by key, customer id or value."""
    removed = rewritten = 0
    for path in files:
        stream = _stream_of(path, raw_root) if raw_root else None
        source, key = STREAM_KEYS.get(stream, (None, None))
        rows = _parquet_match_rows(con, path, key, source, pattern)
        if rows:
            _rewrite_parquet_without(path, rows)
            removed += len(rows)
            rewritten += 1
    return removed, rewritten


# ---------------------------------------------------------------- DuckDB tables

def _base_tables(con) -> list[tuple[str, str]]:
    return [tuple(r) for r in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary ORDER BY schema_name, table_name").fetchall()]


def delete_from_tables(con, pattern: str | None, skip: set[tuple[str, str]] = frozenset()) -> dict[str, int]:
    """Delete the subject's rows from every table; returns rows removed per `schema.table`."""
    removed: dict[str, int] = {}
    for schema, table in _base_tables(con):
        if (schema, table) in _PRIVACY_TABLES or (schema, table) in skip:
            continue
        columns = columns_of(con, schema, table)
        conditions, params = [], []
        for prefix in ("", "left_", "right_"):
            src, rid = f"{prefix}source", f"{prefix}record_id"
            if src in columns and rid in columns:
                conditions.append(f"EXISTS (SELECT 1 FROM forget_records f WHERE f.source = t.{quote_ident(src)} "
                                  f"AND f.record_id = CAST(t.{quote_ident(rid)} AS VARCHAR))")
        for column in columns:
            if column == "customer_id" or column.endswith("_customer_id"):
                conditions.append(f"CAST(t.{quote_ident(column)} AS VARCHAR) IN "
                                  "(SELECT customer_id FROM forget_customers)")
        if pattern:
            conditions.append("regexp_matches(lower(CAST(to_json(t) AS VARCHAR)), ?)")
            params.append(pattern)
        if not conditions:
            continue
        # DELETE answers with the number of rows it removed: one scan per table.
        count = con.execute(f"DELETE FROM {qualified(schema, table)} AS t WHERE {' OR '.join(conditions)}",
                            params).fetchall()[0][0]
        if count:
            removed[f"{schema}.{table}"] = count
    return removed


# ---------------------------------------------------------------- other files of the home folder

def _open_text(path: Path) -> tuple[str, bool] | None:
    data = path.read_bytes()
    gz = data[:2] == b"\x1f\x8b"
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    try:
        return data.decode("utf-8"), gz
    except UnicodeDecodeError:
        return None


def _drop_matching_lines(text: str, regex: re.Pattern) -> tuple[str, int]:
    """The text without every line that holds a match; one regex pass over the whole text."""
    spans: list[tuple[int, int]] = []
    for match in regex.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end + 1
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    pieces, previous = [], 0
    for start, end in spans:
        pieces.append(text[previous:start])
        previous = end
    pieces.append(text[previous:])
    return "".join(pieces), len(spans)


def _write_text(path: Path, text: str, gz: bool) -> None:
    tmp = path.with_name(f".{path.name}.forget.tmp")
    data = text.encode("utf-8")
    tmp.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    os.replace(tmp, path)


def clean_files(con, root: Path, pattern: str | None, needles: list[str], exclude: set[Path]) -> tuple[int, int]:
    """(files changed, lines/rows removed) under `root`: Parquet rows dropped, text lines dropped,
    other text redacted; an unreadable binary file that holds an identifier is deleted."""
    if not root.exists() or not pattern:
        return 0, 0
    regex = python_needle_regex(needles)
    files_changed = lines_removed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p not in exclude):
        suffixes = [s.lower() for s in path.suffixes]
        base_suffix = suffixes[-2] if suffixes and suffixes[-1] == ".gz" and len(suffixes) > 1 else (
            suffixes[-1] if suffixes else "")
        if base_suffix == ".parquet":
            removed, rewritten = clean_parquet_files(con, [path], None, pattern)
            files_changed += rewritten
            lines_removed += removed
            continue
        if base_suffix == ".duckdb" or path.name.endswith(".wal"):
            continue  # databases are handled by the caller
        opened = _open_text(path)
        if opened is None:
            data = path.read_bytes().lower()
            if any(n.encode() in data for n in needles):
                path.unlink()
                files_changed += 1
            continue
        text, gz = opened
        if not regex.search(text):
            continue
        if base_suffix in _TEXT_REDACT_SUFFIXES:
            new_text = regex.sub("[forgotten]", text)
        else:
            new_text, removed_here = _drop_matching_lines(text, regex)
            lines_removed += removed_here
        _write_text(path, new_text, gz)
        files_changed += 1
    return files_changed, lines_removed


# ---------------------------------------------------------------- database rewrite

def rewrite_database(database: Path) -> None:
    """Copy every object into a fresh file and swap it in: deleted rows leave no free blocks behind."""
    database = Path(database)
    fresh = database.with_name(f".{database.name}.forget.tmp")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    try:
        con.execute(f"ATTACH {_quote_literal(str(database))} AS forget_old")
        con.execute("CHECKPOINT forget_old")
        con.execute(f"ATTACH {_quote_literal(str(fresh))} AS forget_new")
        con.execute("COPY FROM DATABASE forget_old TO forget_new")
        con.execute("DETACH forget_new")
        con.execute("DETACH forget_old")
    finally:
        con.close()
    os.replace(fresh, database)
    Path(f"{database}.wal").unlink(missing_ok=True)
    Path(f"{fresh}.wal").unlink(missing_ok=True)


# ---------------------------------------------------------------- the request

@dataclass
class ForgetResult:
    request_id: str
    customers: int = 0
    records: int = 0
    raw_rows_removed: int = 0
    raw_files_rewritten: int = 0
    table_rows_removed: dict[str, int] = field(default_factory=dict)
    files_cleaned: int = 0
    file_rows_removed: int = 0
    sync_deletes_queued: int = 0
    suppressions_added: int = 0
    snapshots_removed: int = 0

    def summary(self) -> str:
        return (f"request {self.request_id}: customers={self.customers} records={self.records} "
                f"raw_rows_removed={self.raw_rows_removed} (files {self.raw_files_rewritten}) "
                f"table_rows_removed={sum(self.table_rows_removed.values())} files_cleaned={self.files_cleaned} "
                f"file_rows_removed={self.file_rows_removed} sync_deletes_queued={self.sync_deletes_queued} "
                f"suppressions={self.suppressions_added} snapshots_removed={self.snapshots_removed}")


def ensure_privacy_tables(con) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(SUPPRESSIONS_DDL)
    con.execute(AUDIT_DDL)


def _sync_target_names(con) -> list[str]:
    names: set[str] = set()
    try:
        from config.sync import load_sync_settings

        names |= set(load_sync_settings().targets)
    except Exception:  # a broken sync config must not block a deletion request; state still counts
        pass
    if relation_exists(con, "ops", "sync_state"):
        names |= _fetch_set(con, "SELECT DISTINCT target FROM ops.sync_state")
    return sorted(names)


def forget(home: str | Path, email: str | None = None, customer_id: str | None = None,
           request_id: str | None = None, republish_snapshot: bool = True) -> ForgetResult:
    """Remove one person from every layer of `home` (see the module docstring)."""
    if bool(email) == bool(customer_id):
        raise ValueError("give exactly one of --email or --customer-id")
    from warehouse.connection import connect_home

    layout = HomeLayout(Path(home))
    if not layout.database.exists():
        raise FileNotFoundError(f"no warehouse at {layout.database}: nothing to forget there")
    request_id = request_id or "del_" + uuid.uuid4().hex[:16]
    result = ForgetResult(request_id=request_id)
    requested_at = _now()
    con = connect_home(layout.root)
    try:
        ensure_privacy_tables(con)
        subject = find_subject(con, email=email, customer_id=customer_id)
        needles = subject.needles()
        pattern = needle_pattern(needles)
        result.customers, result.records = len(subject.customer_ids), len(subject.records)

        raw_files = sorted(layout.raw.rglob("*.parquet")) if layout.raw.exists() else []
        result.raw_rows_removed, result.raw_files_rewritten = clean_parquet_files(con, raw_files, layout.raw, pattern)

        from profiles.crm_sync.feed import queue_deletes

        queued_ids = set(subject.customer_ids)
        if relation_exists(con, "ops", "sync_state") and subject.customer_ids:
            queued_ids |= _fetch_set(con, "SELECT customer_id FROM ops.sync_state WHERE customer_id IN "
                                          "(SELECT customer_id FROM forget_customers)")
        result.sync_deletes_queued = queue_deletes(con, sorted(queued_ids), _sync_target_names(con))
        result.table_rows_removed = delete_from_tables(con, pattern)

        entries = subject.suppression_entries()
        if entries:
            con.executemany(
                "INSERT INTO ops.suppressions SELECT ?, ?, ?, ? WHERE ? NOT IN (SELECT hash FROM ops.suppressions)",
                [[sha256_hex(value), kind, request_id, requested_at, sha256_hex(value)] for kind, value in entries])
        result.suppressions_added = len(entries)

        exclude = {layout.database, Path(f"{layout.database}.wal"), layout.lock_file}
        for folder in (layout.exports, layout.reports):
            changed, rows = clean_files(con, folder, pattern, needles, exclude)
            result.files_cleaned += changed
            result.file_rows_removed += rows

        if email:
            subject_kind, subject_hash = "email", sha256_hex(next(iter(normalize_emails([email]).values()))
                                                             or email.strip().lower())
        else:
            subject_kind, subject_hash = "customer_id", sha256_hex(customer_id)
        con.execute(
            "INSERT INTO ops.privacy_audit VALUES (?, 'forget', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL)",
            [request_id, subject_kind, subject_hash, result.customers, result.records, result.raw_rows_removed,
             sum(result.table_rows_removed.values()), result.files_cleaned, result.file_rows_removed,
             result.sync_deletes_queued, result.suppressions_added, requested_at])
        con.execute("CHECKPOINT")
    finally:
        con.close()

    rewrite_database(layout.database)

    had_snapshots = False
    if layout.snapshots.exists():
        for path in sorted(layout.snapshots.iterdir()):
            had_snapshots = True
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            result.snapshots_removed += 1
    con = connect_home(layout.root)
    try:
        con.execute("UPDATE ops.privacy_audit SET snapshots_removed = ?, completed_at = ? WHERE request_id = ?",
                    [result.snapshots_removed, _now(), request_id])
        con.execute("CHECKPOINT")
        if had_snapshots and republish_snapshot:
            try:
                from warehouse.snapshot import publish_snapshot
            except ImportError:
                publish_snapshot = None
            if publish_snapshot is not None:
                publish_snapshot(con, home=layout.root)
    finally:
        con.close()
    return result


# ---------------------------------------------------------------- keeping them forgotten

def suppressed_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    """SHA-256 hex of every suppressed normalized identifier (email, E.164 phone, user id, social
    handle without @, lowercase). Compare with `sha256(normalized value)` in DuckDB."""
    if not relation_exists(con, "ops", "suppressions"):
        return set()
    return _fetch_set(con, "SELECT hash FROM ops.suppressions")


def suppressed_records(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(source, record_id) of staging rows that carry a suppressed identifier."""
    if not relation_exists(con, "ops", "suppressions") or not relation_exists(con, "staging", "customer_records"):
        return []
    rows = con.execute(
        "SELECT DISTINCT email, phone, country FROM staging.customer_records "
        "WHERE email IS NOT NULL OR phone IS NOT NULL").fetchall()
    emails = normalize_emails([r[0] for r in rows if r[0]])
    phones = normalize_phones([(r[1], r[2]) for r in rows if r[1]])
    temp_table_from_rows(con, "suppress_emails", [("raw", "VARCHAR"), ("hash", "VARCHAR")],
                         [[raw, sha256_hex(n)] for raw, n in emails.items() if n])
    temp_table_from_rows(con, "suppress_phones", [("raw", "VARCHAR"), ("country", "VARCHAR"), ("hash", "VARCHAR")],
                         [[raw, country, sha256_hex(n)] for (raw, country), n in phones.items() if n])
    return [tuple(r) for r in con.execute(
        """
        WITH h AS (SELECT DISTINCT hash FROM ops.suppressions)
        SELECT DISTINCT s.source, s.record_id FROM staging.customer_records s
        LEFT JOIN suppress_emails e ON e.raw = s.email
        LEFT JOIN suppress_phones p ON p.raw = s.phone AND p.country IS NOT DISTINCT FROM s.country
        WHERE e.hash IN (SELECT hash FROM h) OR p.hash IN (SELECT hash FROM h)
           OR sha256(s.user_id) IN (SELECT hash FROM h)
           OR sha256(lower(ltrim(s.social_handle, '@'))) IN (SELECT hash FROM h)
        ORDER BY 1, 2
        """).fetchall()]


def apply_suppressions(con: duckdb.DuckDBPyConnection) -> int:
    """Quarantine (reason `suppressed`, no payload) and delete staging rows of forgotten people, with
    their normalized rows and raw Parquet rows. Returns the number of records suppressed.

    The ingest should call this after staging is built and before identity resolution."""
    records = suppressed_records(con)
    if not records:
        return 0
    temp_table_from_rows(con, "forget_records", _RECORD_COLUMNS, [list(r) for r in records])
    temp_table_from_rows(con, "forget_customers", [("customer_id", "VARCHAR")], [])
    from profiles.crm_sync.runner import home_of

    home = home_of(con)
    if home is not None and HomeLayout(home).raw.exists():
        raw = HomeLayout(home).raw
        clean_parquet_files(con, sorted(raw.rglob("*.parquet")), raw, None)
    if relation_exists(con, "raw", "quarantine"):
        quarantine = columns_of(con, "raw", "quarantine")
        values = {
            "load_id": "s.load_id", "source": "s.source", "stream": "s.stream", "record_id": "s.record_id",
            "reason": "'suppressed'", "detail": "'identifier under a deletion request'",
            "quarantined_at": "now()::TIMESTAMP",
        }
        chosen = [(c, e) for c, e in values.items() if c in quarantine]
        con.execute(
            f"INSERT INTO raw.quarantine ({', '.join(quote_ident(c) for c, _ in chosen)}) "
            f"SELECT {', '.join(e for _, e in chosen)} FROM staging.customer_records s "
            "JOIN forget_records f USING (source, record_id)")
    for schema, table in (("staging", "customer_records"), ("identity", "normalized_records")):
        if relation_exists(con, schema, table):
            con.execute(f"DELETE FROM {qualified(schema, table)} AS t WHERE EXISTS (SELECT 1 FROM forget_records f "
                        "WHERE f.source = t.source AND f.record_id = t.record_id)")
    return len(records)


def audit_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    if not relation_exists(con, "ops", "privacy_audit"):
        return []
    cursor = con.execute("SELECT * FROM ops.privacy_audit ORDER BY requested_at")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


__all__ = [
    "ForgetResult", "Subject", "apply_suppressions", "audit_rows", "find_subject", "forget",
    "rewrite_database", "sha256_hex", "suppressed_hashes", "suppressed_records",
]
