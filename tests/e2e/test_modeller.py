"""The modeller staff page in Chromium (issue 7): a process owner signs in, opens version 1, renames a task and
changes its deadline through the properties panel, adds a timer whose expression the check refuses (a finding drawn
on the element), fixes it through the panel, deploys version 2 and sees the diff on the diagram and as a list. The
work is autosaved as a draft while editing and the draft is gone after the deploy. The round trip: what the modeller
exported is, after deploy and download, the same in meaning (same elements, same extension properties), and opening
the downloaded file and exporting it again changes nothing either. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.bpmn.flows import sequence_flows
from engine.bpmn.parsing import parse_document
from engine.commands.accounts import Accounts
from engine.commands.drafts import Drafts
from engine.config import PROJECT_ROOT
from engine.platform import Platform
from tests.conftest import OWNER, fixture_bytes
from tests.e2e.conftest import serving
from tests.webui.staff import FAST_HASHER
from webui import create_app

PASSWORD = "modell-lösenord-1"


@pytest.fixture
def owner_server(platform: Platform) -> Iterator[str]:
    bundle = PROJECT_ROOT / "webui" / "static" / "build" / "modeller.js"
    assert bundle.is_file(), "the modeller's front end is not built: run `make setup` (npm ci, npm run build)"
    app = create_app({"TESTING": True}, platform=platform)
    accounts = Accounts(platform.db, platform.clock, platform.directory, FAST_HASHER)
    app.extensions["samflode_accounts"] = accounts
    with platform.db.unit_of_work() as session:
        platform.directory.create_user(session, "agnes", "Agnes", ["process_owner"], [], at=platform.clock.now())
    accounts.set_password("agnes", PASSWORD)
    with serving(app) as url:
        yield url


def meaning(xml: bytes | str) -> dict[str, object]:
    """What a diagram means to the platform: its elements with their metadata and extension properties, its
    sequence flows with their conditions."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    doc = parse_document(raw)
    assert doc.main is not None
    return {
        "elements": {key: info.as_dict() for key, info in doc.main.elements.items()},
        "flows": sequence_flows(raw),
    }


def sign_in(page, base: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/modellera")  # not signed in: to the sign-in page, and back after it
    page.get_by_label("Användarnamn").fill("agnes")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(f"{base}/modellera")


def test_process_owner_edits_in_the_panel_checks_deploys_and_sees_the_diff(page, owner_server, platform, shots):
    platform.runtime.deploy(fixture_bytes("with_diagram.bpmn"), OWNER, comment="Första versionen")
    base = owner_server
    sign_in(page, base)
    page.wait_for_selector('#modeller[data-ready="true"]', state="attached")
    assert page.locator("#token").count() == 0  # no API-key box: the page uses the session
    assert page.get_attribute(".djs-palette .entry.bpmn-icon-start-event-none", "aria-label") == "Skapa starthändelse"
    page.select_option("#process-id", "with_diagram")
    page.click("#open")
    page.wait_for_selector('#modeller[data-opened="with_diagram:1"]', state="attached")

    # Rename the task and change its deadline through the properties panel.
    page.click('.djs-element[data-element-id="planera"]')
    page.fill("#bio-properties-panel-name", "Planera alla insatser")
    page.press("#bio-properties-panel-name", "Tab")
    due = page.locator("#bio-properties-panel-samflode-due")
    expect(due.locator("option:checked")).to_have_text("Egen varaktighet (ISO 8601)")
    expect(page.locator("#bio-properties-panel-samflode-due-custom")).to_have_value("PT24H")
    # Next working day before 12:00, as an agreement may count it:
    expect(due.locator('option[value="svar_nasta_vardag"]')).to_have_text(
        "svar_nasta_vardag – nationell: P1D vardagar från att uppgiften skapas, senast kl. 12:00 den dagen"
    )
    due.select_option("kallelse_sip")
    description = page.locator('[data-entry-id="samflode-due"] .bio-properties-panel-description')
    expect(description).to_contain_text("nationell: P3D kalenderdagar")
    expect(description).to_contain_text("jonkoping: P2D vardagar")
    expect(page.locator('[data-entry-id="samflode-role"]')).to_contain_text(
        "Körfältet Slutenvård ger rollerna: vardplanerare (Vårdplanerare)"
    )
    page.select_option("#bio-properties-panel-samflode-form", "registrera")
    page.fill("#bio-properties-panel-samflode-doc-syfte", "Insatserna är klara före hemgång")
    page.press("#bio-properties-panel-samflode-doc-syfte", "Tab")
    page.evaluate(  # the panel from its top for the picture: form, role and deadline
        "() => document.querySelector('#properties .bio-properties-panel-scroll-container').scrollTop = 0"
    )
    page.screenshot(path=str(shots("screenshots/modeller-panel.png")))

    # A timer on the follow-up task, with an expression that is neither ISO 8601 nor an expression.
    timer = page.evaluate(
        """() => {
            const m = window.samflodeModeler;
            const registry = m.get('elementRegistry');
            const host = registry.get('folj_upp');
            const shape = m.get('elementFactory').createShape(
                {type: 'bpmn:BoundaryEvent', eventDefinitionType: 'bpmn:TimerEventDefinition'});
            const created = m.get('modeling').createShape(shape, {x: host.x + 50, y: host.y + host.height},
                host, {attach: true});
            m.get('modeling').updateLabel(created, 'Påminnelse');
            m.get('modeling').connect(created, registry.get('end'));
            return created.id;
        }"""
    )
    page.click(f'.djs-element[data-element-id="{timer}"]')
    page.select_option("#bio-properties-panel-timerEventDefinitionType", "timeDuration")
    page.fill("#bio-properties-panel-timerEventDefinitionValue", "P3X")
    page.press("#bio-properties-panel-timerEventDefinitionValue", "Tab")
    page.click("#check")
    page.wait_for_selector(f'.finding-overlay.error[data-element-id="{timer}"]')
    assert "varken giltig ISO 8601" in page.inner_text(f'#findings li[data-element-id="{timer}"]')
    page.screenshot(path=str(shots("screenshots/modeller-finding.png")))

    # Fix it in the panel with an agreed deadline, check again: nothing left.
    page.select_option("#bio-properties-panel-samflode-timer-deadline", "inskrivningsmeddelande")
    expect(page.locator("#bio-properties-panel-timerEventDefinitionValue")).to_have_value(
        "deadline('inskrivningsmeddelande')"
    )
    page.click("#check")
    page.wait_for_selector(f'#findings li:not(.lint)[data-element-id="{timer}"]', state="detached")
    assert page.inner_text("#check-summary").startswith("0 fel")  # the server's check; bpmnlint's follow

    # The edits were autosaved as agnes' draft.
    page.wait_for_selector('#drafts li[data-process-id="with_diagram"]')
    drafts = Drafts(platform.db, platform.clock, platform.policy, platform.settings.max_upload_bytes)
    [saved] = drafts.list(OWNER)
    assert saved["process_id"] == "with_diagram" and saved["base_version"] == 1
    assert "Planera alla insatser" in drafts.get(OWNER, saved["id"])["xml"]

    exported = page.evaluate("async () => (await window.samflodeModeler.saveXML({format: true})).xml")
    page.click("#deploy")  # without a comment: asked for one, nothing deployed
    expect(page.locator("#deploy-result")).to_have_text("Skriv en kommentar: vad ändrades och varför?")
    page.fill("#comment", "Tydligare namn och avtalad tidsfrist")
    page.click("#deploy")
    expect(page.locator("#deploy-confirm-text")).to_contain_text("Versionen som nya fall startar på ändras inte")
    page.click("#deploy-confirm-yes")
    page.wait_for_selector('#modeller[data-deployed="with_diagram:2"]', state="attached")
    assert "version 2" in page.inner_text("#deploy-result")
    assert "Nya fall startar fortfarande på version 1" in page.inner_text("#deploy-result")
    page.wait_for_selector('#diff li.changed[data-element-id="planera"]')
    diff_text = page.inner_text("#diff")
    assert "namn: Planera insatser → Planera alla insatser" in diff_text
    assert "due: PT24H → kallelse_sip" in diff_text
    assert "form: – → registrera" in diff_text
    assert "Tillagt: Påminnelse" in diff_text
    assert "Nytt flöde: (Påminnelse → Klart)" in diff_text
    assert page.locator('.djs-element.diff-changed[data-element-id="planera"]').count() == 1
    assert page.locator(f'.djs-element.diff-added[data-element-id="{timer}"]').count() == 1
    page.click("#canvas .djs-container svg", position={"x": 600, "y": 600})  # deselect: the diff list in full
    page.locator("#diff li").last.scroll_into_view_if_needed()
    page.screenshot(path=str(shots("screenshots/modeller-diff.png")))
    assert drafts.list(OWNER) == []  # discarded after the deploy
    versions = platform.reports.versions("with_diagram")
    assert [(v["version"], v["comment"]) for v in versions] == [
        (2, "Tydligare namn och avtalad tidsfrist"),
        (1, "Första versionen"),
    ]

    # Round trip: deployed and downloaded, the diagram means what the modeller exported...
    downloaded = platform.reports.definition_xml("with_diagram", 2)
    assert meaning(downloaded) == meaning(exported)
    props = meaning(downloaded)["elements"]["planera"]["properties"]  # type: ignore[index]
    assert props == {
        "due": "kallelse_sip",
        "form": "registrera",
        "mal": "Alla parter vet vad som ska göras",
        "syfte": "Insatserna är klara före hemgång",
    }
    # ...and opened in the modeller and exported again it still does.
    again = page.evaluate(
        """async (xml) => {
            const m = window.samflodeModeler;
            await m.importXML(xml);
            return (await m.saveXML({format: true})).xml;
        }""",
        downloaded.decode("utf-8"),
    )
    assert meaning(again) == meaning(downloaded)
    # Everything version 1 said that was not changed is still there.
    before = meaning(fixture_bytes("with_diagram.bpmn"))["elements"]
    after = meaning(downloaded)["elements"]
    assert set(before) <= set(after)  # type: ignore[arg-type]
    assert after["folj_upp"] == before["folj_upp"]  # type: ignore[index]

    # A link straight to a version opens it.
    page.goto(f"{base}/modellera?process=with_diagram&version=1")
    page.wait_for_selector('#modeller[data-opened="with_diagram:1"]', state="attached")
    assert page.input_value("#version") == "1"


def test_the_old_static_address_leads_to_the_staff_page(page, owner_server):
    page.goto(f"{owner_server}/static/modeller/index.html")
    assert page.url == f"{owner_server}/logga-in?next=/modellera"
    assert page.get_by_label("Användarnamn").count() == 1


def test_a_file_from_another_tool_is_uploaded_kept_as_a_draft_reopened_and_deployed(
    page, owner_server, platform, tmp_path
):
    base = owner_server
    # Exported elsewhere in ISO-8859-1 (as some tools still write): the page decodes it by its XML declaration.
    text = (
        fixture_bytes("with_diagram.bpmn")
        .decode("utf-8")
        .replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
        .replace("with_diagram", "fran_camunda")
        .replace('name="Med diagram"', 'name="Från Camunda Modeler"')
    )
    upload = tmp_path / "fran_camunda.bpmn"
    upload.write_bytes(text.encode("iso-8859-1"))
    sign_in(page, base)
    page.wait_for_selector('#modeller[data-ready="true"]', state="attached")
    page.set_input_files("#upload", str(upload))
    page.wait_for_selector('#modeller[data-opened^="fran_camunda:"]', state="attached")
    # Waits through selectors, not evaluated script: the pages' Content-Security-Policy forbids eval.
    expect(page.locator("#check-summary")).to_contain_text("kan köras")
    assert not page.is_checked("#documentation-only")
    assert page.evaluate("() => window.samflodeModeler.get('elementRegistry').get('pool').businessObject.name") == (
        "Från Camunda Modeler"
    )
    page.wait_for_selector('#drafts li[data-process-id="fran_camunda"]')

    # A closed tab loses nothing: the draft is on the server and opens again.
    page.reload()
    page.wait_for_selector('#modeller[data-ready="true"]', state="attached")
    page.click('#drafts li[data-process-id="fran_camunda"] .open-draft')
    page.wait_for_selector('#modeller[data-opened="fran_camunda::utkast"]', state="attached")
    page.fill("#comment", "Från Camunda Modeler")
    page.click("#deploy")
    page.click("#deploy-confirm-yes")
    page.wait_for_selector('#modeller[data-deployed="fran_camunda:1"]', state="attached")
    assert platform.reports.versions("fran_camunda")[0]["executable"] is True
    page.wait_for_selector('#drafts li:has-text("Inga sparade utkast")')

    # A drawing that cannot run: the check says so, and it is stored as a documentation-only model.
    drawing = tmp_path / "ritning.bpmn"
    drawing.write_bytes(
        fixture_bytes("with_diagram.bpmn").replace(b"with_diagram", b"ritning").replace(b'"true"', b'"false"')
    )
    page.set_input_files("#upload", str(drawing))
    expect(page.locator("#check-summary")).to_contain_text("kan inte köras")
    assert page.is_checked("#documentation-only")
    page.click("#deploy")
    page.click("#deploy-confirm-yes")
    page.wait_for_selector('#modeller[data-deployed="ritning:1"]', state="attached")
    assert "dokumentationsmodell" in page.inner_text("#deploy-result")
    [version] = platform.reports.versions("ritning")
    assert version["executable"] is False and version["filename"] == "ritning.bpmn"

    # Dropped on the diagram instead of chosen in the file field: the same.
    dropped = fixture_bytes("with_diagram.bpmn").replace(b"with_diagram", b"slappt").decode("utf-8")
    files = page.evaluate_handle(
        """(xml) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([xml], 'slappt.bpmn', {type: 'application/xml'}));
            return transfer;
        }""",
        dropped,
    )
    page.dispatch_event("#canvas", "drop", {"dataTransfer": files})
    page.wait_for_selector('#modeller[data-opened^="slappt:"]', state="attached")
    page.wait_for_selector('#drafts li[data-process-id="slappt"]')


def test_the_three_processes_go_through_the_modeller_unchanged_in_meaning(page, owner_server):
    """Every extension property, timer, message and condition of the real diagrams survives an import into the
    modeller (with our moddle descriptor) and an export."""
    sign_in(page, owner_server)
    page.wait_for_selector('#modeller[data-ready="true"]', state="attached")
    for name in ("in_utskrivning", "sip", "mobilt_team"):
        original = (PROJECT_ROOT / "processes" / f"{name}.bpmn").read_bytes()
        exported = page.evaluate(
            """async (xml) => {
                const m = window.samflodeModeler;
                const result = await m.importXML(xml);
                if (result.warnings.length) throw new Error(result.warnings.map((w) => w.message).join('; '));
                return (await m.saveXML({format: true})).xml;
            }""",
            original.decode("utf-8"),
        )
        assert meaning(exported) == meaning(original), name
        assert exported.count("<samflode:property ") == original.decode("utf-8").count("<samflode:property "), name
        if name == "in_utskrivning":
            # The message a start event waits for is named in the panel: the contract with outside systems.
            page.evaluate(
                """() => {
                    const m = window.samflodeModeler;
                    m.get('selection').select(m.get('elementRegistry').get('start_inskrivning'));
                }"""
            )
            expect(page.locator("#bio-properties-panel-messageName")).to_have_value("inskrivning")


def test_a_new_process_is_drawn_deployed_as_version_1_and_downloaded(page, owner_server, platform):
    sign_in(page, owner_server)
    page.wait_for_selector('#modeller[data-ready="true"]', state="attached")
    page.fill("#new-process-id", "hemgang_efter_akuten")
    page.click("#new-process")
    page.wait_for_selector('#modeller[data-opened="hemgang_efter_akuten:"]', state="attached")
    page.wait_for_selector('#drafts li[data-process-id="hemgang_efter_akuten"]')
    flows = page.evaluate(
        """() => {
            const m = window.samflodeModeler;
            const modeling = m.get('modeling');
            const gateway = modeling.appendShape(m.get('elementRegistry').get('start'),
                {type: 'bpmn:ExclusiveGateway'});
            modeling.updateLabel(gateway, 'Behov?');
            const task = modeling.appendShape(gateway, {type: 'bpmn:UserTask'});
            modeling.updateLabel(task, 'Ring upp efter hemgång');
            modeling.appendShape(task, {type: 'bpmn:EndEvent'});
            modeling.appendShape(gateway, {type: 'bpmn:EndEvent'}, {x: gateway.x + 150, y: gateway.y + 150});
            return gateway.outgoing.map((flow) => flow.id);
        }"""
    )
    select = (
        "(id) => { const m = window.samflodeModeler; m.get('selection').select(m.get('elementRegistry').get(id)); }"
    )
    # The gateway splits without a default: the check warns on it.
    page.click("#check")
    page.wait_for_selector('#findings li.warning:has-text("standardflöde")')
    # The condition on one flow and the default on the other, through the panel.
    page.evaluate(select, flows[0])
    page.fill("#bio-properties-panel-samflode-condition", "behov == 'ja'")
    page.press("#bio-properties-panel-samflode-condition", "Tab")
    page.evaluate(select, flows[1])
    page.check("#bio-properties-panel-samflode-default-flow")
    page.click("#check")
    expect(page.locator("#check-summary")).to_have_text(re.compile(r"^0 fel, 0 varningar"))
    # bpmnlint's recommended rules run in the page beside the server's check (the new elements have no names
    # all of them, for one): its findings are listed with their rule.
    expect(page.locator("#check-summary")).to_contain_text("bpmnlint (rekommenderade regler)")
    page.fill("#comment", "Ny rutin")
    page.click("#deploy")
    page.click("#deploy-confirm-yes")
    page.wait_for_selector('#modeller[data-deployed="hemgang_efter_akuten:1"]', state="attached")
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "hemgang_efter_akuten.bpmn"
    saved = Path(download.value.path()).read_bytes()
    assert meaning(saved) == meaning(platform.reports.definition_xml("hemgang_efter_akuten", 1))
    names = {e.get("name") for e in meaning(saved)["elements"].values()}  # type: ignore[attr-defined]
    assert "Ring upp efter hemgång" in names
    saved_flows = meaning(saved)["flows"]
    assert saved_flows[flows[0]]["condition"] == "behov == 'ja'"  # type: ignore[index]
    assert saved_flows[flows[1]]["default"] is True  # type: ignore[index]


def test_bpmnlint_and_the_server_find_a_disconnected_task_and_a_dead_end(page, owner_server, platform):
    """Issue 15: a disconnected task and a dead end after an implicit split passed as "0 fel". Now the server's
    check calls both errors naming the elements, and bpmnlint (from npm, in the bundle) lists its rules too; the
    newest version of the chosen process opens directly and the canvas is most of the window's width."""
    platform.runtime.deploy(fixture_bytes("with_diagram.bpmn"), OWNER, comment="Första versionen")
    platform.runtime.deploy(
        fixture_bytes("with_diagram.bpmn").replace(b'name="Planera insatser"', b'name="Planera"'), OWNER, comment="2"
    )
    sign_in(page, owner_server)
    page.set_viewport_size({"width": 1600, "height": 900})
    page.wait_for_selector('#modeller[data-opened="with_diagram:2"]', state="attached")  # the newest, directly
    canvas = page.locator("#canvas").bounding_box()
    assert canvas is not None and canvas["width"] > 0.7 * 1600
    # bpmn-js writes the opened version differently, but it says the same: deploying it is no new version.
    page.fill("#comment", "Ingen ändring")
    page.click("#deploy")
    page.click("#deploy-confirm-yes")
    expect(page.locator("#deploy-result")).to_contain_text("Oförändrat: samma innehåll som version 2")
    assert [v["version"] for v in platform.reports.versions("with_diagram")] == [2, 1]
    page.evaluate(
        """() => {
            const m = window.samflodeModeler;
            const registry = m.get('elementRegistry');
            const modeling = m.get('modeling');
            const process = registry.filter((e) => e.type === 'bpmn:Participant' || e.type === 'bpmn:Process')[0];
            const lonely = modeling.createShape({type: 'bpmn:UserTask'}, {x: 400, y: 520}, process);
            modeling.updateLabel(lonely, 'Ensam uppgift');
            const dead = modeling.appendShape(registry.get('planera'), {type: 'bpmn:UserTask'},
                {x: registry.get('planera').x + 60, y: registry.get('planera').y + 220});
            modeling.updateLabel(dead, 'Återvändsgränd');
        }"""
    )
    page.click("#check")
    page.wait_for_selector('#findings li.error:not(.lint):has-text("Ensam uppgift")')
    findings = page.inner_text("#findings")
    assert "«Ensam uppgift» är inte kopplat till något flöde" in findings
    assert "«Återvändsgränd» leder ingenstans" in findings
    assert "«Planera» delar flödet utan grind" in findings
    disconnected = page.locator('#findings li.lint[data-rule="no-disconnected"]').all_inner_texts()
    assert len(disconnected) == 1 and "Ensam uppgift" in disconnected[0]
    assert page.locator('#findings li.lint[data-rule="no-implicit-end"]').count() == 2  # the task and the dead end
    assert page.locator('#findings li.lint[data-rule="no-implicit-split"]').count() == 1
    assert not page.inner_text("#check-summary").startswith("0 fel")


# Words of the modeller's own texts (panel, findings, status lines) that only Swedish has; the diagram's names
# (Planera insatser, Klart) are the process owner's data and stay as drawn.
SWEDISH_ONLY = re.compile(
    r"\b(Tidsfrist|Formulär|Körfält\w*|Arbetsbeskrivning|Utkast\w*|varningar|kan köras|Roll \(|Villkor|Standardflöde|"
    r"Allmänt|Namn|Dokumentation|Skapa|Lägg till|Mål|Syfte|Utförare|Lagrum|inget formulär|ingen tidsfrist)\b"
)


def test_the_modeller_speaks_english_on_an_english_page(page, owner_server, platform):
    """Issue 15: the modeller's own texts follow the page's language: the panel (bpmn-js's and ours), the check's
    summary, the lint findings and the status lines; Swedish labels only on a Swedish page."""
    platform.runtime.deploy(fixture_bytes("with_diagram.bpmn"), OWNER, comment="Första versionen")
    base = owner_server
    sign_in(page, base)
    page.click('button[name="lang"][value="en"]')
    # The switch answers with a redirect back to /modellera, the address the page already has: wait for the new
    # page's language, not for the address (which matched at once while the old page still showed).
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.wait_for_url(f"{base}/modellera*")
    page.wait_for_selector('#modeller[data-ready="true"]', state="attached")
    assert page.get_attribute(".djs-palette .entry.bpmn-icon-start-event-none", "aria-label") == "Create start event"
    page.select_option("#process-id", "with_diagram")
    page.click("#open")
    page.wait_for_selector('#modeller[data-opened="with_diagram:1"]', state="attached")

    page.click('.djs-element[data-element-id="planera"]')
    panel = page.locator("#properties")
    expect(panel).to_contain_text("Work description")
    expect(panel).to_contain_text("Deadline")
    expect(panel).to_contain_text("The lane Slutenvård gives the roles: vardplanerare")
    due = page.locator("#bio-properties-panel-samflode-due")
    expect(due.locator("option:checked")).to_have_text("Own duration (ISO 8601)")
    expect(due.locator('option[value="svar_nasta_vardag"]')).to_have_text(
        "svar_nasta_vardag – nationell: P1D working days from the task being created, by 12:00 that day"
    )

    page.click("#check")
    expect(page.locator("#check-summary")).to_contain_text("0 errors")
    expect(page.locator("#check-summary")).to_contain_text("bpmnlint (recommended rules)")
    page.click("#deploy")  # without a comment: asked for one, in English
    expect(page.locator("#deploy-result")).to_have_text("Write a comment: what changed and why?")

    own_texts = " ".join(
        page.inner_text(selector)
        for selector in ("#properties", "#check-summary", "#findings", "#deploy-result", "#draft-status", "#opened")
    )
    found = SWEDISH_ONLY.findall(own_texts)
    assert not found, f"Swedish-only text on the English modeller page: {sorted(set(found))}"
