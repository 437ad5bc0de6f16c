# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""htmx comes from npm, pinned in package.json, served from node_modules under /vendor; pages carry the CSRF token
for htmx requests in a header."""

from __future__ import annotations

import json

from engine.config import PROJECT_ROOT
from engine.domain.actors import SYSTEM_ACTOR
from tests.conftest import task_list
from tests.webui.staff import csrf_of, demo, demo_app, sign_in  # noqa: F401  (fixtures)


def test_htmx_is_pinned_and_served_from_node_modules(demo_app):
    pinned = json.loads((PROJECT_ROOT / "package.json").read_text())["dependencies"]["htmx.org"]
    installed = json.loads((PROJECT_ROOT / "node_modules" / "htmx.org" / "package.json").read_text())["version"]
    assert pinned == installed and pinned[0].isdigit()  # exact, no range
    response = demo_app.test_client().get("/vendor/htmx.org/htmx.min.js")
    assert response.status_code == 200 and b"htmx" in response.data
    response.close()


def test_pages_load_htmx_and_send_the_csrf_token_as_a_header(demo_app, demo):
    vera = sign_in(demo_app, "vera")
    html = vera.get("/arbetslista").get_data(as_text=True)
    assert 'src="/vendor/htmx.org/htmx.min.js"' in html
    token = csrf_of(html)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in html
    task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == 1)
    response = vera.post(f"/uppgifter/{task['id']}/ta", headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert response.status_code == 200 and "Du har tagit uppgiften." in response.get_data(as_text=True)
