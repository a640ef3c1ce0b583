"""`cdp run`: the whole pipeline as one Prefect flow, then a readable summary."""
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json

DESCRIPTION = (
    "Run every step as one Prefect flow (`cdp-pipeline`) under the home's run lock: ingest, suppressions, "
    "resolve, evaluation (when truth exists), profiles, segments, consent and CRM syncs, then publish "
    "(views, comments, snapshot, dbt sources) and the report. A second run on the same home waits for "
    "the first, then stops with a message if it waited longer than --lock-wait (default lock.wait_seconds).")


def execute(home: Path, source_dir: Path | None, truth: Path | None = None, full_resolve: bool = False,
            lock_wait: float | None = None, executor: str | None = None) -> dict:
    if source_dir is not None and not Path(source_dir).is_dir():
        raise FileNotFoundError(f"source folder {source_dir} does not exist")
    from config.pipeline import check_executor, load_pipeline_settings
    from pipelines.commands._common import flow_target

    from pipelines.commands._common import Common

    executor = check_executor(executor or load_pipeline_settings().executor)
    target = flow_target(Common(command="run", home=home, flow=True))
    if target.url is not None:
        _ui.note(f"running as Prefect flow cdp-pipeline on {target.url} ({target.origin}) …", "run")
    elif executor != "dask":  # the dask executor starts one server for the flow and every worker itself
        _ui.note("starting Prefect (a temporary local server, about 10 s; `cdp server start` keeps one running) …",
                 "run")
        from pipelines.flows._server_guard import start_guard

        start_guard()  # the temporary server dies with this process, even on kill -9
    from prefect import tags

    from pipelines.flows._runtime import flow_tags
    from pipelines.flows.run import run_pipeline

    kwargs = {"lock_wait": lock_wait} if lock_wait is not None else {}
    with tags(*flow_tags(home, "run")):
        return run_pipeline(executor, lambda message: _ui.note(message, "run"),
                            source_dir=str(source_dir) if source_dir else None, home=str(home),
                            truth=str(truth) if truth else None, full_resolve=full_resolve, **kwargs)


def show(summary: dict, as_json: bool) -> None:
    from pipelines.summary import print_summary, where_to_look

    if as_json:
        emit_json(summary)
        return
    _ui.console().print()
    print_summary(summary)
    _ui.console().print(where_to_look(summary), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    @command(app, "run", help="run the whole pipeline: ingest → resolve → profiles → segments → syncs → report",
             description=DESCRIPTION)
    def run_cmd(
        opts,
        source_dir: Annotated[Optional[Path], typer.Option(
            "--from", metavar="SRC", help="read sources from a folder laid out as `cdp generate` writes it "
            "(default: the locations in config/sources.yaml)")] = None,
        truth: Annotated[Optional[Path], typer.Option(
            help="truth Parquet to score resolution against (default: SRC/truth.parquet if present)")] = None,
        full_resolve: Annotated[bool, typer.Option("--full-resolve", help="re-resolve everything instead of incrementally")] = False,
        executor: Annotated[Optional[str], typer.Option(
            help="local (every step in this process) or dask (partitioned stages as Prefect tasks on a Dask "
            "cluster: dask.address, else dask.local_workers processes); default: executor in config/pipeline.yaml")] = None,
    ):
        from config.pipeline import check_executor
        from pipelines.flows.run import PipelineFailed

        if executor is not None:
            try:
                check_executor(executor)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--executor") from None
        _ui.note(f"home {opts.home}", "run")
        try:
            summary = execute(opts.home, source_dir, truth, full_resolve, opts.lock_wait, executor)
        except PipelineFailed as exc:
            # Every step that could run did (the snapshot and report too); the run failed all the same.
            show(exc.summary, opts.json)
            for failure in exc.summary.get("failures", []):
                _ui.error(failure["message"], "run")
            return 1
        show(summary, opts.json)
        return 0
