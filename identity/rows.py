"""Identity rows: records that repeat another record's every identity field are resolved once.

Most records are events that repeat their visitor's identifiers and personal fields word for
word, so the engine works on the distinct identity rows of a relation of normalized records and
every record follows its row. The relation stays in DuckDB (spillable); only the rows come to
Polars, and the record -> row map (`_id_members`) is a DuckDB temp table the writers join.

Collapsing is exact, not a shortcut, because of three rules:
- a row's records share each of its identifier values, so a row with one usable (not blocked,
  not capped) identifier is one customer whatever the engine does: the run stores a
  deterministic edge from the row's first record to each other one, typed by that identifier;
- a row with no usable identifier but personal fields (two orders "María Fernández, Sevilla"
  with nothing else) is split back into one row per record, so the guards judge them apart;
- a row with neither can never link: each of its records is its own customer (`per_record`).
Merge protection's counts are counts of distinct user ids and names per value, which collapsing
identical rows does not change; term frequencies are taken over the records, not the rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from config.identity import DeterministicSettings
from identity.comparisons import NAMED_COLUMNS
from identity.engine import PERSON_FIELDS
from identity.graph import IdentifierKeys, identifier_keys_sql, screen_sql

# identifier columns of identity.normalized_records (previous_id: an alias's earlier anonymous id)
IDENTIFIER_COLUMNS = ("user_id", "email", "phone", "social_handle", "order_id", "anonymous_id",
                      "device_id", "previous_id")
MEMBERS = "_id_members"
ROWS = "_id_rows"


@dataclass
class IdentityRows:
    rows: pl.DataFrame        # rec, records, per_record (the rest of each row is in `relation`)
    screened: pl.DataFrame    # id_type, value, reason: identifier values that must not link
    records: int              # records the rows stand for
    expanded: int             # records split back into rows of their own (no usable identifier)
    refused_within: pl.DataFrame  # rec, identifier_type, value, reason: refused values a per_record row's records share
    identifiers: IdentifierKeys | None = None  # the rows' identifier values as integers (graph.IdentifierKeys)
    relation: str = ROWS      # the DuckDB temp table holding every row with all its columns


def row_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """The columns the engine reads (identifiers and comparison columns) present in `relation`."""
    present = [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()]
    return [c for c in present
            if c in IDENTIFIER_COLUMNS or c in NAMED_COLUMNS or c.startswith(("text__", "id__"))]


def key_sql(columns: list[str] | tuple[str, ...]) -> str:
    """Two 64-bit hashes of a row's columns (in two orders): 128 bits to map records to rows."""
    quoted = [f'"{c}"' for c in columns]
    return f"hash({', '.join(quoted)}) AS k1, hash({', '.join(reversed(quoted))}, 'k2') AS k2"


def distinct_rows(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str], out: str) -> int:
    """Temp table `out`: one row per distinct tuple of `columns` (rec numbered by its smallest
    record, that record's source and record_id, records, k1, k2, has_info, columns). The rows
    stay in DuckDB: at 1M generated customers, 7.7M rows of strings were 9-12 GB as a Polars
    frame. Returns their number."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    person = [c for c in PERSON_FIELDS if c in columns]
    has_info = " OR ".join(f'"{c}" IS NOT NULL' for c in person) or "false"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT (row_number() OVER (ORDER BY first) - 1)::UINTEGER AS rec, k1, k2, records,
               first.s AS source, first.r AS record_id, ({has_info}) AS has_info, {quoted}
        FROM (SELECT {key_sql(columns)}, count(*)::BIGINT AS records,
                     min({{'s': source, 'r': record_id}}) AS first, {quoted}
              FROM {relation} GROUP BY ALL)
    """)
    n, keys = con.execute(f"SELECT count(*), count(DISTINCT (k1, k2)) FROM {out}").fetchall()[0]
    if n != keys:
        raise RuntimeError("two distinct identity rows share a 128-bit key: rerun with identity rows off")
    return n


def screen_relation(con: duckdb.DuckDBPyConnection, relation: str, settings: DeterministicSettings) -> pl.DataFrame:
    """Identifier values of the records of `relation` that must not link (placeholders, capped
    values), counted over its distinct rows."""
    distinct_rows(con, relation, row_columns(con, relation), "_id_screen_rows")
    try:
        return screen_sql(con, "_id_screen_rows", identifier_keys_sql(con, "_id_screen_rows", settings.priority),
                          settings)
    finally:
        con.execute("DROP TABLE IF EXISTS _id_screen_rows")


def _link_types(identifiers: IdentifierKeys, screened: pl.DataFrame, priority: list[str]) -> pl.DataFrame:
    """(rec, link_type): each row's best identifier type among the values it may link on."""
    rank = {t: i for i, t in enumerate(priority)}
    usable_keys = identifiers.keys.join(screened.select("id_type", "value"), on=["id_type", "value"], how="anti")
    return (identifiers.ids.join(usable_keys.select(
                "vid", pl.col("id_type").replace_strict(rank, return_dtype=pl.Int64).alias("rank")), on="vid")
            .group_by("rec").agg(pl.col("rank").min())
            .with_columns(pl.col("rank").replace_strict({i: t for t, i in rank.items()}, return_dtype=pl.Utf8)
                          .alias("link_type"))
            .select(pl.col("rec").cast(pl.UInt32), "link_type"))


def collapse(con: duckdb.DuckDBPyConnection, relation: str, settings: DeterministicSettings,
             screened: pl.DataFrame | None = None) -> IdentityRows:
    """The identity rows of `relation` (normalized records): temp table `_id_rows` (every row, all
    its columns, its first record and link type), their identifier keys and a slim Polars frame of
    the rows (rec, records, per_record), and temp table `_id_members` (source, record_id, rec,
    per_record). `screened` comes from the caller when merge protection must count over more
    records than the relation holds (an incremental run's carriers)."""
    columns = row_columns(con, relation)
    distinct_rows(con, relation, columns, "_id_rows0")
    identifiers = identifier_keys_sql(con, "_id_rows0", settings.priority)
    if screened is None:
        screened = screen_sql(con, "_id_rows0", identifiers, settings)
    rows = pl.from_arrow(con.sql("SELECT rec, k1, k2, records, has_info FROM _id_rows0 ORDER BY rec").to_arrow_table())
    rows = rows.join(_link_types(identifiers, screened, settings.priority), on="rec", how="left", maintain_order="left")
    alone = (pl.col("records") > 1) & pl.col("link_type").is_null()
    rows = rows.with_columns((alone & pl.col("has_info")).alias("split"), (alone & ~pl.col("has_info")).alias("per_record"))
    split = rows.filter("split")
    expanded = 0
    con.register("_id_row_flags", rows.select("rec", "link_type", "per_record", "split").to_arrow())
    try:
        if split.height == 0:
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {ROWS} AS SELECT r.* EXCLUDE (has_info), f.link_type,
                            f.per_record, false AS split FROM _id_rows0 r JOIN _id_row_flags f USING (rec) ORDER BY rec""")
        else:
            # one row per record of a row with personal fields and no usable identifier, numbered
            # with the rest by (source, record_id): the order rows take by their first record
            keep = ", ".join(f'r."{c}"' for c in columns)
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE {ROWS} AS
                SELECT (row_number() OVER (ORDER BY source, record_id) - 1)::UINTEGER AS rec, * FROM (
                    SELECT r.rec AS rec0, r.k1, r.k2, r.records, r.source, r.record_id, {keep},
                           f.link_type, f.per_record, false AS split
                    FROM _id_rows0 r JOIN _id_row_flags f USING (rec) WHERE NOT f.split
                    UNION ALL
                    SELECT r.rec AS rec0, r.k1, r.k2, 1::BIGINT, m.source, m.record_id, {keep},
                           NULL::VARCHAR, false, true
                    FROM (SELECT source, record_id, {key_sql(columns)} FROM {relation}) m
                    JOIN _id_rows0 r USING (k1, k2) JOIN _id_row_flags f USING (rec) WHERE f.split)
                ORDER BY rec
            """)
            expanded = con.execute(f"SELECT count(*) FROM {ROWS} WHERE split").fetchall()[0][0]
            rec_map = pl.from_arrow(con.sql(f"SELECT rec0, rec FROM {ROWS}").to_arrow_table())
            identifiers = IdentifierKeys(
                identifiers.ids.join(rec_map, left_on="rec", right_on="rec0", suffix="_new")
                .select(pl.col("rec_new").alias("rec"), "vid"), identifiers.keys)
            con.execute(f"ALTER TABLE {ROWS} DROP COLUMN rec0")
    finally:
        con.unregister("_id_row_flags")
        con.execute("DROP TABLE IF EXISTS _id_rows0")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {MEMBERS} AS
        SELECT m.source, m.record_id, coalesce(o.rec, k.rec)::UINTEGER AS rec, coalesce(k.per_record, false) AS per_record
        FROM (SELECT source, record_id, {key_sql(columns)} FROM {relation}) m
        LEFT JOIN (SELECT k1, k2, rec, per_record FROM {ROWS} WHERE NOT split) k USING (k1, k2)
        LEFT JOIN (SELECT source, record_id, rec FROM {ROWS} WHERE split) o USING (source, record_id)
    """)
    # no string column: the writers key rows to records in DuckDB (`_id_rows`)
    slim = pl.from_arrow(con.sql(f"SELECT rec, records, per_record FROM {ROWS} ORDER BY rec").to_arrow_table())
    # what kept a per_record row's records apart, for identity.rejected_edges (as between rows)
    per_record = slim.filter("per_record").select("rec")
    refused_within = (identifiers.ids.join(per_record, on="rec").join(identifiers.keys, on="vid")
                      .join(screened, on=["id_type", "value"])
                      .select("rec", pl.col("id_type").alias("identifier_type"), "value", "reason")
                      .sort("rec", "identifier_type", "value"))
    total = int(slim["records"].sum())
    return IdentityRows(slim, screened, total, expanded, refused_within, identifiers, ROWS)


def known_rows(con: duckdb.DuckDBPyConnection, fresh: str, out: str) -> int:
    """Temp table `out`: the records of `fresh` that repeat a stored identity row which is one
    customer by its identifiers (identity.identity_rows), with that customer. Such a record changes
    nothing a resolution weighs (no new value, no new distinct count), so it joins the customer
    as a full run would put it there. Returns their number."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT f.source, f.record_id, f.k1, f.k2, r.customer_id, r.source AS first_source,
               r.record_id AS first_record_id, r.link_type
        FROM (SELECT source, record_id, {key_sql(row_columns(con, fresh))} FROM {fresh}) f
        JOIN identity.identity_rows r USING (k1, k2)
    """)
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]


def stored_rows_sql(run_id: str, clusters: str = "_id_row_clusters", mapping: str = "_id_mapping") -> str:
    """identity.identity_rows for the rows of `_id_rows` that are one customer by an identifier,
    given each row's cluster (`clusters`: rec, cluster) and the cluster -> customer_id `mapping`."""
    return f"""
        SELECT r.k1, r.k2, c.customer_id, r.source, r.record_id, r.link_type, r.records, '{run_id}' AS run_id
        FROM {ROWS} r JOIN {clusters} l USING (rec) JOIN {mapping} c ON c.cluster = l.cluster
        WHERE r.link_type IS NOT NULL"""


def drop(con: duckdb.DuckDBPyConnection) -> None:
    for table in (MEMBERS, ROWS, "_id_rows0", "_id_screen_rows", "_id_row_clusters"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
