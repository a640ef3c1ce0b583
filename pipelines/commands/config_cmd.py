"""`cdp config check`: validate every config file and list every problem with its file, key and hint."""
from typing import Annotated, List, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note


def check_catalog():
    """The warehouse catalog (table and column docs) is a config file of sorts: check it too."""
    from pydantic import ValidationError

    from config.check import FileCheck
    from warehouse.catalog import CATALOG_PATH, load_catalog

    result = FileCheck("catalog", CATALOG_PATH, "warehouse.catalog.SchemaDoc")
    try:
        load_catalog()
    except ValidationError as exc:
        result.problems = [(str(CATALOG_PATH), ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
    except Exception as exc:  # unreadable YAML
        result.problems = [(str(CATALOG_PATH), "-", f"{type(exc).__name__}: {exc}")]
    return result


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="check the configuration files", no_args_is_help=True)
    app.add_typer(config_app, name="config", help="check the configuration files")

    @command(config_app, "check", group="config", help="validate every config/*.yaml through its model; exit 1 on any problem",
             description="Validate every config file (the packaged defaults, or $CDP_CONFIG_DIR files that "
             "replace them, plus CDP_NAME__KEY environment overrides), the warehouse catalog, and the "
             "fields segments and traits use against the catalog's columns; list every problem.")
    def check_cmd(
        opts,
        names: Annotated[Optional[List[str]], typer.Argument(help="only these config files (e.g. pipeline sources)")] = None,
    ):
        from config.check import check_all, config_names

        from pipelines.commands._config_fields import check_fields

        read_only_note(opts)
        names = names or []
        unknown = sorted(set(names) - set(config_names()))
        if unknown:
            _ui.error(f"no config file named {', '.join(unknown)}; known: {', '.join(config_names())}", "config check")
            return 2
        results = check_all(names or None)
        if not names:
            results.append(check_catalog())
        if not names or "profiles" in names:
            results.append(check_fields(opts.home))
        problems = sum(len(r.problems) for r in results)
        if opts.json:
            emit_json({"files": [{"name": r.name, "path": str(r.path), "model": r.model, "note": r.note,
                                  "problems": [{"file": f, "key": k, "hint": h} for f, k, h in r.problems]}
                                 for r in results], "problems": problems})
            return 1 if problems else 0
        out = _ui.console()
        for result in results:
            status = "ok" if result.ok else f"{len(result.problems)} problem(s)"
            model = result.model or "parsed only"
            out.print(f"{result.name:<12} {status:<14} {model}  ({result.path})", markup=False,
                      style=None if result.ok else "red")
            if result.note:
                out.print(f"    note: {result.note}", markup=False)
            for file, key, hint in result.problems:
                out.print(f"    {file}: {key}: {hint}", markup=False)
        out.print(f"checked {len(results)} file(s): {problems} problem(s)", markup=False)
        return 1 if problems else 0
