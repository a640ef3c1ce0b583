"""`cdp config check`: the fields declared traits read must exist, or `cdp profiles` fails later.

Segment fields are checked with the segments file itself (config.check, against the declared
customer_360 fields). Declared traits (config/profiles.yaml traits.custom) read a raw stream: their
`field` and `where` fields are checked here against that stream's columns, known from the
connectors' stream specs, the warehouse catalog (warehouse/catalog.yaml) and, when the home already
has a warehouse, its real columns. A misspelt field is reported with the closest known names.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from config.check import FileCheck

# Patterns of the golden profile's provenance columns, as the catalog declares them.
_PROVENANCE = ("_source", "_record_id")


def _conditions(condition, path: str):
    """(field, path) of every comparison in a parsed condition tree."""
    from config.segments import AllOf, AnyOf, Comparison, Not

    if isinstance(condition, Comparison):
        yield condition.field, condition.path or path
    elif isinstance(condition, (AllOf, AnyOf)):
        for item in condition.items:
            yield from _conditions(item, path)
    elif isinstance(condition, Not):
        yield from _conditions(condition.item, path)


def profile_fields(home: Path | None) -> set[str]:
    """Columns a segment may name: catalog docs of golden + traits, declared traits, the real view."""
    from warehouse.catalog import load_catalog

    catalog = load_catalog()
    tables = catalog["profiles"].tables
    fields = set()
    for name in ("golden", "traits"):
        doc = tables.get(name)
        if doc is None:
            continue
        fields |= set(doc.columns)
        if name == "golden":
            fields |= {f"{c}{suffix}" for c in doc.columns for suffix in _PROVENANCE if c != "customer_id"}
    try:
        from config.profiles import load_profiles_config

        fields |= {t.name for t in load_profiles_config().traits.custom}
    except Exception:  # an invalid profiles.yaml is reported by its own check
        pass
    fields |= _warehouse_columns(home, "profiles", "customer_360")
    return fields


def stream_fields(home: Path | None) -> dict[str, set[str]]:
    """Columns of each raw stream a declared trait may read (connector specs + catalog + warehouse)."""
    from warehouse.catalog import load_catalog

    fields: dict[str, set[str]] = {}
    try:
        from connectors.runner import all_streams

        for _, stream in all_streams():
            fields[stream.name] = {c for c, _ in stream.raw_table().all_columns}
    except Exception:
        pass
    for name, doc in load_catalog()["raw"].tables.items():
        fields.setdefault(name, set()).update(doc.columns)
        fields[name] |= _warehouse_columns(home, "raw", name)
    return fields


def _warehouse_columns(home: Path | None, schema: str, table: str) -> set[str]:
    if home is None or not (home / "warehouse.duckdb").exists():
        return set()
    try:
        from warehouse.connection import connect_home

        con = connect_home(home, read_only=True)
    except Exception:  # held by a run, or unreadable: the catalog alone decides
        return set()
    try:
        return {r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [schema, table]).fetchall()}
    finally:
        con.close()


def _problem(field: str, known: set[str], what: str) -> str | None:
    head = field.split(".", 1)[0]
    if field in known or head in known:
        return None
    close = difflib.get_close_matches(field, sorted(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown field {field!r} of {what}{hint}"


def check_fields(home: Path | None, only: list[str] | None = None) -> FileCheck:
    """Every field of every segment and declared trait, checked against the known columns."""
    from config.loader import config_path as config_path_of

    result = FileCheck("trait fields", Path("profiles.yaml traits.custom"), "warehouse/catalog.yaml")
    result.note = "declared trait fields checked against the stream columns of the catalog and connectors" + (
        f" and {home / 'warehouse.duckdb'}" if home and (home / "warehouse.duckdb").exists() else "")
    problems = []
    try:
        from warehouse.catalog import load_catalog

        load_catalog()
    except Exception:  # the catalog's own check reports it; without it there is nothing to check against
        result.note = "skipped: warehouse/catalog.yaml does not load (see the catalog's problems)"
        return result
    if only is None or "profiles" in only:
        try:
            from config.profiles import load_profiles_config

            traits = load_profiles_config().traits.custom
        except Exception:
            traits = []
        streams = stream_fields(home)
        file = str(config_path_of("profiles"))
        for i, trait in enumerate(traits):
            columns = streams.get(trait.stream)
            key = f"traits.custom.{i}"
            if columns is None:
                problems.append((file, f"{key}.stream", f"unknown stream {trait.stream!r}; known: "
                                 f"{', '.join(sorted(streams))}"))
                continue
            if trait.field:
                message = _problem(trait.field, columns, f"raw.{trait.stream}")
                if message:
                    problems.append((file, f"{key}.field", message))
            if trait.where is not None:
                for field, path in _conditions(trait.where, "where"):
                    message = _problem(field, columns, f"raw.{trait.stream}")
                    if message:
                        problems.append((file, f"{key}.{path}.field", message))
    result.problems = problems
    return result
