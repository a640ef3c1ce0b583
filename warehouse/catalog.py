"""Documentation of every table and view an analyst may query, in the database itself.

`catalog.yaml` (beside this module) is the one source: `apply_comments` writes it as DuckDB
comments, so any SQL client shows what a column means (`duckdb_columns().comment`), and
`render_markdown` turns it into the README's table reference. Objects or columns that do not exist
(yet) in a warehouse are skipped, so applying is safe at any stage of the pipeline.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from warehouse.sql import quote_ident, quote_literal

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.yaml"


class TableDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str
    columns: dict[str, str] = Field(default_factory=dict)
    # Shell-style column name patterns, e.g. "*_source", for families of columns.
    patterns: dict[str, str] = Field(default_factory=dict)
    # Other documented tables ("schema.table") whose column docs apply here too (views over them).
    same_as: list[str] = Field(default_factory=list)


class SchemaDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str
    tables: dict[str, TableDoc]
    # Columns every table of the schema may have (e.g. the load bookkeeping of raw views).
    common_columns: dict[str, str] = Field(default_factory=dict)


def column_doc(catalog: dict[str, "SchemaDoc"], schema: str, table: str, column: str,
               _seen: frozenset = frozenset()) -> str | None:
    """The text documenting one column: its own entry, a pattern, a same_as table, or the schema's."""
    schema_doc = catalog.get(schema)
    doc = schema_doc.tables.get(table) if schema_doc else None
    if doc is None:
        return None
    lower = column.lower()
    for name, text in doc.columns.items():
        if name.lower() == lower:
            return text
    for pattern, text in doc.patterns.items():
        if fnmatch.fnmatchcase(lower, pattern.lower()):
            return text
    for other in doc.same_as:
        if other in _seen:
            continue
        other_schema, _, other_table = other.partition(".")
        text = column_doc(catalog, other_schema, other_table, column, _seen | {f"{schema}.{table}"})
        if text:
            return text
    for name, text in schema_doc.common_columns.items():
        if name.lower() == lower:
            return text
    return None


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, SchemaDoc]:
    """The documented schemas, validated (a typo in catalog.yaml fails here, naming the key)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    # One adapter over the whole file so an error's location starts with the schema name.
    return TypeAdapter(dict[str, SchemaDoc]).validate_python(data)


# COMMENT ON takes no bound parameters: identifiers and texts (from our own YAML) are quoted.
_quote_ident = quote_ident
_quote_literal = quote_literal


@dataclass
class CommentResult:
    """What `apply_comments` did."""

    objects: int = 0  # tables and views commented
    columns: int = 0
    missing_objects: list[str] = field(default_factory=list)  # documented, not in this warehouse
    missing_columns: list[str] = field(default_factory=list)


def _existing_objects(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """(schema, name) lowercased -> 'TABLE' or 'VIEW', in the current database."""
    rows = con.execute(
        "SELECT schema_name, table_name, 'TABLE' FROM duckdb_tables() "
        "WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name, 'VIEW' FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return {(s.lower(), t.lower()): (s, t, kind) for s, t, kind in rows}


def _existing_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [schema, table],
    ).fetchall()
    return {name.lower(): name for (name,) in rows}


def with_extra_columns(catalog: dict[str, SchemaDoc], extra: dict[str, dict[str, str]]) -> dict[str, SchemaDoc]:
    """The catalog plus column docs known only at run time ({"profiles.traits": {column: text}}),
    e.g. the descriptions of custom traits declared in config/profiles.yaml."""
    merged = {name: doc.model_copy(deep=True) for name, doc in catalog.items()}
    for target, columns in extra.items():
        schema, _, table = target.partition(".")
        table_doc = merged.get(schema) and merged[schema].tables.get(table)
        if table_doc:
            table_doc.columns.update({c: t for c, t in columns.items() if t and c not in table_doc.columns})
    return merged


def apply_comments(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None,
                   extra: dict[str, dict[str, str]] | None = None, own_transaction: bool = True) -> CommentResult:
    """Write table, view and column comments for every documented object that exists.

    `extra` adds column docs known only at run time, keyed by "schema.table". The comments are
    written in one transaction of their own; pass `own_transaction=False` when calling inside a
    transaction you opened (DuckDB has no nested transactions).
    """
    catalog = catalog if catalog is not None else load_catalog()
    if extra:
        catalog = with_extra_columns(catalog, extra)
    existing = _existing_objects(con)
    result = CommentResult()
    # One transaction: all comments land together, and hundreds of catalog writes commit once.
    if not own_transaction:  # the caller's transaction is open: comment inside it
        _comment_all(con, catalog, existing, result)
        return result
    con.execute("BEGIN TRANSACTION")
    try:
        _comment_all(con, catalog, existing, result)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def _comment_all(con, catalog: dict[str, SchemaDoc], existing: dict, result: CommentResult) -> None:
    for schema, schema_doc in catalog.items():
        for table, doc in schema_doc.tables.items():
            found = existing.get((schema.lower(), table.lower()))
            if not found:
                result.missing_objects.append(f"{schema}.{table}")
                continue
            real_schema, real_table, kind = found
            target = f"{_quote_ident(real_schema)}.{_quote_ident(real_table)}"
            con.execute(f"COMMENT ON {kind} {target} IS {_quote_literal(doc.comment)}")
            result.objects += 1
            columns = _existing_columns(con, real_schema, real_table)
            result.missing_columns += [f"{schema}.{table}.{c}" for c in doc.columns if c.lower() not in columns]
            for real_column in columns.values():
                text = column_doc(catalog, schema, table, real_column)
                if text is None:
                    continue
                con.execute(
                    f"COMMENT ON COLUMN {target}.{_quote_ident(real_column)} IS {_quote_literal(text)}"
                )
                result.columns += 1


def undocumented_columns(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None,
                         extra: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Columns of documented tables that the catalog does not describe (to keep the docs complete)."""
    catalog = catalog if catalog is not None else load_catalog()
    if extra:
        catalog = with_extra_columns(catalog, extra)
    existing = _existing_objects(con)
    gaps = []
    for schema, schema_doc in catalog.items():
        for table, doc in schema_doc.tables.items():
            found = existing.get((schema.lower(), table.lower()))
            if not found:
                continue
            for name in _existing_columns(con, found[0], found[1]).values():
                if column_doc(catalog, schema, table, name) is None:
                    gaps.append(f"{schema}.{table}.{name}")
    return gaps


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(catalog: dict[str, SchemaDoc] | None = None, heading_level: int = 3) -> str:
    """The catalog as a README section: one heading per schema, one table of columns per table."""
    catalog = catalog if catalog is not None else load_catalog()
    h = "#" * heading_level
    out: list[str] = []
    for schema, schema_doc in catalog.items():
        out += [f"{h} `{schema}`", "", schema_doc.comment, ""]
        if schema_doc.common_columns:
            out += [f"Columns any `{schema}` table may carry:", "", "| column | meaning |", "|---|---|"]
            out += [f"| `{c}` | {_md_cell(t)} |" for c, t in schema_doc.common_columns.items()]
            out.append("")
        for table, doc in schema_doc.tables.items():
            out += [f"**`{schema}.{table}`**: {doc.comment}", ""]
            if doc.same_as:
                out += ["Columns as in " + ", ".join(f"`{t}`" for t in doc.same_as) + ".", ""]
            rows = list(doc.columns.items()) + [(p, t) for p, t in doc.patterns.items()]
            if rows:
                out += ["| column | meaning |", "|---|---|"]
                out += [f"| `{column}` | {_md_cell(text)} |" for column, text in rows]
                out.append("")
    return "\n".join(out).rstrip() + "\n"


# Working tables a step may leave for inspection (`cdp resolve --debug`): not part of the contract.
_UNDOCUMENTED_PREFIXES = ("debug_", "_")


def warehouse_objects(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, name, 'TABLE'|'VIEW') of every object of the current database an analyst could query."""
    objects = sorted(_existing_objects(con).values())
    return [(s, t, k) for s, t, k in objects
            if s not in ("main", "information_schema", "pg_catalog") and not t.startswith(_UNDOCUMENTED_PREFIXES)]


def undocumented_objects(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None) -> list[str]:
    """Tables and views the warehouse has that the catalog (hence the docs) does not name."""
    catalog = catalog if catalog is not None else load_catalog()
    documented = {(s.lower(), t.lower()) for s, doc in catalog.items() for t in doc.tables}
    return [f"{s}.{t}" for s, t, _ in warehouse_objects(con) if (s.lower(), t.lower()) not in documented]


def dbt_sources(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None,
                extra: dict[str, dict[str, str]] | None = None, database: str = "cdp") -> dict:
    """A dbt `sources.yml` document for the objects this warehouse has, described by the catalog.

    One dbt source per schema (`{{ source('profiles', 'customer') }}`); `database` is the name the
    dbt profile attaches the snapshot under (dbt var `cdp_database`, default `cdp`).
    """
    catalog = catalog if catalog is not None else load_catalog()
    if extra:
        catalog = with_extra_columns(catalog, extra)
    by_schema: dict[str, list[tuple[str, str]]] = {}
    for schema, name, kind in warehouse_objects(con):
        by_schema.setdefault(schema, []).append((name, kind))
    sources = []
    for schema in sorted(by_schema, key=lambda s: (list(catalog).index(s) if s in catalog else len(catalog), s)):
        schema_doc = catalog.get(schema)
        tables = []
        for name, kind in by_schema[schema]:
            doc = schema_doc.tables.get(name) if schema_doc else None
            columns = [{"name": c, "description": column_doc(catalog, schema, name, c) or ""}
                       for c in _existing_columns(con, schema, name).values()]
            entry = {"name": name, "description": doc.comment if doc else ""}
            if columns:
                entry["columns"] = columns
            tables.append(entry)
        sources.append({"name": schema, "database": "{{ var('cdp_database', '" + database + "') }}",
                        "schema": schema, "description": schema_doc.comment if schema_doc else "",
                        "tables": tables})
    return {"version": 2, "sources": sources}


def render_dbt_sources(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None,
                       extra: dict[str, dict[str, str]] | None = None) -> str:
    header = ("# Generated by `cdp publish` / `cdp dbt-sources` from warehouse/catalog.yaml: do not edit.\n"
              "# In your dbt profile (dbt-duckdb), attach the snapshot read-only under the alias `cdp`:\n"
              "#   attach: [{path: HOME/snapshots/latest.duckdb, alias: cdp, read_only: true}]\n")
    return header + yaml.safe_dump(dbt_sources(con, catalog, extra), sort_keys=False, allow_unicode=True, width=100)
