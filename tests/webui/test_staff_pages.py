# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""The staff pages: sign-in, CSRF, the worklist per role over the demo directory, claims and conflicts, the task
page with drafts and server-side validation, need to know, and the access log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.domain.actors import SYSTEM_ACTOR
from engine.persistence.models import AccessLogEntry, TaskIndex
from tests.conftest import instance_view, task_list, task_view
from tests.webui.staff import (  # noqa: F401  (fixtures)
    INSKRIVNINGSMEDDELANDE,
    advance_ward,
    csrf_of,
    demo,
    demo_app,
    page_token,
    sign_in,
    valid_data,
)

ESTHER, GUNNAR, MAJ = 1, 2, 3


def test_pages_need_sign_in(demo_app):
    response = demo_app.test_client().get("/arbetslista")
    assert response.status_code == 302 and "/logga-in" in response.headers["Location"]


def test_a_wrong_password_is_refused_in_swedish(demo_app):
    client = demo_app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    response = client.post("/logga-in", data={"username": "vera", "password": "fel-lösenord", "csrf_token": token})
    assert response.status_code == 401
    assert "Fel användarnamn eller lösenord" in response.get_data(as_text=True)


def test_repeated_failures_lock_the_account_until_time_passes(demo_app, demo):
    client = demo_app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    codes = [
        client.post("/logga-in", data={"username": "vera", "password": "fel", "csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert codes[:4] == [401] * 4 and codes[-1] == 429
    locked = client.post("/logga-in", data={"username": "vera", "password": "samflode-demo", "csrf_token": token})
    assert locked.status_code == 429 and "För många misslyckade inloggningar" in locked.get_data(as_text=True)
    demo.clock.advance(timedelta(minutes=5))
    assert sign_in(demo_app, "vera") is not None


def test_the_session_cookie_is_http_only_and_same_site(demo_app):
    client = demo_app.test_client()
    token = csrf_of(client.get("/logga-in").get_data(as_text=True))
    response = client.post("/logga-in", data={"username": "vera", "password": "samflode-demo", "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_form_without_the_csrf_token_is_rejected_and_changes_nothing(demo_app, demo):
    client = sign_in(demo_app, "vera")
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    response = client.post(f"/uppgifter/{task['id']}/ta", data={})
    assert response.status_code == 400 and "Formuläret kunde inte skickas" in response.get_data(as_text=True)
    wrong = client.post(f"/uppgifter/{task['id']}/ta", data={"csrf_token": "förfalskad"})
    assert wrong.status_code == 400
    assert task_view(demo, task["id"], SYSTEM_ACTOR)["claimed_by"] is None


def test_sign_out_ends_the_session(demo_app):
    client = sign_in(demo_app, "vera")
    token = page_token(client)
    assert client.post("/logga-ut", data={"csrf_token": token}).status_code == 303
    assert client.get("/arbetslista").status_code == 302


# Who sees which of the demo cases' tasks once Esther's inskrivningsmeddelande is sent (Esther: Höglandssjukhuset
# Medicin/geriatrik, VC Eksjö, Eksjö kommun; Gunnar: Ryhov Medicin 1, VC Råslätt, Jönköping; Maj as Esther).
# The receivers' acknowledgements and the parties' planning start together after the inskrivningsmeddelande.
EXPECTED = {
    # vera is also the ward's doctor: the UK decision is open from the inskrivningsmeddelande, beside the planning
    "vera": {
        (ESTHER, "Påbörja utskrivningsplanering"),
        (ESTHER, "Besluta om utskrivningsklar"),
        (MAJ, "Registrera inskrivning"),
    },
    "linnea": {(ESTHER, "Påbörja utskrivningsplanering"), (MAJ, "Registrera inskrivning")},
    "rut": {(GUNNAR, "Registrera inskrivning")},
    "vilma": {
        (ESTHER, "Kvittera inskrivningsmeddelande (vårdcentral)"),
        (ESTHER, "Berätta vad som är viktigt för mig"),
        (ESTHER, "Kontrollera och dela befintlig SIP eller plan"),
    },
    "viktor": {
        (ESTHER, "Kvittera inskrivningsmeddelande (vårdcentral)"),
        (ESTHER, "Berätta vad som är viktigt för mig"),
        (ESTHER, "Kontrollera och dela befintlig SIP eller plan"),
    },
    "otto": set(),
    "nils": set(),
    "hanna": {(ESTHER, "Återrapportera pågående hemsjukvårdsinsatser")},
    "bosse": {
        (ESTHER, "Kvittera inskrivningsmeddelande (kommun)"),
        (ESTHER, "Kontrollera folkbokföring och pågående insatser"),
    },
    "jonas": set(),
    "jenny": set(),
}


@pytest.fixture
def esther_notified(demo):
    task = advance_ward(demo, ESTHER)
    demo.runtime.complete_task(task["id"], valid_data(demo.catalog.form(task["form"]) or {}), SYSTEM_ACTOR)
    return demo


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_each_role_sees_exactly_its_own_tasks(esther_notified, demo_app, username):
    client = sign_in(demo_app, username)
    html = client.get("/arbetslista?vy=enhet").get_data(as_text=True)
    with esther_notified.db.read() as session:
        tasks = session.execute(select(TaskIndex.id, TaskIndex.instance_id, TaskIndex.name)).all()
    shown = {(t.instance_id, t.name) for t in tasks if f'id="task-{t.id}"' in html}
    assert shown == EXPECTED[username]


def test_the_coordinator_sees_every_open_task(esther_notified, demo_app):
    html = sign_in(demo_app, "cora").get("/arbetslista?vy=enhet").get_data(as_text=True)
    with esther_notified.db.read() as session:
        ids = session.scalars(select(TaskIndex.id)).all()
    assert all(f'id="task-{i}"' in html for i in ids)


def test_rows_show_the_person_masked_to_birth_date(demo_app):
    html = sign_in(demo_app, "vera").get("/arbetslista").get_data(as_text=True)
    assert "Esther Andersson" in html and "f. 1938-03-12" in html
    assert "19380312-2385" not in html


def test_overdue_tasks_come_first_with_a_clear_mark(demo_app, demo):
    late = advance_ward(demo, ESTHER)
    advance_ward(demo, MAJ, "Bedöma behov av insatser efter utskrivning")
    demo.clock.advance(timedelta(days=2))
    html = sign_in(demo_app, "vera").get("/arbetslista?vy=enhet").get_data(as_text=True)
    rows = html.split("<tbody>")[1].split("</tr>")
    assert f'id="task-{late["id"]}" class="overdue"' in rows[0]
    assert "Försenad" in rows[0] and "försenad 1 tim" not in rows[0]
    overdue = sign_in(demo_app, "vera").get("/arbetslista?vy=forsenade").get_data(as_text=True)
    assert overdue.count('class="overdue"') == 1


def test_claim_then_a_colleague_sees_who_has_it_and_cannot_take_it(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    vera = sign_in(demo_app, "vera")
    vera.post(f"/uppgifter/{task['id']}/ta", data={"csrf_token": page_token(vera)})
    linnea = sign_in(demo_app, "linnea")
    response = linnea.post(
        f"/uppgifter/{task['id']}/ta", data={"csrf_token": page_token(linnea)}, follow_redirects=True
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "redan tagen av Vera Vårdplanerare." in text and "Vera Vårdplanerare har tagit uppgiften" in text


def test_claim_with_htmx_returns_the_row(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    vera = sign_in(demo_app, "vera")
    response = vera.post(
        f"/uppgifter/{task['id']}/ta", data={"csrf_token": page_token(vera)}, headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith(f'<tr id="task-{task["id"]}"')
    assert "Vera Vårdplanerare" in html and "Släpp" in html


def test_hand_over_only_to_a_colleague_in_the_same_unit(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    vera = sign_in(demo_app, "vera")
    token = page_token(vera)
    vera.post(f"/uppgifter/{task['id']}/lamna-over", data={"csrf_token": token, "assignee": "rut"})
    assert task_view(demo, task["id"], SYSTEM_ACTOR)["claimed_by"] is None
    vera.post(f"/uppgifter/{task['id']}/lamna-over", data={"csrf_token": token, "assignee": "linnea"})
    assert task_view(demo, task["id"], SYSTEM_ACTOR)["claimed_by"] == "linnea"


def test_the_task_form_shows_errors_next_to_the_fields_and_keeps_the_input(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    vera = sign_in(demo_app, "vera")
    token = page_token(vera, f"/uppgifter/{task['id']}")
    response = vera.post(
        f"/uppgifter/{task['id']}",
        data={"csrf_token": token, "action": "complete", "tidigare_vardtillfalle_id": "VT-0999"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-inskrivningsorsak-error"' in html and 'aria-invalid="true"' in html
    assert 'value="VT-0999"' in html
    assert task_view(demo, task["id"], SYSTEM_ACTOR)["id"] == task["id"]  # still open


def test_a_draft_is_kept_and_completing_goes_through_the_service_layer(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    vera = sign_in(demo_app, "vera")
    path = f"/uppgifter/{task['id']}"
    token = page_token(vera, path)
    vera.post(path, data={"csrf_token": token, "action": "draft", "inskrivningsorsak": "Fall i hemmet"})
    assert "Fall i hemmet" in vera.get(path).get_data(as_text=True)
    done = vera.post(
        path,
        data={
            "csrf_token": token,
            "action": "complete",
            "inskrivningsorsak": "Fall i hemmet",
            "aterinlaggning_inom_30_dagar": "nej",
        },
    )
    assert done.status_code == 303
    history = instance_view(demo, ESTHER, SYSTEM_ACTOR)["history"]
    completed = [h for h in history if h["kind"] == "task_completed"]
    assert completed[-1]["actor"] == "vera"
    assert completed[-1]["data"]["submitted"] == {
        "inskrivningsorsak": "Fall i hemmet",
        "aterinlaggning_inom_30_dagar": False,
    }


def test_a_user_of_another_unit_gets_404_for_the_task(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    response = sign_in(demo_app, "rut").get(f"/uppgifter/{task['id']}")
    assert response.status_code == 404
    assert "Esther" not in response.get_data(as_text=True)


def test_every_read_of_patient_data_is_logged(demo_app, demo):
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
    vera = sign_in(demo_app, "vera")
    vera.get("/arbetslista")
    vera.get(f"/uppgifter/{task['id']}")
    vera.get(f"/uppgifter/{task['id']}?visa=personnummer")
    with demo.db.read() as session:
        rows = session.execute(
            select(
                AccessLogEntry.action, AccessLogEntry.username, AccessLogEntry.unit, AccessLogEntry.personnummer
            ).order_by(AccessLogEntry.id)
        ).all()
    esther = [(r.action, r.username, r.unit) for r in rows if r.personnummer == "19380312-2385"]
    assert esther == [
        ("lista", "vera", "SE2321000057-HSMEDGER"),
        ("uppgift", "vera", "SE2321000057-HSMEDGER"),
        ("visa_personnummer", "vera", "SE2321000057-HSMEDGER"),
    ]
    assert {r.personnummer for r in rows if r.action == "lista"} == {"19380312-2385", "19310507-1645"}
