"""Issue 5 end to end in Chromium: the ward's vårdplanerare sends Esther's inskrivningsmeddelande, Esther's
vårdsamordnare sees the acknowledgement task appear with its due time and completes it, and a vårdsamordnare of
another vårdcentral cannot see Esther at all. Saves docs/screenshots/worklist.png and task.png."""

from __future__ import annotations

from datetime import timedelta

from engine.domain.actors import SYSTEM_ACTOR
from tests.conftest import instance_view, task_list
from tests.e2e.conftest import sign_in
from tests.webui.staff import INSKRIVNINGSMEDDELANDE, advance_ward

ESTHER = 1
KVITTERA = "Kvittera inskrivningsmeddelande (vårdcentral)"


def test_inskrivningsmeddelande_reaches_esthers_vardsamordnare_and_nobody_else(page, demo_server, demo, shots):
    # The ward's first three tasks through the service layer; the fourth, the message itself, in the browser.
    demo.clock.advance(timedelta(hours=2))
    task = advance_ward(demo, ESTHER, INSKRIVNINGSMEDDELANDE)

    sign_in(page, demo_server, "vera")
    page.get_by_role("row").filter(has_text="Esther Andersson").get_by_role("link", name=INSKRIVNINGSMEDDELANDE).click()
    page.wait_for_url(f"{demo_server}/uppgifter/{task['id']}")
    page.get_by_label("Mottagande kommun").fill("Eksjö")
    page.get_by_label("Mottagande vårdcentral").fill("Vårdcentralen Eksjö")  # the unit picker: by name
    page.get_by_label("Beräknat utskrivningsdatum").fill("2026-01-16")
    page.get_by_label("Skickat").fill("2026-01-12T10:00")
    page.get_by_role("button", name="Slutför").click()
    page.wait_for_url(f"{demo_server}/arbetslista")
    assert f"”{INSKRIVNINGSMEDDELANDE}” är slutförd." in page.locator("main").inner_text()

    # Esther's vårdsamordnare: the acknowledgement is there, due 24 hours after the message (agreements.json).
    sign_in(page, demo_server, "vilma")
    row = page.get_by_role("row").filter(has_text=KVITTERA)
    assert row.count() == 1
    assert "Esther Andersson" in row.inner_text()
    assert "tis 2026-01-13 10:00" in row.inner_text() and "om 24 tim" in row.inner_text()
    page.screenshot(path=str(shots("screenshots/worklist.png")), full_page=True)

    row.get_by_role("link", name=KVITTERA).click()
    page.get_by_label("Kvitterad av").fill("Vilma Vårdsamordnare")
    page.get_by_label("Tidpunkt").fill("2026-01-12T10:30")
    page.get_by_label("Kommentar", exact=True).fill("Mottaget. Fast vårdkontakt utses i dag.")
    page.screenshot(path=str(shots("screenshots/task.png")), full_page=True)
    task_url = page.url
    page.get_by_role("button", name="Slutför").click()
    page.wait_for_url(f"{demo_server}/arbetslista")
    assert f"”{KVITTERA}” är slutförd." in page.locator("main").inner_text()
    assert page.get_by_role("row").filter(has_text=KVITTERA).count() == 0
    history = instance_view(demo, ESTHER, SYSTEM_ACTOR)["history"]
    assert any(h["kind"] == "task_completed" and h["actor"] == "vilma" for h in history)

    # A vårdsamordnare of another vårdcentral (Råslätt): no row, and the task URL is a 404 without Esther's name.
    open_task = next(t for t in task_list(demo, SYSTEM_ACTOR, limit=500)["items"] if t["lane"] == "Region primärvård")
    sign_in(page, demo_server, "otto")
    assert "Esther Andersson" not in page.locator("main").inner_text()
    for view in ("enhet", "forsenade", "idag"):
        page.goto(f"{demo_server}/arbetslista?vy={view}")
        assert "Esther Andersson" not in page.content()
    for url in (task_url, f"{demo_server}/uppgifter/{open_task['id']}"):
        response = page.goto(url)
        assert response is not None and response.status == 404
        assert "Esther" not in page.content() and "19380312" not in page.content()
