"""The modelling API: dry-run check, the versions of a process, and the diff of two versions."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import func, select

from engine.persistence.models import ProcessDefinition
from tests import diagrams
from tests.conftest import fixture_bytes

TWO_LANES = fixture_bytes("two_lanes.bpmn")
CASE = {
    "personnummer": "19121212-1212",
    "vardtillfalle_id": "VT-1",
    "avdelning_hsa_id": "SE2321000057-ward1",
    "vardcentral_hsa_id": "SE2321000057-vc1",
}


def xml_post(client, url, xml: bytes, headers):
    return client.post(url, data=xml, headers={**headers, "Content-Type": "application/xml"})


def definitions(platform) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(ProcessDefinition))


def test_check_returns_the_findings_and_stores_nothing(client, tokens, platform):
    bad = TWO_LANES.replace('name="Region primärvård"'.encode(), b'name="Kommunen"')
    response = xml_post(client, "/api/v1/definitions/check", bad, tokens["agnes"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["process_id"], body["executable"], body["errors"]) == ("two_lanes", False, 2)
    assert [d["element_id"] for d in body["diagnostics"] if d["severity"] == "error"] == ["planera", "eskalera"]
    good = client.post(
        "/api/v1/definitions/check",
        data={"file": (io.BytesIO(TWO_LANES), "two_lanes.bpmn")},
        headers=tokens["agnes"],
        content_type="multipart/form-data",
    ).get_json()
    assert (good["executable"], good["diagnostics"]) == (True, [])
    assert definitions(platform) == 0


def test_check_of_a_file_that_is_not_bpmn_is_an_answer_not_an_error(client, tokens):
    for payload in (b"<nej", b"", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'):
        response = xml_post(client, "/api/v1/definitions/check", payload, tokens["agnes"])
        assert response.status_code == 200
        body = response.get_json()
        assert body["executable"] is False and body["errors"] >= 1


def test_check_is_for_process_owners_and_needs_a_file(client, tokens):
    assert xml_post(client, "/api/v1/definitions/check", TWO_LANES, tokens["vera"]).status_code == 403
    assert xml_post(client, "/api/v1/definitions/check", TWO_LANES, {}).status_code == 401
    response = client.post(
        "/api/v1/definitions/check", data="x", headers={**tokens["agnes"], "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


def test_versions_say_who_when_why_and_how_many_instances_run_on_each(client, tokens, platform):
    xml_post(client, "/api/v1/definitions?comment=F%C3%B6rsta", TWO_LANES, tokens["agnes"])
    started = client.post(
        "/api/v1/instances",
        json={"process_id": "two_lanes", "business_key": "19121212-1212/VT-1", "data": CASE},
        headers=tokens["journal"],
    )
    assert started.status_code == 201, started.get_data(as_text=True)
    platform.clock.advance(timedelta(hours=1))
    second = TWO_LANES.replace(b"Planera insatser", b"Planera alla insatser")
    xml_post(client, "/api/v1/definitions?comment=Nytt+namn", second, tokens["agnes"])
    body = client.get("/api/v1/definitions/two_lanes/versions", headers=tokens["vera"]).get_json()
    assert body["process_id"] == "two_lanes"
    rows = [(v["version"], v["deployed_by"], v["comment"], v["running_instances"]) for v in body["items"]]
    assert rows == [(2, "agnes", "Nytt namn", 0), (1, "agnes", "Första", 1)]
    assert body["items"][0]["deployed_at"] > body["items"][1]["deployed_at"]
    assert client.get("/api/v1/definitions/finns_inte/versions", headers=tokens["vera"]).status_code == 404


def test_diff_lists_added_removed_and_changed_elements(client, tokens):
    first = diagrams.single_task("p", "Gör A")
    second = diagrams.linear(
        "p",
        """
  <bpmn:startEvent id="start" />
  <bpmn:manualTask id="uppgift" name="Gör B"><bpmn:extensionElements><samflode:properties>
    <samflode:property name="mal" value="Klart" /></samflode:properties></bpmn:extensionElements></bpmn:manualTask>
  <bpmn:userTask id="ny" name="Ny uppgift" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="uppgift" />
  <bpmn:sequenceFlow id="f2" sourceRef="uppgift" targetRef="ny" />
  <bpmn:endEvent id="slut" />
  <bpmn:sequenceFlow id="f3" sourceRef="ny" targetRef="slut" />""",
    )
    for xml in (first, second):
        assert xml_post(client, "/api/v1/definitions", xml.encode(), tokens["agnes"]).status_code == 201
    response = client.get("/api/v1/definitions/p/diff?from=1&to=2", headers=tokens["vera"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["from"], body["to"]) == (1, 2)
    assert [(e["id"], e["type"]) for e in body["added"]] == [("ny", "userTask"), ("slut", "endEvent")]
    assert [e["id"] for e in body["removed"]] == ["end"]
    (changed,) = body["changed"]
    assert changed["id"] == "uppgift"
    assert changed["changes"] == [
        {"field": "type", "before": "userTask", "after": "manualTask"},
        {"field": "name", "before": "Gör A", "after": "Gör B"},
        {"field": "property:mal", "before": None, "after": "Klart"},
    ]
    back = client.get("/api/v1/definitions/p/diff?from=2&to=1", headers=tokens["vera"]).get_json()
    assert [e["id"] for e in back["added"]] == ["end"]


def test_diff_errors_are_json(client, tokens):
    xml_post(client, "/api/v1/definitions", diagrams.single_task("p").encode(), tokens["agnes"])
    for url, status in [
        ("/api/v1/definitions/p/diff?from=1", 400),
        ("/api/v1/definitions/p/diff?from=1&to=x", 400),
        ("/api/v1/definitions/p/diff?from=1&to=1", 400),
        ("/api/v1/definitions/p/diff?from=1&to=9", 404),
        ("/api/v1/definitions/q/diff?from=1&to=2", 404),
    ]:
        response = client.get(url, headers=tokens["vera"])
        assert response.status_code == status, url
        assert set(response.get_json()) - {"message_template", "message_params"} == {"error", "message", "details"}


def test_the_modelling_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/definitions/check"]
    assert "get" in paths["/api/v1/definitions/{process_id}/versions"]
    assert "get" in paths["/api/v1/definitions/{process_id}/diff"]
    params = {p["name"] for p in paths["/api/v1/definitions"]["post"]["parameters"]}
    assert {"comment", "filename", "documentation_only"} <= params


def test_a_caller_in_english_gets_the_findings_and_errors_in_english_too(client, tokens):
    """Issue 15: `message` stays Swedish; a caller that prefers English also gets `text`, the same in English (the
    modeller shows it), for a diagram's findings and for an error."""
    bad = TWO_LANES.replace('name="Region primärvård"'.encode(), b'name="Kommunen"')
    english = {**tokens["agnes"], "Accept-Language": "en"}
    body = xml_post(client, "/api/v1/definitions/check", bad, english).get_json()
    errors = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert errors and all(d["text"] and d["text"] != d["message"] for d in errors)
    assert all("lanes.json" in d["text"] and "finns" not in d["text"] for d in errors)
    swedish = xml_post(client, "/api/v1/definitions/check", bad, tokens["agnes"]).get_json()
    assert all("text" not in d for d in swedish["diagnostics"])
    missing = client.get("/api/v1/definitions/p/diff?from=1&to=9", headers={**tokens["vera"], "Accept-Language": "en"})
    assert missing.status_code == 404 and "finns inte" in missing.get_json()["message"]
    assert "does not exist" in missing.get_json()["text"]
