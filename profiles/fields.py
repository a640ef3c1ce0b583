"""The fields of `profiles.customer_360` (golden profile + traits), declared without a warehouse.

Segments are conditions over these fields. `cdp config check` uses this list to catch a segment
that names an unknown field, or reads a key out of a plain field (`email.x`: no profile field holds
JSON), before any data is touched. A test compares it with the view the profile step builds.
"""
from __future__ import annotations

import difflib

from config.profiles import GOLDEN_ATTRIBUTES, ProfilesConfig
from config.segments import AllOf, AnyOf, Comparison, Condition, Not

# Kinds as `profiles.expressions.kind_of` names them.
_GOLDEN_LISTS = ("emails", "phones", "user_ids", "device_ids", "anonymous_ids", "social_handles", "order_ids")
_TRAIT_KINDS = {
    "run_date": "date", "first_seen": "timestamp", "last_seen": "timestamp", "first_order_at": "timestamp",
    "last_order_at": "timestamp", "rfm_score": "text", "rfm_segment": "text", "preferred_channel": "text",
    "email_domain": "text", "email_domain_type": "text", "phone_country": "text", "country_inferred": "text",
    "country_inferred_from": "text", "base_currency": "text",
}


def customer_fields(config: ProfilesConfig | None = None) -> dict[str, str]:
    """Field name -> kind (text, number, date, timestamp, list) of every customer_360 column."""
    from profiles.traits import BUILTIN_TRAITS

    fields: dict[str, str] = {"customer_id": "text"}
    for attr in GOLDEN_ATTRIBUTES:
        fields[attr] = "date" if attr == "birth_date" else "text"
        fields[f"{attr}_source"] = "text"
        fields[f"{attr}_record_id"] = "text"
    fields.update({name: "list" for name in _GOLDEN_LISTS})
    fields.update({"record_count": "number", "sources": "list", "profile_checksum": "text",
                   "updated_at": "timestamp"})
    for name in BUILTIN_TRAITS:
        fields[name] = _TRAIT_KINDS.get(name, "number")
    for trait in (config.traits.custom if config is not None else ()):
        fields[trait.name] = "timestamp" if trait.agg in ("first_time", "last_time") else "number"
    return fields


def _comparisons(condition: Condition):
    if isinstance(condition, Comparison):
        yield condition
    elif isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from _comparisons(item)
    elif isinstance(condition, Not):
        yield from _comparisons(condition.item)


def condition_field_problems(condition: Condition, fields: dict[str, str], prefix: str) -> list[tuple[str, str]]:
    """(key, hint) for each comparison whose field is unknown or reads a key of a plain field."""
    problems = []
    for comparison in _comparisons(condition):
        key = f"{prefix}.{comparison.path}.field" if comparison.path else f"{prefix}.field"
        name = comparison.field
        if name in fields:
            continue
        head, _, rest = name.partition(".")
        if rest and head in fields:
            problems.append((key, f"field {head!r} is {fields[head]}, not JSON: it has no parts to read "
                                  f"with '.{rest}'; use {head!r} itself"))
            continue
        close = difflib.get_close_matches(name, list(fields), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        problems.append((key, f"unknown field {name!r}{hint} (fields are the columns of profiles.customer_360)"))
    return problems


__all__ = ["condition_field_problems", "customer_fields"]
