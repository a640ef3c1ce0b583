"""`cdp config check`: every config file is checked through its model and every problem listed."""
import sys
import types

import pytest
from pydantic import BaseModel, ConfigDict

from config.check import check_all, check_file, config_names, find_model
from pipelines.cli import main


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    """A user config folder that replaces packaged files by name."""
    monkeypatch.setenv("CDP_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_packaged_defaults_have_no_problems():
    results = check_all()
    assert "pipeline" in [r.name for r in results]
    assert [(r.name, r.problems) for r in results if r.problems] == []


def test_every_problem_of_every_file_is_reported(user_config, capsys):
    (user_config / "pipeline.yaml").write_text("schedule: {cron: 'every day'}\nretries: -3\nretrys: 2\n")
    (user_config / "broken.yaml").write_text("a: [1, 2\n")
    code = main(["config", "check"])
    out = capsys.readouterr().out
    assert code == 1
    assert "pipeline.yaml: schedule.cron:" in out
    assert "pipeline.yaml: retries:" in out
    assert "pipeline.yaml: retrys: unknown key" in out
    assert "broken.yaml: line 2: not valid YAML" in out
    assert "problem(s)" in out.splitlines()[-1]


def test_exit_zero_and_lists_checked_files_when_all_is_well(capsys):
    assert main(["config", "check", "pipeline"]) == 0
    out = capsys.readouterr().out
    assert "config.pipeline.PipelineSettings" in out
    assert "checked 1 file(s): 0 problem(s)" in out


def test_unknown_name_is_a_usage_error(capsys):
    assert main(["config", "check", "nosuchfile"]) == 2
    assert "no config file named nosuchfile" in capsys.readouterr().err


def test_file_without_model_is_parsed_and_said_so(user_config):
    (user_config / "h7orphan.yaml").write_text("x: 1\n")
    result = check_file("h7orphan")
    assert result.ok and result.model is None
    assert "only parsed" in result.note


def test_root_model_is_found_and_used(user_config, monkeypatch):
    class Inner(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: int

    class RootSettings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        inner: Inner

    module = types.ModuleType("config.h7fake")
    for cls in (Inner, RootSettings):
        cls.__module__ = module.__name__
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "config.h7fake", module)
    assert find_model("h7fake")[0] is RootSettings
    (user_config / "h7fake.yaml").write_text("inner: {size: big}\n")
    result = check_file("h7fake")
    assert result.model == "config.h7fake.RootSettings"
    assert [key for _, key, _ in result.problems] == ["inner.size"]


def test_a_model_module_that_fails_to_import_is_a_problem_not_a_crash(user_config, monkeypatch):
    (user_config / "h7bad.yaml").write_text("x: 1\n")

    import importlib

    real_import = importlib.import_module

    def fake_import(name, *args):
        if name == "config.h7bad":
            raise RuntimeError("boom")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    result = check_file("h7bad")
    assert not result.ok
    assert "failed to import" in result.problems[0][2]


def test_secrets_written_in_a_file_are_flagged(user_config):
    (user_config / "h7secret.yaml").write_text(
        "targets:\n  - name: crm\n    api_token: abc123\n    url: postgresql://app:hunter2@db/crm\n"
        "    url_env: CRM_URL\n"
    )
    result = check_file("h7secret")
    keys = sorted(key for _, key, _ in result.problems)
    assert keys == ["targets.0.api_token", "targets.0.url"]
    assert all("environment variable" in hint for _, _, hint in result.problems)
    assert all("hunter2" not in hint for _, _, hint in result.problems)


def test_names_include_user_and_packaged_files(user_config):
    (user_config / "extra.yaml").write_text("{}\n")
    names = config_names()
    assert "extra" in names and "pipeline" in names


def test_a_bad_value_from_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("CDP_PIPELINE__LOCK__WAIT_SECONDS", "soon")
    result = check_file("pipeline")
    assert [(key, "CDP_PIPELINE__LOCK__WAIT_SECONDS" in hint) for _, key, hint in result.problems] == [
        ("lock.wait_seconds", True)]


def test_the_warehouse_catalog_is_checked_too(monkeypatch, tmp_path, capsys):
    import warehouse.catalog as catalog

    bad = tmp_path / "catalog.yaml"
    bad.write_text("ops:\n  comment: x\n  tables:\n    loads: {coment: y}\n")
    monkeypatch.setattr(catalog, "CATALOG_PATH", bad)
    monkeypatch.setattr(catalog.load_catalog, "__defaults__", (bad,))
    assert main(["config", "check"]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: ops.tables.loads.coment:" in out
