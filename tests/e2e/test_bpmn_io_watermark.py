"""bpmn-js's licence (node_modules/bpmn-js/LICENSE, NOTICE) asks that the bpmn.io watermark on rendered diagrams
stay fully visible and not be overlapped by other elements: the modeller keeps it (issue 17)."""

from __future__ import annotations

import pytest

from tests.conftest import OWNER, fixture_bytes
from tests.e2e.test_modeller import owner_server, sign_in  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.browser


def test_the_modeller_shows_the_bpmn_io_watermark_unobstructed(page, owner_server, platform):  # noqa: F811
    platform.runtime.deploy(fixture_bytes("with_diagram.bpmn"), OWNER)
    sign_in(page, owner_server)
    page.goto(f"{owner_server}/modellera?process=with_diagram&version=1")
    page.wait_for_selector('#modeller[data-opened="with_diagram:1"]', state="attached")
    mark = page.locator(".bjs-powered-by").first
    mark.wait_for(state="visible")
    mark.scroll_into_view_if_needed()
    box = mark.bounding_box()
    assert box is not None and box["width"] > 10 and box["height"] > 10
    assert mark.get_attribute("href") in ("https://bpmn.io", "http://bpmn.io")
    # Nothing lies over it: the element at its centre is the watermark or a part of it.
    on_top = page.evaluate(
        """([x, y]) => {
            const hit = document.elementFromPoint(x, y);
            if (!hit) return null;
            return hit.closest(".bjs-powered-by") ? true : hit.outerHTML.slice(0, 300);
        }""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top is True, on_top
    style = mark.evaluate("e => { const s = getComputedStyle(e); return [s.visibility, s.opacity, s.display]; }")
    assert style[0] == "visible" and float(style[1]) > 0.5 and style[2] != "none"


def test_no_stylesheet_of_ours_hides_the_watermark():
    from engine.config import PROJECT_ROOT

    ours = [
        p
        for folder in ("webui/static", "webui/templates", "webui/frontend")
        for p in (PROJECT_ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in (".css", ".html", ".js") and "build" not in p.parts
    ]
    assert ours
    assert not [p for p in ours if "bjs-powered-by" in p.read_text(encoding="utf-8", errors="replace")]
