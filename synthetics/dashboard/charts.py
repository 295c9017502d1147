"""Trend charts as inline SVG (pygal): a metric over time with the runbook's threshold lines.

pygal draws SVG in pure Python; with `js=[]` the SVG references no script (pygal's tooltips
would load from a CDN) and the inline config script it still writes is removed, so the page
renders offline, runs nothing, and works in any browser. Each chart is embedded
in the HTML as markup, not as an image file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pygal
from pygal.style import Style

#: Line colours: the metric, then critical, warning, info threshold lines.
METRIC_COLOUR = "#2563eb"
LEVEL_COLOURS = {
    "critical": "#dc2626",
    "warning": "#d97706",
    "info": "#0891b2",
    "target": "#16a34a",
}


@dataclass(frozen=True)
class Line:
    """A horizontal threshold line."""

    label: str
    value: float
    level: str  # critical | warning | info | target


def trend_svg(
    title: str,
    values: Sequence[tuple[datetime, float | None]],
    lines: Sequence[Line],
    *,
    unit: str,
    start: datetime,
    end: datetime,
) -> str:
    """An SVG line chart of `values` (None leaves a gap) with threshold `lines`."""
    colours = (METRIC_COLOUR, *(LEVEL_COLOURS[line.level] for line in lines))
    style = Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1f2937",
        foreground_strong="#111827",
        foreground_subtle="#e5e7eb",
        colors=colours,
        font_family="system-ui, sans-serif",
        title_font_size=15,
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=11,
    )
    top = max([v for _, v in values if v is not None] + [line.value for line in lines] + [1.0])
    chart = pygal.DateTimeLine(
        title=title,
        width=820,
        height=280,
        js=[],
        disable_xml_declaration=True,
        explicit_size=False,
        style=style,
        allow_interruptions=True,
        show_dots=len(values) <= 60,
        dots_size=2.5,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(4, 1 + len(lines)),
        truncate_legend=-1,
        truncate_label=-1,
        x_label_rotation=0,
        x_labels_major_count=6,
        show_minor_x_labels=False,
        range=(0, 100) if unit == "%" else (0, top * 1.15),
        x_value_formatter=lambda moment: moment.strftime("%d %b %H:%M"),
        value_formatter=(lambda v: f"{v:.0f} %") if unit == "%" else (lambda v: f"{v:.0f} {unit}"),
        no_data_text="no data",
    )
    scale = 100.0 if unit == "%" else 1.0
    points = [(at, None if v is None else v * scale) for at, v in values]
    chart.add(title, points or [(start, None), (end, None)], stroke_style={"width": 2.5})
    for line in lines:
        chart.add(
            line.label,
            [(start, line.value * scale), (end, line.value * scale)],
            show_dots=False,
            stroke_style={"width": 1.5, "dasharray": "6, 4"},
        )
    return _without_scripts(chart)


def _without_scripts(chart: pygal.DateTimeLine) -> str:
    """The chart's SVG markup without the inline <script> pygal always adds (its tooltip config):
    the page runs no script at all."""
    from pygal.etree import etree

    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.endswith("script"):
                parent.remove(child)
    return str(etree.tostring(tree, encoding="unicode"))
