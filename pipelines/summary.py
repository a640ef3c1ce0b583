"""The run summary a person reads at the end of `cdp run` / `make demo`: figures only, no PII.

`summary_sections` is the one description of what the summary shows; the terminal (rich tables),
plain text and the Prefect markdown artifact are drawn from it.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any


def summary_sections(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) per part of the summary that has data."""
    parts: list[tuple[str, list[str], list[list[Any]]]] = []
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for load in summary.get("loads", []):
        totals = per_source[load["source"]]
        for i, key in enumerate(("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")):
            totals[i] += int(load.get(key) or 0)
    rows = [[source, *totals] for source, totals in sorted(per_source.items())]
    if rows:
        rows.append(["total", *[sum(r[i] for r in rows) for i in range(1, 5)]])
        parts.append(("Ingest (events and records per source)",
                      ["source", "read", "loaded", "quarantined", "duplicate"], rows))
    resolve = summary.get("resolve")
    if resolve:
        parts.append(("Identity resolution", ["", "count"], [
            ["records", resolve.get("records", 0)],
            ["customers", resolve.get("customers", 0)],
            ["deterministic edges", resolve.get("deterministic_edges", 0)],
            ["probabilistic edges", resolve.get("probabilistic_edges", 0)],
            ["edges refused by merge protection", resolve.get("rejected_edges", 0)],
        ]))
    evaluation = summary.get("evaluation")
    if evaluation:
        parts.append(("Quality against the generator's truth", ["", "value"], [
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
                seg_rows.append([name, info, None, None])
        parts.append(("Segments", ["segment", "members", "entered", "exited"], seg_rows))
    syncs = summary.get("syncs") or []
    if syncs:
        parts.append(("CRM syncs", ["target", "new", "updated", "deleted", "failed"], [
            [s["target"], s["new"], s["updated"], s["deleted"], s["failed"]] for s in syncs]))
    timings = summary.get("timings") or {}
    if timings:
        parts.append(("Time per step (s)", ["step", "seconds"],
                      [[step, float(f"{seconds:.1f}")] for step, seconds in timings.items()]
                      + [["total", float(f"{sum(timings.values()):.1f}")]]))
    return parts


def _errors(summary: dict[str, Any]) -> list[str]:
    return [f"{load['source']}/{load['stream']}: {e}" for load in summary.get("loads", [])
            for e in load.get("errors") or []]


def _n(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


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
    """The summary as plain text (logs, files); the terminal gets `print_summary`."""
    parts = [f"{title}\n{_table(headers, rows)}" for title, headers, rows in summary_sections(summary)]
    errors = _errors(summary)
    if errors:
        parts.insert(1, "Files that could not be read (the rest was loaded):\n"
                     + "\n".join(f"  ! {e}" for e in errors))
    if summary.get("suppressed"):
        parts.insert(1, f"Suppressed records of forgotten people: {_n(summary['suppressed'])}")
    return "\n\n".join(parts)


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as the command line's tables."""
    from pipelines.commands import _ui

    out = _ui.console()
    for i, (title, headers, rows) in enumerate(summary_sections(summary)):
        out.print(_ui.table(headers, rows, title=title))
        if i == 0:
            for error in _errors(summary):
                out.print(f"  ! could not read {error}", style="red", markup=False)
            if summary.get("suppressed"):
                out.print(f"Suppressed records of forgotten people: {_n(summary['suppressed'])}", markup=False)
        out.print()


def where_to_look(summary: dict[str, Any]) -> str:
    home = summary["home"]
    published = summary.get("published") or {}
    lines = [
        f"Warehouse: {home}/warehouse.duckdb   (read-only snapshot for readers: {published.get('snapshot', '-')})",
        f"Report:    {published.get('report', '-')}   (open it in a browser)",
        "Query it:",
        f"  {sys.executable} -c \"import duckdb; print(duckdb.connect('{home}/snapshots/latest.duckdb', read_only=True)"
        ".sql('SELECT * FROM profiles.customer LIMIT 5'))\"",
        f"  cdp status --home {home}     cdp explain <customer_id> --home {home}     "
        f"cdp export high_value --format csv --home {home}",
    ]
    return "\n".join(lines)
