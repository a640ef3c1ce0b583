"""Export a segment's members: CSV/Parquet with chosen fields, or a hashed ad-platform audience.

Audience files carry only SHA-256 hashes (lowercase hex) of normalized identifiers, in the
customer-match forms the platforms document:
- Google Ads Customer Match (`--platform google`): columns `Email`, `Phone`. Email trimmed and
  lowercased (our identity normalization also drops dots and `+tags` of gmail.com addresses, as
  Google asks); phone in E.164 WITH the leading `+` (e.g. `+34612345678`).
- Meta custom audiences (`--platform meta`): columns `email`, `phone`. Email trimmed and lowercased;
  phone as digits only WITH the country code and WITHOUT `+` (e.g. `34612345678`).

`--changes` writes only who entered or left since the last export of the segment to the same
destination (by default the format, e.g. `audience-google`): the set each export wrote is kept in
`segments.export_state` (segment, destination, customer_id, exported_at), so the next diff is exact
even when consent changed in between. Every export is logged in `segments.exports`.

Consent: exports of a segment marked `marketing` (the default) keep only customers for whom
`profiles.consent` allows marketing, when that module is installed.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

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
            changes_only BOOLEAN, consent_applied BOOLEAN, exported_at TIMESTAMP)"""
    )


def _consent_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """A SELECT of customer_ids allowed marketing, or None when the consent module is not installed."""
    try:
        consent = importlib.import_module("profiles.consent")
    except ImportError:
        return None
    if hasattr(consent, "marketing_allowed_sql"):
        return consent.marketing_allowed_sql(con)
    if hasattr(consent, "marketing_allowed"):
        allowed = consent.marketing_allowed(con)
        con.execute("CREATE OR REPLACE TEMP TABLE _export_allowed (customer_id VARCHAR)")
        con.register("_export_allowed_arrow", pa.table({"customer_id": sorted(allowed)}, schema=pa.schema([("customer_id", pa.string())])))
        con.execute("INSERT INTO _export_allowed SELECT customer_id FROM _export_allowed_arrow")
        con.unregister("_export_allowed_arrow")
        return "SELECT customer_id FROM _export_allowed"
    return None


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
) -> dict:
    """Write one export file for `segment`; return what was written (counts only, never values)."""
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
    destination = destination or (f"audience-{platform}" if fmt == "audience" else fmt)
    ensure_export_tables(con)

    consent_sql = _consent_sql(con) if marketing else None
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
        sql = f"""
            SELECT CASE WHEN p.email IS NOT NULL THEN sha256(lower(trim(p.email))) END AS {q(email_col)},
                   CASE WHEN p.phone IS NOT NULL THEN sha256({phone}) END AS {q(phone_col)}{change_col}
            FROM _export_rows r LEFT JOIN {CUSTOMER_VIEW} p ON p.customer_id = r.customer_id
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
            f"INSERT INTO {EXPORT_LOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))",
            [segment, destination, fmt, str(out), frame.height, members, entered, exited, members - exportable,
             without_identifier, changes, consent_sql is not None, now],
        )
    for table in ("_export_now", "_export_before", "_export_rows", "_export_allowed"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    result = {"segment": segment, "destination": destination, "format": fmt, "file": str(out), "rows": frame.height,
              "members": members, "entered": entered, "exited": exited, "consent_excluded": members - exportable,
              "consent_applied": consent_sql is not None, "without_identifier": without_identifier}
    log.info("exported segment %s to %s: %s rows", segment, destination, frame.height)
    return result
