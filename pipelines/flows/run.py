"""The whole pipeline as one Prefect flow `cdp-pipeline`:
ingest → suppressions → resolve → (evaluate) → profiles → segments → consent + syncs → publish.

A thin recipe: every task calls a plain function that tests exercise without Prefect. The run
holds the home's lock for its whole length, so a second run waits (or stops with a message
naming the holder) instead of colliding on the warehouse. Each step reports progress as it goes
and its duration lands in the summary.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from prefect import flow, task

from warehouse.sql import without_record_values

from config import default_home
from config.pipeline import load_pipeline_settings
from pipelines.flows._runtime import flow_run_name, publish_summary_artifact, run_logger, with_retries
from pipelines.flows.ingest import ingest_source_task
from pipelines.flows.profiles import build_profiles_task, materialize_segments_task
from pipelines.flows.resolve import resolve_task
from pipelines.flows.sync import refresh_consent_task, sync_target_task


def _say(message: str) -> None:
    """Progress for the person at the terminal (stderr: stdout carries the summary, or its JSON)."""
    print(f"  · {message}", file=sys.stderr, flush=True)


@task(name="apply-suppressions", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "privacy"])
@without_record_values
def apply_suppressions_task(home: str) -> int:
    """Forgotten people stay forgotten: their late events are quarantined before resolution."""
    from profiles.privacy import apply_suppressions
    from warehouse.connection import connect_home

    con = connect_home(home)
    try:
        return apply_suppressions(con)
    finally:
        con.close()


@task(name="evaluate-against-truth", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "identity"])
@without_record_values
def evaluate_task(home: str, truth_path: str) -> dict:
    from pipelines.evaluation_store import evaluate_and_store

    return evaluate_and_store(home, Path(truth_path))


@task(name="publish-warehouse", retries=2, retry_delay_seconds=[30, 60], tags=["cdp", "publish"])
@without_record_values
def publish_task(home: str) -> dict:
    """Analyst views, comments, a self-contained snapshot and dbt sources for readers; the HTML report."""
    from pipelines.report.publish import publish_run_outputs

    published = publish_run_outputs(home)
    return {"snapshot": str(published.snapshot), "report": str(published.report),
            "dbt_sources": str(published.dbt_sources) if published.dbt_sources else None}


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


class PipelineFailed(RuntimeError):
    """The run went to its end but something failed: a step raised (the steps that need it were
    skipped, every other one ran), an input could not be read, or sync rows failed. Raised at the
    end of the flow, so Prefect marks the run Failed; `summary` holds what did run. The message
    names steps, counts and error types only (never a record's value)."""

    def __init__(self, summary: dict):
        self.summary = summary
        failures = summary.get("failures") or []
        super().__init__(f"{len(failures)} problem(s): " + "; ".join(f["message"] for f in failures))


def _failed(summary: dict, step: str, message: str, skipped: bool = False) -> None:
    summary.setdefault("failures", []).append({"step": step, "message": message, "skipped": skipped})


def _timed(summary: dict, step: str, label: str, fn: Callable[[], Any], needs: tuple[str, ...] = ()) -> Any:
    """Run one step, timed and logged. A step whose `needs` failed is skipped; a step that raises is
    recorded as failed (its error described without record values) and the run goes on."""
    from warehouse.sql import describe_error

    failed_steps = {f["step"] for f in summary.get("failures", [])}
    missing = [n for n in needs if n in failed_steps]
    if missing:
        _say(f"{label} skipped: it needs {', '.join(missing)}")
        _failed(summary, step, f"{step} skipped (needs {', '.join(missing)})", skipped=True)
        return None
    _say(f"{label} …")
    log = run_logger()
    log.info("step %s: %s …", step, label)
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        seconds = time.perf_counter() - started
        _say(f"{label} FAILED after {seconds:.1f} s")
        log.error("step %s failed after %.1f s: %s", step, seconds, type(exc).__name__)
        summary["timings"][step] = round(seconds, 2)
        _failed(summary, step, f"{step} failed: {describe_error(exc)}")
        return None
    seconds = time.perf_counter() - started
    summary["timings"][step] = round(seconds, 2)
    _say(f"{label} done in {seconds:.1f} s")
    log.info("step %s done in %.1f s", step, seconds)
    return result


@flow(name="cdp-pipeline", flow_run_name=flow_run_name, log_prints=False)
def cdp_pipeline(source_dir: str | None = None, home: str | None = None, truth: str | None = None,
                 sources: list[str] | None = None, full_resolve: bool = False,
                 lock_wait: float | None = None, executor: str = "local", parts: int | None = None) -> dict:
    """Run every step on the warehouse at `home`; returns the run summary (see pipelines.summary).

    `executor="dask"` (with the flow on a DaskTaskRunner: see `run_pipeline`) maps the partitioned
    stages' `parts` parts as tasks on the cluster; every write to the warehouse stays here."""
    from connectors.runner import SOURCE_NAMES
    from pipelines.run_log import record_run, utcnow
    from profiles.crm_sync import enabled_targets
    from warehouse.lock import home_lock

    # Configuration comes in here, at the flow's edge (never at import); every task gets its retries.
    settings = load_pipeline_settings()
    steps = SimpleNamespace(
        ingest=with_retries(ingest_source_task), suppressions=with_retries(apply_suppressions_task),
        resolve=with_retries(resolve_task), evaluate=with_retries(evaluate_task),
        profiles=with_retries(build_profiles_task), segments=with_retries(materialize_segments_task),
        consent=with_retries(refresh_consent_task), sync=with_retries(sync_target_task),
        publish=with_retries(publish_task), targets=enabled_targets)

    home = str(Path(home) if home else default_home())
    if truth is None and source_dir and (Path(source_dir) / "truth.parquet").exists():
        truth = str(Path(source_dir) / "truth.parquet")
    summary: dict[str, Any] = {"home": home, "source_dir": source_dir, "timings": {}, "executor": executor}
    wait = settings.lock.wait_seconds if lock_wait is None else lock_wait
    with home_lock(home, wait_seconds=wait, command="cdp-pipeline"):
        started_at = utcnow()
        try:
            _run_steps(summary, steps, home, source_dir, truth, list(sources or SOURCE_NAMES), full_resolve,
                       {"executor": executor, "parts": parts} if executor != "local" else {})
        except BaseException as exc:
            record_run(home, "cdp run", started_at, "failed", type(exc).__name__, flow=True,
                       details={"timings": summary["timings"]})
            raise
        failures = summary.get("failures") or []
        record_run(home, "cdp run", started_at, "failed" if failures else "completed",
                   "; ".join(f["message"] for f in failures)[:500] or None, flow=True,
                   details={"timings": summary["timings"]})
    publish_summary_artifact(summary)
    if failures:
        # Every step that could run has run (snapshot and report included): now the run fails.
        raise PipelineFailed(summary)
    return summary


def _run_steps(summary: dict, steps: SimpleNamespace, home: str, source_dir: str | None, truth: str | None,
               sources: list[str], full_resolve: bool, on_dask: dict | None = None) -> None:
    """The recipe, step by step; each step timed and logged. A failed step skips only the steps that
    need it (publishing needs none: the snapshot and report of what is committed always come).
    `on_dask`: the executor and part count the partitioned stages take (empty: embedded)."""
    on_dask = on_dask or {}
    loads = _timed(summary, "ingest", "ingest", lambda: [
        load for name in sources for load in steps.ingest(home, name, source_dir, **on_dask)])
    summary["loads"] = [asdict(load) for load in loads or []]
    for load in loads or []:
        if load.errors or load.status != "ok":
            # An unreadable input: the rest loaded, but the run must not look like a success.
            _failed(summary, "ingest-inputs", f"load {load.source}/{load.stream} {load.status}: "
                    f"{len(load.errors)} input(s) refused (see ops.loads.error)")
    summary["suppressed"] = _timed(summary, "suppressions", "apply suppressions (forgotten people)",
                                   lambda: steps.suppressions(home), needs=("ingest",))
    summary["resolve"] = _timed(summary, "resolve", "identity resolution",
                                lambda: steps.resolve(home, "full" if full_resolve else "incremental", None, **on_dask),
                                needs=("ingest", "suppressions"))
    if truth:
        summary["evaluation"] = _timed(summary, "evaluate", "evaluation against truth",
                                       lambda: steps.evaluate(home, truth), needs=("resolve",))
    summary["profiles"] = _timed(summary, "profiles", "golden profiles and traits", lambda: steps.profiles(home, **on_dask),
                                 needs=("resolve",))
    summary["segments"] = _timed(summary, "segments", "segments", lambda: steps.segments(home, None),
                                 needs=("profiles",))
    _timed(summary, "consent", "consent", lambda: steps.consent(home), needs=("resolve",))
    syncs = []
    for target in steps.targets():
        # Each target on its own: one broken target stops neither the others nor the publish.
        result = _timed(summary, f"sync-{target}", f"CRM sync {target}", lambda t=target: steps.sync(home, t),
                        needs=("profiles", "consent"))
        if result is not None:
            syncs.append(result)
            if result.get("failed"):
                _failed(summary, f"sync-{target}-rows", f"sync {target}: {result['failed']} row(s) failed "
                        "(retried next run)")
    summary["syncs"] = syncs
    per_target = [k for k in summary["timings"] if k.startswith("sync-")]
    summary["timings"]["syncs"] = round(sum(summary["timings"].pop(k) for k in per_target), 2)
    summary["published"] = _timed(summary, "publish", "catalog, snapshot and report", lambda: steps.publish(home))


def absolute_paths(parameters: dict) -> dict:
    """The run's parameters with every path absolute (the home defaulted): a Dask worker runs in
    another folder, or on another machine, where a relative path names nothing."""
    out = dict(parameters, home=str(Path(parameters.get("home") or default_home()).resolve()))
    for key in ("source_dir", "truth"):
        if out.get(key):
            out[key] = str(Path(out[key]).resolve())
    return out


def run_pipeline(executor: str | None = None, say: Callable[[str], None] = _say, **parameters: Any) -> dict:
    """`cdp_pipeline(**parameters)` on the executor named (else `executor` of config/pipeline.yaml):
    in this process, or with its partitioned stages on a Dask cluster (see pipelines.flows._dask).
    The summary says which executor ran, and the Dask dashboard's address."""
    from config.pipeline import check_executor

    settings = load_pipeline_settings()
    executor = check_executor(executor or settings.executor)
    if executor == "local":
        return cdp_pipeline(**parameters)
    from pipelines.flows._dask import dask_cluster

    parameters = absolute_paths(parameters)
    home = parameters["home"]
    Path(home).mkdir(parents=True, exist_ok=True)  # the workers are checked for access to it
    with dask_cluster(settings.dask, say, home=home) as cluster:
        parts = cluster.workers * settings.dask.parts_per_worker
        info = {"scheduler": cluster.address, "dashboard": cluster.dashboard, "workers": cluster.workers,
                "parts": parts, "prefect_api": cluster.api_url}
        try:
            summary = cdp_pipeline.with_options(task_runner=cluster.task_runner())(
                executor="dask", parts=parts, **parameters)
        except PipelineFailed as exc:
            exc.summary["dask"] = info
            raise
    summary["dask"] = info
    return summary


if __name__ == "__main__":
    import sys

    print(cdp_pipeline(sys.argv[1] if len(sys.argv) > 1 else None))
