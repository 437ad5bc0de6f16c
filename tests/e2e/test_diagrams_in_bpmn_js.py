"""Each process diagram opens cleanly in bpmn-js (the viewer Camunda Modeler is built on): zero import warnings, no
shapes on top of each other, and a screenshot under docs/diagrams/ for readers of the documentation."""

from __future__ import annotations

import pytest

from engine.config import PROJECT_ROOT

PROCESSES = ("in_utskrivning", "sip", "mobilt_team")

# Rectangles of every shape and label, and which shapes may overlap by design (containment, a boundary event on its
# host, a label on its own shape).
MEASURE = """async (xml) => {
    const viewer = new BpmnJS({container: '#canvas'});
    const {warnings} = await viewer.importXML(xml);
    const canvas = viewer.get('canvas');
    canvas.zoom(1);
    const registry = viewer.get('elementRegistry');
    const boxes = [];
    for (const el of registry.getAll()) {
        if (el.waypoints || !el.businessObject || el.type === 'bpmn:Process') continue;
        const ancestors = [];
        for (let p = el.parent; p; p = p.parent) ancestors.push(p.id);
        boxes.push({
            id: el.id, type: el.type, label: !!el.labelTarget, owner: el.labelTarget ? el.labelTarget.id : null,
            host: el.host ? el.host.id : null, ancestors,
            x: el.x, y: el.y, w: el.width, h: el.height,
        });
    }
    const inner = canvas.viewbox().inner;
    return {warnings: warnings.map(w => String(w.message || w)), boxes,
            size: {x: inner.x, y: inner.y, w: inner.width, h: inner.height}};
}"""


def overlaps(boxes: list[dict]) -> list[tuple[str, str]]:
    found = []
    containers = {"bpmn:Participant", "bpmn:Lane"}
    shapes = [b for b in boxes if b["type"] not in containers]
    for i, a in enumerate(shapes):
        for b in shapes[i + 1 :]:
            if a["id"] in b["ancestors"] or b["id"] in a["ancestors"]:
                continue  # a shape inside an expanded subprocess
            if a["host"] == b["id"] or b["host"] == a["id"] or a["owner"] == b["id"] or b["owner"] == a["id"]:
                continue
            if a["label"] and b["owner"] and b["owner"] == a["owner"]:
                continue
            if b["label"] and (a["host"] and a["host"] == b["owner"]):
                continue
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > 1 and dy > 1:
                found.append((a["id"], b["id"]))
    return found


@pytest.mark.parametrize("process_id", PROCESSES)
def test_diagram_imports_into_bpmn_js_without_warnings_or_overlapping_shapes(page, live_server, process_id, shots):
    page.goto(f"{live_server}/healthz")
    page.set_content('<div id="canvas" style="width:1600px;height:900px"></div>')
    page.add_script_tag(url=f"{live_server}/vendor/bpmn-js/bpmn-viewer.development.js")
    xml = (PROJECT_ROOT / "processes" / f"{process_id}.bpmn").read_text(encoding="utf-8")
    result = page.evaluate(MEASURE, xml)
    assert result["warnings"] == []
    flow_nodes = [b for b in result["boxes"] if not b["label"] and b["type"].endswith(("Task", "Activity", "Event"))]
    assert len(flow_nodes) > 20
    assert overlaps(result["boxes"]) == []

    # The whole diagram at a readable scale, for docs/diagrams/<process>.png.
    size = result["size"]
    scale = min(1.0, 6000 / size["w"])
    width, height = int(size["w"] * scale) + 40, int(size["h"] * scale) + 40
    page.set_viewport_size({"width": width, "height": height})
    page.set_content(
        f'<body style="margin:0;background:#fff"><div id="canvas" style="width:{width}px;height:{height}px">'
        "</div></body>"
    )
    page.add_script_tag(url=f"{live_server}/vendor/bpmn-js/bpmn-viewer.development.js")
    page.evaluate(
        """async (xml) => { const v = new BpmnJS({container: '#canvas'}); await v.importXML(xml);
                            v.get('canvas').zoom('fit-viewport'); }""",
        xml,
    )
    shot = shots(f"diagrams/{process_id}.png")
    page.locator("#canvas").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
