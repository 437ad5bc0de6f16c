"""Import that never fails badly: every MIWG reference file, any common encoding, vendor extensions kept."""

from __future__ import annotations

import io

import pytest

from tests import diagrams
from tests.miwg import EXECUTABLE, miwg_files, vendor_variants


def upload(client, tokens, xml: bytes, query: str = "documentation_only=true", user: str = "agnes"):
    return client.post(
        f"/api/v1/definitions?{query}",
        data=xml,
        headers={**tokens[user], "Content-Type": "application/xml"},
    )


def test_every_miwg_file_imports_and_the_executable_ones_deploy(client, tokens):
    stored: dict[str, tuple[str, int, bytes]] = {}
    executable = set()
    for path in miwg_files():
        xml = path.read_bytes()
        response = upload(client, tokens, xml, f"documentation_only=true&filename={path.name}")
        assert response.status_code in (200, 201), (path.name, response.get_data(as_text=True))
        body = response.get_json()
        if body["executable"]:
            executable.add(path.name)
        else:
            # A documentation-only model says why, element by element where it can.
            assert body["diagnostics"], path.name
            assert all(set(d) == {"element_id", "severity", "message"} for d in body["diagnostics"])
        stored[path.name] = (body["process_id"], body["version"], xml)
    assert executable == EXECUTABLE
    listed = client.get("/api/v1/definitions?limit=500", headers=tokens["vera"]).get_json()
    assert listed["total"] == len(stored)
    by_key = {(d["process_id"], d["version"]): d for d in listed["items"]}
    for name, (process_id, version, xml) in stored.items():
        assert by_key[(process_id, version)]["filename"] == name
        assert by_key[(process_id, version)]["executable"] == (name in EXECUTABLE)
        downloaded = client.get(f"/api/v1/definitions/{process_id}/versions/{version}/bpmn", headers=tokens["vera"])
        assert downloaded.status_code == 200 and downloaded.data == xml, name


def test_miwg_files_that_cannot_run_are_refused_with_reasons_unless_documentation_only(client, tokens):
    for path in miwg_files():
        response = upload(client, tokens, path.read_bytes(), query="comment=utan+val")
        if path.name in EXECUTABLE:
            assert response.status_code == 201, path.name
            continue
        assert response.status_code == 422, (path.name, response.status_code)
        body = response.get_json()
        assert body["error"] == "deploy_rejected" and body["details"]["diagnostics"], path.name
    assert client.get("/api/v1/definitions", headers=tokens["vera"]).get_json()["total"] == len(EXECUTABLE)


def test_documentation_only_can_be_chosen_in_a_multipart_upload(client, tokens):
    xml = diagrams.single_task("bara_bild", "Rita").replace('isExecutable="true"', 'isExecutable="false"').encode()
    response = client.post(
        "/api/v1/definitions",
        data={"file": (io.BytesIO(xml), "bild.bpmn"), "comment": "som bild", "documentation_only": "true"},
        headers=tokens["agnes"],
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["process_id"], body["executable"]) == ("bara_bild", False)
    listed = client.get("/api/v1/definitions", headers=tokens["vera"]).get_json()["items"][0]
    assert (listed["comment"], listed["filename"]) == ("som bild", "bild.bpmn")


def test_documentation_only_must_be_a_boolean(client, tokens):
    response = upload(client, tokens, diagrams.single_task("p").encode(), query="documentation_only=kanske")
    assert response.status_code == 400
    assert "documentation_only" in response.get_json()["details"]["fields"]


def test_a_documentation_only_model_cannot_be_started(client, tokens):
    xml = diagrams.single_task("bara_bild").replace('isExecutable="true"', 'isExecutable="false"').encode()
    assert upload(client, tokens, xml).status_code == 201
    response = client.post(
        "/api/v1/instances",
        json={"process_id": "bara_bild", "business_key": "x", "data": {}},
        headers=tokens["journal"],
    )
    assert response.status_code == 404, response.get_data(as_text=True)
    assert set(response.get_json()) - {"message_template", "message_params"} == {"error", "message", "details"}


def _declared(label: str) -> str:
    return diagrams.single_task("kodning", "Kontakta närstående").replace('encoding="UTF-8"', f'encoding="{label}"')


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("utf-8", _declared("UTF-8").encode("utf-8")),
        ("utf-8 with BOM", _declared("UTF-8").encode("utf-8-sig")),
        ("utf-16 LE with BOM", _declared("UTF-16").encode("utf-16")),
        ("utf-16 BE with BOM", b"\xfe\xff" + _declared("UTF-16").encode("utf-16-be")),
        ("iso-8859-1", _declared("ISO-8859-1").encode("iso-8859-1")),
        (
            "iso-8859-1 without declaration",
            diagrams.single_task("kodning", "Kontakta närstående").split("\n", 1)[1].encode("iso-8859-1"),
        ),
    ],
)
def test_encodings_import_and_the_stored_file_is_the_uploaded_one(client, tokens, label, data):
    response = upload(client, tokens, data, query="")
    assert response.status_code == 201, (label, response.get_data(as_text=True))
    assert response.get_json()["executable"] is True
    definition = client.get("/api/v1/definitions?process_id=kodning", headers=tokens["vera"]).get_json()["items"][0]
    assert definition["name"] is None or "�" not in definition["name"]
    downloaded = client.get("/api/v1/definitions/kodning/versions/1/bpmn", headers=tokens["vera"])
    assert downloaded.data == data


VENDOR = diagrams.linear(
    "leverantor",
    """
  <bpmn:startEvent id="start" />
  <bpmn:userTask id="gora" name="Göra" camunda:assignee="demo" signavio:x="1">
    <bpmn:extensionElements>
      <camunda:properties><camunda:property name="prio" value="hög" /></camunda:properties>
      <signavio:signavioMetaData metaKey="bgcolor" metaValue="#ffffcc" />
      <samflode:properties><samflode:property name="mal" value="Allt klart" /></samflode:properties>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:endEvent id="end" />
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gora" />
  <bpmn:sequenceFlow id="f2" sourceRef="gora" targetRef="end" />""",
).replace(
    "<bpmn:definitions ",
    '<bpmn:definitions xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:signavio="http://www.signavio.com" ',
)


def test_vendor_extensions_are_ignored_and_kept_on_round_trip(client, tokens, platform):
    response = upload(client, tokens, VENDOR.encode(), query="")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["executable"] is True
    downloaded = client.get("/api/v1/definitions/leverantor/versions/1/bpmn", headers=tokens["vera"]).data
    assert downloaded == VENDOR.encode()
    assert b"signavio:signavioMetaData" in downloaded and b'camunda:assignee="demo"' in downloaded
    assert platform.reports.definition("leverantor")["elements"]["gora"]["properties"] == {"mal": "Allt klart"}


def test_vendor_exports_that_libxml2_refuses_import_as_documentation_as_bpmn_js_opens_them(client, tokens):
    """Issue 15: a wrongly declared encoding, a namespace URI with spaces and a file with only a collaboration,
    made from every MIWG reference file: the check says what was read how, and each is stored as a documentation
    model; none is refused. A variant that says the same as one stored just before (only the bytes or an unused
    namespace differ) is that version, not a new one."""
    kinds: dict[str, int] = {}
    for path in miwg_files():
        stored: dict[tuple[str, int], bytes] = {}
        for kind, xml in vendor_variants(path).items():
            name = f"{path.stem}-{kind}.bpmn"
            checked = client.post(
                "/api/v1/definitions/check", data=xml, headers={**tokens["agnes"], "Content-Type": "application/xml"}
            )
            assert checked.status_code == 200, (name, checked.get_data(as_text=True))
            messages = " ".join(d["message"] for d in checked.get_json()["diagnostics"])
            if kind in ("latin1-declared-utf8", "unknown-encoding"):
                assert "Filen anger kodningen" in messages, (name, messages)
            elif kind == "namespace-with-spaces":
                assert "innehåller mellanslag" in messages, (name, messages)
            else:
                assert "bara samarbete" in messages, (name, messages)
            response = upload(client, tokens, xml, f"documentation_only=true&filename={name}")
            assert response.status_code in (200, 201), (name, response.get_data(as_text=True))
            body = response.get_json()
            key = (body["process_id"], body["version"])
            if body["created"]:
                stored[key] = xml
            else:
                assert kind in ("unknown-encoding", "namespace-with-spaces") and key in stored, name
            assert kind != "collaboration-only" or body["executable"] is False
            downloaded = client.get(
                f"/api/v1/definitions/{body['process_id']}/versions/{body['version']}/bpmn", headers=tokens["vera"]
            )
            assert downloaded.data == stored[key], name
            kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds["collaboration-only"] >= 10 and kinds["namespace-with-spaces"] == len(miwg_files())
    refused = upload(client, tokens, vendor_variants(miwg_files()[5])["collaboration-only"], "comment=x")
    assert refused.status_code == 422  # without documentation_only a drawing is not deployed
