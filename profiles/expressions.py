"""Compile a checked condition (see `config.segments`) into a SQL predicate with bound parameters.

Why a compiler rather than SQL snippets in YAML: a segment or trait filter comes from a user, so it
must never reach SQL as text. Fields are looked up in a catalog built from the relation's real
columns (`DESCRIBE`), become double-quoted identifiers, and every value is a `?` parameter. Each
comparison is null-safe (`COALESCE(..., FALSE)`), so `not` is the exact complement of its condition
and `ne` / `not_in` include customers whose field is unknown.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any

from config.segments import AllOf, AnyOf, Comparison, Condition, ConditionError, Not
from warehouse.sql import quote_ident

NUMBER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")


class ExpressionError(ConditionError):
    """A condition that is well formed but does not fit the data (unknown field, wrong value type)."""


@dataclass(frozen=True)
class FieldInfo:
    sql: str  # SQL built only from quoted identifiers and `?`
    kind: str  # text | number | date | timestamp | bool | list | struct | json
    params: tuple = ()
    # A text column that may hold JSON text (a raw stream's nested objects in a test fixture, a CSV
    # column): `column.key` reads into it, NULL where the text is not JSON (never a DuckDB error
    # quoting the value). Profile fields are plain text: `email.x` is refused when compiled.
    walkable: bool = False


quote_identifier = quote_ident


def kind_of(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t.endswith("[]") or t.startswith("LIST") or t.startswith("MAP"):
        return "list"
    if t.startswith("STRUCT"):
        return "struct"
    if t == "JSON":
        return "json"
    if t.startswith(NUMBER_TYPES):
        return "number"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    if t == "BOOLEAN":
        return "bool"
    return "text"


def relation_catalog(con, relation: str, alias: str | None = None,
                     text_holds_json: bool = False) -> dict[str, FieldInfo]:
    """Fields of a table/view (`schema.name`, trusted: chosen by code) as quoted identifiers.

    `text_holds_json`: text columns may be walked into with `column.key` (raw streams)."""
    rows = con.execute(f"DESCRIBE {relation}").fetchall()
    prefix = f"{quote_identifier(alias)}." if alias else ""
    catalog = {}
    for name, col_type, *_ in rows:
        kind = kind_of(str(col_type))
        catalog[name] = FieldInfo(prefix + quote_identifier(name), kind,
                                  walkable=kind in ("json", "struct") or (text_holds_json and kind == "text"))
    return catalog


def resolve_field(catalog: dict[str, FieldInfo], field: str, path: str) -> FieldInfo:
    """A catalog field, or `column.key.key` into a JSON text or struct column."""
    if field in catalog:
        return catalog[field]
    head, _, rest = field.partition(".")
    where = f"{path}.field" if path else "field"
    if head in catalog and rest:
        base = catalog[head]
        if base.kind == "json":
            return FieldInfo(f"json_extract_string({base.sql}, ?)", "text", base.params + ("$." + rest,))
        if base.kind == "text" and base.walkable:
            # json_valid first: json_extract on text that is not JSON raises an error quoting it.
            return FieldInfo(f"json_extract_string(CASE WHEN json_valid({base.sql}) THEN {base.sql} END, ?)",
                             "text", base.params + ("$." + rest,))
        if base.kind == "struct":
            parts = "".join("." + quote_identifier(p) for p in rest.split("."))
            return FieldInfo(f"CAST(({base.sql}){parts} AS VARCHAR)", "text", base.params)
        raise ExpressionError(where, f"field {head!r} is a {base.kind}, it has no parts to select with '.'")
    close = difflib.get_close_matches(field, list(catalog), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ExpressionError(where, f"unknown field {field!r}; {hint}known fields: {', '.join(sorted(catalog))}")


def _coerce(value: Any, kind: str, op: str, where: str) -> Any:
    """Check one value against the field's kind and convert it for binding."""
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(where, f"expects a number for a numeric field, got {type(value).__name__}")
        return value
    if kind in ("date", "timestamp"):
        if isinstance(value, dt.datetime):
            return value if kind == "timestamp" else value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                raise ExpressionError(where, f"expects a date like 2026-01-31, got {value!r}") from None
            return parsed if kind == "timestamp" else parsed.date()
        raise ExpressionError(where, f"expects a date like 2026-01-31, got {type(value).__name__}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise ExpressionError(where, f"expects true or false, got {value!r}")
        return value
    # text-like (text, json paths, list elements): accept numbers YAML read from bare words (28013).
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ExpressionError(where, f"expects text, got {type(value).__name__}")
    return str(value)


_ALLOWED = {
    "number": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "is_null", "not_null"},
    "date": {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "is_null", "not_null"},
    "timestamp": {"eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null", "not_null"},
    "bool": {"eq", "ne", "is_null", "not_null"},
    "list": {"contains", "is_null", "not_null"},
    "struct": {"is_null", "not_null"},
}
_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _compile_comparison(node: Comparison, catalog: dict[str, FieldInfo]) -> tuple[str, list]:
    field = resolve_field(catalog, node.field, node.path)
    op, kind = node.op, field.kind
    where_op = f"{node.path}.op" if node.path else "op"
    where_value = f"{node.path}.value" if node.path else "value"
    allowed = _ALLOWED.get(kind)
    if allowed is not None and op not in allowed:
        raise ExpressionError(where_op, f"op {op!r} does not apply to {node.field!r} ({kind}); "
                              f"use one of {', '.join(sorted(allowed))}")
    expr, params = field.sql, list(field.params)
    # Numbers compared with a text/JSON field: compare numerically, not as text ('10' < '9').
    value_kind = kind
    if kind in ("text", "json") and op in ("gt", "gte", "lt", "lte", "between"):
        sample = node.value[0] if isinstance(node.value, list) else node.value
        if isinstance(sample, int | float) and not isinstance(sample, bool):
            expr, value_kind = f"TRY_CAST({expr} AS DOUBLE)", "number"
    if kind == "list":
        value_kind = "text"
    if op == "is_null":
        return f"({expr} IS NULL)", params
    if op == "not_null":
        return f"({expr} IS NOT NULL)", params
    if op in ("in", "not_in"):
        values = [_coerce(v, value_kind, op, f"{where_value}[{i}]") for i, v in enumerate(node.value)]
        marks = ", ".join("?" for _ in values)
        if op == "in":
            return f"COALESCE({expr} IN ({marks}), FALSE)", params + values
        return f"COALESCE({expr} NOT IN ({marks}), TRUE)", params + values
    if op == "between":
        low, high = (_coerce(v, value_kind, op, f"{where_value}[{i}]") for i, v in enumerate(node.value))
        return f"COALESCE({expr} BETWEEN ? AND ?, FALSE)", params + [low, high]
    value = _coerce(node.value, value_kind, op, where_value)
    if op == "contains":
        if kind == "list":
            return f"COALESCE(list_contains({expr}, ?), FALSE)", params + [value]
        # Case-insensitive substring: what a marketer means by "contains".
        return f"COALESCE(strpos(lower(CAST({expr} AS VARCHAR)), lower(?)) > 0, FALSE)", params + [value]
    if op == "ne":
        return f"({expr} IS DISTINCT FROM ?)", params + [value]
    return f"COALESCE({expr} {_SQL_OPS[op]} ?, FALSE)", params + [value]


def compile_condition(condition: Condition, catalog: dict[str, FieldInfo]) -> tuple[str, list]:
    """SQL predicate text (identifiers and `?` only) and its parameters, in order."""
    if isinstance(condition, Comparison):
        return _compile_comparison(condition, catalog)
    if isinstance(condition, AllOf | AnyOf):
        joiner = " AND " if isinstance(condition, AllOf) else " OR "
        parts, params = [], []
        for item in condition.items:
            sql, p = compile_condition(item, catalog)
            parts.append(sql)
            params.extend(p)
        return "(" + joiner.join(parts) + ")", params
    if isinstance(condition, Not):
        sql, params = compile_condition(condition.item, catalog)
        return f"(NOT {sql})", params
    raise TypeError(f"not a condition: {condition!r}")


def evaluation_failure(error_type: str, fields: list[str]) -> str:
    """The message for a condition DuckDB could not evaluate: its fields, never a value."""
    return (f"could not be evaluated over the data ({error_type} on field(s) {', '.join(fields)}); "
            "the database's message is withheld because it may quote a customer's value: check that "
            "each field holds what the condition expects (a '.' reads a key of a JSON column only)")


def fields_used(condition: Condition) -> set[str]:
    if isinstance(condition, Comparison):
        return {condition.field}
    if isinstance(condition, AllOf | AnyOf):
        return set().union(*(fields_used(i) for i in condition.items))
    return fields_used(condition.item)
