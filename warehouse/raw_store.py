"""Raw Parquet storage: where a stream's files live and the `raw.<stream>` views over them.

Layout: `HOME/raw/<stream>/event_date=YYYY-MM-DD/<load_id>-<n>.parquet`. Files are immutable; a
load only ever adds files (renamed into place), so a reader never sees half a file. The views are
recreated after every load because DuckDB resolves a glob when the view is queried, but a stream
with no files yet needs a typed empty view instead (a glob matching nothing is an error).

Merge streams (orders) keep every version in Parquet and show the latest one per key in the view,
so history stays recoverable while readers see one row per key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.layout import HomeLayout

TMP_DIR_NAME = "_tmp"
PARTITION_COLUMN = "event_date"
# Lineage columns every raw row carries besides the stream's own columns.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_load_id", "VARCHAR"),
    ("_file", "VARCHAR"),
    ("_line", "BIGINT"),
)


@dataclass(frozen=True)
class RawTable:
    """What the warehouse needs to know of a stream to store it: name, columns, key, disposition.

    `columns` excludes the lineage columns and the `event_date` partition; `event_time` (TIMESTAMP,
    UTC) must be one of them: it picks the partition. A merge table also names `version_column`:
    the newer version of a key replaces the older one.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: str
    disposition: str = "append"  # "append" | "merge"
    version_column: str | None = None

    def __post_init__(self) -> None:
        names = [c for c, _ in self.columns]
        if self.disposition not in ("append", "merge"):
            raise ValueError(f"{self.name}: write disposition must be append or merge")
        if self.primary_key not in names or "event_time" not in names:
            raise ValueError(f"{self.name}: columns must include the key and event_time")
        if self.disposition == "merge" and self.version_column not in names:
            raise ValueError(f"{self.name}: a merge table needs a version column among its columns")

    @property
    def all_columns(self) -> tuple[tuple[str, str], ...]:
        return self.columns + LINEAGE_COLUMNS


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def stream_dir(layout: HomeLayout, stream: str) -> Path:
    return layout.raw / stream


def tmp_root(layout: HomeLayout) -> Path:
    return layout.raw / TMP_DIR_NAME


def stream_files(layout: HomeLayout, stream: str) -> list[Path]:
    """Committed Parquet files of a stream (after the orphan sweep, every file here is committed)."""
    return sorted(stream_dir(layout, stream).glob(f"{PARTITION_COLUMN}=*/*.parquet"))


def load_id_of(path: Path) -> str:
    """`<load_id>-<n>.parquet` -> load_id."""
    return path.stem.rsplit("-", 1)[0]


def parquet_scan(layout: HomeLayout, table: RawTable) -> str:
    """A FROM clause reading every committed file of the stream, partition column typed."""
    pattern = str(stream_dir(layout, table.name).resolve() / f"{PARTITION_COLUMN}=*" / "*.parquet")
    return (f"read_parquet({sql_literal(pattern)}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'{PARTITION_COLUMN}': DATE}})")


# Loads whose files are part of the warehouse (see warehouse.loads: only these commit files).
COMMITTED_LOADS_SQL = "SELECT load_id FROM ops.loads WHERE status IN ('ok', 'partial')"


def committed_scan(layout: HomeLayout, table: RawTable) -> str:
    """Like `parquet_scan`, but only the rows of committed loads: a file renamed into place by a
    load that was killed before its commit is invisible until the next load sweeps it away."""
    return f"(SELECT * FROM {parquet_scan(layout, table)} WHERE _load_id IN ({COMMITTED_LOADS_SQL}))"


def _empty_select(table: RawTable) -> str:
    cols = [f"CAST(NULL AS {typ}) AS {quote_ident(name)}" for name, typ in table.all_columns]
    cols.append(f"CAST(NULL AS DATE) AS {PARTITION_COLUMN}")
    return f"SELECT {', '.join(cols)} WHERE false"


def view_select(layout: HomeLayout, table: RawTable) -> str:
    """The SELECT behind `raw.<name>`: all rows (append) or the latest version per key (merge), of
    committed loads only."""
    if not stream_files(layout, table.name):
        return _empty_select(table)
    names = [quote_ident(n) for n, _ in table.all_columns] + [PARTITION_COLUMN]
    select = f"SELECT {', '.join(names)} FROM {committed_scan(layout, table)}"
    if table.disposition == "merge":
        # Latest version wins; among equal versions the later load wins (load ids sort by time).
        select += (f" QUALIFY row_number() OVER (PARTITION BY {quote_ident(table.primary_key)} "
                   f"ORDER BY {quote_ident(table.version_column)} DESC, _load_id DESC, _line DESC) = 1")
    return select


def refresh_view(con: duckdb.DuckDBPyConnection, layout: HomeLayout, table: RawTable) -> None:
    con.execute(f"CREATE OR REPLACE VIEW raw.{quote_ident(table.name)} AS {view_select(layout, table)}")
