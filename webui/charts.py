"""Charts as server-side SVG (no chart library): grouped bars per week, readable in print and without JavaScript.

Each chart has a title and a description for screen readers (role="img", <title>, <desc>) and a data table beside
it on the page, so nothing is only in the picture."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 220
LEFT = 44
BOTTOM = 36
TOP = 14
RIGHT = 8


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{round(value * 100)} %"
    return f"{value:g}".replace(".", ",")


def grouped_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    percent: bool = False,
) -> Markup:
    """Bars per label (week) for each series (name, css class, values); None is a gap (no cases to count)."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = 1.0 if percent else max([1.0, *values])
    if not percent:
        step = 10 ** max(0, len(str(int(top))) - 1)
        top = float(((int(top) + step - 1) // step) * step) or 1.0
    n = max(1, len(labels))
    slot = plot_w / n
    bar = max(1.0, (slot * 0.8) / max(1, len(series)))
    parts: list[str] = []

    def spoken(v: float | None) -> str:
        return _fmt(v, percent) if v is not None else "–"

    described = "; ".join(
        f"{name}: " + ", ".join(f"{label} {spoken(v)}" for label, v in zip(labels, vs, strict=False))
        for name, _, vs in series
    )
    parts.append(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title><desc>{escape(described)}</desc>"
    )
    for i in range(5):  # grid and y axis labels
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value, percent)}</text>'
        )
    for index, label in enumerate(labels):
        x0 = LEFT + slot * index + slot * 0.1
        for s, (name, css, vs) in enumerate(series):
            v = vs[index] if index < len(vs) else None
            if v is None:
                continue
            h = plot_h * (v / top) if top else 0
            x = x0 + bar * s
            parts.append(
                f'<rect class="{escape(css)}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}"><title>{escape(name)} {escape(label)}: {_fmt(v, percent)}</title></rect>'
            )
        if n <= 16 or index % max(1, n // 12) == 0:
            parts.append(
                f'<text class="axis" x="{LEFT + slot * index + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle">{escape(label[-3:] if len(label) > 3 else label)}</text>'
            )
    for s, (name, css, _) in enumerate(series):  # legend
        x = LEFT + s * 220
        parts.append(f'<rect class="{escape(css)}" x="{x}" y="{HEIGHT - 14}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
