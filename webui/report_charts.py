"""The report page's charts as server-side SVG, drawn by our own code (no chart library, no JavaScript): a line chart
for trends per month and a bar chart per unit. Each chart has a <title> and <desc> for screen readers and the page
shows its table beneath it, so nothing is only in the picture."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

from markupsafe import Markup, escape

from webui.i18n import decimal_text, gettext, grouped_text

WIDTH = 720
HEIGHT = 260
LEFT = 56
RIGHT = 16
TOP = 16
BOTTOM = 48
COLOURS = ("#1f5f99", "#b35900", "#2e7d32", "#7b1fa2", "#c62828")


def number_text(value: float, unit: str) -> str:
    """A value as the reader's language writes it: 12,5 · 83 % · 1 200 kr in Swedish, 12.5 · 83 % · 1,200 kr in
    English (the charts' tick labels, the report's tables)."""
    if unit == "share":
        return f"{value * 100:.0f} %"
    if unit == "kronor":
        return f"{grouped_text(value)} kr"
    if float(value).is_integer():
        return grouped_text(value)
    return decimal_text(value)


def _scale_top(values: Sequence[float], unit: str) -> tuple[float, int]:
    """The top of the value axis and how many intervals to divide it into, so that ticks are round numbers."""
    if unit == "share":
        return 1.0, 4
    peak = max([0.0, *values])
    if peak <= 0:
        return 1.0, 4
    magnitude = 10.0 ** math.floor(math.log10(peak))
    for step, intervals in ((1, 4), (2, 4), (4, 4), (5, 5), (10, 5)):
        if step * magnitude >= peak:
            return step * magnitude, intervals
    return 10 * magnitude, 5


def _frame(title: str, description: str, body: list[str], height: int = HEIGHT) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="{{id}}-t {{id}}-d"><title id="{{id}}-t">{escape(title)}</title>'
        f'<desc id="{{id}}-d">{escape(description)}</desc>'
    )
    ident = f"c{zlib.crc32(title.encode()):08x}"
    return Markup(head.replace("{id}", ident) + "".join(body) + "</svg>")


def _axes(scale: tuple[float, int], unit: str, labels: Sequence[str]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top, intervals = scale
    parts = []
    for tick in (top * i / intervals for i in range(intervals + 1)):
        y = TOP + plot_h - tick / top * plot_h
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(number_text(tick, unit))}</text>"
        )
    n = max(1, len(labels))
    every = max(1, (n + 11) // 12)  # at most about twelve labels under the axis
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + (i + 0.5) * plot_w / n
        parts.append(
            f'<text class="label" x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    return parts


def _polyline(colour: str, points: list[str]) -> str:
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>'


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], unit: str
) -> Markup:
    """One line per series over the labels (months); None is a gap (no cases, or a group too small to show)."""
    title = gettext(title)  # the page's own titles and the figures' are in the catalogue; data stays as it is
    series = [(gettext(name), points) for name, points in series]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for _, vs in series for v in vs if v is not None]
    scale = _scale_top(values, unit)
    top = scale[0]
    parts = _axes(scale, unit, labels)
    n = max(1, len(labels))
    for index, (name, points) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        path: list[str] = []
        for i, value in enumerate(points):
            if value is None:
                if path:
                    parts.append(_polyline(colour, path))
                path = []
                continue
            x = LEFT + (i + 0.5) * plot_w / n
            y = TOP + plot_h - min(value, top) / top * plot_h
            path.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(number_text(value, unit))}</title></circle>"
            )
        if path:
            parts.append(_polyline(colour, path))
    legend, height = _legend([name for name, _ in series])
    parts.extend(legend)
    names = ", ".join(name for name, _ in series)
    description = gettext(
        "Linjediagram över %(n)s perioder: %(names)s. Samma siffror finns i tabellen under diagrammet.",
        n=len(labels),
        names=names,
    )
    return _frame(title, description, parts, height)


LEGEND_ROW = 16
CHAR_WIDTH = 6.5  # the legend's 12 px text, a generous average per character


def _legend(names: Sequence[str]) -> tuple[list[str], int]:
    """The series' names under the axis, wrapped onto more rows (and a taller chart) when they do not fit one, so
    that no name runs out of the picture or over another."""
    parts: list[str] = []
    x, row = float(LEFT), 0
    for index, name in enumerate(names):
        width = 24 + CHAR_WIDTH * len(name)
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, row = float(LEFT), row + 1
        y = HEIGHT - 10 + row * LEGEND_ROW
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text class="legend" x="{x + 14:.0f}" y="{y}">{escape(name)}</text>')
        x += width
    return parts, HEIGHT + row * LEGEND_ROW


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str) -> Markup:
    """One bar per label (kommun); None draws no bar (a group too small to show)."""
    title = gettext(title)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    scale = _scale_top([v for v in values if v is not None], unit)
    top = scale[0]
    parts = _axes(scale, unit, labels)
    n = max(1, len(labels))
    width = plot_w / n * 0.6
    for i, value in enumerate(values):
        if value is None:
            continue
        height = min(value, top) / top * plot_h
        x = LEFT + (i + 0.5) * plot_w / n - width / 2
        y = TOP + plot_h - height
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{COLOURS[0]}">'
            f"<title>{escape(labels[i])}: {escape(number_text(value, unit))}</title></rect>"
        )
        parts.append(
            f'<text class="value" x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
            f"{escape(number_text(value, unit))}</text>"
        )
    description = gettext(
        "Stapeldiagram med %(n)s staplar. Samma siffror finns i tabellen under diagrammet.", n=len(labels)
    )
    return _frame(title, description, parts)
