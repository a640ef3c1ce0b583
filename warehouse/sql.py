"""Safe SQL text for the few places DuckDB takes no bound parameters (identifiers, COMMENT ON, DDL).

Values always go in as parameters where DuckDB accepts them; these quote what cannot.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import duckdb


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes, embedded quotes doubled: safe for any name."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A single-quoted SQL string literal, embedded quotes doubled."""
    return "'" + str(text).replace("'", "''") + "'"


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK and re-raise: a step's tables change all together or not at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def describe_error(exc: BaseException) -> str:
    """An exception as text safe for logs, error columns and Prefect's database: DuckDB errors
    (whose messages may quote a record's value) by their type only; others as they are."""
    from warehouse.layout import not_writable_reason

    reason = not_writable_reason(exc)
    if reason is not None:  # the disk or the permissions, not the data: say so
        return f"{type(exc).__name__}: the home cannot be written ({reason})"
    if isinstance(exc, duckdb.Error):
        return (f"{type(exc).__name__} in the warehouse (the database's message is withheld: it may quote "
                "a record's value)")
    return f"{type(exc).__name__}: {exc}"


class WarehouseError(RuntimeError):
    """A DuckDB error re-raised with `describe_error`'s text: what Prefect stores of a failed task
    (its state message, in HOME/.prefect) then holds no record value."""


def without_record_values(fn):
    """Decorate a step (a Prefect task's function): a DuckDB error leaves it as a WarehouseError
    carrying no message of DuckDB's and no chained cause."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        failure = None
        try:
            return fn(*args, **kwargs)
        except duckdb.Error as exc:
            failure = WarehouseError(describe_error(exc))
        raise failure  # outside the except block: no __context__ either

    return wrapper
