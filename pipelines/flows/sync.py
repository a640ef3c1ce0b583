"""Prefect flows for CRM syncs: one task run per target, retried on transient failure.

Retrying a target run is safe: state only advances for rows the target confirmed, and HTTP batches
carry an idempotency key derived from their content.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from warehouse.sql import without_record_values

from pipelines.flows._runtime import flow_run_name, run_logger, with_retries
from profiles.consent import build_consent
from profiles.crm_sync import enabled_targets, sync
from warehouse.connection import connect_home


@task(name="refresh-consent", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "consent"])
@without_record_values
def refresh_consent_task(home: str) -> int:
    con = connect_home(home)
    try:
        rows = build_consent(con)
    finally:
        con.close()
    run_logger().info("consent refreshed: %s row(s)", rows)
    return rows


@task(name="sync-target", retries=2, retry_delay_seconds=[30, 60], task_run_name="sync-{target}",
      tags=["cdp", "sync"])
@without_record_values
def sync_target_task(home: str, target: str) -> dict:
    result = sync(home, target)
    run_logger().info("sync %s: %d new, %d updated, %d deleted, %d failed, %d unchanged in %d batch(es)%s",
                      target, result.new, result.updated, result.deleted, result.failed, result.unchanged,
                      result.batches, f"; errors: {'; '.join(result.errors)}" if result.errors else "")
    return {"target": result.target, "run_id": result.run_id, "new": result.new, "updated": result.updated,
            "deleted": result.deleted, "failed": result.failed, "unchanged": result.unchanged,
            "batches": result.batches, "errors": result.errors, "files": result.files}


@flow(name="cdp-sync", flow_run_name=flow_run_name, log_prints=False)
def sync_flow(home: str, targets: list[str] | None = None) -> list[dict]:
    """Refresh consent, then sync each target in turn (they share the warehouse file: no parallelism)."""
    consent = with_retries(refresh_consent_task)(str(home))
    results = []
    for target in targets or enabled_targets():
        results.append(with_retries(sync_target_task)(str(home), target, wait_for=[consent]))
    return results


if __name__ == "__main__":
    import sys

    print(sync_flow(str(Path(sys.argv[1] if len(sys.argv) > 1 else "cdp_home"))))
