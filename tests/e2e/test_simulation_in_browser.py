# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Simulation before a pilot in Chromium: the implementation team starts a simulation on /simuleringar, the page
polls its progress with htmx (a progress bar) and then shows the predicted figures and workload per role. Saves
docs/screenshots/simulation.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.commands.accounts import Accounts
from engine.features.simulations import Simulations
from engine.jobs.queue import JobWorker
from engine.platform import Platform
from tests.e2e.conftest import serving, sign_in
from tests.webui.staff import FAST_HASHER, demo  # noqa: F401
from webui import create_app


@pytest.fixture
def simulation_server(demo: Platform, tmp_path: Path) -> Iterator[str]:
    app = create_app({"TESTING": True}, platform=demo)
    app.extensions["samflode_accounts"] = Accounts(demo.db, demo.clock, demo.directory, FAST_HASHER)
    app.extensions["samflode_simulations"] = Simulations(
        demo.db, demo.clock, demo.catalog, demo.policy, tmp_path / "simulations", workers=1, jobs=demo.jobs
    )
    worker = JobWorker(demo.jobs)  # the scheduler's part: runs the queued simulation job, woken when it commits
    worker.start()
    try:
        with serving(app) as url:
            yield url
    finally:
        worker.stop()


def test_start_a_simulation_watch_its_progress_and_read_the_figures(page, simulation_server, shots):
    base = simulation_server
    sign_in(page, base, "irma")
    page.get_by_role("link", name="Simuleringar").click()
    page.wait_for_url(f"{base}/simuleringar")
    page.get_by_label("Kandidatversion").fill("1")
    page.get_by_label("Inskrivningsmeddelanden per år").fill("1460")
    page.get_by_label("Antal dagar").fill("10")
    page.get_by_role("button", name="Starta simuleringen").click()
    page.wait_for_url(f"{base}/simuleringar/*")
    # the run goes on in the background; the page shows its progress until the figures replace it
    page.get_by_role("caption").filter(has_text="Förutsagda nyckeltal").wait_for(timeout=180_000)
    assert page.get_by_role("row", name="Utskrivningsklara dagar (medel)").is_visible()
    assert page.get_by_role("caption").filter(has_text="Arbetsbelastning per roll").is_visible()
    page.screenshot(path=str(shots("screenshots/simulation.png")), full_page=True)
