"""Small helpers for the profile-layer tests: build profiles on the fixture warehouse, add records."""
from __future__ import annotations

from pathlib import Path

from config.profiles import load_profiles_config
from profiles.golden import build_golden
from profiles.traits import build_traits
from warehouse.connection import connect_home
from warehouse.staging import ORDERS, insert_rows


def open_built(home: Path, config=None):
    """A connection to the fixture warehouse with golden profiles and traits built."""
    config = config or load_profiles_config()
    con = connect_home(home)
    build_golden(con, config.golden)
    build_traits(con, config.traits)
    return con


def add_record(con, customer_id: str, source: str, record_id: str, event_time: str, **fields) -> None:
    """Attach one more normalized record (and its record_map row) to a customer."""
    columns = ["source", "record_id", "event_time", *fields]
    marks = ", ".join("?" for _ in columns)
    con.execute(
        f"INSERT INTO identity.normalized_records ({', '.join(columns)}) VALUES ({marks})",
        [source, record_id, event_time, *fields.values()],
    )
    con.execute(
        "INSERT INTO identity.record_map VALUES (?, ?, ?, TIMESTAMP '2026-03-01', 'run-2')",
        [source, record_id, customer_id],
    )


def add_order(con, customer_id: str, order_id: str, created_at: str, amount: float, currency: str = "EUR",
              status: str = "completed", channel: str = "store") -> None:
    add_record(con, customer_id, "transactions", order_id, created_at.replace("T", " "), order_id=order_id)
    con.execute(
        "INSERT INTO raw.orders (order_id, channel, created_at, updated_at, status, amount, currency, _load_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'load-2')",
        [order_id, channel, created_at, created_at, status, amount, currency],
    )
    at = created_at.replace("T", " ").removesuffix("Z").removesuffix(".000")
    insert_rows(con, ORDERS, [dict(source="transactions", stream="orders", record_id=order_id, order_id=order_id,
                                   channel=channel, status=status, amount=amount, currency=currency,
                                   created_at=at, updated_at=at, load_id="load-2")])
