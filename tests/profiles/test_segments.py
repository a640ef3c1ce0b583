"""Segments: the condition language, validation errors, membership with enter/exit history."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from config.loader import ConfigError, load_config
from config.segments import ConditionError, SegmentsConfig, load_segments_config, parse_condition
from profiles.expressions import FieldInfo, compile_condition
from profiles.segments import run_segments

from warehouse.connection import connect_home

from _profile_helpers import add_order, open_built
from config.profiles import load_profiles_config
from profiles.traits import build_traits

RUN1, RUN2, RUN3 = (dt.datetime(2026, 3, d, 6, 0) for d in (1, 2, 3))


def _segments(definitions: dict) -> SegmentsConfig:
    return SegmentsConfig.model_validate({"segments": definitions})


def _members(con, segment: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT customer_id FROM segments.membership WHERE segment = ? AND exited_at IS NULL", [segment]).fetchall()}


@pytest.fixture
def con(built_profile_warehouse):
    con = connect_home(built_profile_warehouse)
    yield con
    con.close()


@pytest.mark.parametrize("condition, path, message", [
    ({"field": "country", "op": "equals", "value": "ES"}, "op", "unknown op 'equals'"),
    ({"field": "country", "op": "eq"}, "value", "needs a value"),
    ({"field": "revenue", "op": "between", "value": [1]}, "value", "two values"),
    ({"field": "country", "op": "in", "value": "ES"}, "value", "non-empty list"),
    ({"field": "email", "op": "is_null", "value": "x"}, "value", "takes no value"),
    ({"all": [{"field": "a", "op": "eq", "value": 1}], "any": []}, "(top)", "must stand alone"),
    ({"all": []}, "all", "non-empty list"),
    ({"any": [{"field": "x", "op": "eq", "value": 1}, {"fild": "y"}]}, "any[1]", "unknown key"),
    ({"field": "country; DROP TABLE x", "op": "eq", "value": 1}, "field", "field name"),
    ("country = 'ES'", "(top)", "must be a mapping"),
])
def test_condition_structure_errors_say_where(condition, path, message):
    with pytest.raises(ConditionError) as err:
        parse_condition(condition)
    assert err.value.path == path and message in err.value.message


def test_compiled_sql_holds_identifiers_and_placeholders_only():
    catalog = {"country": FieldInfo('"country"', "text"), "revenue": FieldInfo('"revenue"', "number")}
    cond = parse_condition({"all": [{"field": "country", "op": "in", "value": ["ES", "x') OR 1=1 --"]},
                                    {"not": {"field": "revenue", "op": "between", "value": [10, 20.5]}}]})
    sql, params = compile_condition(cond, catalog)
    assert "'ES'" not in sql and "OR 1=1" not in sql
    assert params == ["ES", "x') OR 1=1 --", 10, 20.5]
    assert sql.count("?") == 4


def test_segments_file_errors_name_file_segment_and_key(tmp_path: Path):
    path = tmp_path / "segments.yaml"
    path.write_text("segments:\n  vip:\n    where: {field: revenue, op: greater, value: 10}\n"
                    "  Bad Name:\n    where: {field: revenue, op: gt, value: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config("segments", SegmentsConfig, path)
    text = str(err.value)
    assert str(path) in text and "segments.vip.where" in text and "unknown op 'greater'" in text


def test_field_and_value_type_problems_are_all_listed(con):
    config = _segments({
        "a": {"where": {"field": "contry", "op": "eq", "value": "ES"}},
        "b": {"where": {"all": [{"field": "revenue", "op": "gt", "value": "lots"}]}},
        "c": {"where": {"field": "app_users", "op": "is_null"}},
        "d": {"where": {"field": "emails", "op": "gt", "value": "x"}},
    })
    with pytest.raises(ConfigError) as err:
        run_segments(con, config, "segments.yaml")
    problems = {key: msg for _, key, msg in err.value.problems}
    assert "did you mean country" in problems["segments.a.where.field"]
    assert "expects a number" in problems["segments.b.where.all[0].value"]
    assert "unknown field 'app_users'" in problems["segments.c.where.field"]
    assert "does not apply" in problems["segments.d.where.op"]


def test_default_segments_have_their_members(con):
    result = run_segments(con, load_segments_config(), now=RUN1)
    sizes = {name: r["size"] for name, r in result["segments"].items()}
    assert _members(con, "high_value") == {"cus_maria"}
    assert _members(con, "spanish_speaking") == {"cus_maria", "cus_juan"}
    assert _members(con, "app_users") == {"cus_maria", "cus_juan"}
    assert _members(con, "social_leads_not_buyers") == {"cus_budi"}
    assert _members(con, "at_risk") == {"cus_john"}
    assert _members(con, "new_customers") == {"cus_juan"}  # one order, 1 day before the run date
    assert sizes["high_value"] == 1 and all(r["entered"] == r["size"] for r in result["segments"].values())


def test_ops_on_profile_fields(con):
    config = _segments({
        "not_es": {"where": {"not": {"field": "country", "op": "eq", "value": "ES"}}},
        "ne_es": {"where": {"field": "country", "op": "ne", "value": "ES"}},
        "gmail": {"where": {"field": "email", "op": "contains", "value": "GMAIL"}},
        "has_order_o_m1": {"where": {"field": "order_ids", "op": "contains", "value": "o-m1"}},
        "mid_spend": {"where": {"field": "revenue", "op": "between", "value": [50, 100]}},
        "born_90s": {"where": {"field": "birth_date", "op": "between", "value": ["1990-01-01", "1999-12-31"]}},
        "no_email": {"where": {"field": "email", "op": "is_null"}},
        "not_in": {"where": {"field": "country_inferred", "op": "not_in", "value": ["ES", "MX"]}},
    })
    run_segments(con, config, now=RUN1)
    everyone = {"cus_maria", "cus_john", "cus_budi", "cus_juan", "cus_siti", "cus_anon"}
    # `not` is the exact complement, unknown countries included (null-safe comparisons).
    assert _members(con, "not_es") == everyone - {"cus_maria"} == _members(con, "ne_es")
    assert _members(con, "gmail") == {"cus_maria", "cus_siti"}
    assert _members(con, "has_order_o_m1") == {"cus_maria"}
    assert _members(con, "mid_spend") == {"cus_john", "cus_juan"}
    assert _members(con, "born_90s") == {"cus_maria"}
    assert _members(con, "no_email") == {"cus_anon"}
    assert _members(con, "not_in") == {"cus_john", "cus_budi", "cus_siti", "cus_anon"}


def test_two_runs_with_changed_data_record_who_entered_and_left(con):
    config = load_segments_config()
    run_segments(con, config, now=RUN1)
    unchanged = run_segments(con, config, now=RUN2)
    assert all(r["entered"] == 0 and r["exited"] == 0 for r in unchanged["segments"].values())

    # Budi buys (leaves "social leads not yet buyers"); John's data gains a big recent order.
    add_order(con, "cus_budi", "o-b1", "2026-02-28T09:00:00.000Z", 40.0)
    add_order(con, "cus_john", "o-j3", "2026-02-28T10:00:00.000Z", 900.0)
    build_traits(con, load_profiles_config().traits)
    third = run_segments(con, config, now=RUN3)
    seg = third["segments"]
    assert seg["social_leads_not_buyers"] == {"size": 0, "entered": 0, "exited": 1}
    assert seg["high_value"]["entered"] == 1 and _members(con, "high_value") == {"cus_maria", "cus_john"}
    # RFM is relative: with three buyers ordering on the last day, Juan's order a day earlier now
    # ranks lowest on recency (Hibernating) while John leaves At Risk.
    assert seg["at_risk"] == {"size": 1, "entered": 1, "exited": 1} and _members(con, "at_risk") == {"cus_juan"}
    changes = con.execute(
        "SELECT segment, customer_id, change, changed_at FROM segments.changes WHERE run_seq = 3 ORDER BY 1, 2"
    ).fetchall()
    assert changes == [
        ("at_risk", "cus_john", "exited", RUN3),
        ("at_risk", "cus_juan", "entered", RUN3),
        ("high_value", "cus_john", "entered", RUN3),
        ("new_customers", "cus_budi", "entered", RUN3),
        ("social_leads_not_buyers", "cus_budi", "exited", RUN3),
    ]
    row = con.execute("SELECT entered_at, exited_at, run_id, exited_run_id FROM segments.membership "
                      "WHERE segment = 'social_leads_not_buyers' AND customer_id = 'cus_budi'").fetchone()
    assert row[0] == RUN1 and row[1] == RUN3 and row[2].startswith("segrun-000001") and row[3].startswith("segrun-000003")
    sizes = con.execute("SELECT run_seq, size FROM segments.runs WHERE segment = 'high_value' ORDER BY 1").fetchall()
    assert sizes == [(1, 1), (2, 1), (3, 2)]


def test_a_customer_who_comes_back_gets_a_new_membership_row(con):
    config = _segments({"buyers": {"where": {"field": "completed_orders", "op": "gt", "value": 0}}})
    run_segments(con, config, now=RUN1)
    con.execute("UPDATE staging.orders SET status = 'refunded' WHERE order_id = 'o-jc1'")
    build_traits(con, load_profiles_config().traits)
    run_segments(con, config, now=RUN2)
    con.execute("UPDATE staging.orders SET status = 'completed' WHERE order_id = 'o-jc1'")
    build_traits(con, load_profiles_config().traits)
    run_segments(con, config, now=RUN3)
    rows = con.execute("SELECT entered_at, exited_at FROM segments.membership WHERE customer_id = 'cus_juan' "
                       "ORDER BY entered_at").fetchall()
    assert rows == [(RUN1, RUN2), (RUN3, None)]


def test_only_runs_named_segments_and_rejects_unknown_ones(con):
    result = run_segments(con, load_segments_config(), now=RUN1, only=["app_users"])
    assert list(result["segments"]) == ["app_users"]
    with pytest.raises(ValueError, match="unknown segment"):
        run_segments(con, load_segments_config(), now=RUN2, only=["vip"])
