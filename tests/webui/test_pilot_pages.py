"""The pilot pages: list, create (units from the organisation), a pilot's page with its rule, period, counts and
actions, the side-by-side comparison with its small-group warning, weekly SVG charts and exports, and who may do
what (403 for others)."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from engine.config import PROJECT_ROOT
from engine.domain.actors import SYSTEM_ACTOR
from engine.persistence.models import AuditEntry
from tests.conftest import instance_view
from tests.webui.staff import demo, demo_app, page_token, sign_in  # noqa: F401  (fixtures)

EKSJO_WARD = "SE2321000057-HSMEDGER"
EKSJO_VC = "SE2321000057-VCEKSJO"


def deploy_new_version(p) -> int:  # type: ignore[no-untyped-def]
    xml = (PROJECT_ROOT / "processes" / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    changed = xml.replace('name="Registrera inskrivning"', 'name="Registrera inskrivning (SVPL-piloten)"', 1)
    assert changed != xml
    return p.runtime.deploy(changed, SYSTEM_ACTOR, comment="SVPL-piloten").version


def create_pilot(client, **changes):  # type: ignore[no-untyped-def]
    form = {
        "csrf_token": page_token(client, "/piloter/ny"),
        "name": "Eksjö SVPL",
        "description": "SVPL i hemmet",
        "definition": "in_utskrivning:2",
        "start_date": "2026-01-12",
        "end_date": "2026-03-31",
        "mixed_rule": "avdelning",
        "avdelningar": [EKSJO_WARD],
        "vardcentraler": [EKSJO_VC],
        "kommuner": ["Eksjö"],
        "person_questionnaire": "1",
        "staff_questionnaire": "1",
    }
    form.update(changes)
    return client.post("/piloter/ny", data=form)


def admit(p, n: int, ward: str, kommun: str) -> int:  # type: ignore[no-untyped-def]
    result = p.runtime.send_message(
        "inskrivning",
        f"pilot-test-{n}",
        {"personnummer": "19121212-1212", "vardtillfalle_id": f"PT-{n}"},
        {
            "personnummer": "19121212-1212",
            "vardtillfalle_id": f"PT-{n}",
            "namn": "Test Testsson",
            "avdelning_hsa_id": ward,
            "vardcentral_hsa_id": EKSJO_VC,
            "kommun": kommun,
            "inskrivningstid": p.clock.now().isoformat(),
            "avtal": "jonkoping",
        },
        SYSTEM_ACTOR,
    )
    return result.instance_id


def test_the_team_creates_starts_and_reads_a_pilot(demo, demo_app):  # noqa: F811
    assert deploy_new_version(demo) == 2
    client = sign_in(demo_app, "irma")
    assert "Piloter" in client.get("/arbetslista").get_data(as_text=True)
    new_page = client.get("/piloter/ny").get_data(as_text=True)
    assert "Höglandssjukhuset, Medicin/geriatrik" in new_page and "Vårdcentralen Eksjö" in new_page
    response = create_pilot(client)
    assert response.status_code == 303
    pilot_url = response.headers["Location"]
    page = client.get(pilot_url).get_data(as_text=True)
    assert "Den inskrivande avdelningen avgör" in page and "2026-01-12 – 2026-03-31" in page
    assert "Planerad" in page
    token = page_token(client, pilot_url)
    assert client.post(f"{pilot_url}/starta", data={"csrf_token": token}).status_code == 303
    inside = admit(demo, 1, EKSJO_WARD, "Eksjö")
    outside = admit(demo, 2, "SE2321000057-RYMED1", "Jönköping")
    view = instance_view(demo, inside, SYSTEM_ACTOR)
    assert (view["version"], view["routing"]) == (2, "pilot")
    assert instance_view(demo, outside, SYSTEM_ACTOR)["version"] == 1
    page = client.get(pilot_url).get_data(as_text=True)
    assert "Pågår" in page and 'id="pilot-cases">1 (1 pågår)' in page
    # The comparison: groups with counts, the small-group warning, weekly charts as SVG, no chart library.
    assert "Jämförelse sida vid sida" in page and "för få för att dra några slutsatser" in page
    assert "<svg" in page and "Fall per vecka" in page
    listing = client.get("/piloter").get_data(as_text=True)
    assert "Eksjö SVPL" in listing
    # Every instance shows its version and why, on the coordinator's instance page and on the person's page.
    cora = sign_in(demo_app, "cora")
    monitor = cora.get(f"/overvakning/instans/{inside}").get_data(as_text=True)
    assert "Version 2: pilot 1 Eksjö SVPL" in monitor and 'href="/piloter/1"' in monitor
    assert "Version 1: standardversion" in cora.get(f"/overvakning/instans/{outside}").get_data(as_text=True)
    person = sign_in(demo_app, "vera").get(f"/personer/arende/{inside}").get_data(as_text=True)
    assert "Version 2 – pilot 1 Eksjö SVPL" in person


def test_overlap_and_bad_input_are_explained_on_the_form(demo, demo_app):  # noqa: F811
    deploy_new_version(demo)
    client = sign_in(demo_app, "irma")
    assert create_pilot(client).status_code == 303
    again = create_pilot(client, name="Andra")
    text = again.get_data(as_text=True)
    assert again.status_code == 409 and "överlappar piloten ”Eksjö SVPL”" in text
    bad = create_pilot(client, name="", avdelningar=[], vardcentraler=[], kommuner=[], start_date="igår")
    assert bad.status_code == 400 and "Första dag: ange ett datum" in bad.get_data(as_text=True)
    later = {"start_date": "2026-05-01", "end_date": "2026-05-31"}
    unknown = create_pilot(client, name="Okänd enhet", kommuner=["Oslo"], **later)
    assert unknown.status_code == 400 and "Kommuner: okänd kommun: Oslo" in unknown.get_data(as_text=True)


def test_pause_extend_and_promote_from_the_page(demo, demo_app):  # noqa: F811
    deploy_new_version(demo)
    client = sign_in(demo_app, "irma")
    pilot_url = create_pilot(client).headers["Location"]
    token = page_token(client, pilot_url)
    client.post(f"{pilot_url}/starta", data={"csrf_token": token})
    client.post(f"{pilot_url}/pausa", data={"csrf_token": token})
    assert "Pausad" in client.get(pilot_url).get_data(as_text=True)
    client.post(f"{pilot_url}/ateruppta", data={"csrf_token": token})
    client.post(f"{pilot_url}/forlang", data={"csrf_token": token, "end_date": "2026-04-30"})
    page = client.get(pilot_url).get_data(as_text=True)
    assert "2026-01-12 – 2026-04-30" in page and "Piloten är förlängd." in page
    client.post(f"{pilot_url}/sprid", data={"csrf_token": token, "scope": "enheter", "kommuner": ["Nässjö"]})
    page = client.get(pilot_url).get_data(as_text=True)
    assert "Spridd till" in page and "Nässjö" in page
    client.post(f"{pilot_url}/sprid", data={"csrf_token": token, "scope": "hela"})
    page = client.get(pilot_url).get_data(as_text=True)
    assert "Avslutad" in page and "alla → v2" in page


def test_exports_csv_excel_and_a_printable_page(demo, demo_app):  # noqa: F811
    deploy_new_version(demo)
    client = sign_in(demo_app, "irma")
    pilot_url = create_pilot(client).headers["Location"]
    client.post(f"{pilot_url}/starta", data={"csrf_token": page_token(client, pilot_url)})
    admit(demo, 1, EKSJO_WARD, "Eksjö")
    csv = client.get(f"{pilot_url}/jamforelse.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert text.startswith("\ufeffNyckeltal;Piloten;Samma period, övriga enheter;Samma enheter, perioden före")
    assert "Antal fall;färre än 5;" in text and "Värdekompass, den enskilde: Förberedd" in text
    xlsx = client.get(f"{pilot_url}/jamforelse.xlsx")
    book = zipfile.ZipFile(io.BytesIO(xlsx.get_data()))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "Antal fall" in sheet and "färre än 5" in sheet
    printable = client.get(f"{pilot_url}?utskrift=1").get_data(as_text=True)
    assert 'class="pilot printable"' in printable and "Åtgärder" not in printable


def test_others_may_look_but_not_act_and_lane_roles_see_nothing(demo, demo_app):  # noqa: F811
    deploy_new_version(demo)
    team = sign_in(demo_app, "irma")
    pilot_url = create_pilot(team).headers["Location"]
    owner = sign_in(demo_app, "agnes")
    assert owner.get(pilot_url).status_code == 200
    # Cases on the version are for those who may see them: the coordinator has the link, the owner not.
    assert "/overvakning?" not in owner.get(pilot_url).get_data(as_text=True)
    coordinator = sign_in(demo_app, "cora")
    assert "/overvakning?process_id=in_utskrivning&amp;version=2" in coordinator.get(pilot_url).get_data(as_text=True)
    assert "/overvakning?" not in team.get(pilot_url).get_data(as_text=True)  # the team does not monitor cases
    assert "Åtgärder" not in owner.get(pilot_url).get_data(as_text=True)
    assert owner.get("/piloter/ny").status_code == 403
    token = page_token(owner, pilot_url)
    assert owner.post(f"{pilot_url}/starta", data={"csrf_token": token}).status_code == 403
    assert create_pilot(owner, name="Processägarens").status_code == 403
    nurse = sign_in(demo_app, "vera")
    assert nurse.get("/piloter").status_code == 403
    assert nurse.get(pilot_url).status_code == 403
    assert nurse.get(f"{pilot_url}/jamforelse.csv").status_code == 403
    assert "/piloter" not in nurse.get("/arbetslista").get_data(as_text=True)


def test_the_team_sends_the_vardekompass_questions_from_the_page(demo, demo_app):  # noqa: F811
    deploy_new_version(demo)
    client = sign_in(demo_app, "irma")
    pilot_url = create_pilot(client).headers["Location"]
    token = page_token(client, pilot_url)
    assert "Skicka Värdekompassens frågor" not in client.get(pilot_url).get_data(as_text=True)  # planned
    client.post(f"{pilot_url}/starta", data={"csrf_token": token})
    assert "Skicka Värdekompassens frågor" in client.get(pilot_url).get_data(as_text=True)
    response = client.post(f"{pilot_url}/vardekompass", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Inga nya utskrivna ärenden" in client.get(pilot_url).get_data(as_text=True)
    api = client.post(
        f"/api/v1{pilot_url.replace('/piloter', '/pilots')}/questionnaires", headers={"X-CSRF-Token": token}
    )
    assert api.status_code == 200 and api.get_json() == {"started": 0, "instance_ids": []}


def test_the_team_sets_the_default_version_on_the_pilots_page(demo, demo_app):  # noqa: F811
    """Issue 15: deploying version 2 leaves everyone on version 1; making it the default is an explicit action with
    a comment, open to the implementation team and process owners, audited."""
    deploy_new_version(demo)
    client = sign_in(demo_app, "irma")
    page = client.get("/piloter").get_data(as_text=True)
    assert "Standardversioner" in page and "Att driftsätta en ny version ändrar den aldrig" in page
    assert "<td>version 1</td>" in page
    assert instance_view(demo, admit(demo, 6, "SE2321000057-RYMED1", "Jönköping"), SYSTEM_ACTOR)["version"] == 1
    token = page_token(client, "/piloter")
    form = {"csrf_token": token, "process_id": "in_utskrivning", "version": "2"}
    assert client.post("/piloter/standardversion", data=form).status_code == 303
    page = client.get("/piloter").get_data(as_text=True)
    assert "Skriv en kommentar" in page and "<td>version 1</td>" in page  # refused without a comment
    response = client.post("/piloter/standardversion", data={**form, "comment": "Beslut i samverkansgruppen"})
    assert response.status_code == 303
    page = client.get("/piloter").get_data(as_text=True)
    assert "startar nu på version 2" in page and "<td>version 2</td>" in page
    case = admit(demo, 7, "SE2321000057-RYMED1", "Jönköping")
    assert instance_view(demo, case, SYSTEM_ACTOR)["version"] == 2
    owner = sign_in(demo_app, "agnes")  # a process owner may make a version the default too
    back = {"csrf_token": page_token(owner, "/piloter"), "process_id": "in_utskrivning", "version": "1"}
    assert owner.post("/piloter/standardversion", data={**back, "comment": "Tillbaka tills vidare"}).status_code == 303
    with demo.db.read() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "default_version_set")).all()
        assert [(a.actor, a.details.get("to"), a.details.get("comment")) for a in audited][-2:] == [
            ("irma", 2, "Beslut i samverkansgruppen"),
            ("agnes", 1, "Tillbaka tills vidare"),
        ]
    coordinator = sign_in(demo_app, "cora")
    assert "default-comment-" not in coordinator.get("/piloter").get_data(as_text=True)
    denied = coordinator.post(
        "/piloter/standardversion",
        data={**back, "csrf_token": page_token(coordinator, "/piloter"), "comment": "x"},
    )
    assert denied.status_code == 403
