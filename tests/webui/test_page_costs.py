# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""What a web request costs the database (issues 15 and 17: the load test saturated two cores at 30 requests/s): the
coordinator's worklist page, the task page and the signed-in user read in a bounded number of statements that does
not grow with the rows shown; a definition is read once, not with every task page; the rows' links are the routes'."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask import url_for
from sqlalchemy import event

from tests.webui.staff import advance_ward, demo, demo_app, sign_in  # noqa: F401  (fixtures)
from webui.views import platform

# The coordinator's worklist page: the signed-in user with the session (2), the page's rows and its count (2), the
# access-log rows (1), the filters' choices (2), saved filters (1), the unread notices (1).
COORDINATOR_PAGE_STATEMENTS = 9


@contextmanager
def statements(engine) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _start_cases(p, count: int) -> None:  # type: ignore[no-untyped-def]
    from engine.domain.actors import SYSTEM_ACTOR
    from webui.demo import personnummer

    for i in range(count):
        pnr = personnummer(f"194604{i + 1:02d}", f"{i + 21:03d}")
        data = {"personnummer": pnr, "vardtillfalle_id": f"VT-C{i}"}
        p.runtime.send_message(
            "inskrivning",
            f"cost-{i}",
            data,
            {**data, "namn": f"Kostnad {i}", "avdelning_hsa_id": "SE2321000057-HSMEDGER", "kommun": "Eksjö",
             "vardcentral_hsa_id": "SE2321000057-VCEKSJO", "inskrivningstid": p.clock.now().isoformat(),
             "avtal": "jonkoping"},
            SYSTEM_ACTOR,
        )  # fmt: skip


def test_the_coordinators_page_reads_a_bounded_number_of_statements_whatever_its_rows(demo_app):
    client = sign_in(demo_app, "cora")
    with demo_app.app_context():
        p = platform()
    client.get("/arbetslista?vy=enhet")  # warm: directory and process names are read once per change
    with statements(p.db.engine) as few:
        few_rows = client.get("/arbetslista?vy=enhet").get_data(as_text=True).count('<tr id="task-')
    _start_cases(p, 4)
    client.get("/arbetslista?vy=enhet")
    with statements(p.db.engine) as many:
        many_rows = client.get("/arbetslista?vy=enhet").get_data(as_text=True).count('<tr id="task-')
    assert 0 < few_rows < many_rows
    assert len(many) == len(few) <= COORDINATOR_PAGE_STATEMENTS, many
    assert sum(s.lstrip().upper().startswith("INSERT") for s in many) == 1  # the access log, one statement


def test_the_signed_in_user_is_read_with_the_session_in_one_read(demo_app):
    client = sign_in(demo_app, "vera")
    with demo_app.app_context():
        p = platform()
    client.get("/arbetslista/antal", headers={"HX-Request": "true"})
    with statements(p.db.engine) as seen:
        assert client.get("/arbetslista/antal", headers={"HX-Request": "true"}).status_code == 200
    # the session joined to its user, the user's units, the counts
    assert len(seen) == 3, seen
    assert "web_sessions" in seen[0] and "users" in seen[0]


def test_a_deactivated_user_is_signed_out_at_the_next_request(demo_app):
    from sqlalchemy import update

    from engine.persistence.models import User

    client = sign_in(demo_app, "vera")
    with demo_app.app_context():
        p = platform()
    assert client.get("/arbetslista").status_code == 200
    with p.db.unit_of_work() as session:
        session.execute(update(User).where(User.username == "vera").values(active=False))
    response = client.get("/arbetslista")
    assert response.status_code == 302 and "/logga-in" in response.headers["Location"]
    with p.db.unit_of_work() as session:
        session.execute(update(User).where(User.username == "vera").values(active=True))
    assert client.get("/arbetslista").status_code == 302  # the session was ended on the server: sign in again


def test_the_task_page_reads_its_definition_once(demo_app):
    client = sign_in(demo_app, "vera")
    with demo_app.app_context():
        p = platform()
    task = advance_ward(p, 1)
    client.get(f"/uppgifter/{task['id']}")
    with statements(p.db.engine) as seen:
        html = client.get(f"/uppgifter/{task['id']}").get_data(as_text=True)
    assert task["name"] in html
    assert not [s for s in seen if "process_definitions" in s], seen


def test_the_rows_links_are_the_routes(demo_app):
    client = sign_in(demo_app, "vera")
    html = client.get("/arbetslista?vy=enhet").get_data(as_text=True)
    rows = re.findall(r'<tr id="task-([^"]+)"', html)
    assert rows
    with demo_app.test_request_context():
        for task_id in rows:
            assert f'href="{url_for("tasks.task_page", task_id=task_id)}"' in html
            assert f'action="{url_for("tasks.claim", task_id=task_id)}"' in html


def test_a_pages_access_log_rows_name_each_person_shown(demo_app):
    from sqlalchemy import select

    from engine.persistence.models import AccessLogEntry

    client = sign_in(demo_app, "cora")
    with demo_app.app_context():
        p = platform()
    _start_cases(p, 3)
    with p.db.read() as session:
        before = session.scalar(select(AccessLogEntry.id).order_by(AccessLogEntry.id.desc()).limit(1)) or 0
    html = client.get("/arbetslista?vy=enhet").get_data(as_text=True)
    cora = p.directory.actor("cora")
    found = [p.reads.tasks.find(cora, t) for t in re.findall(r'<tr id="task-([^"]+)"', html)]  # not logged
    expected = {(i.personnummer, i.instance_id) for i in found if i is not None}
    with p.db.read() as session:
        logged = session.execute(
            select(AccessLogEntry).where(AccessLogEntry.id > before, AccessLogEntry.action == "lista")
        ).scalars()
        entries = [(e.personnummer, e.instance_id, e.username, e.unit, e.detail, e.at) for e in logged]
    assert {(pnr, iid) for pnr, iid, *_ in entries} == expected and len(entries) == len(expected) > 3
    assert {(u, unit, d) for _, _, u, unit, d, _ in entries} == {("cora", "SE2321000057-REGION", "vy=enhet")}
    assert len({at for *_, at in entries}) == 1 and entries[0][5] is not None
