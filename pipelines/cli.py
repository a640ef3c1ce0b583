"""The `cdp` command line.

Each sub-command lives in its own module under `pipelines/commands/` and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`. Modules are found
automatically, so adding a command never touches this file.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

import pipelines.commands as commands_pkg
from config import ConfigError, default_home
from warehouse.lock import HomeLockedError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdp",
        description="Customer data platform pipeline: ingest, resolve identities, build profiles, "
        "segment, export and sync.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands_pkg.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def _profile_api_url() -> str | None:
    """PREFECT_API_URL saved in the user's active Prefect profile (`prefect config set ...`), if any."""
    import tomllib

    path = Path(os.environ.get("PREFECT_PROFILES_PATH", Path.home() / ".prefect" / "profiles.toml"))
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return (profiles.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL")


# Defaults that hold wherever `cdp` is run from (pyproject's [tool.prefect] only applies in the repo):
# a temporary server may need a while on a busy 2-core machine; no network means no telemetry.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def _isolate_prefect_state(argv: list[str]) -> None:
    """Give each home folder its own Prefect state unless the user points at a server.

    Without `PREFECT_API_URL` every flow starts a temporary local server whose SQLite database
    lives under `PREFECT_HOME`; two runs on different homes sharing one database lock each other.
    Must run before Prefect is imported.
    """
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_HOME") or _profile_api_url():
        return
    home = None
    for i, arg in enumerate(argv):
        if arg == "--home" and i + 1 < len(argv):
            home = argv[i + 1]
        elif arg.startswith("--home="):
            home = arg.split("=", 1)[1]
    root = Path(home) if home else default_home()
    prefect_home = (root / ".prefect").resolve()
    prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level itself
    os.environ["PREFECT_HOME"] = str(prefect_home)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _isolate_prefect_state(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HomeLockedError as exc:
        # Another run holds the warehouse: say who, and exit with a code schedulers can tell apart.
        print(f"cdp {args.command}: {exc}", file=sys.stderr)
        return 3
    except RuntimeError as exc:
        if type(exc).__name__ != "PipelineStepError":
            raise
        print(f"cdp {args.command}: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"cdp {args.command}: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        # User-caused problems get one clear line, not a traceback.
        print(f"cdp {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
