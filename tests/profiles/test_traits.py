"""Computed traits: activity, orders and revenue in the base currency, RFM, enrichment, declared traits."""
from __future__ import annotations

import datetime as dt

import pytest

from config.loader import ConfigError, load_raw_config
from config.profiles import TraitsConfig, load_profiles_config
from profiles.traits import build_traits
from warehouse.connection import connect_home

from _profile_helpers import add_order, open_built


def _traits(con) -> dict[str, dict]:
    cur = con.execute("SELECT * FROM profiles.traits ORDER BY customer_id")
    names = [d[0] for d in cur.description]
    return {row[0]: dict(zip(names, row)) for row in cur.fetchall()}


def _config(**overrides) -> TraitsConfig:
    data = dict(load_raw_config("profiles")[0]["traits"])
    data.update(overrides)
    return TraitsConfig.model_validate(data)


@pytest.fixture
def con(built_profile_warehouse):
    con = connect_home(built_profile_warehouse)
    yield con
    con.close()


def test_orders_revenue_in_base_currency_and_activity(con):
    t = _traits(con)
    assert len(t) == 6
    maria, john, juan, siti, budi = (t[c] for c in ("cus_maria", "cus_john", "cus_juan", "cus_siti", "cus_budi"))
    assert (maria["orders"], maria["completed_orders"], maria["revenue"], maria["avg_order_value"]) == (3, 3, 500.0, 166.67)
    assert (maria["store_orders"], maria["web_orders"]) == (2, 1)
    assert john["revenue"] == pytest.approx(80 * 0.92)  # USD at the configured rate
    assert juan["revenue"] == pytest.approx(1000 * 0.05)  # MXN
    # A refunded order is an order, but no revenue and no RFM.
    assert (siti["orders"], siti["completed_orders"], siti["revenue"], siti["refunded_orders"]) == (1, 0, 0.0, 1)
    assert (maria["web_events"], maria["app_events"], maria["social_events"]) == (3, 1, 0)
    assert (budi["social_events"], budi["social_interactions"], budi["social_leads"]) == (4, 2, 1)
    assert maria["first_seen"] == dt.datetime(2026, 2, 20, 10) and maria["last_seen"] == dt.datetime(2026, 2, 28, 12)


def test_run_date_defaults_to_latest_event_and_can_be_set(con):
    t = _traits(con)
    assert t["cus_john"]["run_date"] == dt.date(2026, 2, 28)
    assert t["cus_john"]["days_since_last_order"] == 53  # 2026-01-06 -> 2026-02-28
    build_traits(con, _config(run_date="2026-03-10"))
    assert _traits(con)["cus_john"]["days_since_last_order"] == 63


def test_rfm_scores_and_segments(con):
    t = _traits(con)
    assert (t["cus_maria"]["rfm_score"], t["cus_maria"]["rfm_segment"]) == ("555", "Champions")
    assert t["cus_john"]["rfm_recency"] == 1 and t["cus_john"]["rfm_segment"] == "At Risk"
    assert t["cus_budi"]["rfm_segment"] == "Prospect" and t["cus_budi"]["rfm_score"] is None
    # Scores rank the buyers only (3 here, distinct values): lowest 1, middle 3, highest 5.
    assert [t[c]["rfm_monetary"] for c in ("cus_juan", "cus_john", "cus_maria")] == [1, 3, 5]
    assert [t[c]["rfm_frequency"] for c in ("cus_juan", "cus_john", "cus_maria")] == [1, 3, 5]


def test_tied_buyers_share_a_score(con):
    # Two more one-order buyers: the one-order crowd (Juan, Budi, Siti) ties and shares a low score.
    add_order(con, "cus_budi", "o-b1", "2026-02-20T09:00:00.000Z", 10.0)
    add_order(con, "cus_siti", "o-s2", "2026-02-21T09:00:00.000Z", 10.0)
    build_traits(con, load_profiles_config().traits)
    t = _traits(con)
    assert {t[c]["rfm_frequency"] for c in ("cus_juan", "cus_budi", "cus_siti")} == {2}
    assert (t["cus_john"]["rfm_frequency"], t["cus_maria"]["rfm_frequency"]) == (4, 5)


def test_enrichment_from_the_data(con):
    t = _traits(con)
    assert t["cus_john"]["email_domain_type"] == "company" and t["cus_maria"]["email_domain_type"] == "free"
    assert t["cus_anon"]["email_domain_type"] is None
    # Juan has no address country: the +52 prefix of his phone says Mexico.
    assert (t["cus_juan"]["country_inferred"], t["cus_juan"]["country_inferred_from"]) == ("MX", "phone")
    assert (t["cus_maria"]["country_inferred"], t["cus_maria"]["country_inferred_from"]) == ("ES", "address")
    assert t["cus_budi"]["preferred_channel"] == "social" and t["cus_juan"]["preferred_channel"] == "app"


def test_declared_traits_with_filter_window_and_json_field(con):
    custom = [
        {"name": "views_2d", "stream": "app_events", "agg": "count", "window_days": 2,
         "where": {"field": "event", "op": "eq", "value": "Product Viewed"}},
        {"name": "web_revenue_tracked", "stream": "web_events", "agg": "sum", "field": "properties.revenue",
         "where": {"field": "event", "op": "eq", "value": "Order Completed"}},
        {"name": "last_comment_at", "stream": "social_interactions", "agg": "last_time",
         "where": {"field": "type", "op": "eq", "value": "comment"}},
    ]
    build_traits(con, _config(custom=custom))
    t = _traits(con)
    # Window of 2 days up to run date 2026-02-28: Juan's view (02-27) counts, Maria's (02-26) does not.
    assert (t["cus_juan"]["views_2d"], t["cus_maria"]["views_2d"], t["cus_budi"]["views_2d"]) == (1, 0, 0)
    assert t["cus_maria"]["web_revenue_tracked"] == 120.0 and t["cus_john"]["web_revenue_tracked"] is None
    assert t["cus_budi"]["last_comment_at"] == dt.datetime(2026, 2, 11, 10)
    view_cols = {r[0] for r in con.execute("DESCRIBE profiles.customer_360").fetchall()}
    assert {"views_2d", "email", "rfm_segment", "email_source"} <= view_cols


def test_declared_trait_values_are_bound_not_pasted(con):
    hostile = "x'; DROP TABLE profiles.golden; --"
    custom = [{"name": "odd", "stream": "web_events", "agg": "count",
               "where": {"field": "event", "op": "eq", "value": hostile}}]
    build_traits(con, _config(custom=custom))
    assert all(r["odd"] == 0 for r in _traits(con).values())
    assert con.execute("SELECT count(*) FROM profiles.golden").fetchone()[0] == 6


def test_declared_trait_with_unknown_field_names_file_key_and_hint(con):
    custom = [{"name": "views", "stream": "web_events", "agg": "count",
               "where": {"all": [{"field": "evnt", "op": "eq", "value": "Product Viewed"}]}}]
    with pytest.raises(ConfigError) as err:
        build_traits(con, _config(custom=custom), "profiles.yaml")
    (file, key, message), = err.value.problems
    assert (file, key) == ("profiles.yaml", "traits.custom[0].where.all[0].field")
    assert "did you mean event" in message


def test_declared_trait_config_is_checked_when_loaded():
    with pytest.raises(ValueError, match="needs `field`"):
        _config(custom=[{"name": "s", "stream": "orders", "agg": "sum"}])
    with pytest.raises(ValueError, match="unknown stream"):
        _config(custom=[{"name": "s", "stream": "tiktok", "agg": "count"}])
    with pytest.raises(ValueError, match="unknown op"):
        _config(custom=[{"name": "s", "stream": "orders", "where": {"field": "status", "op": "like", "value": "x"}}])


def test_unknown_currency_is_counted_not_silently_dropped(con):
    add_order(con, "cus_budi", "o-b1", "2026-02-28T09:00:00.000Z", 100.0, currency="GBP")
    build_traits(con, load_profiles_config().traits)
    budi = _traits(con)["cus_budi"]
    assert (budi["completed_orders"], budi["orders_unconverted"], budi["revenue"]) == (1, 1, 0.0)
