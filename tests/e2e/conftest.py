"""Real Chromium (Debian's package) driven by Playwright, against the app served on loopback.

Tests here are marked `browser`: on a laptop without Chromium they skip; in CI (CI=true) a missing Chromium fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from engine.commands.accounts import Accounts
from engine.config import PROJECT_ROOT
from engine.platform import Platform
from tests.conftest import IN_CI
from tests.webui.staff import FAST_HASHER, demo  # noqa: F401  (the demo platform fixture, for demo_server)
from webui import create_app
from webui.demo import DEMO_PASSWORD

CHROMIUM_ARGS = [
    "--headless=new",
    "--lang=sv-SE",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[str], Path]:
    """Where a test saves a screenshot: under docs/ when SAMFLODE_SCREENSHOTS=1 (`make screenshots`), else in a
    temporary folder, so that an ordinary test run takes the same pictures but leaves the work tree clean."""

    def path(relative: str) -> Path:
        base = PROJECT_ROOT / "docs" if os.environ.get("SAMFLODE_SCREENSHOTS") == "1" else tmp_path
        target = base / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if IN_CI:
            pytest.fail("CI must run the browser tests: install Debian's chromium (apt-get install chromium)")
        pytest.skip("needs Debian's chromium")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        locale="sv-SE", timezone_id="Europe/Stockholm", viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    # Every page runs under the Content-Security-Policy (webui/headers.py): a script or style it blocks is a failure
    # of the test, not a silent gap in the page.
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not blocked, f"blocked by the Content-Security-Policy: {blocked}"


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(platform) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a free loopback port, in a thread, on the test platform (simulated clock, test database)."""
    with serving(create_app({"TESTING": True}, platform=platform)) as url:
        yield url


@pytest.fixture
def demo_server(demo: Platform) -> Iterator[str]:  # noqa: F811  (the fixture imported above)
    """The app on the demo platform (directory, processes, cases), with a fast password hasher for sign-in."""
    app = create_app({"TESTING": True}, platform=demo)
    app.extensions["samflode_accounts"] = Accounts(demo.db, demo.clock, demo.directory, FAST_HASHER)
    with serving(app) as url:
        yield url


def sign_in(page, base: str, username: str, lands_on: str = "/arbetslista*") -> None:  # type: ignore[no-untyped-def]
    """Sign in as a demo user (password DEMO_PASSWORD) through the sign-in page and wait for where it leads."""
    page.context.clear_cookies()
    page.goto(f"{base}/logga-in")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(f"{base}{lands_on}")
