# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""The coordinators' monitoring pages (issue 6): the instance list with its filters and htmx partial, the instance
page with its diagram state, the repair actions with reasons, the heat map; 403 for a ward nurse; the access log."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select

from engine.directory import SYSTEM_ACTOR
from engine.persistence.models import AccessLogEntry, AuditEntry, HistoryEntry
from tests.conftest import instance_view
from tests.webui.staff import FAST_HASHER, advance_ward, demo, demo_app, page_token, sign_in  # noqa: F401

ESTHER = 1


def _state(html: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="diagram-state">(.*?)</script>', html, re.S)
    assert found, "no diagram state on the page"
    return json.loads(found.group(1))


def _log(demo, username: str) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    """(action, personnummer, instance id) of the user's access-log rows."""
    with demo.db.read() as session:
        return [
            (r.action, r.personnummer, r.instance_id)
            for r in session.scalars(select(AccessLogEntry).where(AccessLogEntry.username == username))
        ]


def test_the_coordinator_lists_instances_and_filters_them(demo_app, demo):
    client = sign_in(demo_app, "cora")
    page = client.get("/overvakning")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Övervakning" in html and 'href="/overvakning/instans/1"' in html and "Esther Andersson" in html
    # The htmx partial is the table alone; a filter that matches nothing says so.
    partial = client.get("/overvakning?status=completed", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert body.startswith('<div id="instances">') and "Inga instanser matchar filtret." in body
    running = client.get("/overvakning?status=running&kommun=Eksjö", headers={"HX-Request": "true"})
    assert "#1" in running.get_data(as_text=True)
    bad = client.get("/overvakning?fran=igår")
    assert bad.status_code == 400 and "ÅÅÅÅ-MM-DD" in bad.get_data(as_text=True)
    # Every person shown in the list is in the access log.
    assert ("instanslista", "19380312-2385", ESTHER) in _log(demo, "cora")


def test_personnummer_search_is_a_logged_post_for_coordinators_only(demo_app, demo):
    client = sign_in(demo_app, "cora")
    token = page_token(client, "/overvakning")
    found = client.post("/overvakning/sok", data={"personnummer": "193803122385", "csrf_token": token})
    assert found.status_code == 200 and "Esther Andersson" in found.get_data(as_text=True)
    assert ("instans_sok", "19380312-2385", ESTHER) in _log(demo, "cora")
    wrong = client.post("/overvakning/sok", data={"personnummer": "19380312-2388", "csrf_token": token})
    assert wrong.status_code == 400 and "Ogiltigt personnummer" in wrong.get_data(as_text=True)


def test_a_ward_nurse_gets_403_and_no_menu_link(demo_app):
    client = sign_in(demo_app, "vera")
    assert "/overvakning" not in client.get("/arbetslista").get_data(as_text=True)
    for path in ("/overvakning", f"/overvakning/instans/{ESTHER}", "/overvakning/process/in_utskrivning/varmekarta"):
        assert client.get(path).status_code == 403
    token = page_token(client)
    response = client.post(f"/overvakning/instans/{ESTHER}/avbryt", data={"reason": "x", "csrf_token": token})
    assert response.status_code == 403
    assert (
        client.post("/overvakning/sok", data={"personnummer": "19380312-2385", "csrf_token": token}).status_code == 403
    )


def test_the_instance_page_marks_the_active_task_and_logs_the_view(demo_app, demo):
    demo.clock.advance(timedelta(hours=1))
    advance_ward(demo, ESTHER)
    client = sign_in(demo_app, "cora")
    page = client.get(f"/overvakning/instans/{ESTHER}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    state = _state(html)
    active = [k for k, e in state["elements"].items() if e["active"]]
    assert active and all(state["names"][k] for k in active)
    completed = [k for k, e in state["elements"].items() if e["completed"]]
    assert completed and any(state["history"].get(k) for k in completed)
    assert "Tidslinje" in html and "Flytta token" in html and "bpmn-navigated-viewer" in html
    diagram = client.get(state["xml"])
    assert diagram.status_code == 200 and b"bpmn:definitions" in diagram.data[:2000]
    assert ("instans", "19380312-2385", ESTHER) in _log(demo, "cora")


def test_actions_need_a_reason_and_are_audited(demo_app, demo):
    client = sign_in(demo_app, "cora")
    token = page_token(client, f"/overvakning/instans/{ESTHER}")
    task = instance_view(demo, ESTHER, SYSTEM_ACTOR)["active_tasks"][0]
    # No reason: nothing happens, the page says why (htmx gets the message for the form's error slot).
    refused = client.post(
        f"/overvakning/instans/{ESTHER}/uppgift/{task['id']}/fordela",
        data={"assignee": "vera", "reason": " ", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 200 and "Ange ett skäl" in refused.get_data(as_text=True)
    done = client.post(
        f"/overvakning/instans/{ESTHER}/uppgift/{task['id']}/fordela",
        data={"assignee": "vera", "reason": "Vera har patienten i dag", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/overvakning/instans/{ESTHER}"
    assert instance_view(demo, ESTHER, SYSTEM_ACTOR)["active_tasks"][0]["claimed_by"] == "vera"
    cancelled = client.post(
        f"/overvakning/instans/{ESTHER}/avbryt", data={"reason": "Dubblett av ärende 2", "csrf_token": token}
    )
    assert cancelled.status_code == 303
    assert instance_view(demo, ESTHER, SYSTEM_ACTOR)["status"] == "cancelled"
    with demo.db.read() as session:
        actions = {a.action: a.details for a in session.scalars(select(AuditEntry).where(AuditEntry.actor == "cora"))}
        kinds = set(session.scalars(select(HistoryEntry.kind).where(HistoryEntry.instance_id == ESTHER)))
    assert actions["reassign_task"]["reason"] == "Vera har patienten i dag"
    assert actions["cancel_instance"]["reason"] == "Dubblett av ärende 2"
    assert {"reassigned", "cancelled"} <= kinds


def test_a_process_owner_sees_no_case_only_the_heat_map(demo_app, demo):
    """Need to know: a process owner takes part in no case; the heat map and the figures name nobody."""
    client = sign_in(demo_app, "agnes")
    assert client.get(f"/overvakning/instans/{ESTHER}").status_code == 403
    assert client.get("/overvakning").status_code == 403
    assert client.get("/overvakning/process/in_utskrivning/varmekarta").status_code == 200
    token = page_token(client, "/arbetslista")
    response = client.post(f"/overvakning/instans/{ESTHER}/avbryt", data={"reason": "x", "csrf_token": token})
    assert response.status_code == 403
    with demo.db.read() as session:
        assert not session.scalars(select(AccessLogEntry).where(AccessLogEntry.username == "agnes")).all()


def test_the_heat_map_page_shows_figures_and_their_definitions(demo_app, demo):
    demo.clock.advance(timedelta(hours=1))
    advance_ward(demo, ESTHER)
    client = sign_in(demo_app, "cora")
    page = client.get("/overvakning/process/in_utskrivning/varmekarta")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    state = _state(html)
    assert state["mode"] == "heatmap" and state["figures"]
    assert all(f["count"] >= 1 for f in state["figures"])
    assert "Så räknas siffrorna" in html and "90:e percentilen" in html
    assert (
        client.get("/overvakning/process/in_utskrivning/varmekarta?fran=2026-02-01&till=2026-01-01").status_code == 400
    )
    assert client.get("/overvakning/process/finns_inte/varmekarta").status_code == 404


def test_the_monitoring_pages_follow_the_language_switch(demo_app):
    client = sign_in(demo_app, "cora")
    token = page_token(client, "/overvakning")
    client.post("/sprak", data={"lang": "en", "next": "/overvakning", "csrf_token": token})
    listing = client.get("/overvakning").get_data(as_text=True)
    assert "Monitoring: instances" in listing and "Overdue only" in listing
    page = client.get(f"/overvakning/instans/{ESTHER}").get_data(as_text=True)
    assert "Timeline" in page and "Move the token (repair)" in page and "Task created" in page
    heat = client.get("/overvakning/process/in_utskrivning/varmekarta").get_data(as_text=True)
    assert "How the figures are computed" in heat
