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

from engine.config import PROJECT_ROOT
from tests.conftest import IN_CI
from webui import create_app

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
    yield page
    context.close()


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
