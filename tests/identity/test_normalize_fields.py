"""Table-driven cases for each per-field normalizer (Spanish, Mexican, Indonesian, US examples)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from identity.normalize import (
    city_key, display_name, name_key, normalize_country, normalize_email, normalize_phone,
    normalize_postcode, normalize_street, parse_birth_date, split_full_name,
)


def one(frame: pl.DataFrame) -> tuple:
    return frame.row(0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jo.Se+promo@GMAIL.com", ("jose@gmail.com", None)),
        ("j.o.s.e@googlemail.com", ("jose@gmail.com", None)),
        ("maria+news@hotmail.com", ("maria@hotmail.com", None)),
        ("maria+news@outlook.es", ("maria@outlook.es", None)),
        ("budi.santoso@yahoo.co.id", ("budi.santoso@yahoo.co.id", None)),  # Yahoo: dots matter
        ("ana-tag@yahoo.com", ("ana-tag@yahoo.com", None)),  # Yahoo's "-" is not undone
        ("first.last+x@company.mx", ("first.last+x@company.mx", None)),  # unknown provider kept
        ("  John.Smith@Example.US  ", ("john.smith@example.us", None)),
        ("", (None, "blank")),
        ("   ", (None, "blank")),
        ("n/a", (None, "placeholder")),
        ("NULL", (None, "placeholder")),
        ("noemail@gmail.com", (None, "placeholder")),
        ("test@example.com", (None, "placeholder")),
        ("maria@", (None, "syntax")),
        ("maria garcia@gmail.com", (None, "syntax")),
        ("@gmail.com", (None, "syntax")),
        ("+@gmail.com", (None, "syntax")),
    ],
)
def test_email(raw, expected):
    assert one(normalize_email(pl.Series([raw]))) == expected


def test_email_null_stays_null_without_reason():
    assert one(normalize_email(pl.Series([None], dtype=pl.String))) == (None, None)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0812-3456-7890", "ID", ("+6281234567890", None)),
        ("+62 812 3456 7890", None, ("+6281234567890", None)),
        ("6281234567890", "ID", ("+6281234567890", None)),
        ("(021) 5550 1234", "ID", ("+622155501234", None)),
        ("+52 1 55 1234 5678", None, ("+525512345678", None)),  # legacy Mexican mobile "1"
        ("044 55 1234 5678", "MX", ("+525512345678", None)),  # legacy national mobile prefix
        ("55 1234 5678", "MX", ("+525512345678", None)),
        ("612 345 678", "ES", ("+34612345678", None)),
        ("+34 612-34-56-78", "US", ("+34612345678", None)),  # a + prefix beats the region
        ("(555) 123-4567", "US", ("+15551234567", None)),
        ("212.555.1234 x89", "US", ("+12125551234", None)),
        ("0000000000", "US", (None, "placeholder")),
        ("1234567890", "MX", (None, "placeholder")),
        ("999 999 999", "ES", (None, "placeholder")),
        ("n/a", "ES", (None, "placeholder")),
        ("call me", "US", (None, "unparseable")),
        ("12", "US", (None, "unparseable")),
        # No region known: "00" means "+", else the number must be valid in exactly one market.
        ("0034 603766379", None, ("+34603766379", None)),
        ("0813-1043-3046", None, ("+6281310433046", None)),
        ("670 18 61 33", None, ("+34670186133", None)),
        ("6281234567890", None, ("+6281234567890", None)),  # country code without "+"
        ("612 345", "ES", (None, "invalid")),
        ("+1 212 555 12", None, (None, "invalid")),
    ],
)
def test_phone(raw, region, expected):
    assert one(normalize_phone(pl.Series([raw]), region)) == expected


def test_phone_region_per_row():
    phones = pl.Series(["0812-3456-7890", "612 345 678", "612 345 678"])
    regions = pl.Series(["ID", "ES", None])
    out = normalize_phone(phones, regions)
    assert out.get_column("phone").to_list() == ["+6281234567890", "+34612345678", None]
    assert out.get_column("phone_invalid_reason").to_list()[:2] == [None, None]
    # Without a region, 612345678 reads as valid in more than one market: not guessed.
    assert out.get_column("phone_invalid_reason").to_list()[2] == "unparseable"


@pytest.mark.parametrize(
    ("raw", "display", "key"),
    [
        ("José", "José", "jose"),
        ("JOSE", "Jose", "jose"),
        ("  jose  ", "Jose", "jose"),
        ("JOSÉ MARÍA DE LA CRUZ", "José María de la Cruz", "jose maria cruz"),
        ("maría  del carmen", "María del Carmen", "maria carmen"),
        ("garcía-lópez", "García-López", "garcia lopez"),
        ("o'brien", "O'Brien", "o brien"),
        ("siti binti ahmad", "Siti binti Ahmad", "siti ahmad"),
        ("Ludwig van Beethoven", "Ludwig van Beethoven", "ludwig beethoven"),
        ("Lic. Tania Burgos", "Lic. Tania Burgos", "tania burgos"),
        ("Hj. Salsabila Dongoran, S.Kom", "Hj. Salsabila Dongoran, S.Kom", "salsabila dongoran"),
        ("Nicole Andrews MD", "Nicole Andrews Md", "nicole andrews"),
    ],
)
def test_display_name_and_key(raw, display, key):
    assert display_name(pl.Series([raw])).to_list() == [display]
    assert name_key(pl.Series([raw])).to_list() == [key]


def test_accent_and_case_variants_share_one_key():
    keys = name_key(pl.Series(["José", "JOSE", "jose", "Jose\u0301"])).unique()
    assert keys.to_list() == ["jose"]


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [
        ("Juan Carlos García López", "Juan Carlos", "García López"),
        ("Juan García López", "Juan", "García López"),
        ("Juan Carlos García", "Juan Carlos", "García"),
        ("José María de la Cruz", "José María", "de la Cruz"),
        ("Sukarno", "Sukarno", None),
        ("Budi Santoso", "Budi", "Santoso"),
        ("Siti binti Ahmad", "Siti", "binti Ahmad"),
        ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),
        ("john michael smith", "John Michael", "Smith"),
        ("Ing. Pilar Figueroa", "Pilar", "Figueroa"),
        ("García López, Juan Carlos", "Juan Carlos", "García López"),
        ("Mary Smith", "Mary", "Smith"),
        ("Hj. Salsabila Dongoran, S.Kom", "Salsabila", "Dongoran"),
        ("Cesar Eutropio Castañeda Conde", "Cesar Eutropio", "Castañeda Conde"),
    ],
)
def test_split_full_name(full, first, last):
    assert one(split_full_name(pl.Series([full]))) == (first, last)


@pytest.mark.parametrize(
    ("raw", "street", "number"),
    [
        ("Jl. Sudirman No. 5", "jalan sudirman", "5"),
        ("Jalan Sudirman Nomor 5", "jalan sudirman", "5"),
        ("JLN SUDIRMAN NO 5", "jalan sudirman", "5"),
        ("Gg. Mawar No. 12A", "gang mawar", "12a"),
        ("C/ Mayor 3", "calle mayor", "3"),
        ("Calle Mayor, 3", "calle mayor", "3"),
        ("C. Mayor nº 3, 2º B", "calle mayor", "3"),
        ("Avda. de la Constitución 5", "avenida de la constitucion", "5"),
        ("Av. Reforma 222 Int. 4", "avenida reforma", "222"),
        ("Pza. Mayor 1", "plaza mayor", "1"),
        ("Calle Dr. Fleming 12", "calle doctor fleming", "12"),
        ("123 Main St", "main street", "123"),
        ("123 Main Street Apt 4", "main street", "123"),
        ("42 St Marks Pl", "saint marks place", "42"),
        ("500 Ocean Dr", "ocean drive", "500"),
        ("Calle Sin Numero s/n", "calle sin numero", None),
        # a unit written first goes; "of" starts a unit only before a number (Spanish oficina)
        ("Unit 5, 12 Main St", "main street", "12"),
        ("Apt 4B 350 Fifth Ave", "fifth avenue", "350"),
        ("Piso 3, Calle Mayor 5", "calle mayor", "5"),
        ("St John of God Hospital", "saint john of god hospital", None),
        ("1185 Avenue of the Americas", "avenue of the americas", "1185"),
        ("Calle Mayor Of. 3", "calle mayor", None),
    ],
)
def test_street(raw, street, number):
    assert one(normalize_street(pl.Series([raw]))) == (street, number)


def test_equivalent_streets_normalize_equal():
    pairs = [("Jl. Sudirman No. 5", "Jalan Sudirman Nomor 5"), ("C/ Mayor 3", "Calle Mayor 3"),
             ("123 Main St.", "123 MAIN STREET")]
    for a, b in pairs:
        out = normalize_street(pl.Series([a, b]))
        assert out.row(0) == out.row(1), (a, b)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("CDMX", "ciudad de mexico"), ("Ciudad de México", "ciudad de mexico"), ("Málaga", "malaga"),
     ("NYC", "new york"), ("New York", "new york"), ("Jakarta Selatan", "jakarta selatan"),
     ("A Coruña", "a coruna"), ("Madrid, España", "madrid"), ("Surabaya, Indonesia", "surabaya"),
     ("Washington, D.C.", "washington d c")],
)
def test_city_key(raw, expected):
    assert city_key(pl.Series([raw])).to_list() == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("01234", "01234"), (" 28 001", "28001"), ("90210-1234", "90210"), ("sw1a 1aa", "SW1A1AA"),
     ("", None)],
)
def test_postcode(raw, expected):
    assert normalize_postcode(pl.Series([raw])).to_list() == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("España", "ES"), ("spain", "ES"), ("ES", "ES"), ("es", "ES"), ("ESP", "ES"),
     ("Mexico", "MX"), ("México", "MX"), ("MX", "MX"), ("Indonesia", "ID"), ("id", "ID"),
     ("USA", "US"), ("U.S.A.", "US"), ("United States", "US"), ("Estados Unidos", "US"),
     ("Jakarta, Indonesia", "ID"), ("Narnia", None)],
)
def test_country(raw, expected):
    assert normalize_country(pl.Series([raw])).to_list() == [expected]


@pytest.mark.parametrize(
    ("raw", "month_first", "expected"),
    [
        ("1990-04-23", False, dt.date(1990, 4, 23)),
        ("1990-04-23T00:00:00Z", False, dt.date(1990, 4, 23)),
        ("1990/04/23", False, dt.date(1990, 4, 23)),
        ("23/04/1990", False, dt.date(1990, 4, 23)),
        ("23-04-1990", False, dt.date(1990, 4, 23)),
        ("04/05/1990", False, dt.date(1990, 5, 4)),  # day-first (es/mx/id)
        ("04/05/1990", True, dt.date(1990, 4, 5)),  # month-first (US)
        ("04/23/1990", True, dt.date(1990, 4, 23)),
        ("23/04/1990", True, dt.date(1990, 4, 23)),  # 23 cannot be a month
        ("April 23, 1990", False, dt.date(1990, 4, 23)),
        ("23 April 1990", False, dt.date(1990, 4, 23)),
        ("23 de abril de 1990", False, dt.date(1990, 4, 23)),
        ("23 Agustus 1990", False, dt.date(1990, 8, 23)),
        ("31/02/1990", False, None),
        ("1990-13-01", False, None),
        ("1850-01-01", False, None),
        ("2999-01-01", False, None),
        ("not a date", False, None),
    ],
)
def test_birth_date(raw, month_first, expected):
    assert parse_birth_date(pl.Series([raw]), month_first=month_first).to_list() == [expected]


def test_birth_date_month_first_per_row():
    out = parse_birth_date(pl.Series(["04/05/1990", "04/05/1990"]), month_first=pl.Series([True, False]))
    assert out.to_list() == [dt.date(1990, 4, 5), dt.date(1990, 5, 4)]
