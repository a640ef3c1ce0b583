"""A temporary Prefect server started by a cdp process dies with it, even after `kill -9`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard reads /proc")

PARENT = r"""
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from pipelines.flows._server_guard import start_guard
start_guard(poll_seconds=0.1)
time.sleep(0.3)
# Stand-ins for Prefect's temporary server (same command-line mark) and for any other child.
server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                           "--factory", "prefect.server.api.server:create_app"])
other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(server.pid, other.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_the_parent_stops_its_temporary_server_and_nothing_else(repo_root: Path):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(repo_root)], stdout=subprocess.PIPE, text=True)
    server, other = (int(x) for x in parent.stdout.readline().split())
    try:
        time.sleep(0.5)  # the guard has seen the server
        assert _alive(server) and _alive(other)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while _alive(server) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(server), "the temporary server outlived its parent"
        assert _alive(other), "the guard stops Prefect servers only"
    finally:
        for pid in (server, other):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
