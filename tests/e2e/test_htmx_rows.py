# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)
"""htmx from npm (/vendor/htmx.org): claim and unclaim swap the worklist row in place; without JavaScript the same
buttons are plain forms and the page reloads."""

from __future__ import annotations

from tests.e2e.conftest import sign_in
from tests.webui.staff import demo  # noqa: F401  (fixture)


def test_claim_and_unclaim_swap_the_row_in_place(page, demo_server):
    sign_in(page, demo_server, "vera")
    assert page.evaluate("typeof htmx") == "object"
    page.evaluate("window.sameDocument = true")
    row = page.get_by_role("row").filter(has_text="Esther Andersson")
    with page.expect_response(lambda r: r.url.endswith("/ta") and r.request.headers.get("hx-request") == "true"):
        row.get_by_role("button", name="Ta uppgiften").click()
    row.get_by_role("button", name="Släpp").wait_for()
    assert "Vera Vårdplanerare" in row.inner_text() and "Du har tagit uppgiften." in row.inner_text()
    row.get_by_role("button", name="Släpp").click()
    row.get_by_role("button", name="Ta uppgiften").wait_for()
    assert page.evaluate("window.sameDocument") is True  # no reload: the rows were swapped


def test_without_javascript_the_worklist_reads_and_claims_with_a_reload(browser, demo_server):
    context = browser.new_context(java_script_enabled=False, locale="sv-SE", timezone_id="Europe/Stockholm")
    try:
        page = context.new_page()
        sign_in(page, demo_server, "vera")
        row = page.get_by_role("row").filter(has_text="Esther Andersson")
        assert "Registrera inskrivning" in page.locator("table").inner_text()
        row.get_by_role("button", name="Ta uppgiften").click()
        page.wait_for_load_state()
        assert "Du har tagit uppgiften." in page.locator("main").inner_text()
    finally:
        context.close()
