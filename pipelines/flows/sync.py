"""Prefect flows for CRM syncs: one task run per target, retried on transient failure.

Retrying a target run is safe: state only advances for rows the target confirmed, and HTTP batches
carry an idempotency key derived from their content.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from profiles.consent import build_consent
from profiles.crm_sync import enabled_targets, sync
from warehouse.connection import connect_home


@task(name="refresh-consent", retries=1, retry_delay_seconds=5)
def refresh_consent_task(home: str) -> int:
    con = connect_home(home)
    try:
        return build_consent(con)
    finally:
        con.close()


@task(name="sync-target", retries=2, retry_delay_seconds=10, task_run_name="sync-{target}")
def sync_target_task(home: str, target: str) -> dict:
    result = sync(home, target)
    return {"target": result.target, "run_id": result.run_id, "new": result.new, "updated": result.updated,
            "deleted": result.deleted, "failed": result.failed, "unchanged": result.unchanged,
            "batches": result.batches, "errors": result.errors, "files": result.files}


@flow(name="cdp-sync", log_prints=False)
def sync_flow(home: str, targets: list[str] | None = None) -> list[dict]:
    """Refresh consent, then sync each target in turn (they share the warehouse file: no parallelism)."""
    consent = refresh_consent_task(str(home))
    results = []
    for target in targets or enabled_targets():
        results.append(sync_target_task(str(home), target, wait_for=[consent]))
    return results


if __name__ == "__main__":
    import sys

    print(sync_flow(str(Path(sys.argv[1] if len(sys.argv) > 1 else "cdp_home"))))
