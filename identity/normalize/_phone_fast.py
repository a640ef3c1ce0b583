"""The phonenumbers reading of plain digit strings, vectorized with Polars: the same answer, no loop.

`normalize_phone_value` costs about 35 µs a number (phonenumbers' `parse` is pure Python), and a
customer file has about one distinct number per person. For the common input -- "+" and digits, or
digits read in a known region, as `_canonical_input` leaves them -- `parse` is a short, fixed
sequence of decisions, each a regex of the number's own metadata or a length lookup:

1. "+" or the region's international prefix (`00`, `011`), then the country code: the first one,
   two or three digits that are a calling code;
2. else, digits starting with the region's own calling code lose it when that turns an impossible
   national number into a possible one (or the whole is too long);
3. the national prefix (`0`, `1`) is stripped when what remains still matches the country's
   number pattern and has a possible length;
4. `is_possible_number` is a length lookup; E.164 is `+`, the calling code and what remains.

This module runs those steps column-wise with the metadata's own patterns (RE2 syntax, which
Polars' regex engine reads as phonenumbers' `re` does) and length tables built by phonenumbers'
own `_test_number_length`. Whatever falls outside -- letters, a region without metadata, a
national-prefix transform rule (Argentina, Brazil, ...), a plus followed by no calling code, no
region for a number without "+" -- is left to the per-value path, and so is everything if the
installed phonenumbers no longer agrees on a built-in set of numbers (checked once per process).
`benchmarks/normalize_equality.py` and tests/identity/test_normalize_equality.py compare the two
paths value for value.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

_ASCENDING = "0123456789" * 3
_DESCENDING = "9876543210" * 3
_MIN_LENGTH_FOR_NSN = 2
_MAX_LENGTH_FOR_NSN = 17
# Canonical inputs the fast path reads: "+"? then 5 to 20 ASCII digits. Shorter ones are refused
# before parsing by the per-value path; longer ones are rare and left to it.
_FAST_INPUT = r"^\+?[0-9]{5,20}$"
# `_test_number_length` outcomes, as the small codes the length tables hold.
_POSSIBLE, _LOCAL_ONLY, _TOO_SHORT, _TOO_LONG, _INVALID_LENGTH = "possible", "local", "short", "long", "invalid"


@dataclass(frozen=True)
class _Meta:
    """What `parse` reads from one region's (or calling code's) metadata."""

    country_code: str
    idd: str | None             # "^(?:international prefix)"
    national_prefix: str | None  # "^(?:national prefix for parsing)"
    general: str | None         # "^(?:national number pattern)$"
    lengths: dict[int, str]     # national number length -> _test_number_length outcome


def _available() -> bool:
    try:
        from phonenumbers import PhoneMetadata  # noqa: F401
        from phonenumbers.phonenumberutil import (  # noqa: F401
            COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS, ValidationResult, _test_number_length,
            region_code_for_country_code,
        )
    except ImportError:  # pragma: no cover - a phonenumbers release that moved its internals
        return False
    return True


@lru_cache(maxsize=None)
def _meta(key: str) -> _Meta | None:
    """Metadata for a region code ("ES") or a non-geographic calling code ("001:800"); None when
    phonenumbers has none or it needs what this module does not model (a transform rule)."""
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import ValidationResult, _test_number_length

    if key.startswith("001:"):
        metadata = PhoneMetadata.metadata_for_nongeo_region(int(key[4:]), None)
    else:
        metadata = PhoneMetadata.metadata_for_region(key, None)
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    outcome = {
        ValidationResult.IS_POSSIBLE: _POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY: _LOCAL_ONLY,
        ValidationResult.TOO_SHORT: _TOO_SHORT, ValidationResult.TOO_LONG: _TOO_LONG,
        ValidationResult.INVALID_LENGTH: _INVALID_LENGTH,
    }
    # The outcome depends on the length alone; 0..30 covers every string this module builds.
    lengths = {n: outcome[_test_number_length("0" * n, metadata)] for n in range(0, 31)}
    general = metadata.general_desc.national_number_pattern if metadata.general_desc else None
    meta = _Meta(
        country_code=str(metadata.country_code),
        idd=f"^(?:{metadata.international_prefix})" if metadata.international_prefix else None,
        national_prefix=f"^(?:{metadata.national_prefix_for_parsing})" if metadata.national_prefix_for_parsing else None,
        general=f"^(?:{general})$" if general else None,
        lengths=lengths,
    )
    try:  # a pattern Polars' engine cannot read (none in phonenumbers 9) sends the rows back
        pl.select(*(pl.lit("0").str.contains(p).alias(str(i))
                    for i, p in enumerate((meta.idd, meta.national_prefix, meta.general)) if p))
    except pl.exceptions.PolarsError:  # pragma: no cover
        return None
    return meta


@lru_cache(maxsize=None)
def _calling_codes() -> dict[str, str]:
    """Calling code (text) -> the metadata key `parse` and `is_possible_number` use for it."""
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, region_code_for_country_code

    codes = {}
    for code in COUNTRY_CODE_TO_REGION_CODE:
        region = region_code_for_country_code(code)
        codes[str(code)] = f"001:{code}" if region == "001" else region
    return codes


def _matches_general(number: pl.Expr, meta: _Meta) -> pl.Expr:
    return number.str.contains(meta.general) if meta.general else pl.lit(False)


def _length_outcome(number: pl.Expr, meta: _Meta) -> pl.Expr:
    return number.str.len_bytes().replace_strict(meta.lengths, default=_TOO_LONG, return_dtype=pl.String)


def _strip_national_prefix(number: pl.Expr, meta: _Meta) -> pl.Expr:
    """`_maybe_strip_national_prefix_carrier_code` without a transform rule."""
    if meta.national_prefix is None:
        return number
    prefix = number.str.extract(meta.national_prefix, 0)
    rest = number.str.slice(prefix.str.len_bytes())
    keep = prefix.is_null() | (_matches_general(number, meta) & ~_matches_general(rest, meta))
    return pl.when(keep).then(number).otherwise(rest)


def _split_calling_code(full: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(calling code or null, rest): `_extract_country_code`."""
    codes = list(_calling_codes())
    code = (
        pl.when(full.str.starts_with("0")).then(pl.lit(None, pl.String))
        .when(full.str.slice(0, 1).is_in(codes)).then(full.str.slice(0, 1))
        .when(full.str.slice(0, 2).is_in(codes)).then(full.str.slice(0, 2))
        .when(full.str.slice(0, 3).is_in(codes)).then(full.str.slice(0, 3))
    )
    return code, full.str.slice(code.str.len_bytes())


def _by_key(frame: pl.DataFrame, key: str, step) -> pl.DataFrame:
    """Apply `step(part, meta)` to each part of `frame` sharing one metadata key; rows whose key has
    no usable metadata get `fast` = False."""
    parts = []
    for (value,), part in frame.partition_by(key, as_dict=True, maintain_order=True).items():
        meta = _meta(value) if value is not None else None
        parts.append(step(part, meta) if meta is not None else part.with_columns(fast=pl.lit(False)))
    if not parts:  # an empty frame still gets the step's columns
        return step(frame, _Meta(country_code="0", idd=None, national_prefix=None, general=None, lengths={}))
    return pl.concat(parts, how="diagonal_relaxed")


def _parse(frame: pl.DataFrame) -> pl.DataFrame:
    """`phonenumbers.parse` of columns d (digits), plus (bool), region (key or null).

    Adds cc (calling code), nsn (national significant number), error (True where parse raises)
    and fast (False where the rows must go to the per-value path)."""
    codes = _calling_codes()
    frame = frame.with_columns(fast=pl.lit(True), error=pl.lit(False), cc=pl.lit(None, pl.String),
                               national=pl.lit(None, pl.String), final_key=pl.lit(None, pl.String))

    def read_region(part: pl.DataFrame, meta: _Meta) -> pl.DataFrame:
        d = pl.col("d")
        # 1. the region's international prefix, unless a 0 follows it (no calling code starts with 0)
        if meta.idd:
            idd = d.str.extract(meta.idd, 0)
            rest = d.str.slice(idd.str.len_bytes())
            by_idd = idd.is_not_null() & (rest.str.slice(0, 1) != "0")
        else:
            rest, by_idd = d, pl.lit(False)
        code, national = _split_calling_code(rest)
        # 2. the region's own calling code typed without "+"
        own = meta.country_code
        own_national = _strip_national_prefix(d.str.slice(len(own)), meta)
        own_taken = d.str.starts_with(own) & (
            (~_matches_general(d, meta) & _matches_general(own_national, meta))
            | (_length_outcome(d, meta) == _TOO_LONG)
        )
        return part.with_columns(
            error=pl.when(by_idd).then((rest.str.len_bytes() <= _MIN_LENGTH_FOR_NSN) | code.is_null())
            .otherwise(pl.lit(False)),
            cc=pl.when(by_idd).then(code).otherwise(pl.lit(own)),
            national=pl.when(by_idd).then(national).when(own_taken).then(own_national).otherwise(d),
            final_key=pl.when(by_idd).then(code.replace_strict(codes, default=None))
            .when(own_taken).then(pl.lit(codes.get(own), pl.String)).otherwise(pl.col("region")),
        )

    plus = frame.filter(pl.col("plus"))
    code, national = _split_calling_code(pl.col("d"))
    plus = plus.with_columns(cc=code, national=national, final_key=code.replace_strict(codes, default=None))
    # "+0..." or "+" and no calling code: parse retries without the "+"; left to the slow path.
    plus = plus.with_columns(fast=pl.col("cc").is_not_null())
    national_rows = _by_key(frame.filter(~pl.col("plus")), "region", read_region)
    frame = pl.concat([plus, national_rows], how="diagonal_relaxed")

    def strip(part: pl.DataFrame, meta: _Meta) -> pl.DataFrame:
        # 3. the national prefix goes when what remains has a possible length (or is too long)
        n = pl.col("national")
        stripped = _strip_national_prefix(n, meta)
        keep_stripped = _length_outcome(stripped, meta).is_in([_POSSIBLE, _TOO_LONG])
        return part.with_columns(nsn=pl.when(keep_stripped).then(stripped).otherwise(n))

    settled = frame.filter(pl.col("error") | ~pl.col("fast"))
    frame = _by_key(frame.filter(~pl.col("error") & pl.col("fast")), "final_key", strip)
    frame = frame.with_columns(
        error=(pl.col("national").str.len_bytes() < _MIN_LENGTH_FOR_NSN)
        | (pl.col("nsn").str.len_bytes() < _MIN_LENGTH_FOR_NSN)
        | (pl.col("nsn").str.len_bytes() > _MAX_LENGTH_FOR_NSN)
    )
    return pl.concat([frame, settled], how="diagonal_relaxed")


def _possible(frame: pl.DataFrame) -> pl.DataFrame:
    """Column possible: `is_possible_number` (the calling code's main metadata, by length)."""
    codes = _calling_codes()
    frame = frame.with_columns(possible_key=pl.col("cc").replace_strict(codes, default=None))

    def check(part: pl.DataFrame, meta: _Meta) -> pl.DataFrame:
        return part.with_columns(possible=_length_outcome(pl.col("nsn"), meta).is_in([_POSSIBLE, _LOCAL_ONLY]))

    return _by_key(frame, "possible_key", check)


def _is_placeholder(digits: pl.Expr) -> pl.Expr:
    """`_is_placeholder_digits`: one repeated digit, or a run of the cycle 0123456789 either way."""
    repeated = digits.str.contains(r"^(?:0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)$")
    return repeated | pl.lit(_ASCENDING).str.contains(digits, literal=True) \
        | pl.lit(_DESCENDING).str.contains(digits, literal=True)


def normalize_phone_fast(keys: pl.DataFrame) -> pl.DataFrame:
    """Distinct (raw, region) rows -> raw, region, phone, phone_invalid_reason, for the rows this
    path can read; the others are absent from the result (the caller reads them one by one)."""
    if not _enabled():
        return keys.head(0).with_columns(phone=pl.lit(None, pl.String), phone_invalid_reason=pl.lit(None, pl.String))
    return _read(keys)


def _read(keys: pl.DataFrame) -> pl.DataFrame:
    raw, region = pl.col("raw"), pl.col("region")
    candidates = keys.with_row_index("_row").filter(raw.str.contains(_FAST_INPUT))
    frame = candidates.with_columns(plus=raw.str.starts_with("+"), d=raw.str.strip_prefix("+"))
    # A number without "+" needs a region phonenumbers knows: else the per-value path.
    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS

    frame = frame.filter(pl.col("plus") | region.is_in(sorted(SUPPORTED_REGIONS)))
    placeholder = _is_placeholder(pl.col("d"))
    # "044 55 1234 5678": the pre-2019 Mexican mobile prefix before ten digits (as typed).
    legacy = (region == "MX") & ~pl.col("plus") & (pl.col("d").str.len_bytes() == 13) \
        & pl.col("d").str.contains(r"^04[45]")
    frame = frame.with_columns(
        placeholder=placeholder, d=pl.when(legacy).then(pl.col("d").str.slice(3)).otherwise(pl.col("d")),
    )
    done = frame.filter(pl.col("placeholder")).select(
        "_row", phone=pl.lit(None, pl.String), phone_invalid_reason=pl.lit("placeholder"))
    parsed = _parse(frame.filter(~pl.col("placeholder")))
    parsed = parsed.filter(pl.col("fast"))
    failed = parsed.filter(pl.col("error")).select(
        "_row", phone=pl.lit(None, pl.String), phone_invalid_reason=pl.lit("unparseable"))
    parsed = parsed.filter(~pl.col("error"))
    significant = pl.col("nsn").str.strip_chars_start("0").replace("", "0")  # str(national_number)
    # "+52 1 ...": the abolished Mexican mobile "1" after the calling code, parsed again without it
    fold = (pl.col("cc") == "52") & (significant.str.len_bytes() == 11) & significant.str.starts_with("1")
    parsed = parsed.with_columns(checked=pl.when(fold).then(significant.str.slice(1)).otherwise(significant), fold=fold)
    refolded = parsed.filter(pl.col("fold"))
    if refolded.height:
        again = _parse(refolded.select("_row", "checked", "region", d=pl.lit("52") + pl.col("checked"), plus=pl.lit(True)))
        # a second parse that fails raises in the per-value path too: leave such rows to it
        again = again.filter(pl.col("fast") & ~pl.col("error"))
        parsed = pl.concat([parsed.filter(~pl.col("fold")), again], how="diagonal_relaxed")
    parsed = parsed.with_columns(placeholder=_is_placeholder(pl.col("checked")))
    placeholders = parsed.filter(pl.col("placeholder")).select(
        "_row", phone=pl.lit(None, pl.String), phone_invalid_reason=pl.lit("placeholder"))
    checked = _possible(parsed.filter(~pl.col("placeholder"))).filter(pl.col("fast")).select(
        "_row",
        phone=pl.when(pl.col("possible")).then(pl.lit("+") + pl.col("cc") + pl.col("nsn")),
        phone_invalid_reason=pl.when(pl.col("possible")).then(pl.lit(None, pl.String)).otherwise(pl.lit("invalid")),
    )
    results = pl.concat([done, failed, placeholders, checked], how="vertical_relaxed")
    return candidates.select("_row", "raw", "region").join(results, on="_row", how="inner").drop("_row")


# Numbers whose reading exercises every branch above, checked against phonenumbers once per process.
SELF_CHECK = (
    ("+34612345678", None), ("612345678", "ES"), ("0034612345678", "ES"), ("34612345678", "ES"),
    ("3461234567", "ES"), ("+5215512345678", None), ("5215512345678", "MX"), ("0445512345678", "MX"),
    ("5512345678", "MX"), ("+525512345678", "MX"), ("0015512345678", "MX"), ("+6281234567890", None),
    ("081234567890", "ID"), ("6281234567890", "ID"), ("0081234567890", "ID"), ("+62081234567890", "ID"),
    ("2125551234", "US"), ("12125551234", "US"), ("011442071234567", "US"), ("+12125551234", None),
    ("5551234", "US"), ("+442071234567", "ES"), ("02071234567", "GB"), ("+4402071234567", None),
    ("+80017345678", None), ("0612345678", "ES"), ("00000", "ES"), ("1234567890", "US"),
    ("0000612345", "ES"), ("+3900612345678", None), ("063456789", "IT"),
    ("+5201234567890", None), ("00612345678", "ES"), ("+99912345", None),
    ("3461234567890123456789", "US"), ("91123456789", "AR"), ("612ABC678", "ES"), ("612345678", None),
)


# Of SELF_CHECK, those left to phonenumbers: "+" and no calling code, more than 20 digits, a region
# with a transform rule, letters, no region.
SELF_CHECK_SLOW = (("+99912345", None), ("3461234567890123456789", "US"), ("91123456789", "AR"),
                   ("612ABC678", "ES"), ("612345678", None))


@lru_cache(maxsize=1)
def _enabled() -> bool:
    """The fast path is on only where it agrees with phonenumbers on SELF_CHECK."""
    if not _available():  # pragma: no cover
        return False
    from identity.normalize.phone import normalize_phone_value

    keys = pl.DataFrame({"raw": [r for r, _ in SELF_CHECK], "region": [g for _, g in SELF_CHECK]},
                        schema={"raw": pl.String, "region": pl.String})
    fast = _read(keys)
    expected = {(r, g): normalize_phone_value(r, g) for r, g in SELF_CHECK}
    # every number of the check but those the fast path is built to leave to phonenumbers
    return fast.height == len(SELF_CHECK) - len(SELF_CHECK_SLOW) and all(
        expected[(r, g)] == (phone, reason) for r, g, phone, reason in fast.iter_rows()
    )
