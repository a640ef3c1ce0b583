"""Export a segment's members: CSV/Parquet with chosen fields, or a hashed ad-platform audience.

Audience files carry only SHA-256 hashes (lowercase hex) of identifiers normalized as each platform
documents it, from the address AS THE PERSON TYPED IT (the staging record the golden email came
from), never from our matching key (which also drops Gmail dots and `+tags`):
- Google Ads Customer Match (`--platform google`): columns `Email`, `Phone`. Email trimmed and
  lowercased, and for gmail.com / googlemail.com addresses the dots before the `@` removed (Google's
  documented rule; nothing else changes); phone in E.164 WITH the leading `+` (`+34612345678`).
- Meta custom audiences (`--platform meta`): columns `email`, `phone`. Email trimmed and lowercased
  only (Meta does not canonicalize); phone as digits only WITH the country code and WITHOUT `+`
  (`34612345678`).

Exports are written inside `HOME/exports` only: a destination is a name (never a path) and `--out`
must lie under `HOME/exports`, so `cdp forget` finds and cleans every file ever exported.

`--changes` writes only who entered or left since the last export of the segment to the same
destination (by default the format, e.g. `audience-google`): the set each export wrote is kept in
`segments.export_state` (segment, destination, customer_id, exported_at), so the next diff is exact
even when consent changed in between. Every export is logged in `segments.exports`.

Consent: an export keeps only members who granted every consent purpose the segment declares
(`purposes:` in config/segments.yaml; `marketing` by default) plus any the caller adds.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path

import duckdb
import polars as pl

from profiles.expressions import ExpressionError, quote_identifier as q, relation_catalog, resolve_field
from profiles.golden import _existing_columns
from profiles.segments import MEMBERSHIP, has_runs
from profiles.traits import CUSTOMER_VIEW
from warehouse.layout import HomeLayout
from warehouse.sql import transaction

log = logging.getLogger(__name__)

EXPORT_STATE = "segments.export_state"
EXPORT_LOG = "segments.exports"
FORMATS = ("csv", "parquet", "audience")
PLATFORMS = ("google", "meta")
DEFAULT_FIELDS = ["customer_id", "first_name", "last_name", "email", "phone", "country_inferred", "rfm_segment",
                  "revenue", "completed_orders"]


class ExportError(ValueError):
    """A user-caused export problem (unknown segment, unknown field...), with what to do."""


def ensure_export_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {EXPORT_STATE} (
            segment VARCHAR NOT NULL, destination VARCHAR NOT NULL, customer_id VARCHAR NOT NULL,
            exported_at TIMESTAMP NOT NULL)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {EXPORT_LOG} (
            segment VARCHAR, destination VARCHAR, format VARCHAR, file VARCHAR, rows BIGINT,
            members BIGINT, entered BIGINT, exited BIGINT, consent_excluded BIGINT, without_identifier BIGINT,
            changes_only BOOLEAN, consent_applied BOOLEAN, exported_at TIMESTAMP, purposes VARCHAR)"""
    )
    con.execute(f"ALTER TABLE {EXPORT_LOG} ADD COLUMN IF NOT EXISTS purposes VARCHAR")


_DESTINATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_destination(destination: str) -> str:
    if not _DESTINATION.match(destination) or ".." in destination:
        raise ExportError(f"--destination {destination!r}: a destination is a name (letters, digits, '.', '_', '-'; "
                          "at most 64), not a path; exports are written under HOME/exports/segments/SEGMENT/")
    return destination


def _check_out(out: Path, home: Path) -> Path:
    """`out` resolved, refused unless it lies inside HOME/exports (symlinks followed)."""
    exports = HomeLayout(home).exports.resolve()
    target = (Path(out) if Path(out).is_absolute() else Path.cwd() / out).resolve()
    if not target.is_relative_to(exports) or target == exports:
        raise ExportError(f"--out {out}: outside {exports}; exports stay inside the home's export folder so "
                          "`cdp forget` can clean them: give a file under it, or leave --out out")
    return target


def google_email_sql(email: str) -> str:
    """Google's documented email normalization, in SQL: trim, lowercase, and for gmail.com and
    googlemail.com the dots of the part before the @ removed."""
    e = f"lower(trim({email}))"
    return (f"CASE WHEN split_part({e}, '@', -1) IN ('gmail.com', 'googlemail.com') "
            f"THEN replace(regexp_extract({e}, '^(.*)@[^@]*$', 1), '.', '') || '@' || split_part({e}, '@', -1) "
            f"ELSE {e} END")


def meta_email_sql(email: str) -> str:
    """Meta's documented email normalization: trim and lowercase, nothing more."""
    return f"lower(trim({email}))"


def audience_email_forms(raw: str) -> set[str]:
    """The forms of one address as typed that an audience file hashes (for `cdp forget`)."""
    e = raw.strip().lower()
    local, _, domain = e.rpartition("@")
    google = f"{local.replace('.', '')}@{domain}" if domain in ("gmail.com", "googlemail.com") and local else e
    return {e, google}


def _write_atomically(frame: pl.DataFrame, out: Path, kind: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if kind == "parquet":
        frame.write_parquet(tmp)
    else:
        frame.write_csv(tmp)
    os.replace(tmp, out)


def export_segment(
    con: duckdb.DuckDBPyConnection,
    home: str | Path,
    segment: str,
    fmt: str = "csv",
    fields: list[str] | None = None,
    changes: bool = False,
    out: str | Path | None = None,
    platform: str = "google",
    destination: str | None = None,
    marketing: bool = True,
    now: dt.datetime | None = None,
    purposes: list[str] | None = None,
) -> dict:
    """Write one export file for `segment`; return what was written (counts only, never values).

    `purposes`: the consent purposes a member must have granted (default: marketing when
    `marketing`, else none)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if platform not in PLATFORMS:
        raise ExportError(f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
    if not has_runs(con, segment):
        raise ExportError(f"segment {segment!r} has no membership yet: check its name in config/segments.yaml "
                          "and run `cdp segments --home HOME` first")
    if not _existing_columns(con, CUSTOMER_VIEW):
        raise ExportError("no profiles yet: run `cdp profiles --home HOME` first")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    destination = _check_destination(destination or (f"audience-{platform}" if fmt == "audience" else fmt))
    if out is not None:
        out = _check_out(Path(out), Path(home))
    ensure_export_tables(con)

    from profiles.consent import allowed_sql

    purposes = sorted(set(purposes if purposes is not None else (["marketing"] if marketing else [])))
    consent_sql = allowed_sql(con, purposes)
    allowed_clause = f"AND m.customer_id IN ({consent_sql})" if consent_sql else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _export_now AS
            SELECT DISTINCT m.customer_id FROM {MEMBERSHIP} m
            WHERE m.segment = ? AND m.exited_at IS NULL {allowed_clause}""",
        [segment],
    )
    members = con.execute(
        f"SELECT count(DISTINCT customer_id) FROM {MEMBERSHIP} WHERE segment = ? AND exited_at IS NULL", [segment]
    ).fetchone()[0]
    exportable = con.execute("SELECT count(*) FROM _export_now").fetchone()[0]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _export_before AS SELECT customer_id FROM {EXPORT_STATE} "
        "WHERE segment = ? AND destination = ?",
        [segment, destination],
    )
    if changes:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _export_rows AS
               SELECT customer_id, 'entered' AS change FROM _export_now
               WHERE customer_id NOT IN (SELECT customer_id FROM _export_before)
               UNION ALL
               SELECT customer_id, 'exited' AS change FROM _export_before
               WHERE customer_id NOT IN (SELECT customer_id FROM _export_now)"""
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _export_rows AS SELECT customer_id, NULL AS change FROM _export_now")
    entered, exited = con.execute(
        "SELECT count(*) FILTER (WHERE change = 'entered'), count(*) FILTER (WHERE change = 'exited') FROM _export_rows"
    ).fetchone()

    catalog = relation_catalog(con, CUSTOMER_VIEW, alias="p")
    change_col = ", r.change" if changes else ""
    without_identifier = 0
    if fmt == "audience":
        if fields:
            raise ExportError("--fields does not apply to audience exports: they carry hashed email and phone only")
        phone = "p.phone" if platform == "google" else "ltrim(p.phone, '+')"
        email_col, phone_col = ("Email", "Phone") if platform == "google" else ("email", "phone")
        # The address as the person typed it: the staging record the golden email came from
        # (our normalized matching key when that record is gone).
        typed, typed_join = "p.email", ""
        view_cols = set(catalog)
        if {"email_source", "email_record_id"} <= view_cols and _existing_columns(con, "staging.customer_records"):
            typed = "coalesce(nullif(trim(s.email), ''), p.email)"
            typed_join = ("LEFT JOIN staging.customer_records s ON p.email IS NOT NULL AND s.source = p.email_source "
                          "AND s.record_id = p.email_record_id")
        email = google_email_sql(typed) if platform == "google" else meta_email_sql(typed)
        sql = f"""
            SELECT CASE WHEN p.email IS NOT NULL THEN sha256({email}) END AS {q(email_col)},
                   CASE WHEN p.phone IS NOT NULL THEN sha256({phone}) END AS {q(phone_col)}{change_col}
            FROM _export_rows r LEFT JOIN {CUSTOMER_VIEW} p ON p.customer_id = r.customer_id
            {typed_join}
            WHERE p.email IS NOT NULL OR p.phone IS NOT NULL
            ORDER BY {'r.change, ' if changes else ''}1, 2
        """
        frame = con.sql(sql).pl()
        without_identifier = (entered + exited if changes else exportable) - frame.height
        params: list = []
    else:
        fields = fields or DEFAULT_FIELDS
        selects, params = [], []
        for i, name in enumerate(fields):
            try:
                info = resolve_field(catalog, name, "")
            except ExpressionError as exc:
                raise ExportError(f"--fields: {exc.message}") from None
            selects.append(f"{info.sql} AS {q(name)}")
            params += list(info.params)
        if "customer_id" not in fields:
            selects.insert(0, "r.customer_id AS customer_id")
        sql = f"""
            SELECT {', '.join(selects)}{change_col}
            FROM _export_rows r LEFT JOIN {CUSTOMER_VIEW} p ON p.customer_id = r.customer_id
            ORDER BY {'r.change, ' if changes else ''}r.customer_id
        """
        frame = con.sql(sql, params=params).pl()
        # Lists do not fit CSV cells: join their items with "|".
        if fmt == "csv":
            frame = frame.with_columns(
                [pl.col(c).list.join("|") for c, t in frame.schema.items() if isinstance(t, pl.List)]
            )

    ext = "parquet" if fmt == "parquet" else "csv"
    if out is None:
        stamp = now.strftime("%Y%m%dT%H%M%S")
        suffix = "-changes" if changes else ""
        out = HomeLayout(Path(home)).exports / "segments" / segment / f"{segment}-{destination}{suffix}-{stamp}.{ext}"
    out = Path(out)
    _write_atomically(frame, out, ext)

    with transaction(con):
        con.execute(f"DELETE FROM {EXPORT_STATE} WHERE segment = ? AND destination = ?", [segment, destination])
        con.execute(
            f"INSERT INTO {EXPORT_STATE} SELECT ?, ?, customer_id, CAST(? AS TIMESTAMP) FROM _export_now ORDER BY 3",
            [segment, destination, now],
        )
        con.execute(
            f"INSERT INTO {EXPORT_LOG} (segment, destination, format, file, rows, members, entered, exited, "
            "consent_excluded, without_identifier, changes_only, consent_applied, exported_at, purposes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP), ?)",
            [segment, destination, fmt, str(out), frame.height, members, entered, exited, members - exportable,
             without_identifier, changes, consent_sql is not None, now, ",".join(purposes) or None],
        )
    for table in ("_export_now", "_export_before", "_export_rows", "_export_allowed"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    result = {"segment": segment, "destination": destination, "format": fmt, "file": str(out), "rows": frame.height,
              "members": members, "entered": entered, "exited": exited, "consent_excluded": members - exportable,
              "consent_applied": consent_sql is not None, "purposes": purposes,
              "without_identifier": without_identifier}
    log.info("exported segment %s to %s: %s rows", segment, destination, frame.height)
    return result
