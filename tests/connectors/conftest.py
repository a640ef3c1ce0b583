"""Fixtures for connector tests: a warehouse home per test and a small generated sample."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from warehouse.connection import connect_home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def generated_sample(tmp_path_factory) -> Path:
    """200 customers, 8 days, 4% broken: every damage kind appears in every stream family."""
    from pipelines.sample_data import generate

    out = tmp_path_factory.mktemp("generated") / "src"
    generate(out, customers=200, seed=11, broken_share=0.04, days=8)
    return out


@pytest.fixture
def generated_copy(generated_sample: Path, tmp_path: Path) -> Path:
    """A private copy of the generated sample, for tests that add or change source data."""
    dest = tmp_path / "gen"
    shutil.copytree(generated_sample, dest)
    return dest


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = connect_home(home, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
