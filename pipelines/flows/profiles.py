"""Prefect flows for the profile layer: thin recipes over `profiles._steps`."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from warehouse.sql import without_record_values

from pipelines.flows._runtime import flow_run_name, run_logger, with_retries
from profiles import _steps


@task(name="build-golden-profiles-and-traits", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "profiles"])
@without_record_values
def build_profiles_task(home: str, executor: str = "local", parts: int | None = None) -> dict:
    from pipelines.flows._dask import on_executor

    result = _steps.build_profiles(home, **on_executor(executor, parts))
    g, t = result["golden"], result["traits"]
    run_logger().info("golden profiles: %d (changed %d); traits: %d customers, %d buyers",
                      g["profiles"], g["changed"], t["customers"], t["buyers"])
    return result


@task(name="materialize-segments", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "segments"])
@without_record_values
def materialize_segments_task(home: str, only: list[str] | None = None) -> dict:
    result = _steps.materialize_segments(home, only=only)
    log = run_logger()
    for name, r in result["segments"].items():
        log.info("segment %s: %d members (+%d entered, -%d exited)", name, r["size"], r["entered"], r["exited"])
    return result


@task(name="export-segment", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "export"],
      task_run_name="export-{segment}")
@without_record_values
def export_segment_task(home: str, segment: str, fmt: str, fields: list[str] | None, changes: bool,
                        out: str | None, platform: str, destination: str | None) -> dict:
    result = _steps.export(home, segment, fmt=fmt, fields=fields, changes=changes, out=out, platform=platform,
                           destination=destination)
    run_logger().info("exported %d rows of %s to %s", result["rows"], segment, result["file"])
    return result


@flow(name="cdp-profiles", flow_run_name=flow_run_name, log_prints=False)
def profiles_flow(home: str) -> dict:
    """Golden profiles (survivorship + provenance), then computed traits."""
    return with_retries(build_profiles_task)(str(home))


@flow(name="cdp-segments", flow_run_name=flow_run_name, log_prints=False)
def segments_flow(home: str, only: list[str] | None = None) -> dict:
    """Segment membership with enter/exit history."""
    return with_retries(materialize_segments_task)(str(home), only)


@flow(name="cdp-export", flow_run_name=flow_run_name, log_prints=False)
def export_flow(home: str, segment: str, fmt: str = "csv", fields: list[str] | None = None, changes: bool = False,
                out: str | None = None, platform: str = "google", destination: str | None = None) -> dict:
    """One segment's members to a file (CSV, Parquet or a hashed audience)."""
    return with_retries(export_segment_task)(str(home), segment, fmt, fields, changes, out, platform, destination)


@flow(name="cdp-profiles-and-segments", flow_run_name=flow_run_name, log_prints=False)
def profiles_and_segments_flow(home: str) -> dict:
    profiles = with_retries(build_profiles_task)(str(home))
    segments = with_retries(materialize_segments_task)(str(home), wait_for=[profiles])
    return {"profiles": profiles, "segments": segments}


if __name__ == "__main__":
    import sys

    print(profiles_and_segments_flow(str(Path(sys.argv[1] if len(sys.argv) > 1 else "cdp_home"))))
