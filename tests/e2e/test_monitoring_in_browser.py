# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)
"""Issue 6 end to end in Chromium: the coordinator opens the instance list, opens Esther's case and sees the active
step highlighted on the diagram (bpmn-js from npm), opens a case stopped by an incident at a gateway, retries it with
corrected data and a reason and sees the token move on; the heat map of in_utskrivning. Saves
docs/screenshots/monitoring-*.png under `make screenshots`."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from engine.domain.actors import SYSTEM_ACTOR
from tests import diagrams
from tests.conftest import OWNER, instance_view
from tests.e2e.conftest import sign_in
from tests.webui.staff import advance_ward, demo  # noqa: F401  (fixture)

ESTHER = 1
# Where each element of diagrams.gateway_process is drawn (x, y, width, height), so that bpmn-js can show it.
SHAPES = {
    "start": (100, 142, 36, 36),
    "bedom": (190, 120, 120, 80),
    "gw": (370, 135, 50, 50),
    "ja": (480, 40, 120, 80),
    "nej": (480, 220, 120, 80),
    "end1": (662, 62, 36, 36),
    "end2": (662, 242, 36, 36),
}
FLOWS = {
    "f1": ("start", "bedom"),
    "f2": ("bedom", "gw"),
    "f_ja": ("gw", "ja"),
    "f_nej": ("gw", "nej"),
    "f3": ("ja", "end1"),
    "f4": ("nej", "end2"),
}


def with_diagram(xml: str) -> str:
    """A diagrams.gateway_process document with its BPMN DI (shapes and edges) added."""

    def waypoints(a: str, b: str) -> list[tuple[int, int]]:
        ax, ay, aw, ah = SHAPES[a]
        bx, by, bw, bh = SHAPES[b]
        start, end = (ax + aw, ay + ah // 2), (bx, by + bh // 2)
        if start[1] == end[1]:
            return [start, end]
        return [(ax + aw // 2, ay if end[1] < start[1] else ay + ah), (ax + aw // 2, end[1]), end]

    shapes = "".join(
        f'<bpmndi:BPMNShape id="{key}_di" bpmnElement="{key}"><dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}" />'
        "</bpmndi:BPMNShape>"
        for key, (x, y, w, h) in SHAPES.items()
    )
    edges = "".join(
        f'<bpmndi:BPMNEdge id="{key}_di" bpmnElement="{key}">'
        + "".join(f'<di:waypoint x="{x}" y="{y}" />' for x, y in waypoints(a, b))
        + "</bpmndi:BPMNEdge>"
        for key, (a, b) in FLOWS.items()
    )
    namespaces = (
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    )
    diagram = (
        f'<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="bedomning">{shapes}{edges}'
        "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"
    )
    xml = xml.replace("<bpmn:definitions ", "<bpmn:definitions " + namespaces, 1)
    return xml.replace("</bpmn:definitions>", diagram + "</bpmn:definitions>")


def marker(page, element_id: str) -> str:  # type: ignore[no-untyped-def]
    return page.locator(f'#diagram [data-element-id="{element_id}"]').first.get_attribute("class") or ""


def test_the_coordinator_sees_the_active_step_and_retries_an_incident(page, demo_server, demo, shots):
    demo.clock.advance(timedelta(hours=2))
    advance_ward(demo, ESTHER)
    demo.runtime.deploy(with_diagram(diagrams.gateway_process("bedomning", "svar == 'ja'", default=False)), OWNER)
    case = {
        "namn": "Esther Andersson",
        "personnummer": "19380312-2385",
        "vardtillfalle_id": "VT-E2E",
        "kommun": "Eksjö",
        "avdelning_hsa_id": "SE2321000057-HSMEDGER",  # a ward of Cora's region: hers to oversee
    }
    broken = demo.runtime.start_instance("bedomning", "19380312-2385/VT-E2E", case, SYSTEM_ACTOR)
    task = instance_view(demo, broken, SYSTEM_ACTOR)["active_tasks"][0]["id"]
    demo.runtime.complete_task(task, {"svar": "kanske"}, SYSTEM_ACTOR)
    assert instance_view(demo, broken, SYSTEM_ACTOR)["status"] == "incident"

    sign_in(page, demo_server, "cora")
    page.get_by_role("link", name="Övervakning").click()
    page.wait_for_url(f"{demo_server}/overvakning")
    incident_row = page.get_by_role("row").filter(has_text=f"#{broken}")
    assert "Incident" in incident_row.inner_text()
    page.screenshot(path=str(shots("screenshots/monitoring-list.png")), full_page=True)

    # Esther's discharge case: the ward's next task is highlighted as active, the steps done are marked completed.
    page.goto(f"{demo_server}/overvakning/instans/{ESTHER}")
    page.wait_for_selector('#diagram[data-ready="true"]')
    active = instance_view(demo, ESTHER, SYSTEM_ACTOR)["active_tasks"]
    assert active and all(
        "sf-active" in marker(page, t["element_id"]) or "sf-overdue" in marker(page, t["element_id"]) for t in active
    )
    completed = [
        h["element_id"] for h in instance_view(demo, ESTHER, SYSTEM_ACTOR)["history"] if h["kind"] == "task_completed"
    ]
    assert completed and "sf-completed" in marker(page, completed[0])
    # The diagram opens on where the case stands; clicking the active step shows its history.
    page.locator(f'#diagram [data-element-id="{active[0]["element_id"]}"]').first.click()
    assert "Uppgift skapad" in page.locator("#element-history").inner_text()
    page.screenshot(path=str(shots("screenshots/monitoring-instance.png")), full_page=True)

    # The case stopped at the gateway: the incident is marked; a retry with corrected data moves it on.
    page.goto(f"{demo_server}/overvakning/instans/{broken}")
    page.wait_for_selector('#diagram[data-ready="true"]')
    assert "sf-incident" in marker(page, "gw")
    aside = page.locator("aside").inner_text()
    assert "Inget av grindens villkor var sant" in aside and "svar == 'ja'" in aside  # in words, with the expression
    # The retry is a form of the case's fields, the ones the conditions read first (not raw JSON).
    page.get_by_label("svar (lästes av uttrycket)").fill("ja")
    page.locator("#retry-reason").fill("Bedömningen var ja enligt journalen")
    page.screenshot(path=str(shots("screenshots/monitoring-incident.png")), full_page=True)
    page.get_by_role("button", name="Försök igen").click()
    page.get_by_text("Instansen försökte igen.").wait_for()
    page.wait_for_selector('#diagram[data-ready="true"]')
    assert "sf-active" in marker(page, "ja") and "sf-incident" not in marker(page, "gw")
    assert "Bedömningen var ja enligt journalen" in page.locator(".timeline-table").inner_text()
    assert instance_view(demo, broken, SYSTEM_ACTOR)["status"] == "running"

    # The heat map of the discharge process: coloured overlays and the figures' definitions.
    page.goto(f"{demo_server}/overvakning/process/in_utskrivning/varmekarta")
    page.wait_for_selector('#diagram[data-ready="true"]')
    assert page.locator("#diagram .heat-cell").count() > 0
    assert "Så räknas siffrorna" in page.locator("main").inner_text()
    page.screenshot(path=str(shots("screenshots/monitoring-heatmap.png")), full_page=True)


def test_the_coordinator_moves_a_token_by_clicking_the_diagram(page, demo_server, demo, shots):
    """Issue 15: the target of a move is picked on the diagram; a move the engine refuses is explained with the
    elements' names."""
    demo.runtime.deploy(with_diagram(diagrams.gateway_process("bedomning", "svar == 'ja'", default=False)), OWNER)
    case = {
        "namn": "Esther Andersson",
        "personnummer": "19380312-2385",
        "vardtillfalle_id": "VT-MOVE",
        "kommun": "Eksjö",
        "avdelning_hsa_id": "SE2321000057-HSMEDGER",
    }
    iid = demo.runtime.start_instance("bedomning", "19380312-2385/VT-MOVE", case, SYSTEM_ACTOR)
    sign_in(page, demo_server, "cora")
    page.goto(f"{demo_server}/overvakning/instans/{iid}")
    page.wait_for_selector('#diagram[data-ready="true"]')
    page.click("#move-pick")
    page.locator('#diagram [data-element-id="f_ja"]').first.click(force=True)  # a flow: not a target, said why
    expect(page.locator("#move-pick-status")).to_contain_text("kan inte vara mål")
    page.locator('#diagram .djs-element[data-element-id="ja"]').first.click()
    expect(page.locator("#move-to")).to_have_value("ja")
    assert "sf-move-target" in marker(page, "ja")
    assert page.input_value("#move-from") == "bedom"
    page.locator("#move-reason").fill("Bedömningen gjordes per telefon")
    page.screenshot(path=str(shots("screenshots/monitoring-move.png")), full_page=True)
    page.get_by_role("button", name="Flytta", exact=True).click()
    page.get_by_text("Token flyttad från Bedöm till Ja.").wait_for()
    page.wait_for_selector('#diagram[data-ready="true"]')
    assert "sf-active" in marker(page, "ja")
    assert [t["element_id"] for t in instance_view(demo, iid, SYSTEM_ACTOR)["active_tasks"]] == ["ja"]

    # Onto the other branch: refused, and the refusal names the elements.
    page.click("#move-pick")
    page.locator('#diagram .djs-element[data-element-id="nej"]').first.click()
    expect(page.locator("#move-to")).to_have_value("nej")
    page.locator("#move-reason").fill("Fel gren")
    page.get_by_role("button", name="Flytta", exact=True).click()
    expect(page.locator("#err-move")).to_contain_text("«Nej» nås inte från «Ja»")
    assert [t["element_id"] for t in instance_view(demo, iid, SYSTEM_ACTOR)["active_tasks"]] == ["ja"]
