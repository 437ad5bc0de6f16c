"""Documentation-only models render: every MIWG file, imported through the API and downloaded again, is drawn by
bpmn-js (from npm, served by us) in Chromium."""

from __future__ import annotations

from tests.conftest import OWNER
from tests.miwg import EXECUTABLE, miwg_files, vendor_variants

DRAW = """async ([url, token]) => {
    const response = await fetch(url, {headers: {Authorization: 'Bearer ' + token}});
    const xml = await response.text();
    const viewer = new BpmnJS({container: '#canvas'});
    try {
        await viewer.importXML(xml);
        return document.querySelectorAll('#canvas .djs-shape').length;
    } catch (err) {
        return 'fel: ' + err.message;
    } finally {
        viewer.destroy();
    }
}"""


def viewer_page(page, live_server: str, platform) -> str:  # type: ignore[no-untyped-def]
    """A page with bpmn-js's viewer loaded from our server, and an API token of a process owner to fetch with."""
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(session, "agnes", "Agnes", ["process_owner"], [], at=platform.clock.now())
        token = platform.directory.create_token(session, "agnes", at=platform.clock.now())
    page.goto(f"{live_server}/healthz")
    page.set_content('<div id="canvas" style="width:1200px;height:800px"></div>')
    page.add_script_tag(url=f"{live_server}/vendor/bpmn-js/bpmn-viewer.development.js")
    return token


def drawn_shapes(page, live_server: str, token: str, process_id: str, version: int) -> int | str:  # type: ignore[no-untyped-def]
    """How many shapes bpmn-js draws of the stored version as the API gives it back, or its error."""
    url = f"{live_server}/api/v1/definitions/{process_id}/versions/{version}/bpmn"
    return page.evaluate(DRAW, [url, token])  # type: ignore[no-any-return]


def test_every_imported_miwg_model_renders_in_bpmn_js(page, live_server, platform):
    token = viewer_page(page, live_server, platform)
    drawn = {}
    for path in miwg_files():
        result = platform.runtime.deploy(path.read_bytes(), OWNER, filename=path.name, allow_documentation_only=True)
        assert result.executable == (path.name in EXECUTABLE)
        drawn[path.name] = drawn_shapes(page, live_server, token, result.process_id, result.version)
    assert all(isinstance(n, int) and n > 0 for n in drawn.values()), drawn


def test_vendor_exports_stored_as_documentation_render_in_bpmn_js(page, live_server, platform):
    """Issue 15: the exports libxml2 refused (wrong encoding declared, namespace URIs with spaces, only a
    collaboration) are stored as documentation and drawn by bpmn-js like any other."""
    token = viewer_page(page, live_server, platform)
    drawn = {}
    for path in miwg_files()[::3]:
        for kind, xml in vendor_variants(path).items():
            result = platform.runtime.deploy(xml, OWNER, filename=f"{kind}.bpmn", allow_documentation_only=True)
            drawn[f"{path.stem}-{kind}"] = drawn_shapes(page, live_server, token, result.process_id, result.version)
    assert any(k.endswith("collaboration-only") for k in drawn)
    assert all(isinstance(n, int) and n > 0 for n in drawn.values()), drawn
