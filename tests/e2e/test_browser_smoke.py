"""The browser tier works: Debian's Chromium loads a page of ours and bpmn-js (from npm) renders a diagram."""

from __future__ import annotations

from engine.config import PROJECT_ROOT


def test_chromium_loads_bpmn_js_from_our_server_and_renders_a_diagram(page, live_server):
    page.goto(f"{live_server}/healthz")
    assert '"status":"ok"' in page.content().replace(" ", "")
    page.set_content('<div id="canvas" style="width:800px;height:400px"></div>')
    page.add_script_tag(url=f"{live_server}/vendor/bpmn-js/bpmn-viewer.development.js")
    result = page.evaluate(
        """async (xml) => {
            const viewer = new BpmnJS({container: '#canvas'});
            const {warnings} = await viewer.importXML(xml);
            return {warnings: warnings.length, shapes: document.querySelectorAll('.djs-shape').length};
        }""",
        (PROJECT_ROOT / "processes" / "sip.bpmn").read_text(encoding="utf-8"),
    )
    assert result["warnings"] == 0
    assert result["shapes"] > 20
