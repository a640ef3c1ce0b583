"""`executor: dask` gives the embedded run's results: the same generated source through the embedded
flow and through a 2-worker LocalCluster run (ingest files and golden-profile partitions as Prefect
tasks on Dask), with a worker process killed in the middle of a part, leaves the same record ->
customer map, golden rows, traits, segment memberships, load counts and quarantine."""
from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.connection import connect_home

# Run times differ between two runs by construction (updated_at, entered_at, run ids); nothing else may.
RESULTS = {
    "record_map": "SELECT source, record_id, customer_id FROM identity.record_map ORDER BY ALL",
    "golden": "SELECT * EXCLUDE (updated_at) FROM profiles.golden ORDER BY customer_id",
    "traits": "SELECT * FROM profiles.traits ORDER BY customer_id",
    "segments": "SELECT segment, customer_id FROM segments.membership WHERE exited_at IS NULL ORDER BY ALL",
    "raw": "SELECT source, stream, rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM ops.loads "
           "ORDER BY ALL",
    "quarantine": "SELECT * EXCLUDE (load_id, quarantined_at) FROM raw.quarantine ORDER BY ALL",
}


def _results(home: Path) -> dict[str, list]:
    con = connect_home(home, read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in RESULTS.items()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    from pipelines.sample_data import generate

    out = tmp_path_factory.mktemp("dask") / "src"
    generate(out, customers=200, seed=12, days=8)
    return out


@pytest.fixture(scope="module")
def embedded(prefect_harness, source, tmp_path_factory) -> dict:
    from pipelines.flows.run import cdp_pipeline

    home = tmp_path_factory.mktemp("embedded") / "home"
    summary = cdp_pipeline(source_dir=str(source), home=str(home))
    assert summary["executor"] == "local"
    results = _results(home)
    assert len(results["record_map"]) > 500 and results["golden"] and results["segments"]
    assert results["quarantine"]  # the generated source carries broken records
    return results


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("CDP_PIPELINE__DASK__LOCAL_WORKERS", "2")
    monkeypatch.setenv("CDP_PIPELINE__DASK__WORKER_MEMORY", "1GiB")
    monkeypatch.setenv("CDP_PIPELINE__DASK__PARTS_PER_WORKER", "1")  # fewer task runs: a faster test


def _part_runs_since(started) -> list:
    """The `cdp-part` task runs the Prefect server recorded since `started`."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName, TaskRunFilterStartTime
    from prefect.client.schemas.sorting import TaskRunSort

    async def read() -> list:
        async with get_client() as client:
            return await client.read_task_runs(
                task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="cdp-part"),
                                              start_time=TaskRunFilterStartTime(after_=started)),
                sort=TaskRunSort.EXPECTED_START_TIME_DESC, limit=200)

    return asyncio.run(read())


def test_dask_run_equals_embedded_run_even_when_a_worker_is_killed(embedded, source, tmp_path, two_workers,
                                                                   monkeypatch):
    """One 2-worker run (one run keeps the suite fast): the first part's worker process is SIGKILLed
    mid-part; Dask reschedules the part on a live worker (the nanny restarts the dead one) and the
    run ends with the embedded run's results."""
    import datetime as dt
    import os

    from pipelines.flows import _dask
    from pipelines.flows.run import run_pipeline

    marker = tmp_path / "killed"
    monkeypatch.setattr(_dask, "PART_WRAPPER", lambda fn: _dask.KillWorkerOnce(fn, str(marker)))
    said: list[str] = []
    started = dt.datetime.now(dt.timezone.utc)
    summary = run_pipeline("dask", said.append, source_dir=str(source), home=str(tmp_path / "home"))
    assert summary["executor"] == "dask" and summary["dask"]["workers"] == 2
    assert not summary.get("failures")
    assert any("dashboard http" in line for line in said)  # the dashboard's address is said
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker process died mid-part
    # Parts ran as Prefect tasks reporting to the one server this test's flows use (none per worker).
    runs = _part_runs_since(started)
    assert len(runs) >= 6 and all(r.state.is_completed() for r in runs)
    assert _results(tmp_path / "home") == embedded


def test_an_unknown_executor_is_refused_before_anything_runs(tmp_path):
    import subprocess
    import sys

    home = tmp_path / "home"
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--home", str(home), "--executor", "ray"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown executor 'ray'; choose from local, dask" in done.stderr
    assert not (home / "warehouse.duckdb").exists()


def test_a_scheduler_address_and_local_workers_together_are_refused(tmp_path, monkeypatch):
    from config.loader import ConfigError
    from pipelines.flows.run import run_pipeline

    monkeypatch.setenv("CDP_PIPELINE__DASK__ADDRESS", "tcp://127.0.0.1:8786")
    monkeypatch.setenv("CDP_PIPELINE__DASK__LOCAL_WORKERS", "2")
    with pytest.raises(ConfigError, match="not both"):
        run_pipeline("dask", home=str(tmp_path / "home"))


def test_an_existing_scheduler_needs_a_prefect_server_its_workers_already_know(tmp_path, monkeypatch):
    """Workers started before the run cannot learn a temporary server's URL: refused, saying what to start."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.flows.run import run_pipeline

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CDP_PIPELINE__DASK__ADDRESS", "tcp://127.0.0.1:1")  # never reached
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(ValueError, match="cdp server start") as refused:
            run_pipeline("dask", home=str(tmp_path / "home"))
    assert "PREFECT_API_URL" in str(refused.value)
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_workers_of_an_existing_scheduler_are_checked_before_anything_runs(tmp_path):
    """A worker without the run's Prefect URL, or without the home folder, is named with what to fix."""
    from distributed import Client, LocalCluster

    from pipelines.flows._dask import check_workers

    home = tmp_path / "home"
    home.mkdir()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                      env={"PREFECT_API_URL": "http://127.0.0.1:4200/api"}) as cluster, Client(cluster) as client:
        check_workers(client, "http://127.0.0.1:4200/api", str(home))  # all well: no error
        with pytest.raises(ValueError) as refused:
            check_workers(client, "http://127.0.0.1:4201/api", str(tmp_path / "elsewhere"))
    message = str(refused.value)
    assert "PREFECT_API_URL is http://127.0.0.1:4200/api; start it with PREFECT_API_URL=http://127.0.0.1:4201/api" in message
    assert f"cannot write the home folder {tmp_path / 'elsewhere'}" in message


def test_a_dask_run_hands_its_workers_absolute_paths(tmp_path, monkeypatch):
    """A worker of an existing scheduler runs in its own folder: `--from data/x` must reach it absolute
    (found by running `cdp run --from data/samples/small --executor dask` against a `dask worker`)."""
    from pipelines.flows.run import absolute_paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDP_HOME", raising=False)
    got = absolute_paths({"source_dir": "data/src", "truth": "data/src/truth.parquet", "full_resolve": True})
    assert got == {"source_dir": str(tmp_path / "data/src"), "truth": str(tmp_path / "data/src/truth.parquet"),
                   "home": str(tmp_path / "cdp_home"), "full_resolve": True}
