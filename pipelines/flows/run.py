"""PLACEHOLDER whole-pipeline flow `cdp-pipeline` (the integrator replaces this file).

Written by the ops helper so `cdp serve` has a flow to schedule before the real one lands. It runs
whichever steps exist, under the home run lock, then documents, snapshots and reports the warehouse.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from prefect import flow, task

from config import default_home
from config.pipeline import load_pipeline_settings

SETTINGS = load_pipeline_settings()


def _step(module: str, name: str):
    """A plain step function if its module has landed, else None (the flow skips it)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


@task(retries=SETTINGS.retries, retry_delay_seconds=SETTINGS.retry_delay_seconds)
def ingest_task(home: str, source_dir: str | None):
    ingest_all = _step("connectors", "ingest_all")
    return None if ingest_all is None else len(ingest_all(home, source_dir=source_dir))


@task
def resolve_task(home: str):
    resolve = _step("identity", "resolve")
    return None if resolve is None else bool(resolve(home, mode="incremental"))


@task
def profiles_task(home: str):
    build = _step("profiles._steps", "build_profiles")
    materialize = _step("profiles._steps", "materialize_segments")
    if build:
        build(home)
    if materialize:
        materialize(home)


@task
def publish_task(home: str) -> str:
    from pipelines.report import build_report
    from warehouse.catalog import apply_comments
    from warehouse.connection import connect_home
    from warehouse.snapshot import publish_snapshot

    con = connect_home(home)
    try:
        apply_comments(con)
        publish_snapshot(con, keep=SETTINGS.snapshots.keep, home=home)
    finally:
        con.close()
    return str(build_report(home).path)


@flow(name="cdp-pipeline")
def cdp_pipeline(source_dir: str | None = None, home: str | None = None) -> str:
    """Ingest, resolve, profiles and segments, then catalog comments, snapshot and report."""
    from warehouse.lock import home_lock

    home = str(Path(home) if home else default_home())
    with home_lock(home, wait_seconds=SETTINGS.lock.wait_seconds, command="cdp-pipeline flow"):
        ingested = ingest_task(home, source_dir)
        resolved = resolve_task(home, wait_for=[ingested])
        profiled = profiles_task(home, wait_for=[resolved])
        return publish_task(home, wait_for=[profiled])
