"""Identity normalization: raw identifiers and PII of staging records -> comparable forms.

`normalize_frame` produces `identity.normalized_records`; the per-field functions are shared with
`cdp resolve-file`. Each runs its per-value Python (email-validator, phonenumbers, unidecode) over
DISTINCT values only, with a process-wide cache, so cost follows the number of distinct values.
"""
from identity.normalize.address import (
    city_key, normalize_country, normalize_postcode, normalize_street, region_key,
)
from identity.normalize.dates import parse_birth_date
from identity.normalize.email import normalize_email
from identity.normalize.frame import INPUT_COLUMNS, OUTPUT_SCHEMA, normalize_frame
from identity.normalize.names import display_name, name_key, split_full_name
from identity.normalize.phone import normalize_phone

__all__ = [
    "INPUT_COLUMNS", "OUTPUT_SCHEMA", "city_key", "display_name", "name_key", "normalize_country",
    "normalize_email", "normalize_frame", "normalize_phone", "normalize_postcode",
    "normalize_street", "parse_birth_date", "region_key", "split_full_name",
]
