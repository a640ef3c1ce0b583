"""Connected components, vectorized, and the merge-protected (constrained) variant.

Plain components use hooking + pointer jumping over Polars columns: each round hooks every root
onto the smallest root it touches, then jumps pointers until every node points at its root, so a
million-edge graph settles in a handful of column operations instead of a Python loop per edge.

Merge protection (at most N distinct values of a limited identifier type per customer) cannot be
vectorized in general, but it only matters inside components that break a limit; those are rare
and small, so only they go through a Python union-find that applies links in priority order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


def connected_components(n_nodes: int, edges: pl.DataFrame) -> pl.Series:
    """Component label (the smallest node id in it) for nodes 0..n_nodes-1; edges has columns a, b."""
    parent = pl.Series("parent", range(n_nodes), dtype=pl.UInt32)
    if n_nodes == 0 or edges.height == 0:
        return parent
    e = edges.select(pl.col("a").cast(pl.UInt32), pl.col("b").cast(pl.UInt32)).filter(
        pl.col("a") != pl.col("b")
    )
    while True:
        pa = parent.gather(e["a"])
        pb = parent.gather(e["b"])
        hooks = (
            pl.DataFrame({"pa": pa, "pb": pb})
            .filter(pl.col("pa") != pl.col("pb"))
            .select(
                pl.max_horizontal("pa", "pb").alias("hi"),
                pl.min_horizontal("pa", "pb").alias("lo"),
            )
            .group_by("hi")
            .agg(pl.col("lo").min())
        )
        if hooks.height == 0:
            return parent
        # hook: parent[hi] = min(parent[hi], lo); hi are roots so parent[hi] == hi > lo
        parent = parent.scatter(hooks["hi"], hooks["lo"])
        # pointer jumping until every node points at a root
        while True:
            jumped = parent.gather(parent)
            if (jumped == parent).all():
                break
            parent = jumped
        # drop edges already inside one component to shrink the next round
        same = parent.gather(e["a"]) == parent.gather(e["b"])
        e = e.filter(~same)
        if e.height == 0:
            return parent


@dataclass
class ConstrainedResult:
    labels: pl.Series
    # (link_id, reason) of links refused because they would break a limit
    rejected: list[tuple[int, str]] = field(default_factory=list)
    violating_components: int = 0


def constrained_components(
    n_nodes: int,
    links: pl.DataFrame,
    limited: pl.DataFrame,
    limits: dict[str, int],
) -> ConstrainedResult:
    """Components where no component holds more than `limits[type]` distinct values of a type.

    links: one row per (link_id, node); a link joins all its nodes at once (an identifier value
      shared by records, or a scored pair of clusters) and is accepted or refused as a whole.
      Columns: link_id (int), node (int), rank (int: lower is applied first).
    limited: one row per (node, id_type, value) for the limited identifier types.
    """
    if links.height == 0:
        return ConstrainedResult(pl.Series("parent", range(n_nodes), dtype=pl.UInt32))
    anchors = links.group_by("link_id").agg(pl.col("node").min().alias("anchor"))
    star = links.join(anchors, on="link_id").select(pl.col("node").alias("a"), pl.col("anchor").alias("b"))
    labels = connected_components(n_nodes, star)
    if limited.height == 0 or not limits:
        return ConstrainedResult(labels)

    lim = limited.filter(pl.col("id_type").is_in(list(limits)))
    counts = (
        lim.with_columns(pl.Series("comp", labels.gather(lim["node"].cast(pl.UInt32))))
        .group_by("comp", "id_type")
        .agg(pl.col("value").n_unique().alias("n"))
        .with_columns(pl.col("id_type").replace_strict(limits, return_dtype=pl.Int64).alias("limit"))
        .filter(pl.col("n") > pl.col("limit"))
    )
    bad_comps = counts["comp"].unique()
    if bad_comps.len() == 0:
        return ConstrainedResult(labels)

    node_comp = pl.DataFrame({"node": pl.Series(range(n_nodes), dtype=pl.UInt32), "comp": labels})
    bad_nodes = node_comp.filter(pl.col("comp").is_in(bad_comps.implode()))
    bad_links = (
        links.with_columns(pl.col("node").cast(pl.UInt32))
        .join(bad_nodes, on="node", how="semi")
        .sort("rank", "link_id", "node")
    )
    node_values: dict[int, dict[str, set]] = {}
    for node, id_type, value in (
        lim.with_columns(pl.col("node").cast(pl.UInt32))
        .join(bad_nodes, on="node", how="semi")
        .select("node", "id_type", "value")
        .iter_rows()
    ):
        node_values.setdefault(node, {}).setdefault(id_type, set()).add(value)

    # Python union-find over the violating components only.
    parent: dict[int, int] = {int(n): int(n) for n in bad_nodes["node"]}
    values: dict[int, dict[str, set]] = {n: node_values.get(n, {}) for n in parent}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    rejected: list[tuple[int, str]] = []
    link_ids = bad_links["link_id"].to_list()
    nodes = bad_links["node"].to_list()
    i = 0
    total = len(link_ids)
    while i < total:
        link = link_ids[i]
        j = i
        roots = set()
        while j < total and link_ids[j] == link:
            roots.add(find(nodes[j]))
            j += 1
        i = j
        if len(roots) < 2:
            continue
        merged: dict[str, set] = {}
        for r in roots:
            for id_type, vals in values[r].items():
                merged.setdefault(id_type, set()).update(vals)
        broken = [t for t, vals in merged.items() if len(vals) > limits.get(t, 1 << 30)]
        if broken:
            rejected.append((link, f"limit_exceeded:{sorted(broken)[0]}"))
            continue
        keep = min(roots)
        for r in roots:
            if r != keep:
                parent[r] = keep
                values.pop(r, None)
        values[keep] = merged

    fixed = {n: find(n) for n in parent}
    # relabel each fixed group by its smallest node so labels stay deterministic
    smallest: dict[int, int] = {}
    for n, r in fixed.items():
        if r not in smallest or n < smallest[r]:
            smallest[r] = n
    upd_nodes = pl.Series(list(fixed.keys()), dtype=pl.UInt32)
    upd_labels = pl.Series([smallest[r] for r in fixed.values()], dtype=pl.UInt32)
    labels = labels.scatter(upd_nodes, upd_labels)
    return ConstrainedResult(labels, rejected, int(bad_comps.len()))
