"""/rapporter, its CSV and Excel exports and /api/v1/reports/...: who may see them, what they show for the hand-made
fixture of tests/integration/test_figures.py, and that small groups show no figures."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape

from engine.commands.accounts import Accounts
from engine.persistence.models import OrgUnit
from engine.platform import Platform
from engine.reads.figures import FIGURES
from tests.integration.test_figures import figures_platform, load  # noqa: F401 - the fixture is used by name
from tests.webui.staff import FAST_HASHER, sign_in
from webui import create_app
from webui.demo import DEMO_PASSWORD

USERS = {
    "maja": ["manager"],
    "cora": ["coordinator"],
    "agnes": ["process_owner"],
    "vera": ["vardplanerare"],
    "auditor": ["auditor"],
}


@pytest.fixture
def reports_app(figures_platform: Platform) -> Iterator[Flask]:  # noqa: F811
    load(figures_platform)
    now = figures_platform.clock.now()
    with figures_platform.db.unit_of_work() as session:
        for username, roles in USERS.items():
            figures_platform.directory.create_user(
                session, username, username.title(), roles, [], at=now, password_hash=FAST_HASHER.hash(DEMO_PASSWORD)
            )
        session.add(
            OrgUnit(
                hsa_id="SE2321000057-VCEKSJO",
                name="Eksjö vårdcentral",
                kind="vardcentral",
                kommun="Eksjö",
                created_at=now,
                updated_at=now,
            )
        )
    app = create_app({"TESTING": True}, platform=figures_platform)
    app.extensions["samflode_accounts"] = Accounts(
        figures_platform.db, figures_platform.clock, figures_platform.directory, FAST_HASHER
    )
    yield app


def token(app: Flask, username: str) -> dict[str, str]:
    p: Platform = app.extensions["samflode"]
    with p.db.unit_of_work() as session:
        return {"Authorization": f"Bearer {p.directory.create_token(session, username, at=p.clock.now())}"}


def test_a_manager_sees_charts_tables_and_every_definition(reports_app: Flask) -> None:
    client = sign_in(reports_app, "maja")
    html = client.get("/rapporter?fran=2026-01-01&till=2026-02-28").get_data(as_text=True)
    assert "Nyckeltal för in- och utskrivning" in html
    assert html.count("<svg") == 3 and "Utskrivningsklara dagar per månad (medel)" in html
    assert "Hela urvalet: 32 ärenden" in html
    # the trend table: January 16 cases, 14 discharged with UK, 40/14 = 2,9 days; February 38/14 = 2,7
    assert '<th scope="row">2026-01</th>' in html and "2,9" in html and "2,7" in html
    # per kommun: Eksjö 6 days = 55 800 kr, Mölndal 7 days = 65 100 kr
    assert "55\u00a0800 kr" in html and "65\u00a0100 kr" in html
    for figure in FIGURES:
        assert str(escape(figure.title)) in html and str(escape(figure.definition)) in html
    assert "(antagande)" in html  # the daily price is an assumption and says so
    assert 'href="/rapporter"' in html  # the menu


def test_grouping_per_kommun_and_small_groups_show_no_figures(reports_app: Flask) -> None:
    client = sign_in(reports_app, "cora")
    html = client.get("/rapporter?fran=2026-01-01&till=2026-02-28&gruppering=kommun").get_data(as_text=True)
    assert "Alla nyckeltal per kommun" in html
    assert "Eksjö" in html and "Nässjö" in html and "Mölndal" in html
    # Eksjö in weeks: week 2 has E1-E5 (5 cases, shown), week 3 only E6 (hidden)
    weeks = client.get("/rapporter?fran=2026-01-01&till=2026-01-31&gruppering=week&kommun=Eksjö").get_data(as_text=True)
    assert "2026-W02" in weeks and "2026-W03" in weeks
    assert "färre än 5" in weeks
    # one case alone: the whole selection is too small to show
    alone = client.get("/rapporter?fran=2026-01-12&till=2026-01-12&kommun=Eksjö").get_data(as_text=True)
    assert "Hela urvalet: färre än 5 ärenden" in alone and "Urvalet har färre än 5 ärenden" in alone


def test_units_are_named_from_the_organisation(reports_app: Flask) -> None:
    client = sign_in(reports_app, "cora")
    html = client.get("/rapporter?fran=2026-01-01&till=2026-02-28&gruppering=vardcentral").get_data(as_text=True)
    assert '<th scope="col">Eksjö vårdcentral (SE2321000057-VCEKSJO)</th>' in html
    assert '<option value="SE2321000057-VCEKSJO">Eksjö vårdcentral</option>' in html
    assert "SE2321000057-VCNASSJO" in html  # not in the organisation: its HSA-id
    csv_text = client.get("/rapporter/nyckeltal.csv?fran=2026-01-01&till=2026-02-28&gruppering=version").get_data(
        as_text=True
    )
    assert "\r\nversion 1;22;" in csv_text and "\r\nversion 2;10;" in csv_text


def test_bad_input_is_explained_in_swedish_and_the_page_still_shows(reports_app: Flask) -> None:
    client = sign_in(reports_app, "agnes")
    response = client.get("/rapporter?fran=igår&till=2026-02-28&gruppering=planet")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Ange datumet som ÅÅÅÅ-MM-DD" in html and "Välj en av" in html
    assert "<svg" in html
    backwards = client.get("/rapporter?fran=2026-03-01&till=2026-01-01").get_data(as_text=True)
    assert "Slutdatumet ligger före startdatumet" in backwards


def test_staff_without_the_role_are_refused_page_exports_and_api(reports_app: Flask) -> None:
    for username in ("vera", "auditor"):
        client = sign_in(reports_app, username)
        for path in ("/rapporter", "/rapporter/nyckeltal.csv", "/rapporter/nyckeltal.xlsx"):
            assert client.get(path).status_code == 403, (username, path)
        assert 'href="/rapporter"' not in client.get("/arbetslista").get_data(as_text=True)
        for path in ("/api/v1/reports/figures", "/api/v1/reports/deviations", "/api/v1/reports/definitions"):
            assert reports_app.test_client().get(path, headers=token(reports_app, username)).status_code == 403
    assert reports_app.test_client().get("/rapporter").status_code in (302, 303)
    assert reports_app.test_client().get("/api/v1/reports/figures").status_code == 401


def test_csv_export_has_every_figure_with_numerator_and_denominator(reports_app: Flask) -> None:
    client = sign_in(reports_app, "maja")
    response = client.get("/rapporter/nyckeltal.csv?fran=2026-01-01&till=2026-02-28&gruppering=kommun")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="nyckeltal-20260101-20260228-kommun.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffKommun;Ärenden;Utskrivningsklara dagar (medel);")
    lines = {line.split(";")[0].lstrip("\ufeff"): line.split(";") for line in text.strip().splitlines()}
    assert set(lines) == {"Kommun", "Eksjö", "Mölndal", "Nässjö", "Totalt"}
    # Eksjö: 12 cases, 26 UK days over 10 discharged = 2,6; the total 78 / 28
    assert lines["Eksjö"][1:5] == ["12", "2,6", "26", "10"]
    assert lines["Totalt"][1:5] == ["32", "2,785714", "78", "28"]


def test_excel_export_has_figures_deviations_and_definitions(reports_app: Flask) -> None:
    client = sign_in(reports_app, "maja")
    response = client.get("/rapporter/nyckeltal.xlsx?fran=2026-01-01&till=2026-02-28")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    workbook = archive.read("xl/workbook.xml").decode()
    assert all(f'name="{name}"' in workbook for name in ("Nyckeltal", "Avvikelser", "Definitioner"))
    figures = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "2026-01" in figures and "<v>16</v>" in figures and "Totalt" in figures and "<v>32</v>" in figures
    deviations = archive.read("xl/worksheets/sheet2.xml").decode()
    assert "Inskrivningsmeddelande ej skickat inom tidsgränsen (24 timmar)" in deviations and "<v>2</v>" in deviations


def _get(app: Flask, path: str, who: str = "cora") -> Any:
    response = app.test_client().get(path, headers=token(app, who))
    return response.status_code, response.get_json()


def test_api_figures_per_kommun_with_counts(reports_app: Flask) -> None:
    status, body = _get(
        reports_app, "/api/v1/reports/figures?period_from=2026-01-01&period_to=2026-02-28&group_by=kommun"
    )
    assert status == 200
    assert body["total"]["cases"] == 32 and body["group_by"] == "kommun" and body["small_group"] == 5
    rows = {r["key"]: r for r in body["rows"]}
    assert rows["Eksjö"]["cases"] == 12 and rows["Eksjö"]["suppressed"] is False
    assert rows["Eksjö"]["figures"]["betalningsansvarsdagar"] == {"value": 6.0, "numerator": 6.0, "denominator": 10.0}
    assert rows["Mölndal"]["figures"]["betalningsansvar_kostnad"]["value"] == 65100.0
    assert body["total"]["figures"]["sip_kallelse_3d"] == {"value": 0.9, "numerator": 9.0, "denominator": 10.0}


def test_api_hides_small_groups_and_filters_units(reports_app: Flask) -> None:
    status, body = _get(
        reports_app, "/api/v1/reports/figures?period_from=2026-01-01&period_to=2026-01-31&group_by=week&kommun=Eksjö"
    )
    assert status == 200
    weeks = {r["key"]: r for r in body["rows"]}
    assert weeks["2026-W03"] == {"key": "2026-W03", "cases": None, "suppressed": True, "figures": {}}
    # Week 3 alone would be the total less week 2: week 2 (five cases, the smallest other group) is hidden with it.
    assert weeks["2026-W02"] == {"key": "2026-W02", "cases": None, "suppressed": True, "figures": {}}
    assert body["total"]["cases"] >= 5 and not body["total"]["suppressed"]


def test_api_deviations_and_definitions(reports_app: Flask) -> None:
    status, body = _get(reports_app, "/api/v1/reports/deviations?period_from=2026-01-01&period_to=2026-02-28", "maja")
    assert status == 200
    assert [(i["party"], i["count"]) for i in body["items"]] == [
        ("Slutenvård", 2),
        ("Region primärvård", 1),
        ("Region primärvård", 1),
    ]
    status, body = _get(reports_app, "/api/v1/reports/definitions", "agnes")
    assert status == 200 and len(body["figures"]) == 17 and "kommun" in body["groupings"]
    prices = {(p["agreement"], p["year"]): p for p in body["daily_prices"]}
    assert prices[("jonkoping", 2026)]["amount"] == 9300.0 and prices[("jonkoping", 2026)]["assumption"] is True


def test_api_refuses_bad_parameters_with_a_reason(reports_app: Flask) -> None:
    status, body = _get(reports_app, "/api/v1/reports/figures?group_by=planet")
    assert status == 400 and "group_by" in body["details"]["fields"]
    status, body = _get(reports_app, "/api/v1/reports/figures?period_from=2026-03-01&period_to=2026-01-01")
    assert status == 400 and body["message"] == "period_to ligger före period_from"


def test_openapi_documents_the_report_routes(reports_app: Flask) -> None:
    document = reports_app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/reports/figures", "/api/v1/reports/deviations", "/api/v1/reports/definitions"):
        assert "get" in document["paths"][path]
    assert "FiguresOut" in document["components"]["schemas"]


def test_a_period_without_cases_shows_empty_charts_and_tables(reports_app: Flask) -> None:
    client = sign_in(reports_app, "maja")
    response = client.get("/rapporter?fran=2025-01-01&till=2025-03-31&gruppering=kommun")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hela urvalet: 0 ärenden" in html and "Inga ärenden i urvalet." in html
    assert html.count("<svg") == 3 and "Inga avvikelser i urvalet." in html
    csv_text = client.get("/rapporter/nyckeltal.csv?fran=2025-01-01&till=2025-03-31").get_data(as_text=True)
    assert csv_text.strip().splitlines()[-1].startswith("Totalt;0;")
