"""Prefect flow `cdp-resolve`: a thin recipe over `identity.resolve` (all work is in plain functions)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, task

from warehouse.sql import without_record_values

from identity import resolve
from pipelines.flows._dask import on_executor
from pipelines.flows._runtime import flow_run_name, run_logger, with_retries


@task(name="resolve-identities", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "identity"])
@without_record_values
def resolve_task(home: str, mode: str, debug: bool | None, executor: str = "local", parts: int | None = None) -> dict:
    summary = asdict(resolve(home, mode=mode, debug=debug, **on_executor(executor, parts)))
    log = run_logger()
    log.info("resolve %s (%s): %d records (%d new) -> %d customers; %d deterministic + %d probabilistic edges, "
             "%d refused", summary["run_id"], summary["mode"], summary["records"], summary["new_records"],
             summary["customers"], summary["deterministic_edges"], summary["probabilistic_edges"],
             summary["rejected_edges"])
    for step, seconds in (summary.get("step_seconds") or {}).items():
        log.info("  step %s: %.2f s", step, seconds)
    return summary


@flow(name="cdp-resolve", flow_run_name=flow_run_name, log_prints=False)
def resolve_flow(home: str, full: bool = False, debug: bool | None = None) -> dict:
    """Staging records -> identity graph -> matching -> clusters -> stable customer ids."""
    return with_retries(resolve_task)(str(home), "full" if full else "incremental", debug)


if __name__ == "__main__":
    import sys

    print(resolve_flow(str(Path(sys.argv[1] if len(sys.argv) > 1 else "cdp_home")), full="--full" in sys.argv))
