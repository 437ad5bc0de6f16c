"""The activity catalogue is generated from the deployed diagrams: the committed docs/activities.md is exactly what
`samflode catalogue` writes, and the page /processer/<id>/aktiviteter shows the same activities."""

from __future__ import annotations

import html

import pytest

from engine.config import PROJECT_ROOT
from engine.features.catalogue_doc import catalogue
from tests.bpmn.conftest import DEPLOY_ORDER
from webui import create_app
from webui.cli import main

DOC = PROJECT_ROOT / "docs" / "activities.md"
DOC_ORDER = ("in_utskrivning", "sip", "mobilt_team")


def test_committed_activity_catalogue_is_what_the_command_generates(
    process_platform, process_settings, monkeypatch, tmp_path
):
    monkeypatch.setenv("DATABASE_URL", process_settings.database_url)
    monkeypatch.setenv("SAMFLODE_SCHEDULER", "off")
    out = tmp_path / "activities.md"
    assert main(["catalogue", *DOC_ORDER, "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8"), (
        "docs/activities.md is stale: run `samflode catalogue in_utskrivning sip mobilt_team --out docs/activities.md`"
    )


@pytest.mark.parametrize("process_id", DEPLOY_ORDER)
def test_catalogue_lists_every_activity_with_its_arbetsbeskrivning(process_platform, process_id):
    reports = process_platform.reports
    definition = reports.definition(process_id)
    cat = catalogue(definition, reports.definition_xml(process_id, definition["version"]))
    own = {
        k
        for k, v in definition["elements"].items()
        if v.get("process") == process_id and v["type"] in ("userTask", "scriptTask", "callActivity", "subProcess")
    }
    assert {a.id for a in cat.activities} == own
    assert [a.number for a in cat.activities] == list(range(1, len(own) + 1))
    for act in cat.activities:
        assert [label for label, _ in act.fields] == ["Mål", "Syfte", "Utförare", "Tidpunkt", "Lagrum och rutin"]


def test_activity_page_renders_the_catalogue_in_swedish_without_signing_in(process_platform):
    client = create_app({"TESTING": True}, platform=process_platform).test_client()
    response = client.get("/processer/in_utskrivning/aktiviteter")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    definition = process_platform.reports.definition("in_utskrivning")
    for act in catalogue(definition, process_platform.reports.definition_xml("in_utskrivning", 1)).activities:
        assert f'id="{act.id}"' in page and act.name in page
    assert '<html lang="sv">' in page and "Mål" in page and "Lagrum och rutin" in page
    assert client.get("/processer/finns_inte/aktiviteter").status_code == 404
