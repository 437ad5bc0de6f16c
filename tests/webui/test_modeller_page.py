"""The modeller as a staff page (issue 7): /modellera behind sign-in for process owners, the API reached with the
web session (CSRF header required for changes, Bearer tokens unchanged), drafts per user, the catalogue the
properties panel offers, and sequence flows in the diff."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests import diagrams
from tests.conftest import fixture_bytes
from tests.webui.conftest import server_session

CSRF = "csrf-token-of-the-page"
XML = fixture_bytes("with_diagram.bpmn").decode("utf-8")


@pytest.fixture
def users(tokens):  # type: ignore[no-untyped-def]
    """The directory of tests/webui/conftest.py (agnes: process owner, admin, vera: vårdplanerare, ...)."""
    return tokens


def signed_in(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = server_session(app, username)
        session["csrf"] = CSRF
    return client


def draft(process_id: str = "with_diagram", xml: str = XML, base_version: int | None = 1) -> dict[str, object]:
    return {"process_id": process_id, "name": "Med diagram", "base_version": base_version, "xml": xml}


# --- the page ---------------------------------------------------------------------------------------------------
def test_the_modeller_is_a_page_for_signed_in_process_owners_and_admin(app, users):
    assert app.test_client().get("/modellera").status_code == 302  # to the sign-in page
    assert "/logga-in" in app.test_client().get("/modellera").headers["Location"]
    for username in ("agnes", "admin"):
        response = signed_in(app, username).get("/modellera?process=with_diagram&version=1")
        assert response.status_code == 200, username
        html = response.get_data(as_text=True)
        assert "/static/build/modeller.js" in html and 'name="csrf-token"' in html
        assert 'data-process="with_diagram"' in html and 'data-version="1"' in html
        assert "API-nyckel" not in html
        assert 'href="/modellera"' in html  # in the menu
    refused = signed_in(app, "vera").get("/modellera")
    assert refused.status_code == 403
    assert "processägare" in refused.get_data(as_text=True)
    assert 'href="/modellera"' not in signed_in(app, "vera").get("/arbetslista").get_data(as_text=True)


def test_the_page_follows_the_language_switch(app, users):
    client = signed_in(app, "agnes")
    assert "Mina utkast" in client.get("/modellera").get_data(as_text=True)
    with client.session_transaction() as session:
        session["lang"] = "en"
    html = client.get("/modellera").get_data(as_text=True)
    assert "My drafts" in html and "Deploy a new version" in html and "Mina utkast" not in html


def test_the_old_static_address_leads_to_the_page(app):
    for path in ("/static/modeller/index.html", "/static/modeller/"):
        response = app.test_client().get(path)
        assert response.status_code == 301 and response.headers["Location"].endswith("/modellera")


def test_a_missing_front_end_build_is_said_plainly(app, users, tmp_path: Path):
    app.static_folder = str(tmp_path)  # a clone where `npm run build` has not run
    response = signed_in(app, "agnes").get("/modellera")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "inte byggd" in html and "make setup" in html and "build/modeller.js" in html
    assert '<script src="/static/build/modeller.js"' not in html


def test_the_front_end_is_built_and_never_committed():
    """`make setup` (and so make run / make test / .ci/run) builds webui/static/build/; git ignores it."""
    import subprocess

    from engine.config import PROJECT_ROOT

    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "npm run --silent build" in makefile
    setup = next(line for line in makefile.splitlines() if line.startswith("setup:"))
    assert "$(FRONTEND)" in setup
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "webui/static/build/modeller.js"], cwd=PROJECT_ROOT, check=False
    )
    assert ignored.returncode == 0


# --- session auth and CSRF on the API ---------------------------------------------------------------------------
def test_the_session_reads_the_api_and_changes_need_the_csrf_header(app, users):
    client = signed_in(app, "agnes")
    assert client.get("/api/v1/drafts").status_code == 200
    assert client.get("/api/v1/catalog").status_code == 200
    missing = client.post("/api/v1/drafts", json=draft())
    assert missing.status_code == 403
    assert "CSRF" in missing.get_json()["message"]
    wrong = client.post("/api/v1/drafts", json=draft(), headers={"X-CSRF-Token": "something else"})
    assert wrong.status_code == 403
    # The deploy and the check are refused alike: nothing stored.
    refused = client.post("/api/v1/definitions", data=XML, headers={"Content-Type": "application/xml"})
    assert refused.status_code == 403
    assert client.get("/api/v1/definitions").get_json()["items"] == []
    foreign = client.post(
        "/api/v1/drafts", json=draft(), headers={"X-CSRF-Token": CSRF, "Origin": "https://elsewhere.example"}
    )
    assert foreign.status_code == 403
    assert client.get("/api/v1/drafts", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.get("/api/v1/drafts", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    ok = client.post("/api/v1/drafts", json=draft(), headers={"X-CSRF-Token": CSRF, "Origin": "http://localhost"})
    assert ok.status_code == 201, ok.get_json()
    deployed = client.post(
        "/api/v1/definitions?comment=Fr%C3%A5n+sidan",
        data=XML,
        headers={"Content-Type": "application/xml", "X-CSRF-Token": CSRF},
    )
    assert deployed.status_code == 201
    assert app.extensions["samflode"].reports.versions("with_diagram")[0]["deployed_by"] == "agnes"


def test_bearer_tokens_work_as_before_without_csrf(client, users):
    response = client.post("/api/v1/drafts", json=draft(), headers=users["agnes"])
    assert response.status_code == 201
    deployed = client.post(
        "/api/v1/definitions", data=XML, headers={**users["agnes"], "Content-Type": "application/xml"}
    )
    assert deployed.status_code == 201


def test_without_session_or_token_the_api_answers_401(client):
    response = client.get("/api/v1/drafts")
    assert response.status_code == 401
    assert "Logga in" in response.get_json()["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- drafts -------------------------------------------------------------------------------------------------------
def test_drafts_are_kept_per_user_and_process_and_only_their_owner_sees_them(client, users):
    created = client.post("/api/v1/drafts", json=draft(), headers=users["agnes"])
    assert created.status_code == 201
    body = created.get_json()
    assert body["process_id"] == "with_diagram" and body["base_version"] == 1 and body["xml"] == XML
    draft_id = body["id"]
    # Saving the same process again overwrites agnes' draft (200), it does not make a second one.
    again = client.post(
        "/api/v1/drafts", json=draft(xml=XML.replace("Planera insatser", "Planera")), headers=users["agnes"]
    )
    assert again.status_code == 200 and again.get_json()["id"] == draft_id
    listed = client.get("/api/v1/drafts", headers=users["agnes"]).get_json()["items"]
    assert [(d["id"], d["process_id"], d["base_version"]) for d in listed] == [(draft_id, "with_diagram", 1)]
    assert "xml" not in listed[0]
    assert 'name="Planera"' in client.get(f"/api/v1/drafts/{draft_id}", headers=users["agnes"]).get_json()["xml"]
    # Someone else, even an admin: the draft does not exist for them.
    assert client.get("/api/v1/drafts", headers=users["admin"]).get_json()["items"] == []
    for method in ("get", "put", "delete"):
        call = getattr(client, method)
        kwargs = {"json": draft()} if method == "put" else {}
        response = call(f"/api/v1/drafts/{draft_id}", headers=users["admin"], **kwargs)
        assert response.status_code == 404, method
    # Staff who may not deploy have no drafts at all.
    for url in ("/api/v1/drafts", f"/api/v1/drafts/{draft_id}"):
        assert client.get(url, headers=users["vera"]).status_code == 403
    assert client.post("/api/v1/drafts", json=draft(), headers=users["vera"]).status_code == 403
    # agnes' draft is untouched by all that.
    assert client.get(f"/api/v1/drafts/{draft_id}", headers=users["agnes"]).status_code == 200


def test_autosave_updates_a_draft_and_it_can_be_discarded(client, users, platform):
    draft_id = client.post("/api/v1/drafts", json=draft(), headers=users["agnes"]).get_json()["id"]
    platform.clock.advance(timedelta(seconds=90))
    saved = client.put(
        f"/api/v1/drafts/{draft_id}", json=draft(process_id="renamed", base_version=None), headers=users["agnes"]
    )
    assert saved.status_code == 200
    body = saved.get_json()
    assert body["process_id"] == "renamed" and body["base_version"] is None
    assert body["updated_at"] > body["created_at"]
    other = client.post("/api/v1/drafts", json=draft(process_id="another"), headers=users["agnes"]).get_json()["id"]
    clash = client.put(f"/api/v1/drafts/{other}", json=draft(process_id="renamed"), headers=users["agnes"])
    assert clash.status_code == 409
    invalid = client.put(f"/api/v1/drafts/{other}", json={"process_id": "", "xml": ""}, headers=users["agnes"])
    assert invalid.status_code == 422
    assert set(invalid.get_json()["details"]["fields"]) == {"process_id", "xml"}
    assert client.delete(f"/api/v1/drafts/{draft_id}", headers=users["agnes"]).status_code == 204
    assert client.get(f"/api/v1/drafts/{draft_id}", headers=users["agnes"]).status_code == 404
    assert [d["id"] for d in client.get("/api/v1/drafts", headers=users["agnes"]).get_json()["items"]] == [other]


def test_a_deploy_discards_the_deployers_draft_and_nobody_elses(client, users, app):
    own = client.post("/api/v1/drafts", json=draft(), headers=users["agnes"]).get_json()["id"]
    opened = client.post("/api/v1/drafts", json=draft(process_id="old_name"), headers=users["agnes"]).get_json()["id"]
    admins = client.post("/api/v1/drafts", json=draft(), headers=users["admin"]).get_json()["id"]
    deployed = client.post(
        f"/api/v1/definitions?draft={opened}", data=XML, headers={**users["agnes"], "Content-Type": "application/xml"}
    )
    assert deployed.status_code == 201
    assert client.get(f"/api/v1/drafts/{own}", headers=users["agnes"]).status_code == 404
    assert client.get(f"/api/v1/drafts/{opened}", headers=users["agnes"]).status_code == 404
    assert client.get(f"/api/v1/drafts/{admins}", headers=users["admin"]).status_code == 200
    # A refused deploy keeps the draft.
    kept = client.post("/api/v1/drafts", json=draft(process_id="p_broken"), headers=users["agnes"]).get_json()["id"]
    broken = diagrams.linear(
        "p_broken",
        """
  <bpmn:startEvent id="start" />
  <bpmn:scriptTask id="skript"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="skript" />
  <bpmn:sequenceFlow id="f2" sourceRef="skript" targetRef="end" />""",
    )
    refused = client.post(
        f"/api/v1/definitions?draft={kept}",
        data=broken.encode(),
        headers={**users["agnes"], "Content-Type": "application/xml"},
    )
    assert refused.status_code == 422, refused.get_json()
    assert client.get(f"/api/v1/drafts/{kept}", headers=users["agnes"]).status_code == 200


# --- catalogue and diff -------------------------------------------------------------------------------------------
def test_the_catalogue_lists_forms_lanes_roles_and_deadlines_with_their_calendar(client, users):
    body = client.get("/api/v1/catalog", headers=users["agnes"]).get_json()
    assert body["forms"] == [{"name": "registrera", "title": "Registrera inskrivning", "description": None}]
    assert {"name": "Slutenvård", "roles": ["vardplanerare"], "unit_from": "avdelning_hsa_id"} in body["lanes"]
    assert {"key": "vardplanerare", "name": "Vårdplanerare"} in body["roles"]
    kallelse = next(d for d in body["deadlines"] if d["key"] == "kallelse_sip")
    assert [(r["agreement"], r["duration"], r["calendar"]) for r in kallelse["rules"]] == [
        ("nationell", "P3D", "calendar"),
        ("jonkoping", "P2D", "working_days"),
    ]
    inskrivning = next(d for d in body["deadlines"] if d["key"] == "inskrivningsmeddelande")
    assert {(r["anchor"], r["anchor_title"]) for r in inskrivning["rules"]} == {("inskrivning", "inskrivningen")}
    next_day = next(d for d in body["deadlines"] if d["key"] == "svar_nasta_vardag")
    assert next_day["rules"] == [
        {
            "agreement": "nationell",
            "agreement_name": "Nationell standard",
            "duration": "P1D",
            "calendar": "working_days",
            "before": "12:00",
            "anchor": "uppgift",
            "anchor_title": "att uppgiften skapas",
        }
    ]


def test_the_diff_lists_sequence_flows_and_their_conditions(client, users):
    first = diagrams.single_task("p")
    second = first.replace('<bpmn:sequenceFlow id="f2"', '<bpmn:sequenceFlow id="f2" name="Klart"')
    assert second != first
    for xml in (first, second):
        response = client.post(
            "/api/v1/definitions", data=xml.encode(), headers={**users["agnes"], "Content-Type": "application/xml"}
        )
        assert response.status_code == 201, response.get_json()
    body = client.get("/api/v1/definitions/p/diff?from=1&to=2", headers=users["agnes"]).get_json()
    assert body["flows_added"] == [] and body["flows_removed"] == []
    (changed,) = body["flows_changed"]
    assert changed["id"] == "f2" and changed["changes"] == [{"field": "name", "before": None, "after": "Klart"}]


def test_the_new_routes_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/drafts"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/drafts/{id}"])
    assert "get" in paths["/api/v1/catalog"]
    assert "session" in document["components"]["securitySchemes"]
    diff = document["components"]["schemas"]["DiffOut"]["properties"]
    assert {"flows_added", "flows_removed", "flows_changed"} <= set(diff)


def test_the_catalogues_titles_follow_accept_language_or_the_pages_language(app, client, users):
    """Issue 15: an API caller gets the titles for people (what a deadline counts from) in the best of its
    Accept-Language among Swedish and English, Swedish by default; the modeller's own calls follow the language
    chosen on the pages (docs/api.md, Language)."""

    def titles(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
        rules = [r for d in response.get_json()["deadlines"] for r in d["rules"]]
        return {r["anchor"]: r["anchor_title"] for r in rules}

    swedish = titles(client.get("/api/v1/catalog", headers=users["agnes"]))
    assert swedish["inskrivning"] == "inskrivningen" and swedish["uppgift"] == "att uppgiften skapas"
    english = titles(client.get("/api/v1/catalog", headers={**users["agnes"], "Accept-Language": "en-GB,en;q=0.8"}))
    assert english["inskrivning"] == "the admission" and english["uppgift"] == "the task being created"
    other = titles(client.get("/api/v1/catalog", headers={**users["agnes"], "Accept-Language": "de, fr;q=0.5"}))
    assert other == swedish
    pages = signed_in(app, "agnes")
    with pages.session_transaction() as session:
        session["lang"] = "en"
    assert titles(pages.get("/api/v1/catalog", headers={"Accept-Language": "sv"})) == english


def test_an_engine_error_gives_its_template_as_a_stable_key(client, users):
    """The Swedish message stays; a message the engine made from a template also gives the template and its
    parameters, which a client can translate (the English catalogue has each)."""
    body = client.get("/api/v1/instances/987654", headers={**users["agnes"], "Accept-Language": "en"}).get_json()
    assert body["error"] == "not_found" and body["message"] == "Instansen 987654 finns inte"
    assert body["message_template"] == "Instansen %(instance_id)s finns inte"
    assert body["message_params"] == {"instance_id": 987654}


def test_a_version_or_draft_the_page_cannot_read_is_refused_not_replaced(app, users):
    """`?version=x` opened the newest version and `?utkast=x` no draft, silently: now a 400 that says why, in the
    reader's language."""
    client = signed_in(app, "agnes")
    for query in ("version=x", "version=0", "utkast=abc", "utkast=-1"):
        response = client.get(f"/modellera?process=with_diagram&{query}")
        html = response.get_data(as_text=True)
        assert response.status_code == 400 and "ska vara ett heltal från 1" in html, query
        assert "/static/build/modeller.js" not in html
    with client.session_transaction() as session:
        session["lang"] = "en"
    html = client.get("/modellera?version=x").get_data(as_text=True)
    assert "The modeller cannot be opened" in html and "must be a whole number from 1" in html
    assert client.get("/modellera?process=with_diagram&version=1&utkast=").status_code == 200
