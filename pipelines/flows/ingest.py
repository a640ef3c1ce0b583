"""Prefect ingest flow `cdp-ingest`: one task per connector, retried on transient source errors.

A thin recipe over `connectors.ingest_source`: the work (and its tests) lives in plain functions.
A retry is safe: whatever a failed attempt committed is skipped by the cursors, and what it did not
commit was never visible (loads are all or nothing).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prefect import flow, task

from warehouse.sql import without_record_values

from connectors import SOURCE_NAMES, LoadResult, TransientIngestError, ingest_source
from pipelines.flows._runtime import flow_run_name, run_logger, with_retries


def _retry_transient(task, task_run, state) -> bool:
    """Retry only what may pass by itself (a database away); a corrupt file will not heal."""
    try:
        state.result()
    except TransientIngestError:
        return True
    except Exception:
        return False
    return False


@task(name="ingest-source", retries=2, retry_delay_seconds=[30, 60], retry_condition_fn=_retry_transient,
      task_run_name="ingest-{source}", tags=["cdp", "ingest"])
@without_record_values
def ingest_source_task(home: str, source: str, source_dir: str | None, executor: str = "local",
                       parts: int | None = None) -> list[LoadResult]:
    from pipelines.flows._dask import on_executor

    results = ingest_source(home, source, source_dir, **on_executor(executor, parts))
    log = run_logger()
    for r in results:
        log.info("%s/%s: %s, %d input(s), read %d = loaded %d + quarantined %d + duplicate %d%s",
                 r.source, r.stream, r.status, r.files, r.rows_read, r.rows_loaded, r.rows_quarantined,
                 r.rows_duplicate, f"; errors: {r.error}" if r.errors else "")
    if any(r.retryable for r in results):
        raise TransientIngestError(results)
    return results


@flow(name="cdp-ingest", flow_run_name=flow_run_name, log_prints=False)
def ingest_flow(home: str, source_dir: str | None = None, sources: Sequence[str] | None = None) -> list[LoadResult]:
    """Load every (or the named) source into the warehouse at `home`, one after the other.

    Sources run in sequence: they share one DuckDB file, which has one writer at a time.
    """
    from connectors.runner import refresh_raw_views

    ingest = with_retries(ingest_source_task)
    results: list[LoadResult] = []
    for source in (list(sources) if sources else list(SOURCE_NAMES)):
        results.extend(ingest(str(home), source, str(source_dir) if source_dir else None))
    refresh_raw_views(home)
    return results


if __name__ == "__main__":
    import sys

    home = sys.argv[1] if len(sys.argv) > 1 else "cdp_home"
    src = sys.argv[2] if len(sys.argv) > 2 else None
    for r in ingest_flow(str(Path(home)), src):
        print(r.source, r.stream, r.status, r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate)
