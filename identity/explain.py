"""Why is this one customer? Its records (identifiers masked) and every edge that joined them."""
from __future__ import annotations

import duckdb
import polars as pl

from identity.protection import mask_identifier
from identity.schema import table_exists

_SHOWN = ("user_id", "email", "phone", "anonymous_id", "device_id", "social_handle", "order_id")


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.execute(sql, params or []).to_arrow_table())


def explain_customer(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict:
    """{customer_id, current_id, history, records, edges, comparisons} for one customer id.

    An id merged away in an earlier run is followed to the id that absorbed it.
    """
    if not table_exists(con, "identity", "record_map"):
        raise FileNotFoundError("no identity.record_map in this warehouse: run `cdp resolve --home HOME` first")
    current = customer_id
    seen = set()
    while True:
        exists = con.execute("SELECT count(*) FROM identity.record_map WHERE customer_id = ?", [current]).fetchall()[0][0]
        if exists or current in seen:
            break
        seen.add(current)
        nxt = con.execute(
            "SELECT new_customer_id FROM identity.id_history WHERE old_customer_id = ? AND reason = 'merge' "
            "ORDER BY changed_at DESC LIMIT 1", [current]).fetchall()
        if not nxt:
            raise ValueError(f"unknown customer id {customer_id!r}: not in identity.record_map or its history")
        current = nxt[0][0]
    records = _frame(con, f"""
        SELECT m.source, m.record_id, n.event_time, {', '.join('n.' + c for c in _SHOWN)},
               n.first_name_key IS NOT NULL OR n.last_name_key IS NOT NULL AS has_name
        FROM identity.record_map m LEFT JOIN identity.normalized_records n USING (source, record_id)
        WHERE m.customer_id = ? ORDER BY n.event_time, m.source, m.record_id
    """, [current])
    records = records.with_columns(
        [pl.col(c).map_elements(mask_identifier, return_dtype=pl.Utf8) for c in ("email", "phone")]
    )
    keys = "(SELECT source, record_id FROM identity.record_map WHERE customer_id = ?)"
    edges = _frame(con, f"""
        SELECT left_source, left_record_id, right_source, right_record_id, edge_kind, identifier_type,
               match_probability, match_weight
        FROM identity.edges
        WHERE (left_source, left_record_id) IN (SELECT (source, record_id) FROM {keys})
        ORDER BY edge_kind, identifier_type, left_source, left_record_id, right_source, right_record_id
    """, [current])
    comparisons = _frame(con, f"""
        SELECT left_source, left_record_id, right_source, right_record_id, comparison, level_name, weight
        FROM identity.edge_comparisons
        WHERE (left_source, left_record_id) IN (SELECT (source, record_id) FROM {keys})
    """, [current])
    history = _frame(con, """
        SELECT old_customer_id, new_customer_id, reason, changed_at FROM identity.id_history
        WHERE old_customer_id = ? OR new_customer_id = ? ORDER BY changed_at
    """, [current, current])
    return {"customer_id": customer_id, "current_id": current, "records": records, "edges": edges,
            "comparisons": comparisons, "history": history}


def format_explanation(result: dict) -> str:
    lines = []
    cid = result["customer_id"]
    if result["current_id"] != cid:
        lines.append(f"{cid} was merged into {result['current_id']}")
    records, edges = result["records"], result["edges"]
    lines.append(f"customer {result['current_id']}: {records.height} records, {edges.height} edges")
    lines.append("")
    lines.append("records:")
    for row in records.iter_rows(named=True):
        ids = ", ".join(f"{c}={row[c]}" for c in _SHOWN if row.get(c) is not None)
        when = row["event_time"].isoformat(sep=" ", timespec="seconds") if row["event_time"] else "-"
        lines.append(f"  {row['source']:<13} {row['record_id']:<40} {when}  {ids}")
    lines.append("")
    det = edges.filter(pl.col("edge_kind") == "deterministic")
    if det.height:
        lines.append("deterministic edges (shared identifier):")
        for row in det.group_by("identifier_type").len().sort("identifier_type").iter_rows():
            lines.append(f"  {row[0]:<14} {row[1]} edge(s)")
    prob = edges.filter(pl.col("edge_kind") == "probabilistic")
    if prob.height:
        lines.append("probabilistic edges (match probability, match weight, contribution per field):")
        comps = result["comparisons"]
        for row in prob.iter_rows(named=True):
            lines.append(
                f"  {row['left_source']}:{row['left_record_id']} ~ {row['right_source']}:{row['right_record_id']}"
                f"  p={row['match_probability']:.4f}  weight={row['match_weight']:.2f}"
            )
            parts = comps.filter(
                (pl.col("left_source") == row["left_source"]) & (pl.col("left_record_id") == row["left_record_id"])
                & (pl.col("right_source") == row["right_source"]) & (pl.col("right_record_id") == row["right_record_id"])
            )
            for c in parts.iter_rows(named=True):
                lines.append(f"      {c['comparison']:<11} {c['level_name']:<42} {c['weight']:+.2f}")
    if result["history"].height:
        lines.append("")
        lines.append("id history:")
        for row in result["history"].iter_rows(named=True):
            lines.append(f"  {row['old_customer_id']} -> {row['new_customer_id']} ({row['reason']}, {row['changed_at']})")
    return "\n".join(lines)


def explanation_json(result: dict) -> dict:
    """The explanation as plain JSON (frames as lists of rows)."""
    out = {}
    for key, value in result.items():
        out[key] = value.to_dicts() if isinstance(value, pl.DataFrame) else value
    return out
