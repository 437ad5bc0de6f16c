"""/api/v1/migrations through the Flask client: preview, run with a failing instance, list, get, revert, 403."""

from __future__ import annotations

import pytest

from tests.conftest import ENGINE, OWNER, SYSTEM
from tests.integration.test_case_migration import V1, V2, task_of


@pytest.fixture
def team(platform, tokens):
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(
            session, "ingrid", "Ingrid Implementering", ["implementation_team"], [], at=platform.clock.now()
        )
        token = platform.directory.create_token(session, "ingrid", at=platform.clock.now())
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def cases(platform):
    runtime = platform.runtime
    runtime.deploy(V1, OWNER)
    ids = []
    for n, data in enumerate(({"prioritet": "hög"}, {})):
        instance = runtime.start_instance("remiss", f"api-{n}", data, SYSTEM)
        runtime.complete_task(task_of(platform, instance, "registrera"), {}, ENGINE)
        ids.append(instance)
    runtime.deploy(V2, OWNER)
    return ids


def test_preview_run_get_list_and_revert(client, team, cases):
    body = {"process_id": "remiss", "target_version": 2, "from_version": 1}
    answer = client.post("/api/v1/migrations/preview", json=body, headers=team)
    assert answer.status_code == 200, answer.json
    assert answer.json["suggested_mapping"] == {"bedom": "bedom_behov"}
    assert answer.json["counts"] == {"ready": 0, "needs_mapping": 2, "blocked": 0}

    body["mapping"] = {"bedom": "bedom_behov"}
    answer = client.post("/api/v1/migrations/preview", json=body, headers=team)
    assert [i["outcome"] for i in answer.json["items"]] == ["ready", "blocked"]
    assert answer.json["items"][1]["missing_data"] == [{"element_id": "prio", "name": "prioritet"}]

    answer = client.post("/api/v1/migrations", json={**body, "comment": "Ny rutin för bedömning"}, headers=team)
    assert answer.status_code == 201, answer.json
    run = answer.json
    assert (run["migrated"], run["failed"]) == (1, 1)
    by_id = {i["instance_id"]: i for i in run["items"]}
    assert by_id[cases[0]]["outcome"] == "migrated" and by_id[cases[0]]["revertible"] is True
    assert by_id[cases[0]]["rearmed_timers"][0]["element_id"] == "frist"
    assert "prioritet" in by_id[cases[1]]["reason"]

    listed = client.get("/api/v1/migrations?process_id=remiss", headers=team).json["items"]
    assert [r["id"] for r in listed] == [run["id"]] and listed[0]["comment"] == "Ny rutin för bedömning"
    assert client.get(f"/api/v1/migrations/{run['id']}", headers=team).json["items"] == run["items"]

    answer = client.post(f"/api/v1/migrations/{run['id']}/revert", json={}, headers=team)
    assert answer.status_code == 200
    assert answer.json == {"run_id": run["id"], "reverted": [cases[0]], "refused": []}


def test_bad_input_and_other_roles(client, team, tokens, cases):
    answer = client.post("/api/v1/migrations/preview", json={"process_id": "remiss"}, headers=team)
    assert answer.status_code == 422 and "target_version" in answer.json["details"]["fields"]
    answer = client.post(
        "/api/v1/migrations/preview",
        json={"process_id": "remiss", "target_version": 9, "from_version": 1},
        headers=team,
    )
    assert answer.status_code == 404
    answer = client.post("/api/v1/migrations/preview", json={"process_id": "remiss", "target_version": 2}, headers=team)
    assert answer.status_code == 400 and "Välj instanser" in answer.json["message"]
    for user in ("vilma", "agnes", "cora"):
        body = {"process_id": "remiss", "target_version": 2, "from_version": 1}
        assert client.post("/api/v1/migrations/preview", json=body, headers=tokens[user]).status_code == 403
        assert client.post("/api/v1/migrations", json=body, headers=tokens[user]).status_code == 403
        assert client.get("/api/v1/migrations", headers=tokens[user]).status_code == 403
    assert client.get("/api/v1/migrations/99", headers=team).status_code == 404


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {
        "/api/v1/migrations",
        "/api/v1/migrations/preview",
        "/api/v1/migrations/{id}",
        "/api/v1/migrations/{id}/revert",
    } <= set(paths)
    assert "PreviewOut" in client.get("/api/v1/openapi.json").json["components"]["schemas"]
