"""Bar charts as server-rendered SVG: no JavaScript, no CDN, readable by a screen reader.

Each chart is labelled by its title and has a text alternative; the page shows the same
numbers as a table beside it (and a CSV export), so the chart is never the only way to read
them. Every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH = 640
BAR_HEIGHT = 28
GAP = 10
LABEL_WIDTH = 220
VALUE_WIDTH = 60


def bar_chart(chart_id: str, title: str, rows: Sequence[Sequence[Any]]) -> Markup:
    """A horizontal bar chart of (label, count) rows."""
    height = max(1, len(rows)) * (BAR_HEIGHT + GAP) + GAP
    biggest = max((int(r[1]) for r in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    summary = "; ".join(f"{r[0]}: {r[1]}" for r in rows) or "no data"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(summary)}</desc>',
    ]
    for i, (label, value, *_) in enumerate(rows):
        y = GAP + i * (BAR_HEIGHT + GAP)
        width = round(span * int(value) / biggest)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT * 0.68:.0f}" text-anchor="end" '
            f'class="chart-label">{escape(str(label))}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
            f'class="chart-bar"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + BAR_HEIGHT * 0.68:.0f}" '
            f'class="chart-value">{escape(str(value))}</text>')
    if not rows:
        parts.append(f'<text x="{GAP}" y="{BAR_HEIGHT}" class="chart-label">No data yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every interpolated value is escaped above
