"""The run summary a person reads at the end of `cdp run` / `make demo`: plain text, no PII."""
from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[_n(c) for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    out = []
    for j, row in enumerate(cells):
        out.append("  " + "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                    for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(out)


def format_summary(summary: dict[str, Any]) -> str:
    parts: list[str] = []
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    errors: list[str] = []
    for load in summary.get("loads", []):
        totals = per_source[load["source"]]
        for i, key in enumerate(("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")):
            totals[i] += int(load.get(key) or 0)
        errors += [f"{load['source']}/{load['stream']}: {e}" for e in load.get("errors") or []]
    rows = [[source, *totals] for source, totals in sorted(per_source.items())]
    if rows:
        rows.append(["total", *[sum(r[i] for r in rows) for i in range(1, 5)]])
        parts.append("Ingest (events and records per source)\n"
                     + _table(["source", "read", "loaded", "quarantined", "duplicate"], rows))
    if errors:
        parts.append("Files that could not be read (the rest was loaded):\n"
                     + "\n".join(f"  ! {e}" for e in errors))
    if summary.get("suppressed"):
        parts.append(f"Suppressed records of forgotten people: {_n(summary['suppressed'])}")
    resolve = summary.get("resolve")
    if resolve:
        parts.append("Identity resolution\n" + _table(["", "count"], [
            ["records", resolve.get("records", 0)],
            ["customers", resolve.get("customers", 0)],
            ["deterministic edges", resolve.get("deterministic_edges", 0)],
            ["probabilistic edges", resolve.get("probabilistic_edges", 0)],
            ["edges refused by merge protection", resolve.get("rejected_edges", 0)],
        ]))
    evaluation = summary.get("evaluation")
    if evaluation:
        parts.append("Quality against the generator's truth\n" + _table(["", "value"], [
            ["pairwise precision", f"{evaluation['precision']:.4f}"],
            ["pairwise recall", f"{evaluation['recall']:.4f}"],
            ["pairwise F1", f"{evaluation['f1']:.4f}"],
            ["true persons", evaluation.get("true_persons", 0)],
            ["persons split in two or more", f"{evaluation.get('split_persons_share', 0):.2%}"],
            ["customers fusing two people", f"{evaluation.get('fused_customers_share', 0):.2%}"],
        ]))
    segments = (summary.get("segments") or {})
    sizes = segments.get("segments") if isinstance(segments, dict) else None
    if sizes:
        seg_rows = []
        for name, info in sizes.items():
            if isinstance(info, dict):
                seg_rows.append([name, info.get("members", info.get("size", 0)),
                                 info.get("entered", 0), info.get("exited", 0)])
            else:
                seg_rows.append([name, info, "", ""])
        parts.append("Segments\n" + _table(["segment", "members", "entered", "exited"], seg_rows))
    syncs = summary.get("syncs") or []
    if syncs:
        parts.append("CRM syncs\n" + _table(["target", "new", "updated", "deleted", "failed"], [
            [s["target"], s["new"], s["updated"], s["deleted"], s["failed"]] for s in syncs]))
    timings = summary.get("timings") or {}
    if timings:
        parts.append("Time per step (s)\n" + _table(["step", "seconds"], [
            [step, f"{seconds:.1f}"] for step, seconds in timings.items()]
            + [["total", f"{sum(timings.values()):.1f}"]]))
    return "\n\n".join(parts)


def where_to_look(summary: dict[str, Any]) -> str:
    home = summary["home"]
    published = summary.get("published") or {}
    lines = [
        f"Warehouse: {home}/warehouse.duckdb   (read-only snapshot for readers: {published.get('snapshot', '-')})",
        f"Report:    {published.get('report', '-')}   (open it in a browser)",
        "Query it:",
        f"  {sys.executable} -c \"import duckdb; print(duckdb.connect('{home}/snapshots/latest.duckdb', read_only=True)"
        ".sql('SELECT * FROM profiles.golden LIMIT 5'))\"",
        f"  cdp explain <customer_id> --home {home}     cdp export high_value --format csv --home {home}",
    ]
    return "\n".join(lines)
