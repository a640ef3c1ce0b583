"""The temporary Prefect server dies with the cdp process that started it.

Without `PREFECT_API_URL` a flow run starts Prefect's temporary server as a child process
(`prefect.server.api.server.SubprocessASGIServer`: `python -m uvicorn ... create_app`) and stops it
at exit. A `kill -9` of the cdp process skips that, and the server would run on forever.
`PR_SET_PDEATHSIG` is no cure here: the kernel sends it when the *thread* that forked the child ends,
and Prefect may start its server from a worker thread.

So `start_guard()` starts a small watchdog process, in its own session (a Ctrl-C or a kill of the
cdp process group leaves it be). While cdp lives, it notes cdp's children that are a Prefect
server (by command line); once cdp is gone, it stops those very processes (by pid, checked against
their start time so a reused pid is never hit): SIGTERM, then SIGKILL after 5 s. Linux only (it
reads /proc); elsewhere it does nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys

SERVER_MARK = b"prefect.server.api.server:create_app"

_WATCH = r'''
import os, signal, sys, time
parent, mark = int(sys.argv[1]), sys.argv[2].encode()

def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19]
    except OSError:
        return None

def children(pid):
    found = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                found.update(int(p) for p in f.read().split())
    except OSError:
        pass
    return found

born = start_time(parent)
servers = {}
while born is not None and start_time(parent) == born:
    for pid in children(parent) - set(servers) - {os.getpid()}:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark in f.read():
                    servers[pid] = start_time(pid)
        except OSError:
            pass
    time.sleep(float(sys.argv[3]))
alive = {pid: t for pid, t in servers.items() if t is not None and start_time(pid) == t}
for pid in alive:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
deadline = time.time() + 5
while alive and time.time() < deadline:
    alive = {pid: t for pid, t in alive.items() if start_time(pid) == t}
    time.sleep(0.1)
for pid in alive:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
'''


def start_guard(poll_seconds: float = 0.5, mark: bytes = SERVER_MARK) -> subprocess.Popen | None:
    """Start the watchdog for this process (see the module docstring); None off Linux."""
    if not sys.platform.startswith("linux") or not os.path.isdir(f"/proc/{os.getpid()}/task"):
        return None
    return subprocess.Popen(
        [sys.executable, "-c", _WATCH, str(os.getpid()), mark.decode(), str(poll_seconds)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)


__all__ = ["SERVER_MARK", "start_guard"]
