"""Fixtures for identity tests: a synthetic staging warehouse and a small generated+ingested one."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import synthesize  # noqa: E402

from warehouse.connection import connect, connect_home  # noqa: E402


def staging_connection(staging: pl.DataFrame):
    con = connect()
    con.register("_staging", staging.to_arrow())
    con.execute("CREATE TABLE staging.customer_records AS SELECT * FROM _staging")
    con.unregister("_staging")
    return con


@pytest.fixture(scope="session")
def synthetic_300():
    return synthesize(300, seed=7)


@pytest.fixture(scope="session")
def generated_home(tmp_path_factory):
    """`generate --customers 400 --seed 7` then ingest; skipped when those parts are missing."""
    try:
        from connectors.runner import ingest_all
        from pipelines.sample_data import generate
    except ImportError as exc:  # pragma: no cover - depends on other parts of the project
        pytest.skip(f"generator or connectors not available: {exc}")
    root = tmp_path_factory.mktemp("generated")
    src, home = root / "src", root / "home"
    generate(src, customers=400, seed=7)
    ingest_all(home, src)
    return src, home


@pytest.fixture
def generated_copy(generated_home, tmp_path):
    src, home = generated_home
    target = tmp_path / "home"
    shutil.copytree(home, target, ignore=shutil.ignore_patterns(".cdp.lock", ".prefect"))
    return src, target


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


def pytest_configure(config):
    # identity reads results via execute().to_arrow_table() on purpose (see identity/__init__.py)
    config.addinivalue_line("filterwarnings", "ignore:Arrow output on a DB-API result:UserWarning")
