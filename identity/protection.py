"""Merge protection: placeholder identifiers that must never link two records.

Real feeds are full of `test@test.com`, `0000000000`, `null`, `anonymous`: typed by people who do
not want to give their data, or by test traffic. Each one, left as a link, fuses strangers.
"""
from __future__ import annotations

import re

import polars as pl

# Compared after lowercasing and trimming; applies to every identifier type.
BUILTIN_BLOCKED_VALUES = frozenset({
    "", "-", "--", ".", "0", "00", "000", "0000000000", "+0000000000", "1234567890", "+1234567890",
    "null", "none", "nil", "nan", "n/a", "na", "undefined", "unknown", "anonymous", "anon",
    "guest", "test", "tester", "testing", "user", "noemail", "no email", "no-email", "xxx",
    "test@test.com", "test@example.com", "email@example.com", "user@example.com",
    "noreply@example.com", "no@email.com", "none@none.com", "a@a.com", "asdf@asdf.com",
    "guest@guest.com", "null@null.com", "na@na.com", "n/a@n/a.com", "anonymous@anonymous.com",
})


def blocked_mask(
    values: pl.Series, extra_values: list[str] | tuple[str, ...] = (), patterns: list[str] | tuple[str, ...] = ()
) -> pl.Series:
    """True where an identifier value is a placeholder (denylist or regex), False otherwise."""
    lowered = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    denylist = list(BUILTIN_BLOCKED_VALUES | {v.strip().lower() for v in extra_values})
    mask = lowered.is_in(denylist).fill_null(False)
    for pattern in patterns:
        try:
            hit = lowered.str.contains(pattern)
        except pl.exceptions.ComputeError:
            # Polars' regex engine has no backreferences; Python's re does (per distinct value)
            compiled = re.compile(pattern)
            hit = lowered.map_elements(lambda v: bool(compiled.search(v)), return_dtype=pl.Boolean)
        mask = mask | hit.fill_null(False)
    return mask


def mask_identifier(value: str | None) -> str | None:
    """A display form that shows enough to recognise a value without revealing it."""
    if value is None:
        return None
    if "@" in value:
        local, _, domain = value.partition("@")
        return (local[:2] + "***@" + domain) if len(local) > 2 else ("***@" + domain)
    if len(value) <= 4:
        return "***"
    return value[:3] + "***" + value[-2:]
