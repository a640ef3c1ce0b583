"""Fixtures for identity tests: a synthetic staging warehouse and a small generated+ingested one."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import synthesize  # noqa: E402

from identity_helpers import home_record_map, record_map, staging_connection  # noqa: E402,F401


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


def pytest_configure(config):
    # identity reads results via execute().to_arrow_table() on purpose (see identity/__init__.py)
    config.addinivalue_line("filterwarnings", "ignore:Arrow output on a DB-API result:UserWarning")
