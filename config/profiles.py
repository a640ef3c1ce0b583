"""Settings for golden profiles and computed traits (`config/profiles.yaml`)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.segments import ConditionError, parse_condition

GOLDEN_ATTRIBUTES = (
    "first_name", "last_name", "full_name", "email", "phone", "street", "house_number", "city",
    "postcode", "region", "country", "birth_date",
)
RULES = ("most_recent", "most_frequent", "source_priority", "most_complete")
Rule = Literal["most_recent", "most_frequent", "source_priority", "most_complete"]
TRAIT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttributeGroup(_Strict):
    """Attributes taken together from ONE winning record (an address must not mix two homes)."""

    attributes: list[str]
    rule: list[Rule] = Field(default_factory=lambda: ["most_recent"])

    @field_validator("rule", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("attributes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in GOLDEN_ATTRIBUTES]
        if bad:
            raise ValueError(f"unknown attribute(s) {bad}; golden attributes are {', '.join(GOLDEN_ATTRIBUTES)}")
        if not value:
            raise ValueError("a group needs at least one attribute")
        return value


class GoldenConfig(_Strict):
    source_priority: list[str] = Field(default_factory=lambda: ["transactions", "web", "app", "social"])
    default_rule: list[Rule] = Field(default_factory=lambda: ["most_recent"])
    # Groups of attributes chosen from one record; attributes not in a group are chosen one by one
    # with `rules[attr]` or `default_rule`.
    groups: dict[str, AttributeGroup] = Field(default_factory=dict)
    rules: dict[str, list[Rule]] = Field(default_factory=dict)

    @field_validator("default_rule", mode="before")
    @classmethod
    def _default_one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("rules", mode="before")
    @classmethod
    def _rules_one_or_many(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "GoldenConfig":
        bad = [a for a in self.rules if a not in GOLDEN_ATTRIBUTES]
        if bad:
            raise ValueError(f"rules: unknown attribute(s) {bad}; golden attributes are {', '.join(GOLDEN_ATTRIBUTES)}")
        seen: dict[str, str] = {}
        for name, group in self.groups.items():
            for attr in group.attributes:
                if attr in seen:
                    raise ValueError(f"attribute {attr!r} is in groups {seen[attr]!r} and {name!r}; keep it in one")
                if attr in self.rules:
                    raise ValueError(f"attribute {attr!r} has a rule of its own but is in group {name!r}; "
                                     "remove one of the two")
                seen[attr] = name
        return self

    def selection_units(self) -> list[tuple[str, list[str], list[str]]]:
        """(unit name, attributes, rule chain) for every golden attribute, grouped ones together."""
        units, grouped = [], set()
        for name, group in self.groups.items():
            units.append((name, list(group.attributes), list(group.rule)))
            grouped.update(group.attributes)
        for attr in GOLDEN_ATTRIBUTES:
            if attr not in grouped:
                units.append((attr, [attr], list(self.rules.get(attr, self.default_rule))))
        return units


class StreamSpec(_Strict):
    """How a raw stream joins to customers: its source name, record key column and time column."""

    source: str
    key: str
    time: str


class CustomTrait(_Strict):
    """A trait declared in config: an aggregation over a raw stream, filtered, in a time window."""

    name: str
    stream: str
    agg: Literal["count", "count_distinct", "sum", "avg", "min", "max", "first_time", "last_time"] = "count"
    field: str | None = None
    where: Any = None
    window_days: int | None = Field(None, gt=0)
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TRAIT_NAME.match(value):
            raise ValueError("a trait name is lowercase letters, digits and _ (it becomes a column)")
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: Any) -> Any:
        if value is None:
            return None
        try:
            return parse_condition(value, "where")
        except ConditionError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _field_needed(self) -> "CustomTrait":
        if self.agg in ("count_distinct", "sum", "avg", "min", "max") and not self.field:
            raise ValueError(f"agg {self.agg!r} needs `field` (the column to aggregate)")
        return self


class RfmSegmentRule(_Strict):
    """An RFM segment: recency and frequency score ranges (1-5, both ends included); first match wins."""

    name: str
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)


class TraitsConfig(_Strict):
    run_date: dt.date | None = Field(None, description="days-since figures are relative to it; "
                                     "default: the latest event date in the data")
    base_currency: str = "EUR"
    currency_rates: dict[str, float] = Field(default_factory=lambda: {"EUR": 1.0})
    revenue_statuses: list[str] = Field(default_factory=lambda: ["completed"])
    free_mail_domains: list[str] = Field(default_factory=list)
    rfm_segments: list[RfmSegmentRule] = Field(default_factory=list)
    no_orders_segment: str = "Prospect"
    streams: dict[str, StreamSpec] = Field(default_factory=dict)
    custom: list[CustomTrait] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "TraitsConfig":
        if self.base_currency not in self.currency_rates:
            raise ValueError(f"currency_rates must include the base currency {self.base_currency!r} (rate 1.0)")
        names = [t.name for t in self.custom]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"custom traits {dupes} are declared twice")
        unknown = sorted({t.stream for t in self.custom} - set(self.streams))
        if unknown:
            raise ValueError(f"custom traits use unknown stream(s) {unknown}; known: {sorted(self.streams)}")
        return self


class ProfilesConfig(_Strict):
    golden: GoldenConfig = Field(default_factory=GoldenConfig)
    traits: TraitsConfig = Field(default_factory=TraitsConfig)


def load_profiles_config(path=None) -> ProfilesConfig:
    from config.loader import load_config

    return load_config("profiles", ProfilesConfig, path)


CONFIG_MODEL = ProfilesConfig
