"""Issue 15: staff work from phones. At 390×844 (an iPhone 12-14 in portrait) the sign-in page, the worklist, a task,
the person's case page and a finished task's page never scroll sideways, the header keeps sign-out on the screen,
everything one presses is at least 44 px high, and a form's errors come as a summary that takes focus and links to
the fields. Saves docs/screenshots/phone-worklist.png, phone-task.png and phone-task-errors.png."""

from __future__ import annotations

from datetime import timedelta

from engine.domain.actors import SYSTEM_ACTOR
from tests.conftest import task_list
from tests.e2e.conftest import sign_in

ESTHER = 1
PHONE = {"width": 390, "height": 844}

# Elements one presses, visible, that are shorter than 44 px (a link inside running text is exempt by WCAG 2.5.8's
# inline exception; these are the controls and the menu).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, select, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), textarea, header a, .tabs a')]
  .filter(e => e.offsetParent !== null)
  .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
  .filter(([_, h]) => h < 43.5)"""


def _fits(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at a {PHONE['width']} px viewport"
    assert page.evaluate(SMALL_TARGETS) == [], page.url


def test_staff_pages_fit_a_phone(browser, demo_server, demo, shots):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        locale="sv-SE", timezone_id="Europe/Stockholm", viewport=PHONE, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(f"{demo_server}/logga-in")
        _fits(page)
        sign_in(page, demo_server, "vera")
        _fits(page)
        sign_out = page.get_by_role("button", name="Logga ut")
        assert sign_out.is_visible()
        box = sign_out.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        page.screenshot(path=str(shots("screenshots/phone-worklist.png")), full_page=True)
        # The column headings are hidden on a phone (rows are cards): sorting has its own control there.
        page.get_by_label("Sortera på").select_option(label="Person")
        page.get_by_role("button", name="Sortera", exact=True).click()
        page.wait_for_url("**sortera=person**")
        names = page.locator("td[data-label=Person] a").all_inner_texts()
        assert names == sorted(names) and len(names) >= 2
        _fits(page)

        # Esther's first ward task: sent empty, the summary takes focus and names the fields; then completed.
        task = next(t for t in task_list(demo, SYSTEM_ACTOR)["items"] if t["instance_id"] == ESTHER)
        page.goto(f"{demo_server}/uppgifter/{task['id']}")
        _fits(page)
        page.screenshot(path=str(shots("screenshots/phone-task.png")), full_page=True)
        page.get_by_role("button", name="Slutför").click()
        page.wait_for_selector("#form-errors")
        assert page.evaluate("() => document.activeElement && document.activeElement.id") == "form-errors"
        summary = page.locator("#form-errors").inner_text()
        assert "Orsak till inskrivning: Fyll i fältet." in summary
        assert "Återinläggning inom 30 dagar" not in summary  # optional: the platform knows earlier stays here
        assert "Tidigare vårdtillfälle" not in summary  # only demanded once the question is answered Ja
        _fits(page)
        page.screenshot(path=str(shots("screenshots/phone-task-errors.png")), full_page=True)
        page.locator("#form-errors a").first.click()
        page.get_by_label("Orsak till inskrivning").fill("Fall i hemmet, höftfraktur.")
        page.get_by_text("Nej", exact=True).first.click()
        page.get_by_role("button", name="Slutför").click()
        page.wait_for_url(f"{demo_server}/arbetslista")
        _fits(page)

        # The finished task explains itself instead of a 404; the person's page fits too.
        response = page.goto(f"{demo_server}/uppgifter/{task['id']}")
        assert response is not None and response.status == 200
        assert "redan slutförd, av Vera Vårdplanerare" in page.locator("main").inner_text()
        _fits(page)
        page.goto(f"{demo_server}/personer/arende/{ESTHER}")
        _fits(page)
        demo.clock.advance(timedelta(minutes=5))
    finally:
        context.close()
