# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""Migration of running cases in Chromium: the implementation team previews two cases against a new version, takes
the suggested mapping for the renamed task, migrates (one case is blocked by data the new gateway needs), sees the
results with the re-armed deadline and reverts the migrated case. Saves docs/screenshots/migration-preview.png and
migration-run.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.commands.accounts import Accounts
from engine.domain.actors import SYSTEM_ACTOR
from engine.platform import Platform
from tests.e2e.conftest import serving, sign_in
from tests.integration.test_case_migration import V1, V2, task_of
from tests.webui.staff import FAST_HASHER, demo  # noqa: F401
from webui import create_app


@pytest.fixture
def migration_server(demo: Platform) -> Iterator[str]:
    runtime = demo.runtime
    runtime.deploy(V1, SYSTEM_ACTOR)
    for n, data in enumerate(({"prioritet": "hög"}, {})):
        instance = runtime.start_instance("remiss", f"e2e-migrering-{n}", data, SYSTEM_ACTOR)
        runtime.complete_task(task_of(demo, instance, "registrera"), {}, SYSTEM_ACTOR)
    runtime.deploy(V2, SYSTEM_ACTOR)
    app = create_app({"TESTING": True}, platform=demo)
    app.extensions["samflode_accounts"] = Accounts(demo.db, demo.clock, demo.directory, FAST_HASHER)
    with serving(app) as url:
        yield url


def test_preview_map_migrate_and_revert(page, migration_server, shots):
    base = migration_server
    sign_in(page, base, "irma")
    page.get_by_role("link", name="Migreringar").click()
    page.get_by_label("Process").select_option("remiss")
    page.get_by_label("Från version (alla pågående på den)").fill("1")
    page.get_by_label("Målversion").fill("2")
    page.get_by_role("button", name="Förhandsgranska").click()
    page.wait_for_url(f"{base}/migreringar/forhandsgranska*")
    assert page.get_by_text("förslag: bedom_behov").is_visible()
    # the suggestion is preselected: preview again with it
    page.get_by_role("button", name="Förhandsgranska med mappningen").click()
    page.get_by_text("Klar att migrera").first.wait_for()
    assert page.get_by_text("läser prioritet, som ärendet saknar").is_visible()
    page.screenshot(path=str(shots("screenshots/migration-preview.png")), full_page=True)
    page.get_by_label("Kommentar (varför)").fill("Ny rutin för bedömning")
    page.get_by_role("button", name="Migrera de klara ärendena (1)").click()
    page.wait_for_url(f"{base}/migreringar/*")
    assert page.get_by_text("Migrerade ärenden: 1. Kunde inte migreras: 1.").is_visible()
    assert page.get_by_text("Timer frist: förfaller").is_visible()
    page.screenshot(path=str(shots("screenshots/migration-run.png")), full_page=True)
    page.get_by_role("button", name="Återställ", exact=True).click()
    page.get_by_text("Återställda till sin tidigare version: 1.").wait_for()
