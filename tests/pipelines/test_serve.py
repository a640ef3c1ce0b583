"""`cdp serve` refuses clearly when it cannot schedule anything (no Prefect server is started here)."""
from pipelines.cli import main


def test_without_a_prefect_server_it_says_how_to_start_one(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr("pipelines.commands.serve.prefect_api_url", lambda: None)
    assert main(["serve", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "PREFECT_API_URL is not set" in err and "prefect server start" in err


def test_unreachable_server_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # discard port: nothing listens
    assert main(["serve", "--home", str(tmp_path)]) == 2
    assert "cannot reach the Prefect server at http://127.0.0.1:9/api" in capsys.readouterr().err


def test_bad_cron_on_the_command_line_is_rejected_before_anything_else(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert main(["serve", "--home", str(tmp_path), "--cron", "0 2 * *"]) == 2
    assert "schedule.cron" in capsys.readouterr().err


def test_schedule_comes_from_config_with_command_line_overrides(monkeypatch, tmp_path):
    import argparse

    from pipelines.commands.serve import schedule_settings

    monkeypatch.setenv("CDP_PIPELINE__SCHEDULE__TIMEZONE", "Europe/Madrid")
    args = argparse.Namespace(cron="30 4 * * 1-5", timezone=None, name="weekdays", source_dir=None,
                              home=tmp_path)
    schedule = schedule_settings(args).schedule
    assert (schedule.cron, schedule.timezone, schedule.deployment_name, schedule.home) == (
        "30 4 * * 1-5", "Europe/Madrid", "weekdays", tmp_path)


def test_status_lists_schedule_and_next_runs_from_the_api(monkeypatch):
    import httpx

    from pipelines.commands.serve import deployment_status

    deployment = {"id": "d1", "name": "nightly", "paused": False, "tags": ["cdp"],
                  "parameters": {"home": "/h"},
                  "schedules": [{"schedule": {"cron": "0 2 * * *", "timezone": "Europe/Madrid"}}]}
    runs = [{"name": "sly-chamois", "expected_start_time": "2026-11-24T01:00:00Z"}]
    calls = []

    def fake_post(url, json, timeout):
        calls.append((url, json))
        return httpx.Response(200, json=[deployment] if url.endswith("/deployments/filter") else runs)

    monkeypatch.setattr(httpx, "post", fake_post)
    lines = deployment_status("http://server/api/")
    assert lines == [
        "cdp-pipeline/nightly: cron '0 2 * * *' (Europe/Madrid); tags ['cdp']; paused False; "
        "parameters {'home': '/h'}",
        "  next run sly-chamois: 2026-11-24T01:00:00Z",
    ]
    assert calls[0][0] == "http://server/api/deployments/filter"
    assert calls[0][1]["flows"] == {"name": {"any_": ["cdp-pipeline"]}}
    assert calls[1][1]["deployments"] == {"id": {"any_": ["d1"]}}
