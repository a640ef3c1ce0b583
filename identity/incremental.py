"""What an incremental run touches, found in DuckDB: new records, their candidates, their customers.

A full run reads every record; an incremental one must not. Only the new staging rows are read
and normalized; the records they could join are found by SQL over `identity.normalized_records`
(never loaded whole):

1. records sharing an identifier value with a new record, and every record of those customers;
2. records sharing a blocking key with a new record, and every record of their customers.

Pairs between two old records were scored by the run that last saw them, with the same stored
model, so only a new record's pairs can link anew; the customers it reaches are re-clustered
whole, so their earlier links are weighed again beside the new ones.

Merge protection needs counts over every record carrying a value (how many user ids or names
share a phone): `carriers` are those records, so the screen sees the same counts as a full run.
Term frequencies come from `engine.term_frequencies` over `ALL_RECORDS`, the same definition a
full run applies to its frame.
"""
from __future__ import annotations

import duckdb

from identity.blocking import key_columns, rules_from_config
from identity.rows import IDENTIFIER_COLUMNS

# identifier columns of identity.normalized_records (previous_id is an anonymous id of an alias)
_IDENTIFIERS = tuple(c for c in IDENTIFIER_COLUMNS if c != "previous_id")  # previous_id: the alias join below
ALL_RECORDS = _ALL = "_inc_all"  # every stored record, the new ones in their fresh form


def register_records(con: duckdb.DuckDBPyConnection, fresh: str) -> None:
    """View `_inc_all`: every stored normalized record, replaced by its fresh version (temp table
    `fresh`) where new. A view, not a copy: at millions of records a copy cost more than the few
    scans the run makes through it."""
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {_ALL} AS
        SELECT * FROM identity.normalized_records n ANTI JOIN {fresh} f USING (source, record_id)
        UNION ALL BY NAME SELECT * FROM {fresh}
    """)


def _sharing_identifiers(seeds: str) -> str:
    """SQL of (source, record_id) of records sharing an identifier value with relation `seeds`."""
    parts = []
    for col in _IDENTIFIERS:
        parts.append(f"SELECT a.source, a.record_id FROM {_ALL} a JOIN (SELECT DISTINCT {col} AS v FROM {seeds} "
                     f"WHERE {col} IS NOT NULL) s ON a.{col} = s.v")
    # an alias: one record's previous_id is another's anonymous_id
    # (two equi-joins, not one join on OR: that would be a nested loop over every record)
    alias_values = (f"(SELECT DISTINCT previous_id AS v FROM {seeds} WHERE previous_id IS NOT NULL "
                    f"UNION SELECT DISTINCT anonymous_id FROM {seeds} WHERE anonymous_id IS NOT NULL)")
    for col in ("anonymous_id", "previous_id"):
        parts.append(f"SELECT a.source, a.record_id FROM {_ALL} a JOIN {alias_values} s ON a.{col} = s.v")
    return " UNION ".join(parts)


# the record map, with the new records already sent to a known customer (rows.known_rows)
_MAPPED = ("(SELECT source, record_id, customer_id FROM identity.record_map "
           "UNION ALL SELECT source, record_id, customer_id FROM {known})")


def _with_customers(keys_sql: str, known: str) -> str:
    """SQL: the records of `keys_sql` plus every record of a customer one of them belongs to."""
    mapped = _MAPPED.format(known=known)
    return f"""
        WITH k AS ({keys_sql}),
             c AS (SELECT DISTINCT m.customer_id FROM {mapped} m JOIN k USING (source, record_id))
        SELECT source, record_id FROM k
        UNION SELECT m.source, m.record_id FROM {mapped} m JOIN c USING (customer_id)
    """


def affected(con: duckdb.DuckDBPyConnection, settings, match_cols: list[str], seeds: str, known: str,
             out: str, carriers: str) -> None:
    """Temp tables `out`, the records to re-resolve (those `seeds` reach), and `carriers`, every
    record carrying one of their identifier values (for merge protection's counts). `known` holds
    the new records already sent to a customer. `register_records` must have run."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_ring1 AS {_with_customers(_sharing_identifiers(seeds) + f' UNION SELECT source, record_id FROM {seeds}', known)}")
    neighbours = []
    for rule in rules_from_config(settings.match.blocking_rules, set(match_cols)):
        key_cols, not_null, using = key_columns(rule)
        neighbours.append(f"""
            SELECT a.source, a.record_id FROM (SELECT source, record_id, {key_cols} FROM {_ALL}) a
            JOIN (SELECT DISTINCT {using} FROM (SELECT {key_cols} FROM {seeds}) WHERE {not_null}) r
            USING ({using})""")
    ring2 = " UNION ".join(["SELECT source, record_id FROM _inc_ring1", *neighbours])
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_affected AS {_with_customers(ring2, known)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT a.* FROM {_ALL} a "
                f"SEMI JOIN _inc_affected USING (source, record_id)")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {carriers} AS
        WITH k AS ({_sharing_identifiers(out)})
        SELECT a.* FROM {_ALL} a SEMI JOIN k USING (source, record_id)
    """)


def match_columns_sql(con: duckdb.DuckDBPyConnection, candidates: list[str]) -> list[str]:
    """Columns of `_inc_all` holding at least one value (as engine.match_columns does on a frame)."""
    if not candidates:
        return []
    counts = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in candidates) + f" FROM {_ALL}").fetchall()[0]
    return [c for c, n in zip(candidates, counts) if n]


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("_inc_ring1", "_inc_affected", "_inc_carriers"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    con.execute(f"DROP VIEW IF EXISTS {_ALL}")
