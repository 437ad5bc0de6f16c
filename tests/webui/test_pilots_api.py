"""/api/v1/pilots: create, lifecycle, extend, promote, defaults and the comparison over the JSON API; errors as
{error, message, details} with the right status; only the implementation team changes; the OpenAPI document."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from tests import diagrams
from tests.conftest import OWNER

BODY = {
    "name": "Eksjö SVPL",
    "process_id": "flode",
    "version": 2,
    "start_date": "2026-01-12",
    "end_date": "2026-03-31",
    "mixed_rule": "any",
    "avdelningar": ["SE2321000057-ward1"],
    "vardcentraler": [],
    "kommuner": ["Eksjö"],
}


@pytest.fixture
def team(platform, tokens) -> dict[str, str]:
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(session, "irma", "Irma", ["implementation_team"], [], at=platform.clock.now())
        token = platform.directory.create_token(session, "irma", at=platform.clock.now())
    platform.runtime.deploy(diagrams.single_task("flode", "Gamla"), OWNER)
    platform.runtime.deploy(diagrams.single_task("flode", "Nya"), OWNER)
    return {"Authorization": f"Bearer {token}"}


def test_a_pilot_through_the_api_routes_new_cases_and_says_why(client, tokens, team):
    created = client.post("/api/v1/pilots", json=BODY, headers=team)
    assert created.status_code == 201, created.get_json()
    pilot = created.get_json()
    assert (pilot["status"], pilot["version"], pilot["mixed_rule"]) == ("planned", 2, "any")
    assert pilot["units"]["kommuner"] == [{"value": "Eksjö", "name": "Eksjö"}]
    started = client.post(f"/api/v1/pilots/{pilot['id']}/status", json={"action": "start"}, headers=team)
    assert started.get_json()["status"] == "running" and started.get_json()["routing_now"] is True
    case = {"personnummer": "19121212-1212", "vardtillfalle_id": "VT-1", "kommun": "Eksjö"}
    instance = client.post(
        "/api/v1/instances",
        json={"process_id": "flode", "business_key": "k1", "data": case},
        headers=tokens["journal"],
    ).get_json()
    assert (instance["version"], instance["routing"], instance["pilot_id"]) == (2, "pilot", pilot["id"])
    assert instance["route_reason"] == f"pilot {pilot['id']} Eksjö SVPL"
    listed = client.get("/api/v1/pilots?process_id=flode", headers=tokens["cora"]).get_json()
    assert [p["id"] for p in listed["items"]] == [pilot["id"]] and listed["items"][0]["cases"]["total"] == 1
    assert listed["total"] == 1
    defaults = client.get("/api/v1/pilots/defaults?process_id=flode", headers=team).get_json()
    assert defaults["items"][0]["version"] == 1 and defaults["items"][0]["unit"] is None
    extended = client.post(f"/api/v1/pilots/{pilot['id']}/extend", json={"end_date": "2026-04-30"}, headers=team)
    assert extended.get_json()["end_date"] == "2026-04-30"
    promoted = client.post(
        f"/api/v1/pilots/{pilot['id']}/promote", json={"scope": "units", "kommuner": ["Nässjö"]}, headers=team
    ).get_json()
    assert promoted["promoted_to"] == [{"unit_kind": "kommun", "unit": "Nässjö", "name": "Nässjö"}]
    whole = client.post(f"/api/v1/pilots/{pilot['id']}/promote", json={"scope": "whole"}, headers=team).get_json()
    assert whole["status"] == "ended" and whole["promoted_at"]
    chosen = client.post("/api/v1/pilots/defaults", json={"process_id": "flode", "version": 1}, headers=team)
    assert chosen.status_code == 200 and chosen.get_json()["items"][0]["version"] == 1
    refused = client.post("/api/v1/pilots/defaults", json={"process_id": "flode", "version": 1}, headers=tokens["cora"])
    assert refused.status_code == 403
    comparison = client.get(f"/api/v1/pilots/{pilot['id']}/comparison", headers=team).get_json()
    assert [g["key"] for g in comparison["groups"]] == ["pilot", "elsewhere", "before"]
    assert comparison["threshold"] == 30 and all(g["too_small"] for g in comparison["groups"])


def test_errors_name_the_problem(client, tokens, team):
    bad = client.post("/api/v1/pilots", json={**BODY, "mixed_rule": "majority", "version": 0}, headers=team)
    assert bad.status_code == 422 and set(bad.get_json()["details"]["fields"]) == {"mixed_rule", "version"}
    unknown = client.post("/api/v1/pilots", json={**BODY, "version": 7}, headers=team)
    assert unknown.status_code == 422 and "version" in unknown.get_json()["details"]["fields"]
    first = client.post("/api/v1/pilots", json=BODY, headers=team).get_json()
    overlap = client.post("/api/v1/pilots", json={**BODY, "name": "Andra"}, headers=team)
    assert overlap.status_code == 409
    assert overlap.get_json()["details"] == {"pilot_id": first["id"], "name": "Eksjö SVPL"}
    assert "Eksjö SVPL" in overlap.get_json()["message"]
    wrong = client.post(f"/api/v1/pilots/{first['id']}/status", json={"action": "pause"}, headers=team)
    assert wrong.status_code == 409
    assert client.get("/api/v1/pilots/999", headers=team).status_code == 404
    units = client.post(f"/api/v1/pilots/{first['id']}/promote", json={"scope": "units"}, headers=team)
    assert units.status_code == 422


@pytest.mark.parametrize("who", ["agnes", "cora", "journal", "vera"])
def test_only_the_implementation_team_changes_pilots(client, tokens, team, who):
    assert client.post("/api/v1/pilots", json=BODY, headers=tokens[who]).status_code == 403
    pilot = client.post("/api/v1/pilots", json=BODY, headers=team).get_json()
    for path, body in (
        ("status", {"action": "start"}),
        ("extend", {"end_date": "2026-05-01"}),
        ("promote", {"scope": "whole"}),
    ):
        response = client.post(f"/api/v1/pilots/{pilot['id']}/{path}", json=body, headers=tokens[who])
        assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    readable = client.get(f"/api/v1/pilots/{pilot['id']}", headers=tokens[who]).status_code
    assert readable == (200 if who in ("agnes", "cora") else 403)


def test_openapi_documents_the_pilot_routes(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/pilots", "get"),
        ("/api/v1/pilots", "post"),
        ("/api/v1/pilots/defaults", "get"),
        ("/api/v1/pilots/defaults", "post"),
        ("/api/v1/pilots/{id}", "get"),
        ("/api/v1/pilots/{id}/status", "post"),
        ("/api/v1/pilots/{id}/extend", "post"),
        ("/api/v1/pilots/{id}/promote", "post"),
        ("/api/v1/pilots/{id}/comparison", "get"),
    ]:
        assert method in paths[path], (path, method)
    assert "409" in paths["/api/v1/pilots"]["post"]["responses"]
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name
    instance = doc["components"]["schemas"]["InstanceOut"]["properties"]
    assert {"routing", "pilot_id", "route_reason"} <= set(instance)


def test_a_caller_in_english_gets_the_messages_per_field_in_english_too(client, tokens, team):
    """Issue 15: `details.fields` stays Swedish (a stable answer); a caller that prefers English also gets
    `fields_text`, the same messages per field in English, for the service layer's errors and the API's own."""
    english = {**team, "Accept-Language": "en"}
    body = {**BODY, "name": "   ", "end_date": "2026-01-01"}
    swedish = client.post("/api/v1/pilots", json=body, headers=team).get_json()
    assert swedish["details"]["fields"]["name"] == ["ange ett namn (1-200 tecken)"] and "fields_text" not in swedish
    answer = client.post("/api/v1/pilots", json=body, headers=english).get_json()
    assert answer["details"] == swedish["details"]
    assert answer["fields_text"] == {
        "name": ["enter a name (1-200 characters)"],
        "end_date": ["end date before start date"],
    }
    created = client.post("/api/v1/pilots", json=BODY, headers=team).get_json()
    units = client.post(f"/api/v1/pilots/{created['id']}/promote", json={"scope": "units"}, headers=english)
    assert units.status_code == 422 and units.get_json()["fields_text"] == {"kommuner": ["at least one unit"]}
