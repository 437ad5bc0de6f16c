"""The clock over the API: GET /clock for everyone signed in, POST /clock/advance for admins of a simulated
installation only (404 when the clock is real)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.domain.clock import SystemClock
from engine.platform import build
from tests import diagrams
from tests.conftest import OWNER, SYSTEM, instance_view
from tests.webui.test_api import assert_error
from webui import create_app


def test_admin_advances_the_simulated_clock_and_timers_fire(client, tokens, platform):
    platform.runtime.deploy(diagrams.timer_process("vanta", "PT24H"), OWNER)
    iid = platform.runtime.start_instance("vanta", "bk", {}, SYSTEM)
    response = client.post("/api/v1/clock/advance", json={"seconds": 3 * 86400}, headers=tokens["admin"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"now": "2026-01-15T07:00:00+00:00", "simulated": True, "fired": 1, "steps": 1}
    assert client.get("/api/v1/clock", headers=tokens["vera"]).get_json()["now"] == body["now"]
    view = instance_view(platform, iid)
    assert [t["element_id"] for t in view["active_tasks"]] == ["sedan"]


def test_only_admins_advance_the_clock(client, tokens):
    assert_error(client.post("/api/v1/clock/advance", json={"seconds": 60}), 401)
    assert_error(client.post("/api/v1/clock/advance", json={"seconds": 60}, headers=tokens["cora"]), 403)


@pytest.mark.parametrize("body", [{}, {"seconds": -1}, {"seconds": "tre"}, {"seconds": 60, "extra": 1}])
def test_bad_advance_bodies_are_422(client, tokens, body):
    assert_error(client.post("/api/v1/clock/advance", json=body, headers=tokens["admin"]), 422)


def test_advance_is_404_when_the_clock_is_real(settings, tokens, platform):
    real = build(replace(settings, clock="real"), clock=SystemClock(), migrate=False)
    try:
        client = create_app({"TESTING": True}, platform=real).test_client()
        assert_error(client.post("/api/v1/clock/advance", json={"seconds": 60}, headers=tokens["admin"]), 404)
        assert client.get("/api/v1/clock", headers=tokens["admin"]).get_json()["simulated"] is False
    finally:
        real.close()


def test_advance_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/clock/advance"]["post"]
    assert "404" in operation["responses"] and "403" in operation["responses"]
