"""/migreringar: choose, preview with a mapping, run, see results, revert; other roles get 403."""

from __future__ import annotations

import pytest

from tests.conftest import ENGINE, OWNER, SYSTEM
from tests.integration.test_case_migration import V1, V2, task_of
from tests.webui.conftest import server_session
from webui import create_app


@pytest.fixture
def app(platform):
    with platform.db.unit_of_work() as session:
        now = platform.clock.now()
        platform.directory.create_user(session, "ingrid", "Ingrid Implementering", ["implementation_team"], [], now)
        platform.directory.create_user(session, "vilma", "Vilma", ["vardsamordnare"], ["SE2321000057-vc1"], now)
    return create_app({"TESTING": True}, platform=platform)


def signed_in(app, username):
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = server_session(app, username)
        session["csrf"] = "test-token"
    return client


@pytest.fixture
def cases(platform):
    runtime = platform.runtime
    runtime.deploy(V1, OWNER)
    ids = []
    for n, data in enumerate(({"prioritet": "hög"}, {})):
        instance = runtime.start_instance("remiss", f"sida-{n}", data, SYSTEM)
        runtime.complete_task(task_of(platform, instance, "registrera"), {}, ENGINE)
        ids.append(instance)
    runtime.deploy(V2, OWNER)
    return ids


def test_choose_preview_map_run_and_revert_in_swedish(app, cases):
    client = signed_in(app, "ingrid")
    page = client.get("/migreringar").get_data(as_text=True)
    assert "Migrering av pågående ärenden" in page and 'href="/migreringar"' in page  # in the menu too
    query = {"process_id": "remiss", "from_version": "1", "target_version": "2"}
    page = client.get("/migreringar/forhandsgranska", query_string=query).get_data(as_text=True)
    assert "Behöver mappning" in page and "förslag: bedom_behov" in page
    mapped = {**query, "map__bedom": "bedom_behov"}
    page = client.get("/migreringar/forhandsgranska", query_string=mapped).get_data(as_text=True)
    assert "Klar att migrera" in page and "Blockerad" in page
    assert "<code>prio</code> läser <code>prioritet</code>, som ärendet saknar" in page
    answer = client.post("/migreringar", data={**mapped, "comment": "Ny rutin", "csrf_token": "test-token"})
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Migrerade ärenden: 1. Kunde inte migreras: 1." in page
    assert "Migrerad" in page and "Misslyckades" in page and "Återställ" in page
    run_url = answer.headers["Location"]
    answer = client.post(f"{run_url}/aterstall", data={"instance_id": str(cases[0]), "csrf_token": "test-token"})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Återställda till sin tidigare version: 1." in page and "Återställd" in page


def test_bad_choice_is_explained_and_other_roles_are_refused(app, cases):
    client = signed_in(app, "ingrid")
    answer = client.get("/migreringar/forhandsgranska", query_string={"process_id": "remiss", "target_version": "2"})
    assert answer.status_code == 400 and "Välj instanser" in answer.get_data(as_text=True)
    answer = client.get("/migreringar/forhandsgranska", query_string={"process_id": "remiss", "target_version": "x"})
    assert answer.status_code == 400 and "Välj process och målversion" in answer.get_data(as_text=True)
    other = signed_in(app, "vilma")
    assert other.get("/migreringar").status_code == 403
    assert 'href="/migreringar"' not in other.get("/arbetslista").get_data(as_text=True)
    assert other.post("/migreringar", data={"csrf_token": "test-token"}).status_code == 403
