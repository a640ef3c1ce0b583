"""normalize_frame: the identity.normalized_records contract over staging-shaped frames."""
from __future__ import annotations

import datetime as dt

import polars as pl

from identity.normalize import OUTPUT_SCHEMA, normalize_frame

EXPECTED_COLUMNS = [
    "source", "record_id", "event_time", "anonymous_id", "previous_id", "user_id", "device_id",
    "order_id", "social_handle", "email", "email_invalid_reason", "phone", "phone_invalid_reason",
    "first_name", "last_name", "full_name", "first_name_key", "last_name_key", "full_name_key",
    "street", "house_number", "city", "postcode", "region", "country", "birth_date",
]


def staging(**columns) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"source": ["web"] * n, "record_id": [str(i) for i in range(n)]}
    base.update(columns)
    return pl.DataFrame(base)


def test_output_columns_and_types_with_missing_inputs():
    out = normalize_frame(pl.DataFrame({"source": ["web"], "record_id": ["m1"]}))
    assert out.columns == EXPECTED_COLUMNS
    assert dict(out.schema) == OUTPUT_SCHEMA
    assert out.height == 1
    assert out.row(0, named=True)["email"] is None


def test_empty_frame_keeps_the_schema():
    out = normalize_frame(pl.DataFrame({"source": [], "record_id": []}, schema={"source": pl.String, "record_id": pl.String}))
    assert out.height == 0 and out.columns == EXPECTED_COLUMNS


def test_rows_keep_their_order_and_count():
    emails = [f"user{i % 7}@gmail.com" for i in range(50)]
    out = normalize_frame(staging(email=emails))
    assert out.get_column("record_id").to_list() == [str(i) for i in range(50)]
    assert out.get_column("email").to_list() == emails


def test_placeholders_become_null_in_every_field():
    values = ["null", "N/A", "none", "anonymous", "-", "", "  "]
    columns = ["anonymous_id", "user_id", "device_id", "email", "phone", "first_name", "last_name",
               "full_name", "street", "city", "postcode", "region", "country", "birth_date",
               "social_handle", "order_id"]
    out = normalize_frame(staging(**{c: values for c in columns}))
    for column in columns + ["first_name_key", "last_name_key", "full_name_key", "house_number"]:
        assert out.get_column(column).null_count() == len(values), column
    assert set(out.get_column("email_invalid_reason").to_list()) == {"placeholder", "blank"}


def test_full_name_is_split_only_when_first_and_last_are_missing():
    out = normalize_frame(staging(
        full_name=["Juan Carlos García López", "Sukarno", "Ana Ruiz", None],
        first_name=[None, None, "ANA", "maría"],
        last_name=[None, None, None, "de la cruz"],
    ))
    rows = out.select("first_name", "last_name", "full_name", "last_name_key").rows()
    assert rows == [
        ("Juan Carlos", "García López", "Juan Carlos García López", "garcia lopez"),
        ("Sukarno", None, "Sukarno", None),
        ("Ana", None, "Ana Ruiz", None),
        ("María", "de la Cruz", "María de la Cruz", "cruz"),
    ]


def test_phone_region_comes_from_country_then_default_region():
    out = normalize_frame(
        staging(phone=["0812-3456-7890", "55 1234 5678", "(212) 555-1234"],
                country=["Indonesia", "México", None]),
        default_region="us",
    )
    assert out.get_column("phone").to_list() == ["+6281234567890", "+525512345678", "+12125551234"]
    assert out.get_column("country").to_list() == ["ID", "MX", None]


def test_birth_date_reads_us_records_month_first():
    out = normalize_frame(staging(birth_date=["04/05/1990", "04/05/1990", "04/05/1990"],
                                  country=["US", "ES", None]), default_region="ID")
    assert out.get_column("birth_date").to_list() == [
        dt.date(1990, 4, 5), dt.date(1990, 5, 4), dt.date(1990, 5, 4)]


def test_identifiers_handles_and_event_time():
    out = normalize_frame(staging(
        user_id=[" u-1 ", "u-2"], social_handle=["@Maria.Garcia ", "budi_s"],
        event_time=["2026-03-01T10:15:00.123Z", "2026-03-01T11:00:00+07:00"],
    ))
    assert out.get_column("user_id").to_list() == ["u-1", "u-2"]
    assert out.get_column("social_handle").to_list() == ["maria.garcia", "budi_s"]
    assert out.get_column("event_time").to_list() == [
        dt.datetime(2026, 3, 1, 10, 15, 0, 123000, tzinfo=dt.timezone.utc),
        dt.datetime(2026, 3, 1, 4, 0, tzinfo=dt.timezone.utc),
    ]


def test_same_person_written_differently_gets_equal_keys():
    out = normalize_frame(staging(
        email=["Jose.Garcia+shop@googlemail.com", "josegarcia@gmail.com"],
        phone=["0812-3456-7890", "+62 812 3456 7890"],
        first_name=["JOSÉ", "jose"], last_name=["GARCÍA", "Garcia"],
        street=["Jl. Sudirman No. 5", "Jalan Sudirman Nomor 5"],
        city=["Jakarta", "JAKARTA"], postcode=["10220", " 10220 "], country=["ID", "Indonesia"],
        birth_date=["23/04/1990", "1990-04-23"],
    ))
    keys = ["email", "phone", "first_name_key", "last_name_key", "full_name_key", "street",
            "house_number", "city", "postcode", "country", "birth_date"]
    first, second = out.select(keys).rows()
    assert first == second
    assert first[0] == "josegarcia@gmail.com"
