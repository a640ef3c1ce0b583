"""Email normalization: syntax check with email-validator, lowercase, documented provider rules."""
from __future__ import annotations

from functools import lru_cache

import polars as pl
from email_validator import EmailNotValidError, validate_email

from identity.normalize._text import CACHE_SIZE, PLACEHOLDERS, map_distinct_frame

# Providers whose documentation says the mailbox ignores dots (Gmail only) or `+tag` sub-addresses.
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_PLUS_ADDRESSING_DOMAINS = _GMAIL_DOMAINS | frozenset(
    {"outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.es", "hotmail.es", "live.com.mx",
     "hotmail.com.mx", "outlook.co.id", "live.co.uk", "hotmail.co.uk"}
)
# Local parts and domains used as "I will not give you my email".
_PLACEHOLDER_LOCALS = frozenset(
    {"noemail", "no-email", "no_email", "nomail", "none", "null", "nobody", "noreply", "no-reply",
     "donotreply", "test", "sinemail", "sincorreo", "notavailable", "na", "xxx", "asdf"}
)
_PLACEHOLDER_DOMAINS = frozenset(
    {"example.com", "example.org", "example.net", "test.com", "localhost", "noemail.com",
     "nomail.com", "none.com", "email.invalid", "invalid"}
)

EMAIL_SCHEMA = {"email": pl.String, "email_invalid_reason": pl.String}


@lru_cache(maxsize=CACHE_SIZE)
def normalize_email_value(raw: str) -> tuple[str | None, str | None]:
    """(normalized email, None) or (None, reason) with reason in blank / placeholder / syntax."""
    text = raw.strip()
    if not text:
        return None, "blank"
    if text.casefold() in PLACEHOLDERS:
        return None, "placeholder"
    if text.lower().startswith("mailto:"):
        text = text[7:]
    try:
        # Deliverability needs DNS; identity resolution must stay offline and deterministic.
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None, "syntax"
    local = result.local_part.lower()
    domain = result.domain.lower()
    if local in _PLACEHOLDER_LOCALS or domain in _PLACEHOLDER_DOMAINS:
        return None, "placeholder"
    if domain in _PLUS_ADDRESSING_DOMAINS and "+" in local:
        local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    if not local:
        return None, "syntax"
    return f"{local}@{domain}", None


def normalize_email(s: pl.Series) -> pl.DataFrame:
    """Columns `email` (normalized; null when invalid or absent) and `email_invalid_reason`."""
    keys = pl.DataFrame({"raw": s.cast(pl.String)})
    return map_distinct_frame(keys, normalize_email_value, EMAIL_SCHEMA)
