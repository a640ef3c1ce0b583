"""The `dask` executor: a Dask cluster for the flow's task runner, and the mapper stages receive.

Stages take a neutral `map_parts(fn, items)` (see `warehouse.partitions`). Here it is
`prefect_map`: every part becomes a run of the Prefect task `cdp-part` on the flow's
`DaskTaskRunner` (prefect-dask), so each part shows in the Prefect UI, an exception in a part is
retried by Prefect (`retries`), and a part whose worker process dies is rescheduled by the Dask
scheduler on a live worker (the nanny restarts the dead one). Parts are idempotent, so a part run
twice writes the same file twice.

One Prefect server for everything: the flow and every task on every worker report to the API
URL in force here (a configured server, the test harness's, or a temporary one this module
starts); the workers get it through their environment, so none starts a temporary server of its
own.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE

from config.pipeline import DaskSettings

# Settings the workers must share with this process (config files, home defaults, Prefect's API).
_INHERITED_ENV_PREFIXES = ("CDP_", "PREFECT_")


# No cache key (hashing a part's inputs buys nothing: parts are never reused) and no stored result
# (the part's output is its Parquet file; the return value is a path or a small summary).
@task(name="cdp-part", retries=2, retry_delay_seconds=1, tags=["cdp", "part"], cache_policy=NO_CACHE,
      persist_result=False)
def run_part(fn: Callable[[Any], Any], item: Any) -> Any:
    """One part of a stage, on a Dask worker."""
    return fn(item)


# Tests (and failure drills) wrap every part, e.g. with `KillWorkerOnce`; None in normal runs.
PART_WRAPPER: Callable[[Callable[[Any], Any]], Callable[[Any], Any]] | None = None


def prefect_map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """`[fn(item) for item in items]`, each call a `cdp-part` task run on the flow's task runner.
    Must be called inside a flow run (the stage tasks are called from `cdp-pipeline`)."""
    if not items:
        return []
    if PART_WRAPPER is not None:
        fn = PART_WRAPPER(fn)
    futures = run_part.map(unmapped(fn), list(items))
    return [future.result() for future in futures]


def part_mapper(executor: str | None):
    """The `map_parts` a stage gets for `executor` (None: the stage's own embedded default)."""
    return prefect_map if executor == "dask" else None


def on_executor(executor: str | None, parts: int | None) -> dict:
    """Keyword arguments for a partitioned stage: `map_parts` and `parts` on dask, none embedded
    (so an embedded run calls every stage exactly as before)."""
    mapper = part_mapper(executor)
    return {"map_parts": mapper, "parts": parts} if mapper is not None else {}


@dataclass
class KillWorkerOnce:
    """A part wrapper for failure tests: the first part to run (no `marker` file yet) writes the
    marker and SIGKILLs its own worker process mid-part; every later call runs `fn`."""

    fn: Callable[[Any], Any]
    marker: str

    def __call__(self, item: Any) -> Any:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self.fn(item)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class DaskCluster:
    """What a `dask` run uses: the scheduler, its dashboard, the Prefect API the workers report to."""

    address: str
    dashboard: str | None
    api_url: str
    workers: int
    local: bool

    def task_runner(self):
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=self.address)


def _worker_env(api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(_INHERITED_ENV_PREFIXES)}
    env["PREFECT_API_URL"] = api_url
    # Workers import the project's packages from the same place as this process.
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]))
    env["PYTHONPATH"] = env["PYTHONPATH"].strip(os.pathsep)
    return env


@contextlib.contextmanager
def prefect_api(say: Callable[[str], None] = lambda _: None) -> Iterator[str]:
    """The Prefect API URL in force (configured, or the test harness's); else a temporary local
    server started here, for this process and every worker, stopped at the end."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        yield url
        return
    from prefect.server.api.server import SubprocessASGIServer

    from pipelines.flows._server_guard import start_guard

    say("starting one temporary Prefect server for the flow and every Dask worker (about 10 s) …")
    start_guard()  # the server dies with this process, even on kill -9
    server = SubprocessASGIServer()
    server.start(timeout=180)
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        server.stop()


def worker_facts(home: str) -> dict:
    """What a worker process must have to run parts (run on each worker by `check_workers`)."""
    import importlib.util

    return {"prefect_api": os.environ.get("PREFECT_API_URL"),
            "project": all(importlib.util.find_spec(m) is not None for m in ("identity", "profiles", "connectors")),
            "home": os.path.isdir(home) and os.access(home, os.W_OK)}


def check_workers(client, api_url: str, home: str) -> None:
    """Refuse a scheduler whose workers could not run the parts well, naming each worker and what to
    fix: a worker reporting to another Prefect API (or starting a temporary server of its own), one
    that cannot import the project, one that cannot write the home folder at the same path."""
    problems = []
    for worker, facts in sorted(client.run(worker_facts, str(home)).items()):
        if facts["prefect_api"] != api_url:
            problems.append(f"{worker}: PREFECT_API_URL is {facts['prefect_api'] or 'not set'}; start it with "
                            f"PREFECT_API_URL={api_url}")
        if not facts["project"]:
            problems.append(f"{worker}: cannot import the project; install it there (pip install cdp-pipeline) "
                            "or put its folder on PYTHONPATH")
        if not facts["home"]:
            problems.append(f"{worker}: cannot write the home folder {home}; mount it at the same path")
    if problems:
        raise ValueError("the Dask workers at dask.address cannot run this pipeline's parts:\n  "
                         + "\n  ".join(problems))


@contextlib.contextmanager
def dask_cluster(settings: DaskSettings, say: Callable[[str], None] = lambda _: None,
                 home: str | Path | None = None) -> Iterator[DaskCluster]:
    """A cluster for one run: the configured scheduler, or a `LocalCluster` of worker processes
    (one thread each, `worker_memory` each) closed at the end. Says the dashboard's address.

    The workers of an existing scheduler were started before this run, so they cannot learn the URL
    of a temporary Prefect server: such a run needs a configured one (`cdp server start`,
    PREFECT_API_URL), and every worker is checked before anything runs (`check_workers`)."""
    from prefect.settings import PREFECT_API_URL

    if settings.address and not PREFECT_API_URL.value():
        raise ValueError(
            f"dask.address {settings.address}: its workers must report to a Prefect server they already know. "
            "Start one (`cdp server start --host 0.0.0.0`, or point PREFECT_API_URL at yours), start every "
            "`dask worker` with PREFECT_API_URL set to it, then run again")
    with prefect_api(say) as api_url:
        if settings.address:
            from distributed import Client

            with Client(settings.address, timeout="30s") as client:
                workers = len(client.scheduler_info().get("workers", {}))
                if workers == 0:
                    raise RuntimeError(f"the Dask scheduler at {settings.address} has no workers: start some "
                                       "(`dask worker ADDRESS`), with PREFECT_API_URL set to this run's server")
                if home is not None:
                    check_workers(client, api_url, str(home))
                cluster = DaskCluster(settings.address, client.dashboard_link, api_url, workers, local=False)
                say(f"Dask scheduler {cluster.address} ({workers} workers); dashboard {cluster.dashboard}")
                yield cluster
            return
        from distributed import LocalCluster

        with LocalCluster(n_workers=settings.workers, threads_per_worker=1, processes=True,
                          memory_limit=settings.worker_memory, dashboard_address=":0",
                          env=_worker_env(api_url)) as local:
            cluster = DaskCluster(local.scheduler_address, local.dashboard_link, api_url, settings.workers,
                                  local=True)
            say(f"Dask LocalCluster: {settings.workers} worker processes, {settings.worker_memory} each; "
                f"dashboard {cluster.dashboard}; Prefect API {api_url}")
            yield cluster
