"""The command line as a user meets it (plain functions, no Prefect): shared options, fast by
default, status, quarantine list/show/replay, republished snapshots, config check of trait fields."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import cli
from warehouse.connection import connect_home

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_prefect_server(monkeypatch, tmp_path):
    """No server configured anywhere: commands must take the plain path."""
    saved = dict(os.environ)
    for key in ("PREFECT_API_URL", "PREFECT_PROFILE", "CDP_PREFECT_ORIGIN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "no-profiles.toml"))
    monkeypatch.setenv("CDP_SERVER_DIR", str(tmp_path / "no-server"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, repo_root) -> Path:
    """The checked-in sample ingested once (it holds broken records of every kind)."""
    home = tmp_path_factory.mktemp("ingested") / "home"
    os.environ.setdefault("CDP_SERVER_DIR", str(home.parent / "no-server"))
    assert cli.main(["ingest", "--from", str(repo_root / "data" / "samples" / "small"), "--home", str(home)]) == 0
    return home


@pytest.fixture
def home(ingested, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(ingested, copy)
    return copy


def _all_commands(group, path=()):
    for name, sub in group.commands.items():
        if hasattr(sub, "commands"):
            yield from _all_commands(sub, path + (name,))
        else:
            yield path + (name,), sub


def test_every_command_takes_the_shared_options():
    shared = {"home", "json_output", "flow", "lock_wait"}
    commands = dict(_all_commands(cli.build_command()))
    assert ("quarantine", "replay") in commands and ("server", "start") in commands
    for path, cmd in commands.items():
        if path == ("collect",) and not {p.name for p in cmd.params} & shared:
            continue  # still argparse-style while its author converts it: wrapped as it is
        assert shared <= {p.name for p in cmd.params}, " ".join(path)


def test_version_and_suggestions_for_a_mistyped_command(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("cdp ")
    assert cli.main(["ingset"]) == 2
    assert "Did you mean 'ingest'" in capsys.readouterr().err


def test_output_has_no_colour_codes_when_piped_or_with_no_color(ingested, capsys, monkeypatch):
    assert cli.main(["status", "--home", str(ingested)]) == 0
    assert "\x1b[" not in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli.main(["status", "--home", str(ingested)]) == 0
    assert "\x1b[3" not in capsys.readouterr().out


def test_a_step_command_never_imports_prefect_without_a_server(ingested, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    code = ("import sys; from pipelines.cli import main; "
            f"rc = main(['ingest', '--home', {str(tmp_path / 'h')!r}, '--source', 'web', '--from', "
            f"{str(REPO / 'data' / 'samples' / 'small')!r}]); "
            "print('PREFECT' if 'prefect' in sys.modules else 'PLAIN', rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "PLAIN 0", out.stderr
    assert "starting Prefect" not in out.stderr


def test_flow_is_chosen_by_flag_or_configured_server(monkeypatch, tmp_path, capsys):
    from pipelines.commands._common import Common, flow_target

    opts = Common(command="resolve", home=tmp_path)
    assert flow_target(opts) is None
    assert flow_target(Common(command="resolve", home=tmp_path, flow=True)).origin == "temporary"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens: run directly, say so
    assert flow_target(opts) is None
    assert "cannot reach the Prefect server" in capsys.readouterr().err


def test_server_state_is_found_only_while_its_process_lives(monkeypatch, tmp_path):
    from pipelines.commands import _prefect

    monkeypatch.setenv("CDP_SERVER_DIR", str(tmp_path / "srv"))
    (tmp_path / "srv").mkdir()
    state = {"pid": os.getpid(), "url": "http://127.0.0.1:4999/api", "started_at": "x", "log": "l",
             "prefect_home": "p"}
    (tmp_path / "srv" / "server.json").write_text(json.dumps(state))
    assert _prefect.configured_server().origin == "cdp server"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "srv" / "server.json").write_text(json.dumps({**state, "pid": dead.pid}))
    assert _prefect.configured_server() is None


def test_status_shows_loads_cursors_last_run_lock_snapshot_and_open_quarantine(ingested, capsys):
    assert cli.main(["status", "--home", str(ingested), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {l["stream"] for l in status["loads"]} >= {"web_events", "app_events", "orders"}
    assert all(l["age"].endswith("ago") for l in status["loads"])
    assert any(c["cursor"] == "files" for c in status["cursors"])
    assert status["last_run"]["command"] == "cdp ingest" and status["last_run"]["state"] == "completed"
    assert status["lock_holder"] is None
    assert status["snapshot"]["age"].endswith("ago")
    assert status["quarantine_open_total"] == sum(q["records"] for q in status["quarantine_open"]) > 0
    assert cli.main(["status", "--home", str(ingested)]) == 0
    text = capsys.readouterr().out
    assert "Last load per stream" in text and "Open quarantine" in text and "lock: free" in text


def test_writing_commands_republish_a_portable_snapshot(ingested, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(ingested, moved)
    shutil.rmtree(moved / "raw")  # the snapshot must not need the home's files any more
    con = __import__("duckdb").connect(str(moved / "snapshots" / "latest.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw.web_events").fetchall()[0][0] > 0
        kinds = dict(con.execute("SELECT table_name, 'table' FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall())
        assert "web_events" in kinds and "orders" in kinds
        views = [r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
        assert not any(str(ingested) in (v or "") for v in views)
    finally:
        con.close()
    sources = (moved / "dbt" / "sources.yml").read_text()
    assert "name: raw" in sources and "web_events" in sources


# -- quarantine ---------------------------------------------------------------------------------

def _q(home: Path, sql: str, params=None):
    con = connect_home(home, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_quarantine_list_and_show(home, capsys):
    assert cli.main(["quarantine", "list", "--home", str(home), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {r["reason"] for r in summary} >= {"invalid_json", "future_timestamp"}
    assert cli.main(["quarantine", "list", "--home", str(home), "--rows", "--reason", "future_timestamp",
                     "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all("payload" not in r for r in rows)  # listings carry no personal data
    assert cli.main(["quarantine", "show", rows[0]["id"], "--home", str(home), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == rows[0]["id"] and shown["payload"]
    assert cli.main(["quarantine", "show", "q_nope", "--home", str(home)]) == 2


def test_replay_with_a_patch_loads_through_the_load_path_and_resolves_the_rows(home, capsys):
    rows = json.loads(_run_json(capsys, ["quarantine", "list", "--home", str(home), "--rows", "--source", "web",
                                         "--reason", "future_timestamp"]))
    ids = [r["id"] for r in rows[:2]]
    staged_before = _q(home, "SELECT count(*) FROM staging.customer_records")[0][0]
    assert cli.main(["quarantine", "replay", *ids, "--home", str(home), "--dry-run", "--json",
                     "--patch", '{"timestamp": "2026-01-05T10:00:00Z"}']) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry[0]["loaded"] == 2 and dry[0]["load_id"] is None
    assert _q(home, "SELECT count(*) FROM raw.quarantine WHERE resolved_at IS NOT NULL")[0][0] == 0

    assert cli.main(["quarantine", "replay", *ids, "--home", str(home), "--json",
                     "--patch", '{"timestamp": "2026-01-05T10:00:00Z"}']) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert (result["replayed"], result["loaded"], result["still_failing"]) == (2, 2, {})
    load = _q(home, "SELECT files, rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM ops.loads "
                    "WHERE load_id = ?", [result["load_id"]])[0]
    assert load == (0, 2, 2, 0, 0)
    assert _q(home, "SELECT count(*) FROM ops.loads WHERE rows_read <> rows_loaded + rows_quarantined + "
                    "rows_duplicate")[0][0] == 0
    resolved = _q(home, "SELECT resolution, resolved_load_id FROM raw.quarantine WHERE resolved_at IS NOT NULL")
    assert resolved == [("loaded", result["load_id"])] * 2
    assert _q(home, "SELECT count(*) FROM staging.customer_records")[0][0] == staged_before + 2
    # The records keep their lineage (original file and line) and are in raw.
    lineage = _q(home, "SELECT count(*) FROM raw.web_events WHERE _load_id = ? AND _file LIKE '%events_%'",
                 [result["load_id"]])[0][0]
    assert lineage == 2
    # Replaying again finds nothing open for those ids.
    assert cli.main(["quarantine", "replay", *ids, "--home", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_replay_after_a_sql_fix_in_place_and_never_a_suppressed_record(home, capsys):
    con = connect_home(home)
    try:
        # The user's own SQL, in their own session: fix the orders' impossible dates (CSV rows: JSON payloads).
        con.execute("UPDATE raw.quarantine SET fixed_payload = CAST(json_merge_patch(payload, "
                    "'{\"created_at\": \"2026-01-05T10:00:00Z\", \"updated_at\": \"2026-01-05T10:00:00Z\"}') "
                    "AS VARCHAR) WHERE stream = 'orders' AND reason = 'future_timestamp'")
        fixed = con.execute("SELECT count(*) FROM raw.quarantine WHERE fixed_payload IS NOT NULL").fetchall()[0][0]
        con.execute("INSERT INTO raw.quarantine (load_id, source, stream, file, line, record_id, reason, payload, "
                    "quarantined_at) SELECT load_id, source, stream, file, 999999, 'forgotten', 'suppressed', payload, "
                    "quarantined_at FROM raw.quarantine WHERE stream = 'web_events' LIMIT 1")
    finally:
        con.close()
    assert fixed > 0
    assert cli.main(["quarantine", "replay", "--home", str(home), "--stream", "orders", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert result["loaded"] == fixed and result["still_failing"] == {"missing_field": 3}
    assert _q(home, "SELECT count(*) FROM raw.orders WHERE _load_id = ?", [result["load_id"]])[0][0] == fixed
    assert cli.main(["quarantine", "replay", "--home", str(home), "--reason", "suppressed", "--json"]) == 0
    skipped = json.loads(capsys.readouterr().out)
    assert [(r["loaded"], r["skipped_suppressed"]) for r in skipped] == [(0, 1)]
    assert _q(home, "SELECT resolved_at FROM raw.quarantine WHERE reason = 'suppressed'") == [(None,)]


def test_a_bad_patch_is_a_clear_usage_error(home, capsys):
    assert cli.main(["quarantine", "replay", "--home", str(home), "--patch", "{not json"]) == 2
    assert "--patch is not JSON" in capsys.readouterr().err


def _run_json(capsys, argv: list[str]) -> str:
    assert cli.main(argv + ["--json"]) == 0
    return capsys.readouterr().out


# -- config check -------------------------------------------------------------------------------

def test_config_check_catches_a_misspelt_trait_field_and_takes_home(tmp_path, monkeypatch, capsys, ingested):
    import yaml

    from config.loader import config_path

    profiles = yaml.safe_load(config_path("profiles").read_text())
    profiles["traits"]["custom"][0]["where"] = {"field": "evnt", "op": "eq", "value": "Product Viewed"}
    user = tmp_path / "cfg"
    user.mkdir()
    (user / "profiles.yaml").write_text(yaml.safe_dump(profiles))
    monkeypatch.setenv("CDP_CONFIG_DIR", str(user))
    assert cli.main(["config", "check", "--home", str(ingested)]) == 1
    out = capsys.readouterr().out
    assert "traits.custom.0.where.field: unknown field 'evnt' of raw.app_events; did you mean event" in out
