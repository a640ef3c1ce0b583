"""`normalize_frame`: staging.customer_records -> identity.normalized_records."""
from __future__ import annotations

import polars as pl

from identity.normalize._text import as_text_series, clean
from identity.normalize.address import (
    city_key, normalize_country, normalize_postcode, normalize_street, region_key,
)
from identity.normalize.dates import parse_birth_date
from identity.normalize.email import normalize_email
from identity.normalize.names import (
    composed_name_key, display_name, name_key, name_key_parts, split_full_name,
)
from identity.normalize.phone import normalize_phone

# Columns of staging.customer_records this step reads (all text except event_time).
INPUT_COLUMNS = (
    "source", "stream", "record_id", "record_type", "event_time", "load_id", "anonymous_id",
    "previous_id", "user_id", "device_id", "email", "phone", "first_name", "last_name",
    "full_name", "street", "city", "postcode", "region", "country", "birth_date",
    "social_handle", "order_id",
)
# identity.normalized_records, in order.
OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String, "record_id": pl.String, "event_time": pl.Datetime("us", "UTC"),
    "anonymous_id": pl.String, "previous_id": pl.String, "user_id": pl.String,
    "device_id": pl.String, "order_id": pl.String, "social_handle": pl.String,
    "email": pl.String, "email_invalid_reason": pl.String,
    "phone": pl.String, "phone_invalid_reason": pl.String,
    "first_name": pl.String, "last_name": pl.String, "full_name": pl.String,
    "first_name_key": pl.String, "last_name_key": pl.String, "full_name_key": pl.String,
    "street": pl.String, "house_number": pl.String, "city": pl.String, "postcode": pl.String,
    "region": pl.String, "country": pl.String, "birth_date": pl.Date,
}
_IDENTIFIERS = ("anonymous_id", "previous_id", "user_id", "device_id", "order_id")


def _event_time(df: pl.DataFrame) -> pl.Series:
    """event_time as UTC Datetime(us); text input is parsed, a missing column gives nulls."""
    dtype = OUTPUT_SCHEMA["event_time"]
    if "event_time" not in df.columns:
        return pl.Series("event_time", [None] * df.height, dtype=dtype)
    s = df.get_column("event_time")
    if s.dtype == pl.String:
        s = s.str.to_datetime(time_zone="UTC", strict=False)
    if isinstance(s.dtype, pl.Datetime):
        if s.dtype.time_zone is None:
            s = s.dt.replace_time_zone("UTC")
        return s.dt.convert_time_zone("UTC").dt.cast_time_unit("us").rename("event_time")
    return s.cast(dtype).rename("event_time")


# Fields normalized through per-value work; records repeating the same combination of them
# (every event of a signed-in visitor, say) are normalized once.
_PII_COLUMNS = (
    "email", "phone", "first_name", "last_name", "full_name", "street", "city", "postcode",
    "region", "country", "birth_date",
)
ROW_KEY = ("__pii_hash_a", "__pii_hash_b")


def normalize_frame(df: pl.DataFrame, default_region: str | None = None) -> pl.DataFrame:
    """Normalize identity-bearing records for matching; one output row per input row, same order.

    `default_region` (ISO alpha-2, per source from config) is the country a phone number without
    `+` is read in when the record has no country of its own.
    """
    plain, pii = split_records(df)
    distinct = pii.unique(subset=list(ROW_KEY), keep="any")
    return join_normalized(plain, pii, normalize_pii(distinct, default_region))


def split_records(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the columns normalized column-wise, already done; the raw PII columns plus the row key).

    Only distinct PII rows need `normalize_pii`, the per-value part: `parallel_normalize` ships
    just those to its workers.
    """
    n = df.height

    def raw(name: str) -> pl.Series:
        return as_text_series(df.get_column(name) if name in df.columns else None, n, name)

    out: dict[str, pl.Series] = {
        "source": clean(raw("source")),
        "record_id": raw("record_id"),
        "event_time": _event_time(df),
    }
    for column in _IDENTIFIERS:
        out[column] = clean(raw(column))
    handle = clean(raw("social_handle")).str.strip_chars_start("@").str.strip_chars().str.to_lowercase()
    out["social_handle"] = handle.replace("", None)

    # Two independently seeded 64-bit hashes of the PII tuple key the distinct rows: a collision
    # would need both to collide at once (~1e-20 at 1e9 rows).
    pii = pl.DataFrame([raw(c) for c in _PII_COLUMNS])
    pii = pii.with_columns(
        pl.struct(_PII_COLUMNS).hash(seed=0x5EED).alias(ROW_KEY[0]),
        pl.struct(_PII_COLUMNS).hash(seed=0xC0FFEE).alias(ROW_KEY[1]),
    )
    return pl.DataFrame(list(out.values())), pii


def join_normalized(plain: pl.DataFrame, pii: pl.DataFrame, normalized: pl.DataFrame) -> pl.DataFrame:
    """identity.normalized_records from `split_records`' parts and `normalize_pii` of the distinct rows."""
    rows = pii.select(ROW_KEY).join(normalized, on=list(ROW_KEY), how="left", maintain_order="left")
    out = {name: plain.get_column(name) for name in plain.columns}
    for column in normalized.columns:
        if column not in ROW_KEY:
            out[column] = rows.get_column(column)
    return pl.DataFrame([out[name].rename(name) for name in OUTPUT_SCHEMA]).cast(OUTPUT_SCHEMA)


def _key(parts: pl.DataFrame) -> pl.Series:
    """`name_key` from `name_key_parts`."""
    return parts.select(pl.coalesce("kept", "folded")).to_series()


def normalize_pii(distinct: pl.DataFrame, default_region: str | None) -> pl.DataFrame:
    """The normalized PII columns (plus the row key) for distinct raw PII rows."""
    def text(name: str) -> pl.Series:
        return clean(distinct.get_column(name))

    country = normalize_country(text("country")).rename("country")
    # The raw email column distinguishes blank from absent; cleaned text would hide that.
    email = normalize_email(distinct.get_column("email"))
    phone_region = country.fill_null(default_region.upper()) if default_region else country
    phone = normalize_phone(distinct.get_column("phone"), phone_region)

    raw_first, raw_last, raw_full = text("first_name"), text("last_name"), text("full_name")
    split = split_full_name(raw_full)
    needs_split = raw_first.is_null() & raw_last.is_null()
    first = display_name(raw_first.zip_with(~needs_split, split.get_column("first_name")))
    last = display_name(raw_last.zip_with(~needs_split, split.get_column("last_name")))
    composed = pl.select(
        pl.concat_str([pl.lit(first), pl.lit(last)], separator=" ", ignore_nulls=True)
        .replace("", None).alias("full_name")
    ).to_series()
    given_full = display_name(raw_full)
    full = given_full.fill_null(composed).rename("full_name")
    first_parts, last_parts = name_key_parts(first), name_key_parts(last)
    # a composed full name's key is its parts' keys joined (no second reading of every name)
    full_key = pl.select(
        pl.when(given_full.is_null()).then(composed_name_key(first_parts, last_parts))
        .otherwise(name_key(given_full))
    ).to_series()

    street = normalize_street(text("street"))
    month_first = (phone_region == "US").fill_null(False)  # US records write 04/23/1990
    return pl.DataFrame([
        distinct.get_column(ROW_KEY[0]), distinct.get_column(ROW_KEY[1]),
        email.get_column("email"), email.get_column("email_invalid_reason"),
        phone.get_column("phone"), phone.get_column("phone_invalid_reason"),
        first.rename("first_name"), last.rename("last_name"), full,
        _key(first_parts).rename("first_name_key"), _key(last_parts).rename("last_name_key"),
        full_key.rename("full_name_key"),
        street.get_column("street"), street.get_column("house_number"),
        city_key(text("city")).rename("city"),
        normalize_postcode(text("postcode")).rename("postcode"),
        region_key(text("region")).rename("region"),
        country,
        parse_birth_date(text("birth_date"), month_first=month_first).rename("birth_date"),
    ])
