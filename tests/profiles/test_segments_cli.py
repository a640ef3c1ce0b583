"""`cdp profiles`, `cdp segments` and `cdp export` from the command line (steps called directly, no Prefect)."""
from __future__ import annotations

import json

import polars as pl
import pytest

from pipelines.cli import main


@pytest.fixture(autouse=True)
def _own_prefect_home(monkeypatch, tmp_path):
    # The CLI points PREFECT_HOME at the home folder when unset; keep that out of the test process.
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))


def test_profiles_segments_export_commands(profile_warehouse, capsys, tmp_path):
    home = str(profile_warehouse)
    assert main(["profiles", "--home", home, "--no-flow"]) == 0
    out = capsys.readouterr().out
    assert "golden profiles: 6" in out and "Champions 1" in out

    assert main(["segments", "--home", home, "--no-flow", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["segments"]["spanish_speaking"] == {"size": 2, "entered": 2, "exited": 0}
    assert main(["segments", "--home", home, "--no-flow"]) == 0
    table = capsys.readouterr().out
    assert "spanish_speaking" in table and "segrun-000002" in table

    out_file = profile_warehouse / "exports" / "es.csv"  # exports stay inside HOME/exports
    assert main(["export", "spanish_speaking", "--home", home, "--fields", "customer_id,country_inferred",
                 "--out", str(out_file)]) == 0
    printed = capsys.readouterr().out
    assert f"to {out_file.resolve()}" in printed and "marketing consent" in printed
    assert set(pl.read_csv(out_file).columns) == {"customer_id", "country_inferred"}


def test_export_errors_are_one_clear_line(profile_warehouse, capsys):
    home = str(profile_warehouse)
    assert main(["profiles", "--home", home, "--no-flow"]) == 0
    assert main(["export", "high_value", "--home", home]) == 2
    err = capsys.readouterr().err
    assert "has no membership yet" in err and "cdp segments" in err and "Traceback" not in err
