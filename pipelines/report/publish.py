"""The last step of a run: publish for readers (views, comments, snapshot, dbt sources), then the report.

One plain function so the whole-pipeline flow calls it as one task, after every writing step and
while still holding the home lock (the snapshot must not catch a half-written run).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.publish import publish, runtime_column_docs  # noqa: F401  (runtime_column_docs: old import path)


@dataclass
class PublishResult:
    columns_documented: int
    snapshot: Path
    report: Path
    dbt_sources: Path | None = None


def publish_run_outputs(home: str | Path, keep_snapshots: int | None = None,
                        report_path: str | Path | None = None) -> PublishResult:
    """Publish the warehouse for readers, then write the HTML report."""
    from pipelines.report import build_report

    published = publish(home, keep_snapshots=keep_snapshots)
    report = build_report(home, report_path)
    return PublishResult(published.columns_documented, published.snapshot, report.path, published.dbt_sources)
