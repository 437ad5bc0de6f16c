# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)
"""Issue 6 end to end in Chromium: a manager opens the figures, sees the trend chart drawn (SVG with its lines and
points) and the table beneath it, switches to per kommun and downloads the Excel file. Saves
docs/screenshots/reports.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from engine.platform import Platform
from tests.e2e.conftest import serving
from tests.integration.test_figures import figures_platform  # noqa: F401
from tests.webui.test_reports import reports_app  # noqa: F401
from webui.demo import DEMO_PASSWORD


@pytest.fixture
def reports_server(reports_app: Flask) -> Iterator[str]:
    with serving(reports_app) as url:
        yield url


def test_a_manager_opens_the_report_and_sees_the_chart(page, reports_server, shots, figures_platform: Platform):  # type: ignore[no-untyped-def]
    page.goto(f"{reports_server}/logga-in")
    page.get_by_label("Användarnamn").fill("maja")
    page.get_by_label("Lösenord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Nyckeltal").click()
    page.wait_for_url(f"{reports_server}/rapporter")
    page.get_by_label("Från och med").fill("2026-01-01")
    page.get_by_label("Till och med").fill("2026-02-28")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url("**/rapporter?*")

    chart = page.get_by_role("img", name="Utskrivningsklara dagar per månad (medel)")
    chart.wait_for()
    assert chart.locator("polyline").count() == 1 and chart.locator("circle").count() == 2  # January, February
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100  # drawn, not an empty box
    assert page.get_by_role("img", name="Andel i tid per månad").locator("polyline").count() == 4
    assert page.get_by_role("heading", name="Hela urvalet: 32 ärenden").is_visible()
    table = page.get_by_role("table", name="Per månad (inskrivningsmånad)")
    assert "2026-01" in table.inner_text() and "16" in table.inner_text()
    page.evaluate("window.scrollBy(0, document.getElementById('h-summary').getBoundingClientRect().top - 8)")
    page.screenshot(path=str(shots("screenshots/reports.png")), full_page=False)

    page.get_by_label("Gruppera per").select_option("kommun")
    page.get_by_role("button", name="Visa").click()
    page.wait_for_url("**gruppering=kommun*")
    bars = page.get_by_role("img", name="Betalningsansvarsdagar per kommun")
    assert bars.locator("rect.bar").count() == 3  # Eksjö, Mölndal, Nässjö (Nässjö 1 day)
    assert "Alla nyckeltal per kommun" in page.locator("main").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Excel").click()
    assert download.value.suggested_filename == "nyckeltal-20260101-20260228-kommun.xlsx"
