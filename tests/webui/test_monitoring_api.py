"""Issue 6 in the JSON API: the instance list's filters, the repairs (each needs a reason; coordinators only, 403
for a ward nurse), the heat map, and the OpenAPI document that describes them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.persistence.models import AccessLogEntry, AuditEntry
from tests import diagrams
from tests.conftest import ENGINE, fixture_bytes
from tests.webui.test_api import CASE, assert_error, deploy


def start(client, tokens, process_id: str, key: str, data: dict | None = None) -> int:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/instances",
        json={"process_id": process_id, "business_key": key, "data": data or dict(CASE)},
        headers=tokens["journal"],
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return int(response.get_json()["id"])


def test_the_list_filters_and_logs_a_personnummer_search(client, tokens, platform):
    deploy(client, tokens, fixture_bytes("two_lanes.bpmn"))
    deploy(client, tokens, diagrams.timer_process("vanta", "PT1H"))
    first = start(client, tokens, "two_lanes", "a", {**CASE, "kommun": "Eksjö"})
    second = start(client, tokens, "vanta", "b", {**CASE, "vardtillfalle_id": "VT-2", "kommun": "Nässjö"})

    def ids(query: str, who: str = "cora") -> list[int]:
        response = client.get(f"/api/v1/instances?{query}", headers=tokens[who])
        assert response.status_code == 200, response.get_data(as_text=True)
        return [i["id"] for i in response.get_json()["items"]]

    assert ids("") == [second, first]
    assert ids("kommun=Eksjö") == [first]
    assert ids("status=waiting") == [second]
    assert ids("process_id=vanta&version=1") == [second]
    assert ids("avdelning=SE2321000057-ward1") == [second, first]
    assert ids("started_from=2026-01-12&started_to=2026-01-12") == [second, first]
    assert ids("started_from=2026-01-13") == []
    assert ids("overdue=true") == []
    platform.clock.advance(timedelta(hours=2))
    assert ids("overdue=true") == [second]
    item = client.get("/api/v1/instances?overdue=true", headers=tokens["cora"]).get_json()["items"][0]
    assert item["overdue"] is True and item["kommun"] == "Nässjö" and item["next_timer_at"]
    assert ids("personnummer=191212121212") == [second, first]
    with platform.db.read() as session:
        logged = session.scalars(select(AccessLogEntry.action).where(AccessLogEntry.username == "cora")).all()
    assert "instans_sok" in logged
    # Need to know: a process owner sees no case; the ward sees its own; another vårdcentral nothing.
    assert ids("", who="agnes") == []
    assert_error(client.get("/api/v1/instances?personnummer=191212121212", headers=tokens["agnes"]), 403)
    assert ids("", who="vera") == [second, first]
    assert ids("", who="otto") == []
    assert_error(client.get("/api/v1/instances?started_from=igår", headers=tokens["cora"]), 400)


def test_repairs_need_a_reason_and_the_coordinator_role(client, tokens, platform):
    deploy(client, tokens, diagrams.gateway_process("grind", "svar == 'ja'", default=False))
    iid = start(client, tokens, "grind", "g")
    task = client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["active_tasks"][0]
    reassign = f"/api/v1/tasks/{task['id']}/reassign"
    assert_error(client.post(reassign, json={"assignee": "admin"}, headers=tokens["cora"]), 422)
    assert_error(client.post(reassign, json={"assignee": "admin", "reason": "x"}, headers=tokens["vera"]), 403)
    # The task has neither lane nor role: nobody can be given it (the admin takes part in no case either).
    refused = client.post(reassign, json={"assignee": "admin", "reason": "Admin tar den"}, headers=tokens["cora"])
    assert_error(refused, 422)
    platform.runtime.complete_task(task["id"], {"svar": "kanske"}, ENGINE)
    assert client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["status"] == "incident"

    move = f"/api/v1/instances/{iid}/move-token"
    body = {"from_element": "gw", "to_element": "nej", "reason": "Svaret betyder nej"}
    assert_error(client.post(move, json={**body, "reason": ""}, headers=tokens["cora"]), 422)
    assert_error(client.post(move, json=body, headers=tokens["vera"]), 403)
    assert_error(client.post(move, json={**body, "to_element": "finns_inte"}, headers=tokens["cora"]), 422)
    assert_error(client.post(move, json={**body, "from_element": "bedom"}, headers=tokens["cora"]), 409)
    moved = client.post(move, json=body, headers=tokens["cora"])
    assert moved.status_code == 200, moved.get_data(as_text=True)
    payload = moved.get_json()
    assert payload["direction"] == "forward" and payload["instance"]["status"] == "running"
    assert [t["element_id"] for t in payload["instance"]["active_tasks"]] == ["nej"]
    with platform.db.read() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "cora")))
    assert "move_token" in actions


def test_a_timer_is_fired_now_and_a_retry_needs_a_reason(client, tokens):
    deploy(client, tokens, diagrams.timer_process("vanta", "PT24H"))
    iid = start(client, tokens, "vanta", "t")
    timer = client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["timers"][0]
    fire = f"/api/v1/instances/{iid}/timers/{timer['id']}/fire"
    assert_error(client.post(fire, json={}, headers=tokens["cora"]), 422)
    assert_error(client.post(fire, json={"reason": "x"}, headers=tokens["vera"]), 403)
    assert_error(
        client.post(f"/api/v1/instances/{iid}/timers/abc/fire", json={"reason": "x"}, headers=tokens["cora"]), 404
    )
    fired = client.post(fire, json={"reason": "Beskedet kom i dag"}, headers=tokens["cora"])
    assert fired.status_code == 200 and fired.get_json()["timers"] == []
    assert [t["element_id"] for t in fired.get_json()["active_tasks"]] == ["sedan"]
    assert_error(client.post(fire, json={"reason": "igen"}, headers=tokens["cora"]), 404)
    retry = f"/api/v1/instances/{iid}/retry"
    assert_error(client.post(retry, json={"data": {}}, headers=tokens["cora"]), 422)
    assert_error(client.post(retry, json={"reason": "x"}, headers=tokens["cora"]), 409)  # no incident


def test_the_heat_map_and_the_openapi_document(client, tokens, platform):
    deploy(client, tokens, diagrams.single_task("en"))
    iid = start(client, tokens, "en", "h")
    task = client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["active_tasks"][0]
    platform.runtime.complete_task(task["id"], {}, ENGINE)
    heat = client.get("/api/v1/definitions/en/versions/1/heatmap", headers=tokens["agnes"])
    assert heat.status_code == 200, heat.get_data(as_text=True)
    rows = {e["element_id"]: e for e in heat.get_json()["elements"]}
    assert rows["uppgift"]["count"] == 1 and rows["uppgift"]["time_n"] == 1
    assert rows["uppgift"]["time_mean_seconds"] == 0.0
    assert_error(client.get("/api/v1/definitions/en/versions/1/heatmap", headers=tokens["vera"]), 403)
    assert_error(client.get("/api/v1/definitions/en/versions/9/heatmap", headers=tokens["cora"]), 404)
    bad = "/api/v1/definitions/en/versions/1/heatmap?started_from=2026-02-01&started_to=2026-01-01"
    assert_error(client.get(bad, headers=tokens["cora"]), 422)
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/instances/{id}/move-token",
        "/instances/{id}/timers/{timer_id}/fire",
        "/tasks/{task_id}/reassign",
        "/definitions/{process_id}/versions/{n}/heatmap",
    ):
        assert "post" in paths[f"/api/v1{path}"] or "get" in paths[f"/api/v1{path}"]
    names = [p["name"] for p in paths["/api/v1/instances"]["get"]["parameters"]]
    assert {"kommun", "vardcentral", "avdelning", "overdue", "started_from", "started_to", "version"} <= set(names)


def test_incidents_in_the_api_name_the_expression_and_the_list_filters_by_where_cases_wait(client, tokens, platform):
    """Issue 15 through the API: what failed and what it saw; a retry that fails again keeps the incident open;
    `waiting_in`; deploying leaves the default, `POST /pilots/defaults` with a comment changes it."""
    deploy(client, tokens, diagrams.script_process("delning", "kvot = antal / delare"))
    iid = start(client, tokens, "delning", "d", {**CASE, "antal": 10, "delare": 0})
    waiting = client.get("/api/v1/instances?waiting_in=forbered", headers=tokens["cora"]).get_json()["items"]
    assert [i["id"] for i in waiting] == [iid]
    task = client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["active_tasks"][0]
    platform.runtime.complete_task(task["id"], {}, ENGINE)
    stopped = client.get("/api/v1/instances?waiting_in=skript", headers=tokens["cora"]).get_json()["items"]
    assert [i["id"] for i in stopped] == [iid]
    [incident] = client.get(f"/api/v1/instances/{iid}", headers=tokens["cora"]).get_json()["incidents"]
    assert incident["expression"] == "kvot = antal / delare"
    assert incident["seen_values"] == {"antal": {"value": 10}, "delare": {"value": 0}}
    again = client.post(
        f"/api/v1/instances/{iid}/retry", json={"reason": "Försök", "data": {"antal": 11}}, headers=tokens["cora"]
    )
    assert again.status_code == 200, again.get_data(as_text=True)
    [incident] = again.get_json()["incidents"]
    assert (incident["resolved_at"], incident["failures"]) == (None, 2)

    second = client.post(
        "/api/v1/definitions?comment=v2",
        data=diagrams.script_process("delning", "kvot = antal / max(delare, 1)").encode(),
        headers={**tokens["agnes"], "Content-Type": "application/xml"},
    )
    assert second.status_code == 201 and second.get_json()["default_version"] == 1
    made = client.post(
        "/api/v1/pilots/defaults",
        json={"process_id": "delning", "version": 2, "comment": "Tål delaren noll"},
        headers=tokens["agnes"],
    )
    assert made.status_code == 200, made.get_data(as_text=True)
    versions = client.get("/api/v1/definitions/delning/versions", headers=tokens["agnes"]).get_json()["items"]
    assert [(v["version"], v["is_default"]) for v in versions] == [(2, True), (1, False)]
    assert_error(
        client.post("/api/v1/pilots/defaults", json={"process_id": "delning", "version": 1}, headers=tokens["cora"]),
        403,
    )
