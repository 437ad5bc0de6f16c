# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""The person's page and the person search: every case the user may see and no other (not in lists, not in counts,
not in search), the messages, the next deadlines; searches and views are logged; bad input is explained."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.domain.actors import SYSTEM_ACTOR
from engine.persistence.models import AccessLogEntry
from tests.webui.staff import advance_ward, demo, demo_app, page_token, sign_in, valid_data  # noqa: F401

ESTHER, GUNNAR = 1, 2
ESTHER_PNR = "19380312-2385"
NOT_FOUND = "Personen finns inte, eller du har inte behörighet att se personen"


@pytest.fixture
def esther_twice(demo):
    """Esther's inskrivningsmeddelande sent (case 1, Höglandssjukhuset); a second stay of hers at Ryhov (case 4)."""
    task = advance_ward(demo, ESTHER)
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    result = demo.runtime.send_message(
        "inskrivning",
        "test-esther-ryhov",
        {"personnummer": ESTHER_PNR, "vardtillfalle_id": "VT-2001"},
        {
            "personnummer": ESTHER_PNR,
            "namn": "Esther Andersson",
            "vardtillfalle_id": "VT-2001",
            "avdelning_hsa_id": "SE2321000057-RYMED1",
            "kommun": "Eksjö",
            "vardcentral_hsa_id": "SE2321000057-VCEKSJO",
            "inskrivningstid": demo.clock.now().isoformat(),
            "avtal": "jonkoping",
        },
        SYSTEM_ACTOR,
    )
    assert result.instance_id == 4
    return demo


def search(client, value: str):  # type: ignore[no-untyped-def]
    return client.post("/personer/sok", data={"csrf_token": page_token(client, "/personer"), "personnummer": value})


def case_count(html: str) -> int:
    found = re.search(r"Ärenden och planer \((\d+)\)", html)
    assert found, html
    return int(found.group(1))


def test_the_vardsamordnare_sees_esthers_case_messages_and_next_deadlines(demo_app, esther_twice):
    html = sign_in(demo_app, "vilma").get(f"/personer/arende/{ESTHER}").get_data(as_text=True)
    assert "Esther Andersson" in html and "Född 1938-03-12" in html and ESTHER_PNR not in html
    assert "Skickat: inskrivningsmeddelande" in html
    deadlines = html.split("Nästa tidsfrister")[1].split("Meddelanden")[0]
    assert "Kvittera inskrivningsmeddelande (vårdcentral)" in deadlines and "2026-01-13 08:00" in deadlines


def test_each_user_sees_only_the_cases_of_their_own_units(demo_app, esther_twice):
    vera = sign_in(demo_app, "vera").get(f"/personer/arende/{ESTHER}").get_data(as_text=True)
    assert case_count(vera) == 1 and "#4" not in vera
    rut = sign_in(demo_app, "rut").get("/personer/arende/4").get_data(as_text=True)
    assert case_count(rut) == 1 and f"#{ESTHER}<" not in rut and "Skickat: inskrivningsmeddelande" not in rut
    assert sign_in(demo_app, "rut").get(f"/personer/arende/{ESTHER}").status_code == 404
    cora = sign_in(demo_app, "cora").get("/personer/arende/4").get_data(as_text=True)
    assert case_count(cora) == 2


def test_a_user_of_another_vardcentral_cannot_see_or_find_esther(demo_app, esther_twice):
    otto = sign_in(demo_app, "otto")
    page = otto.get(f"/personer/arende/{ESTHER}")
    assert page.status_code == 404 and "Esther" not in page.get_data(as_text=True)
    found = search(otto, ESTHER_PNR)
    nobody = search(otto, "19121212-1212")
    assert found.status_code == nobody.status_code == 404
    assert NOT_FOUND in found.get_data(as_text=True) and "Esther" not in found.get_data(as_text=True)
    assert found.get_data(as_text=True).replace(ESTHER_PNR, "X") == nobody.get_data(as_text=True).replace(
        "19121212-1212", "X"
    )


def test_search_by_personnummer_opens_the_persons_page_and_is_logged(demo_app, esther_twice):
    vilma = sign_in(demo_app, "vilma")
    response = search(vilma, "193803122385")
    assert response.status_code == 303 and response.headers["Location"].endswith("/personer/arende/4")
    html = vilma.get(response.headers["Location"]).get_data(as_text=True)
    assert case_count(html) == 2  # both stays: her vårdcentral takes part in each
    search(sign_in(demo_app, "otto"), ESTHER_PNR)
    with esther_twice.db.read() as session:
        rows = session.execute(
            select(AccessLogEntry.username, AccessLogEntry.action, AccessLogEntry.detail, AccessLogEntry.instance_id)
            .where(AccessLogEntry.personnummer == ESTHER_PNR, AccessLogEntry.action.in_(["person_sok", "person"]))
            .order_by(AccessLogEntry.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("vilma", "person_sok", "träff", 1),
        ("vilma", "person_sok", "träff", 4),
        ("vilma", "person", "personens sida", 4),
        ("vilma", "person", "personens sida", 1),
        ("otto", "person_sok", "ingen träff", None),
    ]


def test_a_bad_personnummer_is_explained_in_swedish_and_kept(demo_app):
    vera = sign_in(demo_app, "vera")
    response = search(vera, "19380312-2386")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "kontrollsiffran stämmer inte" in html and 'value="19380312-2386"' in html
    assert search(vera, "").status_code == 400


def test_the_search_needs_the_csrf_token(demo_app):
    response = sign_in(demo_app, "vera").post("/personer/sok", data={"personnummer": ESTHER_PNR})
    assert response.status_code == 400


def test_showing_the_personnummer_is_logged(demo_app, demo):
    vera = sign_in(demo_app, "vera")
    html = vera.get(f"/personer/arende/{ESTHER}?visa=personnummer").get_data(as_text=True)
    assert f"Personnummer {ESTHER_PNR}" in html
    with demo.db.read() as session:
        actions = session.scalars(select(AccessLogEntry.action).where(AccessLogEntry.username == "vera")).all()
    assert actions == ["visa_personnummer"]
