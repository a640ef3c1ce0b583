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
    return choose_customer_ids(seeds, overlap, set(used_ids or ()) | _ids(previous))


def assign_customer_ids_sql(con, assignment: str, previous: str,
                            used_ids: set[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """assign_customer_ids over DuckDB relations (millions of records never leave DuckDB: only one
    row per cluster and per (old id, cluster) overlap does)."""
    seeds = pl.from_arrow(con.sql(f"""
        SELECT cluster, first.s AS source, first.r AS record_id, size FROM (
            SELECT cluster, min({{'s': source, 'r': record_id}}) AS first, count(*)::UINTEGER AS size
            FROM {assignment} GROUP BY cluster)
    """).to_arrow_table())
    overlap = pl.from_arrow(con.sql(f"""
        SELECT p.customer_id, a.cluster, count(*)::UINTEGER AS n, min(p.first_assigned_at) AS since
        FROM {assignment} a JOIN {previous} p USING (source, record_id) GROUP BY ALL
    """).to_arrow_table())
    old = {r[0] for r in con.execute(f"SELECT DISTINCT customer_id FROM {previous}").fetchall()}
    return choose_customer_ids(seeds, overlap if overlap.height else None, set(used_ids or ()) | old)


def _ids(previous: pl.DataFrame | None) -> set[str]:
    return set(previous["customer_id"].unique().to_list()) if previous is not None and previous.height else set()


def choose_customer_ids(seeds: pl.DataFrame, overlap: pl.DataFrame | None,
                        used: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """seeds: cluster, source, record_id (its smallest record), size; overlap: customer_id, cluster,
    n (records of the old id in the cluster), since (their earliest first_assigned_at)."""
    seeds = seeds.sort("source", "record_id")
    cluster_type = seeds.schema["cluster"]
    chosen: dict[int, str] = {}
    history: list[tuple[str, str, str]] = []
    if overlap is not None and overlap.height:
        # heir of each old id: the cluster holding most of its records (ties: smallest cluster label)
        heirs = overlap.sort(["customer_id", "n", "cluster"], descending=[False, True, False]).group_by(
            "customer_id", maintain_order=True
        ).first()
        old_size = overlap.group_by("customer_id").agg(pl.col("n").sum().alias("old_n"), pl.col("since").min())
        heirs = heirs.drop("since").join(old_size, on="customer_id")
        # a cluster inheriting several ids keeps the biggest, then the oldest, then the smallest id
        ranked = heirs.sort(["cluster", "old_n", "since", "customer_id"], descending=[False, True, False, False])
        for cluster, group in ranked.group_by("cluster", maintain_order=True):
            ids = group["customer_id"].to_list()
            chosen[int(cluster[0])] = ids[0]
            for old in ids[1:]:
                history.append((old, ids[0], "merge"))
        splits = overlap.join(heirs.select("customer_id", pl.col("cluster").alias("heir")), on="customer_id")
        splits = splits.filter(pl.col("cluster") != pl.col("heir")).select("customer_id", "cluster")
    else:
        splits = pl.DataFrame(schema={"customer_id": pl.Utf8, "cluster": cluster_type})

    rows_cluster, rows_id = [], []
    taken = set(chosen.values())
    for cluster, source, record_id in seeds.select("cluster", "source", "record_id").iter_rows():
        cid = chosen.get(cluster)
        if cid is None:
            salt = 0
            cid = hashed_id(source, record_id)
            while cid in taken or cid in used:
                salt += 1
                cid = hashed_id(source, record_id, salt)
        taken.add(cid)
        rows_cluster.append(cluster)
        rows_id.append(cid)
    mapping = pl.DataFrame({"cluster": rows_cluster, "customer_id": rows_id},
                           schema={"cluster": cluster_type, "customer_id": pl.Utf8})
    if splits.height:
        split_rows = splits.with_columns(pl.col("cluster").cast(cluster_type)).join(
            mapping.rename({"customer_id": "new_id"}), on="cluster"
        )
        for old, new in split_rows.select("customer_id", "new_id").iter_rows():
            if old != new:
                history.append((old, new, "split"))
    hist = pl.DataFrame(history, schema={"old_customer_id": pl.Utf8, "new_customer_id": pl.Utf8,
                                         "reason": pl.Utf8}, orient="row").unique(maintain_order=True)
    return mapping, hist
