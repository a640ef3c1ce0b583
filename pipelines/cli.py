"""The `cdp` command line (typer + rich).

Each command lives in its own module under `pipelines/commands/` and exposes `register(app)`,
which declares its commands with `pipelines.commands._common.command` (the shared options
`--home`, `--json`, `--flow`, `--lock-wait` come with it). Modules are found automatically, so
adding a command never touches this file. A module still written for argparse
(`register(subparsers)`) is wrapped as it is.

Exit codes: 0 ok, 1 the work failed (a step, refused input, failed sync rows), 2 a usage or
configuration mistake, 3 another run holds the home folder.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import typer

try:  # typer carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - an older typer on the real click
    from click import exceptions as click_exceptions

import pipelines.commands as commands_pkg
from config import ConfigError, default_home
from pipelines.commands import _ui
from warehouse.lock import HomeLockedError

HELP = ("Customer data platform pipeline: ingest, resolve identities, build profiles, segment, "
        "export and sync. Every command takes --home, --json, --flow and --lock-wait.")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cdp-pipeline")
    except Exception:  # running from a checkout that was never installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cdp {_version()}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(name="cdp", help=HELP, no_args_is_help=True, add_completion=False,
                      rich_markup_mode=None, pretty_exceptions_enable=False, suggest_commands=True,
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                           help="print the version and exit")) -> None:
        """Customer data platform pipeline."""

    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands_pkg.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is None:
            continue
        if _is_argparse_style(register):
            _register_argparse_module(app, module)
        else:
            register(app)
    return app


def build_command():
    return typer.main.get_command(build_app())


def command_names() -> set[str]:
    return set(build_command().commands)  # type: ignore[attr-defined]


# -- argparse-style command modules (kept working while they are converted) ----------------------

def _is_argparse_style(register) -> bool:
    params = list(inspect.signature(register).parameters)
    return bool(params) and params[0] == "subparsers"


class _ArgparseShim:
    """Stands in for `argparse` subparsers: records each parser a legacy module adds."""

    def __init__(self) -> None:
        self.parsers: dict[str, argparse.ArgumentParser] = {}

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        kwargs.pop("help", None)
        parser = argparse.ArgumentParser(prog=f"cdp {name}", **kwargs)
        self.parsers[name] = parser
        return parser


def _register_argparse_module(app: typer.Typer, module) -> None:
    shim = _ArgparseShim()
    module.register(shim)
    for name, parser in shim.parsers.items():
        def run(ctx: typer.Context, _parser: argparse.ArgumentParser = parser) -> int:
            try:
                args = _parser.parse_args(ctx.args)
            except SystemExit as exc:
                return int(exc.code or 0)
            args.command = _parser.prog.split(" ", 1)[1]
            return int(args.func(args) or 0)

        app.command(name, help=parser.description, short_help=(parser.description or "").split(".")[0],
                    add_help_option=False,
                    context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(run)


# -- entry point ------------------------------------------------------------------------------

def _home_from_argv(argv: list[str]) -> Path:
    home = None
    for i, arg in enumerate(argv):
        if arg == "--home" and i + 1 < len(argv):
            home = argv[i + 1]
        elif arg.startswith("--home="):
            home = arg.split("=", 1)[1]
    return Path(home) if home else default_home()


def _isolate_prefect_state(argv: list[str]) -> None:
    """Point Prefect at the user's server, the running `cdp server`, or a per-home state folder.

    Must run before Prefect is imported (see pipelines.commands._prefect.prepare_environment).
    """
    from pipelines.commands._prefect import prepare_environment

    prepare_environment(_home_from_argv(argv))


def _command_of(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _command_of(argv)
    try:
        _isolate_prefect_state(argv)
    except OSError as exc:
        from warehouse.layout import not_writable_reason

        reason = not_writable_reason(exc)
        if reason is None:
            raise
        # A read-only (or full) home: one line, not Prefect's traceback.
        _ui.error(f"error: home {_home_from_argv(argv)} cannot be written ({reason}): free some space or fix "
                  "its permissions, or give another --home", name)
        return 2
    try:
        result = build_command().main(args=argv, prog_name="cdp", standalone_mode=False)
    except click_exceptions.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            _ui.console().print(exc.ctx.get_help(), markup=False, highlight=False)
            return 2
        _ui.error(exc.format_message() if hasattr(exc, "format_message") else str(exc))
        if exc.ctx is not None:
            _ui.note(f"see `{exc.ctx.command_path} --help`")
        return 2
    except (typer.Abort, KeyboardInterrupt):
        _ui.error("interrupted", name or None)
        return 130
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except HomeLockedError as exc:
        # Another run holds the warehouse: say who, and exit with a code schedulers can tell apart.
        _ui.error(str(exc), name)
        return 3
    except ConfigError as exc:
        _ui.error(str(exc), name)
        return 2
    except RuntimeError as exc:
        if type(exc).__name__ != "PipelineStepError":
            raise
        _ui.error(str(exc), name)
        return 1
    except (FileNotFoundError, ValueError) as exc:
        # User-caused problems get one clear line, not a traceback.
        _ui.error(f"error: {exc}", name)
        return 2
    return int(result or 0)


def build_parser():  # pragma: no cover - the argparse CLI is gone; kept for callers that probe it
    raise NotImplementedError("cdp is a typer app now: use pipelines.cli.build_command()")


if __name__ == "__main__":
    sys.exit(main())
