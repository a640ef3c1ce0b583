"""`ops.runs`: one row per cdp command that wrote the warehouse (and per pipeline run), with its state.

`cdp status` reads it to say what ran last and how it ended. Ids and counts only, never personal data
(the command line is stored without arguments after `--email`-like options).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

RUNS_DDL = """CREATE TABLE IF NOT EXISTS ops.runs (
    run_id VARCHAR, command VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, state VARCHAR,
    error VARCHAR, flow BOOLEAN, details JSON)"""


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record_run(home: str | Path, command: str, started_at: datetime, state: str, error: str | None = None,
               flow: bool = False, details: dict | None = None) -> None:
    """Append one run; never fails the command it describes (a locked or missing warehouse is skipped)."""
    from warehouse.connection import connect_home

    home = Path(home)
    if not (home / "warehouse.duckdb").exists():
        return
    try:
        con = connect_home(home)
    except Exception:
        return
    try:
        con.execute(RUNS_DDL)
        con.execute("INSERT INTO ops.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    ["run_" + uuid.uuid4().hex[:12], command, started_at, utcnow(), state,
                     (error or "")[:500] or None, flow, json.dumps(details or {}, default=str)])
    finally:
        con.close()
