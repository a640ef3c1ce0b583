"""Publishing for readers, after every command that writes (`cdp publish` alone):

1. the slim analyst views `profiles.customer` and `segments.current_members` (made from the columns
   the warehouse has, so a profile change upstream never breaks publishing);
2. catalog comments on every documented table, view and column;
3. a self-contained, portable snapshot `HOME/snapshots/latest.duckdb` (see warehouse.snapshot);
4. a dbt `sources.yml` describing that snapshot, from the same catalog (`HOME/dbt/sources.yml`).

The report is written by `cdp run`, `cdp demo` and `cdp report`, not here: publishing stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.catalog import apply_comments, render_dbt_sources
from warehouse.connection import connect_home
from warehouse.sql import quote_ident

# Traits an analyst reaches for first (present ones only); everything else is in customer_360.
CUSTOMER_TRAITS = ("first_seen", "last_seen", "days_since_last_seen", "records", "orders",
                   "completed_orders", "revenue", "avg_order_value", "last_order_at", "base_currency",
                   "rfm_segment", "preferred_channel", "country_inferred")
DBT_SOURCES = Path("dbt") / "sources.yml"


@dataclass
class PublishResult:
    columns_documented: int
    snapshot: Path
    dbt_sources: Path | None


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()]


def ensure_analyst_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """(Re)create the slim views readers start from; returns the views made."""
    made = []
    golden = _columns(con, "profiles", "golden")
    membership = _columns(con, "segments", "membership")
    if golden:
        # Values only: the provenance columns (<field>_source, <field>_record_id) stay in golden.
        provenance = {c for c in golden for f in golden if c in (f"{f}_source", f"{f}_record_id")}
        keep = [c for c in golden if c not in provenance and c != "profile_checksum"]
        select = [f"g.{quote_ident(c)}" for c in keep]
        joins = ""
        traits = _columns(con, "profiles", "traits")
        if traits:
            select += [f"t.{quote_ident(c)}" for c in CUSTOMER_TRAITS if c in traits and c not in keep]
            joins += " LEFT JOIN profiles.traits t USING (customer_id)"
        if {"segment", "customer_id", "exited_at"} <= set(membership):
            select.append("coalesce(s.segments, []) AS segments")
            joins += (" LEFT JOIN (SELECT customer_id, list_sort(list(segment)) AS segments "
                      "FROM segments.membership WHERE exited_at IS NULL GROUP BY customer_id) s USING (customer_id)")
        con.execute(f"CREATE OR REPLACE VIEW profiles.customer AS SELECT {', '.join(select)} "
                    f"FROM profiles.golden g{joins}")
        made.append("profiles.customer")
    if {"segment", "customer_id", "entered_at", "exited_at"} <= set(membership):
        extra = ", entered_run_seq" if "entered_run_seq" in membership else ""
        con.execute("CREATE OR REPLACE VIEW segments.current_members AS SELECT segment, customer_id, "
                    f"entered_at{extra} FROM segments.membership WHERE exited_at IS NULL")
        made.append("segments.current_members")
    return made


def runtime_column_docs() -> dict[str, dict[str, str]]:
    """Docs of columns declared in config rather than code: the custom traits of config/profiles.yaml."""
    try:
        from config.profiles import load_profiles_config

        custom = load_profiles_config().traits.custom
    except Exception:  # no profiles config (yet) or an invalid one: `cdp config check` reports it
        return {}
    docs = {t.name: t.description for t in custom if getattr(t, "description", "")}
    return {"profiles.traits": docs} if docs else {}


def publish(home: str | Path, keep_snapshots: int | None = None) -> PublishResult:
    """Views, comments, snapshot and dbt sources for the warehouse at `home` (caller holds the lock)."""
    from warehouse.snapshot import publish_snapshot

    home = Path(home)
    if keep_snapshots is None:
        from config.pipeline import load_pipeline_settings

        keep_snapshots = load_pipeline_settings().snapshots.keep
    con = connect_home(home)
    try:
        ensure_analyst_views(con)
        comments = apply_comments(con, extra=runtime_column_docs())
        snapshot = publish_snapshot(con, keep=keep_snapshots, home=home)
        sources = write_dbt_sources(con, home / DBT_SOURCES)
    finally:
        con.close()
    return PublishResult(comments.columns, snapshot, sources)


def write_dbt_sources(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """The dbt sources of this warehouse (documented objects that exist), written atomically."""
    text = render_dbt_sources(con, extra=runtime_column_docs())
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
    return path
