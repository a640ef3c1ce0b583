"""A small warehouse with six resolved customers, shaped like the real chain's tables.

`profile_warehouse` gives a home folder whose `warehouse.duckdb` holds what the profile layer reads:
`staging.customer_records`, `identity.normalized_records`, `identity.record_map`,
`identity.customers` and the raw streams (`raw.web_events`, `raw.app_events`,
`raw.social_profiles`, `raw.social_interactions`, `raw.social_leads`, `raw.orders`; tables here,
views over Parquet in the real warehouse). The connection is closed: open it with
`warehouse.connection.connect_home(home)`.

The customers (ids are fixed so tests can name them):
- `cus_maria`  Maria Garcia, ES: web + app + 3 recent EUR orders (a big spender), consent given on web.
- `cus_john`   John Smith, US: two old USD orders, company email, nothing lately (at risk).
- `cus_budi`   Budi Santoso, ID: a social profile, interactions and a lead form; never bought.
- `cus_juan`   Juan Carlos Lopez, MX: app user with one recent MXN order, phone but no address country.
- `cus_siti`   Siti, ID: web only, gmail, an order that was refunded (no revenue).
- `cus_anon`   a cookie with page views only (no PII at all).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from warehouse.connection import connect_home
from warehouse.layout import HomeLayout
from warehouse.staging import (
    CONSENT_STATEMENTS, CUSTOMER_RECORDS, ORDERS as STAGED_ORDERS, STAGING_COLUMNS, ensure_staging_tables, insert_rows,
)

NORMALIZED_COLUMNS = [
    "source", "record_id", "event_time", "anonymous_id", "previous_id", "user_id", "device_id",
    "order_id", "social_handle", "email", "email_invalid_reason", "phone", "phone_invalid_reason",
    "first_name", "last_name", "full_name", "first_name_key", "last_name_key", "full_name_key",
    "street", "house_number", "city", "postcode", "region", "country", "birth_date",
]

# The staging contract is declared once (warehouse.staging): the fixture is built through it.
STAGING_COLUMNS = list(STAGING_COLUMNS)


def _ctx(consent: bool | None = None, locale: str | None = None, device: str | None = None) -> str:
    context: dict = {}
    if consent is not None:
        context["consent"] = {"categoryPreferences": {"marketing": consent, "analytics": True}}
    if locale:
        context["locale"] = locale
    if device:
        context["device"] = {"id": device, "type": "ios"}
    return json.dumps(context)


# (customer_id, source, stream, record_id, record_type, event_time, fields...)
# fields: a dict of normalized values (also used as the raw staging values).
RECORDS: list[tuple[str, str, str, str, str, str, dict]] = [
    # Maria: identify on web, page views, app, three web-shop/store orders.
    ("cus_maria", "web", "web_events", "w-m1", "identify", "2026-02-20 10:00:00",
     dict(anonymous_id="anon-m", user_id="u-maria", email="maria.garcia@gmail.com",
          phone="+34612345678", first_name="Maria", last_name="Garcia", full_name="Maria Garcia",
          street="calle mayor", house_number="3", city="madrid", postcode="28013", region="Madrid",
          country="ES", birth_date="1990-04-23")),
    ("cus_maria", "web", "web_events", "w-m2", "track", "2026-02-21 10:00:00",
     dict(anonymous_id="anon-m", user_id="u-maria", order_id="o-m1")),
    ("cus_maria", "web", "web_events", "w-m3", "page", "2026-02-25 09:00:00",
     dict(anonymous_id="anon-m")),
    ("cus_maria", "app", "app_events", "a-m1", "track", "2026-02-26 08:00:00",
     dict(user_id="u-maria", device_id="dev-m")),
    ("cus_maria", "transactions", "orders", "o-m1", "order", "2026-02-21 10:00:00",
     dict(user_id="u-maria", email="maria.garcia@gmail.com", phone="+34612345678",
          first_name="María", last_name="García", full_name="María García", street="calle mayor",
          house_number="3", city="madrid", postcode="28013", region="Madrid", country="ES", order_id="o-m1")),
    ("cus_maria", "transactions", "orders", "o-m2", "order", "2026-02-27 12:00:00",
     dict(email="maria.garcia@gmail.com", phone="+34612345678", first_name="Maria",
          last_name="Garcia", full_name="Maria Garcia", street="calle alcala", house_number="10",
          city="madrid", postcode="28014", region="Madrid", country="ES", order_id="o-m2")),
    ("cus_maria", "transactions", "orders", "o-m3", "order", "2026-02-28 12:00:00",
     dict(email="maria.garcia@gmail.com", first_name="Maria", last_name="Garcia",
          full_name="Maria Garcia", country="ES", order_id="o-m3")),
    # John: old USD orders with a company email, one web identify.
    ("cus_john", "web", "web_events", "w-j1", "identify", "2026-01-05 10:00:00",
     dict(anonymous_id="anon-j", user_id="u-john", email="john.smith@acme-corp.com",
          first_name="John", last_name="Smith", full_name="John Smith", country="US")),
    ("cus_john", "transactions", "orders", "o-j1", "order", "2026-01-05 11:00:00",
     dict(user_id="u-john", email="john.smith@acme-corp.com", phone="+12025550143",
          first_name="John", last_name="Smith", full_name="John Smith", street="main street",
          house_number="12", city="springfield", postcode="62701", region="IL", country="US",
          order_id="o-j1")),
    ("cus_john", "transactions", "orders", "o-j2", "order", "2026-01-06 11:00:00",
     dict(user_id="u-john", email="john.smith@acme-corp.com", first_name="John", last_name="Smith",
          full_name="John Smith", country="US", order_id="o-j2")),
    # Budi: social only, a lead form with email and phone, no orders.
    ("cus_budi", "social", "social_profiles", "sp-b", "profile", "2026-02-01 10:00:00",
     dict(social_handle="budi.santoso", full_name="Budi Santoso", first_name="Budi",
          last_name="Santoso")),
    ("cus_budi", "social", "social_interactions", "si-b1", "like", "2026-02-10 10:00:00",
     dict(social_handle="budi.santoso")),
    ("cus_budi", "social", "social_interactions", "si-b2", "comment", "2026-02-11 10:00:00",
     dict(social_handle="budi.santoso")),
    ("cus_budi", "social", "social_leads", "sl-b", "lead", "2026-02-12 10:00:00",
     dict(social_handle="budi.santoso", full_name="Budi Santoso", first_name="Budi",
          last_name="Santoso", email="budi.santoso@yahoo.co.id", phone="+6281234567890",
          city="jakarta", country="ID")),
    # Juan: app user, one recent MXN order, phone only gives the country.
    ("cus_juan", "app", "app_events", "a-j1", "identify", "2026-02-15 10:00:00",
     dict(user_id="u-juan", device_id="dev-j", email="jc.lopez@hotmail.com", first_name="Juan Carlos",
          last_name="Lopez", full_name="Juan Carlos Lopez", phone="+5215512345678")),
    ("cus_juan", "app", "app_events", "a-j2", "screen", "2026-02-27 10:00:00",
     dict(user_id="u-juan", device_id="dev-j")),
    ("cus_juan", "app", "app_events", "a-j3", "track", "2026-02-27 10:05:00",
     dict(user_id="u-juan", device_id="dev-j")),
    ("cus_juan", "transactions", "orders", "o-jc1", "order", "2026-02-27 10:10:00",
     dict(user_id="u-juan", email="jc.lopez@hotmail.com", first_name="Juan Carlos", last_name="Lopez",
          full_name="Juan Carlos Lopez", phone="+5215512345678", order_id="o-jc1")),
    # Siti: web, one refunded order.
    ("cus_siti", "web", "web_events", "w-s1", "identify", "2026-02-18 10:00:00",
     dict(anonymous_id="anon-s", email="siti@gmail.com", first_name="Siti", full_name="Siti",
          country="ID")),
    ("cus_siti", "transactions", "orders", "o-s1", "order", "2026-02-18 11:00:00",
     dict(email="siti@gmail.com", first_name="Siti", full_name="Siti", country="ID", order_id="o-s1")),
    # An anonymous visitor.
    ("cus_anon", "web", "web_events", "w-a1", "page", "2026-02-28 23:00:00",
     dict(anonymous_id="anon-x")),
]

# order_id -> (status, amount, currency, channel)
ORDERS = {
    "o-m1": ("completed", 120.0, "EUR", "web"),
    "o-m2": ("completed", 80.0, "EUR", "store"),
    "o-m3": ("completed", 300.0, "EUR", "store"),
    "o-j1": ("completed", 50.0, "USD", "store"),
    "o-j2": ("completed", 30.0, "USD", "web"),
    "o-jc1": ("completed", 1000.0, "MXN", "web"),
    "o-s1": ("refunded", 40.0, "EUR", "store"),
}

# record_id -> (event name, properties) for web/app tracks
EVENTS = {
    "w-m2": ("Order Completed", {"order_id": "o-m1", "revenue": 120.0, "currency": "EUR"}),
    "a-m1": ("Product Viewed", {"product_id": "p1"}),
    "a-j3": ("Product Viewed", {"product_id": "p2"}),
}


def build_profile_warehouse(home: Path) -> Path:
    """Write the fixture tables into `home/warehouse.duckdb` (replacing them) and return `home`."""
    con = connect_home(home)
    # One transaction: a commit per INSERT into a file database costs a sync each.
    con.execute("BEGIN TRANSACTION")
    try:
        col_defs = ", ".join(
            f"{c} TIMESTAMP" if c == "event_time" else f"{c} DATE" if c == "birth_date" else f"{c} VARCHAR"
            for c in NORMALIZED_COLUMNS
        )
        con.execute(f"CREATE OR REPLACE TABLE identity.normalized_records ({col_defs})")
        ensure_staging_tables(con)
        con.execute(
            "CREATE OR REPLACE TABLE identity.record_map (source VARCHAR, record_id VARCHAR, "
            "customer_id VARCHAR, first_assigned_at TIMESTAMP, run_id VARCHAR)"
        )
        con.execute(
            "CREATE OR REPLACE TABLE identity.customers (customer_id VARCHAR, record_count BIGINT, "
            "first_seen TIMESTAMP, last_seen TIMESTAMP, created_run_id VARCHAR)"
        )
        for customer_id, source, stream, record_id, record_type, event_time, fields in RECORDS:
            norm = {c: None for c in NORMALIZED_COLUMNS}
            norm.update(source=source, record_id=record_id, event_time=event_time, **fields)
            con.execute(
                f"INSERT INTO identity.normalized_records VALUES ({', '.join('?' * len(NORMALIZED_COLUMNS))})",
                [norm[c] for c in NORMALIZED_COLUMNS],
            )
            staged = {k: v for k, v in fields.items() if k in STAGING_COLUMNS}
            staged.update(source=source, stream=stream, record_id=record_id, record_type=record_type,
                          event_time=event_time, load_id="load-1")
            insert_rows(con, CUSTOMER_RECORDS, [staged])
            base = dict(source=source, stream=stream, record_id=record_id, load_id="load-1")
            if customer_id == "cus_maria" and stream == "web_events":  # Maria said yes on the web
                insert_rows(con, CONSENT_STATEMENTS, [dict(base, purpose=p, granted=True, stated_at=event_time)
                                                      for p in ("marketing", "analytics")])
            if stream == "social_leads":  # Budi's lead form: no to marketing
                insert_rows(con, CONSENT_STATEMENTS, [dict(base, purpose="marketing", granted=False,
                                                           stated_at=event_time)])
            if stream == "orders":
                status, amount, currency, channel = ORDERS[record_id]
                insert_rows(con, STAGED_ORDERS, [dict(base, order_id=record_id, channel=channel, status=status,
                                                      amount=amount, currency=currency, created_at=event_time,
                                                      updated_at=event_time)])
            con.execute(
                "INSERT INTO identity.record_map VALUES (?, ?, ?, TIMESTAMP '2026-03-01', 'run-1')",
                [source, record_id, customer_id],
            )
        con.execute(
            "INSERT INTO identity.customers SELECT customer_id, count(*), min(n.event_time), "
            "max(n.event_time), 'run-1' FROM identity.record_map m JOIN identity.normalized_records n "
            "USING (source, record_id) GROUP BY customer_id"
        )
        _build_raw(con)
        con.execute("COMMIT")
    finally:
        con.close()
    return home


def _build_raw(con) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE raw.web_events (messageId VARCHAR, type VARCHAR, event VARCHAR, "
        "name VARCHAR, timestamp VARCHAR, anonymousId VARCHAR, userId VARCHAR, properties VARCHAR, "
        "traits VARCHAR, context VARCHAR, _load_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.app_events (messageId VARCHAR, type VARCHAR, event VARCHAR, "
        "name VARCHAR, timestamp VARCHAR, anonymousId VARCHAR, userId VARCHAR, properties VARCHAR, "
        "traits VARCHAR, context VARCHAR, _load_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.social_profiles (profile_id VARCHAR, handle VARCHAR, "
        "display_name VARCHAR, location VARCHAR, followers BIGINT, created_at VARCHAR, "
        "updated_at VARCHAR, _load_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.social_interactions (interaction_id VARCHAR, profile_id VARCHAR, "
        "handle VARCHAR, type VARCHAR, post_id VARCHAR, text VARCHAR, timestamp VARCHAR, _load_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.social_leads (lead_id VARCHAR, form_id VARCHAR, profile_id VARCHAR, "
        "handle VARCHAR, submitted_at VARCHAR, full_name VARCHAR, email VARCHAR, phone VARCHAR, "
        "city VARCHAR, country VARCHAR, consent_marketing VARCHAR, _load_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.orders (order_id VARCHAR, channel VARCHAR, created_at VARCHAR, "
        "updated_at VARCHAR, status VARCHAR, amount DOUBLE, currency VARCHAR, items VARCHAR, "
        "customer_account_id VARCHAR, email VARCHAR, phone VARCHAR, first_name VARCHAR, "
        "last_name VARCHAR, billing_street VARCHAR, billing_city VARCHAR, billing_postcode VARCHAR, "
        "billing_region VARCHAR, billing_country VARCHAR, _load_id VARCHAR)"
    )
    for customer_id, source, stream, record_id, record_type, event_time, f in RECORDS:
        ts = event_time.replace(" ", "T") + ".000Z"
        if stream in ("web_events", "app_events"):
            event, props = EVENTS.get(record_id, (None, {}))
            traits = {k: f[k] for k in ("email", "phone") if k in f} if record_type == "identify" else None
            consent = True if customer_id == "cus_maria" and stream == "web_events" else None
            context = _ctx(consent=consent, locale="es-ES" if customer_id in ("cus_maria", "cus_juan") else None,
                           device=f.get("device_id"))
            con.execute(
                f"INSERT INTO raw.{stream} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'load-1')",
                [record_id, record_type, event, None, ts, f.get("anonymous_id"), f.get("user_id"),
                 json.dumps(props), json.dumps(traits) if traits else None, context],
            )
        elif stream == "social_profiles":
            con.execute("INSERT INTO raw.social_profiles VALUES (?, ?, ?, 'Jakarta', 120, ?, ?, 'load-1')",
                        [record_id, "@" + f["social_handle"], f.get("full_name"), ts, ts])
        elif stream == "social_interactions":
            con.execute("INSERT INTO raw.social_interactions VALUES (?, 'sp-b', ?, ?, 'post-1', NULL, ?, 'load-1')",
                        [record_id, "@" + f["social_handle"], record_type, ts])
        elif stream == "social_leads":
            con.execute(
                "INSERT INTO raw.social_leads VALUES (?, 'form-1', 'sp-b', ?, ?, ?, ?, ?, ?, ?, 'false', 'load-1')",
                [record_id, "@" + f["social_handle"], ts, f.get("full_name"), f.get("email"),
                 f.get("phone"), f.get("city"), f.get("country")],
            )
        elif stream == "orders":
            status, amount, currency, channel = ORDERS[record_id]
            con.execute(
                "INSERT INTO raw.orders VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'load-1')",
                [record_id, channel, ts, ts, status, amount, currency, f.get("user_id"), f.get("email"),
                 f.get("phone"), f.get("first_name"), f.get("last_name"), f.get("street"), f.get("city"),
                 f.get("postcode"), f.get("region"), f.get("country")],
            )


@pytest.fixture(scope="session")
def _profile_warehouse_template(tmp_path_factory) -> Path:
    return build_profile_warehouse(tmp_path_factory.mktemp("profile_template") / "home")


@pytest.fixture
def profile_warehouse(tmp_path: Path, _profile_warehouse_template: Path) -> Path:
    """A home folder with six resolved customers (see the module docstring); connection closed.

    Built once per session and copied: each test gets its own writable warehouse file.
    """
    home = tmp_path / "home"
    HomeLayout(home).ensure()
    shutil.copyfile(HomeLayout(_profile_warehouse_template).database, HomeLayout(home).database)
    return home


@pytest.fixture(scope="session")
def _built_profile_template(tmp_path_factory, _profile_warehouse_template: Path) -> Path:
    from config.profiles import load_profiles_config
    from profiles.golden import build_golden
    from profiles.traits import build_traits

    home = tmp_path_factory.mktemp("built_template") / "home"
    HomeLayout(home).ensure()
    shutil.copyfile(HomeLayout(_profile_warehouse_template).database, HomeLayout(home).database)
    config = load_profiles_config()
    con = connect_home(home)
    try:
        build_golden(con, config.golden)
        build_traits(con, config.traits)
    finally:
        con.close()
    return home


@pytest.fixture
def built_profile_warehouse(tmp_path: Path, _built_profile_template: Path) -> Path:
    """`profile_warehouse` with `profiles.golden`, `profiles.traits` and `profiles.customer_360` built
    from the default config (copied from a session template)."""
    home = tmp_path / "home"
    HomeLayout(home).ensure()
    shutil.copyfile(HomeLayout(_built_profile_template).database, HomeLayout(home).database)
    return home
