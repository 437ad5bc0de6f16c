"""/api/v1/simulations and /simuleringar through the Flask client: start, progress, result, refusals."""

from __future__ import annotations

import pytest

from engine.features.simulations import Simulations
from tests.integration.test_simulation import TEAM, deployed  # noqa: F401  (the fixture: the real processes)
from tests.webui.conftest import server_session
from webui import create_app


@pytest.fixture
def app(deployed, tmp_path):  # noqa: F811
    platform = deployed
    with platform.db.unit_of_work() as session:
        now = platform.clock.now()
        platform.directory.create_user(session, "ingrid", "Ingrid", ["implementation_team"], [], now)
        platform.directory.create_user(session, "vilma", "Vilma", ["vardsamordnare"], ["SE2321000057-vc1"], now)
        team = platform.directory.create_token(session, "ingrid", at=now)
        other = platform.directory.create_token(session, "vilma", at=now)
    app = create_app({"TESTING": True, "SAMFLODE_SIMULATE_INLINE": True}, platform=platform)
    app.extensions["samflode_simulations"] = Simulations(
        platform.db, platform.clock, platform.catalog, platform.policy, tmp_path, jobs=platform.jobs
    )  # runs are queued as jobs; SAMFLODE_SIMULATE_INLINE runs the queued job before the answer
    app.tokens = {"team": {"Authorization": f"Bearer {team}"}, "other": {"Authorization": f"Bearer {other}"}}
    return app


def signed_in(app, username):
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = server_session(app, username)
        session["csrf"] = "test-token"
    return client


def test_api_starts_a_simulation_and_reports_its_figures(app):
    client = app.test_client()
    body = {"candidate_version": 1, "cases_per_year": 365, "days": 7, "start_date": "2027-03-01", "seed": 4}
    answer = client.post("/api/v1/simulations", json=body, headers=app.tokens["team"])
    assert answer.status_code == 202, answer.json
    run = answer.json
    assert run["status"] == "done" and run["percent"] == 100
    [version] = run["result"]["versions"]
    assert version["role"] == "candidate" and version["cases"] == run["result"]["arrivals"]
    assert "utskrivningsklara_dagar" in version["figures"] and version["workload"]
    assert client.get(f"/api/v1/simulations/{run['id']}", headers=app.tokens["team"]).json == run
    assert [r["id"] for r in client.get("/api/v1/simulations", headers=app.tokens["team"]).json["items"]] == [run["id"]]


def test_api_refuses_other_roles_and_bad_input(app):
    client = app.test_client()
    body = {"candidate_version": 1}
    assert client.post("/api/v1/simulations", json=body, headers=app.tokens["other"]).status_code == 403
    assert client.get("/api/v1/simulations", headers=app.tokens["other"]).status_code == 403
    answer = client.post(
        "/api/v1/simulations", json={"candidate_version": 1, "sip_share": 3}, headers=app.tokens["team"]
    )
    assert answer.status_code == 422 and "sip_share" in answer.json["details"]["fields"]
    answer = client.post("/api/v1/simulations", json={"candidate_version": 7}, headers=app.tokens["team"])
    assert answer.status_code == 404
    assert "/api/v1/simulations/{id}" in client.get("/api/v1/openapi.json").json["paths"]


def test_page_starts_a_run_polls_its_progress_and_shows_the_figures(app):
    client = signed_in(app, "ingrid")
    page = client.get("/simuleringar").get_data(as_text=True)
    assert "Simulering före en pilot" in page and 'href="/simuleringar"' in page
    form = {
        "csrf_token": "test-token",
        "process_id": "in_utskrivning",
        "candidate_version": "1",
        "cases_per_year": "365",
        "days": "7",
        "seed": "9",
        "capacity": "vardplanerare = 2",
    }
    answer = client.post("/simuleringar", data=form)
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Förutsagda nyckeltal" in page and "Utskrivningsklara dagar" in page and "Arbetsbelastning per roll" in page
    # a queued run: the partial polls itself with htmx until the run is done
    service = app.extensions["samflode_simulations"]
    from engine.features.simulation import SimulationParams

    queued = service.create(SimulationParams(candidate_version=1, days=3), TEAM)
    partial = client.get(f"/simuleringar/{queued}/forlopp").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in partial and "<progress" in partial


def test_page_explains_bad_input_and_refuses_other_roles(app):
    client = signed_in(app, "ingrid")
    answer = client.post(
        "/simuleringar",
        data={
            "csrf_token": "test-token",
            "process_id": "in_utskrivning",
            "candidate_version": "1",
            "capacity": "vardplanerare två",
        },
    )
    assert answer.status_code == 400 and "Personal: skriv" in answer.get_data(as_text=True)
    other = signed_in(app, "vilma")
    assert other.get("/simuleringar").status_code == 403
    assert other.post("/simuleringar", data={"csrf_token": "test-token"}).status_code == 403
