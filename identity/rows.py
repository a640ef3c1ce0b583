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
from identity.graph import identifier_table, screen_values

# identifier columns of identity.normalized_records (previous_id: an alias's earlier anonymous id)
IDENTIFIER_COLUMNS = ("user_id", "email", "phone", "social_handle", "order_id", "anonymous_id",
                      "device_id", "previous_id")
MEMBERS = "_id_members"


@dataclass
class IdentityRows:
    rows: pl.DataFrame        # rec, k1, k2, source, record_id (its first record), records, per_record, link_type, columns
    screened: pl.DataFrame    # id_type, value, reason: identifier values that must not link
    records: int              # records the rows stand for
    expanded: int             # records split back into rows of their own (no usable identifier)
    refused_within: pl.DataFrame  # rec, identifier_type, value, reason: refused values a per_record row's records share


def row_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """The columns the engine reads (identifiers and comparison columns) present in `relation`."""
    present = [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()]
    return [c for c in present
            if c in IDENTIFIER_COLUMNS or c in NAMED_COLUMNS or c.startswith(("text__", "id__"))]


def key_sql(columns: list[str] | tuple[str, ...]) -> str:
    """Two 64-bit hashes of a row's columns (in two orders): 128 bits to map records to rows."""
    quoted = [f'"{c}"' for c in columns]
    return f"hash({', '.join(quoted)}) AS k1, hash({', '.join(reversed(quoted))}, 'k2') AS k2"


def distinct_rows(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> pl.DataFrame:
    """rec, source, record_id (smallest record), records, k1, k2, columns: one row per distinct tuple."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = pl.from_arrow(con.sql(f"""
        SELECT {key_sql(columns)}, count(*)::BIGINT AS records,
               min({{'s': source, 'r': record_id}}) AS first, {quoted}
        FROM {relation} GROUP BY ALL ORDER BY first
    """).to_arrow_table())
    rows = rows.with_columns(pl.col("first").struct.field("s").alias("source"),
                             pl.col("first").struct.field("r").alias("record_id")).drop("first")
    if rows.select(pl.struct("k1", "k2").is_duplicated().any()).item():
        raise RuntimeError("two distinct identity rows share a 128-bit key: rerun with identity rows off")
    return rows.with_row_index("rec")


def screen(rows: pl.DataFrame, settings: DeterministicSettings) -> pl.DataFrame:
    """Identifier values of `rows` that must not link (placeholders, capped values)."""
    return screen_values(identifier_table(rows, settings.priority), rows, settings)


def collapse(con: duckdb.DuckDBPyConnection, relation: str, settings: DeterministicSettings,
             screened: pl.DataFrame | None = None) -> IdentityRows:
    """The identity rows of `relation` (normalized records) and temp table `_id_members`
    (source, record_id, rec, per_record). `screened` comes from the caller when merge protection
    must count over more records than the relation holds (an incremental run's carriers)."""
    columns = row_columns(con, relation)
    rows = distinct_rows(con, relation, columns)
    if screened is None:
        screened = screen(rows, settings)
    rank = {t: i for i, t in enumerate(settings.priority)}
    usable = identifier_table(rows, settings.priority).join(
        screened.select("id_type", "value"), on=["id_type", "value"], how="anti")
    link_type = (usable.with_columns(pl.col("id_type").replace_strict(rank, return_dtype=pl.Int64).alias("rank"))
                 .sort("rec", "rank").group_by("rec", maintain_order=True).agg(pl.col("id_type").first().alias("link_type")))
    person = [c for c in PERSON_FIELDS if c in rows.columns]
    has_info = pl.any_horizontal([pl.col(c).is_not_null() for c in person]) if person else pl.lit(False)
    rows = rows.join(link_type, on="rec", how="left", maintain_order="left")
    alone = (pl.col("records") > 1) & pl.col("link_type").is_null()
    split = rows.filter(alone & has_info)
    rows = rows.with_columns((alone & ~has_info).alias("per_record"))
    # what kept a per_record row's records apart, for identity.rejected_edges (as between rows)
    refused_within = identifier_table(rows.filter("per_record"), settings.priority).join(
        screened, on=["id_type", "value"]).select(
        "rec", pl.col("id_type").alias("identifier_type"), "value", "reason").sort("rec", "identifier_type", "value")

    expanded = 0
    if split.height:
        # one row per record of a row with personal fields and no usable identifier
        con.register("_id_split_keys", split.select("k1", "k2").to_arrow())
        try:
            members = pl.from_arrow(con.sql(f"""
                SELECT source, record_id, k1, k2 FROM (SELECT source, record_id, {key_sql(columns)} FROM {relation})
                SEMI JOIN _id_split_keys USING (k1, k2)
            """).to_arrow_table())
        finally:
            con.unregister("_id_split_keys")
        expanded = members.height
        own = members.join(split.drop("source", "record_id", "rec", "records"), on=["k1", "k2"]).with_columns(
            pl.lit(1, pl.Int64).alias("records"), pl.lit(False).alias("per_record"))
        before = rows.select("k1", "k2", pl.col("rec").alias("old_rec"))
        rows = pl.concat([rows.join(split.select("k1", "k2"), on=["k1", "k2"], how="anti").drop("rec"),
                          own.select([c for c in rows.columns if c != "rec"])])
        rows = rows.sort("source", "record_id").with_row_index("rec")
        by_key = rows.join(split.select("k1", "k2"), on=["k1", "k2"], how="anti").select("k1", "k2", "rec", "per_record")
        own_rec = rows.join(members.select("source", "record_id"), on=["source", "record_id"]).select(
            "source", "record_id", "rec")
        # per_record rows were renumbered too
        refused_within = refused_within.join(
            rows.select("k1", "k2", "rec").join(before, on=["k1", "k2"]), left_on="rec", right_on="old_rec"
        ).select(pl.col("rec_right").alias("rec"), "identifier_type", "value", "reason")
    else:
        by_key = rows.select("k1", "k2", "rec", "per_record")
        own_rec = pl.DataFrame(schema={"source": pl.Utf8, "record_id": pl.Utf8, "rec": pl.UInt32})
    con.register("_id_row_keys", by_key.to_arrow())
    con.register("_id_own_rows", own_rec.to_arrow())
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {MEMBERS} AS
            SELECT m.source, m.record_id, coalesce(o.rec, k.rec)::UINTEGER AS rec,
                   coalesce(k.per_record, false) AS per_record
            FROM (SELECT source, record_id, {key_sql(columns)} FROM {relation}) m
            LEFT JOIN _id_row_keys k USING (k1, k2)
            LEFT JOIN _id_own_rows o USING (source, record_id)
        """)
    finally:
        con.unregister("_id_row_keys")
        con.unregister("_id_own_rows")
    total = int(rows["records"].sum())
    return IdentityRows(rows, screened, total, expanded, refused_within)


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


def stored_rows(rows: pl.DataFrame, labels: pl.Series, mapping: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """identity.identity_rows for `rows` (those one customer by an identifier), given each row's
    cluster label and the cluster -> customer_id mapping."""
    return (rows.with_columns(labels.cast(pl.Int64).alias("cluster"))
            .filter(pl.col("link_type").is_not_null())
            .join(mapping.with_columns(pl.col("cluster").cast(pl.Int64)), on="cluster")
            .select("k1", "k2", "customer_id", "source", "record_id", "link_type", "records",
                    pl.lit(run_id).alias("run_id")))


def drop(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {MEMBERS}")
