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
    # Every identifier is shown the same way: enough to recognise it, never the value itself.
    records = records.with_columns(
        [pl.col(c).cast(pl.Utf8).map_elements(mask_identifier, return_dtype=pl.Utf8) for c in _SHOWN]
    )
    keys = "(SELECT source, record_id FROM identity.record_map WHERE customer_id = ?)"
    edges = _frame(con, f"""
        SELECT left_source, left_record_id, right_source, right_record_id, edge_kind, identifier_type,
               match_probability, match_weight, run_id
        FROM identity.edges
        WHERE (left_source, left_record_id) IN (SELECT (source, record_id) FROM {keys})
        ORDER BY edge_kind, identifier_type, left_source, left_record_id, right_source, right_record_id
    """, [current])
    comparisons = _frame(con, f"""
        SELECT left_source, left_record_id, right_source, right_record_id, comparison, level_name, weight
        FROM identity.edge_comparisons
        WHERE (left_source, left_record_id) IN (SELECT (source, record_id) FROM {keys})
        ORDER BY comparison
    """, [current])
    history = _frame(con, """
        SELECT old_customer_id, new_customer_id, reason, changed_at FROM identity.id_history
        WHERE old_customer_id = ? OR new_customer_id = ? ORDER BY changed_at
    """, [current, current])
    return {"customer_id": customer_id, "current_id": current, "records": records, "edges": edges,
            "comparisons": comparisons, "history": history, "priors": _priors(con),
            "shared": _shared_identifiers(con, current), "refused": _refused(con, keys, current)}


# Which normalized column an identifier edge type joins on.
_TYPE_COLUMNS = {"user_id": ["user_id"], "email": ["email"], "phone": ["phone"], "device_id": ["device_id"],
                 "social_handle": ["social_handle"], "order_id": ["order_id"],
                 "anonymous_id": ["anonymous_id", "previous_id"], "previous_id": ["previous_id", "anonymous_id"]}


def _priors(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """The prior's weight (log2 odds that two random records match) per resolve run."""
    if not table_exists(con, "identity", "match_weights"):
        return {}
    rows = con.execute("SELECT run_id, match_weight FROM identity.match_weights WHERE comparison = '_prior'").fetchall()
    return {r[0]: float(r[1]) for r in rows if r[1] is not None}


def _shared_identifiers(con: duckdb.DuckDBPyConnection, customer: str) -> list[dict]:
    """Deterministic evidence: each identifier value (masked) and the records of this customer sharing it."""
    if not table_exists(con, "identity", "normalized_records"):
        return []
    out = []
    for kind, columns in _TYPE_COLUMNS.items():
        if kind == "previous_id":
            continue
        unions = " UNION ALL ".join(
            f"SELECT n.{c} AS value, m.source, m.record_id FROM identity.record_map m "
            f"JOIN identity.normalized_records n USING (source, record_id) WHERE m.customer_id = ? AND n.{c} IS NOT NULL"
            for c in columns)
        rows = con.execute(f"""SELECT value, count(DISTINCT (source, record_id)) AS records,
                                      list(DISTINCT source ORDER BY source) AS sources,
                                      list(DISTINCT source || ':' || record_id ORDER BY source || ':' || record_id)[1:3]
                               FROM ({unions}) GROUP BY value HAVING count(DISTINCT (source, record_id)) > 1
                               ORDER BY records DESC, value""", [customer] * len(columns)).fetchall()
        for value, n, sources, examples in rows:
            out.append({"identifier_type": kind, "value": mask_identifier(str(value)), "records": n,
                        "sources": sources, "examples": examples})
    return out


def _refused(con: duckdb.DuckDBPyConnection, keys: str, customer: str) -> list[dict]:
    """Links touching this customer's records that merge protection or a guard refused, with the reason."""
    if not table_exists(con, "identity", "rejected_edges"):
        return []
    rows = con.execute(f"""
        SELECT r.reason, r.edge_kind, r.identifier_type, r.masked_value, r.match_probability,
               r.left_source || ':' || r.left_record_id, r.right_source || ':' || r.right_record_id,
               ml.customer_id, mr.customer_id
        FROM identity.rejected_edges r
        LEFT JOIN identity.record_map ml ON ml.source = r.left_source AND ml.record_id = r.left_record_id
        LEFT JOIN identity.record_map mr ON mr.source = r.right_source AND mr.record_id = r.right_record_id
        WHERE (r.left_source, r.left_record_id) IN (SELECT (source, record_id) FROM {keys})
           OR (r.right_source, r.right_record_id) IN (SELECT (source, record_id) FROM {keys})
        ORDER BY r.reason, r.identifier_type LIMIT 200""", [customer, customer]).fetchall()
    out = []
    for reason, kind, itype, masked, prob, left, right, lc, rc in rows:
        other = rc if lc == customer else lc
        out.append({"reason": reason, "edge_kind": kind, "identifier_type": itype,
                    "value": masked if masked is None or "***" in str(masked) else mask_identifier(str(masked)),
                    "match_probability": prob, "left": left, "right": right,
                    "other_customer": other if other != customer else None})
    return out


def waterfall(result: dict, edge: dict) -> dict:
    """Splink's waterfall for one probabilistic edge: prior + each field's weight = the match weight."""
    comps = result["comparisons"].filter(
        (pl.col("left_source") == edge["left_source"]) & (pl.col("left_record_id") == edge["left_record_id"])
        & (pl.col("right_source") == edge["right_source"]) & (pl.col("right_record_id") == edge["right_record_id"]))
    priors = result.get("priors") or {}
    prior = priors.get(edge.get("run_id")) if edge.get("run_id") in priors else (
        next(iter(priors.values())) if len(priors) == 1 else None)
    steps = [{"comparison": c["comparison"], "level": c["level_name"], "weight": float(c["weight"])}
             for c in comps.iter_rows(named=True) if c["weight"] is not None]
    total = (prior or 0.0) + sum(s["weight"] for s in steps)
    weight = float(edge["match_weight"]) if edge.get("match_weight") is not None else None
    # What is left (term-frequency adjustments, a model without a stored prior) is shown, not hidden.
    rest = (weight - total) if weight is not None else None
    return {"prior": prior, "steps": steps, "sum": total, "match_weight": weight,
            "match_probability": float(edge["match_probability"]) if edge.get("match_probability") is not None else None,
            "other": rest if rest is not None and abs(rest) > 0.005 else 0.0,
            "adds_up": rest is not None and abs(rest) <= 0.005}


def format_explanation(result: dict) -> str:
    lines = []
    cid = result["customer_id"]
    if result["current_id"] != cid:
        lines.append(f"{cid} was merged into {result['current_id']}")
    records, edges = result["records"], result["edges"]
    lines.append(f"customer {result['current_id']}: {records.height} records, {edges.height} edges "
                 "(identifiers masked)")
    lines.append("")
    lines.append("records:")
    for row in records.iter_rows(named=True):
        ids = ", ".join(f"{c}={row[c]}" for c in _SHOWN if row.get(c) is not None)
        when = row["event_time"].isoformat(sep=" ", timespec="seconds") if row["event_time"] else "-"
        lines.append(f"  {row['source']:<13} {row['record_id']:<40} {when}  {ids}")
    shared = result.get("shared") or []
    det = edges.filter(pl.col("edge_kind") == "deterministic")
    if det.height or shared:
        lines.append("")
        lines.append("deterministic links (a shared identifier):")
        counts = dict(det.group_by("identifier_type").len().iter_rows()) if det.height else {}
        for kind in sorted(counts):
            lines.append(f"  {kind:<14} {counts[kind]} edge(s)")
        for s in shared:
            lines.append(f"    {s['identifier_type']:<14} {s['value']:<28} shared by {s['records']} records "
                         f"({', '.join(s['sources'])}; e.g. {', '.join(s['examples'])})")
    prob = edges.filter(pl.col("edge_kind") == "probabilistic")
    if prob.height:
        lines.append("")
        lines.append("probabilistic links (waterfall: prior + each field's weight = match weight, in bits):")
        for row in prob.iter_rows(named=True):
            w = waterfall(result, row)
            lines.append(f"  {row['left_source']}:{row['left_record_id']} ~ {row['right_source']}:{row['right_record_id']}"
                         f"  p={row['match_probability']:.4f}")
            if w["prior"] is not None:
                lines.append(f"      {'prior':<11} {'P(two random records match)':<42} {w['prior']:+7.2f}")
            for step in w["steps"]:
                lines.append(f"      {step['comparison']:<11} {step['level']:<42} {step['weight']:+7.2f}")
            if w["other"]:
                lines.append(f"      {'other':<11} {'term-frequency adjustments':<42} {w['other']:+7.2f}")
            lines.append(f"      {'= weight':<11} {'(sum of the lines above)':<42} {w['match_weight']:+7.2f}"
                         + ("" if w["adds_up"] or w["other"] else "  (does not add up)"))
    refused = result.get("refused") or []
    if refused:
        lines.append("")
        lines.append("refused links (merge protection and guards):")
        for r in refused:
            what = r["identifier_type"] or r["edge_kind"] or "link"
            value = f" {r['value']}" if r.get("value") else ""
            other = f" (other side: customer {r['other_customer']})" if r.get("other_customer") else ""
            lines.append(f"  {r['reason']:<24} {what}{value}: {r['left']} ~ {r['right']}{other}")
    if result["history"].height:
        lines.append("")
        lines.append("id history:")
        for row in result["history"].iter_rows(named=True):
            lines.append(f"  {row['old_customer_id']} -> {row['new_customer_id']} ({row['reason']}, {row['changed_at']})")
    return "\n".join(lines)


def explanation_json(result: dict) -> dict:
    """The explanation as plain JSON: frames as rows, each probabilistic edge with its waterfall."""
    out = {}
    for key, value in result.items():
        if key == "priors":
            continue
        out[key] = value.to_dicts() if isinstance(value, pl.DataFrame) else value
    out["edges"] = [{**e, "waterfall": waterfall(result, e)} if e["edge_kind"] == "probabilistic" else e
                    for e in result["edges"].to_dicts()]
    out.pop("comparisons", None)
    return out
