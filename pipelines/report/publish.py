"""The last step of a run: document the warehouse, publish a snapshot for readers, write the report.

One plain function so the whole-pipeline flow calls it as one task, after every writing step and
while still holding the home lock (the snapshot must not catch a half-written run).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warehouse.catalog import apply_comments
from warehouse.connection import connect_home
from warehouse.snapshot import publish_snapshot


@dataclass
class PublishResult:
    columns_documented: int
    snapshot: Path
    report: Path


def runtime_column_docs() -> dict[str, dict[str, str]]:
    """Docs of columns declared in config rather than code: the custom traits of config/profiles.yaml."""
    try:
        from config.profiles import load_profiles_config

        custom = load_profiles_config().traits.custom
    except Exception:  # no profiles config (yet) or an invalid one: `cdp config check` reports it
        return {}
    docs = {t.name: t.description for t in custom if getattr(t, "description", "")}
    return {"profiles.traits": docs} if docs else {}


def publish_run_outputs(home: str | Path, keep_snapshots: int = 3, report_path: str | Path | None = None) -> PublishResult:
    """Apply catalog comments, publish a read-only snapshot, then write the HTML report."""
    from pipelines.report import build_report

    home = Path(home)
    con = connect_home(home)
    try:
        comments = apply_comments(con, extra=runtime_column_docs())
        snapshot = publish_snapshot(con, keep=keep_snapshots, home=home)
    finally:
        con.close()
    report = build_report(home, report_path)
    return PublishResult(comments.columns, snapshot, report.path)
