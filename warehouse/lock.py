"""One writer at a time per home folder: an exclusive `flock` on `HOME/.cdp.lock`.

Why flock: the kernel releases it when the holding process dies, however it dies, so a killed run
never leaves a stale lock behind. The file also holds who has it (pid, host, start time, command) so
a waiting run can say whom it is waiting for. The lock file itself is never deleted: deleting it
while another process waits on the old inode would let two runs in at once.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from warehouse.layout import HomeLayout, not_writable, not_writable_reason

_POLL_SECONDS = 0.2


class HomeLockedError(RuntimeError):
    """Another run holds the home folder longer than we were willing to wait."""

    def __init__(self, home: Path, holder: dict | None, waited: float):
        self.home = home
        self.holder = holder or {}
        self.waited = waited
        super().__init__(describe_holder_message(home, self.holder, waited))


def describe_holder_message(home: Path, holder: dict, waited: float) -> str:
    if holder:
        started = holder.get("started_at", "?")
        try:
            started = datetime.fromisoformat(started).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        except (TypeError, ValueError):
            pass
        who = (f"another cdp run (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
               f"started {started}, `{holder.get('command', '?')}`)")
    else:
        who = "another cdp run"
    return (f"{who} holds {home}; waited {waited:.0f} s. Wait for it to finish, or raise "
            "lock.wait_seconds in config/pipeline.yaml (CDP_PIPELINE__LOCK__WAIT_SECONDS); if that "
            "process is hung, stop it (the lock is released as soon as it exits)")


def read_holder(home: str | Path) -> dict | None:
    """Who holds (or last held) the lock of `home`, from the lock file; None if unknown."""
    path = HomeLayout(Path(home)).lock_file
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else None
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _default_command() -> str:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv and sys.argv[0] else []
    return " ".join(argv) or "python"


@contextmanager
def home_lock(home: str | Path, wait_seconds: float = 600.0, command: str | None = None) -> Iterator[dict]:
    """Hold the exclusive run lock of `home`; wait up to `wait_seconds`, then raise HomeLockedError.

    Yields the holder record written into the lock file.
    """
    home = Path(home)
    path = HomeLayout(home).lock_file
    try:
        home.mkdir(parents=True, exist_ok=True)
        # O_CREAT without O_TRUNC: the holder's record must stay readable while we wait.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        reason = not_writable_reason(exc)
        if reason is None:
            raise
        raise not_writable(home, reason) from None
    try:
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        started_waiting = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise HomeLockedError(home, read_holder(home), time.monotonic() - started_waiting)
                time.sleep(_POLL_SECONDS)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command or _default_command(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        os.fsync(fd)
        try:
            yield holder
        finally:
            # Clear the record before releasing so nobody mistakes a past run for a holder.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
