"""`cdp serve`: register the whole-pipeline flow on a Prefect server with a cron schedule, and run it.

`flow.serve` keeps a long-lived runner process that polls the server and starts a flow run at each
scheduled time; it needs a real Prefect server (`prefect server start`), not the temporary one a
single `cdp` command spins up, so we check for one first and say how to start it.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command

SERVER_HINT = (
    "start one with `cdp server start` (or `prefect server start` as a service) and point cdp at it: "
    "export PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def register(app: typer.Typer) -> None:
    @command(app, "serve", help="schedule the whole pipeline on a running Prefect server (cron from config/pipeline.yaml)",
             description="Register the `cdp-pipeline` flow as a Prefect deployment with a cron schedule and keep "
             "serving it: each scheduled run ingests, resolves, builds profiles and segments, then publishes a "
             "snapshot and the report. Needs a Prefect server: `cdp server start`, or PREFECT_API_URL pointing "
             "at one. Stop with Ctrl-C.")
    def serve_cmd(
        opts,
        cron: Annotated[Optional[str], typer.Option(help='cron expression, e.g. "0 2 * * *" (default: schedule.cron)')] = None,
        timezone: Annotated[Optional[str], typer.Option(help="IANA time zone of the cron (default: schedule.timezone)")] = None,
        name: Annotated[Optional[str], typer.Option(help="deployment name (default: schedule.deployment_name)")] = None,
        source_dir: Annotated[Optional[Path], typer.Option(
            "--from", metavar="SRC", help="source folder each run ingests (default: schedule.source_dir, else "
            "config/sources.yaml)")] = None,
        status: Annotated[bool, typer.Option(
            "--status", help="do not serve: list the cdp-pipeline deployments on the server, their schedules and "
            "next scheduled runs, then exit")] = False,
    ):
        import argparse

        args = argparse.Namespace(cron=cron, timezone=timezone, name=name, source_dir=source_dir,
                                  home=opts.home if opts.home_given else None, status=status, json=opts.json)
        return run(args)


def deployment_status(url: str) -> list[str]:
    """Lines describing the cdp-pipeline deployments and their next runs (read from the REST API).

    Uses the API directly: `prefect deployment ls` of this Prefect release sends a request the
    server rejects (422), so it cannot be relied on to check a deployment.
    """
    import httpx

    api = url.rstrip("/")
    body = {"limit": 50, "sort": "NAME_ASC", "flows": {"name": {"any_": ["cdp-pipeline"]}}}
    deployments = httpx.post(f"{api}/deployments/filter", json=body, timeout=10).json()
    lines = []
    for dep in deployments:
        schedules = ", ".join(f"cron {s['schedule'].get('cron')!r} ({s['schedule'].get('timezone')})"
                              f"{'' if s.get('active', True) else ' inactive'}" for s in dep.get("schedules", []))
        lines.append(f"cdp-pipeline/{dep['name']}: {schedules or 'no schedule'}; tags {dep.get('tags')}; "
                     f"paused {dep.get('paused')}; parameters {dep.get('parameters')}")
        runs = httpx.post(f"{api}/flow_runs/filter", timeout=10, json={
            "limit": 3, "sort": "EXPECTED_START_TIME_ASC",
            "deployments": {"id": {"any_": [dep["id"]]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
        for flow_run in runs:
            lines.append(f"  next run {flow_run['name']}: {flow_run['expected_start_time']}")
        if dep.get("paused"):
            lines.append("  paused (no `cdp serve` running): nothing starts until it is served again")
        elif not runs:
            lines.append("  no scheduled runs yet (the server's scheduler creates them within a minute)")
    return lines or ["no cdp-pipeline deployment on this server: run `cdp serve`"]


def prefect_api_url() -> str | None:
    """The API URL Prefect will use (environment or active profile), or None for none."""
    from pipelines.commands._prefect import configured_server

    target = configured_server()
    return target.url if target else None


def check_server(url: str) -> str | None:
    """None when the Prefect server answers its health check, else why not."""
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=5)
    except httpx.HTTPError as exc:
        return f"cannot reach the Prefect server at {url} ({type(exc).__name__})"
    if response.status_code != 200:
        return f"the Prefect server at {url} answered {response.status_code} to its health check"
    return None


def schedule_settings(args):
    """The schedule from config/pipeline.yaml with the command-line overrides applied and checked."""
    from config.pipeline import PipelineSettings, load_pipeline_settings

    settings = load_pipeline_settings()
    schedule = settings.schedule.model_dump()
    for key, value in (("cron", args.cron), ("timezone", args.timezone),
                       ("deployment_name", args.name), ("source_dir", args.source_dir),
                       ("home", args.home)):
        if value is not None:
            schedule[key] = value
    # Re-validate so a bad --cron gets the same clear message as a bad config file.
    return PipelineSettings.model_validate({**settings.model_dump(), "schedule": schedule})


def run(args) -> int:
    from pydantic import ValidationError

    try:
        settings = schedule_settings(args)
    except ValidationError as exc:
        for err in exc.errors():
            _ui.error(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", "serve")
        return 2
    schedule = settings.schedule
    from config import default_home

    home = Path(schedule.home) if schedule.home else default_home()
    home.mkdir(parents=True, exist_ok=True)  # Prefect keeps its local state under it

    url = prefect_api_url()
    if not url:
        _ui.error(f"no Prefect server configured (PREFECT_API_URL is not set, no `cdp server` runs); {SERVER_HINT}",
                  "serve")
        return 2
    problem = check_server(url)
    if problem:
        _ui.error(f"{problem}; {SERVER_HINT}", "serve")
        return 2
    if args.status:
        lines = deployment_status(url)
        if getattr(args, "json", False):
            from pipelines.commands._common import emit_json

            emit_json({"server": url, "deployments": lines})
        else:
            _ui.console().print("\n".join(lines), markup=False, highlight=False)
        return 0

    try:
        from pipelines.flows.run import cdp_pipeline
    except ImportError as exc:
        _ui.error(f"the whole-pipeline flow pipelines.flows.run.cdp_pipeline is missing ({exc})", "serve")
        return 2
    from prefect.schedules import Cron

    parameters = {"home": str(home.resolve()),
                  "source_dir": str(Path(schedule.source_dir).resolve()) if schedule.source_dir else None}
    _ui.console().print(f"serving deployment cdp-pipeline/{schedule.deployment_name}: cron {schedule.cron!r} "
          f"({schedule.timezone}), home {parameters['home']}, server {url}; Ctrl-C to stop", markup=False)
    cdp_pipeline.serve(
        name=schedule.deployment_name,
        schedule=Cron(schedule.cron, timezone=schedule.timezone),
        tags=list(schedule.tags),
        parameters=parameters,
        description="The whole CDP pipeline: ingest, resolve, profiles, segments, snapshot, report.",
        global_limit=1,  # never two scheduled runs at once (the home lock would make one wait anyway)
        print_starting_message=False,
    )
    return 0
