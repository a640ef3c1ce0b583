"""The whole pipeline as one Prefect flow `cdp-pipeline`:
ingest → suppressions → resolve → (evaluate) → profiles → segments → consent + syncs → publish.

A thin recipe: every task calls a plain function that tests exercise without Prefect. The run
holds the home's lock for its whole length, so a second run waits (or stops with a message
naming the holder) instead of colliding on the warehouse. Each step reports progress as it goes
and its duration lands in the summary.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from prefect import flow, task

from config import default_home
from config.pipeline import load_pipeline_settings
from pipelines.flows.ingest import ingest_source_task
from pipelines.flows.profiles import build_profiles_task, materialize_segments_task
from pipelines.flows.resolve import resolve_task
from pipelines.flows.sync import refresh_consent_task, sync_target_task

SETTINGS = load_pipeline_settings()


def _say(message: str) -> None:
    print(f"  · {message}", flush=True)


@task(name="apply-suppressions", retries=1, retry_delay_seconds=5)
def apply_suppressions_task(home: str) -> int:
    """Forgotten people stay forgotten: their late events are quarantined before resolution."""
    from profiles.privacy import apply_suppressions
    from warehouse.connection import connect_home

    con = connect_home(home)
    try:
        return apply_suppressions(con)
    finally:
        con.close()


@task(name="evaluate-against-truth")
def evaluate_task(home: str, truth_path: str) -> dict:
    from pipelines.evaluation_store import evaluate_and_store

    return evaluate_and_store(home, Path(truth_path))


@task(name="publish-warehouse", retries=1, retry_delay_seconds=5)
def publish_task(home: str) -> dict:
    """Document the tables, publish a read-only snapshot for readers, write the HTML report."""
    from pipelines.report.publish import publish_run_outputs

    published = publish_run_outputs(home, keep_snapshots=SETTINGS.snapshots.keep)
    return {"snapshot": str(published.snapshot), "report": str(published.report)}


class PipelineStepError(RuntimeError):
    """A step failed; the message names it and says how to continue."""

    def __init__(self, step: str, home: str, cause: BaseException):
        self.step = step
        super().__init__(
            f"step '{step}' failed: {type(cause).__name__}: {cause}\n"
            f"Steps before it are committed and every step is idempotent: fix the cause, then rerun "
            f"the same command (e.g. `cdp run --home {home}`) and it continues safely. "
            f"Prefect's UI or log shows the task run with its retries."
        )


def _timed(summary: dict, step: str, label: str, fn: Callable[[], Any]) -> Any:
    _say(f"{label} …")
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        _say(f"{label} FAILED after {time.perf_counter() - started:.1f} s")
        raise PipelineStepError(step, summary["home"], exc) from exc
    seconds = time.perf_counter() - started
    summary["timings"][step] = round(seconds, 2)
    _say(f"{label} done in {seconds:.1f} s")
    return result


@flow(name="cdp-pipeline", log_prints=False)
def cdp_pipeline(source_dir: str | None = None, home: str | None = None, truth: str | None = None,
                 sources: list[str] | None = None, full_resolve: bool = False) -> dict:
    """Run every step on the warehouse at `home`; returns the run summary (see pipelines.summary)."""
    from connectors.runner import SOURCE_NAMES
    from profiles.crm_sync import enabled_targets
    from warehouse.lock import home_lock

    home = str(Path(home) if home else default_home())
    if truth is None and source_dir and (Path(source_dir) / "truth.parquet").exists():
        truth = str(Path(source_dir) / "truth.parquet")
    summary: dict[str, Any] = {"home": home, "source_dir": source_dir, "timings": {}}
    with home_lock(home, wait_seconds=SETTINGS.lock.wait_seconds, command="cdp-pipeline"):
        loads = _timed(summary, "ingest", "ingest", lambda: [
            load for name in (sources or SOURCE_NAMES)
            for load in ingest_source_task(home, name, source_dir)
        ])
        summary["loads"] = [asdict(load) for load in loads]
        summary["suppressed"] = _timed(summary, "suppressions", "apply suppressions (forgotten people)",
                                       lambda: apply_suppressions_task(home))
        summary["resolve"] = _timed(summary, "resolve", "identity resolution",
                                    lambda: resolve_task(home, "full" if full_resolve else "incremental", None))
        if truth:
            summary["evaluation"] = _timed(summary, "evaluate", "evaluation against truth",
                                           lambda: evaluate_task(home, truth))
        summary["profiles"] = _timed(summary, "profiles", "golden profiles and traits",
                                     lambda: build_profiles_task(home))
        summary["segments"] = _timed(summary, "segments", "segments",
                                     lambda: materialize_segments_task(home, None))

        def _syncs() -> list[dict]:
            refresh_consent_task(home)
            return [sync_target_task(home, target) for target in enabled_targets()]

        summary["syncs"] = _timed(summary, "syncs", "consent and CRM syncs", _syncs)
        summary["published"] = _timed(summary, "publish", "catalog, snapshot and report",
                                      lambda: publish_task(home))
    return summary


if __name__ == "__main__":
    import sys

    print(cdp_pipeline(sys.argv[1] if len(sys.argv) > 1 else None))
