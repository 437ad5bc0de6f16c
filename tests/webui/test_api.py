"""The JSON API as a client uses it: status codes, shapes, and clear errors for bad input (never a 500)."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from engine.domain.actors import Actor
from engine.persistence.models import ProcessDefinition, ProcessInstance
from tests import diagrams
from tests.conftest import fixture_bytes

CASE = {
    "personnummer": "19121212-1212",
    "vardtillfalle_id": "VT-1",
    "avdelning_hsa_id": "SE2321000057-ward1",
    "vardcentral_hsa_id": "SE2321000057-vc1",
}


def assert_error(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    # (a message made from a template also names it: message_template and message_params; docs/api.md)
    assert set(body) - {"message_template", "message_params"} == {"error", "message", "details"}
    assert body["message"]
    if code:
        assert body["error"] == code
    return body


def deploy(client, tokens, xml: bytes | str, user="agnes"):
    return client.post(
        "/api/v1/definitions?comment=test",
        data=xml if isinstance(xml, bytes) else xml.encode(),
        headers={**tokens[user], "Content-Type": "application/xml"},
    )


def counts(platform):
    with platform.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(ProcessDefinition)),
            session.scalar(select(func.count()).select_from(ProcessInstance)),
        )


def test_no_token_is_401_and_a_bad_token_too(client, tokens):
    assert_error(client.get("/api/v1/tasks"), 401, "unauthenticated")
    assert_error(client.get("/api/v1/tasks", headers={"Authorization": "Bearer sfl_nope"}), 401)
    assert_error(client.get("/api/v1/tasks", headers={"Authorization": "Basic abc"}), 401)


def test_deploy_as_multipart_and_as_xml_body(client, tokens, platform):
    response = client.post(
        "/api/v1/definitions",
        data={"file": (io.BytesIO(fixture_bytes("two_lanes.bpmn")), "two_lanes.bpmn"), "comment": "v1"},
        headers=tokens["agnes"],
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["process_id"], body["version"], body["executable"], body["diagnostics"]) == ("two_lanes", 1, True, [])
    again = deploy(client, tokens, fixture_bytes("two_lanes.bpmn"))
    assert again.status_code == 200 and again.get_json()["version"] == 1
    listed = client.get("/api/v1/definitions", headers=tokens["vera"]).get_json()
    assert listed["total"] == 1 and listed["items"][0]["comment"] == "v1"
    xml = client.get("/api/v1/definitions/two_lanes/versions/1/bpmn", headers=tokens["vera"])
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.data == fixture_bytes("two_lanes.bpmn")
    assert_error(client.get("/api/v1/definitions/two_lanes/versions/9/bpmn", headers=tokens["vera"]), 404)


def test_deploy_errors(client, tokens, platform, app):
    assert_error(deploy(client, tokens, diagrams.single_task("p"), user="vera"), 403, "forbidden")
    body = assert_error(deploy(client, tokens, diagrams.script_process("x", "import os")), 422, "deploy_rejected")
    assert body["details"]["diagnostics"][0]["element_id"] == "skript"
    assert_error(deploy(client, tokens, b"<not xml"), 422)
    response = client.post("/api/v1/definitions", data="hej", headers={**tokens["agnes"], "Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    response = client.post("/api/v1/definitions", data={}, headers=tokens["agnes"], content_type="multipart/form-data")
    assert_error(response, 400)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert_error(deploy(client, tokens, diagrams.single_task("p") + " " * 2000), 413, "too_large")
    assert counts(platform) == (0, 0)


@pytest.fixture
def running(client, tokens):
    assert deploy(client, tokens, fixture_bytes("two_lanes.bpmn")).status_code == 201
    response = client.post(
        "/api/v1/instances",
        json={"process_id": "two_lanes", "business_key": "19121212-1212/VT-1", "data": CASE},
        headers=tokens["journal"],
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_instance_shape(running):
    assert set(running) >= {
        "id",
        "process_id",
        "version",
        "business_key",
        "status",
        "started_at",
        "ended_at",
        "active_tasks",
        "timers",
        "history",
        "incidents",
    }
    assert running["status"] == "running"
    [task] = running["active_tasks"]
    assert set(task) == {"id", "element_id", "name", "lane", "due_at", "claimed_by", "flag"}
    started = datetime.fromisoformat(running["started_at"])
    assert started.utcoffset() is not None


def test_worklist_claim_and_complete(client, tokens, running):
    mine = client.get("/api/v1/tasks", headers=tokens["vera"]).get_json()
    assert mine["total"] == 1
    task_id = mine["items"][0]["id"]
    assert client.get("/api/v1/tasks", headers=tokens["vilma"]).get_json()["total"] == 0
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=tokens["vera"])
    assert claimed.status_code == 200 and claimed.get_json()["claimed_by"] == "vera"
    assert client.get("/api/v1/tasks?claimed=me", headers=tokens["vera"]).get_json()["total"] == 1
    body = assert_error(
        client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"behov": "fel"}}, headers=tokens["vera"]),
        422,
        "validation_failed",
    )
    assert "behov" in body["details"]["fields"]
    done = client.post(
        f"/api/v1/tasks/{task_id}/complete", json={"data": {"behov": ["hemtjänst"]}}, headers=tokens["vera"]
    )
    assert done.status_code == 200
    assert [t["element_id"] for t in done.get_json()["active_tasks"]] == ["planera"]
    again = assert_error(
        client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}}, headers=tokens["vera"]), 409
    )
    assert again["details"]["completed_by"] == "vera"
    vilma = client.get("/api/v1/tasks", headers=tokens["vilma"]).get_json()
    assert [t["element_id"] for t in vilma["items"]] == ["planera"]
    assert client.get("/api/v1/tasks", headers=tokens["otto"]).get_json()["total"] == 0


def test_task_errors(client, tokens, running, platform):
    task_id = running["active_tasks"][0]["id"]
    # Another unit's task answers as one that does not exist: nothing about it leaks.
    assert_error(client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}}, headers=tokens["vilma"]), 404)
    assert_error(client.post(f"/api/v1/tasks/{task_id}/complete", data="x", headers=tokens["vera"]), 415)
    response = client.post(
        f"/api/v1/tasks/{task_id}/complete",
        data="{not json",
        headers={**tokens["vera"], "Content-Type": "application/json"},
    )
    assert_error(response, 400)
    response = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {}, "extra": 1}, headers=tokens["vera"])
    assert_error(response, 422)
    response = client.post(f"/api/v1/tasks/{task_id}/complete", json=[1, 2], headers=tokens["vera"])
    assert_error(response, 400)
    assert_error(client.post("/api/v1/tasks/nope/complete", json={"data": {}}, headers=tokens["vera"]), 404)
    colleague = Actor("linnea", frozenset({"vardplanerare"}), frozenset({"SE2321000057-ward1"}), "Linnea")
    platform.runtime.claim_task(task_id, colleague)
    body = assert_error(
        client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"behov": []}}, headers=tokens["vera"]), 409
    )
    assert body["details"]["claimed_by"] == "linnea"
    # The admin runs the system but takes part in no case: no task to claim.
    assert_error(client.post(f"/api/v1/tasks/{task_id}/claim", headers=tokens["admin"]), 404)


def test_instances_list_get_cancel_retry(client, tokens, running):
    iid = running["id"]
    # Everyone lists only the cases they may see: the ward's own case for vera, nothing for another vårdcentral.
    assert [i["id"] for i in client.get("/api/v1/instances", headers=tokens["vera"]).get_json()["items"]] == [iid]
    assert client.get("/api/v1/instances", headers=tokens["otto"]).get_json()["items"] == []
    page = client.get("/api/v1/instances?status=running&process_id=two_lanes", headers=tokens["cora"]).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == iid
    by_pnr = client.get("/api/v1/instances?personnummer=191212121212", headers=tokens["cora"]).get_json()
    assert by_pnr["total"] == 1
    assert_error(client.get("/api/v1/instances?personnummer=123", headers=tokens["cora"]), 422)
    assert_error(client.get("/api/v1/instances?status=bogus", headers=tokens["cora"]), 400)
    assert_error(client.get("/api/v1/instances?limit=100000", headers=tokens["cora"]), 400)
    assert client.get(f"/api/v1/instances/{iid}", headers=tokens["vera"]).status_code == 200  # a task of hers
    assert_error(client.get(f"/api/v1/instances/{iid}", headers=tokens["otto"]), 404)  # need to know
    assert_error(client.get("/api/v1/instances/99999", headers=tokens["cora"]), 404)
    assert_error(client.post(f"/api/v1/instances/{iid}/retry", json={}, headers=tokens["cora"]), 422)  # no reason
    retry = {"reason": "Rättat"}
    assert_error(client.post(f"/api/v1/instances/{iid}/retry", json=retry, headers=tokens["cora"]), 409)
    assert_error(client.post(f"/api/v1/instances/{iid}/cancel", json={}, headers=tokens["cora"]), 422)
    assert_error(client.post(f"/api/v1/instances/{iid}/cancel", json={"reason": "x"}, headers=tokens["vera"]), 403)
    cancelled = client.post(f"/api/v1/instances/{iid}/cancel", json={"reason": "Avliden"}, headers=tokens["cora"])
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert_error(client.post(f"/api/v1/instances/{iid}/cancel", json={"reason": "x"}, headers=tokens["cora"]), 409)


def test_start_errors_store_nothing(client, tokens, platform, running):
    before = counts(platform)
    for body, status in [
        ({"process_id": "two_lanes"}, 422),
        ({"process_id": "nope", "business_key": "x"}, 404),
        ({"process_id": "two_lanes", "business_key": "x", "version": 5}, 404),
        ({"process_id": "two_lanes", "business_key": "x", "data": {"personnummer": "1"}}, 422),
        ({"process_id": "two_lanes", "business_key": "x", "data": "text"}, 422),
    ]:
        assert_error(client.post("/api/v1/instances", json=body, headers=tokens["journal"]), status)
    assert counts(platform) == before


def test_messages(client, tokens, running):
    iid = running["id"]
    lane_staff = {"Slutenvård": "vera", "Region primärvård": "vilma"}
    for _ in range(2):
        for task in client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["active_tasks"]:
            done = client.post(
                f"/api/v1/tasks/{task['id']}/complete",
                json={"data": {"behov": ["hemtjänst"]}},
                headers=tokens[lane_staff[task["lane"]]],
            )
            assert done.status_code == 200, done.get_json()
    message = {
        "name": "klar",
        "message_id": "pas-123",
        "correlation": {"personnummer": "19121212-1212"},
        "data": {"uk": True},
    }
    response = client.post("/api/v1/messages", json=message, headers=tokens["journal"])
    assert response.status_code == 202
    assert response.get_json() == {"instance_id": iid, "outcome": "delivered", "duplicate": False}
    again = client.post("/api/v1/messages", json=message, headers=tokens["journal"])
    assert again.status_code == 202 and again.get_json()["duplicate"] is True
    assert_error(
        client.post("/api/v1/messages", json={**message, "message_id": "pas-124"}, headers=tokens["journal"]), 404
    )
    assert_error(client.post("/api/v1/messages", json={"name": "klar"}, headers=tokens["journal"]), 422)
    assert_error(
        client.post(
            "/api/v1/messages", json={**message, "message_id": "z", "correlation": {}}, headers=tokens["journal"]
        ),
        422,
    )


def test_unknown_api_path_is_json_404(client, tokens):
    assert_error(client.get("/api/v1/nothing", headers=tokens["cora"]), 404)
    assert_error(client.delete("/api/v1/tasks", headers=tokens["cora"]), 405)


def test_openapi_document_lists_every_route_and_is_valid_json_schema(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/definitions", "post"),
        ("/api/v1/definitions", "get"),
        ("/api/v1/definitions/{process_id}/versions/{n}/bpmn", "get"),
        ("/api/v1/instances", "post"),
        ("/api/v1/instances", "get"),
        ("/api/v1/instances/{id}", "get"),
        ("/api/v1/instances/{id}/cancel", "post"),
        ("/api/v1/instances/{id}/retry", "post"),
        ("/api/v1/tasks", "get"),
        ("/api/v1/tasks/{task_id}/claim", "post"),
        ("/api/v1/tasks/{task_id}/unclaim", "post"),
        ("/api/v1/tasks/{task_id}/complete", "post"),
        ("/api/v1/messages", "post"),
    ]:
        assert method in paths[path], (path, method)
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name
    assert "422" in paths["/api/v1/definitions"]["post"]["responses"]


# --- issue 13: request bodies through the one data boundary ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"process_id": "p", "business_key": "b", "data": {"x": NaN}}', "data.x"),
        ('{"process_id": "p", "business_key": "b", "data": {"x": [1, Infinity]}}', "data.x[1]"),
        ('{"process_id": "p", "business_key": "b", "data": {"x": {"typename": "UUID"}}}', "data.x.typename"),
        ('{"process_id": "p", "business_key": "b", "data": {"x": -Infinity}}', "data.x"),
    ],
)
def test_a_body_with_nan_or_a_serializer_marker_is_a_400_naming_the_field(client, tokens, body, field):
    """Finding: request bodies with NaN gave 500 (Python's JSON parser takes NaN; PostgreSQL and every later read
    did not)."""
    response = client.post("/api/v1/instances", data=body, content_type="application/json", headers=tokens["journal"])
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["details"]["fields"]


@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_very_deep_json_is_a_400_not_a_500(client, tokens, depth):
    """Finding: very deep JSON gave 500 (RecursionError in the parser, or later in the engine)."""
    body = '{"process_id": "p", "business_key": "b", "data": {"x": ' + "[" * depth + "]" * depth + "}}"
    response = client.post("/api/v1/instances", data=body, content_type="application/json", headers=tokens["journal"])
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
