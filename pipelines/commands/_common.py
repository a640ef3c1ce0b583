"""What every `cdp` command shares: the options `--home`, `--json`, `--flow`, `--lock-wait`, the
run lock, the choice between the plain function and its Prefect flow, and republishing.

A command module defines `register(app)` and declares its commands with `@command(app, ...)`:
the decorator adds the shared options to the command's own and hands them over as one `Common`.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from config import default_home
from pipelines.commands import _ui

HOME_HELP = "folder holding the warehouse and its state (default: $CDP_HOME, else ./cdp_home)"


@dataclass
class Common:
    """The shared options of one command invocation."""

    command: str
    home: Path
    json: bool = False
    flow: bool = False
    lock_wait: float | None = None
    home_given: bool = True  # False: the default home ($CDP_HOME, else ./cdp_home)

    @property
    def lock_wait_seconds(self) -> float:
        if self.lock_wait is not None:
            return self.lock_wait
        from config.pipeline import load_pipeline_settings

        return load_pipeline_settings().lock.wait_seconds


_SHARED = [
    inspect.Parameter("home", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=Annotated[Optional[Path], typer.Option("--home", help=HOME_HELP,
                                                                        show_default=False)]),
    inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False,
                      annotation=Annotated[bool, typer.Option("--json", help="print the result as JSON")]),
    inspect.Parameter("flow", inspect.Parameter.KEYWORD_ONLY, default=False,
                      annotation=Annotated[bool, typer.Option(
                          "--flow", help="run as a Prefect flow (the default when a Prefect server is "
                          "configured or `cdp server start` runs one)")]),
    inspect.Parameter("lock_wait", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=Annotated[Optional[float], typer.Option(
                          "--lock-wait", metavar="SECONDS", show_default=False,
                          help="seconds to wait for another cdp run holding the home (default: "
                          "lock.wait_seconds of config/pipeline.yaml)")]),
    # Older spellings of "call the plain function", kept so scripts keep working.
    inspect.Parameter("no_flow", inspect.Parameter.KEYWORD_ONLY, default=False,
                      annotation=Annotated[bool, typer.Option("--no-flow", "--no-prefect", hidden=True)]),
]
_SHARED_NAMES = {p.name for p in _SHARED}


def command(app: typer.Typer, name: str, help: str, description: str | None = None, group: str | None = None,
            **options: Any):
    """Register `fn(opts: Common, **own_options) -> int` as `cdp [GROUP] NAME` with the shared options."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != "opts"]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> int:
            home = kwargs.pop("home")
            opts = Common(command=f"{group} {name}" if group else name, home=Path(home) if home else default_home(),
                          json=kwargs.pop("json_output"), flow=kwargs.pop("flow") and not kwargs.pop("no_flow"),
                          lock_wait=kwargs.pop("lock_wait"), home_given=home is not None)
            kwargs.pop("no_flow", None)
            return int(fn(opts, **kwargs) or 0)

        hints = dict(getattr(fn, "__annotations__", {}))
        hints.pop("opts", None)
        hints.pop("return", None)
        hints.update({p.name: p.annotation for p in _SHARED})
        wrapper.__annotations__ = hints
        wrapper.__signature__ = inspect.Signature(own + _SHARED)
        app.command(name, help=description or help, short_help=help, **options)(wrapper)
        return fn

    return decorate


# -- running the step: the plain function, or its Prefect flow --------------------------------

def flow_target(opts: Common):
    """The Prefect server to run on, or None for the plain function (see `_prefect`)."""
    from pipelines.commands import _prefect

    configured = _prefect.configured_server()
    if opts.flow:
        return configured or _prefect.PrefectTarget(None, "temporary")
    if configured is None:
        return None
    problem = _prefect.health_problem(configured.url, timeout=1.5)
    if problem:
        _ui.warn(f"{problem} ({configured.origin}); running directly, without Prefect", opts.command)
        return None
    return configured


def run_step(opts: Common, plain: Callable[[], Any], flow: Callable[[], Any], flow_name: str) -> Any:
    """Call `plain()`, or `flow()` when Prefect is wanted, saying which and why."""
    target = flow_target(opts)
    if target is None:
        return plain()
    if target.url is None:
        _ui.note(f"starting Prefect (a temporary local server, about 10 s; `cdp server start` keeps one "
                 f"running) to run flow {flow_name} …", opts.command)
        from pipelines.flows._server_guard import start_guard

        start_guard()  # the temporary server dies with this process, even on kill -9
    else:
        _ui.note(f"running as Prefect flow {flow_name} on {target.url} ({target.origin}) …", opts.command)
    from pipelines.flows._runtime import flow_tags

    from prefect import tags

    with tags(*flow_tags(opts.home, opts.command)):
        return flow()


@contextlib.contextmanager
def writing(opts: Common, publish: bool = True) -> Iterator[None]:
    """Hold the home's run lock for a command that writes, then republish the snapshot for readers."""
    from pipelines.run_log import record_run, utcnow
    from warehouse.lock import home_lock

    with home_lock(opts.home, wait_seconds=opts.lock_wait_seconds, command=f"cdp {opts.command}"):
        started = utcnow()
        try:
            yield
        except BaseException as exc:
            record_run(opts.home, f"cdp {opts.command}", started, "failed", f"{type(exc).__name__}: {exc}",
                       flow=opts.flow)
            raise
        record_run(opts.home, f"cdp {opts.command}", started, "completed", flow=opts.flow)
        if publish:
            republish(opts)


def republish(opts: Common) -> None:
    """Readers of `snapshots/latest.duckdb` see what this command just wrote."""
    from pipelines.publish import publish

    if not (opts.home / "warehouse.duckdb").exists():
        return
    try:
        result = publish(opts.home)
    except Exception as exc:  # the write itself succeeded: a failed publish is a warning, not a failure
        _ui.warn(f"the snapshot was not republished ({type(exc).__name__}: {exc}); run `cdp publish "
                 f"--home {opts.home}`", opts.command)
        return
    _ui.note(f"snapshot republished: {result.snapshot}", opts.command)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")


def read_only_note(opts: Common, why: str = "reads only") -> None:
    """`--flow` on a command with nothing to orchestrate: say so, run directly."""
    if opts.flow:
        _ui.note(f"{why}, so it runs directly (--flow has no effect here)", opts.command)


def resolve_home(args) -> Path:
    """The home of an argparse-style namespace (kept for code written against the old CLI)."""
    return Path(args.home) if getattr(args, "home", None) else default_home()
