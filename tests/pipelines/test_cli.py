"""The `cdp` entry point: command discovery and where Prefect keeps its state (plain tests, no flow)."""
from __future__ import annotations

import os

import pytest

from pipelines import cli


@pytest.fixture(autouse=True)
def _restore_environment():
    """`cdp` sets Prefect variables in os.environ; keep them from leaking into the flow tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_every_command_module_is_registered():
    names = cli.command_names()
    assert {"demo", "run", "generate", "ingest", "resolve", "evaluate", "explain", "resolve-file",
            "profiles", "segments", "export", "sync", "forget", "report", "serve", "config", "status",
            "quarantine", "server", "publish", "dbt-sources"} <= names


def test_a_fresh_home_gets_its_own_prefect_state_folder(tmp_path, monkeypatch):
    for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "no-profiles.toml"))
    home = tmp_path / "not" / "yet" / "there"
    cli._isolate_prefect_state(["run", "--home", str(home)])
    # Prefect itself only creates the last level: a missing parent made its temporary server fail.
    assert (home / ".prefect").is_dir()
    assert os.environ["PREFECT_HOME"] == str((home / ".prefect").resolve())


def test_a_prefect_server_in_the_users_profile_is_respected(tmp_path, monkeypatch):
    for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    cli._isolate_prefect_state(["run", "--home", str(tmp_path / "home")])
    assert "PREFECT_HOME" not in os.environ
    assert not (tmp_path / "home").exists()


def test_unknown_folder_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert cli.main(["run", "--from", str(tmp_path / "missing"), "--home", str(tmp_path / "h")]) == 2
    assert "does not exist" in capsys.readouterr().err
