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


def test_executor_defaults_to_embedded():
    settings = load_pipeline_settings()
    assert settings.executor == "local"
    assert settings.dask.address is None and settings.dask.workers == 2


@pytest.mark.parametrize("data, fragment", [
    ({"executor": "spark"}, "'local' or 'dask'"),
    ({"dask": {"address": "tcp://h:8786", "local_workers": 2}}, "not both"),
    ({"dask": {"address": "localhost"}}, "tcp://HOST:8786"),
    ({"dask": {"local_workers": 0}}, "greater than or equal to 1"),
    ({"dask": {"worker_memory": "lots"}}, "at least 256MiB"),
    ({"dask": {"worker_memory": "10MB"}}, "at least 256MiB"),
    ({"dask": {"workers": 2}}, "Extra inputs"),
])
def test_bad_executor_settings_are_named(data, fragment):
    with pytest.raises(ValueError, match=fragment):
        PipelineSettings.model_validate(data)


def test_executor_flag_names_the_choices():
    from config.pipeline import check_executor

    assert check_executor("dask") == "dask"
    with pytest.raises(ValueError, match="unknown executor 'ray'; choose from local, dask"):
        check_executor("ray")
