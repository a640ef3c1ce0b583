"""Small inline-SVG charts: no JavaScript, no network, readable in any browser and in print.

Each function returns one `<svg>` element with a title, axis labels and a `<title>` tooltip on
every mark. Marks are `rect` (bars) and `path` (lines) elements, so a test can count what was drawn.
"""
from __future__ import annotations

import math
from html import escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

WIDTH = 760
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def fmt(value: float) -> str:
    """A figure as people read it: thousands separated, decimals only when they matter."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def nice_ticks(max_value: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `max_value` (1, 2, 2.5, 5 x 10^k steps)."""
    if max_value <= 0:
        return [0, 1]
    raw = max_value / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1 and max_value >= 1 and float(max_value).is_integer():
        step = 1
    ticks = [0.0]
    while ticks[-1] < max_value:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 12, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="#333" {extra}>{escape(text)}</text>')


def _open(height: int, label: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
            f'role="img" aria-label="{escape(label)}" style="{FONT};max-width:{WIDTH}px">']


def _legend(names: list[str], y: float, left: float) -> list[str]:
    parts, x = [], left
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect class="legend" x="{x:.1f}" y="{y - 9:.1f}" width="12" height="12" fill="{color}"/>')
        parts.append(_text(x + 16, y + 1, name, anchor="start"))
        x += 28 + 7.5 * len(name)
    return parts


def _y_axis(ticks: list[float], top: float, bottom: float, left: float, right: float, label: str) -> list[str]:
    parts = []
    span = ticks[-1] or 1
    for tick in ticks:
        y = bottom - (bottom - top) * tick / span
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(_text(left - 6, y + 4, fmt(tick), anchor="end", size=11))
    mid = (top + bottom) / 2
    parts.append(_text(16, mid, label, extra=f'transform="rotate(-90 16 {mid:.1f})"'))
    return parts


def _x_labels(labels: list[str], xs: list[float], y: float, max_labels: int = 12) -> list[str]:
    # As many labels as fit side by side at ~6.5 px per character, never more than max_labels.
    if len(xs) > 1:
        room = (xs[-1] - xs[0]) * len(xs) / (len(xs) - 1)
        longest = max(len(label) for label in labels)
        max_labels = max(1, min(max_labels, int(room // (longest * 6.5 + 8))))
    every = max(1, math.ceil(len(labels) / max_labels))
    parts = []
    for i, (label, x) in enumerate(zip(labels, xs)):
        if i % every == 0:
            parts.append(_text(x, y, label, size=11))
    return parts


def column_chart(labels: list[str], values: list[float], x_label: str, y_label: str,
                 color: str = PALETTE[0], height: int = 320) -> str:
    """Vertical bars over ordered categories (histograms, runs)."""
    top, bottom, left, right = 16, height - 48, 70, WIDTH - 52
    ticks = nice_ticks(max(values, default=0))
    parts = _open(height, f"{y_label} by {x_label}")
    parts += _y_axis(ticks, top, bottom, left, right, y_label)
    slot = (right - left) / max(len(values), 1)
    bar = max(slot * 0.8, 1)
    xs = []
    for i, (label, value) in enumerate(zip(labels, values)):
        h = (bottom - top) * value / (ticks[-1] or 1)
        x = left + i * slot + (slot - bar) / 2
        xs.append(x + bar / 2)
        parts.append(f'<rect class="mark" x="{x:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" '
                     f'height="{max(h, 0):.1f}" fill="{color}"><title>{escape(label)}: {fmt(value)}</title></rect>')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#999"/>')
    parts += _x_labels(labels, xs, bottom + 16)
    parts.append(_text((left + right) / 2, height - 8, x_label))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(labels: list[str], values: list[float], x_label: str, color: str = PALETTE[0]) -> str:
    """Horizontal bars for named categories (reasons, source combinations), largest first."""
    label_width = min(max((len(label) for label in labels), default=4) * 7 + 12, 340)
    row = 24
    top, left, right = 10, label_width, WIDTH - 70
    height = top + row * len(values) + 44
    bottom = top + row * len(values)
    ticks = nice_ticks(max(values, default=0))
    span = ticks[-1] or 1
    parts = _open(height, f"{x_label} per category")
    for tick in ticks:
        x = left + (right - left) * tick / span
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="#e5e5e5"/>')
        parts.append(_text(x, bottom + 15, fmt(tick), size=11))
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + i * row + 3
        w = (right - left) * value / span
        parts.append(_text(left - 8, y + 13, label, anchor="end"))
        parts.append(f'<rect class="mark" x="{left}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{row - 6}" '
                     f'fill="{color}"><title>{escape(label)}: {fmt(value)}</title></rect>')
        parts.append(_text(left + w + 4, y + 13, fmt(value), anchor="start", size=11))
    parts.append(_text((left + right) / 2, height - 6, x_label))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(x_labels: list[str], series: dict[str, list[float]], x_label: str, y_label: str,
               height: int = 340) -> str:
    """One line per series over ordered x categories (days, runs), with a legend."""
    top, bottom, left, right = 34, height - 48, 70, WIDTH - 52
    peak = max((v for values in series.values() for v in values), default=0)
    ticks = nice_ticks(peak)
    span = ticks[-1] or 1
    parts = _open(height, f"{y_label} by {x_label}")
    parts += _legend(list(series), 16, left)
    parts += _y_axis(ticks, top, bottom, left, right, y_label)
    n = len(x_labels)
    step = (right - left) / max(n - 1, 1)
    xs = [left + i * step if n > 1 else (left + right) / 2 for i in range(n)]
    for s, (name, values) in enumerate(series.items()):
        color = PALETTE[s % len(PALETTE)]
        points = [(x, bottom - (bottom - top) * v / span) for x, v in zip(xs, values)]
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
        total = sum(values)
        parts.append(f'<path class="mark" d="{d}" fill="none" stroke="{color}" stroke-width="2">'
                     f'<title>{escape(name)}: {fmt(total)} in total</title></path>')
        if n <= 40:  # dots with exact values when they can be told apart
            for (x, y), label, v in zip(points, x_labels, values):
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                             f'<title>{escape(name)}, {escape(label)}: {fmt(v)}</title></circle>')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#999"/>')
    parts += _x_labels(x_labels, xs, bottom + 16, max_labels=10)
    parts.append(_text((left + right) / 2, height - 8, x_label))
    parts.append("</svg>")
    return "".join(parts)
