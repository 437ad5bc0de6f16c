"""The reports' server-side SVG charts (webui/report_charts.py): round ticks in Swedish number format, and a legend
that stays inside the picture however many series there are."""

from __future__ import annotations

import re

from webui.report_charts import CHAR_WIDTH, HEIGHT, RIGHT, WIDTH, bar_chart, line_chart, number_text


def ticks(svg: str) -> list[str]:
    return re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg)


def test_ticks_are_round_numbers_with_a_decimal_comma():
    assert ticks(line_chart("Dagar", ["2026-01", "2026-02"], [("Medel", [1.3, 1.9])], "mean_days")) == [
        "0", "0,5", "1", "1,5", "2",
    ]  # fmt: skip
    assert ticks(bar_chart("Antal", ["Eksjö", "Nässjö"], [37, 12], "count")) == ["0", "10", "20", "30", "40"]
    assert ticks(line_chart("Andel", ["2026-01"], [("I tid", [0.83])], "share")) == [
        "0 %",
        "25 %",
        "50 %",
        "75 %",
        "100 %",
    ]
    assert number_text(1200, "kronor") == "1\u00a0200 kr" and number_text(12.5, "mean_days") == "12,5"


def test_a_legend_too_long_for_one_row_wraps_and_the_chart_grows_to_hold_it():
    names = [
        "Inskrivningsmeddelande inom 24 timmar",
        "Kallelse till SIP inom 3 dagar från UK",
        "Hem inom 24 timmar efter UK",
        "SVPL inom 3 dagar efter utskrivning",
        "Information överförd senast på utskrivningsdagen",
    ]
    svg = line_chart("Andelar i tid", ["2026-01", "2026-02"], [(n, [0.5, 0.75]) for n in names], "share")
    height = int(re.search(r'viewBox="0 0 \d+ (\d+)"', svg).group(1))  # type: ignore[union-attr]
    legend = re.findall(r'<text class="legend" x="(\d+)" y="(\d+)">([^<]*)</text>', svg)
    assert [name for _, _, name in legend] == names
    rows = sorted({int(y) for _, y, _ in legend})
    assert len(rows) > 1 and height > HEIGHT and max(rows) < height
    for x, _, name in legend:
        assert int(x) + CHAR_WIDTH * len(name) <= WIDTH - RIGHT, name
    one = line_chart("En serie", ["2026-01"], [("Medel", [2.0])], "mean_days")
    assert f'viewBox="0 0 {WIDTH} {HEIGHT}"' in one
