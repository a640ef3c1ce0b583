"""The column-wise fast paths of identity.normalize give exactly what the per-value functions give.

Each fast path (phones read without phonenumbers' per-value `parse`, ...) is an optimisation of a
per-value function that stays the authority; these tests run both over a few hundred tricky
values. benchmarks/normalize_equality.py does the same at 1M records against the previous commit.
"""
from __future__ import annotations

import itertools

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from identity.normalize import _phone_fast
from identity.normalize._text import map_distinct_frame
from identity.normalize.phone import PHONE_SCHEMA, _canonical_input, normalize_phone, normalize_phone_value

# National and international spellings: +, 00, 011, trunk 0 and 1, a country code without "+",
# the abolished Mexican "1" and 044/045, extensions, letters, placeholders, too short and too long.
_PHONE_SPELLINGS = [
    "+34 612 345 678", "612 345 678", "612-34-56-78", "0034 612 345 678", "34612345678", "+34612345678",
    "(+34) 912 34 56 78", "91 234 56 78", "+34 0612 345 678", "0612345678", "3461234567",
    "+52 1 55 1234 5678", "+52 55 1234 5678", "044 55 1234 5678", "045 33 1234 5678", "55 1234 5678",
    "(33) 1234-5678", "521 55 1234 5678", "01 55 1234 5678", "001 212 555 0134", "00 1 212 555 0134",
    "+62 812 3456 7890", "0812-3456-7890", "6281234567890", "+62 0812 3456 7890", "021 1234 5678",
    "0062 812 3456 7890", "008 812 3456 7890", "(021) 555-0123", "+62 21 555 0123",
    "(212) 555-0134", "212.555.0134", "1-212-555-0134", "+1 212 555 0134", "011 44 20 7123 4567",
    "555-0134", "212-555-0134 ext. 12", "212 555 0134 x7", "212-555-0134 #3", "1-800-FLOWERS",
    "+44 20 7123 4567", "020 7123 4567", "+44 (0) 20 7123 4567", "+39 06 1234 5678", "06 1234 5678",
    "+800 1234 5678", "+999 1234 5678", "+0 612 345 678", "+", "12", "1234", "00000", "000-000-0000",
    "1234567890", "0987654321", "9876543210", "5555555555", "n/a", "none", "N/A", "tel: 612345678",
    "612345678 (móvil)", "٦١٢٣٤٥٦٧٨", "+34 612 345 678 / 699 123 456", "12345678901234567890123",
    "+54 9 11 1234 5678", "011 15 1234 5678", "+55 11 91234 5678", "(11) 91234-5678",
    "+7 912 345 67 89", "8 912 345 67 89", "+49 30 1234567", "030 1234567",
]
_REGIONS = [None, "ES", "MX", "ID", "US", "GB", "IT", "AR", "BR", "RU", "DE", "CA", "XX"]


def _per_value(raw: pl.Series, region: pl.Series) -> pl.DataFrame:
    """normalize_phone as it was: phonenumbers over every distinct (number, region)."""
    keys = pl.DataFrame({"raw": _canonical_input(raw), "region": region.str.to_uppercase()})
    return map_distinct_frame(keys, normalize_phone_value, PHONE_SCHEMA)


def test_phone_fast_path_is_enabled_here():
    assert _phone_fast._enabled(), "the fast path disagreed with phonenumbers on its self-check"


def test_phones_equal_the_per_value_reading():
    pairs = list(itertools.product(_PHONE_SPELLINGS, _REGIONS))
    raw = pl.Series("phone", [p for p, _ in pairs], dtype=pl.String)
    region = pl.Series("region", [r for _, r in pairs], dtype=pl.String)
    assert raw.len() > 256  # above FAST_MIN_DISTINCT: the column-wise path runs
    got = normalize_phone(raw, region)
    assert_frame_equal(got, _per_value(raw, region))
    # most of them were read by the fast path, not handed back
    keys = pl.DataFrame({"raw": _canonical_input(raw), "region": region}).unique()
    assert _phone_fast.normalize_phone_fast(keys).height > 0.6 * keys.height


@pytest.mark.parametrize("seed", [1, 2])
def test_random_digit_strings_equal_phonenumbers(seed):
    import random

    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS

    rng = random.Random(seed)
    regions = [None] + sorted(SUPPORTED_REGIONS)
    prefixes = ["", "0", "00", "011", "1", "34", "52", "521", "62", "44", "39", "0034", "044", "8", "800"]
    numbers = []
    for _ in range(3000):
        prefix = rng.choice(prefixes)
        digits = prefix + "".join(rng.choice("0123456789") for _ in range(rng.randint(5 - min(len(prefix), 5), 18 - len(prefix))))
        numbers.append(("+" if rng.random() < 0.35 else "") + digits)
    raw = pl.Series("phone", numbers, dtype=pl.String)
    region = pl.Series("region", [rng.choice(regions) for _ in numbers], dtype=pl.String)
    assert_frame_equal(normalize_phone(raw, region), _per_value(raw, region))


def test_self_check_covers_what_the_fast_path_leaves_alone():
    keys = pl.DataFrame({"raw": [r for r, _ in _phone_fast.SELF_CHECK_SLOW],
                         "region": [g for _, g in _phone_fast.SELF_CHECK_SLOW]},
                        schema={"raw": pl.String, "region": pl.String})
    assert _phone_fast.normalize_phone_fast(keys).height == 0
