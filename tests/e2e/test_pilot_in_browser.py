"""Issue 8 end to end in Chromium: the implementation team creates a pilot from the organisation's units, starts it,
a new case in the pilot's ward lands on the pilot version (and says so on the coordinator's instance page), and the
comparison shows side by side with its small-group warning and weekly charts. Saves docs/screenshots/pilot-new.png
and pilot-comparison.png."""

from __future__ import annotations

from datetime import timedelta

from engine.config import PROJECT_ROOT
from engine.domain.actors import SYSTEM_ACTOR
from engine.platform import Platform
from tests.e2e.conftest import sign_in

EKSJO_WARD = "SE2321000057-HSMEDGER"


def admit(p: Platform, n: int, ward: str, kommun: str, vc: str) -> int:
    personnummer = "19121212-1212"
    return p.runtime.send_message(
        "inskrivning",
        f"e2e-pilot-{n}",
        {"personnummer": personnummer, "vardtillfalle_id": f"E2E-{n}"},
        {
            "personnummer": personnummer,
            "vardtillfalle_id": f"E2E-{n}",
            "namn": f"Testperson {n}",
            "avdelning_hsa_id": ward,
            "vardcentral_hsa_id": vc,
            "kommun": kommun,
            "inskrivningstid": p.clock.now().isoformat(),
            "avtal": "jonkoping",
        },
        SYSTEM_ACTOR,
    ).instance_id


def test_create_a_pilot_see_a_case_land_on_it_and_open_the_comparison(page, demo_server, demo, shots):
    xml = (PROJECT_ROOT / "processes" / "in_utskrivning.bpmn").read_text(encoding="utf-8")
    changed = xml.replace('name="Registrera inskrivning"', 'name="Registrera inskrivning (SVPL-piloten)"', 1)
    demo.runtime.deploy(changed, SYSTEM_ACTOR, comment="SVPL i hemmet")

    sign_in(page, demo_server, "irma")
    page.get_by_role("navigation").get_by_role("link", name="Piloter").click()
    page.get_by_role("link", name="Ny pilot").click()
    page.locator("#f-name").fill("Eksjö SVPL i hemmet")
    page.locator("#f-description").fill("SVPL i hemmet inom tre dagar; bara de professioner som behövs.")
    page.locator("#f-definition").select_option(
        label="In- och utskrivning från slutenvården – version 2 (SVPL i hemmet)"
    )
    page.locator("#f-start_date").fill("2026-01-12")
    page.locator("#f-end_date").fill("2026-03-31")
    page.get_by_label("Höglandssjukhuset, Medicin/geriatrik").check()
    page.get_by_label("Vårdcentralen Eksjö").check()
    page.locator("#f-kommuner").get_by_label("Eksjö", exact=True).check()
    page.get_by_label("Den inskrivande avdelningen avgör").check()
    page.get_by_label("Frågor till personalen hos varje part").check()
    page.screenshot(path=str(shots("screenshots/pilot-new.png")), full_page=True)
    page.get_by_role("button", name="Skapa piloten").click()
    page.wait_for_url(f"{demo_server}/piloter/*")
    assert "Den inskrivande avdelningen avgör" in page.locator("#mixed-rule").inner_text()
    page.get_by_role("button", name="Starta piloten").click()
    assert "Piloten har startat." in page.locator("main").inner_text()

    # New admissions over two weeks: the Eksjö ward's cases on the pilot version, Ryhov's on the default.
    inside = []
    for n in range(6):
        demo.clock.advance(timedelta(days=2))
        inside.append(admit(demo, n, EKSJO_WARD, "Eksjö", "SE2321000057-VCEKSJO"))
        admit(demo, 100 + n, "SE2321000057-RYMED1", "Jönköping", "SE2321000057-VCRASLATT")
    pilot_url = page.url
    sign_in(page, demo_server, "irma")  # twelve days on: the session ended while she was away
    page.goto(pilot_url)
    assert page.locator("#pilot-cases").inner_text().startswith("6")
    table = page.locator("#comparison")
    assert "Antal fall" in table.inner_text()
    warnings = page.locator(".small-group")
    assert warnings.count() >= 1 and "för få" in warnings.first.inner_text()
    assert page.locator("figure.chart svg").count() >= 1
    page.screenshot(path=str(shots("screenshots/pilot-comparison.png")), full_page=True)

    # The coordinator sees on the case which version it runs and why.
    sign_in(page, demo_server, "cora")
    page.goto(f"{demo_server}/overvakning/instans/{inside[0]}")
    reason = page.locator(".version-reason").inner_text()
    assert "Version 2" in reason and "Eksjö SVPL i hemmet" in reason
