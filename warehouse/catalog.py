"""Documentation of every table and view an analyst may query, in the database itself.

`catalog.yaml` (beside this module) is the one source: `apply_comments` writes it as DuckDB
comments, so any SQL client shows what a column means (`duckdb_columns().comment`), and
`render_markdown` turns it into the README's table reference. Objects or columns that do not exist
(yet) in a warehouse are skipped, so applying is safe at any stage of the pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.yaml"


class TableDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str
    columns: dict[str, str] = Field(default_factory=dict)


class SchemaDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str
    tables: dict[str, TableDoc]


def load_catalog(path: Path = CATALOG_PATH) -> dict[str, SchemaDoc]:
    """The documented schemas, validated (a typo in catalog.yaml fails here, naming the key)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {schema: SchemaDoc.model_validate(doc) for schema, doc in data.items()}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    # COMMENT ON takes no bound parameters: quote the literal (texts come from our own YAML).
    return "'" + text.replace("'", "''") + "'"


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
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return {name.lower(): name for (name,) in rows}


def apply_comments(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None) -> CommentResult:
    """Write table, view and column comments for every documented object that exists."""
    catalog = catalog if catalog is not None else load_catalog()
    existing = _existing_objects(con)
    result = CommentResult()
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
            for column, text in doc.columns.items():
                real_column = columns.get(column.lower())
                if real_column is None:
                    result.missing_columns.append(f"{schema}.{table}.{column}")
                    continue
                con.execute(
                    f"COMMENT ON COLUMN {target}.{_quote_ident(real_column)} IS {_quote_literal(text)}"
                )
                result.columns += 1
    return result


def undocumented_columns(con: duckdb.DuckDBPyConnection, catalog: dict[str, SchemaDoc] | None = None) -> list[str]:
    """Columns of documented tables that the catalog does not describe (to keep the docs complete)."""
    catalog = catalog if catalog is not None else load_catalog()
    existing = _existing_objects(con)
    gaps = []
    for schema, schema_doc in catalog.items():
        for table, doc in schema_doc.tables.items():
            found = existing.get((schema.lower(), table.lower()))
            if not found:
                continue
            documented = {c.lower() for c in doc.columns}
            for lower, name in _existing_columns(con, found[0], found[1]).items():
                if lower not in documented:
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
        for table, doc in schema_doc.tables.items():
            out += [f"**`{schema}.{table}`**: {doc.comment}", ""]
            if doc.columns:
                out += ["| column | meaning |", "|---|---|"]
                out += [f"| `{column}` | {_md_cell(text)} |" for column, text in doc.columns.items()]
                out.append("")
    return "\n".join(out).rstrip() + "\n"
