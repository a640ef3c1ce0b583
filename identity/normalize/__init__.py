"""Identity normalization: raw identifiers and PII of staging records -> comparable forms.

`normalize_frame` produces `identity.normalized_records`; the per-field functions are shared with
`cdp resolve-file`. Each runs its per-value Python (email-validator, phonenumbers, unidecode) over
DISTINCT values only, with a process-wide cache, so cost follows the number of distinct values.
Where a per-value function is a fixed sequence of string steps for the common input, a column-wise
path gives the same answer without the call: phones as digits (`_phone_fast`), plain ASCII names
(`_names_fast`), streets once per shape (`address.normalize_street`); the per-value functions stay
the authority (tests/identity/test_normalize_equality.py, benchmarks/normalize_equality.py).
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
