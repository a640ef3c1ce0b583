"""The home run lock, exercised across real processes."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from warehouse.lock import HomeLockedError, home_lock, read_holder

HOLDER_SCRIPT = """
import sys, time
from warehouse.lock import home_lock
with home_lock(sys.argv[1], wait_seconds=0, command="cdp run --test"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    open(sys.argv[1] + "/holder-done", "w").close()  # written while still holding the lock
"""


def _start_holder(home: Path, hold_seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(home), str(hold_seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_gives_up_naming_the_holder(tmp_path):
    holder = _start_holder(tmp_path, 30)
    try:
        with pytest.raises(HomeLockedError) as caught:
            with home_lock(tmp_path, wait_seconds=0.5, command="cdp ingest"):
                pytest.fail("entered a lock held by another process")
        message = str(caught.value)
        assert f"pid {holder.pid}" in message
        assert "`cdp run --test`" in message
        assert str(tmp_path) in message and "wait_seconds" in message
        assert caught.value.waited >= 0.5
    finally:
        holder.kill()
        holder.wait()


def test_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path):
    holder = _start_holder(tmp_path, 1.0)
    with home_lock(tmp_path, wait_seconds=20, command="cdp resolve") as record:
        assert (tmp_path / "holder-done").exists(), "got the lock while the other process held it"
        assert read_holder(tmp_path)["command"] == "cdp resolve"
        assert record["pid"] == os.getpid()
    holder.wait()
    assert read_holder(tmp_path) is None  # released runs leave no holder record


def test_lock_of_a_killed_process_is_released_by_the_os(tmp_path):
    holder = _start_holder(tmp_path, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert read_holder(tmp_path)["pid"] == holder.pid  # its record is left behind ...
    with home_lock(tmp_path, wait_seconds=2, command="cdp run") as record:  # ... but not its lock
        assert record["pid"] == os.getpid()


def test_lock_is_not_reentrant_across_file_descriptions(tmp_path):
    with home_lock(tmp_path, wait_seconds=0):
        with pytest.raises(HomeLockedError):
            with home_lock(tmp_path, wait_seconds=0):
                pass
    with home_lock(tmp_path, wait_seconds=0):
        pass
