"""The pipeline settings model: defaults load, bad cron/time zone/retries are named with a hint."""
import pytest

from config import ConfigError
from config.pipeline import PipelineSettings, load_pipeline_settings


def test_packaged_defaults_load():
    settings = load_pipeline_settings()
    assert settings.schedule.cron == "0 2 * * *"
    assert settings.schedule.timezone == "UTC"
    assert settings.lock.wait_seconds == 600
    assert settings.snapshots.keep == 3


def test_env_override_changes_one_key(monkeypatch):
    monkeypatch.setenv("CDP_PIPELINE__SCHEDULE__CRON", "30 3 * * 1")
    monkeypatch.setenv("CDP_PIPELINE__LOCK__WAIT_SECONDS", "5")
    settings = load_pipeline_settings()
    assert settings.schedule.cron == "30 3 * * 1"
    assert settings.lock.wait_seconds == 5
    assert settings.schedule.timezone == "UTC"


@pytest.mark.parametrize(
    "cron, fragment",
    [("0 2 * *", "5 fields"), ("61 2 * * *", "not a valid cron"), ("0 2 * * funday", "not a valid cron")],
)
def test_bad_cron_is_rejected_with_a_hint(cron, fragment):
    with pytest.raises(ValueError, match=fragment):
        PipelineSettings.model_validate({"schedule": {"cron": cron}})


def test_every_problem_is_listed_with_file_and_key(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "schedule: {cron: '0 2 * *', timezone: Mars/Base}\nretries: -1\nsnapshot: {keep: 2}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline_settings(path)
    keys = {key for file, key, _ in caught.value.problems}
    assert keys == {"schedule.cron", "schedule.timezone", "retries", "snapshot"}
    assert all(file == str(path) for file, _, _ in caught.value.problems)
    hints = {key: hint for _, key, hint in caught.value.problems}
    assert "IANA" in hints["schedule.timezone"]
    assert "spelling" in hints["snapshot"]
