"""The run report: one self-contained HTML file with the figures a person wants after a run.

Charts are Vega-Lite specs (altair) rendered to static SVG offline by vl-convert and embedded
inline: no JavaScript, no network, so the file opens anywhere, can be mailed, and stays readable
in ten years. A chart whose table does not exist yet says so and names the command that fills it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from string import Template

import duckdb

from pipelines.report import charts
from pipelines.report.data import ReportData, collect
from warehouse.connection import connect
from warehouse.layout import HomeLayout

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).resolve().parent / "template.html"

# (chart id, title, explanation, command that produces its data)
CHARTS = [
    ("events_per_day", "Records per source per day",
     "How many events, profiles, leads and orders each source produced per day (valid records "
     "only). A sudden drop usually means a source stopped delivering.", "cdp ingest"),
    ("freshness", "Source freshness",
     "Hours since each source's latest event, and since the latest load that brought it rows. "
     "A source whose bars grow run after run has stopped sending.", "cdp ingest"),
    ("quarantine_reasons", "Why records were quarantined",
     "Records that failed validation are kept aside in raw.quarantine with a reason, never "
     "silently dropped (`cdp quarantine list`, fix, `cdp quarantine replay`). Each bar counts one "
     "reason and source.", "cdp ingest"),
    ("cluster_sizes", "How many records make one customer",
     "Customers by the number of source records resolved into them. Most people leave a few "
     "to a few dozen traces (page views included); a very long tail can mean over-merging.",
     "cdp resolve"),
    ("match_weights", "Match weights of scored pairs",
     "Fellegi-Sunter match weight of candidate pairs: the prior plus each field's evidence, in bits "
     "(log2 of the odds). Pairs right of the dashed threshold are linked, unless a guard refuses "
     "them. Two humps well apart mean the model separates matches from non-matches.", "cdp resolve"),
    ("m_u", "What each comparison level says (m and u)",
     "m: how often the level occurs among true matches; u: among random pairs. A level whose m is "
     "far above its u is strong evidence (weight log2(m/u) in the tooltip).", "cdp resolve"),
    ("rejected_links", "Links refused by merge protection",
     "Identifier links that were NOT used, by reason: placeholder values such as test@test.com, "
     "a device shared by two account holders, more identifiers of one kind than a person has. "
     "They keep different people from being merged into one customer.", "cdp resolve"),
    ("source_overlap", "Where customers were seen",
     "Customers by the combination of sources they appear in: how much web, app, social and "
     "store data overlap once identities are resolved.", "cdp resolve"),
    ("customers_over_runs", "Customers and quality over runs",
     "Customers after each resolve run and, when a ground truth was given (`cdp run --truth`, "
     "`cdp demo`), pairwise precision, recall and F1 of each evaluation.", "cdp resolve"),
    ("step_times", "Resolve step times over runs",
     "Seconds per identity step in each resolve run: where a slow run spent its time.", "cdp resolve"),
    ("consent", "Consent coverage",
     "Share of customers who granted, refused or never stated consent, per purpose. Marketing "
     "exports and syncs only receive those who granted it.", "cdp sync"),
    ("sync_status", "CRM sync status",
     "What each target received in its latest sync run (new, updated, deleted) and what failed "
     "(failed rows are retried by the next sync); the target's status is in brackets.", "cdp sync"),
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


def _figures_html(data: ReportData) -> str:
    cards = []
    for key, label in HEADLINE:
        value = data.headline.get(key)
        if value is None:
            continue
        cards.append(f'<div class="figure" data-figure="{key}"><div class="value">{fmt(value)}</div>'
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
            f"<td>{escape(str(row[k]))}</td>" if k in ("source", "stream") else f"<td>{fmt(row[k] or 0)}</td>"
            for k in ("source", "stream", "loads", "read", "loaded", "quarantined", "duplicate")
        ) + "</tr>"
        for row in data.loads)
    return ('<section class="table" id="loads"><h2>Loads per stream</h2><p class="explain">Every record '
            "read is loaded, quarantined or counted as a duplicate: read = loaded + quarantined + "
            f"duplicate.</p><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>")


def fmt(value: float) -> str:
    """A figure as people read it: thousands separated, decimals only when they matter."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _syncs_html(data: ReportData) -> str:
    if not data.syncs:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("target", "kind", "status", "latest run", "new", "updated",
                                             "deleted", "failed", "runs"))
    rows = "".join(
        f"<tr><td>{escape(str(r['target']))}</td><td>{escape(str(r['kind']))}</td><td>{escape(str(r['status']))}</td>"
        f"<td>{escape(str(r['finished_at'])[:19])}</td>"
        + "".join(f"<td>{fmt(r[k] or 0)}</td>" for k in ("new", "updated", "deleted", "failed", "runs")) + "</tr>"
        for r in data.syncs)
    return (f'<table class="detail"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')


def _drawn(data: ReportData) -> dict[str, str | None]:
    """Each chart's SVG (None: no data yet). A chart that fails to draw is logged, never fatal."""
    out: dict[str, str | None] = {}
    for chart_id, *_ in CHARTS:
        try:
            out[chart_id] = charts.render(chart_id, data)
        except Exception as exc:  # a broken chart must not cost the whole report
            log.warning("chart %s could not be drawn: %s: %s", chart_id, type(exc).__name__, exc)
            out[chart_id] = None
    return out


def render_html(data: ReportData, source: str, notice: str = "", drawn: dict[str, str | None] | None = None) -> str:
    drawn_all = drawn if drawn is not None else _drawn(data)
    sections = [_loads_html(data)]
    for chart_id, title, explain, command in CHARTS:
        drawn = drawn_all.get(chart_id)
        if drawn and chart_id == "sync_status":
            drawn += _syncs_html(data)
        if drawn and chart_id == "match_weights" and data.match_weights:
            drawn += f'<p class="explain">Shown: {escape(data.match_weights["scope"])}.</p>'
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
    except (duckdb.IOException, RuntimeError) as exc:  # RuntimeError: warehouse.connection's busy error
        latest = layout.snapshots / "latest.duckdb"
        busy = type(exc).__name__ == "WarehouseBusyError" or "lock" in str(exc).lower()
        if not busy or not latest.exists():
            raise
        return (connect(latest, read_only=True), latest,
                "A pipeline run is writing the warehouse: this report shows the latest published snapshot.")


def _threshold() -> float | None:
    """The configured match threshold (a probability), drawn on the match-weight chart."""
    try:
        from config.identity import load_identity_settings

        return load_identity_settings().match.threshold
    except Exception:  # no identity config, or an invalid one (`cdp config check` reports it)
        return None


def build_report(home: str | Path, out: str | Path | None = None) -> ReportResult:
    """Write the HTML report of a home folder (default HOME/reports/report.html)."""
    home = Path(home)
    con, source, notice = _open_for_reading(home)
    try:
        data = collect(con, threshold_probability=_threshold())
    finally:
        con.close()
    drawn = _drawn(data)
    html = render_html(data, str(source), notice, drawn)
    path = Path(out) if out else HomeLayout(home).reports / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(html, encoding="utf-8")
    temp.replace(path)
    empty = [chart_id for chart_id, *_ in CHARTS if drawn.get(chart_id) is None]
    return ReportResult(path, source, len(CHARTS) - len(empty), empty)


__all__ = ["build_report", "render_html", "collect", "ReportData", "ReportResult", "CHARTS"]
