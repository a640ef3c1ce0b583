"""The connector contract (after dlt): a source declares its streams, each stream its key, cursor
and write disposition, and yields Arrow batches; the shared machinery does the rest.

A `Connector` subclass sets `name`, `config_model` and builds its `streams()` from its settings.
A `Stream` says:
- `name`: the raw table (`raw.<name>`) and `ops.loads.stream`;
- `spec`: its fields and checks (`connectors.validation.RecordSpec`), which also give its columns;
- `primary_key` and `disposition` (`append`: a key is stored once; `merge`: a newer `version`
  replaces the stored version);
- `inputs`: files (`FileInput`, cursor: new files by name + size + SHA-256) and/or a SQL table
  (`SqlInput`, cursor: the largest `updated_at` read);
- `staging`: how its rows become `staging.customer_records` rows.

`Connector.pending_inputs(con, stream)` yields what is new since the last committed load, each as a
`PendingInput` whose `batches()` are Arrow tables; `connectors.runner` checks and loads them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Iterator, Literal

import duckdb
import pyarrow as pa

from config.sources import LoadingSettings, SourceSettings
from connectors import readers
from connectors.validation import RecordSpec
from warehouse.cursors import FileFingerprint, fingerprint, get_cursor, is_loaded, loaded_fingerprints
from warehouse.loads import StagingSpec
from warehouse.raw_store import RawTable
from warehouse.sql import quote_literal as sql_literal


@dataclass(frozen=True)
class FileInput:
    """Files of the source folder matching any of `patterns`, read in name order."""

    patterns: tuple[str, ...]
    format: Literal["ndjson", "csv"]


@dataclass(frozen=True)
class SqlInput:
    """Rows of a SQL table whose `cursor_column` is at or past the stored cursor."""

    url: str | None
    table: str
    cursor_column: str
    label: str = ""  # how quarantine rows name it (never the URL: it may hold a password)


@dataclass(frozen=True)
class Stream:
    name: str
    spec: RecordSpec
    primary_key: str
    inputs: tuple[FileInput | SqlInput, ...]
    staging: StagingSpec | None = None
    disposition: Literal["append", "merge"] = "append"
    version: str | None = None

    @property
    def cursor(self) -> str:
        """How new input is found, for the conformance suite and the docs."""
        kinds = []
        for source in self.inputs:
            kinds.append("files:name+size+sha256" if isinstance(source, FileInput) else f"sql:{source.cursor_column}")
        return ", ".join(kinds)

    def raw_table(self) -> RawTable:
        return RawTable(name=self.name, columns=self.spec.columns(), primary_key=self.primary_key,
                        disposition=self.disposition, version_column=self.version)


@dataclass
class PendingInput:
    """One unit of new input: a file, or the changed rows of a SQL table."""

    label: str
    format: Literal["ndjson", "csv", "sql"]
    batches: Callable[[], Iterator[pa.Table]]
    fingerprint: FileFingerprint | None = None
    cursor_column: str | None = None


class Connector:
    """Base of every source connector."""

    name: ClassVar[str]
    config_model: ClassVar[type[SourceSettings]]

    def __init__(self, settings: SourceSettings, loading: LoadingSettings, folder: Path | None = None):
        self.settings = settings
        self.loading = loading
        self.folder = Path(folder) if folder is not None else Path(settings.path)

    # -- declared by subclasses ---------------------------------------------------------------
    def streams(self) -> list[Stream]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared machinery --------------------------------------------------------------------
    def stream(self, name: str) -> Stream:
        for stream in self.streams():
            if stream.name == name:
                return stream
        raise KeyError(f"{self.name} has no stream {name}")

    # Folders read like `folder`, e.g. HOME/collected/<name> where `cdp collect` lands events.
    extra_folders: tuple[Path, ...] = ()

    def files(self, source: FileInput) -> list[Path]:
        found = {p for folder in (self.folder, *self.extra_folders) if folder.is_dir()
                 for pattern in source.patterns for p in folder.glob(pattern) if p.is_file()}
        return sorted(found, key=lambda p: p.name)

    def pending_inputs(self, con: duckdb.DuckDBPyConnection, stream: Stream) -> Iterator[PendingInput]:
        known = loaded_fingerprints(con, self.name, stream.name)
        for source in stream.inputs:
            if isinstance(source, FileInput):
                for path in self.files(source):
                    folder = path.parent if path.parent in self.extra_folders else self.folder
                    label = f"{folder.name}/{path.name}"
                    try:
                        print_ = fingerprint(path)
                    except OSError as exc:
                        # Unreadable (permissions): named in the load's error; the other files load.
                        yield PendingInput(label=label, format=source.format,
                                           batches=_failing(readers.unreadable_error(label, exc)))
                        continue
                    if is_loaded(known, print_):
                        continue
                    yield PendingInput(label=label, format=source.format, fingerprint=print_,
                                       batches=self._file_batches(path, label, source, stream))
            elif source.url:
                cursor = get_cursor(con, self.name, stream.name, source.cursor_column)
                label = source.label or f"sql:{source.table}"
                yield PendingInput(
                    label=label, format="sql", cursor_column=source.cursor_column,
                    batches=lambda source=source, cursor=cursor, label=label: readers.read_sql(
                        source.url, source.table, stream.spec.source_columns, source.cursor_column, cursor,
                        label, self.loading.sql_batch_rows))

    def _file_batches(self, path: Path, label: str, source: FileInput,
                      stream: Stream) -> Callable[[], Iterator[pa.Table]]:
        if source.format == "ndjson":
            return lambda: readers.read_ndjson(path, label, self.loading.batch_bytes)
        # The key column must be in the header, else the file is not what we think it is.
        return lambda: readers.read_csv(path, label, stream.spec.source_columns, [stream.primary_key],
                                        self.loading.batch_bytes)


def _failing(error: Exception) -> Callable[[], Iterator[pa.Table]]:
    def batches() -> Iterator[pa.Table]:
        raise error
        yield  # pragma: no cover - a generator that fails at its first step

    return batches


def staging_select(source: str, stream: str, record_type: str, values: dict[str, str]) -> str:
    """A SELECT of the staging columns over `_new_rows`; `values` maps staging column -> expression.

    Unmapped columns are NULL; `country` falls back to the `?` parameter (the source's default).
    """
    from warehouse.staging import STAGING_COLUMNS

    base = {"source": sql_literal(source), "stream": sql_literal(stream), "record_type": record_type,
            "event_time": "event_time", "load_id": "_load_id"}
    base.update(values)
    exprs = []
    for column in STAGING_COLUMNS:
        expr = base.get(column)
        if column == "country":
            expr = f"coalesce(NULLIF({expr}, ''), ?)" if expr else "?"
        if expr is None:
            exprs.append(f"CAST(NULL AS VARCHAR) AS {column}")
        elif column == "event_time":
            exprs.append(f"CAST({expr} AS TIMESTAMP) AS {column}")
        else:
            exprs.append(f"CAST({expr} AS VARCHAR) AS {column}")
    return f"SELECT {', '.join(exprs)} FROM _new_rows"


@dataclass(frozen=True)
class StagingPart:
    """Rows of another staging table (warehouse.staging) a stream feeds: column -> SQL over its raw
    columns (`source`, `stream`, `record_id`, `load_id` are filled in), for the rows `where` holds."""

    table: str
    values: dict
    where: str | None = None


def staging_spec(settings: SourceSettings, source: str, stream: str, record_type: str,
                 values: dict[str, str], parts: tuple[StagingPart, ...] = ()) -> StagingSpec:
    from warehouse.staging import TABLES_BY_NAME, select_sql

    selects = []
    for part in parts:
        mapped = {"source": sql_literal(source), "stream": sql_literal(stream), "record_id": values["record_id"],
                  "load_id": "_load_id", **part.values}
        selects.append((part.table, select_sql(TABLES_BY_NAME[part.table], mapped, where=part.where)))
    return StagingSpec(select=staging_select(source, stream, record_type, values),
                       params=(settings.default_country,), default_phone_region=settings.default_phone_region,
                       parts=tuple(selects))


__all__ = ["Connector", "Stream", "FileInput", "SqlInput", "PendingInput", "StagingPart", "staging_select",
           "staging_spec"]
