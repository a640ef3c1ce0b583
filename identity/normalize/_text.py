"""Shared text helpers: placeholder nulling, accent folding, and mapping a function over distinct values.

Per-row Python is only ever run over the DISTINCT values of a column (and cached across calls), so a
million-row frame with a hundred thousand distinct emails costs a hundred thousand library calls.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

import polars as pl
from unidecode import unidecode

# Values people and systems type when they have nothing to give. Compared casefolded and trimmed.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "", "null", "nil", "none", "n/a", "n.a.", "n/d", "s/d", "-", "--", "---", ".", "?", "??",
        "anonymous", "anon", "unknown", "undefined", "no", "ninguno", "ninguna",
        "desconocido", "tidak ada", "#n/a",
    }
)

_PLACEHOLDER_LIST = sorted(PLACEHOLDERS)
_LONGEST_PLACEHOLDER = max(len(p.encode()) for p in PLACEHOLDERS)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")

CACHE_SIZE = 1 << 20


def as_text_series(s: pl.Series | None, length: int, name: str) -> pl.Series:
    """A Utf8 series of `length` rows: the input cast to text, or all nulls when the column is missing."""
    if s is None:
        return pl.Series(name, [None] * length, dtype=pl.String)
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    return s.rename(name)


def clean(s: pl.Series) -> pl.Series:
    """Trim, collapse inner whitespace, and turn placeholder values into null (vectorized).

    The costly steps (regex, lowercasing) run only on the few rows that can need them, found with
    cheap literal scans and byte lengths.
    """
    s = s.str.strip_chars()
    messy = s.str.contains("  ", literal=True)
    for control in ("\t", "\n", "\r"):
        messy = messy | s.str.contains(control, literal=True)
    if messy.any():
        rows = messy.arg_true()
        s = s.scatter(rows, s.gather(rows).str.replace_all(r"\s+", " ").str.strip_chars())
    candidates = (s.str.len_bytes() <= _LONGEST_PLACEHOLDER).fill_null(False).arg_true()
    if candidates.len():
        placeholder = s.gather(candidates).str.to_lowercase().is_in(_PLACEHOLDER_LIST)
        if placeholder.any():
            s = s.scatter(candidates.filter(placeholder), None)
    return s


def is_placeholder(value: str) -> bool:
    return value.strip().casefold() in PLACEHOLDERS


@lru_cache(maxsize=CACHE_SIZE)
def fold(value: str) -> str:
    """Casefolded ASCII with accents stripped: 'José MARÍA' -> 'jose maria'."""
    return unidecode(value).casefold()


def fold_tokens(value: str) -> list[str]:
    """Folded alphanumeric tokens; punctuation acts as a separator."""
    return [t for t in _NON_ALNUM.split(fold(value)) if t]


def squash_spaces(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def map_distinct(s: pl.Series, fn: Callable[[str], Any], dtype: pl.DataType) -> pl.Series:
    """Apply `fn` to each distinct non-null value of `s` once and broadcast the result back.

    `fn` returns a scalar of `dtype` (None allowed). Null inputs give null outputs.
    """
    distinct = s.drop_nulls().unique()
    if distinct.len() == 0:
        return pl.Series(s.name, [None] * s.len(), dtype=dtype)
    results = pl.Series("result", [fn(v) for v in distinct.to_list()], dtype=dtype)
    return s.replace_strict(distinct, results, default=None, return_dtype=dtype).rename(s.name)


def map_distinct_frame(
    keys: pl.DataFrame, fn: Callable[..., tuple], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Apply `fn(*key_values) -> tuple` once per distinct key row; return one output row per input row.

    Rows where the first key column is null give all-null outputs without calling `fn`.
    """
    key_cols = keys.columns
    distinct = keys.filter(pl.col(key_cols[0]).is_not_null()).unique()
    results = [fn(*row) for row in zip(*(distinct.get_column(c).to_list() for c in key_cols))]
    columns = list(zip(*results)) if results else [[] for _ in schema]
    lookup = distinct.with_columns(
        pl.Series(name, values, dtype=dtype) for (name, dtype), values in zip(schema.items(), columns)
    )
    joined = keys.join(lookup, on=key_cols, how="left", maintain_order="left", nulls_equal=True)
    return joined.select(list(schema))
