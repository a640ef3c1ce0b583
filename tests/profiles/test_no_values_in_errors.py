"""Errors never quote a customer's value: segments and traits on fields that do not fit the data."""
from __future__ import annotations

import pytest

import profiles.segments as segments_module
from config.check import check_file
from config.loader import ConfigError
from config.profiles import load_profiles_config
from config.segments import SegmentsConfig
from profiles.segments import run_segments
from profiles.traits import build_traits
from warehouse.connection import connect_home

EMAILS = ("maria.garcia", "john.smith", "budi.santoso", "jc.lopez", "siti@")


def _no_values(text: str) -> None:
    for value in EMAILS:
        assert value not in text.lower(), value


@pytest.fixture
def con(built_profile_warehouse):
    con = connect_home(built_profile_warehouse)
    yield con
    con.close()


def test_a_key_of_a_plain_profile_field_is_refused_when_compiled(con):
    config = SegmentsConfig.model_validate({"segments": {"x": {"where": {"field": "email.x", "op": "eq",
                                                                          "value": "a"}}}})
    with pytest.raises(ConfigError) as err:
        run_segments(con, config, "segments.yaml")
    (file, key, hint), = err.value.problems
    assert key == "segments.x.where.field" and "no parts" in hint
    _no_values(str(err.value))


def test_a_duckdb_failure_names_the_segment_and_fields_never_a_value(con, monkeypatch):
    config = SegmentsConfig.model_validate({"segments": {"emails_as_numbers": {
        "where": {"field": "email", "op": "eq", "value": "1"}}}})
    # A predicate DuckDB fails on with an error that quotes the first email it meets.
    monkeypatch.setattr(segments_module, "compile_segments",
                        lambda *a, **k: {"emails_as_numbers": ("CAST(email AS INTEGER) = 1", [])})
    with pytest.raises(ConfigError) as err:
        run_segments(con, config, "segments.yaml")
    message = str(err.value)
    assert "segments.emails_as_numbers.where" in message and "email" in message
    assert "ConversionException" in message
    _no_values(message)
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_a_declared_trait_failing_over_the_data_names_the_trait(con, monkeypatch):
    import profiles.traits as traits_module

    config = load_profiles_config().traits
    original = traits_module._custom_trait_sql

    def failing(con, trait, index, *args):
        sql, params = original(con, trait, index, *args)
        if index == 0:  # a filter DuckDB fails on, quoting a value
            sql = sql.replace("WHERE", "WHERE CAST(r.\"messageId\" || '@x' AS INTEGER) = 1 AND", 1)
        return sql, params

    monkeypatch.setattr(traits_module, "_custom_trait_sql", failing)
    with pytest.raises(ConfigError) as err:
        build_traits(con, config)
    assert "traits.custom[0]" in str(err.value) and "product_views_30d" in str(err.value)
    assert "@x" not in str(err.value)


def test_config_check_catches_a_key_of_a_plain_field_and_unknown_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_CONFIG_DIR", str(tmp_path))
    (tmp_path / "segments.yaml").write_text(
        "segments:\n"
        "  a: {where: {field: email.x, op: eq, value: y}}\n"
        "  b: {where: {all: [{field: revenue, op: gt, value: 1}, {field: contry, op: eq, value: ES}]}}\n"
        "  c: {where: {field: web_product_views_30d, op: gt, value: 1}}\n")
    result = check_file("segments")
    problems = {key: hint for _, key, hint in result.problems}
    assert "'email' is text, not JSON" in problems["segments.a.where.field"]
    assert "did you mean country" in problems["segments.b.where.all[1].field"]
    assert set(problems) == {"segments.a.where.field", "segments.b.where.all[1].field"}


def test_declared_fields_are_the_columns_of_the_customer_view(con):
    from profiles.fields import customer_fields

    columns = {r[0] for r in con.execute("DESCRIBE profiles.customer_360").fetchall()}
    assert set(customer_fields(load_profiles_config())) == columns


def test_a_step_failing_in_duckdb_leaves_no_value_for_prefect_to_store():
    import duckdb

    from warehouse.sql import WarehouseError, without_record_values

    @without_record_values
    def step():
        duckdb.connect().execute("SELECT CAST('maria.garcia@gmail.com' AS INTEGER)").fetchall()

    with pytest.raises(WarehouseError) as err:
        step()
    assert "ConversionException" in str(err.value)
    _no_values(str(err.value))
    assert err.value.__cause__ is None and err.value.__context__ is None
