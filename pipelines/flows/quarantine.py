"""Prefect flow `cdp-quarantine-replay`: a thin recipe over `pipelines.quarantine.replay`."""
from __future__ import annotations

from prefect import flow, task

from warehouse.sql import without_record_values

from pipelines.flows._runtime import flow_run_name, run_logger, with_retries


@task(name="replay-quarantine", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "quarantine"])
@without_record_values
def replay_task(home: str, selection: dict, patch: str | None, dry_run: bool):
    from pipelines.quarantine import Selection, replay

    results = replay(home, Selection(**selection), patch=patch, dry_run=dry_run)
    for r in results:
        run_logger().info("replay %s/%s: %d re-checked, %d loaded, %d duplicate, still failing %s (load %s)",
                          r.source, r.stream, r.replayed, r.loaded, r.duplicate, r.still_failing or 0, r.load_id)
    return results


@flow(name="cdp-quarantine-replay", flow_run_name=flow_run_name, log_prints=False)
def replay_flow(home: str, selection: dict, patch: str | None = None, dry_run: bool = False):
    return with_retries(replay_task)(home, selection, patch, dry_run)
