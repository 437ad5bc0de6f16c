# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""The auditor's page: search the access log by person, user, unit and period, export a person's loggutdrag as CSV;
the auditor role only, and the auditor's own searches and extracts are logged."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.domain.actors import SYSTEM_ACTOR
from engine.persistence.models import AccessLogEntry, AuditEntry
from tests.conftest import task_list
from tests.webui.staff import demo, demo_app, sign_in  # noqa: F401  (fixtures)

ESTHER_PNR = "19380312-2385"
MAJ_PNR = "19310507-1645"


@pytest.fixture
def looked_at(demo, demo_app):
    """Vera reads her worklist and opens Esther's task; a day later Vilma reads her (empty) worklist."""
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == 1)
    vera = sign_in(demo_app, "vera")
    vera.get("/arbetslista")
    vera.get(f"/uppgifter/{task['id']}")
    demo.clock.advance(timedelta(days=1))
    sign_in(demo_app, "vilma").get("/arbetslista")
    return task


@pytest.mark.parametrize("username", ["vera", "vilma", "cora", "admin", "agnes"])
def test_only_the_auditor_may_search_the_log_or_take_out_an_extract(demo_app, username):
    client = sign_in(demo_app, username)
    assert client.get(f"/logg?personnummer={ESTHER_PNR}").status_code == 403
    assert client.get(f"/logg/utdrag.csv?personnummer={ESTHER_PNR}").status_code == 403
    assert "Granska loggen" not in client.get("/arbetslista").get_data(as_text=True)


def test_the_auditor_finds_every_access_to_a_person(demo_app, looked_at):
    ida = sign_in(demo_app, "ida")
    assert "Granska loggen" in ida.get("/arbetslista").get_data(as_text=True)
    html = ida.get(f"/logg?personnummer={ESTHER_PNR.replace('-', '')}").get_data(as_text=True)
    assert "Såg i arbetslistan" in html and "Öppnade uppgift" in html and "Vera Vårdplanerare" in html
    assert MAJ_PNR not in html
    assert "/logg/utdrag.csv?personnummer=19380312-2385" in html


def test_the_auditor_searches_by_user_unit_and_period(demo_app, looked_at):
    ida = sign_in(demo_app, "ida")
    by_user = ida.get("/logg?username=vera").get_data(as_text=True)
    assert by_user.count("<tr><td>") == 3  # Esther and Maj in the list, Esther's task
    by_unit = ida.get("/logg?unit=HSMEDGER").get_data(as_text=True)
    assert by_unit.count("<tr><td>") == 3
    assert ida.get("/logg?unit=VCRASLATT").get_data(as_text=True).count("<tr><td>") == 0
    first_day = ida.get("/logg?since=2026-01-12&until=2026-01-12").get_data(as_text=True)
    assert first_day.count("<tr><td>") == 3 and "Vera" in first_day


def test_bad_search_input_is_explained_in_swedish_and_kept(demo_app):
    ida = sign_in(demo_app, "ida")
    response = ida.get("/logg?personnummer=19380312-2386&since=12/1&username=vera")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "kontrollsiffran stämmer inte" in html and "Skriv datumet från som ÅÅÅÅ-MM-DD" in html
    assert 'value="19380312-2386"' in html and 'value="vera"' in html
    swapped = ida.get("/logg?since=2026-01-13&until=2026-01-12").get_data(as_text=True)
    assert "Slutdatumet ligger före startdatumet" in swapped


def test_the_loggutdrag_is_a_csv_of_every_access_oldest_first(demo_app, looked_at):
    response = sign_in(demo_app, "ida").get(f"/logg/utdrag.csv?personnummer={ESTHER_PNR}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["tidpunkt", "användare", "namn", "enhet", "händelse", "ärende", "detalj"]
    assert [(r[0], r[1], r[4]) for r in rows[1:]] == [
        ("2026-01-12 08:00:00", "vera", "Såg i arbetslistan"),
        ("2026-01-12 08:00:00", "vera", "Öppnade uppgift"),
    ]


def test_the_auditors_own_searches_and_extracts_are_logged(demo_app, demo, looked_at):
    ida = sign_in(demo_app, "ida")
    ida.get("/logg?username=vera")
    ida.get(f"/logg/utdrag.csv?personnummer={ESTHER_PNR}")
    with demo.db.read() as session:
        audit = session.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.target_type == "access_log")
        ).all()
        access = session.execute(
            select(AccessLogEntry.action, AccessLogEntry.personnummer).where(AccessLogEntry.username == "ida")
        ).all()
    assert [tuple(a) for a in audit] == [("ida", "access_log_searched"), ("ida", "access_log_extract")]
    assert {tuple(a) for a in access} == {
        ("logg_granskning", ESTHER_PNR),
        ("logg_granskning", MAJ_PNR),
        ("loggutdrag", ESTHER_PNR),
    }
