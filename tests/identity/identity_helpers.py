"""Helpers shared by identity tests, under a module name no other test folder uses.

(`from conftest import ...` resolved to tests/pipelines/conftest.py when both folders were
collected in one run with pipelines first.)
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from warehouse.connection import connect, connect_home


def staging_connection(staging: pl.DataFrame):
    con = connect()
    con.register("_staging", staging.to_arrow())
    con.execute("CREATE TABLE staging.customer_records AS SELECT * FROM _staging")
    con.unregister("_staging")
    return con


def record_map(con) -> pl.DataFrame:
    return pl.from_arrow(con.execute(
        "SELECT source, record_id, customer_id FROM identity.record_map ORDER BY source, record_id"
    ).to_arrow_table())


def home_record_map(home: Path) -> pl.DataFrame:
    con = connect_home(home, read_only=True)
    try:
        return record_map(con)
    finally:
        con.close()
