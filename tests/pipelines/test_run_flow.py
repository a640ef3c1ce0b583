"""The whole pipeline as one Prefect flow, run twice with new events in between: the second run
loads only the new files, records who entered and left each segment, and syncs only the profiles
that changed. A run that finds another holding the home stops with a message naming it."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warehouse.connection import connect_home

LATER = "2026-02-01"  # files dated from here on arrive between the two runs


def _split_sample(samples: Path, early: Path, later: Path) -> int:
    shutil.copytree(samples, early)
    moved = 0
    for path in sorted(early.rglob("*_20*")):
        day = path.name.split("_", 1)[1][:10]
        if day >= LATER:
            target = later / path.relative_to(early)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved += 1
    return moved


def _scalar(home: Path, sql: str):
    con = connect_home(home, read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_two_runs_with_new_events_in_between(prefect_harness, tmp_path, repo_root):
    from pipelines.flows.run import cdp_pipeline

    src, later, home = tmp_path / "src", tmp_path / "later", tmp_path / "home"
    assert _split_sample(repo_root / "data" / "samples" / "small", src, later) > 10

    first = cdp_pipeline(source_dir=str(src), home=str(home))
    customers = first["resolve"]["customers"]
    assert customers > 100
    assert all(load["rows_read"] == load["rows_loaded"] + load["rows_quarantined"] + load["rows_duplicate"]
               for load in first["loads"])
    assert first["evaluation"]["f1"] >= 0.95
    assert _scalar(home, "SELECT count(*) FROM profiles.golden") == customers
    assert first["syncs"][0]["new"] == customers
    assert Path(first["published"]["report"]).exists()
    files_after_first = _scalar(home, "SELECT count(*) FROM ops.loaded_files")
    # The docs name every table and view the warehouse has (docs/warehouse-tables.md is the catalog).
    from warehouse.catalog import undocumented_objects

    con = connect_home(home, read_only=True)
    try:
        assert undocumented_objects(con) == []
        assert con.execute("SELECT count(*) FROM profiles.customer").fetchall()[0][0] == customers
        assert con.execute("SELECT count(*) FROM segments.current_members").fetchall()[0][0] > 0
    finally:
        con.close()

    for path in later.rglob("*"):
        if path.is_file():
            shutil.move(path, src / path.relative_to(later))
    second = cdp_pipeline(source_dir=str(src), home=str(home))

    # Only the new files were read, none twice.
    assert _scalar(home, "SELECT count(*) FROM ops.loaded_files") > files_after_first
    assert _scalar(home, "SELECT count(*) - count(DISTINCT (source, stream, file_name)) FROM ops.loaded_files") == 0
    # Segments moved: some customers entered, and the run is recorded as run 2.
    entered = _scalar(home, "SELECT count(*) FROM segments.changes WHERE run_seq = 2 AND change = 'entered'")
    assert entered > 0
    # The CRM got only what changed: something, but far from everyone.
    sync = second["syncs"][0]
    changed = sync["new"] + sync["updated"] + sync["deleted"]
    assert 0 < changed < second["resolve"]["customers"]
    assert sync["unchanged"] > 0
    assert sync["failed"] == 0


def test_a_second_run_stops_with_a_message_naming_the_holder(prefect_harness, tmp_path, monkeypatch):
    from pipelines.flows import run as run_module
    from warehouse.lock import HomeLockedError

    home = tmp_path / "home"
    home.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from warehouse.lock import home_lock\n"
        f"with home_lock({str(home)!r}, wait_seconds=0, command='cdp run (test holder)'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(HomeLockedError, match="cdp run \\(test holder\\)"):
            run_module.cdp_pipeline(source_dir=None, home=str(home), lock_wait=1)
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()
    # Nothing was written by the refused run.
    assert not (home / "warehouse.duckdb").exists()
