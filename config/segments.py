"""Segment definitions (`config/segments.yaml`) and the condition language they share with traits.

A condition is a small tree of plain YAML mappings:

    all: [COND, ...]        every condition holds
    any: [COND, ...]        at least one holds
    not: COND               the condition does not hold
    {field: F, op: OP, value: V}   a comparison (`value` omitted for is_null / not_null)

The structure (keys, ops, value shapes) is checked here, when the file is loaded; whether a field
exists and whether the value suits its type is checked against the warehouse when the condition is
compiled (`profiles.expressions`). Conditions are never turned into SQL text: fields become quoted
identifiers from a known list and values become bound parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

OPS_WITHOUT_VALUE = ("is_null", "not_null")
SCALAR_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains")
LIST_OPS = ("in", "not_in")
OPS = SCALAR_OPS + LIST_OPS + ("between",) + OPS_WITHOUT_VALUE

# A field is a column name, optionally followed by `.key` parts into a JSON/struct column.
FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
SEGMENT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class ConditionError(ValueError):
    """A problem in a condition; `path` says where inside it (e.g. `all[1].op`)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    value: Any
    path: str  # where this comparison sits in its condition, for error messages


@dataclass(frozen=True)
class AllOf:
    items: tuple["Condition", ...]
    path: str


@dataclass(frozen=True)
class AnyOf:
    items: tuple["Condition", ...]
    path: str


@dataclass(frozen=True)
class Not:
    item: "Condition"
    path: str


Condition = Union[Comparison, AllOf, AnyOf, Not]

_SCALAR_TYPES = (str, int, float, bool)


def _is_scalar(value: Any) -> bool:
    # YAML gives dates as datetime.date: allowed as comparison values.
    import datetime as _dt

    return isinstance(value, _SCALAR_TYPES + (_dt.date, _dt.datetime))


def parse_condition(obj: Any, path: str = "") -> Condition:
    """Check a condition's structure and return its tree; ConditionError names the exact spot."""
    here = path or "(top)"
    if isinstance(obj, Comparison | AllOf | AnyOf | Not):
        return obj
    if not isinstance(obj, dict):
        raise ConditionError(here, "a condition must be a mapping: {all: [...]}, {any: [...]}, {not: ...} "
                             "or {field: F, op: OP, value: V}")
    keys = set(obj)
    join = lambda k: f"{path}.{k}" if path else k  # noqa: E731
    for group, cls in (("all", AllOf), ("any", AnyOf)):
        if group in keys:
            if keys != {group}:
                raise ConditionError(here, f"`{group}` must stand alone; found extra keys "
                                     f"{sorted(keys - {group})}: nest them inside the list")
            items = obj[group]
            if not isinstance(items, list) or not items:
                raise ConditionError(join(group), "must be a non-empty list of conditions")
            return cls(tuple(parse_condition(item, f"{join(group)}[{i}]") for i, item in enumerate(items)),
                       path)
    if "not" in keys:
        if keys != {"not"}:
            raise ConditionError(here, f"`not` must stand alone; found extra keys {sorted(keys - {'not'})}")
        return Not(parse_condition(obj["not"], join("not")), path)
    unknown = keys - {"field", "op", "value"}
    if unknown:
        raise ConditionError(here, f"unknown key(s) {sorted(unknown)}; a comparison has field, op, value "
                             "and groups use all / any / not")
    if "field" not in obj:
        raise ConditionError(here, "missing `field` (the profile field or trait to test)")
    field = obj["field"]
    if not isinstance(field, str) or not FIELD_PATTERN.match(field):
        raise ConditionError(join("field"), "must be a field name like `country` or `properties.category`")
    op = obj.get("op", "eq")
    if op not in OPS:
        raise ConditionError(join("op"), f"unknown op {op!r}; use one of {', '.join(OPS)}")
    has_value = "value" in obj
    value = obj.get("value")
    if op in OPS_WITHOUT_VALUE:
        if has_value and value is not None:
            raise ConditionError(join("value"), f"`{op}` takes no value; remove it")
        return Comparison(field, op, None, path)
    if not has_value or value is None:
        raise ConditionError(join("value"), f"`{op}` needs a value (use is_null / not_null to test for missing)")
    if op in LIST_OPS:
        if not isinstance(value, list) or not value or not all(_is_scalar(v) for v in value):
            raise ConditionError(join("value"), f"`{op}` needs a non-empty list of plain values, e.g. [ES, MX]")
    elif op == "between":
        if not isinstance(value, list) or len(value) != 2 or not all(_is_scalar(v) for v in value):
            raise ConditionError(join("value"), "`between` needs a list of two values [low, high] (both included)")
    elif not _is_scalar(value):
        raise ConditionError(join("value"), f"`{op}` needs one plain value (text, number, true/false or date)")
    return Comparison(field, op, value, path)


class SegmentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    where: Any = Field(description="the membership condition")
    marketing: bool = Field(True, description="exports of this segment are marketing: consent applies")
    purposes: list[Literal["marketing", "analytics"]] | None = Field(
        None, description="consent purposes every export of this segment needs (default: marketing, "
        "unless `marketing: false`)")

    @property
    def consent_purposes(self) -> list[str]:
        """The consent purposes a member must have granted to be exported."""
        if self.purposes is not None:
            return sorted(set(self.purposes))
        return ["marketing"] if self.marketing else []

    @field_validator("where")
    @classmethod
    def _check_where(cls, value: Any) -> Condition:
        try:
            return parse_condition(value, "where")
        except ConditionError as exc:
            raise ValueError(str(exc)) from None


class SegmentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segments: dict[str, SegmentDefinition] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _check_names(cls, value: dict[str, SegmentDefinition]) -> dict[str, SegmentDefinition]:
        for name in value:
            if not SEGMENT_NAME_PATTERN.match(name):
                raise ValueError(f"segment name {name!r} must be lowercase letters, digits and _ "
                                 "(it becomes part of file names)")
        return value


def load_segments_config(path=None) -> SegmentsConfig:
    from config.loader import load_config

    return load_config("segments", SegmentsConfig, path)


CONFIG_MODEL = SegmentsConfig
