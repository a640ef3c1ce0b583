"""Settings model of `config/identity.yaml`: merge protection, blocking rules and match thresholds."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.loader import load_config

IDENTIFIER_TYPES = (
    "user_id", "email", "phone", "social_handle", "order_id", "anonymous_id", "device_id",
    # `cdp resolve-file` kinds: a national id (one per person, but typed with errors, so no limit)
    # and any other id column of the file
    "national_id", "external_id",
)

# Named blocking keys; each maps to a fixed SQL expression in identity.blocking (never user text).
BLOCKING_KEYS = (
    "first_name_key", "last_name_key", "first_initial", "last_name_prefix3", "full_name_key",
    "sorted_name", "email", "email_local", "phone", "phone_last7", "birth_date", "birth_year",
    "postcode", "house_number", "city", "street", "country", "region", "national_id",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeterministicSettings(_Strict):
    priority: list[str] = Field(default_factory=lambda: list(IDENTIFIER_TYPES))
    limits: dict[str, int] = Field(default_factory=lambda: {"user_id": 1, "email": 5, "phone": 3})
    blocked_values: list[str] = Field(default_factory=list)
    blocked_patterns: list[str] = Field(default_factory=list)
    max_user_ids_per_value: int = Field(2, ge=1)
    max_names_per_value: int = Field(4, ge=1)

    @field_validator("priority")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in IDENTIFIER_TYPES]
        if unknown:
            raise ValueError(f"unknown identifier type(s) {unknown}; known: {list(IDENTIFIER_TYPES)}")
        missing = [t for t in IDENTIFIER_TYPES if t not in value]
        return list(value) + missing

    @field_validator("limits")
    @classmethod
    def _known_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for key, limit in value.items():
            if key not in IDENTIFIER_TYPES:
                raise ValueError(f"unknown identifier type {key!r}; known: {list(IDENTIFIER_TYPES)}")
            if limit < 1:
                raise ValueError(f"limit for {key} must be at least 1")
        return value

    @field_validator("blocked_patterns")
    @classmethod
    def _valid_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
        return value


class MatchSettings(_Strict):
    enabled: bool = True
    threshold: float = Field(0.97, gt=0, lt=1)
    # "auto": chosen from the attributes present (identity.blocking.AUTO_RULES)
    blocking_rules: Literal["auto"] | list[list[str]] = "auto"
    max_block_size: int = Field(2000, ge=2)
    max_pairs_per_rule: int = Field(50_000_000, ge=1)
    # ... and at most this many per signature (at least 100,000): the largest blocks go first
    max_pairs_per_record: float = Field(2.0, gt=0)
    u_sample_pairs: int = Field(1_000_000, ge=1000)
    # EM sessions train on at most this many pairs each (a pseudo-random share of bigger ones)
    em_sample_pairs: int = Field(500_000, ge=1000)
    em_max_iterations: int = Field(25, ge=1)
    em_tolerance: float = Field(1e-4, gt=0)
    initial_match_share: float = Field(0.1, gt=0, lt=1)
    # "clusters": m from signature pairs inside deterministic clusters (known matches) and the
    # prior from their share of all pairs; "em": m by semi-supervised EM over the candidate pairs.
    # "clusters" falls back to "em" when fewer than min_training_pairs labelled pairs exist.
    m_training: Literal["auto", "clusters", "em"] = "auto"
    min_training_pairs: int = Field(50, ge=1)
    max_signatures_per_cluster_for_training: int = Field(30, ge=2)
    # Share of true matching signature pairs the identifiers find; the prior is divided by it.
    deterministic_recall: float = Field(0.8, gt=0, le=1)
    term_frequency_adjustment: bool = True
    random_seed: int = 42
    # Full runs retrain m/u; false reuses the weights of the last full run (as incremental runs do).
    retrain: bool = True

    @field_validator("blocking_rules")
    @classmethod
    def _known_keys(cls, rules):
        if rules == "auto":
            return rules
        for rule in rules:
            if not rule:
                raise ValueError("a blocking rule needs at least one key")
            unknown = [k for k in rule if k not in BLOCKING_KEYS]
            if unknown:
                raise ValueError(f"unknown blocking key(s) {unknown}; known: {list(BLOCKING_KEYS)}")
        return rules


class Guard(_Strict):
    """An evidence rule in comparison level names (see identity/guards.py)."""
    enabled: bool = True
    description: str = ""
    # a dict: any of its terms; a list of dicts: any of the dicts, all terms of a dict together
    require_any: dict[str, list[str]] | list[dict[str, list[str]]] = Field(default_factory=dict)
    refuse_when: dict[str, list[str]] = Field(default_factory=dict)
    unless: dict[str, list[str]] = Field(default_factory=dict)
    # The veto holds only while the trained model agrees that true matches (almost) never show
    # what the guard refuses, below this share. refuse_when: the m of its levels and of every
    # weaker level of the comparison, summed (a replaced date of birth in 4-7% of FEBRL's
    # duplicates; first names outright different in 11-19% of them, so a merely similar one is no
    # sign of a sibling). require_any: the share of true matches in which none of the evidence
    # holds, comparisons independent. A file whose own matches disagree more often keeps the
    # fields' weights but loses the veto.
    veto_while_m_below: float | None = Field(None, gt=0, le=1)
    # ... and a veto that m lets go still holds while the scored pairs it would refuse are more
    # than this many times what the file's own matches would show by their own noise (look-alikes
    # score above the threshold: households, namesakes). Null: m alone decides.
    veto_while_excess_above: float | None = Field(None, gt=0)


class IdentitySettings(_Strict):
    deterministic: DeterministicSettings = Field(default_factory=DeterministicSettings)
    # `cdp resolve-file`: the identifier kinds of a file that link records by themselves, and how
    # many distinct names an email or phone may carry and still be one person's.
    file_identifiers: list[str] = Field(default_factory=lambda: ["email", "phone", "national_id", "external_id"])
    file_max_names_per_value: int = Field(1, ge=1)
    match: MatchSettings = Field(default_factory=MatchSettings)
    guards: dict[str, Guard] = Field(default_factory=dict)
    debug: bool = False
    default_region: dict[str, str | None] = Field(default_factory=dict)
    # DuckDB's memory during a resolve (its aggregates and temp tables spill to disk beyond it);
    # null leaves DuckDB's default, 80% of the machine's memory.
    memory_limit: str | None = Field("3GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")

    @field_validator("guards")
    @classmethod
    def _valid_guards(cls, guards: dict[str, Guard]) -> dict[str, Guard]:
        from identity.guards import validate  # the level names live in the comparison library

        validate(guards)
        return guards


def load_identity_settings(path: Path | None = None) -> IdentitySettings:
    return load_config("identity", IdentitySettings, path)
