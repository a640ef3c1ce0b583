"""What makes a cdp flow run worth watching in Prefect: names that say the home and the date, tags,
retries with backoff from `config/pipeline.yaml`, a log line per step, a summary artifact.

Settings are read when a flow runs, never at import (configuration comes in at the edge).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def retry_options() -> dict[str, Any]:
    """Task retries with exponential backoff: delay, 2x delay, 4x delay ... (config/pipeline.yaml)."""
    from config.pipeline import load_pipeline_settings

    settings = load_pipeline_settings()
    if settings.retries <= 0:
        return {"retries": 0}
    delays = [settings.retry_delay_seconds * 2 ** i for i in range(settings.retries)]
    return {"retries": settings.retries, "retry_delay_seconds": delays, "retry_jitter_factor": 0.2}


def with_retries(task_obj):
    """`task_obj` with the configured retries (keeps its own retry condition)."""
    return task_obj.with_options(**retry_options())


def home_label(home: str | Path | None) -> str:
    """A short, recognisable name for a home folder (its last part)."""
    if not home:
        from config import default_home

        home = default_home()
    return Path(home).resolve().name or str(home)


def flow_run_name() -> str:
    """`<flow>: <home> <UTC date time>`, e.g. `cdp-pipeline: demo_home 2026-11-23 20:45:03`."""
    from prefect.runtime import flow_run

    params = flow_run.parameters or {}
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{flow_run.flow_name}: {home_label(params.get('home'))} {stamp}"


def flow_tags(home: str | Path | None, command: str | None = None) -> list[str]:
    tags = ["cdp", f"home:{home_label(home)}"]
    if command:
        tags.append(f"command:{command}")
    return tags


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow or task run (shown in the UI), a plain logger outside."""
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # called outside a run (tests of plain functions)
        return logging.getLogger("pipelines.flows")


def summary_markdown(summary: dict, report: str | None = None, snapshot: str | None = None) -> str:
    """The run summary as markdown for a Prefect artifact (figures only: no personal data)."""
    from pipelines.summary import summary_sections

    lines = [f"# cdp run on `{summary.get('home', '?')}`", ""]
    if report:
        lines += [f"**Report:** `{report}`  ", f"**Snapshot:** `{snapshot or '-'}`", ""]
    for title, headers, rows in summary_sections(summary):
        lines += [f"## {title}", "", "| " + " | ".join(headers) + " |",
                  "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value).replace("|", "\\|")


def publish_summary_artifact(summary: dict) -> str | None:
    """Attach the run summary (with the report's path) to the flow run; returns the artifact id."""
    try:
        from prefect.artifacts import create_markdown_artifact

        published = summary.get("published") or {}
        artifact = create_markdown_artifact(
            key="cdp-run-summary",
            markdown=summary_markdown(summary, published.get("report"), published.get("snapshot")),
            description=f"cdp run summary for {home_label(summary.get('home'))}")
        return str(artifact) if artifact else None
    except Exception as exc:  # an artifact is a nicety: never fail a run for it
        run_logger().warning("could not attach the run summary artifact: %s", type(exc).__name__)
        return None
