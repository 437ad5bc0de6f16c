# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""The coordinators' monitoring pages (issue 6): the instance list with its filters and htmx partial, the instance
page with its diagram state, the repair actions with reasons, the heat map; 403 for a ward nurse; the access log."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select

from engine.domain.actors import SYSTEM_ACTOR
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


def _incident_cases(demo, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Cases on Esther's units that stop at a script dividing by zero (an incident each)."""
    from tests import diagrams
    from tests.conftest import OWNER
    from webui.demo import UNITS

    demo.runtime.deploy(diagrams.script_process("delning", "kvot = antal / delare"), OWNER)
    ids = []
    for n in range(count):
        data = {
            "antal": 10,
            "delare": 0,
            "avdelning_hsa_id": UNITS["hs_medger"],
            "vardcentral_hsa_id": UNITS["vc_eksjo"],
            "kommun": "Eksjö",
        }
        iid = demo.runtime.start_instance("delning", f"delning-{n}", data, SYSTEM_ACTOR)
        task = instance_view(demo, iid, SYSTEM_ACTOR)["active_tasks"][0]
        demo.runtime.complete_task(task["id"], {}, SYSTEM_ACTOR)
        ids.append(iid)
    return ids


def test_the_vardcentral_filter_offers_the_directorys_vardcentraler_and_filters(demo_app, demo):
    """Issue 15: the unit kind was spelled two ways, so the Vårdcentral filter offered nothing."""
    from webui.demo import UNITS

    client = sign_in(demo_app, "cora")
    html = client.get("/overvakning").get_data(as_text=True)
    select = html[html.index('id="m-vardcentral"') : html.index("</select>", html.index('id="m-vardcentral"'))]
    assert f'value="{UNITS["vc_eksjo"]}"' in select and "Eksjö" in select
    found = client.get(f"/overvakning?vardcentral={UNITS['vc_eksjo']}", headers={"HX-Request": "true"})
    assert f'href="/overvakning/instans/{ESTHER}"' in found.get_data(as_text=True)
    other = client.get(f"/overvakning?vardcentral={UNITS['vc_raslatt']}", headers={"HX-Request": "true"})
    assert f'href="/overvakning/instans/{ESTHER}"' not in other.get_data(as_text=True)


def test_the_instance_header_names_units_and_the_default_version_now(demo_app, demo):
    from tests.conftest import OWNER, make_default
    from tests.webui.test_pilot_pages import deploy_new_version
    from webui.demo import UNITS

    client = sign_in(demo_app, "cora")
    html = client.get(f"/overvakning/instans/{ESTHER}").get_data(as_text=True)
    header = html[html.index('<p class="meta">') : html.index("</p>", html.index('<p class="meta">'))]
    assert UNITS["vc_eksjo"] not in header and UNITS["hs_medger"] not in header
    assert "Vårdcentral: " in header and "Avdelning: " in header
    assert "är standardversion nu" in html
    deploy_new_version(demo)
    make_default(demo, "in_utskrivning", 2, OWNER)
    html = client.get(f"/overvakning/instans/{ESTHER}").get_data(as_text=True)
    assert "standardversion nu: version 2" in html  # the default NOW, not the one the case started on


def test_the_list_filters_by_the_element_a_case_waits_in(demo_app, demo):
    client = sign_in(demo_app, "cora")
    [waiting] = instance_view(demo, ESTHER, SYSTEM_ACTOR)["active_tasks"]
    html = client.get("/overvakning?process=in_utskrivning").get_data(as_text=True)
    assert f'<option value="{waiting["element_id"]}"' in html
    found = client.get(
        f"/overvakning?process=in_utskrivning&element={waiting['element_id']}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert f'href="/overvakning/instans/{ESTHER}"' in found
    none = client.get("/overvakning?element=finns_inte", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Inga instanser matchar filtret." in none


def test_batch_retry_over_a_filter_previews_the_count_and_keeps_failing_incidents_open(demo_app, demo):
    ids = _incident_cases(demo, 3)
    client = sign_in(demo_app, "cora")
    token = page_token(client, "/overvakning")
    form = {"csrf_token": token, "action": "forsok-igen", "status": "incident", "process": "delning"}
    preview = client.post("/overvakning/massatgard", data=form)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "<strong>3 ärenden</strong>" in html
    assert all(f"#{i}" in html for i in ids)
    assert all(instance_view(demo, i, SYSTEM_ACTOR)["status"] == "incident" for i in ids)  # nothing changed yet
    stale = client.post("/overvakning/massatgard/utfor", data={**form, "expected": "2", "reason": "Rättat"})
    assert stale.status_code == 409 and "bekräfta igen" in stale.get_data(as_text=True)
    done = client.post("/overvakning/massatgard/utfor", data={**form, "expected": "3", "reason": "Nytt försök"})
    assert done.status_code == 200 and "Klart: 3 av 3 ärenden." in done.get_data(as_text=True)
    for i in ids:  # the same data fails again: each incident stays open, counted, no twin
        view = instance_view(demo, i, SYSTEM_ACTOR)
        assert view["status"] == "incident"
        [incident] = view["incidents"]
        assert incident["resolved_at"] is None and incident["failures"] == 2
    with demo.db.read() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "retry_incident")).all()
        assert sorted(int(a.target_id) for a in audited) == sorted(ids)
        assert {a.details["reason"] for a in audited} == {"Nytt försök"}


def test_batch_cancel_needs_a_reason_and_a_coordinator(demo_app, demo):
    ids = _incident_cases(demo, 2)
    client = sign_in(demo_app, "cora")
    token = page_token(client, "/overvakning")
    form = {"csrf_token": token, "action": "avbryt", "process": "delning"}
    assert "<strong>2 ärenden</strong>" in client.post("/overvakning/massatgard", data=form).get_data(as_text=True)
    no_reason = client.post("/overvakning/massatgard/utfor", data={**form, "expected": "2", "reason": " "})
    assert no_reason.status_code == 409 and "Skriv ett skäl" in no_reason.get_data(as_text=True)
    done = client.post("/overvakning/massatgard/utfor", data={**form, "expected": "2", "reason": "Testärenden"})
    assert "Klart: 2 av 2 ärenden." in done.get_data(as_text=True)
    assert {instance_view(demo, i, SYSTEM_ACTOR)["status"] for i in ids} == {"cancelled"}
    nurse = sign_in(demo_app, "vera")
    refused = nurse.post("/overvakning/massatgard", data={**form, "csrf_token": page_token(nurse)})
    assert refused.status_code == 403


def test_retry_takes_a_form_of_the_case_fields_and_names_the_expression(demo_app, demo):
    [iid] = _incident_cases(demo, 1)
    client = sign_in(demo_app, "cora")
    html = client.get(f"/overvakning/instans/{iid}").get_data(as_text=True)
    assert "Uttrycket delar med noll." in html and "<code>kvot = antal / delare</code>" in html
    assert 'name="falt-delare" value="0"' in html and 'name="typ-delare" value="number"' in html
    assert 'name="falt-avdelning_hsa_id"' not in html  # routing data is not corrected here
    token = page_token(client, f"/overvakning/instans/{iid}")
    base = {"csrf_token": token, "orig-delare": "0", "typ-delare": "number", "reason": "Rätt delare"}
    bad = client.post(f"/overvakning/instans/{iid}/forsok-igen", data={**base, "falt-delare": "två"})
    assert bad.status_code == 303
    assert instance_view(demo, iid, SYSTEM_ACTOR)["status"] == "incident"
    assert "Ange ett tal" in client.get(f"/overvakning/instans/{iid}").get_data(as_text=True)
    ok = client.post(f"/overvakning/instans/{iid}/forsok-igen", data={**base, "falt-delare": "4"})
    assert ok.status_code == 303
    view = instance_view(demo, iid, SYSTEM_ACTOR)
    assert view["status"] == "running" and view["data"]["kvot"] == 2.5


def test_the_units_of_a_case_are_changed_by_choosing_from_the_directory(demo_app, demo):
    from webui.demo import UNITS

    client = sign_in(demo_app, "cora")
    html = client.get(f"/overvakning/instans/{ESTHER}").get_data(as_text=True)
    form = html[html.index('id="units-vardcentral"') : html.index("</select>", html.index('id="units-vardcentral"'))]
    assert f'<option value="{UNITS["vc_raslatt"]}">' in form and UNITS["vc_eksjo"] not in form  # the others, named
    token = page_token(client, f"/overvakning/instans/{ESTHER}")
    response = client.post(
        f"/overvakning/instans/{ESTHER}/enheter",
        data={"csrf_token": token, "vardcentral_hsa_id": UNITS["vc_raslatt"], "kommun": "", "reason": "Listad om"},
    )
    assert response.status_code == 303
    assert instance_view(demo, ESTHER, SYSTEM_ACTOR)["vardcentral"] == UNITS["vc_raslatt"]


def test_a_filter_or_page_the_list_cannot_read_shows_the_error_and_no_other_list(demo_app, demo):
    """A bad filter or page number answers 400 with the error, and no list: not every instance in place of the ones
    asked for (the list, and the htmx partial, used to fall back to the unfiltered list)."""
    client = sign_in(demo_app, "cora")
    assert 'href="/overvakning/instans/1"' in client.get("/overvakning").get_data(as_text=True)
    for query in ("?fran=igår", "?status=okand", "?version=x", "?sida=abc", "?sida=0", "?kommun=Eksjö&sida=-1"):
        for headers in ({}, {"HX-Request": "true"}):
            answer = client.get(f"/overvakning{query}", headers=headers)
            html = answer.get_data(as_text=True)
            assert answer.status_code == 400, query
            assert 'href="/overvakning/instans/' not in html and "Esther Andersson" not in html, (query, headers)
    assert "Sidan &#39;abc&#39; finns inte" in client.get("/overvakning?sida=abc").get_data(as_text=True)
    assert client.get("/overvakning?sida=1&kommun=Eksjö").status_code == 200
