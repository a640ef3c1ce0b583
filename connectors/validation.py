"""Vectorized record checks: one DuckDB query per batch turns raw text into typed rows + reasons.

A stream declares its fields (`Field`): where the value is (a JSON path, or a column of a CSV/SQL
row), its type, whether it is required (always, or when a condition holds), allowed values or a
pattern, and whether it must not lie in the future. From that we build one SELECT which, for every
record, yields the typed columns and either no reason (valid) or the FIRST failing check:

    invalid_json      the line is not a JSON object (or not UTF-8)  detail: NULL / 'encoding' / 'not an object'
    malformed_row     a CSV row with the wrong number of fields     detail: NULL
    missing_field     a required field absent, null or empty        detail: the field
    wrong_type        a field present with the wrong JSON type, or
                      text that does not parse as its type          detail: the field
    invalid_value     a value outside the allowed set / pattern     detail: the field
    future_timestamp  a time later than load time + tolerance       detail: the field
    unexpected_field  a top-level field the stream does not declare,
                      under the `freeze` schema contract            detail: the first such key
    suppressed        carries an identifier of a forgotten person   detail: fixed text, no payload
                      (set by the load's suppression screen, warehouse.suppression)

A CSV/SQL row that is not UTF-8 is `malformed_row` with detail `encoding` (NDJSON: `invalid_json`).
Numbers out of their type's range (an integer beyond 2^63) and times outside years 1-9999 are
`wrong_type`: never stored as NULL. Blank text (spaces only) is absent: a required one is
`missing_field`, the key included.

Schema contract (after dlt), per stream: `evolve` keeps the top-level fields (CSV/SQL columns) the
stream does not declare in the `extra` JSON column; `discard` drops them, counting each record that
had some (`_discarded`, summed into `ops.loads.values_discarded`); `freeze` quarantines such a
record as `unexpected_field`.

These are the same rules a pydantic model of the Segment spec would apply, evaluated column-wise
(the check step is about half of ingest time; see benchmarks/ingest.py for the whole).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Sequence

from warehouse.raw_store import quote_ident, sql_literal

FieldType = Literal["string", "id", "timestamp", "integer", "decimal", "boolean", "object", "json", "json_text"]

REASONS = ("invalid_json", "malformed_row", "missing_field", "wrong_type", "invalid_value", "future_timestamp",
           "unexpected_field", "suppressed")
CONTRACTS = ("evolve", "discard", "freeze")
# What "blank" means: text of nothing but these (spaces, tabs, line breaks, no-break space).
BLANK_CHARS = "(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160))"


def blank(text: str) -> str:
    """SQL: `text` holds only blank characters (NULL stays NULL). A blank value is short: the
    character-set trim (costly) only runs on short text."""
    return f"(strlen({text}) < 32 AND trim({text}, {BLANK_CHARS}) = '')"


# The raw column holding a record's undeclared top-level fields (schema contract `evolve`).
EXTRA_COLUMN = "extra"
# Timestamps a record may carry: years 1 to 9999 (what every reader of the warehouse can represent).
_MIN_TS = "TIMESTAMP '0001-01-01 00:00:00'"
_MAX_TS = "TIMESTAMP '9999-12-31 23:59:59.999999'"

_SQL_TYPES = {
    "string": "VARCHAR", "id": "VARCHAR", "timestamp": "VARCHAR", "integer": "BIGINT", "decimal": "DECIMAL(18,2)",
    "boolean": "BOOLEAN", "object": "JSON", "json": "JSON", "json_text": "JSON",
}
_JSON_TYPES_OK = {
    # An id may be sent as a number (a numeric userId): kept as its text.
    "string": ("VARCHAR",), "id": ("VARCHAR", "BIGINT", "UBIGINT", "DOUBLE"), "timestamp": ("VARCHAR",), "integer": ("BIGINT", "UBIGINT"),
    "decimal": ("BIGINT", "UBIGINT", "DOUBLE"), "boolean": ("BOOLEAN",), "object": ("OBJECT",),
    "json": None, "json_text": ("VARCHAR",),
}


@dataclass(frozen=True)
class Field:
    """One field of a record and the rules it must meet.

    path: dotted JSON path (`traits.address.city`) or the column name of a CSV/SQL row.
    column: the raw column it lands in (default: the path).
    required: True, or a SQL condition over other columns' typed values (e.g. "type = 'track'").
    A timestamp field keeps its text as found in `column`; its parsed UTC value is available to
    the stream as `<column>__ts` (e.g. for `event_time`).
    """

    path: str
    type: FieldType = "string"
    column: str | None = None
    required: bool | str = False
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    no_future: bool = False
    # False: take the value as found, never quarantine the record for it (a flattened copy of a
    # nested attribute: its object is checked, a stray type in it should not cost the event).
    strict: bool = True
    # Further paths read when `path` holds nothing (non-strict nested fields only), in order: a
    # trait sent in `context.traits` of a track call, say.
    fallbacks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.strict and (self.required or self.allowed or self.pattern or self.no_future):
            raise ValueError(f"{self.path}: a non-strict field cannot carry rules")
        if self.fallbacks and (self.strict or "." not in self.path or any("." not in p for p in self.fallbacks)):
            raise ValueError(f"{self.path}: only a non-strict nested field can have fallback paths")

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path, *self.fallbacks)

    @property
    def name(self) -> str:
        return self.column or self.path

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.type]


@dataclass(frozen=True)
class Check:
    """A rule over several fields, e.g. 'anonymousId or userId': fails when `failing` is true.

    In `failing`, `{future_limit}` stands for the load's latest acceptable time (a TIMESTAMP),
    `{present:PATH}` for whether the field at PATH is present (not null, not blank) and
    `{derived:NAME}` for the value of a derived column."""

    reason: str
    detail: str
    failing: str


@dataclass(frozen=True)
class RecordSpec:
    """The fields and extra checks of a stream, and how its derived columns are computed.

    derived: (column, SQL type, expression over typed field values and `<ts column>__ts`).
    record_id: expression naming the record in quarantine (falls back to `<file>:<line>`).
    """

    fields: tuple[Field, ...]
    derived: tuple[tuple[str, str, str], ...] = ()
    checks: tuple[Check, ...] = ()
    record_id: str = ""

    def columns(self) -> tuple[tuple[str, str], ...]:
        return (tuple((f.name, f.sql_type) for f in self.fields) + tuple((c, t) for c, t, _ in self.derived)
                + ((EXTRA_COLUMN, "JSON"),))

    @property
    def source_columns(self) -> list[str]:
        """Top-level names a tabular (CSV/SQL) input must provide."""
        return [f.path for f in self.fields]


def _ts_literal(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S.%f}'"


def _node_alias(prefix: tuple[str, ...]) -> str:
    """Column holding the parsed struct of the object at `prefix` (() is the whole line)."""
    return "__s" if not prefix else "__s_" + "_".join(p.replace('"', "") for p in prefix)


def _children(fields: Sequence[Field]) -> dict[tuple[str, ...], list[str]]:
    """For every object on a field's path, the keys read from it (in first-seen order)."""
    nodes: dict[tuple[str, ...], list[str]] = {}
    for f in fields:
        parts = tuple(f.path.split("."))
        for depth in range(len(parts)):
            keys = nodes.setdefault(parts[:depth], [])
            if parts[depth] not in keys:
                keys.append(parts[depth])
    return nodes


def _schema(keys: Sequence[str]) -> str:
    return sql_literal(json.dumps({k: "JSON" for k in keys}))


def _parse_levels(fields: Sequence[Field], source: str) -> str:
    """Parse each JSON object on the fields' paths ONCE, level by level, into structs of JSON values.

    Reading `traits.address.city` with json_extract would re-parse the whole line (or `traits`) for
    every field; a struct per object parses each object a single time (the check step of 250k
    web events went from 15 s to 8 s on the loaded 2-core test machine).
    A value that is not an object yields NULL fields (from_json does not raise for valid JSON of
    another type, and these values are JSON re-serialized by the level above, so no TRY is needed),
    and its own type check reports it.
    """
    nodes = _children(fields)
    relation = source
    depth = 1
    while True:
        level = [n for n in nodes if len(n) == depth]
        if not level:
            return relation
        cols = ", ".join(
            f"from_json({_node_alias(n[:-1])}.{quote_ident(n[-1])}, {_schema(nodes[n])}) AS {_node_alias(n)}"
            for n in level)
        relation = f"(SELECT *, {cols} FROM {relation})"
        depth += 1


def _is_lenient_deep(f: Field) -> bool:
    return not f.strict and "." in f.path


def _lenient_trees(fields: Sequence[Field]) -> dict[str, dict]:
    """Per top-level key, the nested schema of its non-strict (as found) descendants.

    Such a field needs no JSON type of its own, so ONE from_json of its top-level object with
    VARCHAR leaves (strings come back unescaped, other values as their JSON text, exactly the
    as-found text) replaces a re-serialize-and-parse per nested object on its path. A parent that
    is not an object gives NULL leaves. object/json fields keep JSON leaves.
    """
    trees: dict[str, dict] = {}
    for f, path in ((f, path) for f in fields for path in f.paths):
        if not _is_lenient_deep(f):
            continue
        parts = path.split(".")
        node = trees.setdefault(parts[0], {})
        for part in parts[1:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path}: a path both read as a value and walked into")
            node = child
        node[parts[-1]] = "JSON" if f.type in ("object", "json") else "VARCHAR"
    return trees


def _lenient_alias(key: str) -> str:
    return "__n_" + key.replace('"', "")


def _lenient_value(path: str) -> str:
    parts = path.split(".")
    return _lenient_alias(parts[0]) + "".join(f".{quote_ident(p)}" for p in parts[1:])


def _json_value(path: str) -> str:
    """SQL for the JSON value at a dotted path, read from its parent's parsed struct."""
    parts = tuple(path.split("."))
    return f"{_node_alias(parts[:-1])}.{quote_ident(parts[-1])}"


def _json_kind(j: str) -> str:
    """json_type() of a value re-serialized by from_json, told by its first character.

    from_json hands leaves back as minified JSON text, so the first character says the type;
    this avoids parsing every small value again (2 parses x 30 fields x every row).
    """
    v = f"CAST({j} AS VARCHAR)"
    c = f"left({v}, 1)"
    return (f"CASE WHEN {j} IS NULL THEN NULL WHEN {c} = '\"' THEN 'VARCHAR' WHEN {c} = '{{' THEN 'OBJECT' "
            f"WHEN {c} = '[' THEN 'ARRAY' WHEN {c} IN ('t', 'f') THEN 'BOOLEAN' WHEN {c} = 'n' THEN 'NULL' "
            f"WHEN contains({v}, '.') OR contains({v}, 'e') OR contains({v}, 'E') THEN 'DOUBLE' ELSE 'BIGINT' END")


def _json_text(i: int) -> str:
    """The text of value i: a string unquoted (unescaped only when it holds an escape), else its JSON."""
    j, v = f"__j{i}", f"CAST(__j{i} AS VARCHAR)"
    return (f"CASE WHEN __jt{i} = 'VARCHAR' THEN CASE WHEN contains({v}, '\\') THEN {j} ->> '$' "
            f"ELSE {v}[2:-2] END ELSE {v} END")


def _lenient_from_json(f: Field, i: int, as_text: bool = False) -> list[str]:
    """A non-strict field: its text as found (strings unquoted), cast when typed; never a reason.

    `as_text`: `__j<i>` already holds that text (a VARCHAR leaf of `_lenient_trees`).
    """
    v = f"CAST(__j{i} AS VARCHAR)"
    text = v if as_text else (f"CASE WHEN left({v}, 1) <> '\"' THEN {v} WHEN contains({v}, '\\') THEN "
                              f"__j{i} ->> '$' ELSE {v}[2:-2] END")
    if f.type in ("string", "timestamp"):
        value = text
    elif f.type in ("object", "json"):
        value = f"__j{i}"
    else:
        value = f"TRY_CAST({text} AS {f.sql_type})"
    return [f"{value} AS {quote_ident(f.name)}"]


def _typed_from_json(f: Field, i: int, as_text: bool = False) -> list[str]:
    """Columns for field i of a JSON record: presence, type-ok, typed value (and parsed time)."""
    if not f.strict:
        return _lenient_from_json(f, i, as_text)
    j, jt = f"__j{i}", f"__jt{i}"
    text = f"__jx{i}"
    ok_types = _JSON_TYPES_OK[f.type]
    ok = "true" if ok_types is None else f"{jt} IN ({', '.join(sql_literal(t) for t in ok_types)})"
    # Blank text (spaces only) is absent, as in a CSV: a blank messageId is no key. (Only where
    # presence decides something: a required field or an id; elsewhere empty text is enough.)
    empty = blank(text) if (f.required or f.type == "id") else f"({text} = '')"
    present = f"({jt} IS NOT NULL AND {jt} <> 'NULL' AND NOT ({jt} = 'VARCHAR' AND {empty}))"
    if f.type in ("string", "timestamp"):
        value = f"CASE WHEN {jt} = 'VARCHAR' THEN {text} END"
    elif f.type == "id":
        value = f"CASE WHEN {ok} THEN {text} END"
    elif f.type == "integer":
        value = f"CASE WHEN {ok} THEN TRY_CAST({text} AS BIGINT) END"
        # Out of range (beyond 2^63) is the wrong type, never a NULL.
        ok = f"({ok} AND {value} IS NOT NULL)"
    elif f.type == "decimal":
        value = f"CASE WHEN {ok} THEN TRY_CAST({text} AS DECIMAL(18,2)) END"
        ok = f"({ok} AND {value} IS NOT NULL)"
    elif f.type == "boolean":
        value = f"CASE WHEN {ok} THEN TRY_CAST({text} AS BOOLEAN) END"
    elif f.type == "json_text":
        value = f"CASE WHEN {ok} AND json_valid({text}) THEN CAST({text} AS JSON) END"
        ok = f"({ok} AND json_valid({text}))"
    else:  # object / json
        value = f"CASE WHEN {ok} THEN {j} END"
    parsed = f"__tsr{i}" if f.type == "timestamp" else None  # parsed once, a level below (_json_ts_parse)
    return _field_columns(f, i, present, ok, value, parsed)


def _json_ts_parse(f: Field, i: int) -> str | None:
    """A strict JSON timestamp parsed ONCE into `__tsr<i>` (TRY_CAST to TIMESTAMPTZ is the costly
    part of checking a time; every rule then reads the column)."""
    if not f.strict or f.type != "timestamp":
        return None
    return f"CASE WHEN __jt{i} = 'VARCHAR' THEN timezone('UTC', TRY_CAST(__jx{i} AS TIMESTAMPTZ)) END AS __tsr{i}"


def _typed_from_text(f: Field, i: int) -> list[str]:
    """Columns for field i of a CSV/SQL record, whose values are all text (in `__txt<i>`)."""
    t = f"__txt{i}"
    present = f"({t} IS NOT NULL AND NOT {blank(t)})"
    text = f"NULLIF({t}, '')"
    if f.type in ("string", "id", "timestamp"):
        value, ok = text, "true"
    elif f.type == "integer":
        value = f"TRY_CAST({text} AS BIGINT)"
        ok = f"{value} IS NOT NULL"
    elif f.type == "decimal":
        value = f"TRY_CAST({text} AS DECIMAL(18,2))"
        ok = f"{value} IS NOT NULL"
    elif f.type == "boolean":
        value = f"TRY_CAST({text} AS BOOLEAN)"
        ok = f"{value} IS NOT NULL"
    else:  # json_text / json / object: text that must hold JSON
        ok = f"coalesce(json_valid({text}), false)"
        value = f"CASE WHEN {ok} THEN CAST({text} AS JSON) END"
    parsed = f"__tsr{i}" if f.type == "timestamp" else None
    return _field_columns(f, i, present, ok, value, parsed)


def _text_ts_parse(f: Field, i: int) -> str | None:
    if f.type != "timestamp":
        return None
    return f"timezone('UTC', TRY_CAST(NULLIF(__txt{i}, '') AS TIMESTAMPTZ)) AS __tsr{i}"


def _field_columns(f: Field, i: int, present: str, ok: str, value: str, parsed_ts: str | None) -> list[str]:
    """The columns every field yields: presence, validity, value; timestamps add their parsed form."""
    if parsed_ts is not None:
        # A time before year 1 or after 9999 parses in DuckDB but no reader can represent it.
        parsed_ts = f"CASE WHEN {parsed_ts} BETWEEN {_MIN_TS} AND {_MAX_TS} THEN {parsed_ts} END"
        ok = f"{ok} AND {parsed_ts} IS NOT NULL"
    cols = [f"{present} AS __p{i}", f"({ok}) AS __ok{i}", f"{value} AS {quote_ident(f.name)}"]
    if parsed_ts is not None:
        cols.append(f"{parsed_ts} AS {quote_ident(f.name + '__ts')}")
    return cols


def _reason_case(spec: RecordSpec, first: list[tuple[str, str, str | None]],
                 future_limit: datetime, last: list[tuple[str, str, str | None]] = ()) -> tuple[str, str, str]:
    """SQL for the number of the first failing check (`__rule`), and `_reason` and `_detail` from it.

    `first`: (condition, reason, detail) checks of the record as a whole (it did not parse).
    """
    whens: list[tuple[str, str, str | None]] = list(first)
    for i, f in enumerate(spec.fields):
        if f.required is True:
            whens.append((f"NOT __p{i}", "missing_field", f.path))
        elif isinstance(f.required, str) and f.required:
            whens.append((f"NOT __p{i} AND coalesce(({f.required}), false)", "missing_field", f.path))
    present = {f.path: f"__p{i}" for i, f in enumerate(spec.fields)}

    def expand(text: str) -> str:
        for path, column in present.items():
            text = text.replace("{present:" + path + "}", column)
        for column, _, _ in spec.derived:
            text = text.replace("{derived:" + column + "}", _derived_alias(column))
        return text.replace("{future_limit}", limit)

    limit = _ts_literal(future_limit)
    whens += [(expand(c.failing), c.reason, c.detail) for c in spec.checks if c.reason == "missing_field"]
    whens += [(f"__p{i} AND NOT __ok{i}", "wrong_type", f.path) for i, f in enumerate(spec.fields) if f.strict]
    whens += [(expand(c.failing), c.reason, c.detail) for c in spec.checks if c.reason == "wrong_type"]
    for i, f in enumerate(spec.fields):
        col = quote_ident(f.name)
        if f.allowed:
            allowed = ", ".join(sql_literal(v) for v in f.allowed)
            whens.append((f"__p{i} AND {col} NOT IN ({allowed})", "invalid_value", f.path))
        if f.pattern:
            whens.append((f"__p{i} AND NOT regexp_full_match({col}, {sql_literal(f.pattern)})",
                          "invalid_value", f.path))
    whens += [(expand(c.failing), c.reason, c.detail) for c in spec.checks if c.reason == "invalid_value"]
    whens += [(f"{quote_ident(f.name + '__ts')} > {limit}", "future_timestamp", f.path)
              for f in spec.fields if f.type == "timestamp" and f.no_future]
    whens += [(expand(c.failing), c.reason, c.detail) for c in spec.checks if c.reason == "future_timestamp"]
    whens += list(last)
    # The rules are evaluated ONCE, into the number of the first failing one; reason and detail
    # are looked up from it (a CASE each would run every condition twice).
    rule = " ".join(f"WHEN {cond} THEN {n}" for n, (cond, _, _) in enumerate(whens, start=1))
    reasons = "[" + ", ".join(sql_literal(r) for _, r, _ in whens) + "]"
    details = "[" + ", ".join(sql_literal(d) if d else "NULL" for _, _, d in whens) + "]"
    return f"CASE {rule} END", f"{reasons}[__rule]", f"CAST({details}[__rule] AS VARCHAR)"


def _final_select(spec: RecordSpec, rule: str, reason: str, detail: str, payload: str, typed: str,
                  extra: str, discarded: str) -> str:
    fields = [quote_ident(f.name) for f in spec.fields]
    derived = [f"{_derived_alias(col)} AS {quote_ident(col)}" for col, _, _ in spec.derived]
    fallback_id = "_file || ':' || CAST(_line AS VARCHAR)"
    # A blank key names nothing: such a record is named by its file and line.
    key = f"CAST(({spec.record_id}) AS VARCHAR)"
    record_id = (f"coalesce(CASE WHEN {blank(key)} THEN NULL ELSE {key} END, {fallback_id})"
                 if spec.record_id else fallback_id)
    return f"""
        SELECT {', '.join(fields + derived)}, CAST({extra} AS JSON) AS {EXTRA_COLUMN}, _file, _line,
               {record_id} AS _record_id, __reason AS _reason, __detail AS _detail,
               CASE WHEN __reason IS NOT NULL THEN {payload} END AS _payload,
               coalesce({discarded}, false) AS _discarded
        FROM (SELECT *, {reason} AS __reason, {detail} AS __detail FROM (SELECT *, {rule} AS __rule FROM {typed}))"""


def _derived_alias(column: str) -> str:
    return quote_ident("__d_" + column)


def _with_derived(spec: RecordSpec, typed: str) -> str:
    """The derived columns computed once, below the rules (a check may read `{derived:NAME}`)."""
    if not spec.derived:
        return typed
    cols = ", ".join(f"CAST({expr} AS {typ}) AS {_derived_alias(col)}" for col, typ, expr in spec.derived)
    return f"(SELECT *, {cols} FROM {typed})"


def _contract_sql(contract: str, has_unknown: str, unknown_object: str) -> tuple[str, str, list]:
    """(extra, discarded, last rules) for a schema contract over a record's undeclared fields."""
    if contract not in CONTRACTS:
        raise ValueError(f"schema contract {contract!r}: use one of {', '.join(CONTRACTS)}")
    if contract == "evolve":
        return f"CASE WHEN {has_unknown} THEN {unknown_object} END", "false", []
    if contract == "discard":
        return "NULL", has_unknown, []
    return "NULL", "false", [(has_unknown, "unexpected_field", "extra")]


_JSON_LEAF_TYPES = ("object", "json", "json_text")


def _top_leaf_types(fields: Sequence[Field]) -> dict[str, str]:
    """The from_json type of each top-level key: VARCHAR unless a field at that key needs its JSON.

    A VARCHAR leaf hands a string back unescaped and any other value as its JSON text: the text a
    field is checked and stored as, with no per-value CASE to unquote it. A key read as an object,
    as JSON, as JSON text kept in a string, or holding nested fields stays JSON.
    """
    leaves = {k: "VARCHAR" for k in _children(fields)[()]}
    for f in fields:
        if "." in f.path:
            # A parent is parsed again from its JSON (an unescaped string there would not parse).
            leaves[f.path.split(".")[0]] = "JSON"
        elif f.type in _JSON_LEAF_TYPES:
            leaves[f.path] = "JSON"
    return leaves


def _json_path(key: str) -> str:
    return "$." + json.dumps(key)


def ndjson_check_sql(spec: RecordSpec, batch: str, future_limit: datetime, contract: str = "evolve") -> str:
    """SELECT over an NDJSON batch (`_file`, `_line`, `_payload`, `_bad_encoding`).

    The line is parsed once into a struct of its top-level values, and once more by json_type for
    the JSON types of the strict top-level fields (both in the same pass over the text); a line
    that is not JSON gives NULL (json_valid), a JSON value that is not an object gives all-NULL
    fields. Nested strict fields are read level by level (`_parse_levels`); nested as-found fields
    from one parse per top-level object (`_lenient_trees`).
    """
    leaves = _top_leaf_types(spec.fields)
    schema = sql_literal(json.dumps(leaves))
    strict_or_top = [f for f in spec.fields if not _is_lenient_deep(f)]
    trees = _lenient_trees(spec.fields)

    def as_text(f: Field) -> bool:
        return _is_lenient_deep(f) or ("." not in f.path and leaves[f.path] == "VARCHAR")

    def value(f: Field) -> str:
        if not _is_lenient_deep(f):
            return _json_value(f.path)
        if not f.fallbacks:
            return _lenient_value(f.path)
        return "coalesce(" + ", ".join(_lenient_value(p) for p in f.paths) + ")"

    values = ", ".join(f"{value(f)} AS __j{i}" for i, f in enumerate(spec.fields))
    strict = [i for i, f in enumerate(spec.fields) if f.strict]
    # Strict top-level fields: their type from the json_type list; nested ones told by the first
    # character of their re-serialized JSON (`_json_kind`).
    typed_top = [i for i in strict if "." not in spec.fields[i].path]
    type_paths = "[" + ", ".join(sql_literal(_json_path(spec.fields[i].path)) for i in typed_top) + "]"
    types = ", ".join(
        (f"__t[{typed_top.index(i) + 1}] AS __jt{i}" if i in typed_top else f"{_json_kind(f'__j{i}')} AS __jt{i}")
        for i in strict)
    texts = ", ".join(
        (f"CAST(__j{i} AS VARCHAR) AS __jx{i}" if as_text(spec.fields[i]) else f"{_json_text(i)} AS __jx{i}")
        for i in strict)
    typed_cols = ", ".join(c for i, f in enumerate(spec.fields)
                           for c in _typed_from_json(f, i, as_text=as_text(f)))
    # json_valid first, not TRY(): TRY makes DuckDB retry failing vectors row by row and costs
    # ~3x the parse itself even when every line is good (0.67 s vs 0.24 s for 113k web events).
    type_list = f", CASE WHEN json_valid(_payload) THEN json_type(_payload, {type_paths}) END AS __t" if typed_top else ""
    # The top-level keys the stream does not declare (distinct: a repeated key would break the map).
    known = "[" + ", ".join(sql_literal(k) for k in _children(spec.fields)[()]) + "]"
    unknown = (f", CASE WHEN json_valid(_payload) AND left(ltrim(_payload), 1) = '{{' THEN list_sort(list_distinct("
               f"list_filter(json_keys(_payload), lambda k: NOT list_contains({known}, k)))) END AS __unknown")
    parsed = (f"(SELECT _file, _line, _payload, _bad_encoding, CASE WHEN json_valid(_payload) THEN "
              f"from_json(_payload, {schema}) END AS __s{type_list}{unknown} FROM {batch})")
    levels = _parse_levels(strict_or_top, parsed)
    if trees:
        lenient = ", ".join(f"from_json(__s.{quote_ident(k)}, {sql_literal(json.dumps(tree))}) AS {_lenient_alias(k)}"
                            for k, tree in trees.items())
        levels = f"(SELECT *, {lenient} FROM {levels})"
    extracted = f"(SELECT *, {values} FROM {levels})"
    with_types = f"(SELECT *, {types} FROM {extracted})" if types else extracted
    with_texts = f"(SELECT *, {texts} FROM {with_types})" if texts else with_types
    ts_cols = ", ".join(c for c in (_json_ts_parse(f, i) for i, f in enumerate(spec.fields)) if c)
    with_ts = f"(SELECT *, {ts_cols} FROM {with_texts})" if ts_cols else with_texts
    typed = f"(SELECT *, {typed_cols} FROM {with_ts})"
    has_unknown = "coalesce(len(__unknown) > 0, false)"
    # JSON pointers (RFC 6901) name any key safely: ~ and / escaped.
    pointer = "'/' || replace(replace(k, '~', '~0'), '/', '~1')"
    unknown_object = (f"to_json(map_from_entries(list_transform(__unknown, lambda k: struct_pack(k := k, "
                      f"v := json_extract(_payload, {pointer})))))")
    extra, discarded, last = _contract_sql(contract, has_unknown, unknown_object)
    rule, reason, detail = _reason_case(
        spec, [("_bad_encoding", "invalid_json", "encoding"), ("__s IS NULL", "invalid_json", None),
               # Valid JSON but not an object (an array, a bare string): not a record either.
               ("left(ltrim(_payload), 1) <> '{'", "invalid_json", "not an object")], future_limit, last)
    return _final_select(spec, rule, reason, detail, "_payload", _with_derived(spec, typed), extra, discarded)


def tabular_check_sql(spec: RecordSpec, batch: str, future_limit: datetime, contract: str = "evolve") -> str:
    """SELECT over a CSV/SQL batch (text columns, `_file`, `_line`, `_payload`, `_malformed`,
    `_bad_encoding`, `_extra`: a JSON object of the columns the stream does not declare).

    A bad row's payload is the row as a JSON object of its text values (recoverable with
    `payload::JSON`); a malformed CSV row keeps its raw text.
    """
    texts = ", ".join(f"{quote_ident(f.path)} AS __txt{i}" for i, f in enumerate(spec.fields))
    source = (f"(SELECT _file, _line, _payload AS __raw_payload, _malformed, _bad_encoding, _extra, {texts} "
              f"FROM {batch})")
    typed_cols = ", ".join(c for i, f in enumerate(spec.fields) for c in _typed_from_text(f, i))
    ts_cols = ", ".join(c for c in (_text_ts_parse(f, i) for i, f in enumerate(spec.fields)) if c)
    with_ts = f"(SELECT *, {ts_cols} FROM {source})" if ts_cols else source
    typed = f"(SELECT *, {typed_cols} FROM {with_ts})"
    extra, discarded, last = _contract_sql(contract, "(_extra IS NOT NULL)", "_extra")
    rule, reason, detail = _reason_case(spec, [("_bad_encoding", "malformed_row", "encoding"),
                                               ("_malformed", "malformed_row", None)], future_limit, last)
    row_json = "CAST(json_object(" + ", ".join(
        f"{sql_literal(f.path)}, __txt{i}" for i, f in enumerate(spec.fields)) + ") AS VARCHAR)"
    return _final_select(spec, rule, reason, detail, f"coalesce(__raw_payload, {row_json})", _with_derived(spec, typed),
                         extra,
                         discarded)
