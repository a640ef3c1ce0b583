"""The one place DuckDB connections are made.

Extension auto-install is off: only the built-in json, parquet and icu extensions exist on the
machines we run on, and anything else would try to download at run time.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

from warehouse.layout import HomeLayout, HomeNotWritableError, not_writable, not_writable_reason
from warehouse.lock import HomeLockedError

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")

# How long a writer waits for another process (an analyst's notebook, a BI tool) to let go of the
# warehouse file before saying so: long enough for a short read to finish, short for a person.
BUSY_RETRY_SECONDS = 5.0


class WarehouseBusyError(HomeLockedError):
    """Another process holds HOME/warehouse.duckdb open (DuckDB allows one writer, or readers)."""

    def __init__(self, database: Path, holder: str, waited: float):
        self.home = database.parent
        self.holder = {"process": holder}
        self.waited = waited
        RuntimeError.__init__(
            self, f"{database} is open in another process ({holder}); waited {waited:.0f} s. Close it there "
            f"(readers can open {database.parent / 'snapshots' / 'latest.duckdb'} instead, which is never "
            "locked), then rerun")



LAYERS = ("raw", "staging", "identity", "profiles", "segments", "ops")

_CONFIG = {
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "true",
}
# DuckDB's own memory (its hash tables, sorts and temp tables spill to disk beyond it). DuckDB's
# default, 80% of the machine, let one step take 8 GB at 1M generated customers (the snapshot
# copy after ingest). CDP_DUCKDB_MEMORY_LIMIT overrides it ("8GB", "500MB").
DEFAULT_MEMORY_LIMIT = "4GB"


def memory_limit() -> str:
    return os.environ.get("CDP_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def connect(database: str | Path = ":memory:", read_only: bool = False,
            busy_retry_seconds: float = BUSY_RETRY_SECONDS) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with extension auto-install off and the layer schemas present (when writable).

    A file another process holds is retried for `busy_retry_seconds`, then `WarehouseBusyError`
    names that process in one line."""
    started = time.monotonic()
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(database), read_only=read_only,
                                 config={**_CONFIG, "memory_limit": memory_limit()})
            break
        except duckdb.IOException as exc:
            holder = _LOCK_HOLDER.search(str(exc))
            if holder is None:
                raise
            waited = time.monotonic() - started
            if waited >= busy_retry_seconds:
                who = f"pid {holder['pid']}, {Path(holder['program']).name}"
                raise WarehouseBusyError(Path(database), who, waited) from None
            time.sleep(min(delay, max(0.0, busy_retry_seconds - waited)))
            delay = min(delay * 2, 1.0)
    if not read_only:
        for layer in LAYERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
    return con


def connect_home(home: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the warehouse file of a home folder, creating the folder when writable."""
    layout = HomeLayout(Path(home))
    if not read_only:
        layout.ensure()
    elif not layout.database.exists():
        raise FileNotFoundError(
            f"no warehouse at {layout.database}: run `cdp ingest --home {layout.root}` first"
        )
    try:
        return connect(layout.database, read_only=read_only)
    except duckdb.IOException as exc:
        reason = None if read_only else not_writable_reason(exc)
        if reason is None:
            raise
        raise not_writable(layout.root, reason) from None
