"""Customer ids that survive reruns.

A fresh cluster's id is `cus_` + 16 hex of SHA-256 over its smallest (source, record_id), so two
full runs on the same data give the same ids. On a rerun each previous id follows the new cluster
holding most of its records (its heir); a cluster inheriting several ids keeps the one with the
most records (then the oldest) and records the others as merged; the other parts of a split get
fresh ids with a `split` history row.
"""
from __future__ import annotations

import hashlib

import polars as pl


def hashed_id(source: str, record_id: str, salt: int = 0) -> str:
    key = f"{source}\x1f{record_id}" + (f"\x1f{salt}" if salt else "")
    return "cus_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def hashed_id_sql(source: str, record_id: str) -> str:
    """`hashed_id` (salt 0) in DuckDB SQL: sha256 of the UTF-8 key, its first 16 hex digits."""
    return f"'cus_' || left(sha256({source} || chr(31) || {record_id}), 16)"


def assign_customer_ids(
    assignment: pl.DataFrame,
    previous: pl.DataFrame | None,
    used_ids: set[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map clusters to customer ids.

    assignment: source, record_id, cluster (any integer label).
    previous: source, record_id, customer_id, first_assigned_at (the last record_map) or None.
    used_ids: every id ever issued (customers + history), so a fresh id never reuses one.
    Returns (cluster -> customer_id frame, history rows old_customer_id/new_customer_id/reason).
    """
    seeds = (
        assignment.sort("source", "record_id")
        .group_by("cluster", maintain_order=True)
        .agg(pl.col("source").first(), pl.col("record_id").first(), pl.len().alias("size"))
    )
    overlap = None
    if previous is not None and previous.height:
        overlap = (
            assignment.join(previous.select("source", "record_id", "customer_id", "first_assigned_at"),
                            on=["source", "record_id"])
            .group_by("customer_id", "cluster")
            .agg(pl.len().alias("n"), pl.col("first_assigned_at").min().alias("since"))
        )
    used = pl.Series("customer_id", sorted(set(used_ids or ()) | _ids(previous)), dtype=pl.Utf8)
    return choose_customer_ids(seeds, overlap, used)


def assign_customer_ids_sql(con, assignment: str, previous: str,
                            used_ids: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """assign_customer_ids over DuckDB relations (millions of records never leave DuckDB: only one
    row per cluster and per (old id, cluster) overlap does). `used_ids`: SQL of every id ever
    issued (one column, customer_id); the fresh ids are hashed in DuckDB."""
    seeds = pl.from_arrow(con.sql(f"""
        SELECT cluster, first.s AS source, first.r AS record_id, size,
               {hashed_id_sql('first.s', 'first.r')} AS fresh_id FROM (
            SELECT cluster, min({{'s': source, 'r': record_id}}) AS first, count(*)::UINTEGER AS size
            FROM {assignment} GROUP BY cluster)
    """).to_arrow_table())
    overlap = pl.from_arrow(con.sql(f"""
        SELECT p.customer_id, a.cluster, count(*)::UINTEGER AS n, min(p.first_assigned_at) AS since
        FROM {assignment} a JOIN {previous} p USING (source, record_id) GROUP BY ALL
    """).to_arrow_table())
    used_sql = f"SELECT DISTINCT customer_id FROM {previous}" + (f" UNION {used_ids}" if used_ids else "")
    # of every id ever issued only those equal to a fresh one leave DuckDB; a salted id is looked up
    con.register("_id_fresh_ids", seeds.select("fresh_id").to_arrow())
    try:
        used = pl.from_arrow(con.sql(f"SELECT u.customer_id FROM ({used_sql}) u SEMI JOIN _id_fresh_ids f "
                                     "ON u.customer_id = f.fresh_id").to_arrow_table())["customer_id"]
    finally:
        con.unregister("_id_fresh_ids")

    def is_used(customer_id: str) -> bool:
        return con.execute(f"SELECT count(*) FROM ({used_sql}) WHERE customer_id = ?", [customer_id]).fetchall()[0][0] > 0

    return choose_customer_ids(seeds, overlap if overlap.height else None, used, is_used)


def _ids(previous: pl.DataFrame | None) -> set[str]:
    return set(previous["customer_id"].unique().to_list()) if previous is not None and previous.height else set()


def choose_customer_ids(seeds: pl.DataFrame, overlap: pl.DataFrame | None, used: pl.Series,
                        is_used=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """seeds: cluster, source, record_id (its smallest record), size (and fresh_id, its hashed id,
    when the caller hashed it); overlap: customer_id, cluster, n (records of the old id in the
    cluster), since (their earliest first_assigned_at); used: ids already issued (at least those
    equal to a fresh one), which a fresh id must not take; is_used(id): whether a salted id was
    issued (default: in `used`).

    In columns: a Python step per cluster took seconds at a million customers. Only a fresh id that
    collides with one in use is salted one at a time."""
    seeds = seeds.sort("source", "record_id")
    cluster_type = seeds.schema["cluster"]
    history_schema = {"old_customer_id": pl.Utf8, "new_customer_id": pl.Utf8, "reason": pl.Utf8}
    chosen = pl.DataFrame(schema={"cluster": cluster_type, "customer_id": pl.Utf8})
    merges = pl.DataFrame(schema=history_schema)
    splits = pl.DataFrame(schema={"customer_id": pl.Utf8, "cluster": cluster_type})
    if overlap is not None and overlap.height:
        # heir of each old id: the cluster holding most of its records (ties: smallest cluster label)
        heirs = overlap.sort(["customer_id", "n", "cluster"], descending=[False, True, False]).group_by(
            "customer_id", maintain_order=True
        ).first()
        old_size = overlap.group_by("customer_id").agg(pl.col("n").sum().alias("old_n"), pl.col("since").min())
        heirs = heirs.drop("since").join(old_size, on="customer_id")
        # a cluster inheriting several ids keeps the biggest, then the oldest, then the smallest id
        ranked = heirs.sort(["cluster", "old_n", "since", "customer_id"], descending=[False, True, False, False])
        ranked = ranked.with_columns(pl.col("customer_id").first().over("cluster").alias("kept"))
        chosen = ranked.filter(pl.col("customer_id") == pl.col("kept")).select(
            pl.col("cluster").cast(cluster_type), "customer_id")
        merges = ranked.filter(pl.col("customer_id") != pl.col("kept")).select(
            pl.col("customer_id").alias("old_customer_id"), pl.col("kept").alias("new_customer_id"),
            pl.lit("merge").alias("reason"))
        splits = overlap.join(heirs.select("customer_id", pl.col("cluster").alias("heir")), on="customer_id")
        splits = splits.filter(pl.col("cluster") != pl.col("heir")).select(
            "customer_id", pl.col("cluster").cast(cluster_type))

    fresh = seeds.join(chosen, on="cluster", how="anti", maintain_order="left")
    if "fresh_id" not in fresh.columns:
        fresh = fresh.with_columns(pl.struct("source", "record_id").map_elements(
            lambda r: hashed_id(r["source"], r["record_id"]), return_dtype=pl.Utf8).alias("fresh_id"))
    fresh = fresh.with_columns(pl.col("fresh_id").alias("customer_id"))
    clash = (pl.col("fresh_id").is_in(used.implode()) | pl.col("fresh_id").is_in(chosen["customer_id"].implode())
             | pl.col("fresh_id").is_duplicated())
    clashing = fresh.filter(clash)
    if clashing.height:  # a salt until the id is free (never seen in practice: 16 hex digits)
        taken = set(used.to_list()) | set(chosen["customer_id"].to_list()) | set(fresh.filter(~clash)["fresh_id"].to_list())
        issued = is_used or (lambda cid: False)  # `used` is in `taken`
        salted = []
        for source, record_id in clashing.select("source", "record_id").iter_rows():
            salt, cid = 0, hashed_id(source, record_id)
            while cid in taken or issued(cid):
                salt += 1
                cid = hashed_id(source, record_id, salt)
            taken.add(cid)
            salted.append(cid)
        fill = clashing.select("cluster").with_columns(pl.Series("salted", salted, dtype=pl.Utf8))
        fresh = fresh.join(fill, on="cluster", how="left", maintain_order="left").with_columns(
            pl.coalesce("salted", "customer_id").alias("customer_id")).drop("salted")
    mapping = pl.concat([chosen, fresh.select("cluster", "customer_id")])
    # in seed order, as the clusters' smallest records sort
    mapping = seeds.select("cluster").join(mapping, on="cluster", how="left", maintain_order="left")
    split_rows = splits.join(mapping.rename({"customer_id": "new_id"}), on="cluster").filter(
        pl.col("customer_id") != pl.col("new_id")).select(
        pl.col("customer_id").alias("old_customer_id"), pl.col("new_id").alias("new_customer_id"),
        pl.lit("split").alias("reason"))
    hist = pl.concat([merges, split_rows]).unique(maintain_order=True)
    return mapping, hist
