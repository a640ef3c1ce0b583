"""What an incremental run touches, found in DuckDB: new records, their candidates, their customers.

A full run reads every record; an incremental one must not. Only the new staging rows are read
and normalized; the records they could join are found by SQL over `identity.normalized_records`
(never loaded whole):

1. records sharing an identifier value or a blocking key with a new record,
2. and every record of the customers those belong to,

found in one scan of the records (every identifier and blocking rule an OR-ed hash probe) and one
pass over the record map: at 50k generated customers, 1% new, the set took 1.8 s where a join per
identifier and rule over every record took 2.5 s, with the same records (benchmarks/resolve_warehouse.py).

Pairs between two old records were scored by the run that last saw them, with the same stored
model, so only a new record's pairs can link anew; the customers it reaches are re-clustered
whole, so their earlier links are weighed again beside the new ones.

Merge protection needs counts over every record carrying a value (how many user ids or names
share a phone): `carriers` are those records, so the screen sees the same counts as a full run.
Term frequencies come from `engine.term_frequencies` over `ALL_RECORDS`, the same definition a
full run applies to its frame.
"""
from __future__ import annotations

import logging
import time

import duckdb

from identity.blocking import StoredBlocking, key_hash, rules_from_config
from identity.rows import IDENTIFIER_COLUMNS

# identifier columns of identity.normalized_records (previous_id is an anonymous id of an alias)
_IDENTIFIERS = tuple(c for c in IDENTIFIER_COLUMNS if c != "previous_id")  # previous_id: the alias join below
ALL_RECORDS = _ALL = "_inc_all"  # every stored record, the new ones in their fresh form
log = logging.getLogger("identity.incremental")


def register_records(con: duckdb.DuckDBPyConnection, fresh: str) -> None:
    """View `_inc_all`: every stored normalized record, replaced by its fresh version (temp table
    `fresh`) where new. A view, not a copy: at millions of records a copy cost more than the few
    scans the run makes through it."""
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW {_ALL} AS
        SELECT * FROM identity.normalized_records n ANTI JOIN {fresh} f USING (source, record_id)
        UNION ALL BY NAME SELECT * FROM {fresh}
    """)


def _sharing_identifiers(seeds: str, records: str = "a") -> list[str]:
    """Conditions on `records` (an alias of `_inc_all`), one per identifier column: the record shares
    that identifier's value with a record of relation `seeds`. OR-ed in one WHERE, they are hash
    probes over one scan of the records (a join per column scanned every record once per column)."""
    conditions = [f"{records}.{col} IN (SELECT {col} FROM {seeds} WHERE {col} IS NOT NULL)" for col in _IDENTIFIERS]
    # an alias: one record's previous_id is another's anonymous_id
    alias_values = (f"(SELECT previous_id FROM {seeds} WHERE previous_id IS NOT NULL "
                    f"UNION ALL SELECT anonymous_id FROM {seeds} WHERE anonymous_id IS NOT NULL)")
    conditions += [f"{records}.{col} IN {alias_values}" for col in ("anonymous_id", "previous_id")]
    return conditions


def _sharing_blocking_keys(seeds: str, rules, blocking: StoredBlocking | None) -> list[str]:
    """Conditions on the one relation of the enclosing scan, one per blocking rule: the record
    shares the rule's every key with a record of `seeds` (a rule's key SQL names bare columns, which
    resolve to the scanned records outside the subquery and to `seeds` inside it), in a block the
    last full run did not skip (`blocking`): a record sharing only a skipped block with the new
    ones is never compared with them. Keys are compared by their hash, as blocking stores them: a
    collision (1 in 2^64) only adds a record to the set re-resolved, which a full run would resolve
    the same way."""
    conditions = []
    for rule in rules:
        keys = rule.key_sql()
        present = " AND ".join(f"({k}) IS NOT NULL" for k in keys)
        hashed = key_hash(keys)
        reached = f"SELECT {hashed} FROM {seeds} WHERE {present}"
        if blocking is not None and rule.name in blocking.caps:
            reached += f" EXCEPT SELECT key_hash FROM {blocking.skipped} WHERE rule = '{rule.name}'"
        conditions.append(f"({present} AND {hashed} IN ({reached}))")
    return conditions


# the record map, with the new records already sent to a known customer (rows.known_rows)
_MAPPED = ("(SELECT source, record_id, customer_id FROM identity.record_map "
           "UNION ALL SELECT source, record_id, customer_id FROM {known})")


def affected(con: duckdb.DuckDBPyConnection, settings, match_cols: list[str], seeds: str, known: str,
             out: str, carriers: str, blocking: StoredBlocking | None = None) -> None:
    """Temp tables `out`, the records to re-resolve, and `carriers`, every record carrying one of
    their identifier values (for merge protection's counts). `known` holds the new records already
    sent to a customer. `register_records` must have run.

    The records to re-resolve are the seeds, every record sharing an identifier value or a
    blocking key with a seed, and every record of a customer one of those belongs to; found in one
    scan of the records, then one pass over the record map."""
    rules = rules_from_config(settings.match.blocking_rules, set(match_cols))
    reach = " OR ".join(_sharing_identifiers(seeds) + _sharing_blocking_keys(seeds, rules, blocking))
    mapped = _MAPPED.format(known=known)
    t = time.perf_counter()
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _inc_affected AS
        WITH k AS (SELECT a.source, a.record_id FROM {_ALL} a WHERE {reach}
                   UNION SELECT source, record_id FROM {seeds}),
             c AS (SELECT DISTINCT m.customer_id FROM {mapped} m JOIN k USING (source, record_id))
        SELECT source, record_id FROM k
        UNION SELECT m.source, m.record_id FROM {mapped} m JOIN c USING (customer_id)
    """)
    log.info("affected set: reach %.1f s", time.perf_counter() - t)
    t = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT a.* FROM {_ALL} a "
                f"SEMI JOIN _inc_affected USING (source, record_id)")
    log.info("affected set: records %.1f s", time.perf_counter() - t)
    t = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {carriers} AS SELECT a.* FROM {_ALL} a "
                f"WHERE {' OR '.join(_sharing_identifiers(out))}")
    log.info("affected set: carriers %.1f s", time.perf_counter() - t)


def match_columns_sql(con: duckdb.DuckDBPyConnection, candidates: list[str]) -> list[str]:
    """Columns of `_inc_all` holding at least one value (as engine.match_columns does on a frame)."""
    if not candidates:
        return []
    counts = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in candidates) + f" FROM {_ALL}").fetchall()[0]
    return [c for c, n in zip(candidates, counts) if n]


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("_inc_affected", "_inc_carriers"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    con.execute(f"DROP VIEW IF EXISTS {_ALL}")
