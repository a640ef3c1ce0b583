"""`cdp server start|stop|status`: one persistent local Prefect server that every cdp command reuses.

Without it, a command run as a flow (`cdp run`, `cdp demo`, `--flow`) starts Prefect's temporary
server each time (about 10 s). `cdp server start` runs `prefect server start` in the background
(state in ~/.cdp/server, or $CDP_SERVER_DIR: pid file, log, Prefect database); while it runs, cdp
points every flow at it, step commands run as flows you can watch in its UI, and `cdp serve` can
schedule the pipeline on it.
"""
from typing import Annotated

import typer

from pipelines.commands import _prefect, _ui
from pipelines.commands._common import command, emit_json, read_only_note


def _state_dict(state) -> dict:
    return {"running": state is not None, **(state.__dict__ if state else {}),
            "ui": state.url.removesuffix("/api") if state else None, "state_dir": str(_prefect.server_dir())}


def register(app: typer.Typer) -> None:
    server_app = typer.Typer(help="a persistent local Prefect server that cdp commands reuse", no_args_is_help=True)
    app.add_typer(server_app, name="server", help="start, stop or check the persistent local Prefect server")

    @command(server_app, "start", group="server", help="start the Prefect server in the background (reused by later commands)")
    def start(
        opts,
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port")] = _prefect.DEFAULT_PORT,
    ):
        read_only_note(opts, "starts a server")
        running = _prefect.read_server_state()
        if running:
            if opts.json:
                emit_json(_state_dict(running))
            else:
                _ui.console().print(f"a cdp Prefect server already runs: {running.url} (pid {running.pid})", markup=False)
            return 0
        with _ui.progress("starting the Prefect server") as shown:
            state = _prefect.start_server(host, port, on_wait=lambda s: shown.update(
                task="start", description="starting the Prefect server", detail=f"{s:.0f} s"))
        if opts.json:
            emit_json(_state_dict(state))
            return 0
        out = _ui.console()
        out.print(f"Prefect server running at {state.url} (pid {state.pid}; log {state.log})", markup=False)
        out.print(f"UI: {state.url.removesuffix('/api')}   every cdp command now runs its flows there; "
                  "`cdp server stop` to stop it", markup=False)
        return 0

    @command(server_app, "stop", group="server", help="stop the persistent Prefect server")
    def stop(opts):
        state = _prefect.stop_server()
        if opts.json:
            emit_json({"stopped": state is not None, "pid": state.pid if state else None})
        elif state:
            _ui.console().print(f"stopped the Prefect server at {state.url} (pid {state.pid})", markup=False)
        else:
            _ui.console().print("no cdp Prefect server was running", markup=False)
        return 0

    @command(server_app, "status", group="server", help="is the persistent Prefect server running, and where")
    def status(opts):
        state = _prefect.read_server_state()
        problem = _prefect.health_problem(state.url, timeout=2) if state else None
        if opts.json:
            emit_json({**_state_dict(state), "healthy": bool(state) and problem is None, "problem": problem})
            return 0 if state else 1
        out = _ui.console()
        if not state:
            configured = _prefect.configured_server()
            out.print("no cdp Prefect server running" + (
                f"; flows use {configured.url} ({configured.origin})" if configured else
                "; flows start a temporary server (`cdp server start` keeps one)"), markup=False)
            return 1
        out.print(f"Prefect server {state.url} (pid {state.pid}, started {state.started_at}): "
                  + ("healthy" if problem is None else problem), markup=False)
        return 0 if problem is None else 1
