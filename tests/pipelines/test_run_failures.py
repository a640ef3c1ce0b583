"""Failures that fail: a run with an unreadable input, a broken sync target or failed sync rows ends
non-Completed after running every step that does not need the failed one (snapshot and report too)."""
from __future__ import annotations

import shutil
from pathlib import Path

from warehouse.connection import connect_home


def test_a_broken_target_and_an_unreadable_file_fail_the_run_after_everything_else_ran(
        prefect_harness, tmp_path, repo_root, monkeypatch):
    import connectors.base as base
    from pipelines.flows.run import PipelineFailed, cdp_pipeline

    src, home = tmp_path / "src", tmp_path / "home"
    shutil.copytree(repo_root / "data" / "samples" / "small", src)
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(repo_root / "config" / "sync.yaml", config / "sync.yaml")
    with open(config / "sync.yaml", "a") as handle:
        handle.write("  broken:\n    kind: file\n    mapping: {email: no_such_field}\n")
    monkeypatch.setenv("CDP_CONFIG_DIR", str(config))
    monkeypatch.setenv("CDP_PIPELINE__RETRIES", "0")
    unreadable = sorted((src / "web").glob("events_*"))[0].name
    real = base.fingerprint

    def fingerprint(path):
        if path.name == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(base, "fingerprint", fingerprint)
    state = cdp_pipeline(source_dir=str(src), home=str(home), return_state=True)
    assert state.is_failed() and not state.is_completed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, PipelineFailed)
    summary = error.summary
    steps = {f["step"] for f in summary["failures"]}
    assert steps == {"ingest-inputs", "sync-broken"}, summary["failures"]
    assert all("@" not in f["message"] for f in summary["failures"])  # ids and counts only
    # Everything that does not need the broken target ran: the other target, snapshot and report.
    assert [s["target"] for s in summary["syncs"]] == ["crm_file"] and summary["syncs"][0]["new"] > 0
    assert Path(summary["published"]["report"]).exists() and Path(summary["published"]["snapshot"]).exists()
    con = connect_home(home, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM profiles.golden").fetchone()[0] > 100
    finally:
        con.close()


def test_cdp_run_exits_non_zero_when_the_run_failed(tmp_path, monkeypatch, capsys):
    import pipelines.commands.run as run_command
    from pipelines.cli import main
    from pipelines.flows.run import PipelineFailed

    summary = {"home": str(tmp_path), "timings": {}, "loads": [], "syncs": [
        {"target": "crm_api", "new": 3, "updated": 0, "deleted": 0, "failed": 2}],
        "failures": [{"step": "sync-crm_api-rows", "message": "sync crm_api: 2 row(s) failed (retried next run)",
                      "skipped": False}]}

    def failing(*args, **kwargs):
        raise PipelineFailed(summary)

    monkeypatch.setattr(run_command, "execute", failing)
    assert main(["run", "--home", str(tmp_path / "home")]) == 1
    assert "2 row(s) failed" in capsys.readouterr().err
