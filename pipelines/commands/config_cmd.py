"""`cdp config check`: validate every config file and list every problem with its file, key and hint."""
from __future__ import annotations

import argparse
import sys

from config.check import FileCheck, check_all, config_names


def check_catalog() -> FileCheck:
    """The warehouse catalog (table and column docs) is a config file of sorts: check it too."""
    from pydantic import ValidationError

    from warehouse.catalog import CATALOG_PATH, load_catalog

    result = FileCheck("catalog", CATALOG_PATH, "warehouse.catalog.SchemaDoc")
    try:
        load_catalog()
    except ValidationError as exc:
        result.problems = [(str(CATALOG_PATH), ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
    except Exception as exc:  # unreadable YAML
        result.problems = [(str(CATALOG_PATH), "-", f"{type(exc).__name__}: {exc}")]
    return result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="check the configuration files")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate every config/*.yaml through its model; exit 1 on any problem",
        description="Validate every config file (the packaged defaults, or $CDP_CONFIG_DIR files "
        "that replace them, plus CDP_NAME__KEY environment overrides) and list every problem.",
    )
    check.add_argument("names", nargs="*", help="only these config files (e.g. pipeline sources)")
    check.set_defaults(func=run_check)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run_check(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.names) - set(config_names()))
    if unknown:
        print(f"cdp config check: no config file named {', '.join(unknown)}; "
              f"known: {', '.join(config_names())}", file=sys.stderr)
        return 2
    results = check_all(args.names or None)
    if not args.names:
        results.append(check_catalog())
    problems = 0
    for result in results:
        status = "ok" if result.ok else f"{len(result.problems)} problem(s)"
        model = result.model or "parsed only"
        print(f"{result.name:<12} {status:<14} {model}  ({result.path})")
        if result.note:
            print(f"    note: {result.note}")
        for file, key, hint in result.problems:
            print(f"    {file}: {key}: {hint}")
        problems += len(result.problems)
    print(f"checked {len(results)} file(s): {problems} problem(s)")
    return 1 if problems else 0
