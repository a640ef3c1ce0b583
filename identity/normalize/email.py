"""Email normalization: syntax check with email-validator, lowercase, documented provider rules.

Most addresses are plain ASCII (`maria.garcia@gmail.com`). Those that match a conservative pattern
every RFC 5322 validator accepts are checked in bulk with Polars; the rest (quoted or
international local parts, IDN domains, anything odd) go through email-validator one distinct
value at a time. Both paths end in the same vectorized provider rules.
"""
from __future__ import annotations

from functools import lru_cache

import polars as pl
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from identity.normalize._text import CACHE_SIZE, PLACEHOLDERS, map_distinct_frame

EMAIL_SCHEMA = {"email": pl.String, "email_invalid_reason": pl.String}

# Providers that document ignoring dots in the mailbox name (Gmail) or `+tag` sub-addressing
# (Gmail, Outlook/Hotmail/Live). Yahoo's "-" aliases are separate mailboxes: left alone.
_GMAIL_DOMAINS = ["gmail.com", "googlemail.com"]
_PLUS_ADDRESSING_DOMAINS = _GMAIL_DOMAINS + [
    "outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.es", "hotmail.es",
    "live.com.mx", "hotmail.com.mx", "outlook.co.id", "live.co.uk", "hotmail.co.uk",
]
# Local parts and domains typed as "I will not give you my email".
_PLACEHOLDER_LOCALS = [
    "noemail", "no-email", "no_email", "nomail", "none", "null", "nobody", "noreply", "no-reply",
    "donotreply", "test", "sinemail", "sincorreo", "notavailable", "na", "xxx", "asdf",
]
_PLACEHOLDER_DOMAINS = [
    "example.com", "example.org", "example.net", "test.com", "noemail.com", "nomail.com",
    "none.com",
]
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
# Dot-atom local part @ LDH labels with an alphabetic TLD: valid for email-validator too.
_SIMPLE_EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}}$"
_SPECIAL_USE_SUFFIX = "|".join(SPECIAL_USE_DOMAIN_NAMES)


@lru_cache(maxsize=CACHE_SIZE)
def _validate_one(text: str) -> tuple[str | None, str | None]:
    """(lowercased address, None) or (None, 'syntax') by email-validator, offline."""
    try:
        # Deliverability needs DNS; identity resolution must stay offline and deterministic.
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None, "syntax"
    return f"{result.local_part.lower()}@{result.domain.lower()}", None


def _provider_rules(frame: pl.DataFrame, address: pl.Expr) -> pl.DataFrame:
    """`frame` plus `rule_email` and `rule_reason`: the provider rules over a valid lowercased
    address expression. Each step is its own column: as one nested expression, every `when`
    evaluated the address regexes again (10.7 s of 13.7 s at 575k addresses)."""
    frame = frame.with_columns(
        _local=address.str.extract(r"^(.*)@[^@]*$", 1), _domain=address.str.extract(r"@([^@]*)$", 1)
    )
    local, domain = pl.col("_local"), pl.col("_domain")
    frame = frame.with_columns(
        _local=pl.when(domain.is_in(_PLUS_ADDRESSING_DOMAINS)).then(local.str.replace(r"\+.*$", "")).otherwise(local),
        _gmail=domain.is_in(_GMAIL_DOMAINS),
    )
    is_gmail = pl.col("_gmail")
    frame = frame.with_columns(
        _local=pl.when(is_gmail).then(local.str.replace_all(".", "", literal=True)).otherwise(local),
        _domain=pl.when(is_gmail).then(pl.lit("gmail.com")).otherwise(domain),
    )
    frame = frame.with_columns(
        _placeholder=local.is_in(_PLACEHOLDER_LOCALS) | domain.is_in(_PLACEHOLDER_DOMAINS),
        _empty=local.str.len_bytes() == 0,
    )
    placeholder, empty = pl.col("_placeholder"), pl.col("_empty")
    return frame.with_columns(
        rule_reason=pl.when(placeholder).then(pl.lit("placeholder")).when(empty).then(pl.lit("syntax")),
        rule_email=pl.when(placeholder | empty).then(None).otherwise(pl.concat_str([local, pl.lit("@"), domain])),
    ).drop("_local", "_domain", "_gmail", "_placeholder", "_empty")


def _normalize_distinct(raw: pl.Series) -> pl.DataFrame:
    """Columns raw, email, email_invalid_reason for distinct non-null raw values."""
    frame = pl.DataFrame({"raw": raw}).with_columns(text=pl.col("raw").str.strip_chars())
    text = pl.col("text")
    frame = frame.with_columns(lowered=text.str.to_lowercase().str.strip_prefix("mailto:"))
    lowered = pl.col("lowered")
    frame = frame.with_columns(
        simple=lowered.str.contains(_SIMPLE_EMAIL)
        & (lowered.str.extract(r"^(.*)@", 1).str.len_bytes() <= 64)
        & (lowered.str.len_bytes() <= 254)
        & ~lowered.str.contains(rf"\.(?:{_SPECIAL_USE_SUFFIX})$"),
        early_reason=pl.when(text == "").then(pl.lit("blank"))
        .when(text.str.to_lowercase().is_in(sorted(PLACEHOLDERS))).then(pl.lit("placeholder")),
    )
    # Only addresses outside the simple pattern pay for a per-value email-validator call.
    slow = frame.filter(pl.col("early_reason").is_null() & ~pl.col("simple"))
    checked = map_distinct_frame(
        slow.select(pl.col("text").str.strip_prefix("mailto:").str.strip_prefix("MAILTO:")),
        _validate_one, {"address": pl.String, "syntax_reason": pl.String},
    )
    slow = pl.concat([slow.select("raw"), checked], how="horizontal")
    frame = frame.join(slow, on="raw", how="left")
    frame = frame.with_columns(
        address=pl.when(pl.col("early_reason").is_null() & pl.col("simple")).then(pl.col("lowered"))
        .otherwise(pl.col("address"))
    )
    return _provider_rules(frame, pl.col("address")).select(
        "raw",
        email=pl.col("rule_email"),
        email_invalid_reason=pl.coalesce("early_reason", "syntax_reason", "rule_reason"),
    )


def normalize_email(s: pl.Series) -> pl.DataFrame:
    """Columns `email` (normalized; null when invalid or absent) and `email_invalid_reason`.

    Reasons: `blank` (empty text), `placeholder` (n/a, noemail@..., test@example.com), `syntax`.
    A null input gives a null email and no reason: nothing was offered.
    """
    raw = s.cast(pl.String).rename("raw")
    lookup = _normalize_distinct(raw.drop_nulls().unique())
    return (
        raw.to_frame()
        .join(lookup, on="raw", how="left", maintain_order="left")
        .select(list(EMAIL_SCHEMA))
    )


def normalize_email_value(raw: str) -> tuple[str | None, str | None]:
    """One address through the same rules (for explain tools and tests)."""
    return normalize_email(pl.Series([raw])).row(0)
