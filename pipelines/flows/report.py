"""Prefect flow `cdp-report`: the HTML run report as a flow run (its path as a link artifact)."""
from __future__ import annotations

from prefect import flow, task

from warehouse.sql import without_record_values

from pipelines.flows._runtime import flow_run_name, run_logger, with_retries


@task(name="write-report", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "report"])
@without_record_values
def report_task(home: str, out: str | None = None):
    from pipelines.report import build_report

    result = build_report(home, out)
    run_logger().info("report %s: %d chart(s) drawn, %d without data", result.path, result.charts_drawn,
                      len(result.charts_empty))
    return result


@flow(name="cdp-report", flow_run_name=flow_run_name, log_prints=False)
def report_flow(home: str, out: str | None = None):
    result = with_retries(report_task)(home, out)
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(key="cdp-report", markdown=f"Report written to `{result.path}`",
                                 description="where the run report is")
    except Exception:  # an artifact is a nicety
        pass
    return result
