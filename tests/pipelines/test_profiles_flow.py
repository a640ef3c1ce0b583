"""The profile flows run end to end under Prefect on the fixture warehouse (the steps are tested plainly
in tests/profiles/)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from warehouse.connection import connect_home

_CONFTEST = Path(__file__).resolve().parents[1] / "profiles" / "conftest.py"


def _build_fixture_warehouse(home: Path) -> Path:
    spec = importlib.util.spec_from_file_location("profile_fixture_builder", _CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_profile_warehouse(home)


def test_profiles_then_segments_flow(prefect_harness, tmp_path):
    from pipelines.flows.profiles import profiles_and_segments_flow

    home = _build_fixture_warehouse(tmp_path / "home")
    result = profiles_and_segments_flow(str(home))
    assert result["profiles"]["golden"]["profiles"] == 6
    assert result["segments"]["segments"]["spanish_speaking"]["size"] == 2
    con = connect_home(home, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM profiles.customer_360").fetchone()[0] == 6
        assert con.execute("SELECT count(DISTINCT run_id) FROM segments.runs").fetchone()[0] == 1
    finally:
        con.close()
