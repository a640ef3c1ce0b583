"""The run report: one self-contained HTML file with the figures a person wants after a run.

Charts are inline SVG drawn here in Python (no JavaScript, no network), so the file opens anywhere,
can be mailed, and stays readable in ten years. A chart whose table does not exist yet says so and
names the command that fills it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from string import Template

import duckdb

from pipelines.report import svg
from pipelines.report.data import ReportData, collect
from warehouse.connection import connect
from warehouse.layout import HomeLayout

TEMPLATE = Path(__file__).resolve().parent / "template.html"

# (chart id, title, explanation, command that produces its data)
CHARTS = [
    ("events_per_day", "Records per source per day",
     "How many events, profiles, leads and orders each source produced per day (valid records "
     "only). A sudden drop usually means a source stopped delivering.", "cdp ingest"),
    ("quarantine_reasons", "Why records were quarantined",
     "Records that failed validation are kept aside in raw.quarantine with a reason, never "
     "silently dropped. Each bar counts one reason (and source).", "cdp ingest"),
    ("cluster_sizes", "How many records make one customer",
     "Customers by the number of source records resolved into them. Most people leave a few "
     "to a few dozen traces (page views included); a very long tail can mean over-merging.",
     "cdp resolve"),
    ("match_probabilities", "Match probability of fuzzy links",
     "Links made by probabilistic matching (no shared identifier), by the probability that both "
     "records are the same person. Links below the configured threshold are not used.",
     "cdp resolve"),
    ("rejected_links", "Links refused by merge protection",
     "Identifier links that were NOT used, by reason: placeholder values such as test@test.com, "
     "a device shared by two account holders, more identifiers of one kind than a person has. "
     "They keep different people from being merged into one customer.", "cdp resolve"),
    ("source_overlap", "Where customers were seen",
     "Customers by the combination of sources they appear in: how much web, app, social and "
     "store data overlap once identities are resolved.", "cdp resolve"),
    ("segment_sizes", "Segment sizes",
     "Members per segment at each segment run (or now, after the first run). Use it to see "
     "audiences grow or shrink.", "cdp segments"),
]

HEADLINE = [
    ("events_read", "records read"),
    ("events_loaded", "records loaded"),
    ("events_quarantined", "records quarantined"),
    ("events_duplicate", "duplicates skipped"),
    ("records", "identity-bearing records"),
    ("customers", "customers resolved"),
    ("profiles", "golden profiles"),
    ("segments", "segments with members"),
]


def _chart_svg(chart_id: str, data: ReportData) -> str | None:
    if chart_id == "events_per_day" and data.events_per_day:
        return svg.line_chart(data.events_per_day.x, data.events_per_day.series, "day", "records")
    if chart_id == "quarantine_reasons" and data.quarantine_reasons:
        return svg.bar_chart(data.quarantine_reasons.labels, data.quarantine_reasons.values,
                             "records quarantined", color=svg.PALETTE[5])
    if chart_id == "cluster_sizes" and data.cluster_sizes:
        return svg.column_chart(data.cluster_sizes.labels, data.cluster_sizes.values,
                                "records per customer", "customers")
    if chart_id == "match_probabilities" and data.match_probabilities:
        return svg.column_chart(data.match_probabilities.labels, data.match_probabilities.values,
                                "match probability (bin start)", "links", color=svg.PALETTE[2])
    if chart_id == "rejected_links" and data.rejected_links:
        return svg.bar_chart(data.rejected_links.labels, data.rejected_links.values, "links refused",
                             color=svg.PALETTE[1])
    if chart_id == "source_overlap" and data.source_overlap:
        return svg.bar_chart(data.source_overlap.labels, data.source_overlap.values, "customers",
                             color=svg.PALETTE[3])
    if chart_id == "segment_sizes":
        if data.segment_sizes:
            return svg.line_chart(data.segment_sizes.x, data.segment_sizes.series, "segment run", "members")
        if data.segment_current:
            return svg.bar_chart(data.segment_current.labels, data.segment_current.values, "members")
    return None


def _figures_html(data: ReportData) -> str:
    cards = []
    for key, label in HEADLINE:
        value = data.headline.get(key)
        if value is None:
            continue
        cards.append(f'<div class="figure" data-figure="{key}"><div class="value">{svg.fmt(value)}</div>'
                     f'<div class="label">{escape(label)}</div></div>')
    if data.evaluation and data.evaluation.get("f1") is not None:
        ev = data.evaluation
        detail = ", ".join(f"{k} {ev[k]:.3f}" for k in ("precision", "recall") if ev.get(k) is not None)
        cards.append(f'<div class="figure" data-figure="f1"><div class="value">{ev["f1"]:.3f}</div>'
                     f'<div class="label">identity F1 vs truth ({escape(detail)})</div></div>')
    return "\n".join(cards) or '<p class="no-data">No figures yet: run <code>cdp ingest</code> first.</p>'


def _loads_html(data: ReportData) -> str:
    if not data.loads:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("source", "stream", "loads", "read", "loaded",
                                             "quarantined", "duplicate"))
    rows = "".join(
        "<tr>" + "".join(
            f"<td>{escape(str(row[k]))}</td>" if k in ("source", "stream") else f"<td>{svg.fmt(row[k] or 0)}</td>"
            for k in ("source", "stream", "loads", "read", "loaded", "quarantined", "duplicate")
        ) + "</tr>"
        for row in data.loads)
    return ('<section class="table" id="loads"><h2>Loads per stream</h2><p class="explain">Every record '
            "read is loaded, quarantined or counted as a duplicate: read = loaded + quarantined + "
            f"duplicate.</p><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>")


def render_html(data: ReportData, source: str, notice: str = "") -> str:
    sections = [_loads_html(data)]
    for chart_id, title, explain, command in CHARTS:
        drawn = _chart_svg(chart_id, data)
        body = drawn or (f'<p class="no-data" data-empty="true">No data yet: run <code>{escape(command)}'
                         f"</code> to fill this chart.</p>")
        sections.append(f'<section class="chart" id="{chart_id}" data-chart="{chart_id}">'
                        f"<h2>{escape(title)}</h2><p class=\"explain\">{escape(explain)}</p>{body}</section>")
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        source=escape(source),
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        notice=f'<p class="no-data">{escape(notice)}</p>' if notice else "",
        figures=_figures_html(data),
        sections="\n".join(s for s in sections if s),
    )


@dataclass
class ReportResult:
    path: Path
    source: Path  # the database file read
    charts_drawn: int
    charts_empty: list[str]


def _open_for_reading(home: Path) -> tuple[duckdb.DuckDBPyConnection, Path, str]:
    """The main warehouse read-only; if a run holds it, the latest published snapshot instead."""
    layout = HomeLayout(home)
    if not layout.database.exists():
        raise FileNotFoundError(f"no warehouse at {layout.database}: run `cdp ingest --home {home}` first")
    try:
        return connect(layout.database, read_only=True), layout.database, ""
    except duckdb.IOException as exc:
        latest = layout.snapshots / "latest.duckdb"
        if "lock" not in str(exc).lower() or not latest.exists():
            raise
        return (connect(latest, read_only=True), latest,
                "A pipeline run is writing the warehouse: this report shows the latest published snapshot.")


def build_report(home: str | Path, out: str | Path | None = None) -> ReportResult:
    """Write the HTML report of a home folder (default HOME/reports/report.html)."""
    home = Path(home)
    con, source, notice = _open_for_reading(home)
    try:
        data = collect(con)
    finally:
        con.close()
    html = render_html(data, str(source), notice)
    path = Path(out) if out else HomeLayout(home).reports / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(html, encoding="utf-8")
    temp.replace(path)
    empty = [chart_id for chart_id, *_ in CHARTS if _chart_svg(chart_id, data) is None]
    return ReportResult(path, source, len(CHARTS) - len(empty), empty)


__all__ = ["build_report", "render_html", "collect", "ReportData", "ReportResult", "CHARTS"]
