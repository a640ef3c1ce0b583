"""Phone normalization to E.164 with phonenumbers, over distinct (value, region) pairs."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
import polars as pl
from phonenumbers import NumberParseException, PhoneNumberFormat

from identity.normalize._phone_fast import normalize_phone_fast
from identity.normalize._text import CACHE_SIZE, PLACEHOLDERS, map_distinct_frame

PHONE_SCHEMA = {"phone": pl.String, "phone_invalid_reason": pl.String}

_NON_DIGIT = re.compile(r"\D+")
# Ascending and descending digit runs, read cyclically: "1234567890", "0123456", "987654321".
_ASCENDING = "0123456789" * 3
_DESCENDING = "9876543210" * 3
_MEXICO_LEGACY_MOBILE_PREFIXES = ("044", "045")
# Countries tried, when a record has neither a country nor a source default, to read a number
# written without "+": it is taken only when exactly one of them reads it as a valid number.
CANDIDATE_REGIONS = ("ES", "MX", "ID", "US")
# Below this many distinct numbers the per-value path is quicker than the column-wise one.
FAST_MIN_DISTINCT = 256


def _is_placeholder_digits(digits: str) -> bool:
    """Repeated digits or a straight run typed to get past a required field."""
    return len(set(digits)) == 1 or digits in _ASCENDING or digits in _DESCENDING


@lru_cache(maxsize=CACHE_SIZE)
def normalize_phone_value(
    raw: str, region: str | None, strict: bool = False
) -> tuple[str | None, str | None]:
    """(E.164, None) or (None, reason) with reason in unparseable / invalid / placeholder.

    `strict=False` accepts numbers of a possible length for their country even when the number
    range is not allocated (e.g. US 555 area code): such numbers still identify the person who typed
    them consistently, while junk is caught by the placeholder rules.
    """
    text = raw.strip()
    if text.casefold() in PLACEHOLDERS:
        return None, "placeholder"
    digits = _NON_DIGIT.sub("", text)
    if len(digits) < 5:
        return None, "unparseable"
    if _is_placeholder_digits(digits):
        return None, "placeholder"
    region = region.upper() if region else None
    if region == "MX" and not text.startswith("+") and len(digits) == 13 \
            and digits.startswith(_MEXICO_LEGACY_MOBILE_PREFIXES):
        text = digits[3:]  # 044/045 + 10 digits: the pre-2019 national mobile dialing prefix
    if region is None and not text.startswith("+"):
        if digits.startswith("00"):  # "0034 ..." : the international call prefix stands for "+"
            text = "+" + digits[2:]
        else:
            region = _only_valid_region(digits)
            if region is None:
                # "6281234567890": a country code typed without its "+".
                international = _valid_international(digits)
                if international is None:
                    return None, "unparseable"
                text = international
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None, "unparseable"
    national = str(number.national_number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        # "+52 1 ..." mobile form abolished in 2019: the same line is +52 followed by 10 digits.
        number = phonenumbers.parse("+52" + national[1:], None)
        national = national[1:]
    if _is_placeholder_digits(national):
        return None, "placeholder"
    ok = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not ok:
        return None, "invalid"
    return phonenumbers.format_number(number, PhoneNumberFormat.E164), None


def _canonical_input(raw: pl.Series) -> pl.Series:
    """Formatting-free form of a typed number, so "(555) 123-4567" and "555.123.4567" are one
    distinct value: an optional leading "+" and the digits, with any extension dropped. Text with
    letters left after that is kept as typed (it is not a number and will say so)."""
    text = raw.str.strip_chars()
    without_extension = text.str.replace(r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d{1,6}$", "")
    digits = without_extension.str.replace_all(r"\D", "")
    plus = pl.when(without_extension.str.starts_with("+")).then(pl.lit("+")).otherwise(pl.lit(""))
    has_letters = without_extension.str.contains(r"[^\d\s()+\-./]")
    return pl.select(
        pl.when(pl.lit(has_letters) | text.str.to_lowercase().is_in(sorted(PLACEHOLDERS)))
        .then(pl.lit(text))
        .otherwise(pl.concat_str([plus, pl.lit(digits)]))
        .alias("raw")
    ).to_series()


def _only_valid_region(digits: str) -> str | None:
    """The one candidate country in which `digits` is a valid number, else None (none or several)."""
    found = []
    for candidate in CANDIDATE_REGIONS:
        try:
            number = phonenumbers.parse(digits, candidate)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == candidate:
            found.append(candidate)
    return found[0] if len(found) == 1 else None


def _valid_international(digits: str) -> str | None:
    """'+' + digits when that is a valid number (a country code typed without its '+')."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return None
    return "+" + digits if phonenumbers.is_valid_number(number) else None


def normalize_phone(
    s: pl.Series, region: pl.Series | str | None = None, strict: bool = False
) -> pl.DataFrame:
    """Columns `phone` (E.164; null when invalid or absent) and `phone_invalid_reason`.

    `region` is the ISO alpha-2 country the number is read in when it has no `+` prefix: one value
    for all rows, or a series aligned with `s` (the record's country, else the source default).
    Reasons: `unparseable`, `invalid` (impossible length for the country; with `strict`, also a
    number range not in service), `placeholder` (0000000000, 1234567890, repeated digits, n/a).
    """
    if isinstance(region, pl.Series):
        region_series = region.cast(pl.String).str.to_uppercase().rename("region")
    else:
        region_series = pl.Series("region", [region.upper() if region else None] * s.len(), dtype=pl.String)
    keys = pl.DataFrame({"raw": _canonical_input(s.cast(pl.String)), "region": region_series})
    if strict:
        return map_distinct_frame(keys, lambda raw, reg: normalize_phone_value(raw, reg, True), PHONE_SCHEMA)
    # Plain digit strings are read column-wise (identity/normalize/_phone_fast.py, the same answer);
    # the rest, one distinct value at a time by phonenumbers.
    distinct = keys.filter(pl.col("raw").is_not_null()).unique()
    if distinct.height < FAST_MIN_DISTINCT:  # a handful of calls costs less than the column passes
        return map_distinct_frame(keys, normalize_phone_value, PHONE_SCHEMA)
    fast = normalize_phone_fast(distinct)
    slow = distinct.join(fast.select("raw", "region"), on=["raw", "region"], how="anti", nulls_equal=True)
    lookup = pl.concat([fast, map_distinct_frame(slow, normalize_phone_value, PHONE_SCHEMA).with_columns(slow)],
                       how="diagonal_relaxed")
    joined = keys.join(lookup, on=["raw", "region"], how="left", maintain_order="left", nulls_equal=True)
    return joined.select(list(PHONE_SCHEMA))
