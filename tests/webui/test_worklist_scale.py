# ruff: noqa: F811  (pytest fixtures imported from tests.webui.staff are parameters here)
"""What keeps the worklist page's cost flat as cases grow (bench/worklist.py): counts stop at a cap and say so, and
the filter choices come from the deployed processes rather than from every open task."""

from __future__ import annotations

import engine.reads.worklist
import webui.views
from engine.reads.worklist import Worklist
from tests.webui.staff import demo, demo_app, sign_in  # noqa: F401  (fixtures)


def test_counts_stop_at_the_cap_and_say_so(demo_app, monkeypatch):
    monkeypatch.setattr(engine.reads.worklist, "COUNT_CAP", 1)
    monkeypatch.setattr(webui.views, "COUNT_CAP", 1)
    html = sign_in(demo_app, "vera").get("/arbetslista?vy=enhet").get_data(as_text=True)
    assert 'aria-label="1+ uppgifter">1+</span>' in html
    assert "1+ uppgifter i min enhet" in html
    assert html.count('<tr id="task-') == 2  # the rows themselves are not capped


def test_filter_choices_are_the_user_tasks_of_the_users_lanes(demo):
    worklist = Worklist(demo.db, demo.catalog, demo.policy, demo.clock)
    vera = {name for _, name in worklist.options(demo.directory.actor("vera"))["task"]}
    vilma = {name for _, name in worklist.options(demo.directory.actor("vilma"))["task"]}
    cora = {name for _, name in worklist.options(demo.directory.actor("cora"))["task"]}
    assert "Skicka inskrivningsmeddelande" in vera  # no such task is open yet: the choice comes from the diagram
    assert "Kvittera inskrivningsmeddelande (vårdcentral)" not in vera
    assert "Kvittera inskrivningsmeddelande (vårdcentral)" in vilma and "Skicka inskrivningsmeddelande" not in vilma
    assert vera | vilma <= cora
    assert "in_utskrivning" in {p for p, _ in worklist.options(demo.directory.actor("vera"))["process"]}


def _statements(engine):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            seen.append(statement)

    return seen, record


def test_the_four_counts_are_one_statement_and_agree_with_the_views(demo):
    from sqlalchemy import event

    from engine.reads.tasks import VIEWS

    cora = demo.directory.actor("cora")
    seen, record = _statements(demo.db.engine)
    event.listen(demo.db.engine, "before_cursor_execute", record)
    try:
        counts = demo.reads.tasks.counts(cora)
    finally:
        event.remove(demo.db.engine, "before_cursor_execute", record)
    assert len(seen) == 1 and "count(" in seen[0].lower()
    assert set(counts) == set(VIEWS)
    for view in VIEWS:
        page = demo.reads.tasks.page(cora, view, limit=500)
        assert counts[view] == len(page.items) == page.total
    assert counts["enhet"] > 0


def test_the_page_reads_as_many_statements_for_many_rows_as_for_few(demo_app):
    """No query per row (labels, units, names): the statements of a page do not grow with its rows."""
    from sqlalchemy import event

    from engine.domain.actors import SYSTEM_ACTOR
    from webui.demo import personnummer
    from webui.views import platform

    client = sign_in(demo_app, "cora")
    with demo_app.app_context():
        p = platform()

    def measure() -> tuple[int, int]:
        client.get("/arbetslista?vy=enhet")  # warm: directory and process names are read once per change
        seen, record = _statements(p.db.engine)
        event.listen(p.db.engine, "before_cursor_execute", record)
        try:
            html = client.get("/arbetslista?vy=enhet").get_data(as_text=True)
        finally:
            event.remove(p.db.engine, "before_cursor_execute", record)
        return html.count('<tr id="task-'), len(seen)

    few_rows, few = measure()
    for i in range(3):
        pnr = personnummer(f"194503{i + 1:02d}", f"{i + 11:03d}")
        data = {"personnummer": pnr, "vardtillfalle_id": f"VT-N{i}"}
        p.runtime.send_message(
            "inskrivning",
            f"scale-{i}",
            data,
            {**data, "namn": f"Skala {i}", "avdelning_hsa_id": "SE2321000057-HSMEDGER", "kommun": "Eksjö",
             "vardcentral_hsa_id": "SE2321000057-VCEKSJO", "inskrivningstid": p.clock.now().isoformat(),
             "avtal": "jonkoping"},
            SYSTEM_ACTOR,
        )  # fmt: skip
    many_rows, many = measure()
    assert 0 < few_rows < many_rows
    assert many == few


def test_the_task_page_reads_as_many_statements_for_many_colleagues_as_for_few(demo_app):
    """The hand-over choice lists the colleagues who may take the task: their units are resolved in one query for
    all of them, not one per colleague (105 statements per task page with 90 colleagues in the load test)."""
    from sqlalchemy import event

    from tests.webui.staff import advance_ward
    from webui.views import platform

    client = sign_in(demo_app, "vera")
    with demo_app.app_context():
        p = platform()
    task = advance_ward(p, 1)

    def measure() -> tuple[str, int]:
        client.get(f"/uppgifter/{task['id']}")
        seen, record = _statements(p.db.engine)
        event.listen(p.db.engine, "before_cursor_execute", record)
        try:
            html = client.get(f"/uppgifter/{task['id']}").get_data(as_text=True)
        finally:
            event.remove(p.db.engine, "before_cursor_execute", record)
        return html, len(seen)

    _, few = measure()
    vera = p.directory.actor("vera")
    with p.db.unit_of_work() as session:
        for n in range(6):
            p.directory.create_user(
                session, f"kollega{n}", f"Kollega {n}", sorted(vera.roles), [task["unit"]], at=p.clock.now()
            )
        p.directory.create_user(session, "annan", "Annan Enhet", sorted(vera.roles), ["SE2321000057-VCEKSJO"],
                                at=p.clock.now())  # fmt: skip
    html, many = measure()
    assert many == few
    assert all(f"Kollega {n}" in html for n in range(6))
    assert "Annan Enhet" not in html  # another unit's staff may not take the ward's task
