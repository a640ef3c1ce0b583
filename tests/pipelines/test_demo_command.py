"""`cdp demo` rebuilds its own home and refuses to wipe anyone else's (steps stubbed: no flow here)."""
from __future__ import annotations

import os

import pytest

import pipelines.commands.run as run_command
import pipelines.sample_data as sample_data
from pipelines import cli


@pytest.fixture(autouse=True)
def _stub_steps(monkeypatch):
    saved = dict(os.environ)
    calls = []
    monkeypatch.setattr(sample_data, "generate", lambda out, customers, seed: calls.append(("generate", out)) or {})
    monkeypatch.setattr(run_command, "execute", lambda home, src, truth=None, full_resolve=False, lock_wait=None:
                        calls.append(("run", home)) or {"home": str(home), "timings": {}, "published": {}})
    yield calls
    os.environ.clear()
    os.environ.update(saved)


def test_demo_runs_in_a_fresh_home_even_though_cdp_made_its_prefect_folder(tmp_path, _stub_steps):
    home = tmp_path / "demo_home"
    assert cli.main(["demo", "--home", str(home)]) == 0
    assert [c[0] for c in _stub_steps] == ["generate", "run"]
    assert (home / ".cdp-demo").exists()


def test_a_second_demo_wipes_the_previous_one(tmp_path, _stub_steps):
    home = tmp_path / "demo_home"
    assert cli.main(["demo", "--home", str(home)]) == 0
    (home / "leftover.txt").write_text("from the last demo")
    assert cli.main(["demo", "--home", str(home)]) == 0
    assert not (home / "leftover.txt").exists()


def test_demo_refuses_a_folder_that_is_not_a_demo_home(tmp_path, capsys, _stub_steps):
    home = tmp_path / "my_warehouse"
    home.mkdir()
    (home / "warehouse.duckdb").write_text("precious")
    assert cli.main(["demo", "--home", str(home)]) == 2
    assert "not a demo home" in capsys.readouterr().err
    assert (home / "warehouse.duckdb").read_text() == "precious"
    assert _stub_steps == []
