"""Partitions and the hook that maps a function over them, without knowing who runs the parts.

A stage that is naturally parallel (ingest by file group, identity by normalization partition or
scoring chunk, profiles by customer-id hash) takes a `map_parts` argument: a callable that applies
a function to every part and returns the results *in the order of the parts*. The default,
`local_map`, runs them one after another in this process; `pipelines` passes a mapper that runs each
part as a Prefect task on a Dask cluster. Stages never import Dask or Prefect (nothing imports
`pipelines`), so the same code runs embedded and distributed, and the results are merged the same
way in both.

Rules for a part function, so any mapper can run it: a module-level function (picklable by
reference), arguments that pickle small (paths, tuples of strings/ints, Arrow IPC bytes), no open
connection to the warehouse `.duckdb` for writing (one process may hold it; parts read and write
Parquet files, and the caller commits once), and idempotent (a part may run twice when its worker
dies: it writes under a temporary name and renames, so a rerun overwrites the same file).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MapParts = Callable[[Callable[[T], R], Sequence[T]], "list[R]"]
"""`map_parts(fn, items) -> [fn(item) for item in items]`, however and wherever the calls run."""


def local_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """The embedded mapper: every part in this process, in order (the default everywhere)."""
    return [fn(item) for item in items]


def partition_of(key: str | bytes, parts: int) -> int:
    """The partition (0 .. parts-1) of one key, the same in every process and on every machine
    (Python's `hash()` of a str is salted per process, so it cannot be used across workers)."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    data = key if isinstance(key, bytes) else str(key).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") % parts


def partition_sql(expression: str, parts: int) -> str:
    """A DuckDB expression giving the partition (0 .. parts-1) of a column or expression: DuckDB's
    own `hash()` (deterministic for one DuckDB version), for partitioning inside SQL. It is not the
    same function as `partition_of`: use one or the other for a given table, never both."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    return f"(hash({expression}) % {int(parts)})"


def partition_count(rows: int, rows_per_part: int, max_parts: int | None = None) -> int:
    """How many parts `rows` rows make at about `rows_per_part` each (at least 1, at most `max_parts`)."""
    if rows_per_part < 1:
        raise ValueError(f"rows_per_part must be at least 1, got {rows_per_part}")
    count = max(1, -(-max(rows, 0) // rows_per_part))
    return min(count, max_parts) if max_parts else count


def split_evenly(items: Sequence[T], parts: int) -> list[list[T]]:
    """`items` cut into at most `parts` contiguous groups whose sizes differ by at most one
    (order kept; no empty group)."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    parts = min(parts, len(items)) or 1  # no items: no group
    size, extra = divmod(len(items), parts)
    groups, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            groups.append(list(items[start:end]))
        start = end
    return groups


def group_by_weight(items: Iterable[tuple[T, int]], parts: int) -> list[list[T]]:
    """Items with a weight (e.g. files with their size) packed into at most `parts` groups of
    similar total weight: heaviest first into the lightest group. Deterministic for the same input;
    each group keeps its items in input order. No empty group."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    listed = list(items)
    order = sorted(range(len(listed)), key=lambda i: (-listed[i][1], i))
    loads = [0] * min(parts, len(listed) or 1)
    members: list[list[int]] = [[] for _ in loads]
    for index in order:
        lightest = min(range(len(loads)), key=lambda g: (loads[g], g))
        loads[lightest] += max(listed[index][1], 0)
        members[lightest].append(index)
    return [[listed[i][0] for i in sorted(group)] for group in members if group]


# -- SQL over Parquet parts ---------------------------------------------------------------------

PART_INPUT = "_part_input"


@dataclass(frozen=True)
class SqlPart:
    """A part that is SQL over Parquet (a file or a glob): in a fresh in-memory DuckDB it is the view
    `_part_input`, `statements` run in order, and the table or view `result` is written to `out`
    (and each further (table, path) of `also` to its path)."""

    input: str
    statements: tuple[str, ...]
    result: str
    out: str
    memory_limit: str | None = None
    also: tuple[tuple[str, str], ...] = ()


def part_connection(memory_limit: str | None = None):
    """The in-memory DuckDB a part works in: UTC like the warehouse, quiet, within `memory_limit`."""
    import duckdb

    # the factory's settings (no extension downloads), without the warehouse's layer schemas
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "true"})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    return con


def run_sql_part(part: SqlPart) -> str:
    """Run one SqlPart (module-level and pure: any worker can run it); returns the output path.
    Written under a temporary name and renamed, so a part run twice leaves one whole file."""
    from warehouse.sql import quote_ident, quote_literal

    con = part_connection(part.memory_limit)
    try:
        con.execute(f"CREATE VIEW {PART_INPUT} AS SELECT * FROM read_parquet({quote_literal(part.input)}, "
                    "hive_partitioning = false)")
        for statement in part.statements:
            con.execute(statement)
        # the extra outputs first: `out` existing means the whole part is written
        for table, path in (*part.also, (part.result, part.out)):
            out = Path(path)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            con.execute(f"COPY {quote_ident(table)} TO {quote_literal(str(tmp))} (FORMAT parquet)")
            os.replace(tmp, out)
        return part.out
    finally:
        con.close()


def write_partitions(con, select_sql: str, key: str, parts: int, out_dir: Path,
                     params: Sequence = ()) -> list[str]:
    """Rows of `select_sql` written as Parquet, one file per hash partition of column `key`
    (`partition_sql`); returns a glob per partition that got rows, in partition order (DuckDB may
    write a partition as several files). One scan of the input, whatever the number of parts."""
    from warehouse.sql import quote_ident, quote_literal

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT *, {partition_sql(quote_ident(key), parts)} AS _part FROM ({select_sql})) "
        f"TO {quote_literal(str(out_dir))} (FORMAT parquet, PARTITION_BY (_part), OVERWRITE_OR_IGNORE)",
        list(params))
    found = sorted(out_dir.glob("_part=*"), key=lambda p: int(p.name.split("=")[1]))
    return [str(p / "*.parquet") for p in found if any(p.glob("*.parquet"))]


def work_dir(home: str | Path, stage: str) -> Path:
    """A fresh folder for one stage's part files under `HOME/_parts/` (the caller removes it)."""
    import secrets

    path = Path(home) / "_parts" / f"{stage}-{secrets.token_hex(4)}"
    path.mkdir(parents=True, exist_ok=False)
    return path
