"""The report's charts: Vega-Lite specs built with altair, rendered to static SVG by vl-convert.

Rendering happens here, offline, once: the HTML file gets plain inline SVG (no JavaScript, no
network, nothing to load), readable in any browser and in print. Legends sit under the chart and
wrap into columns, so every series is named however many there are.
"""
from __future__ import annotations

import re
from typing import Any

import altair as alt

from pipelines.report.data import ReportData

WIDTH = 680
HEIGHT = 220
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#999999", "#882255"]
# Text is measured by vl-convert and drawn by the browser: one wide, common font for both, so labels
# measured at render time fit when shown (DejaVu Sans is what Debian's browsers fall back to).
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
_fonts_registered = False


def _config(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (chart.configure(font=FONT, background="white", padding={"left": 12, "right": 12, "top": 6, "bottom": 6})
            .configure_axis(labelFontSize=11, titleFontSize=12, labelLimit=300, grid=True, gridColor="#eee")
            .configure_legend(orient="bottom", columns=3, labelLimit=300, symbolLimit=0, titleFontSize=12,
                              labelFontSize=11, direction="horizontal", columnPadding=24)
            .configure_view(stroke=None)
            .configure_range(category=PALETTE))


def _plain(value: Any) -> Any:
    """JSON-ready values for the spec (DuckDB hands back Decimal and datetime)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _data(rows: list[dict]) -> alt.Data:
    return alt.Data(values=[{k: _plain(v) for k, v in row.items()} for row in rows])


def _bars(labels: list[str], values: list[float], x_title: str, color: str = PALETTE[0]) -> alt.Chart:
    rows = [{"label": l, "value": v} for l, v in zip(labels, values)]
    height = max(60, 22 * len(rows))
    return alt.Chart(_data(rows)).mark_bar(color=color).encode(
        y=alt.Y("label:N", sort=None, title=None),
        x=alt.X("value:Q", title=x_title),
        tooltip=["label:N", alt.Tooltip("value:Q", format=",")],
    ).properties(width=WIDTH - 200, height=height)


def _columns(labels: list[str], values: list[float], x_title: str, y_title: str, color: str = PALETTE[0]) -> alt.Chart:
    rows = [{"label": l, "value": v} for l, v in zip(labels, values)]
    return alt.Chart(_data(rows)).mark_bar(color=color).encode(
        x=alt.X("label:N", sort=None, title=x_title, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=y_title),
        tooltip=["label:N", alt.Tooltip("value:Q", format=",")],
    ).properties(width=WIDTH, height=HEIGHT)


def _lines(x: list[str], series: dict[str, list[float]], x_title: str, y_title: str, legend: str,
           ordinal: bool = False) -> alt.Chart:
    rows = [{"x": x[i], "series": name, "value": values[i]} for name, values in series.items()
            for i in range(len(x))]
    x_type = "x:O" if ordinal else "x:T"
    return alt.Chart(_data(rows)).mark_line(point=len(x) <= 40).encode(
        x=alt.X(x_type, title=x_title, sort=None, axis=alt.Axis(labelAngle=-30 if ordinal else 0)),
        y=alt.Y("value:Q", title=y_title),
        color=alt.Color("series:N", title=legend, sort=sorted(series)),
        tooltip=[x_type, "series:N", alt.Tooltip("value:Q", format=",")],
    ).properties(width=WIDTH, height=HEIGHT)


def events_per_day(data: ReportData):
    if data.events_per_day:
        return _lines(data.events_per_day.x, data.events_per_day.series, "day", "records", "source")


def freshness(data: ReportData):
    if not data.freshness:
        return None
    rows = []
    for r in data.freshness:
        for key, label in (("last_event_hours", "latest event"), ("last_data_load_hours", "latest load with rows")):
            if r.get(key) is not None:
                rows.append({"source": r["source"], "what": label, "hours": r[key]})
    if not rows:
        return None
    return alt.Chart(_data(rows)).mark_bar().encode(
        y=alt.Y("source:N", title=None), yOffset="what:N",
        x=alt.X("hours:Q", title="hours ago (less is fresher)"),
        color=alt.Color("what:N", title=None),
        tooltip=["source:N", "what:N", alt.Tooltip("hours:Q", format=",.1f")],
    ).properties(width=WIDTH - 160, height=max(80, 40 * len(data.freshness)))


def quarantine_reasons(data: ReportData):
    if data.quarantine_reasons:
        return _bars(data.quarantine_reasons.labels, data.quarantine_reasons.values, "records quarantined", PALETTE[5])


def cluster_sizes(data: ReportData):
    if data.cluster_sizes:
        return _columns(data.cluster_sizes.labels, data.cluster_sizes.values, "records per customer", "customers")


def match_weights(data: ReportData):
    mw = data.match_weights
    if not mw or not mw["bins"]:
        return None
    rows = [{"low": lo, "high": hi, "pairs": n} for lo, hi, n in mw["bins"]]
    bars = alt.Chart(_data(rows)).mark_bar(color=PALETTE[2], stroke="white", strokeWidth=0.5).encode(
        x=alt.X("low:Q", title="match weight (bits: log2 of the odds that two records are one person)"),
        x2="high:Q",
        y=alt.Y("pairs:Q", title="pairs (symmetric log scale)", scale=alt.Scale(type="symlog")),
        y2=alt.datum(0),
        tooltip=[alt.Tooltip("low:Q", title="from"), alt.Tooltip("high:Q", title="to"),
                 alt.Tooltip("pairs:Q", format=",")],
    )
    layers = [bars]
    if mw.get("threshold") is not None:
        rule_rows = [{"t": mw["threshold"], "label": f"threshold {mw['threshold']:.1f}"}]
        rule = alt.Chart(_data(rule_rows)).mark_rule(color=PALETTE[5], strokeWidth=2, strokeDash=[6, 3]).encode(x="t:Q")
        text = alt.Chart(_data(rule_rows)).mark_text(align="left", dx=4, dy=-4, color=PALETTE[5], fontSize=11).encode(
            x="t:Q", y=alt.value(8), text="label:N")
        layers += [rule, text]
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)


def m_u(data: ReportData):
    if not data.m_u:
        return None
    rows = []
    for r in data.m_u:
        level = f"{r['comparison']}: {r['level_name']}"
        rows.append({"level": level, "probability": "m (among matches)", "value": r["m"], "weight": r["weight"]})
        rows.append({"level": level, "probability": "u (among non-matches)", "value": r["u"], "weight": r["weight"]})
    order = [f"{r['comparison']}: {r['level_name']}" for r in data.m_u]
    return alt.Chart(_data(rows)).mark_bar().encode(
        y=alt.Y("level:N", sort=order, title=None),
        yOffset="probability:N",
        x=alt.X("value:Q", title="probability of the level", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("probability:N", title=None),
        tooltip=["level:N", "probability:N", alt.Tooltip("value:Q", format=".4f"),
                 alt.Tooltip("weight:Q", title="weight log2(m/u)", format="+.2f")],
    ).properties(width=WIDTH - 260, height=26 * len(order))


def rejected_links(data: ReportData):
    if data.rejected_links:
        return _bars(data.rejected_links.labels, data.rejected_links.values, "links refused", PALETTE[1])


def source_overlap(data: ReportData):
    if data.source_overlap:
        return _bars(data.source_overlap.labels, data.source_overlap.values, "customers", PALETTE[3])


def customers_over_runs(data: ReportData):
    runs = data.runs
    if not runs:
        return None
    rows = [{"run": r["label"], "customers": r["customers"]} for r in runs]
    customers = alt.Chart(_data(rows)).mark_line(point=True, color=PALETTE[0]).encode(
        x=alt.X("run:O", sort=None, title="resolve run", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("customers:Q", title="customers"),
        tooltip=["run:O", alt.Tooltip("customers:Q", format=",")],
    ).properties(width=WIDTH, height=160)
    if not data.evaluations:
        return customers
    quality = _lines([e["label"] for e in data.evaluations],
                     {k: [e.get(k) for e in data.evaluations] for k in ("precision", "recall", "f1")
                      if any(e.get(k) is not None for e in data.evaluations)},
                     "evaluation against truth", "score", "against the truth", ordinal=True).properties(height=140)
    return alt.vconcat(customers, quality).resolve_scale(color="independent")


def step_times(data: ReportData):
    runs = [r for r in (data.runs or []) if r["step_seconds"]]
    if not runs:
        return None
    rows = [{"run": r["label"], "step": step, "seconds": seconds} for r in runs
            for step, seconds in r["step_seconds"].items()]
    steps = list(dict.fromkeys(step for r in runs for step in r["step_seconds"]))
    return alt.Chart(_data(rows)).mark_bar().encode(
        x=alt.X("run:O", sort=None, title="resolve run", axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("seconds:Q", title="seconds", stack="zero"),
        color=alt.Color("step:N", sort=steps, title="step"),
        order=alt.Order("order:Q"),
        tooltip=["run:O", "step:N", alt.Tooltip("seconds:Q", format=".2f")],
    ).transform_calculate(order=f"indexof({steps!r}, datum.step)").properties(width=WIDTH, height=HEIGHT)


def consent(data: ReportData):
    if not data.consent:
        return None
    rows = [{"purpose": r["purpose"], "state": state, "customers": r[key]} for r in data.consent
            for key, state in (("granted", "granted"), ("refused", "refused"), ("unknown", "never stated"))]
    return alt.Chart(_data(rows)).mark_bar().encode(
        y=alt.Y("purpose:N", title=None),
        x=alt.X("customers:Q", title="customers", stack="normalize", axis=alt.Axis(format="%")),
        color=alt.Color("state:N", title=None, sort=["granted", "refused", "never stated"],
                        scale=alt.Scale(domain=["granted", "refused", "never stated"],
                                        range=[PALETTE[2], PALETTE[5], "#bbbbbb"])),
        tooltip=["purpose:N", "state:N", alt.Tooltip("customers:Q", format=",")],
    ).properties(width=WIDTH - 120, height=max(60, 36 * len(data.consent)))


def sync_status(data: ReportData):
    if not data.syncs:
        return None
    rows = [{"target": f"{r['target']} ({r['status']})", "outcome": outcome, "customers": r[outcome] or 0}
            for r in data.syncs for outcome in ("new", "updated", "deleted", "failed")]
    return alt.Chart(_data(rows)).mark_bar().encode(
        y=alt.Y("target:N", title=None),
        x=alt.X("customers:Q", title="customers sent in the latest run"),
        color=alt.Color("outcome:N", title=None, sort=["new", "updated", "deleted", "failed"],
                        scale=alt.Scale(domain=["new", "updated", "deleted", "failed"],
                                        range=[PALETTE[0], PALETTE[4], PALETTE[7], PALETTE[5]])),
        tooltip=["target:N", "outcome:N", alt.Tooltip("customers:Q", format=",")],
    ).properties(width=WIDTH - 160, height=max(60, 36 * len(data.syncs)))


def segment_sizes(data: ReportData):
    if data.segment_sizes:
        return _lines(data.segment_sizes.x, data.segment_sizes.series, "segment run", "members", "segment",
                      ordinal=True)
    if data.segment_current:
        return _bars(data.segment_current.labels, data.segment_current.values, "members")
    return None


BUILDERS = {
    "events_per_day": events_per_day, "freshness": freshness, "quarantine_reasons": quarantine_reasons,
    "cluster_sizes": cluster_sizes, "match_weights": match_weights, "m_u": m_u,
    "rejected_links": rejected_links, "source_overlap": source_overlap,
    "customers_over_runs": customers_over_runs, "step_times": step_times, "consent": consent,
    "sync_status": sync_status, "segment_sizes": segment_sizes,
}

_ID = re.compile(r'\bid="([^"]+)"')


def to_svg(chart: Any, prefix: str) -> str:
    """Static SVG of a chart, its ids prefixed so several SVGs can share one document."""
    import os

    import vl_convert as vlc

    global _fonts_registered
    if not _fonts_registered:
        for folder in FONT_DIRS:
            if os.path.isdir(folder):
                vlc.register_font_directory(folder)
        _fonts_registered = True
    svg = vlc.vegalite_to_svg(_config(chart).to_dict())
    for old in set(_ID.findall(svg)):
        new = f"{prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f"url(#{old})", f"url(#{new})") \
                 .replace(f'href="#{old}"', f'href="#{new}"')
    # Scale with the page: keep the viewBox, let the width follow the section.
    svg = re.sub(r'^<svg ([^>]*?)width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)"',
                 lambda m: f'<svg {m.group(1)}width="100%" style="max-width:{m.group(2)}px" data-height="{m.group(3)}"',
                 svg, count=1)
    return svg


def render(chart_id: str, data: ReportData) -> str | None:
    chart = BUILDERS[chart_id](data)
    return to_svg(chart, chart_id) if chart is not None else None
