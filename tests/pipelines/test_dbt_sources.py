"""dbt over the published snapshot, with the generated sources.yml (runs when dbt-duckdb is installed:
`pip install -e '.[dbt]'`, or point CDP_DBT at a dbt executable)."""
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main

DBT = os.environ.get("CDP_DBT") or shutil.which("dbt")
pytestmark = pytest.mark.skipif(not DBT, reason="dbt (dbt-duckdb) is not installed: pip install -e '.[dbt]'")


def test_dbt_runs_a_model_over_the_snapshot_sources(tmp_path, repo_root, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("CDP_SERVER_DIR", str(tmp_path / "no-server"))
    home = tmp_path / "home"
    assert main(["ingest", "--from", str(repo_root / "data" / "samples" / "small"), "--home", str(home),
                 "--source", "web"]) == 0
    sources = yaml.safe_load((home / "dbt" / "sources.yml").read_text())
    raw = next(s for s in sources["sources"] if s["name"] == "raw")
    web = next(t for t in raw["tables"] if t["name"] == "web_events")
    assert web["description"] and any(c["description"] for c in web["columns"])

    # The home moves: the snapshot must not need its old folder.
    moved = tmp_path / "moved"
    shutil.move(str(home), moved)
    project = tmp_path / "analytics"
    (project / "models").mkdir(parents=True)
    shutil.copy(moved / "dbt" / "sources.yml", project / "models" / "sources.yml")
    (project / "dbt_project.yml").write_text("name: analytics\nversion: '1.0'\nprofile: cdp\nconfig-version: 2\n")
    (project / "models" / "web_events_per_day.sql").write_text(textwrap.dedent("""
        {{ config(materialized='table') }}
        select cast(event_time as date) as day, count(*) as events
        from {{ source('raw', 'web_events') }} group by 1
    """))
    (project / "profiles.yml").write_text(yaml.safe_dump({"cdp": {"target": "dev", "outputs": {"dev": {
        "type": "duckdb", "path": str(project / "analytics.duckdb"),
        "attach": [{"path": str(moved / "snapshots" / "latest.duckdb"), "alias": "cdp", "read_only": True}]}}}}))
    run = subprocess.run([DBT, "run", "--project-dir", str(project), "--profiles-dir", str(project)],
                         capture_output=True, text=True, timeout=300, cwd=project)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    import duckdb

    con = duckdb.connect(str(project / "analytics.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT sum(events) FROM web_events_per_day").fetchall()[0][0] > 3000
    finally:
        con.close()
