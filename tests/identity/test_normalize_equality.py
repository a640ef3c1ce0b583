"""The column-wise fast paths of identity.normalize give exactly what the per-value functions give.

Each fast path (phones read without phonenumbers' per-value `parse`, ...) is an optimisation of a
per-value function that stays the authority; these tests run both over a few hundred tricky
values. benchmarks/normalize_equality.py does the same at 1M records against the previous commit.
"""
from __future__ import annotations

import itertools
import re

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


# Names as Spanish, Latin American, Indonesian and English records write them, with titles,
# particles, accents, case, hyphens, apostrophes, initials, commas, and names made only of particles.
_FIRST_NAMES = [
    "José María", "JOSE MARIA", "josé maría", "María de los Ángeles", "Juan Carlos", "Ma. Guadalupe",
    "Lic. Juan", "Sr. José", "Dra. Ana Sofía", "Hj. Siti", "Drs. Budi", "Ir. Joko", "Muhammad",
    "Nyoman", "I Gede", "Ni Luh", "Emily", "MARY-JANE", "o'neil", "D'Angelo", "Mr. John", "J.",
    "Jr.", "De", "de la", "Ñoño", "Çağla", "Zoë", "Øyvind", "Đorđe", "Ana  Lucía", " Renée ",
    "Jean-Luc", "Mª José", "St. John", "Wm.", "Dewi S.Kom", "Budi, S.E.", "Iñaki", "Ángel",
]
_LAST_NAMES = [
    "García López", "GARCIA LOPEZ", "de la Cruz", "De La Cruz", "del Río", "van der Berg",
    "Fernández-Castro", "O'Brien", "McDonald", "Santoso", "bin Abdullah", "binti Ahmad", "Wijaya",
    "Nasution", "Smith Jr.", "Johnson III", "López, MD", "y Gasset", "Pérez de Tudela", "de", "la",
    "Sukarno", "Ñúñez", "Muñoz", "Hernández Hernández", "D'Souza", "St. Clair", "Le", "von",
    "S.Kom", "Dos Santos", "da Silva", "di Maria", "Ibáñez", "Gómez  Ruiz", "Çelik", "Øster",
]


def test_composed_full_name_key_equals_reading_the_composed_name():
    from identity.normalize.names import composed_name_key, display_name, name_key, name_key_parts

    pairs = list(itertools.product(_FIRST_NAMES + [None], _LAST_NAMES + [None]))
    first = display_name(pl.Series([f for f, _ in pairs], dtype=pl.String))
    last = display_name(pl.Series([g for _, g in pairs], dtype=pl.String))
    composed = pl.select(pl.concat_str([pl.lit(first), pl.lit(last)], separator=" ", ignore_nulls=True)
                         .replace("", None)).to_series()
    got = composed_name_key(name_key_parts(first), name_key_parts(last))
    assert got.to_list() == name_key(composed).to_list()
    parts = name_key_parts(first)
    assert parts.select(pl.coalesce("kept", "folded")).to_series().to_list() == name_key(first).to_list()


_STREETS = [
    "Calle Mayor 3", "C/ Mayor, 15", "C/ Mayor 15, 2º B", "Avda. de la Constitución 23", "Pza. Mayor 1",
    "Jl. Sudirman No. 5", "Jl. Sudirman No.5", "Gg. H.J Maemunah No. 158", "Jl. Merdeka 17 RT 3 RW 4",
    "173 Charles Drive", "12b Main St", "12B MAIN ST", "Main St 12", "1 2 3 4 5 6 7 8 9 10 11 12",
    "Calle 5 de Mayo 7", "Avenida 1º de Mayo 23", "Nº 3 Calle Real", "N° 3 Calle Real", "# 5 Elm St",
    "Calle ½ 5", "²5 Calle", "5\u03018 Calle", "Apt 4 123 Oak Ave", "123 Oak Ave Apt 4", "Suite 200 5 Elm",
    "Carretera km 12,5", "Km. 12.5 Ctra. N-340", "Blok A-12 Perum Griya", "Kav. 10-11 Jl. Gatot Subroto",
    "s/n Calle Real", "Calle Real s/n", "", "12", "0", "00012 Calle Cero", "Calle 007", "St Marks Place 9",
]


def test_streets_read_by_shape_equal_each_read_as_written():
    from identity.normalize.address import STREET_SCHEMA, normalize_street, normalize_street_value

    numbers = ["1", "15", "203", "7b", "0", "1234"]
    streets = [v for s in _STREETS for n in numbers
               for v in (re.sub(r"[0-9]+", n, s), f"{s} {n}", f"{n} {s}", f"{s} {n}-{n}")] + _STREETS
    raw = pl.Series("street", streets + [None], dtype=pl.String)
    assert raw.n_unique() > 256  # the shape path runs
    expected = map_distinct_frame(raw.to_frame("raw"), normalize_street_value.__wrapped__, STREET_SCHEMA)
    assert_frame_equal(normalize_street(raw), expected)


def _name_variants() -> list[str]:
    names = _FIRST_NAMES + _LAST_NAMES + ["Mr", "MRS.", "Hj", "dr", "S.E.", "s.e.i", "R.M.", "m.kom.", "Ir. Ir.",
                                          "de de", "De La", "Y", "I", "i", "St. St.", "a-b", "o'", "'o", "-", ".", "x..y"]
    variants = []
    for name in names:
        for form in (name, name.upper(), name.lower(), name.title()):
            variants += [form, f"Lic. {form}", f"{form} Jr.", f"de {form}", f"{form} de", f"{form} S.Kom",
                         f"{form} y {form}", f"Drs. {form} bin {form}"]
    return variants


def test_names_read_column_wise_equal_each_read_alone():
    from identity.normalize.names import display_name, display_name_value, name_key_parts, name_key_parts_value

    raw = pl.Series("name", _name_variants() + [None], dtype=pl.String)
    assert raw.n_unique() > 256  # the column-wise path runs
    assert display_name(raw).to_list() == [None if v is None else display_name_value.__wrapped__(v)
                                            for v in raw.to_list()]
    parts = name_key_parts(raw)
    assert list(parts.iter_rows()) == [(None, None) if v is None else name_key_parts_value.__wrapped__(v)
                                       for v in raw.to_list()]
