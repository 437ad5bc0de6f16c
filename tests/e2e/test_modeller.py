"""The modeller page in Chromium: open a deployed version, rename a task, see a finding on an element, fix it,
deploy version 2 with a comment, and see the diff. Screenshots go to docs/screenshots/."""

from __future__ import annotations

from tests.conftest import OWNER, fixture_bytes


def test_modeller_edits_checks_and_deploys_a_new_version_and_shows_the_diff(page, live_server, platform, shots):
    platform.runtime.deploy(fixture_bytes("with_diagram.bpmn"), OWNER, comment="Första versionen")
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(session, "agnes", "Agnes", ["process_owner"], [], at=platform.clock.now())
        token = platform.directory.create_token(session, "agnes", at=platform.clock.now())

    page.goto(f"{live_server}/static/modeller/index.html")
    page.fill("#token", token)
    page.fill("#process-id", "with_diagram")
    page.click("#load-versions")
    page.wait_for_selector("#version option", state="attached")
    assert "Första versionen" in page.inner_text("#version")
    page.click("#open")
    page.wait_for_selector('body[data-opened="with_diagram:1"]', state="attached")

    # Rename a task through the side panel.
    page.click('.djs-element[data-element-id="planera"]')
    page.fill("#element-name", "Planera alla insatser")
    page.press("#element-name", "Tab")
    assert page.evaluate("() => window.samflodeModeler.get('elementRegistry').get('planera').businessObject.name") == (
        "Planera alla insatser"
    )

    # A task dropped on the canvas without flows: the check marks it on the diagram.
    stray = page.evaluate(
        """() => {
            const m = window.samflodeModeler;
            const shape = m.get('elementFactory').createShape({type: 'bpmn:UserTask'});
            const pool = m.get('elementRegistry').get('pool');
            m.get('modeling').createShape(shape, {x: 700, y: 125}, pool);
            m.get('modeling').updateLabel(shape, 'Lösryckt uppgift');
            return shape.id;
        }"""
    )
    page.click("#check")
    page.wait_for_selector(f'.finding-overlay[data-element-id="{stray}"]')
    assert "kan inte nås" in page.inner_text(f'#findings li[data-element-id="{stray}"]')
    page.screenshot(path=str(shots("screenshots/modeller-finding.png")))

    # Fix it (remove the stray task) and check again: nothing left on it.
    page.evaluate(
        """(id) => {
            const m = window.samflodeModeler;
            m.get('modeling').removeElements([m.get('elementRegistry').get(id)]);
        }""",
        stray,
    )
    page.click("#check")
    page.wait_for_selector(f'.finding-overlay[data-element-id="{stray}"]', state="detached")
    assert page.inner_text("#check-summary").startswith("0 fel")

    page.fill("#comment", "Tydligare namn på planeringen")
    page.click("#deploy")
    page.wait_for_selector('body[data-deployed="with_diagram:2"]')
    assert "version 2" in page.inner_text("#deploy-result")
    page.wait_for_selector('#diff li.changed[data-element-id="planera"]')
    diff_text = page.inner_text("#diff")
    assert "name: Planera insatser → Planera alla insatser" in diff_text
    assert stray not in diff_text and "Lösryckt" not in diff_text
    page.screenshot(path=str(shots("screenshots/modeller-diff.png")))

    versions = platform.reports.versions("with_diagram")
    assert [(v["version"], v["comment"]) for v in versions] == [
        (2, "Tydligare namn på planeringen"),
        (1, "Första versionen"),
    ]
    assert platform.reports.definition("with_diagram")["elements"]["planera"]["properties"] == {
        "due": "PT24H",
        "mal": "Alla parter vet vad som ska göras",
    }
