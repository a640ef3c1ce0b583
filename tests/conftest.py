"""Shared fixtures for the whole suite."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
