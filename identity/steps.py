"""A small runner for named resolution steps: each is timed, logged, and with --debug kept.

A step is a function over the warehouse session that reads named relations and writes one named
relation (DuckDB temp tables `_id_*`); the runner records its seconds and row count, and in debug
mode copies its output to `identity.debug_<step>` so every intermediate table can be inspected
after the run (Splink's debug mode does the same).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

import duckdb

log = logging.getLogger("identity.steps")


class StepRunner:
    def __init__(self, con: duckdb.DuckDBPyConnection | None, debug: bool = False,
                 progress: Callable[[str], None] | None = None):
        self.con = con
        self.debug = debug
        self.seconds: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.kept: list[str] = []
        self.progress = progress

    def run(self, name: str, fn: Callable[..., Any], *args, output: str | None = None, **kwargs) -> Any:
        if self.progress:
            self.progress(name)
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
        if output and self.con is not None:
            self.rows[name] = self.con.execute(f"SELECT count(*) FROM {output}").fetchall()[0][0]
            if self.debug:
                self.con.execute(f"CREATE OR REPLACE TABLE identity.debug_{name} AS SELECT * FROM {output}")
                self.kept.append(f"identity.debug_{name}")
        log.info("identity step %s: %.2f s%s", name, self.seconds[name],
                 f", {self.rows[name]:,} rows" if name in self.rows else "")
        return result
