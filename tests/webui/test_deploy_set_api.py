"""POST /definitions with several `file` fields deploys them as one set, in dependency order (issue 14, point 9)."""

from __future__ import annotations

from io import BytesIO

from tests import diagrams


def test_the_api_deploys_several_files_in_one_request_in_any_order(client, tokens, platform):
    files = [
        (BytesIO(diagrams.call_process("huvud", "del").encode()), "huvud.bpmn"),
        (BytesIO(diagrams.single_task("del", "Delsteg").encode()), "del.bpmn"),
    ]
    response = client.post(
        "/api/v1/definitions?comment=set",
        data={"file": files},
        headers=tokens["agnes"],
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    items = response.get_json()["items"]
    assert [(i["process_id"], i["version"], i["created"]) for i in items] == [("huvud", 1, True), ("del", 1, True)]
    assert not [d for i in items for d in i["diagnostics"] if d["severity"] == "error"]
    assert platform.reports.definition("huvud")["dependencies"] == {"del": items[1]["id"]}


def test_a_rejected_set_stores_nothing(client, tokens, platform):
    files = [
        (BytesIO(diagrams.call_process("huvud", "del").encode()), "huvud.bpmn"),
        (BytesIO(b"<inte-bpmn/>"), "trasig.bpmn"),
    ]
    response = client.post(
        "/api/v1/definitions", data={"file": files}, headers=tokens["agnes"], content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert any("trasig.bpmn" in d["message"] for d in response.get_json()["details"]["diagnostics"])
    assert platform.reports.definitions(None, limit=10, offset=0)["total"] == 0
